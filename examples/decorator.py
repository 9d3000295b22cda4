"""Handlers registered with the event as a decorator; an ``async def`` handler."""

import trio

from trio_ws_events import WebSocket

ws = WebSocket("ws://127.0.0.1:8765/")


@ws.on_open
def greet(ws: WebSocket) -> None:
    ws.send("hello")


@ws.on_message
async def shout(ws: WebSocket, message: str) -> None:
    await trio.sleep(0.01)  # an async handler is awaited before the next event fires
    print(message.upper())
    ws.close()


async def main() -> None:
    async with trio.open_nursery() as nursery:
        ws.open(nursery)


trio.run(main)
