"""The reader's reads: ``read(2)`` on a plain socket's descriptor, into one reusable buffer
once reads are large, a large frame's payload once it is all there, with a short poll for
the answer to what was just written."""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import sys
from typing import Final

import trio

from .._sansio.busypoll import BusyPoll
from .._sansio.frames import CHUNK_SIZE
from .._sansio.protocol import HEADER_READ
from .busypoll import Exchange, others_ready, poll_readable

__all__ = ["LARGE_READ", "WHOLE_READS", "YIELDS", "Reads"]

#: A read of at least this many bytes gives the connection its reusable buffer
#: (``CHUNK_SIZE`` bytes, kept until the connection ends); a connection that only ever
#: reads less (W5's thousand idle ones) never gets one.
LARGE_READ: Final = 64 * 1024
#: How many times the reader yields, when it finds nothing to read, for the tasks it has
#: just woken to write (a round trip's next message) before it polls or waits.
YIELDS: Final = 2
#: Whether a large frame's payload is awaited whole (``SO_RCVLOWAT`` and ``FIONREAD``, whose
#: meaning for ``epoll`` is Linux's) before it is read.
WHOLE_READS: Final = sys.platform.startswith("linux") and hasattr(socket, "SO_RCVLOWAT")

if WHOLE_READS:
    import fcntl
    import termios


class Reads:
    """``receive_some(CHUNK_SIZE)`` for the reader: on a plain socket, without trio's socket
    layers, without a fresh buffer per large read, and without a sleep when the answer is
    about to come.

    - trio's ``SocketStream.receive_some`` goes through four layers of wrappers per read;
      this reads the descriptor itself with the same checkpoints (a read that did not wait
      yields once, but for a large frame's header, whose payload is read next; a wait is
      ``wait_readable``).
    - Every fresh read buffer is fresh memory the kernel writes into: page faults (3.8 us
      each on the machine of issue 18) on every large read. Once a read was large, reads go
      into one reusable buffer (``readv``) and are handed over as a ``memoryview`` of it,
      valid until the next read: ``ClientProtocol.receive`` copies out what it keeps. A read
      that the protocol keeps whole (``keep``: the payload of a large frame) is fresh.
    - When nothing is there and the busy-poll policy wants it: it yields up to ``YIELDS``
      times while no write was made since the last read (``Exchange.wrote``), for the tasks
      the last read woke (the next request of a round trip is written then); then, once a
      write was made and no other task is ready, it polls with ``read(2)`` for up to the
      budget before the run's ``epoll_wait``, whose sleep costs a wake-up on top of the
      answer's own time. A policy that sees no answer backs off (``_sansio/busypoll.py``).
    """

    __slots__ = ("_busy", "_exchange", "_socket", "_stream", "_view")

    def __init__(
        self,
        stream: trio.abc.ReceiveStream,
        exchange: Exchange | None = None,
        busy_poll: float = 0.0,
    ) -> None:
        self._stream = stream
        self._socket: trio.socket.SocketType | None = None
        if os.name == "posix" and isinstance(stream, trio.SocketStream):
            self._socket = stream.socket
        self._exchange = exchange if self._socket is not None else None
        self._busy = BusyPoll(busy_poll) if busy_poll and self._exchange is not None else None
        self._view: memoryview | None = None

    async def receive(
        self, keep: bool, size: int = CHUNK_SIZE, whole: bool = False
    ) -> bytes | memoryview:
        """The next bytes, ``b""`` at the end of the stream.

        Args:
            keep: the caller keeps the bytes beyond the next read: they must be ``bytes``.
            size: the most bytes to read (``ClientProtocol.read_size``), allocated before
                the read on a plain socket; other streams always read up to ``CHUNK_SIZE``.
                A read of ``HEADER_READ`` bytes that did not wait does not yield.
            whole: ``size`` bytes are wanted together (``ClientProtocol.reads_whole``): on a
                plain TCP socket the read waits until they are all there (``_until_queued``).

        Returns:
            ``bytes``, or a view of the reusable buffer valid until the next call.

        Raises:
            trio.BrokenResourceError: the connection is broken.
            trio.ClosedResourceError: the stream was closed (before or during the wait).

        Cancellation: safe, nothing is read.
        """
        sock = self._socket
        if sock is None:
            return bytes(await self._stream.receive_some(CHUNK_SIZE))
        view = None if keep else self._view
        if whole and WHOLE_READS and await _until_queued(sock, size):
            try:
                return self._got(_read(sock, view, size), keep)
            except BlockingIOError:  # readable, yet nothing to read: read as usual
                pass
        await trio.lowlevel.checkpoint_if_cancelled()
        try:
            data = _read(sock, view, size)
        except BlockingIOError:
            pass
        else:
            if size != HEADER_READ and data:
                # A large frame's header (``ClientProtocol.read_size``) does not yield: the
                # read of its payload comes next, and yields; a pass of the scheduler
                # between the two cost 8% of the CPU per 1 MiB message (W2). Nor does the
                # end of the stream: the reader stops there, and the end of the session
                # that follows awaits anyway.
                await trio.lowlevel.cancel_shielded_checkpoint()
            return self._got(data, keep)
        busy = self._busy
        if busy is not None and busy.wanted():
            answer = await self._await_answer(busy, view, size)
            if answer is not None:
                return self._got(answer, keep)
        while True:
            # Raises ClosedResourceError when the socket is closed meanwhile (trio's
            # notify_closing): the same as the stream's own receive_some.
            await trio.lowlevel.wait_readable(sock)
            try:
                data = _read(sock, view, size)
            except BlockingIOError:
                continue
            return self._got(data, keep)

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        """``receive(keep=True)`` in a stream's shape, for the handshake's reads: at most
        ``max_bytes`` (``CHUNK_SIZE`` when ``None``)."""
        data = await self.receive(True, CHUNK_SIZE if max_bytes is None else max_bytes)
        assert type(data) is bytes
        return data

    def _got(self, data: bytes | memoryview, keep: bool) -> bytes | memoryview:
        if self._exchange is not None:
            self._exchange.wrote = False
        if self._view is None and not keep and len(data) >= LARGE_READ:
            self._view = memoryview(bytearray(CHUNK_SIZE))
        return data

    async def _await_answer(
        self, busy: BusyPoll, view: memoryview | None, size: int
    ) -> bytes | memoryview | None:
        """Yield for a write, then poll for its answer; ``None`` if it did not come."""
        sock = self._socket
        exchange = self._exchange
        assert sock is not None
        assert exchange is not None
        yielded = False
        for _ in range(YIELDS):
            if exchange.wrote:
                break
            yielded = True
            await trio.lowlevel.checkpoint()
            try:
                return _read(sock, view, size)
            except BlockingIOError:
                pass
        if not exchange.wrote:
            busy.done(answered=False)  # nobody wrote: nothing to wait for
            return None
        if others_ready():
            # Others are ready: the run will not sleep, and they must not wait. Counted as a
            # miss, so that a busy run (a pipeline, many connections) stops yielding for it.
            busy.done(answered=False)
            return None
        fd = sock.fileno()
        if fd < 0 or not poll_readable(fd, busy.budget):
            busy.done(answered=False)
            return None
        try:
            data = _read(sock, view, size)
        except BlockingIOError:  # readable for poll(), yet nothing to read: wait as usual
            busy.done(answered=False)
            return None
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return None  # the wait's own read reports it
        busy.done(answered=True)
        if not yielded:
            # Every read is a checkpoint: a handler that sends from here must not keep
            # the reader running for ever against a fast peer.
            await trio.lowlevel.cancel_shielded_checkpoint()
        return data


