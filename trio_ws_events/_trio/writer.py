"""Writing to the connection: the sender, batches of frames, one direct ``write(2)``, trio for
the rest."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Final

import trio

from .._sansio.closing import CloseHandshake
from .._sansio.events import Buffer, MaskedPayload, Wire
from .._sansio.frames import CHUNK_SIZE
from .._sansio.framing import SEPARATE_PAYLOAD, FrameWriter
from .._sansio.outbox import Piece
from .._sansio.protocol import ClientProtocol

if TYPE_CHECKING:
    from .connection import Connection

__all__ = ["WRITE_SIZE", "Sender", "Writer", "write_frames"]

#: ``write_frames`` hands its buffers to one ``writev`` once they hold this many bytes.
WRITE_SIZE: Final = CHUNK_SIZE
# Far below the kernel's IOV_MAX (1,024 on Linux): small pieces are joined before this.
MAX_BUFFERS: Final = 64


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

    async def send_buffers(self, buffers: list[Buffer]) -> None:
        """Write all of ``buffers``, in order, as if joined (``writev`` on a plain socket).

        As ``send_all``: no checkpoint when the kernel takes everything at once; what it
        does not take is written as the socket becomes writable, with no copy.

        Raises:
            trio.BrokenResourceError: the connection is broken.
            trio.ClosedResourceError: the stream was closed.

        Cancellation: part of the data may have been written.
        """
        sock = self._socket
        if sock is None or len(buffers) == 1:
            await self._send_each(buffers)
            return
        while True:
            fd = sock.fileno()  # asked each time, as in send_all
            if fd < 0:
                raise trio.ClosedResourceError("the stream was closed")
            try:
                sent = os.writev(fd, buffers)
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
            buffers = _unsent(buffers, sent)
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


def _unsent(buffers: list[Buffer], sent: int) -> list[Buffer]:
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
    written one by one, and pongs due meanwhile slipped between frames.

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
                if buffers:
                    await writer.send_buffers(buffers)
                    buffers, size = [], 0
                for masked in part.slices(CHUNK_SIZE):
                    await writer.send_all(masked)
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


class Sender:
    """The sender of one connection: frames what is due and writes it, one batch at a time.

    Its task (``run``) wakes on ``conn.wake``; ``_abort`` calls ``write_due`` itself once the
    task is gone. Only one of them writes at a time, so the batches never interleave.
    """

    __slots__ = ("_conn", "_logger", "_protocol", "_writer", "broken")

    def __init__(self, conn: Connection, writer: Writer, protocol: ClientProtocol) -> None:
        self._conn = conn
        self._writer = writer
        self._protocol = protocol
        self._logger = conn._logger
        #: A batch was cut short: the wire may be mid-frame, so nothing more is written.
        self.broken = False

    async def run(self) -> None:
        """The sender task: write what is due each time ``conn.wake`` is set, until our
        close frame is out or the stream breaks."""
        conn = self._conn
        while True:
            await conn.wake.wait()
            conn.wake = trio.Event()
            # A cancellation already pending must land here, before a batch is taken: once
            # send_all has started, a cancelled write leaves frame boundaries unknown.
            await trio.lowlevel.checkpoint_if_cancelled()
            try:
                closed = await self.write_due()
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                conn._lost(f"writing failed: {exc.__cause__ or exc}")
                conn._recv_scope.cancel()
                return
            if closed:
                if conn.closing.close_written():
                    conn._await_eof()
                return

    async def write_due(self) -> bool:
        """Frame and write what is due, batch by batch, until nothing is or our close is out.

        Returns:
            True once the batch holding our close frame was written.

        Cancellation: a batch cut short leaves ``broken`` set: the wire may be mid-frame,
        so nothing more is written, and the batch stays in ``unsent``.
        """
        conn = self._conn
        closing = conn.closing
        while True:
            try:
                # Framing inside the guard: a batch taken but never written must not be
                # confirmed by anyone (the abort path checks ``broken``).
                frames = self._frame_batch()
                if not frames:
                    return False
                await write_frames(self._writer, self._protocol, frames, closing)
            except BaseException:
                self.broken = True
                raise
            self.confirm_written()
            if closing.sent is not None:
                return True

    def confirm_written(self) -> None:
        """The batch taken last reached the socket: the outbox and the events say so."""
        conn = self._conn
        conn.outbox.written()
        if conn.outbox.buffered_amount <= conn.low_water:
            conn.drained.set()
        if conn._written is not None:  # someone waits for this batch (LazyEvent)
            conn._written.set()
            conn._written = None

    def _frame_batch(self) -> list[Wire]:
        """Frame what is due: pongs and pings, queued messages, then the close frame."""
        conn = self._conn
        protocol = self._protocol
        frames: list[Wire] = []
        outbox = conn.outbox
        closing = conn.closing
        pinger = conn.pinger
        if closing.owes_pongs:
            # Pings that arrived before the server's close (even in the same read) are
            # still answered, before our close frame (RFC 6455 5.5.2).
            frames.extend(protocol.pong_frames())
        if closing.sends_data:
            for payload in pinger.due:
                frames.append(protocol.ping(payload))
            if outbox:
                framer = protocol.framer
                for message in outbox.take(CHUNK_SIZE):
                    if type(message) is Piece:
                        frames.extend(_piece_frames(framer, message))
                    else:
                        frames.extend(framer.message(message))  # type: ignore[arg-type]
        protocol.pongs.take()  # none is owed once our close frame is out
        pinger.due = []
        close = closing.close_due(queue_empty=not outbox)
        if close is not None:
            frames.append(protocol.close(close[0], close[1]))
            self._logger.debug("sending close %d to %s", close[0], conn._url.for_log)
        return frames


def _piece_frames(framer: FrameWriter, piece: Piece) -> list[Wire]:
    return framer.piece(piece.data, piece.text, piece.first, piece.final)
