"""WebSocket frames over any trio stream, for the HTTP/2 tests: masked out, parsed in."""

from __future__ import annotations

import os

import trio

from trio_ws_events import WebSocket
from trio_ws_events._h2 import H2WebSocketStream
from trio_ws_events._sansio.frames import FrameReader, RawFrame, encode_frame


def h2_stream(ws: WebSocket) -> H2WebSocketStream | None:
    """The HTTP/2 stream ``ws`` opened as, or ``None`` (not open yet, or HTTP/1.1)."""
    opened = getattr(ws._engine, "opened", None)
    stream = None if opened is None else opened.stream
    return stream if isinstance(stream, H2WebSocketStream) else None


def rode_http2(ws: WebSocket) -> bool:
    """Whether ``ws`` opened as an HTTP/2 stream (the driver's stream is one), not HTTP/1.1."""
    return h2_stream(ws) is not None


class FrameIO:
    """Speaks RFC 6455 frames as a client over ``stream``: masks what it sends."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self._reader = FrameReader()

    @staticmethod
    def masked(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
        """One client frame, masked."""
        return encode_frame(opcode, payload, fin=fin, mask=os.urandom(4))

    async def send(self, opcode: int, payload: bytes, *, fin: bool = True) -> None:
        """Send one masked frame."""
        await self.stream.send_all(self.masked(opcode, payload, fin=fin))

    async def receive(self) -> RawFrame:
        """The next whole frame; ``EOFError`` if the stream ends first."""
        while (frame := self._reader.next_frame()) is None:
            data = await self.stream.receive_some()
            if not data:
                raise EOFError("stream ended before a whole frame")
            self._reader.feed(bytes(data))
        return frame
