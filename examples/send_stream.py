"""Sending in pieces: one message from a generator, in bounded memory."""

import hashlib
from collections.abc import AsyncIterator, Iterator

import trio

from trio_ws_events import Frame, WebSocket

SIZE = 8 * 1024 * 1024


# --8<-- [start:pieces]
def file_pieces(size: int, piece: int = 64 * 1024) -> Iterator[bytes]:
    """Stands in for reading a file: ``size`` bytes, ``piece`` bytes at a time."""
    for offset in range(0, size, piece):
        yield bytes((offset // piece) % 256 for _ in range(16)) * (piece // 16)


async def upload(ws: WebSocket) -> None:
    # One binary message; it returns once the last piece has been written.
    await ws.send_stream(file_pieces(SIZE))


# --8<-- [end:pieces]


# --8<-- [start:text]
async def words() -> AsyncIterator[str]:
    for word in ["héllo", " ", "wörld"]:  # str pieces: one text message
        await trio.sleep(0.01)  # pieces may come as slowly as they like
        yield word


# --8<-- [end:text]


async def main() -> None:
    expected = hashlib.sha256(b"".join(file_pieces(SIZE))).hexdigest()
    received = hashlib.sha256()
    ws = WebSocket("ws://127.0.0.1:8765/", max_message_size=1024 * 1024)

    def on_piece(ws: WebSocket, frame: Frame) -> None:  # the echo streams back in
        if isinstance(frame.data, bytes):
            received.update(frame.data)
        if frame.final and not frame.is_text:
            same = received.hexdigest() == expected
            print(f"echoed {SIZE} bytes back; same as sent: {same}")

    echoed = trio.Event()

    def on_message(ws: WebSocket, text: str) -> None:  # the text message comes back whole
        print("text echo:", text)
        echoed.set()

    ws.on_incomplete_frame += on_piece
    ws.on_message += on_message
    async with ws:
        await upload(ws)
        await ws.send_stream(words())
        with trio.fail_after(10):
            await echoed.wait()  # messages echo in order: the binary one came back first
    print("closed with", ws.close_code)


trio.run(main)
