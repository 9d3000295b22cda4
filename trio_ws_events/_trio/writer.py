"""Writing to the connection: the sender, batches of frames, one direct ``write(2)``, trio for
the rest."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Final

import trio

from .._sansio.busypoll import BusyPoll
from .._sansio.closing import CloseHandshake
from .._sansio.events import Buffer, MaskedPayload, Wire
from .._sansio.frames import CHUNK_SIZE
from .._sansio.framing import SEPARATE_PAYLOAD, FrameWriter
from .._sansio.outbox import Piece
from .._sansio.protocol import ClientProtocol
from .busypoll import Exchange, linger

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

    On a plain TCP socket it also busy-polls for the answer after a write (``linger``).
    """

    __slots__ = ("_busy", "_socket", "_stream", "exchange")

    def __init__(self, stream: trio.abc.Stream, busy_poll: float = 0.0) -> None:
        self._stream = stream
        self._socket: trio.socket.SocketType | None = None
        self._busy: BusyPoll | None = None
        #: Shared with the reader, on a plain socket only (``busypoll.Exchange``).
        self.exchange: Exchange | None = None
        if os.name == "posix" and isinstance(stream, trio.SocketStream):
            self._socket = stream.socket
            self.exchange = Exchange()
            if busy_poll:
                self._busy = BusyPoll(busy_poll)

    def linger(self) -> None:
        """After a write: poll for the answer a moment if nothing else is ready (busypoll)."""
        if self._busy is not None:
            linger(self._socket, self._busy)  # type: ignore[arg-type]

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
    task is gone. Only one of them writes at a time, so the batches never interleave. On a
    plain socket, ``send()`` may also write one message itself (``write_now``), only while
    the task is idle and nothing else is due.
    """

    __slots__ = (
        "_conn",
        "_failure",
        "_logger",
        "_protocol",
        "_rest",
        "_writer",
        "broken",
        "exchange",
        "writing",
    )

    def __init__(self, conn: Connection, writer: Writer, protocol: ClientProtocol) -> None:
        self._conn = conn
        self._writer = writer
        self._protocol = protocol
        self._logger = conn._logger
        #: A batch was cut short: the wire may be mid-frame, so nothing more is written.
        self.broken = False
        #: ``write_due`` runs: ``write_now`` must not write between its frames.
        self.writing = False
        #: What the kernel did not take of a ``write_now``: written first by the task.
        self._rest: list[Buffer] | None = None
        self._failure: Exception | None = None  # raised by the task for ``write_now``
        self.exchange = writer.exchange

    async def run(self) -> None:
        """The sender task: write what is due each time ``conn.wake`` is set, until our
        close frame is out or the stream breaks."""
        conn = self._conn
        while True:
            await conn.wake.wait()
            # A cancellation already pending must land here, before a batch is taken: once
            # send_all has started, a cancelled write leaves frame boundaries unknown.
            await trio.lowlevel.checkpoint_if_cancelled()
            try:
                closed = await self.write_due()
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                conn._lost(f"writing failed: {exc.__cause__ or exc}")
                conn._recv_scope.cancel()
                return
            self._writer.linger()  # for the answer, or the close reply
            if closed:
                if conn.closing.close_written():
                    conn._await_eof()
                return

    def write_now(self) -> bool:
        """Write the one message ``send()`` has just queued, from ``send()`` itself.

        Only on a plain socket, while the task is idle with nothing else due (no pong, ping
        or close, nothing in flight), the message is small enough to be framed as one piece,
        and once per read or batch (``Exchange.may_write``), so that a burst of sends still
        leaves as one batch. While the reader handles a read's events it is only deferred
        (``Exchange.handling``): written once the reader is done, so that a close frame
        later in that read still leaves it in ``unsent``. What the kernel does not take at
        once is left to the task, the message counted in flight until then.

        Returns:
            True if it was written, deferred, or its rest handed to the task; False if the
            task must write it (``send()`` then wakes it).
        """
        exchange = self.exchange
        if exchange is None:
            return False
        if exchange.handling:
            exchange.deferred = True
            return True
        return exchange.may_write and self._write_at_once()

    def reading(self) -> None:
        """The reader handles a read's events now: ``send()`` defers until ``handled``."""
        if self.exchange is not None:
            self.exchange.read()

    def no_direct_write(self) -> None:
        """Until the reader has handled a read, every ``send()`` goes through the task (the
        frames that came with the handshake's answer are still to be handled)."""
        if self.exchange is not None:
            self.exchange.may_write = False

    def handled(self) -> None:
        """The reader is done with a read's events: write what they deferred, at once if it
        can, else by the task; ``send()`` writes directly again."""
        exchange = self.exchange
        if exchange is None:
            return
        exchange.handling = False
        exchange.may_write = True
        if exchange.deferred:
            exchange.deferred = False
            if not self._write_at_once():
                self._conn.wake.set()

    def pause(self) -> bool:
        """The reader is about to await while handling: what was deferred goes to the task
        now, and nothing more is deferred until ``resume``. Returns what ``resume`` takes."""
        exchange = self.exchange
        if exchange is None or not exchange.handling:
            return False
        exchange.handling = False
        if exchange.deferred:
            exchange.deferred = False
            self._conn.wake.set()
        return True

    def resume(self, handling: bool) -> None:
        """The reader's await is over (``handling``: what ``pause`` returned)."""
        if handling:
            self.exchange.handling = True  # type: ignore[union-attr]

    def _write_at_once(self) -> bool:
        """Frame and write what is queued in one ``write(2)``, if nothing else is due."""
        conn = self._conn
        exchange = self.exchange
        assert exchange is not None
        if self.writing or self.broken or conn.wake.is_set():
            return False
        outbox = conn.outbox
        if outbox.in_flight or outbox.streaming or outbox.buffered_amount >= CHUNK_SIZE // 2:
            # Framed as one piece of bytes (even deflated) far below CHUNK_SIZE; above, in
            # slices masked as they are written: the task's job.
            return False
        try:
            frames = self._frame_batch()
        except Exception as exc:
            # A framing bug (the batch was taken): the task raises it, as if it had framed.
            self._failure = exc
            conn.wake.set()
            return True
        if not frames:
            return False
        # Below CHUNK_SIZE every part is bytes (a header, a payload): none is masked later.
        parts: list[Buffer] = [part for frame in frames for part in frame]  # type: ignore[misc]
        exchange.may_write = False
        rest = _unsent(parts, self._writer.write_some(parts))
        if not rest:
            exchange.wrote = True
            self.confirm_written()
        else:
            self._rest = rest
            conn.wake.set()
        return True

    async def write_due(self) -> bool:
        """Frame and write what is due, batch by batch, until nothing is or our close is out.

        Returns:
            True once the batch holding our close frame was written.

        Cancellation: a batch cut short leaves ``broken`` set: the wire may be mid-frame,
        so nothing more is written, and the batch stays in ``unsent``.
        """
        conn = self._conn
        closing = conn.closing
        self.writing = True
        try:
            while True:
                try:
                    # Framing inside the guard: a batch taken but never written must not be
                    # confirmed by anyone (the abort path checks ``broken``).
                    rest, self._rest = self._rest, None
                    if self._failure is not None:
                        raise self._failure
                    if rest is not None:
                        await self._writer.send_buffers(rest)
                    else:
                        frames = self._frame_batch()
                        if not frames:
                            return False
                        await write_frames(self._writer, self._protocol, frames, closing)
                except BaseException:
                    self.broken = True
                    raise
                self.confirm_written()
                if self.exchange is not None:
                    self.exchange.wrote = self.exchange.may_write = True
                if closing.sent is not None:
                    return True
        finally:
            self.writing = False

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
