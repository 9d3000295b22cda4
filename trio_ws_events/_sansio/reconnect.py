"""When to reconnect and how long to wait: the retry policy and the backoff, without I/O.

[`ReconnectingWebSocket`][] drives this module; nothing here imports trio,
so every decision is tested with plain function calls and an exact ``random.Random``.

* [`Ending`][] describes how one connection (or one attempt) ended.
* [`RetryPolicy`][] (the default) or any callable ``(Ending) -> Decision`` decides whether
  that ending is worth another attempt.
* [`Backoff`][] computes the wait: exponential, full jitter, capped; a ``Retry-After``
  header of a 429 or 503 answer overrides it (capped too).
* ``RetrySchedule`` keeps the count of attempts in a row and applies ``max_attempts``.
"""

from __future__ import annotations

import dataclasses
import datetime
import email.utils
import enum
import math
import random
import ssl
from collections.abc import Callable
from typing import Final, TypeAlias

from .._errors import (
    ConnectError,
    ConnectionLost,
    HandlerError,
    HandshakeRejected,
    WebSocketError,
    WebSocketTimeout,
)

__all__ = [
    "Backoff",
    "Decision",
    "Ending",
    "Policy",
    "RetryPolicy",
    "RetrySchedule",
    "parse_retry_after",
]

#: Close codes from the server that are worth another attempt: going away (1001), abnormal
#: (1006), internal error (1011), service restart (1012), try again later (1013), bad gateway
#: (1014).
RETRY_CODES: Final = frozenset({1001, 1006, 1011, 1012, 1013, 1014})
#: HTTP answers to the handshake that are worth another attempt.
RETRY_STATUSES: Final = frozenset({408, 429, 500, 502, 503, 504})
#: The statuses whose ``Retry-After`` header is honoured (RFC 9110 10.2.3).
RETRY_AFTER_STATUSES: Final = frozenset({429, 503})


class Decision(enum.Enum):
    """What a retry policy answers for an [`Ending`][]."""

    #: Wait (the backoff) and make a new attempt.
    RETRY = "RETRY"
    #: Give up: the ending becomes the terminal event of the reconnecting client.
    STOP = "STOP"

    def __repr__(self) -> str:
        return f"Decision.{self.name}"


@dataclasses.dataclass(frozen=True, slots=True)
class Ending:
    """How one connection or connection attempt ended, as a retry policy sees it.

    Attributes:
        error: the error handed to that connection's ``on_error``; ``None`` when a close
            handshake completed (its ``on_closed``).
        code: the close code: the one received for a completed close handshake, otherwise
            ``error.code`` (1006 when no close frame was exchanged).
        reason: the close reason that goes with ``code``.
        opened: whether that connection reached OPEN (``False`` for a failed attempt).
        open_for: seconds it stayed open, or ``None`` when it never opened.
        unsent: what that connection listed in its ``unsent``, in order.
    """

    error: WebSocketError | None
    code: int
    reason: str = ""
    opened: bool = False
    open_for: float | None = None
    unsent: tuple[str | bytes, ...] = ()

    def __repr__(self) -> str:
        # Logged from on_reconnecting handlers: no payloads (unsent), and no error message,
        # which names the URL with its query string; the kind of error and the counts only.
        kind = type(self.error).__name__ if self.error is not None else None
        open_for = "" if self.open_for is None else f" open_for={self.open_for:.3f}s"
        return (
            f"<Ending code={self.code} error={kind} opened={self.opened}{open_for} "
            f"unsent={len(self.unsent)} message(s)>"
        )

    @property
    def status(self) -> int | None:
        """The HTTP status of a refused handshake ([`HandshakeRejected`][]), else ``None``."""
        error = self.error
        return error.status if isinstance(error, HandshakeRejected) else None

    @property
    def retry_after(self) -> str | None:
        """The ``Retry-After`` header of a refused handshake with 429 or 503, else ``None``."""
        error = self.error
        if not isinstance(error, HandshakeRejected) or error.status not in RETRY_AFTER_STATUSES:
            return None
        return next((v for k, v in error.headers if k.lower() == "retry-after"), None)


