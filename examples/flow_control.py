"""Sending more than the network takes: send() raises SendBufferFull, send_wait() waits."""

import trio

from trio_ws_events import SendBufferFull, WebSocket

CHUNK = bytes(256 * 1024)


# --8<-- [start:send_wait]
async def produce(ws: WebSocket, count: int) -> None:
    """Send ``count`` chunks as fast as the connection takes them, never more."""
    for _ in range(count):
        await ws.send_wait(CHUNK)  # waits for room, then for the buffer to drain
    print("all queued; buffered_amount is now", ws.buffered_amount)


# --8<-- [end:send_wait]


# --8<-- [start:drain]
async def produce_by_hand(ws: WebSocket, count: int) -> None:
    """The same with send() and drain(): for code that must not wait inside send."""
    for _ in range(count):
        try:
            ws.send(CHUNK)
        except SendBufferFull:
            await ws.drain()  # until buffered_amount is at most a quarter of the limit
            ws.send(CHUNK)


# --8<-- [end:drain]


async def main() -> None:
    received = 0
    all_back = trio.Event()

    def on_binary(ws: WebSocket, data: bytes) -> None:
        nonlocal received
        received += len(data)
        if received == 2 * 16 * len(CHUNK):
            all_back.set()

    # A small limit, so that the buffer fills up on a fast loopback connection too.
    ws = WebSocket("ws://127.0.0.1:8765/", max_buffered_amount=1024 * 1024)
    ws.on_binary += on_binary
    async with ws:
        await produce(ws, 16)
        await produce_by_hand(ws, 16)
        await all_back.wait()
    print("echoed back:", received, "bytes; sent:", ws.stats.messages_sent, "messages")


trio.run(main)