async def _until_queued(sock: trio.socket.SocketType, size: int) -> bool:
    """Wait until ``size`` bytes are queued on ``sock``; whether it waited (the wait was the
    read's checkpoint).

    A large frame's payload comes in 64 KiB segments, and a read as soon as the socket is
    readable takes part of it: a fresh buffer of the whole rest, shrunk, the parts joined
    into one more copy at the end, and a pass of the scheduler per part (issue 18 counted
    1.6 reads per 1 MiB message, and the page faults of the shrunk buffers' churn).
    ``SO_RCVLOWAT`` makes ``epoll`` report the socket readable only once ``size`` bytes are
    there, so that one read takes the whole payload. Linux raises the receive buffer to fit
    and caps the mark at half its largest (``tcp_rmem``); it still reports the socket
    readable at its end, on an error, and when its receive window is all but closed (a fresh
    connection's is small), so the wait cannot outlast the data: the read then takes a part
    and the next whole read the rest. The mark is set for the wait only.

    Raises:
        trio.ClosedResourceError: the stream was closed before or during the wait.

    Cancellation: safe, the mark is reset and nothing is read.
    """
    fd = sock.fileno()
    if fd < 0:
        raise trio.ClosedResourceError("the stream was closed")
    queued = bytearray(4)
    try:
        fcntl.ioctl(fd, termios.FIONREAD, queued, True)
    except OSError:
        return False  # the read reports what is wrong
    if int.from_bytes(queued, sys.byteorder) >= size:
        return False
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, size)
    except OSError:
        return False
    try:
        await trio.lowlevel.wait_readable(sock)
    finally:
        with contextlib.suppress(OSError):  # closed meanwhile: nothing left to reset
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, 1)
    return True


def _read(sock: trio.socket.SocketType, view: memoryview | None, size: int) -> bytes | memoryview:
    """One non-blocking read of up to ``size`` bytes: fresh ``bytes``, or into ``view`` (a
    view of what came; ``view`` is ``CHUNK_SIZE`` long, and ``size`` is then too)."""
    # Asked each time, never cached: a closed socket's number may belong to another file.
    fd = sock.fileno()
    if fd < 0:
        raise trio.ClosedResourceError("the stream was closed")
    try:
        if view is None:
            return os.read(fd, size)
        return view[: os.readv(fd, [view])]
    except BlockingIOError:
        raise
    except OSError as exc:
        if exc.errno == errno.EBADF:
            raise trio.ClosedResourceError("the stream was closed") from None
        raise trio.BrokenResourceError(f"reading failed: {exc}") from exc
