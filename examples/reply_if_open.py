"""A handler that replies checks ``ws.is_open``: after close(), send() raises."""

import trio

from trio_ws_events import WebSocket

replies = 0


# --8<-- [start:reply]
def on_message(ws: WebSocket, message: str) -> None:
    global replies
    if ws.is_open and replies < 3:
        replies += 1
        ws.send(f"ack {message}")
    elif ws.is_open:
        ws.close()


# --8<-- [end:reply]


async def main() -> None:
    ws = WebSocket("ws://127.0.0.1:8765/")
    ws.on_open += lambda ws: ws.send("first")
    ws.on_message += on_message
    ws.on_message += lambda ws, message: print("got:", message)
    async with trio.open_nursery() as nursery:
        ws.open(nursery)


trio.run(main)
