"""Every public call of ``WebSocket`` once, in the order a program would make them."""

import trio

from trio_ws_events import State, WebSocket, WebSocketError


def on_open(ws: WebSocket) -> None:
    ws.send("text")  # returns at once, queued in order
    ws.send(b"bytes")


def on_message(ws: WebSocket, message: str) -> None:
    print("text:", message)


def on_binary(ws: WebSocket, data: bytes) -> None:
    print("binary:", data)
    ws.close(1000, "bye")  # returns at once; ws.close() sends 1000 and no reason


def on_closed(ws: WebSocket, code: int, reason: str) -> None:
    print("closed:", code, reason)


def on_error(ws: WebSocket, error: WebSocketError) -> None:
    print("error:", error)


async def main() -> None:
    # --8<-- [start:tour]
    ws = WebSocket("ws://127.0.0.1:8765/chat")  # no I/O in the constructor
    ws.on_open += on_open  # handler(ws)
    ws.on_message += on_message  # handler(ws, message: str)
    ws.on_binary += on_binary  # handler(ws, data: bytes)
    ws.on_closed += on_closed  # handler(ws, code: int, reason: str)
    ws.on_error += on_error  # handler(ws, error: WebSocketError)
    assert ws.state is State.INITIAL
    assert not ws.is_open
    async with trio.open_nursery() as nursery:
        ws.open(nursery)  # returns at once; the connection runs in that nursery
        await ws.wait_closed()  # until the terminal event has run
    print(ws.url, ws.state.name, ws.close_code, ws.close_reason, ws.buffered_amount, ws.unsent)
    ws.on_message -= on_message  # unregister
    # --8<-- [end:tour]


trio.run(main)
