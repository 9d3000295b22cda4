"""on_ping and on_pong: watching the heartbeat; pongs to pings stay automatic."""

import trio

from trio_ws_events import WebSocket
from trio_ws_events.testing import open_scripted_server


async def main() -> None:
    async with open_scripted_server() as server:
        ws = WebSocket(server.url, ping_interval=None)

        # --8<-- [start:handlers]
        def on_ping(ws: WebSocket, payload: bytes) -> None:
            # The pong is already queued: this is only for watching.
            print("server pinged:", payload)

        def on_pong(ws: WebSocket, payload: bytes) -> None:
            # Answers to keepalive pings and to ws.ping() both fire here.
            print("pong:", payload)

        ws.on_ping += on_ping
        ws.on_pong += on_pong
        # --8<-- [end:handlers]
        async with trio.open_nursery() as nursery:
            ws.open(nursery)
            conn = await server.accept()
            await conn.ping(b"heartbeat")  # returns once the client's pong arrived
            print("the server got its pong")
            await ws.ping(b"custom payload")
            await conn.close(1000, "bye")
    print("closed with", ws.close_code)


trio.run(main)
