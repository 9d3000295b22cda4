"""With ``async with``, a failed attempt raises the error itself, not an exception group."""

import trio

from trio_ws_events import ConnectError, WebSocket


async def main() -> None:
    try:
        async with WebSocket("ws://127.0.0.1:1/") as ws:
            ws.send("never sent")
    except ConnectError as exc:
        print("could not connect:", exc)


trio.run(main)
