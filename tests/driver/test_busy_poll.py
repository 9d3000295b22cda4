"""Busy polling after a write (``busy_poll=``): when it polls, what it costs a silent peer."""

from __future__ import annotations

import collections
import time

import pytest
import trio
from conftest import StartWebSocketsServer
from peers.raw_server import RawConnection, RawServer, StartRawServer

from trio_ws_events import WebSocket
from trio_ws_events._options import Options
from trio_ws_events._sansio.busypoll import DEFAULT_BUDGET, HANDSHAKE_FACTOR, BusyPoll
from trio_ws_events._trio import busypoll as busypoll_driver
from trio_ws_events._trio.busypoll import linger, others_ready

# ---------------------------------------------------------------- linger() on a socket pair


async def test_linger_returns_at_once_when_the_answer_is_there() -> None:
    """Bytes already readable: one poll, counted as answered, nothing read."""
    left, right = trio.socket.socketpair()
    with left, right:
        await right.send(b"answer")
        policy = BusyPoll(0.5)  # a miss would take half a second
        started = time.perf_counter()
        linger(left, policy)
        assert time.perf_counter() - started < 0.25
        assert (policy.polls, policy.hits) == (1, 1)
        assert await left.recv(100) == b"answer"  # linger only looked


async def test_linger_gives_up_after_the_budget() -> None:
    """Nothing to read: it polls for the budget, then counts a miss and backs off."""
    left, right = trio.socket.socketpair()
    with left, right:
        policy = BusyPoll(0.02)
        started = time.perf_counter()
        linger(left, policy)
        assert time.perf_counter() - started >= 0.02
        assert (policy.polls, policy.hits) == (1, 0)
        linger(left, policy)  # the write after a miss does not poll
        assert policy.polls == 1


async def test_linger_never_holds_up_other_ready_tasks() -> None:
    """Another task ready to run: no poll at all (the run will not sleep anyway)."""
    left, right = trio.socket.socketpair()
    with left, right:
        policy = BusyPoll(0.5)
        ready = trio.Event()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ready.wait)
            await trio.testing.wait_all_tasks_blocked()
            ready.set()  # that task is now runnable
            linger(left, policy)
        assert policy.polls == 0


async def test_others_ready_reads_trio_private_run_queue() -> None:
    """others_ready() leans on trio's private GLOBAL_RUN_CONTEXT.runner.runq (what
    current_statistics() counts as tasks_runnable, without its O(sockets) I/O count): if
    trio renames it, this fails instead of busy polling silently never happening."""
    from trio._core._run import GLOBAL_RUN_CONTEXT

    assert isinstance(GLOBAL_RUN_CONTEXT.runner.runq, collections.deque)
    assert not others_ready()
    assert trio.lowlevel.current_statistics().tasks_runnable == 0
    ready = trio.Event()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ready.wait)
        await trio.testing.wait_all_tasks_blocked()
        ready.set()
        assert others_ready()
        assert trio.lowlevel.current_statistics().tasks_runnable == 1


# ---------------------------------------------------------------- the option


@pytest.mark.parametrize(
    ("value", "error", "complaint"),
    [
        (True, TypeError, "busy_poll must be a number of seconds or None, got bool"),
        ("50us", TypeError, "got str"),
        (-1e-6, ValueError, "from 0 to 0.001 seconds"),
        (0.01, ValueError, "from 0 to 0.001 seconds"),
        (float("nan"), ValueError, "from 0 to 0.001 seconds"),
    ],
)
def test_busy_poll_option_is_checked(value: object, error: type[Exception], complaint: str) -> None:
    """A wrong busy_poll is refused at construction, saying what is allowed."""
    with pytest.raises(error, match=complaint):
        WebSocket("ws://127.0.0.1:9/", busy_poll=value)  # type: ignore[arg-type]


def writer_policy(ws: WebSocket) -> BusyPoll | None:
    """The policy of ``ws``'s writer (None: it never polls)."""
    policy: BusyPoll | None = ws._engine._sender._writer._busy  # type: ignore[attr-defined]
    return policy


async def silent_after_handshake(conn: RawConnection) -> None:
    await conn.accept_handshake()
    await conn.wait_eof()  # reads every frame, answers none


@pytest.mark.parametrize("busy_poll", [None, 0])
async def test_busy_poll_off_never_polls(
    raw_server: StartRawServer, busy_poll: float | None
) -> None:
    """busy_poll=None or 0: the connection has no policy at all."""
    server: RawServer = await raw_server(silent_after_handshake)
    async with WebSocket(server.url, busy_poll=busy_poll, close_timeout=0.5) as ws:
        assert writer_policy(ws) is None
        ws.close()


async def test_a_silent_peer_costs_a_poll_per_many_writes(raw_server: StartRawServer) -> None:
    """200 writes to a peer that never answers: the polls back off to one per 64 writes."""
    server: RawServer = await raw_server(silent_after_handshake)
    async with WebSocket(server.url, close_timeout=0.5) as ws:
        policy = writer_policy(ws)
        assert policy is not None
        assert policy.budget == DEFAULT_BUDGET
        for i in range(200):
            with trio.fail_after(5):
                await ws.send_wait(f"message {i}")  # written before the next: one write each
        # Polls only after writes 1, 3, 6, 11, 20, 37, 70, 135 and 200.
        assert 1 <= policy.polls <= 9
        assert policy.hits == 0
        ws.close()


@pytest.mark.parametrize(("busy_poll", "budget"), [(None, 0.0), (0, 0.0), (1e-4, 1e-4)])
def test_busy_poll_reaches_the_handshake(busy_poll: float | None, budget: float) -> None:
    """The same budget polls for the 101 after the upgrade request (connect.py)."""
    options = Options.build(
        "ws://127.0.0.1:9/",
        connect_timeout=None,
        close_timeout=None,
        ping_interval=None,
        ping_timeout=None,
        max_message_size=None,
        max_fragment_size=None,
        max_buffered_amount=1000,
        compression=None,
        logger=None,
        busy_poll=busy_poll,
    )
    assert options.busy_poll == budget
    assert options.connect.busy_poll == budget
    assert WebSocket("ws://127.0.0.1:9/")._engine._connect_options.busy_poll == DEFAULT_BUDGET  # type: ignore[attr-defined]


async def test_the_101_is_polled_for_longer_than_an_echo(
    websockets_server: StartWebSocketsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the upgrade request the poll lasts HANDSHAKE_FACTOR budgets (a handshake takes a
    server longer than an echo); the open connection's polls last one budget."""
    budgets: list[float] = []
    real_poll = busypoll_driver.poll_readable

    def recording_poll(fd: int, budget: float) -> bool:
        budgets.append(budget)
        return real_poll(fd, budget)

    monkeypatch.setattr(busypoll_driver, "poll_readable", recording_poll)
    url = await websockets_server()
    async with WebSocket(url, busy_poll=1e-4, close_timeout=2) as ws:
        assert budgets == [pytest.approx(1e-4 * HANDSHAKE_FACTOR)]
        policy = writer_policy(ws)
        assert policy is not None
        assert policy.budget == pytest.approx(1e-4)
        ws.close()
