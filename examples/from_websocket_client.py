"""websocket-client's ``WebSocketApp`` program, written with trio-ws-events."""

import trio

from trio_ws_events import WebSocket, WebSocketError


def on_open(ws: WebSocket) -> None:  # WebSocketApp: on_open(ws)
    ws.send("Hello, World")


def on_message(ws: WebSocket, message: str) -> None:  # on_message(ws, message)
    print("received:", message)
    ws.close()


def on_error(ws: WebSocket, error: WebSocketError) -> None:  # on_error(ws, error)
    print("error:", error)


def on_closed(ws: WebSocket, code: int, reason: str) -> None:  # on_close(ws, code, msg)
    print("closed:", code, reason)


async def main() -> None:
    ws = WebSocket("ws://127.0.0.1:8765/", ping_interval=10, ping_timeout=5)
    ws.on_open += on_open
    ws.on_message += on_message
    ws.on_error += on_error
    ws.on_closed += on_closed
    async with trio.open_nursery() as nursery:  # run_forever(): until the connection ends
        ws.open(nursery)


trio.run(main)
