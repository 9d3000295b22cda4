"""Turning on the library's log, and reading the counters of a connection."""

import logging

import trio

from trio_ws_events import WebSocket

# --8<-- [start:logging]
logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
logging.getLogger("trio_ws_events").setLevel(logging.INFO)  # DEBUG for more detail
# --8<-- [end:logging]


async def main() -> None:
    # --8<-- [start:stats]
    ws = WebSocket("ws://127.0.0.1:8765/")

    @ws.on_open
    def send_two(ws: WebSocket) -> None:
        ws.send("hello")
        ws.send(b"\x00" * 1000)

    ws.on_binary += lambda ws, data: ws.close()
    async with trio.open_nursery() as nursery:
        ws.open(nursery)
    stats = ws.stats  # a snapshot; read it at any time
    print(f"sent {stats.messages_sent} messages ({stats.bytes_sent} bytes)")
    print(f"received {stats.messages_received} messages ({stats.bytes_received} bytes)")
    assert stats.connect_time is not None
    assert stats.time_open is not None
    print(f"connected in {stats.connect_time:.3f} s, open for {stats.time_open:.3f} s")
    # --8<-- [end:stats]
    # --8<-- [start:logger]
    # This connection's records go to "myapp.prices", each one carrying feed="prices".
    log = logging.LoggerAdapter(logging.getLogger("myapp.prices"), {"feed": "prices"})
    ws = WebSocket("ws://127.0.0.1:8765/", logger=log)

    @ws.on_open
    def on_open(ws: WebSocket) -> None:
        # (host, port) of this end and of the peer (the proxy, through a proxy)
        print("from", ws.local_address, "to", ws.remote_address)
        ws.close()

    async with trio.open_nursery() as nursery:
        ws.open(nursery)
    # --8<-- [end:logger]


trio.run(main)
