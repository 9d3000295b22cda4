"""A handler that raises: on_error hears of it (1011), then the exception leaves the nursery."""

import trio

from trio_ws_events import HandlerError, WebSocket, WebSocketError


def on_message(ws: WebSocket, message: str) -> None:
    raise KeyError(message)


def on_error(ws: WebSocket, error: WebSocketError) -> None:
    assert isinstance(error, HandlerError)
    print("on_error:", type(error.__cause__).__name__, "closed with", error.code)


async def main() -> None:
    ws = WebSocket("ws://127.0.0.1:8765/")
    ws.on_open += lambda ws: ws.send("boom")
    ws.on_message += on_message
    ws.on_error += on_error
    try:
        async with trio.open_nursery() as nursery:
            ws.open(nursery)
    except* KeyError as group:
        print("a handler raised:", group.exceptions)


trio.run(main)
