"""Writing bytes to the stream: one direct ``write(2)``/``writev(2)`` on a plain socket,
trio's ``send_all`` for the rest, and a batch of frames in order (``write_frames``)."""

from __future__ import annotations

import contextlib
import os
import socket
from typing import Final

import trio

from .._sansio.busypoll import BusyPoll
from .._sansio.closing import CloseHandshake
from .._sansio.events import Buffer, MaskedPayload, Wire
from .._sansio.frames import CHUNK_SIZE
from .._sansio.framing import SEPARATE_PAYLOAD
from .._sansio.protocol import ClientProtocol
from .busypoll import linger

__all__ = ["LARGE_WRITE_LOWAT", "WRITE_SIZE", "Writer", "unsent_part", "write_frames"]

#: ``write_frames`` hands its buffers to one ``writev`` once they hold this many bytes.
WRITE_SIZE: Final = CHUNK_SIZE
#: ``TCP_NOTSENT_LOWAT`` once a connection writes a payload of ``CHUNK_SIZE`` or more
#: (``Writer.large_writes``), instead of the 16 KiB trio's ``SocketStream`` sets.
LARGE_WRITE_LOWAT: Final = 4 * CHUNK_SIZE
# Far below the kernel's IOV_MAX (1,024 on Linux): small pieces are joined before this.
MAX_BUFFERS: Final = 64


class Writer:
    """``send_all`` for the sender task, without a scheduler round trip when the kernel has room.

    trio's ``SocketStream.send_all`` always yields to the scheduler after writing (a checkpoint),
    which costs a whole scheduling tick per batch of frames. On a plain TCP socket the sender
    first tries one ``write(2)`` on the socket's (non-blocking) file descriptor; whatever the
    kernel does not take at once, and every write to a TLS stream, goes through ``send_all``.
    Only the sender task writes, so the two paths never interleave.

    On a plain TCP socket it also busy-polls for the answer after a write (``linger``).
    """

    __slots__ = ("_busy", "_large", "_socket", "_stream")

    def __init__(self, stream: trio.abc.Stream, busy_poll: float = 0.0) -> None:
        self._stream = stream
        self._socket: trio.socket.SocketType | None = None
        self._busy: BusyPoll | None = None
        self._large = False  # the socket's TCP_NOTSENT_LOWAT was raised (``large_writes``)
        if os.name == "posix" and isinstance(stream, trio.SocketStream):
            self._socket = stream.socket
            if busy_poll:
                self._busy = BusyPoll(busy_poll)

    @property
    def direct(self) -> bool:
        """Whether it writes the socket's descriptor itself (a plain socket)."""
        return self._socket is not None

    def linger(self) -> None:
        """After a write: poll for the answer a moment if nothing else is ready (busypoll)."""
        if self._busy is not None:
            linger(self._socket, self._busy)  # type: ignore[arg-type]

    def large_writes(self) -> None:
        """A payload of ``CHUNK_SIZE`` or more is about to be written: from now on the
        kernel may hold up to ``LARGE_WRITE_LOWAT`` unsent bytes of this socket.

        trio's ``SocketStream`` sets ``TCP_NOTSENT_LOWAT`` to 16 KiB, so the kernel takes
        about two 64 KiB segments per ``write(2)`` beyond what it can send at once: a 1 MiB
        message took 8-9 writes, and the echo server as many wake-ups. With the larger
        mark each masked slice goes in one write. Connections that never write a large
        payload (W1, W5) keep trio's setting and pay no system call for it.
        """
        if self._large:
            return
        self._large = True
        sock = self._socket
        if sock is not None and hasattr(socket, "TCP_NOTSENT_LOWAT"):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NOTSENT_LOWAT, LARGE_WRITE_LOWAT)

    def write_some(self, buffers: list[Buffer]) -> int:
        """One non-blocking ``writev(2)`` of ``buffers`` on the plain socket: how much it took.

        Every failure is 0 bytes taken: the sender's ``send_buffers`` of the rest meets it
        again and reports it the usual way.
        """
        assert self._socket is not None
        fd = self._socket.fileno()
        if fd < 0:
            return 0
        try:
            return os.write(fd, buffers[0]) if len(buffers) == 1 else os.writev(fd, buffers)
        except OSError:
            return 0

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

    async def send_buffers(self, buffers: list[Buffer]) -> None:
        """Write all of ``buffers``, in order, as if joined (``writev`` on a plain socket).

        As ``send_all``: no checkpoint when the kernel takes everything at once; what it
        does not take is written as the socket becomes writable, with no copy. On a plain
        socket a single buffer is one ``write(2)`` in the same loop, not trio's
        ``send_all`` (four layers of wrappers and a scheduler pass per partial write).

        Raises:
            trio.BrokenResourceError: the connection is broken.
            trio.ClosedResourceError: the stream was closed.

        Cancellation: part of the data may have been written.
        """
        sock = self._socket
        if sock is None:
            await self._send_each(buffers)
            return
        while True:
            fd = sock.fileno()  # asked each time, as in send_all
            if fd < 0:
                raise trio.ClosedResourceError("the stream was closed")
            try:
                sent = os.write(fd, buffers[0]) if len(buffers) == 1 else os.writev(fd, buffers)
            except BlockingIOError:
                # Waited for only when the kernel takes nothing: on loopback, room often
                # comes back while a partial write returns, and a wait costs a wake-up.
                try:
                    await trio.lowlevel.wait_writable(sock)
                except trio.ClosedResourceError:
                    raise trio.ClosedResourceError("the stream was closed") from None
                continue
            except OSError as exc:
                raise trio.BrokenResourceError(f"writing failed: {exc}") from exc
            buffers = unsent_part(buffers, sent)
            if not buffers:
                return

    async def _send_each(self, buffers: list[Buffer]) -> None:
        """``send_all`` of each large buffer as it is, of the small ones between joined
        (TLS and other streams: one copy less than joining everything)."""
        run: list[Buffer] = []
        for buffer in buffers:
            if len(buffer) < CHUNK_SIZE:
                run.append(buffer)
                continue
            if run:
                await self.send_all(b"".join(run) if len(run) > 1 else run[0])
                run = []
            await self.send_all(buffer)
        if run:
            await self.send_all(b"".join(run) if len(run) > 1 else run[0])


