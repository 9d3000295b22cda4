"""Pings of one connection: the keepalive task, ``ping()`` and the pongs that answer them.

The schedule and the bookkeeping are ``_sansio/keepalive.py``'s ``Keepalive``; this module
only sleeps until the time it names, queues the pings it asks for, and wakes ``ping()``'s
callers when their pong (or the end) arrives.
"""

from __future__ import annotations

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

    The keepalive runs in a task of its own (``run``), not as a deadline on the sender's
    wait: the sender may be stuck in a write to a vanished peer, which is when keepalive
    matters most (``tests/driver/test_liveness.py``).
    """

    __slots__ = ("_conn", "_ping_timeout", "_waiters", "due", "keepalive")

    def __init__(self, conn: Connection, keepalive: Keepalive, ping_timeout: float | None) -> None:
        self._conn = conn
        self._ping_timeout = ping_timeout
        self.keepalive = keepalive
        #: Pings to send (keepalive and ``ping()``), taken by the sender's next batch.
        self.due: list[bytes] = []
        # Of ping(): set by the pong or by the end.
        self._waiters: dict[bytes, trio.Event] = {}

    async def run(self, at: float) -> None:
        """Run the keepalive schedule (``Keepalive.tick``) until it stops or we close."""
        conn = self._conn
        keepalive = self.keepalive
        while True:
            await trio.sleep_until(at)
            if conn.closing.closing:
                return
            tick = keepalive.tick(trio.current_time())
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
            if tick.next_at is None:
                return
            at = tick.next_at

    async def ping(self, payload: bytes) -> float:
        """Send a ping with ``payload``; the round trip in seconds once its pong arrived.

        Raises:
            InvalidStateError: the connection ended before the pong.

        Cancellation: safe; a pong arriving later is ignored.
        """
        conn = self._conn
        sent_at = trio.current_time()
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
        if self.keepalive.pong(payload, trio.current_time()):
            waiter = self._waiters.pop(payload, None)
            if waiter is not None:
                waiter.set()

    def ended(self) -> None:
        """The connection ended: every ``ping()`` still waiting wakes (and raises)."""
        for done in self._waiters.values():
            done.set()
