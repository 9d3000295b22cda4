"""The sender of a connection: what is due, framed and written batch by batch by its task, or
at once from ``send()`` (the bytes' way to the stream is ``socket_writes.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from .._sansio.events import Buffer, Wire
from .._sansio.frames import CHUNK_SIZE
from .._sansio.framing import FrameWriter
from .._sansio.outbox import Piece
from .._sansio.protocol import ClientProtocol
from .busypoll import Exchange
from .socket_writes import Writer, unsent_part, write_frames

if TYPE_CHECKING:
    from .connection import Connection

__all__ = ["Sender"]


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
        #: Shared with the reader, on a plain socket only (``busypoll.Exchange``).
        self.exchange = Exchange() if writer.direct else None

    async def run(self) -> None:
        """The sender task: write what is due each time ``conn.wake`` is set, until our
        close frame is out or the stream breaks."""
        conn = self._conn
        wake = conn.wake
        # Started by the first wake-up (``Wakeup.starter``): its flag is the work to do.
        started = wake.take()
        while True:
            if not started:
                await wake.wait()
            started = False
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
                self._close_written()
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

    def deferred(self) -> bool:
        """Whether the read being handled deferred a ``send()``'s direct write."""
        return self.exchange is not None and self.exchange.deferred

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
        rest = unsent_part(parts, self._writer.write_some(parts))
        if not rest:
            exchange.wrote = True
            self.confirm_written()
            if conn.closing.sent is not None:
                self._close_written()
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

    def _close_written(self) -> None:
        """Our close frame reached the socket: after the peer's close (or a failure) only
        the end of the stream is left to wait for."""
        conn = self._conn
        if conn.closing.close_written():
            conn._await_eof()

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
        pongs = protocol.pongs
        # The tests before each step are the common case's fast way past it (W5 frames one
        # message per batch, with no pong, ping or close due).
        if pongs and closing.owes_pongs:
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
        if pongs:
            pongs.take()  # none is owed once our close frame is out
        if pinger.due:
            pinger.due = []
        if closing.request is not None:
            close = closing.close_due(queue_empty=not outbox)
            if close is not None:
                frames.append(protocol.close(close[0], close[1]))
                self._logger.debug("sending close %d to %s", close[0], conn._url.for_log)
        return frames


def _piece_frames(framer: FrameWriter, piece: Piece) -> list[Wire]:
    return framer.piece(piece.data, piece.text, piece.first, piece.final)
