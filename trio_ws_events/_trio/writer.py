"""Writing to the connection: batches of frames, one direct ``write(2)``, trio for the rest."""

from __future__ import annotations

import os

import trio

from .._sansio.closing import CloseHandshake
from .._sansio.events import MaskedPayload, Wire
from .._sansio.frames import CHUNK_SIZE
from .._sansio.protocol import ClientProtocol

__all__ = ["Writer", "write_frames"]


class Writer:
    """``send_all`` for the sender task, without a scheduler round trip when the kernel has room.

    trio's ``SocketStream.send_all`` always yields to the scheduler after writing (a checkpoint),
    which costs a whole scheduling tick per batch of frames. On a plain TCP socket the sender
    first tries one ``write(2)`` on the socket's (non-blocking) file descriptor; whatever the
    kernel does not take at once, and every write to a TLS stream, goes through ``send_all``.
    Only the sender task writes, so the two paths never interleave.
    """

    __slots__ = ("_socket", "_stream")

    def __init__(self, stream: trio.abc.Stream) -> None:
        self._stream = stream
        self._socket: trio.socket.SocketType | None = None
        if os.name == "posix" and isinstance(stream, trio.SocketStream):
            self._socket = stream.socket

    async def send_all(self, data: bytes | memoryview) -> None:
        """Write all of ``data``.

        It does not checkpoint when the direct write takes everything: the sender's own wait
        is its checkpoint. Cancellation during the ``send_all`` part may leave part of the
        data written, as with trio.

        Raises:
            trio.BrokenResourceError: the connection is broken.
            trio.ClosedResourceError: the stream was closed.
        """
        if self._socket is not None:
            # Asked each time, never cached: a closed socket's number may belong to another
            # file by now, and a closed socket answers -1.
            fd = self._socket.fileno()
            if fd < 0:
                raise trio.ClosedResourceError("the stream was closed")
            try:
                sent = os.write(fd, data)
            except BlockingIOError:
                sent = 0
            except OSError as exc:
                raise trio.BrokenResourceError(f"writing failed: {exc}") from exc
            if sent == len(data):
                return
            data = memoryview(data)[sent:]
        await self._stream.send_all(data)


async def write_frames(
    writer: Writer, protocol: ClientProtocol, frames: list[Wire], closing: CloseHandshake
) -> None:
    """Write ``frames`` in order: small ones gathered into one ``send_all``, large
    payloads on their own (no copy), and pongs due meanwhile slipped between frames.

    Raises:
        trio.BrokenResourceError, trio.ClosedResourceError: as ``send_all``.

    Cancellation: part of the frames may have been written; the wire may be mid-frame.
    """
    pending: list[bytes] = []
    size = 0
    for frame in frames:
        if protocol.pongs and closing.sent is None and frame is not frames[0]:
            # Pings that arrived while a long batch was being written are answered
            # between two of its frames, not after the whole batch.
            # A pong (125 bytes at most) is always framed as one piece of bytes.
            pending.extend(wire[0] for wire in protocol.pong_frames())
        for part in frame:
            if isinstance(part, MaskedPayload):
                if pending:
                    await writer.send_all(b"".join(pending))
                    pending, size = [], 0
                for masked in part.slices(CHUNK_SIZE):
                    await writer.send_all(masked)
            else:
                pending.append(part)
                size += len(part)
        if size >= CHUNK_SIZE:
            await writer.send_all(b"".join(pending) if len(pending) > 1 else pending[0])
            pending, size = [], 0
    if pending:
        await writer.send_all(b"".join(pending) if len(pending) > 1 else pending[0])