def unsent_part(buffers: list[Buffer], sent: int) -> list[Buffer]:
    """What is left of ``buffers`` once the first ``sent`` bytes are written."""
    for index, buffer in enumerate(buffers):
        size = len(buffer)
        if sent < size:
            rest = buffers[index:]
            if sent:
                rest[0] = memoryview(buffer)[sent:]
            return rest
        sent -= size
    return []


async def write_frames(
    writer: Writer, protocol: ClientProtocol, frames: list[Wire], closing: CloseHandshake
) -> None:
    """Write ``frames`` in order: small pieces joined, payloads of ``SEPARATE_PAYLOAD`` or
    more handed to ``writev`` beside their header (no copy), ``MaskedPayload`` slices
    written one by one (the first with what precedes it, its header at least, and the
    socket's ``TCP_NOTSENT_LOWAT`` raised first: ``Writer.large_writes``), and pongs due
    meanwhile slipped between frames.

    Raises:
        trio.BrokenResourceError, trio.ClosedResourceError: as ``send_all``.

    Cancellation: part of the frames may have been written; the wire may be mid-frame.
    """
    buffers: list[Buffer] = []  # for one writev
    small: list[bytes] = []  # pieces to join into one of the buffers
    size = 0
    for frame in frames:
        if protocol.pongs and closing.sent is None and frame is not frames[0]:
            # Pings that arrived while a long batch was being written are answered
            # between two of its frames, not after the whole batch.
            # A pong (125 bytes at most) is always framed as one piece of bytes.
            small.extend(wire[0] for wire in protocol.pong_frames())
        for part in frame:
            if type(part) is bytes and len(part) < SEPARATE_PAYLOAD:
                small.append(part)
                size += len(part)
                continue
            if small:
                buffers.append(b"".join(small) if len(small) > 1 else small[0])
                small = []
            if isinstance(part, MaskedPayload):
                # Masked and written a slice at a time, each on its own: gathering several
                # slices per writev measured 10-30% more CPU per 1 MiB message in the
                # benchmark's worker (and held four slices at once).
                writer.large_writes()
                # The first slice goes with what precedes it (the frame's header): a
                # header written alone is a segment of its own on the wire.
                for masked in part.slices(CHUNK_SIZE):
                    buffers.append(masked)
                    await writer.send_buffers(buffers)
                    buffers = []
                size = 0
            else:
                buffers.append(part)
                size += len(part)
        if size >= WRITE_SIZE or len(buffers) >= MAX_BUFFERS:
            if small:
                buffers.append(b"".join(small) if len(small) > 1 else small[0])
                small = []
            await writer.send_buffers(buffers)
            buffers, size = [], 0
    if small:
        buffers.append(b"".join(small) if len(small) > 1 else small[0])
    if buffers:
        await writer.send_buffers(buffers)
