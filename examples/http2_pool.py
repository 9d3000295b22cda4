"""Ten WebSockets to one origin sharing one HTTP/2 connection (RFC 8441), through a pool."""

import trio

from trio_ws_events import WebSocket, open_h2_pool

# Cleartext HTTP/2 needs h2c=True; a wss:// URL needs nothing more than http2=pool.
URL = "ws://127.0.0.1:8765/"


async def main() -> None:
    # --8<-- [start:pool]
    # The pool's connections live in this block's nursery: open the WebSockets inside it.
    async with open_h2_pool(h2c=True) as pool:
        replies: list[str] = []

        def on_open(ws: WebSocket) -> None:
            ws.send(f"hello from {ws.local_address}")

        def on_message(ws: WebSocket, message: str) -> None:
            replies.append(message)
            ws.close()

        async with trio.open_nursery() as nursery:
            for _ in range(10):
                ws = WebSocket(URL, http2=pool)  # over HTTP/2 if the server allows it
                ws.on_open += on_open
                ws.on_message += on_message
                ws.open(nursery)
        print(f"{len(replies)} replies; distinct local addresses: {len(set(replies))}")
        print(f"HTTP/2 connections opened: {pool.connections_opened}")
    # --8<-- [end:pool]


trio.run(main)
