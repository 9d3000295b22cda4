"""The keepalive schedule without trio: times are plain numbers passed in."""

from __future__ import annotations

import itertools

from trio_ws_events._sansio.keepalive import Keepalive, Tick


def numbered() -> Keepalive:
    """A keepalive (interval 10, timeout 5) whose ping payloads are b"1", b"2", ..."""
    counter = itertools.count(1)
    return Keepalive(10.0, 5.0, payloads=lambda: str(next(counter)).encode())


def test_keepalive_start_schedules_the_first_ping_one_interval_after_open() -> None:
    """The first tick is due ``interval`` after the open; nothing is sent before."""
    keepalive = numbered()
    assert keepalive.start(100.0) == 110.0
    assert keepalive.last_received == 100.0
    assert keepalive.tick(105.0) == Tick(None, False, 110.0)


def test_keepalive_without_interval_never_ticks() -> None:
    """interval=None: start returns None and a tick stops at once."""
    keepalive = Keepalive(None, 5.0)
    assert keepalive.start(0.0) is None
    assert keepalive.tick(1000.0) == Tick(None, False, None)


def test_keepalive_pings_then_times_out_without_an_answer() -> None:
    """An unanswered ping fails the connection ``timeout`` after it was sent."""
    keepalive = numbered()
    keepalive.start(0.0)
    assert keepalive.tick(10.0) == Tick(b"1", False, 15.0)
    assert keepalive.awaiting(b"1")
    assert keepalive.tick(14.9) == Tick(None, False, 15.0)
    assert keepalive.tick(15.0) == Tick(None, True, None)


def test_keepalive_pong_answers_and_sets_latency() -> None:
    """The pong of a keepalive ping gives the latency; the next ping is one interval on."""
    keepalive = numbered()
    keepalive.start(0.0)
    keepalive.tick(10.0)
    assert keepalive.pong(b"1", 10.25) is True
    assert keepalive.latency == 0.25
    assert not keepalive.awaiting(b"1")
    assert keepalive.tick(15.0) == Tick(None, False, 20.0)
    assert keepalive.tick(20.0) == Tick(b"2", False, 25.0)


def test_keepalive_any_frame_after_the_ping_counts_as_an_answer() -> None:
    """Bytes received after the ping keep the connection alive even without the pong."""
    keepalive = numbered()
    keepalive.start(0.0)
    keepalive.tick(10.0)
    keepalive.received(12.0)
    assert keepalive.tick(15.0) == Tick(None, False, 20.0)
    assert not keepalive.awaiting(b"1")  # forgotten: a late pong changes nothing
    assert keepalive.pong(b"1", 16.0) is False
    assert keepalive.latency is None


def test_keepalive_does_not_blame_the_peer_for_our_own_handler() -> None:
    """While a handler runs, the deadline moves; after it, the peer gets a full timeout."""
    keepalive = numbered()
    keepalive.start(0.0)
    keepalive.tick(10.0)
    keepalive.pause()
    assert keepalive.tick(15.0) == Tick(None, False, 20.0)
    assert keepalive.tick(20.0) == Tick(b"2", False, 25.0)
    keepalive.resume(30.0)
    assert keepalive.tick(34.0) == Tick(b"3", False, 35.0)  # due since 30
    assert keepalive.tick(35.0) == Tick(None, True, None)


def test_keepalive_without_timeout_pings_and_never_fails() -> None:
    """timeout=None: pings go out every interval, none is awaited, none times out."""
    keepalive = Keepalive(10.0, None, payloads=lambda: b"p")
    keepalive.start(0.0)
    assert keepalive.tick(10.0) == Tick(b"p", False, 20.0)
    assert not keepalive.awaiting(b"p")
    assert keepalive.tick(1000.0) == Tick(b"p", False, 1010.0)


def test_keepalive_tracks_user_pings_for_latency() -> None:
    """A ping of ``ping()`` is awaited until its pong or until it is forgotten."""
    keepalive = Keepalive(None, None)
    keepalive.ping_sent(b"u", 1.0)
    assert keepalive.awaiting(b"u")
    assert keepalive.pong(b"u", 1.5) is True
    assert keepalive.latency == 0.5
    keepalive.ping_sent(b"v", 2.0)
    keepalive.forget(b"v")
    assert keepalive.pong(b"v", 3.0) is False
    assert keepalive.latency == 0.5


def test_keepalive_unsolicited_pong_changes_nothing() -> None:
    """A pong nobody asked for is ignored."""
    keepalive = numbered()
    keepalive.start(0.0)
    assert keepalive.pong(b"zz", 1.0) is False
    assert keepalive.latency is None
