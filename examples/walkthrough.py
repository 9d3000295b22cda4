"""The Best HTTP walkthrough in Python: construct, register handlers, open, send, close.

Run an echo server first (``trio-ws-events serve --port 8765``), then this file.
"""

# --8<-- [start:whole]
# --8<-- [start:imports]
import trio

from trio_ws_events import WebSocket, WebSocketError


# --8<-- [end:imports]
# --8<-- [start:handlers]
# --8<-- [start:on_open]
def on_open(ws: WebSocket) -> None:
    print("WebSocket open!")
    ws.send("Message to the server")  # str: one text message
    ws.send(bytes(range(16)))  # bytes, bytearray, memoryview: one binary message (copied)
    # --8<-- [end:on_open]


def on_message(ws: WebSocket, message: str) -> None:
    print("Text message received from server:", message)


# --8<-- [start:on_binary]
def on_binary(ws: WebSocket, data: bytes) -> None:
    print("Binary message received from server. Length:", len(data))
    ws.close(1000, "bye")  # the server echoes the code and the reason
    # --8<-- [end:on_binary]


def on_closed(ws: WebSocket, code: int, reason: str) -> None:
    print(f"WebSocket closed! code={code} reason={reason!r}")


def on_error(ws: WebSocket, error: WebSocketError) -> None:
    print("Error:", error)
    # --8<-- [end:handlers]


async def main() -> None:
    # --8<-- [start:construct]
    ws = WebSocket("ws://127.0.0.1:8765/")  # no I/O yet; a malformed URL raises ValueError
    # --8<-- [end:construct]
    # --8<-- [start:register]
    ws.on_open += on_open
    ws.on_message += on_message
    ws.on_binary += on_binary
    ws.on_closed += on_closed
    ws.on_error += on_error
    # --8<-- [end:register]
    # --8<-- [start:open]
    async with trio.open_nursery() as nursery:
        ws.open(nursery)  # returns at once; the connection runs in the nursery
        print("open() returned; the handshake goes on in the nursery")
    # The nursery block ends once the connection is over and its terminal event has run.
    print("state:", ws.state.name, "close code:", ws.close_code)
    # --8<-- [end:open]


trio.run(main)
# --8<-- [end:whole]
