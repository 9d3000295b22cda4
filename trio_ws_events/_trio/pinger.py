"""Pings of one connection: the keepalive timer, ``ping()`` and the pongs that answer them.

The schedule and the bookkeeping are ``_sansio/keepalive.py``'s ``Keepalive``; this module
keeps its next tick as the deadline of the reader's ``timer`` scope, runs the tick when that
expires, queues the pings it asks for, and wakes ``ping()``'s callers when their pong (or the
end) arrives.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import trio

from .._errors import InvalidStateError, KeepaliveTimeout
from .._sansio.keepalive import Keepalive
from .._sansio.state import State

if TYPE_CHECKING:
    from .connection import Connection

__all__ = ["Pinger"]


class Pinger:
    """The pings of ``conn``: queued in ``due`` for its sender, answered by ``got_pong``.

    The keepalive has no task of its own (issue 18: a task per idle connection cost about
    2 KiB, and one more start-up per handshake). Its next tick is the deadline of a cancel
    scope (``timer``) around the reader's loop, armed only while the reader waits for bytes or
    checkpoints between two batches of one read, never while our own code holds it (an async
    handler, the ``async for`` body: ``hold``), so the expiry lands only where the reader can
    resume. Not in the sender: it may be stuck in a write to a vanished peer, which is when
    keepalive matters most (``tests/driver/test_liveness.py``).
    """

    __slots__ = (
        "_conn",
        "_ping_timeout",
        "_timer",
        "_waiters",
        "due",
        "held",
        "keepalive",
        "next_tick",
    )

    def __init__(self, conn: Connection, keepalive: Keepalive, ping_timeout: float | None) -> None:
        self._conn = conn
        self._ping_timeout = ping_timeout
        self.keepalive = keepalive
        #: Pings to send (keepalive and ``ping()``), taken by the sender's next batch.
        self.due: list[bytes] = []
        # Of ping(): set by the pong or by the end. Made at the first ping (W5's memory).
        self._waiters: dict[bytes, trio.Event] | None = None
        #: When the keepalive ticks next (``math.inf``: not before the end).
        self.next_tick = math.inf
        self._timer: trio.CancelScope | None = None
        #: Our own code held the reader since it last armed the timer (``rearm``).
        self.held = False

    def start(self, at: float | None) -> None:
        """The connection is open: tick first at ``at`` (``None``: keepalive is off)."""
        self.next_tick = math.inf if at is None else at

    def timer(self) -> trio.CancelScope:
        """A fresh scope for the reader's loop that expires when the next tick is due."""
        self._timer = trio.CancelScope(deadline=self.next_tick)
        self.held = False
        return self._timer

    def hold(self) -> None:
        """Our own code holds the reader: no timeout blames the peer, and the timer is off
        (its expiry would land in the user's code)."""
        self.keepalive.pause()
        self.held = True
        if self._timer is not None:
            self._timer.deadline = math.inf

    def release(self) -> None:
        """Our own code let go of the reader; the timer is armed again by ``rearm``."""
        self.keepalive.resume(trio.current_time())

    def rearm(self) -> None:
        """The reader is about to wait for bytes again: the timer expires at the next tick."""
        self.held = False
        if self._timer is not None:
            self._timer.deadline = self.next_tick

    def tick(self) -> None:
        """The timer expired: run the keepalive schedule (``Keepalive.tick``) once."""
        conn = self._conn
        self.next_tick = math.inf
        if conn.closing.closing:
            return
        tick = self.keepalive.tick(trio.current_time())
        if tick.ping is not None:
            self.due.append(tick.ping)
            conn.wake.set()
        if tick.timed_out:
            conn.fail(
                KeepaliveTimeout(
                    f"no answer from {conn.shown_url} within "
                    f"ping_timeout={self._ping_timeout}s of a keepalive ping",
                    url=conn.shown_url,
                ),
                1011,
                "keepalive ping timeout",
            )
        if tick.next_at is not None:
            self.next_tick = tick.next_at

    async def run(self) -> None:
        """The keepalive as a task of its own, for an engine whose reader does not tick
        (``Connection.reader_ticks`` false): sleep until each tick, until there is none."""
        while self.next_tick != math.inf:
            await trio.sleep_until(self.next_tick)
            self.tick()

    async def ping(self, payload: bytes) -> float:
        """Send a ping with ``payload``; the round trip in seconds once its pong arrived.

        Raises:
            InvalidStateError: the connection ended before the pong.

        Cancellation: safe; a pong arriving later is ignored.
        """
        conn = self._conn
        sent_at = trio.current_time()
        if self._waiters is None:
            self._waiters = {}
        done = self._waiters[payload] = trio.Event()
        self.keepalive.ping_sent(payload, sent_at)
        self.due.append(payload)
        conn.wake.set()
        try:
            await done.wait()
        finally:
            self.keepalive.forget(payload)
            self._waiters.pop(payload, None)
        if conn.state is State.CLOSED:
            raise InvalidStateError(
                f"connection to {conn.shown_url} ended before the pong", url=conn.shown_url
            )
        return trio.current_time() - sent_at

    def got_pong(self, payload: bytes) -> None:
        """A pong arrived: the latency, and the ``ping()`` waiting for it, if any."""
        if self.keepalive.pong(payload, trio.current_time()) and self._waiters:
            waiter = self._waiters.pop(payload, None)
            if waiter is not None:
                waiter.set()

    def ended(self) -> None:
        """The connection ended: every ``ping()`` still waiting wakes (and raises)."""
        self.next_tick = math.inf
        for done in (self._waiters or {}).values():
            done.set()
