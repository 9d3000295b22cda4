"""The sans-I/O retry policy and backoff (``_sansio/reconnect.py``): no trio, exact draws."""

from __future__ import annotations

import email.utils
import random
import ssl
import subprocess
import sys
import textwrap

import pytest

from trio_ws_events import (
    Backoff,
    CloseTimeout,
    ConnectError,
    ConnectionLost,
    ConnectTimeout,
    Decision,
    Ending,
    HandlerError,
    HandshakeRejected,
    KeepaliveTimeout,
    MessageTooBig,
    ProtocolError,
    RetryPolicy,
    WebSocketError,
)
from trio_ws_events._sansio.reconnect import RetrySchedule, parse_retry_after

RETRY, STOP = Decision.RETRY, Decision.STOP
NOW = 1_800_000_000.0  # a fixed Unix time for Retry-After dates


def closed(code: int, *, open_for: float | None = 1.0) -> Ending:
    return Ending(None, code, "", opened=True, open_for=open_for)


def failed(error: WebSocketError, *, open_for: float | None = None) -> Ending:
    return Ending(error, error.code or 1006, open_for=open_for)


def rejected(status: int, *headers: tuple[str, str]) -> HandshakeRejected:
    return HandshakeRejected(f"status {status}", status=status, headers=list(headers), body=b"")


def cert_failure() -> ConnectError:
    error = ConnectError("TLS certificate verification failed")
    error.__cause__ = ssl.SSLCertVerificationError("certificate verify failed")
    return error


def test_reconnect_module_imports_no_trio() -> None:
    """_sansio/reconnect.py (and what it imports) loads with trio made unimportable."""
    # The package's __init__ imports trio, so load the two modules by path instead.
    code = textwrap.dedent(
        """
        import importlib.util, pathlib, sys, types
        sys.modules["trio"] = None
        root = pathlib.Path(sys.argv[1])
        package = types.ModuleType("trio_ws_events")
        package.__path__ = [str(root)]
        sys.modules["trio_ws_events"] = package
        import trio_ws_events._sansio.reconnect as reconnect
        assert "trio" not in {name.split(".")[0] for name, m in sys.modules.items() if m}
        print(reconnect.RetryPolicy()(reconnect.Ending(None, 1012)))
        """
    )
    import trio_ws_events

    root = trio_ws_events.__path__[0]
    result = subprocess.run(
        [sys.executable, "-c", code, root], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Decision.RETRY"


# ---------------------------------------------------------------------------- the table


@pytest.mark.parametrize("code", [1001, 1006, 1011, 1012, 1013, 1014])
def test_policy_retries_server_close_code(code: int) -> None:
    """Server close codes that promise a better next time are retried."""
    assert RetryPolicy()(closed(code)) is RETRY


@pytest.mark.parametrize(
    "code", [1000, 1002, 1003, 1005, 1007, 1008, 1009, 1010, 1015, 3000, 3999, 4000, 4500, 4999]
)
def test_policy_stops_on_server_close_code(code: int) -> None:
    """1000, the protocol and policy codes, 3000-4999 and unknown codes stop."""
    assert RetryPolicy()(closed(code)) is STOP


@pytest.mark.parametrize("code", [1000, 1005])
def test_policy_retry_normal_close_configured(code: int) -> None:
    """retry_normal_close=True retries 1000 (and a close frame with no code)."""
    assert RetryPolicy(retry_normal_close=True)(closed(code)) is RETRY
    assert RetryPolicy(retry_normal_close=True)(closed(1008)) is STOP


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_policy_retries_http_status(status: int) -> None:
    """Handshake answers that say "later" are retried."""
    assert RetryPolicy()(failed(rejected(status))) is RETRY


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 426, 451, 501, 505, 200, 302])
def test_policy_stops_on_http_status(status: int) -> None:
    """Other 4xx (and statuses outside the retry list) stop."""
    assert RetryPolicy()(failed(rejected(status))) is STOP


@pytest.mark.parametrize(
    "error",
    [
        ConnectionLost("the connection broke"),
        ConnectTimeout("connecting timed out"),
        KeepaliveTimeout("no pong"),
        CloseTimeout("no close reply"),
        ConnectError("cannot connect: Connection refused"),
        ConnectError("connection broke during the handshake: Connection reset by peer"),
    ],
    ids=["lost", "connect-timeout", "keepalive-timeout", "close-timeout", "refused", "reset"],
)
def test_policy_retries_transient_error(error: WebSocketError) -> None:
    """Lost connections, timeouts, refused and reset connections are retried."""
    assert RetryPolicy()(failed(error)) is RETRY


