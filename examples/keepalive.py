"""Keepalive pings, the measured latency, an explicit ping, and when the server last spoke."""

import trio

from trio_ws_events import KeepaliveTimeout, WebSocket, WebSocketError


def on_error(ws: WebSocket, error: WebSocketError) -> None:
    if isinstance(error, KeepaliveTimeout):
        print("the server stopped answering; reconnect")
    else:
        print("error:", error)


async def main() -> None:
    # --8<-- [start:options]
    ws = WebSocket(
        "ws://127.0.0.1:8765/",
        ping_interval=0.2,  # a ping every 0.2 s (default 20 s; None: no keepalive pings)
        ping_timeout=5.0,  # no frame at all within 5 s of a ping: KeepaliveTimeout (1011)
    )
    # --8<-- [end:options]
    ws.on_error += on_error
    async with ws:
        # --8<-- [start:ping]
        rtt = await ws.ping()  # send a ping now and wait for its pong
        print(f"round trip: {rtt * 1000:.1f} ms")
        await trio.sleep(0.5)  # keepalive pings go out meanwhile
        assert ws.latency is not None  # the round trip of the latest answered ping
        assert ws.last_message_received is not None
        silent_for = trio.current_time() - ws.last_message_received
        print(f"latency {ws.latency * 1000:.1f} ms; last frame {silent_for:.2f} s ago")
        # --8<-- [end:ping]


trio.run(main)
