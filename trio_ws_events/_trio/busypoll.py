"""Polling the socket briefly for the peer's answer after a write (``_sansio/busypoll.py``)."""

from __future__ import annotations

import select
import time

import trio

from .._sansio.busypoll import BusyPoll

__all__ = ["Exchange", "linger"]

_POLLIN = select.POLLIN


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
    if trio.lowlevel.current_statistics().tasks_runnable:
        return  # others are ready: the run will not sleep, and they must not wait for us
    fd = sock.fileno()
    if fd < 0:
        return
    poller = select.poll()
    poller.register(fd, _POLLIN)
    clock = time.perf_counter
    end = clock() + busy.budget
    poll = poller.poll
    while not poll(0):
        if clock() >= end:
            busy.done(answered=False)
            return
    busy.done(answered=True)


class Exchange:
    """What the reader and the writers of one connection on a plain socket tell each other.

    Attributes:
        wrote: a write reached the socket since the reader last read: an answer may come.
        may_write: ``send()`` may write directly (``Sender.write_now``): not while the
            reader handles the events of a read, and once per read.
    """

    __slots__ = ("may_write", "wrote")

    def __init__(self) -> None:
        self.wrote = False
        self.may_write = True

    def read(self) -> None:
        """The reader has read: its events are handled next (``handled`` follows)."""
        self.wrote = False
        self.may_write = False

    def handled(self) -> None:
        """The events of the last read were handled."""
        self.may_write = True
