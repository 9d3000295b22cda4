"""on_ping and on_pong: watching the heartbeat; pongs to pings stay automatic."""

import trio

from trio_ws_events import WebSocket


async def main() -> None:
    ws = WebSocket("ws://127.0.0.1:8765/", ping_interval=0.1)
    beats: list[float] = []
    heard_three = trio.Event()

    # --8<-- [start:handlers]
    def on_ping(ws: WebSocket, payload: bytes) -> None:
        # The pong is already queued: this is only for watching.
        print("server pinged:", payload)

    def on_pong(ws: WebSocket, payload: bytes) -> None:
        # Answers to keepalive pings and to ws.ping() both fire here.
        beats.append(trio.current_time())
        if len(beats) == 3:
            heard_three.set()

    ws.on_ping += on_ping
    ws.on_pong += on_pong
    # --8<-- [end:handlers]
    async with ws:
        await ws.ping(b"custom payload")
        with trio.fail_after(5):
            await heard_three.wait()  # ours, then keepalive pongs every 0.1 s
    print(f"heard {len(beats)} pongs or more; closed with {ws.close_code}")


trio.run(main)
