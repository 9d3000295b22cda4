"""The scripted server without pytest: ``open_scripted_server()`` in any Trio program."""

import trio

from trio_ws_events import WebSocket
from trio_ws_events.testing import open_scripted_server


async def main() -> None:
    async with open_scripted_server() as server:
        ws = WebSocket(server.url)
        ws.on_message += lambda ws, message: ws.send(message[::-1])
        ws.on_closed += lambda ws, code, reason: print("client saw:", code, reason)
        async with trio.open_nursery() as nursery:
            ws.open(nursery)
            conn = await server.accept()
            await conn.send("stressed")
            print("server got:", await conn.receive())
            await conn.close(4000, "that is all")


trio.run(main)
