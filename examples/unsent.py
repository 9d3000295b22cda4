"""Nothing is dropped silently: messages never written are handed back in ``error.unsent``."""

import trio

from trio_ws_events import WebSocket, WebSocketError

# --8<-- [start:unsent]
pending: list[str | bytes] = []


def on_error(ws: WebSocket, error: WebSocketError) -> None:
    print("ended:", type(error).__name__, "code", error.code)
    pending.extend(error.unsent)  # resend them on the next connection


# --8<-- [end:unsent]


async def main() -> None:
    ws = WebSocket("ws://127.0.0.1:1/")  # nobody listens there: the attempt fails
    ws.on_error += on_error
    async with trio.open_nursery() as nursery:
        ws.open(nursery)
    print("to resend:", pending)


trio.run(main)