#: A retry policy: any callable that takes the ``Ending`` and returns a
#: ``Decision``. ``RetryPolicy`` is the default one.
Policy: TypeAlias = Callable[[Ending], Decision]


@dataclasses.dataclass(frozen=True, slots=True)
class RetryPolicy:
    """The default retry policy: retry what can get better by itself, stop on the rest.

    Retry on: a lost connection, connect and keepalive timeouts, refused or reset connections
    (every [`ConnectError`][] but a TLS certificate failure), server close codes 1001,
    1006, 1011, 1012, 1013 and 1014, and HTTP 408, 429, 500, 502, 503 and 504. Stop on:
    server close codes 1000 and 1005 (unless ``retry_normal_close``), 1002, 1003, 1007-1010,
    3000-4999 and any other; other HTTP statuses; TLS certificate failures; protocol errors
    of the server; an exception raised by a handler. Your own ``close()`` always stops and
    never reaches the policy.

    Args:
        retry_normal_close: also retry after the server closes with 1000 (or with no code,
            1005), for servers that end sessions routinely and expect clients back.
    """

    retry_normal_close: bool = False

    def __call__(self, ending: Ending) -> Decision:
        """The decision for ``ending``."""
        error = ending.error
        if error is None:
            return self._for_close_code(ending.code)
        return Decision.RETRY if _error_is_transient(error) else Decision.STOP

    def _for_close_code(self, code: int) -> Decision:
        if code in RETRY_CODES or (self.retry_normal_close and code in (1000, 1005)):
            return Decision.RETRY
        return Decision.STOP


def _error_is_transient(error: WebSocketError) -> bool:
    if isinstance(error, HandlerError):
        return False  # a bug in the application: reconnecting would only hide it
    if isinstance(error, HandshakeRejected):
        return error.status in RETRY_STATUSES
    if isinstance(error, ConnectError):
        return not isinstance(error.__cause__, ssl.SSLCertVerificationError)
    # ConnectionLost, KeepaliveTimeout, CloseTimeout; ProtocolError and MessageTooBig stop.
    return isinstance(error, ConnectionLost | WebSocketTimeout)


