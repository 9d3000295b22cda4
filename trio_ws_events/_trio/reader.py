"""Reading from the connection: ``receive_some``, without trio's socket layers on a plain
TCP socket, and with a short wait for the answer to what was just written."""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Awaitable, Callable
from typing import Final

import trio

from .._sansio.busypoll import BusyPoll
from .busypoll import Exchange, others_ready

__all__ = ["Receive", "receiver"]

#: ``receive_some`` of a stream: at most ``max_bytes``, ``b""`` at the end of the stream.
Receive = Callable[[int], Awaitable[bytes | bytearray]]

#: How many times the reader yields, when it finds nothing to read, for the tasks it has
#: just woken to write (a round trip's next message) before it waits or polls.
YIELDS: Final = 2


def receiver(stream: trio.abc.Stream, exchange: Exchange | None, busy_poll: float) -> Receive:
    """The ``receive_some`` the reader calls: ``stream``'s own, or on a plain TCP socket one
    that reads its file descriptor with ``read(2)`` directly.

    trio's ``SocketStream.receive_some`` goes through four layers (the stream, the socket's
    method wrapper, its non-blocking helper, an error-translating context manager) on each of
    the two reads a round trip makes; the direct one does what they do, with the same
    checkpoints: a read that did not wait yields once, and a wait is ``wait_readable``.

    With ``exchange`` (shared with the writers) and a ``busy_poll`` budget, a read that
    finds nothing first waits for the answer to a write made since the last read: see
    ``_SocketReceiver``.
    """
    if os.name == "posix" and type(stream) is trio.SocketStream and exchange is not None:
        busy = BusyPoll(busy_poll) if busy_poll else None
        return _SocketReceiver(stream.socket, exchange, busy).receive_some
    return stream.receive_some


class _SocketReceiver:
    """``receive_some`` by ``read(2)``; before sleeping, a short wait for the answer.

    When nothing is there to read and the busy-poll policy wants it: first it yields up to
    ``YIELDS`` times while no write was made since the last read, for the tasks that the
    events of that read woke (the next request of a round trip is written then); then, once
    a write was made and no other task is ready, it polls with ``read(2)`` for up to the
    budget. Only then does it wait in the run's ``epoll_wait``, whose sleep costs a
    wake-up on top of the answer's own time. A policy that sees no answer backs off
    (``_sansio/busypoll.py``).
    """

    __slots__ = ("_busy", "_exchange", "_socket")

    def __init__(self, sock: trio.socket.SocketType, exchange: Exchange, busy: BusyPoll | None):
        self._socket = sock
        self._exchange = exchange
        self._busy = busy

    async def receive_some(self, max_bytes: int) -> bytes:
        """Like ``SocketStream.receive_some``.

        Raises:
            trio.ClosedResourceError: the socket was closed (before or during the wait).
            trio.BrokenResourceError: reading failed (a reset); its ``__cause__`` says why.
        """
        sock = self._socket
        exchange = self._exchange
        await trio.lowlevel.checkpoint_if_cancelled()
        try:
            data = _read(sock, max_bytes)
        except BlockingIOError:
            pass
        else:
            await trio.lowlevel.cancel_shielded_checkpoint()
            exchange.wrote = False
            return data
        busy = self._busy
        if busy is not None and busy.wanted():
            answer = await self._await_answer(busy, max_bytes)
            if answer is not None:
                exchange.wrote = False
                return answer
        while True:
            # Raises ClosedResourceError when the socket is closed meanwhile (trio's
            # notify_closing): the same as the stream's own receive_some.
            await trio.lowlevel.wait_readable(sock)
            try:
                data = _read(sock, max_bytes)
            except BlockingIOError:
                continue
            exchange.wrote = False
            return data

    async def _await_answer(self, busy: BusyPoll, max_bytes: int) -> bytes | None:
        """Yield for a write, then poll for its answer; ``None`` if it did not come."""
        sock = self._socket
        exchange = self._exchange
        yielded = False
        for _ in range(YIELDS):
            if exchange.wrote:
                break
            yielded = True
            await trio.lowlevel.checkpoint()
            try:
                return _read(sock, max_bytes)
            except BlockingIOError:
                pass
        if not exchange.wrote:
            busy.done(answered=False)  # nobody wrote: nothing to wait for
            return None
        if others_ready():
            return None  # others are ready: the run will not sleep, and they must not wait
        fd = sock.fileno()
        if fd < 0:
            return None  # closed: the wait below says so
        clock = time.perf_counter
        end = clock() + busy.budget
        while True:
            try:
                data = os.read(fd, max_bytes)
            except BlockingIOError:
                if clock() >= end:
                    busy.done(answered=False)
                    return None
                continue
            except OSError:
                return None  # the wait's own read reports it
            busy.done(answered=True)
            if not yielded:
                # Every read is a checkpoint: a handler that sends from here must not keep
                # the reader running for ever against a fast peer.
                await trio.lowlevel.cancel_shielded_checkpoint()
            return data


def _read(sock: trio.socket.SocketType, max_bytes: int) -> bytes:
    # Asked each time, never cached: a closed socket's number may belong to another file.
    fd = sock.fileno()
    if fd < 0:
        raise trio.ClosedResourceError("the stream was closed")
    try:
        return os.read(fd, max_bytes)
    except BlockingIOError:
        raise
    except OSError as exc:
        if exc.errno == errno.EBADF:
            raise trio.ClosedResourceError("the stream was closed") from None
        raise trio.BrokenResourceError(f"reading failed: {exc}") from exc