@pytest.mark.parametrize(
    "error",
    [
        cert_failure(),
        ProtocolError("bad frame", code=1002),
        ProtocolError("bad utf-8", code=1007),
        MessageTooBig("too big"),
        HandlerError("on_message handler raised"),
    ],
    ids=["tls-certificate", "protocol-1002", "protocol-1007", "too-big-1009", "handler"],
)
def test_policy_stops_on_error(error: WebSocketError) -> None:
    """Certificate failures, the server's protocol errors and handler bugs stop."""
    assert RetryPolicy()(failed(error)) is STOP


def test_ending_status_and_retry_after() -> None:
    """Ending exposes the status and, for 429 and 503 only, the Retry-After header."""
    ending = failed(rejected(503, ("retry-after", "2")))
    assert (ending.status, ending.retry_after) == (503, "2")
    assert failed(rejected(403, ("Retry-After", "2"))).retry_after is None
    assert closed(1012).status is None
    assert closed(1012).retry_after is None


# ---------------------------------------------------------------------------- backoff


def test_backoff_ceiling_grows_and_caps() -> None:
    """The ceiling doubles from initial and stops at max (no overflow at huge attempts)."""
    backoff = Backoff(initial=0.5, factor=2, max=30)
    assert [backoff.ceiling(n) for n in range(1, 9)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert backoff.ceiling(10_000) == 30


def test_backoff_full_jitter_bounds_and_spread() -> None:
    """Full jitter draws in [0, ceiling], exactly as the seeded generator says."""
    backoff = Backoff(initial=1, factor=2, max=8)
    draws = [backoff.delay(4, random.Random(seed)) for seed in range(200)]
    assert all(0 <= d <= 8 for d in draws)
    assert min(draws) < 1
    assert max(draws) > 7
    assert backoff.delay(4, random.Random(7)) == random.Random(7).uniform(0, 8)


def test_backoff_partial_and_no_jitter() -> None:
    """jitter=0.25 draws in [0.75, 1] of the ceiling; jitter=0 is exact."""
    partial = Backoff(initial=4, factor=1, max=4, jitter=0.25)
    draws = [partial.delay(1, random.Random(seed)) for seed in range(100)]
    assert all(3 <= d <= 4 for d in draws)
    assert Backoff(initial=0.5, jitter=0).delay(3, random.Random(1)) == 2.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"initial": -1}, "initial must be a non-negative finite number of seconds, got -1"),
        ({"max": 0}, "max must be a positive finite number of seconds, got 0"),
        ({"factor": 0.5}, "factor must be a finite number of at least 1, got 0.5"),
        ({"jitter": 2}, "jitter must be a number from 0 to 1, got 2"),
        ({"initial": 5, "max": 1}, "initial (5) must not be larger than max (1)"),
        ({"reset_after": float("nan")}, "reset_after must be a non-negative finite number"),
    ],
)
def test_backoff_rejects_bad_arguments(kwargs: dict[str, float], message: str) -> None:
    """Each argument is checked with a message saying what is allowed."""
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Backoff(**kwargs)


