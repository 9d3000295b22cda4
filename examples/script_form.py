"""The script form: ``async with`` opens, waits until OPEN, and closes with 1000 on the way out."""

import trio

from trio_ws_events import WebSocket


async def main() -> None:
    echoed = trio.Event()

    def on_message(ws: WebSocket, message: str) -> None:
        print("echo:", message)
        echoed.set()

    ws = WebSocket("ws://127.0.0.1:8765/")
    ws.on_message += on_message  # register before `async with`: on_open fires inside it
    async with ws:  # `async with WebSocket(url) as ws:` works too
        ws.send("hello")
        await echoed.wait()  # messages arriving after the close are not delivered
    # Leaving the block sent a 1000 close frame and waited for the server's answer.
    print("closed with", ws.close_code, repr(ws.close_reason))


trio.run(main)
