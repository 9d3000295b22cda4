"""Forgetting ``close()``: the nursery waits for the connection, and the connection for you.

``open()`` runs the connection in the nursery you pass, and a nursery block ends only when
everything in it has ended. Nothing ends a WebSocket connection by itself: if the server keeps
it open and nothing calls ``close()``, the ``async with`` block below never ends.
"""

import trio

from trio_ws_events import WebSocket


async def main() -> None:
    ws = WebSocket("ws://127.0.0.1:8765/")
    replied = trio.Event()
    ws.on_open += lambda ws: ws.send("anyone there?")

    @ws.on_message
    def on_message(ws: WebSocket, message: str) -> None:
        print("reply:", message)
        replied.set()

    # --8<-- [start:fix]
    async with trio.open_nursery() as nursery:
        ws.open(nursery)
        await replied.wait()  # the work this program came for
        ws.close()  # without this line, the block waits as long as the server stays connected
    # --8<-- [end:fix]
    print("the nursery is done; closed with", ws.close_code)


trio.run(main)
