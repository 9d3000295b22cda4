"""The three ways into the same events: our engine, engine="trio-websocket", and adoption."""

import trio
import trio_websocket

from trio_ws_events import WebSocket

URL = "ws://127.0.0.1:8765/"


def say_hello(ws: WebSocket, name: str) -> None:
    ws.on_open += lambda ws: ws.send(f"hello from {name}")
    ws.on_message += lambda ws, message: ws.close(1000, "bye")
    ws.on_closed += lambda ws, code, reason: print(f"{name}: {code} {reason}")


async def main() -> None:
    # --8<-- [start:ways]
    async with trio.open_nursery() as nursery:
        # 1. The default engine: our own protocol over TCP (or your own stream).
        ws = WebSocket(URL)
        say_hello(ws, "default")
        ws.open(nursery)

        # 2. The same client, connected by trio-websocket.
        ws = WebSocket(URL, engine="trio-websocket", proxy=None)
        say_hello(ws, "trio-websocket")
        ws.open(nursery)

        # 3. A connection trio-websocket already opened: the events over it.
        conn = await trio_websocket.connect_websocket_url(nursery, URL)
        ws = WebSocket.from_trio_websocket(conn)
        say_hello(ws, "adopted")
        ws.open(nursery)  # on_open fires at once: it is already open
    # --8<-- [end:ways]


trio.run(main)
