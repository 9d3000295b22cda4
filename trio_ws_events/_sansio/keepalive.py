"""The keepalive schedule and the pings awaiting their pong, over times the caller passes in.

No clock is read here: the driver passes ``now`` (``trio.current_time()``, or a test's
numbers) and sleeps until the time ``Keepalive.tick`` returns.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

from .entropy import random_bytes

__all__ = ["Keepalive", "Tick"]


@dataclasses.dataclass(frozen=True, slots=True)
class Tick:
    """What the driver must do after ``Keepalive.tick``.

    Attributes:
        ping: send a ping with this payload now (``None``: no ping is due).
        timed_out: a keepalive ping went unanswered for ``timeout``: fail the connection.
        next_at: when to tick again; ``None`` to stop ticking.
    """

    ping: bytes | None
    timed_out: bool
    next_at: float | None


class Keepalive:
    """A ping every ``interval``, each followed within ``timeout`` by its pong or any frame.

    It also holds every ping awaiting its pong, the keepalive's and the user's
    (``WebSocket.ping()``), so that a pong gives the latency whoever sent the ping.

    Args:
        interval: seconds between keepalive pings; ``None`` for none.
        timeout: seconds a keepalive ping may go unanswered; ``None`` never to fail.
        payloads: makes a keepalive ping's payload (4 random bytes by default).
    """

    __slots__ = (
        "_awaited",
        "_in_handler",
        "_interval",
        "_next_ping_at",
        "_own",
        "_payloads",
        "_resumed_at",
        "_timeout",
        "last_received",
        "latency",
    )

    def __init__(
        self,
        interval: float | None,
        timeout: float | None,
        *,
        payloads: Callable[[], bytes] = lambda: random_bytes(4),
    ) -> None:
        self._interval = interval
        self._timeout = timeout
        self._payloads = payloads
        self._awaited: dict[bytes, float] = {}  # payload -> when its ping was sent
        self._own: list[tuple[bytes, float]] = []  # keepalive pings unanswered, oldest first
        self._next_ping_at = math.inf
        self._in_handler = False
        self._resumed_at = 0.0  # when reading last resumed after a handler
        #: When the last bytes arrived (``now`` of ``received``); ``None`` before.
        self.last_received: float | None = None
        #: Round-trip time of the most recent ping answered; ``None`` before.
        self.latency: float | None = None

    def start(self, now: float) -> float | None:
        """The connection is open at ``now``; returns when to tick first (``None``: never)."""
        self.last_received = self._resumed_at = now
        if self._interval is None:
            return None
        self._next_ping_at = now + self._interval
        return self._next_ping_at

    def received(self, now: float) -> None:
        """Bytes arrived at ``now``: any frame answers the keepalive pings sent before."""
        self.last_received = now

    def pause(self) -> None:
        """Reading stopped for our own code (a handler, the ``async for`` body)."""
        self._in_handler = True

    def resume(self, now: float) -> None:
        """Reading resumed at ``now``: the silence a timeout measures starts again."""
        self._in_handler = False
        self._resumed_at = now

    def awaiting(self, payload: bytes) -> bool:
        """Whether a ping with ``payload`` awaits its pong."""
        return payload in self._awaited

    def ping_sent(self, payload: bytes, now: float) -> None:
        """A ping with ``payload`` goes out at ``now`` and awaits its pong."""
        self._awaited[payload] = now

    def forget(self, payload: bytes) -> None:
        """Stop awaiting the pong of ``payload`` (its waiter gave up)."""
        self._awaited.pop(payload, None)

    def pong(self, payload: bytes, now: float) -> bool:
        """A pong arrived at ``now``; True when it answered an awaited ping (``latency`` set).

        An unsolicited pong, or one for a ping given up on, changes nothing.
        """
        sent_at = self._awaited.pop(payload, None)
        if sent_at is None:
            return False
        self.latency = now - sent_at
        return True

    def tick(self, now: float) -> Tick:
        """Advance the schedule at ``now``: whether to ping, whether it timed out, when next."""
        interval = self._interval
        if interval is None:
            return Tick(None, False, None)
        timeout = self._timeout
        pending = self._unanswered()
        next_at = math.inf
        if pending and timeout is not None:
            if self._in_handler:
                # We are not reading: our own handler's pause is not the peer's silence.
                deadline = now + timeout
            else:
                deadline = max(pending[0][1], self._resumed_at) + timeout
                if now >= deadline:
                    return Tick(None, True, None)
            next_at = deadline
        ping = None
        if now >= self._next_ping_at:
            ping = self._payloads()
            if timeout is not None:
                # Without a timeout nothing waits for the keepalive's own pong.
                self._awaited[ping] = now
                pending.append((ping, now))
                next_at = min(next_at, now + timeout)
            self._next_ping_at = now + interval
        self._own = pending
        return Tick(ping, False, min(next_at, self._next_ping_at))

    def _unanswered(self) -> list[tuple[bytes, float]]:
        """The keepalive pings still unanswered; the answered ones are no longer awaited."""
        last = self.last_received or 0.0
        pending: list[tuple[bytes, float]] = []
        for payload, sent_at in self._own:
            if payload in self._awaited and last <= sent_at:
                pending.append((payload, sent_at))
            else:
                self._awaited.pop(payload, None)  # answered, or a later frame did
        return pending
