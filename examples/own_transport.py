"""The default engine over your own transport: a stream factory (here, a plain TCP stream)."""

from urllib.parse import urlsplit

import trio

from trio_ws_events import WebSocket

ECHO = urlsplit("ws://127.0.0.1:8765/")  # where the stream really goes


# --8<-- [start:factory]
async def open_stream(url: str) -> trio.abc.Stream:
    # Called once per attempt (and per redirect) with that attempt's URL: open an SSH
    # tunnel, a unix socket, an in-memory pair... For wss:// URLs TLS runs over it.
    return await trio.open_tcp_stream(ECHO.hostname or "localhost", ECHO.port or 80)


async def main() -> None:
    ws = WebSocket("ws://echo.internal/", stream_factory=open_stream)
    ws.on_open += lambda ws: ws.send("over my own stream")
    ws.on_message += lambda ws, message: print("echo:", message)
    ws.on_message += lambda ws, message: ws.close()
    async with trio.open_nursery() as nursery:
        ws.open(nursery)
    # A unix socket needs no factory: WebSocket("ws://localhost/chat", unix_socket="/run/app.sock")
    # --8<-- [end:factory]


trio.run(main)
