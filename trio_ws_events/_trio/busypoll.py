"""Polling the socket briefly for the peer's answer after a write (``_sansio/busypoll.py``)."""

from __future__ import annotations

import importlib
import select
import time

import trio

from .._sansio.busypoll import BusyPoll

__all__ = ["Exchange", "linger", "others_ready", "poll_readable", "writable_now"]

_POLLIN = select.POLLIN
_POLLOUT = select.POLLOUT

# trio's run context (private): its run queue is what current_statistics() counts as
# tasks_runnable, but current_statistics() also counts the I/O waiters of every socket,
# 33 us with 1,000 connections open. tests/driver/test_busy_poll.py pins this name; if it
# goes, others_ready() answers True and nobody polls.
_RUN_CONTEXT: object = getattr(
    importlib.import_module("trio._core._run"), "GLOBAL_RUN_CONTEXT", None
)


def others_ready() -> bool:
    """Whether another task of the current Trio run is ready to run (``True`` when that
    cannot be known cheaply: then nobody polls)."""
    try:
        return bool(_RUN_CONTEXT.runner.runq)  # type: ignore[attr-defined]
    except AttributeError:  # pragma: no cover - trio changed: never poll
        return True


def linger(sock: trio.socket.SocketType, busy: BusyPoll) -> None:
    """Poll ``sock`` for up to ``busy.budget`` seconds for something to read, when the policy
    wants it and nothing else in this Trio run is ready to run.

    It reads nothing: once the socket is readable, the run's own ``epoll_wait`` returns at
    once and the reader task takes the bytes, without the wake-up latency of a sleep. It
    returns early when another task becomes ready only through the socket, so the cost to
    the rest of the run is at most the budget, and only when the run had nothing to do.
    """
    if not busy.wanted():
        return
    if others_ready():
        return  # others are ready: the run will not sleep, and they must not wait for us
    fd = sock.fileno()
    if fd >= 0:
        busy.done(answered=poll_readable(fd, busy.budget))


def writable_now(fd: int) -> bool:
    """Whether ``fd`` is writable (or in error) right now, without waiting."""
    poller = select.poll()
    poller.register(fd, _POLLOUT)
    return bool(poller.poll(0))


def poll_readable(fd: int, budget: float) -> bool:
    """Busy-wait up to ``budget`` seconds for ``fd`` to be readable (or at its end, or in
    error); whether it became so. The one poll loop of both the sender and the reader."""
    poller = select.poll()
    poller.register(fd, _POLLIN)
    poll = poller.poll
    clock = time.perf_counter
    end = clock() + budget
    while not poll(0):
        if clock() >= end:
            return False
    return True


class Exchange:
    """What the reader and the writers of one connection on a plain socket tell each other.

    Attributes:
        wrote: a write reached the socket since the reader last read: an answer may come.
        may_write: ``send()`` may write directly (``Sender.write_now``): once per read.
        handling: the reader is handling a read's events, and runs (it is not awaiting):
            a ``send()`` now is only queued (``deferred``), and written when the reader is
            done or first awaits, so that a close frame later in that read leaves it unsent.
        deferred: such a ``send()`` happened.
    """

    __slots__ = ("deferred", "handling", "may_write", "wrote")

    def __init__(self) -> None:
        self.wrote = False
        self.may_write = True
        self.handling = False
        self.deferred = False

    def read(self) -> None:
        """The reader read bytes and handles their events now."""
        self.wrote = False
        self.may_write = False
        self.handling = True
