"""Telling the endings apart in ``on_error``."""

import trio

from trio_ws_events import (
    ConnectError,
    HandshakeRejected,
    ProtocolError,
    WebSocket,
    WebSocketError,
)


# --8<-- [start:on_error]
def on_error(ws: WebSocket, error: WebSocketError) -> None:
    if isinstance(error, HandshakeRejected):
        print("rejected with HTTP", error.status, error.body[:200])
    elif isinstance(error, ConnectError):
        print("could not connect:", error)
    elif isinstance(error, ProtocolError):
        print("the server broke the protocol; we closed with", error.code)
    else:
        print("connection ended:", error)
    if error.unsent:
        print(len(error.unsent), "message(s) were never written")


# --8<-- [end:on_error]


async def main() -> None:
    ws = WebSocket("ws://127.0.0.1:1/")
    ws.on_error += on_error
    async with trio.open_nursery() as nursery:
        ws.open(nursery)


trio.run(main)