def _check_seconds(name: str, value: object, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds, got {type(value).__name__}")
    if math.isnan(value) or value < 0 or (positive and value == 0) or math.isinf(value):
        allowed = "a positive" if positive else "a non-negative"
        raise ValueError(f"{name} must be {allowed} finite number of seconds, got {value!r}")
    return float(value)


@dataclasses.dataclass(frozen=True, slots=True)
class Backoff:
    """How long to wait before each new attempt: exponential, with jitter, capped.

    The ``n``-th attempt in a row (``n`` from 1) waits ``min(max, initial * factor**(n-1))``
    scaled by jitter: with ``jitter=1.0`` (full jitter) a uniform draw in ``[0, that]``, with
    ``jitter=0`` exactly that, in between a draw in ``[(1 - jitter) * that, that]``. The count
    starts again from 1 once a connection has stayed open ``reset_after`` seconds.

    Args:
        initial: the ceiling of the first wait, in seconds (0 allowed: retry at once).
        factor: how much the ceiling grows per attempt, at least 1.
        max: the largest wait, in seconds; also caps a server's ``Retry-After``.
        jitter: the random fraction of each wait, from 0 (none) to 1 (full jitter, the
            default: clients that lost the same server do not come back all at once).
        reset_after: seconds a connection must stay open for the next drop to start the count
            (and ``max_attempts``) from 1 again.

    Raises:
        ValueError: an argument is out of range; the message says what is allowed.
        TypeError: an argument is not a number.
    """

    initial: float = 0.5
    factor: float = 2.0
    max: float = 30.0
    jitter: float = 1.0
    reset_after: float = 10.0

    def __post_init__(self) -> None:
        _check_seconds("initial", self.initial)
        _check_seconds("max", self.max, positive=True)
        _check_seconds("reset_after", self.reset_after)
        factor = self.factor
        if isinstance(factor, bool) or not isinstance(factor, int | float):
            raise TypeError(f"factor must be a number, got {type(factor).__name__}")
        if not 1 <= factor < math.inf:
            raise ValueError(f"factor must be a finite number of at least 1, got {factor!r}")
        jitter = self.jitter
        if isinstance(jitter, bool) or not isinstance(jitter, int | float):
            raise TypeError(f"jitter must be a number from 0 to 1, got {type(jitter).__name__}")
        if not 0 <= jitter <= 1:
            raise ValueError(f"jitter must be a number from 0 to 1, got {jitter!r}")
        if self.initial > self.max:
            raise ValueError(f"initial ({self.initial}) must not be larger than max ({self.max})")

    def ceiling(self, attempt: int) -> float:
        """The wait before attempt number ``attempt`` (from 1) before jitter, capped."""
        if attempt < 1:
            raise ValueError(f"attempt must be 1 or more, got {attempt}")
        # Past the cap the power only overflows: stop growing once it is reached.
        exponent = min(attempt - 1, 1075)
        try:
            grown = self.initial * self.factor**exponent
        except OverflowError:
            grown = math.inf
        return min(self.max, grown)

    def delay(self, attempt: int, rng: random.Random) -> float:
        """The wait before attempt number ``attempt`` (from 1), drawn from ``rng``."""
        top = self.ceiling(attempt)
        if self.jitter == 0:
            return top
        return rng.uniform((1 - self.jitter) * top, top)


def parse_retry_after(value: str, now: float) -> float | None:
    """The seconds a ``Retry-After`` header asks for, from ``now`` (a Unix time).

    Both forms of RFC 9110 10.2.3 are read: delay-seconds (``"120"``) and an HTTP date
    (``"Wed, 21 Oct 2026 07:28:00 GMT"``, or the obsolete RFC 850 and asctime forms; a date
    in the past means 0).

    Returns:
        The seconds to wait, at least 0; ``None`` when the value is neither form.
    """
    text = value.strip()
    if text.isascii() and text.isdigit():  # isdigit() alone accepts "²"
        return float(int(text))
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        # The obsolete asctime form carries no zone; RFC 9110 dates are all in GMT.
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, when.timestamp() - now)


class RetrySchedule:
    """The count of attempts in a row, the policy, the backoff and ``max_attempts`` together.

    Feed it each ending with ``next_delay``; it answers how long to wait before the next
    attempt, or ``None`` to give up. Deterministic for a given ``rng``.

    Args:
        backoff: the delays.
        policy: which endings are retried.
        max_attempts: how many new attempts in a row may be made after endings that the
            policy retries; ``None`` for no limit. The count starts again once a connection
            stays open ``backoff.reset_after`` seconds.
        rng: the source of jitter.
    """

    def __init__(
        self, backoff: Backoff, policy: Policy, max_attempts: int | None, rng: random.Random
    ) -> None:
        self.backoff = backoff
        self.policy = policy
        self.max_attempts = max_attempts
        self.rng = rng
        #: The number of the next attempt in a row (1 for the first retry after a reset).
        self.attempt = 1

    def next_delay(self, ending: Ending, now: float) -> tuple[int, float] | None:
        """The next attempt after ``ending``: ``(its number, seconds to wait)``, or ``None``.

        ``None`` means stop: the policy said so, or ``max_attempts`` is reached.

        Args:
            ending: how the last connection or attempt ended.
            now: the current Unix time, to read a ``Retry-After`` date.

        Raises:
            TypeError: the policy returned something other than a [`Decision`][].
        """
        if ending.open_for is not None and ending.open_for >= self.backoff.reset_after:
            self.attempt = 1
        decision = self.policy(ending)
        if not isinstance(decision, Decision):
            raise TypeError(
                f"a retry policy must return Decision.RETRY or Decision.STOP, got {decision!r}"
            )
        if decision is Decision.STOP:
            return None
        if self.max_attempts is not None and self.attempt > self.max_attempts:
            return None
        delay = self.backoff.delay(self.attempt, self.rng)
        header = ending.retry_after
        if header is not None:
            asked = parse_retry_after(header, now)
            if asked is not None:
                delay = min(asked, self.backoff.max)
        attempt = self.attempt
        self.attempt += 1
        return attempt, delay