def test_backoff_rejects_non_numbers() -> None:
    """A str or a bool is a TypeError, not a silent conversion."""
    with pytest.raises(TypeError, match="initial must be a number of seconds, got str"):
        Backoff(initial="1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="jitter must be a number from 0 to 1, got bool"):
        Backoff(jitter=True)


# ---------------------------------------------------------------------------- Retry-After


def test_parse_retry_after_seconds_and_date() -> None:
    """Delay-seconds and HTTP dates both parse; a past date is 0; junk is None."""
    assert parse_retry_after("2", NOW) == 2.0
    assert parse_retry_after(" 120 ", NOW) == 120.0
    date = email.utils.formatdate(NOW + 42, usegmt=True)
    assert parse_retry_after(date, NOW) == 42.0
    assert parse_retry_after(email.utils.formatdate(NOW - 60, usegmt=True), NOW) == 0.0
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after("-3", NOW) is None
    assert parse_retry_after("²", NOW) is None  # a digit to str.isdigit(), not to HTTP
    assert parse_retry_after("", NOW) is None
    # The obsolete forms of RFC 9110 5.6.7, both in GMT.
    date = email.utils.formatdate(NOW + 30, usegmt=True)  # e.g. "Fri, 15 Jan 2027 08:00:30 GMT"
    when = email.utils.parsedate_to_datetime(date)
    asctime = when.strftime("%a %b %d %H:%M:%S %Y")
    rfc850 = when.strftime("%A, %d-%b-%y %H:%M:%S GMT")
    assert parse_retry_after(asctime, NOW) == 30.0
    assert parse_retry_after(rfc850, NOW) == 30.0


def schedule(**kwargs: object) -> RetrySchedule:
    backoff = kwargs.pop("backoff", Backoff(initial=1, factor=2, max=10, jitter=0, reset_after=5))
    max_attempts = kwargs.pop("max_attempts", None)
    policy = kwargs.pop("policy", RetryPolicy())
    return RetrySchedule(backoff, policy, max_attempts, random.Random(0))  # type: ignore[arg-type]


def test_schedule_retry_after_seconds_overrides_backoff() -> None:
    """503 with Retry-After: 2 waits 2 s whatever the backoff says."""
    plan = schedule()
    assert plan.next_delay(failed(rejected(503, ("Retry-After", "2"))), NOW) == (1, 2.0)
    assert plan.next_delay(failed(rejected(503, ("Retry-After", "7"))), NOW) == (2, 7.0)


def test_schedule_retry_after_date_capped_by_max() -> None:
    """429 with an HTTP date an hour away waits max (10 s), not an hour."""
    date = email.utils.formatdate(NOW + 3600, usegmt=True)
    assert schedule().next_delay(failed(rejected(429, ("Retry-After", date))), NOW) == (1, 10.0)
    near = email.utils.formatdate(NOW + 3, usegmt=True)
    assert schedule().next_delay(failed(rejected(429, ("Retry-After", near))), NOW) == (1, 3.0)


def test_schedule_unreadable_retry_after_falls_back_to_backoff() -> None:
    """A Retry-After that is neither form is ignored."""
    assert schedule().next_delay(failed(rejected(503, ("Retry-After", "later"))), NOW) == (1, 1)


def test_schedule_max_attempts() -> None:
    """max_attempts=3 allows three attempts in a row, then stops; 0 never retries."""
    plan = schedule(max_attempts=3)
    lost = failed(ConnectionLost("lost"))
    assert [plan.next_delay(lost, NOW) for _ in range(4)] == [(1, 1), (2, 2), (3, 4), None]
    assert schedule(max_attempts=0).next_delay(lost, NOW) is None


def test_schedule_resets_after_a_long_enough_connection() -> None:
    """A connection open reset_after seconds starts the count (and the delays) again."""
    plan = schedule(max_attempts=2)
    refused = failed(ConnectError("refused"))
    assert plan.next_delay(refused, NOW) == (1, 1)
    assert plan.next_delay(closed(1012, open_for=4.9), NOW) == (2, 2)  # too short: no reset
    assert plan.next_delay(closed(1012, open_for=5.0), NOW) == (1, 1)  # reset
    assert plan.next_delay(refused, NOW) == (2, 2)
    assert plan.next_delay(refused, NOW) is None


def test_schedule_policy_override_and_stop() -> None:
    """An override callable decides; STOP ends at once; a wrong answer is a TypeError."""
    seen: list[Ending] = []

    def only_4000(ending: Ending) -> Decision:
        seen.append(ending)
        return RETRY if ending.code == 4000 else STOP

    plan = schedule(policy=only_4000)
    assert plan.next_delay(closed(4000), NOW) == (1, 1)
    assert plan.next_delay(closed(1012), NOW) is None
    assert [e.code for e in seen] == [4000, 1012]
    with pytest.raises(TypeError, match=r"must return Decision\.RETRY or Decision\.STOP, got True"):
        schedule(policy=lambda ending: True).next_delay(closed(1012), NOW)


def test_ending_repr_shows_no_payload_and_no_query_string() -> None:
    """repr(why), as an on_reconnecting handler would log it: kinds and counts only."""
    error = ConnectionLost("connection to ws://host/feed?token=SECRET-9 broke", url="x")
    ending = Ending(
        error=error, code=1006, opened=True, open_for=2.5, unsent=("PAYLOAD-1", b"PAYLOAD-2")
    )
    shown = repr(ending)
    assert "SECRET-9" not in shown
    assert "PAYLOAD" not in shown
    assert shown == (
        "<Ending code=1006 error=ConnectionLost opened=True open_for=2.500s unsent=2 message(s)>"
    )
