"""Compression: permessage-deflate tuned with ``Compression(...)``."""

import trio

from trio_ws_events import Compression, WebSocket

# --8<-- [start:options]
compression = Compression(
    client_max_window_bits=12,  # compress with a 4 KiB window: less memory per connection
    server_max_window_bits=12,  # and ask the server to do the same
    client_no_context_takeover=True,  # forget the context after each message
    level=1,  # fast rather than small
    min_size=256,  # shorter messages go out uncompressed
)
ws = WebSocket("ws://127.0.0.1:8765/", compression=compression)
# --8<-- [end:options]


async def main() -> None:
    print("offer:", compression.offer())
    # --8<-- [start:refused]
    try:
        Compression(client_max_window_bits=8)
    except ValueError as exc:
        print("refused:", exc)  # zlib cannot compress with an 8-bit window
    # --8<-- [end:refused]
    ws.on_open += lambda ws: ws.send("hello " * 100)
    ws.on_message += lambda ws, text: ws.close()
    async with trio.open_nursery() as nursery:
        ws.open(nursery)
    # What the server agreed to; None when it does not compress (as this echo server).
    print("negotiated:", ws.extensions, "closed with", ws.close_code)


trio.run(main)
