"""ReconnectingWebSocket against the scripted server: drops, refusals, waits, and the queue."""

from __future__ import annotations

import datetime
import inspect
import logging
import random
import tracemalloc
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import trio
import trio.lowlevel
import trio.testing
from peers.tls_server import TLSServer
from recorder import Recorder, error_from_thread, in_own_run

from trio_ws_events import (
    Backoff,
    ConnectError,
    ConnectTimeout,
    Decision,
    Ending,
    HandlerError,
    HandshakeRejected,
    HandshakeRequest,
    InvalidStateError,
    KeepaliveTimeout,
    ReconnectingWebSocket,
    SendBufferFull,
    State,
    WebSocket,
)
from trio_ws_events._reconnecting import WebSocketOptions
from trio_ws_events._sansio.frames import OP_CLOSE, OP_TEXT, encode_close, encode_frame
from trio_ws_events.testing import (
    ClientClosed,
    ScriptedConnection,
    ScriptedServer,
    open_scripted_server,
)

#: No jitter and short waits: the delays are exact, and virtual time makes them free.
STEADY = Backoff(initial=1, factor=2, max=8, jitter=0)
#: A 60 s wait between attempts: long enough that a test ends during it.
SLOW = Backoff(initial=60, max=60, jitter=0)
RETRY_CODES = [1001, 1011, 1012, 1013, 1014]
STOP_CODES = [1000, 1002, 1003, 1007, 1008, 1009, 1010, 3000, 4000, 4999]


def text_frame(text: str) -> bytes:
    """One unmasked server text frame."""
    return encode_frame(OP_TEXT, text.encode())


def close_frame(code: int, reason: str = "") -> bytes:
    """One unmasked server close frame."""
    return encode_frame(OP_CLOSE, encode_close(code, reason))


#: What ``reconnecting()`` yields: the server, the client, its recorder, the client's nursery.
Running = tuple[ScriptedServer, ReconnectingWebSocket, Recorder, trio.Nursery]


@asynccontextmanager
async def reconnecting(*, down: bool = False, **options: Any) -> AsyncIterator[Running]:
    """A scripted server and a recorded ReconnectingWebSocket opened on it in its own nursery.

    The backoff is ``STEADY`` unless ``options`` name one; ``down=True`` starts with the server
    refusing connections. Handlers the block adds before its first checkpoint are in place for
    the first attempt, as ``open()`` only schedules it. Leaving the block waits for the client's
    terminal event, then stops the server.
    """
    async with open_scripted_server() as server:
        if down:
            await server.go_down()
        rws = ReconnectingWebSocket(server.url, **{"backoff": STEADY, **options})
        rec = Recorder(rws)
        async with trio.open_nursery() as nursery:
            rws.open(nursery)
            yield server, rws, rec, nursery


async def receive_n(conn: ScriptedConnection, n: int) -> list[str | bytes]:
    return [await conn.receive() for _ in range(n)]


async def until(predicate: Callable[[], bool], limit: float = 5) -> None:
    """Poll ``predicate`` until it holds, failing after ``limit`` seconds."""
    with trio.fail_after(limit):
        while not predicate():
            await trio.sleep(0.01)


def reconnects(recorder: Recorder) -> list[tuple[Any, ...]]:
    return [event for event in recorder.events if event[0] == "reconnecting"]


async def test_reconnecting_handlers_serve_every_connection(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Handlers registered once fire on each connection; one terminal event at the very end."""
    currents: list[WebSocket | None] = []
    async with reconnecting() as (server, rws, rec, _):
        rws.on_open += lambda rws: currents.append(rws.current)
        first = await server.accept()
        await first.send("one")
        await first.drop(reset=True)
        second = await server.accept()
        await second.send("two")
        await until(lambda: rec.messages == ["one", "two"])
        rws.close(1000, "done")
    assert rec.names == ["open", "message", "reconnecting", "open", "message", "closed"]
    assert rec.events[-1] == ("closed", 1000, "done")
    assert currents[0] is not currents[1]
    assert all(isinstance(c, WebSocket) for c in currents)
    _, attempt, delay, why = reconnects(rec)[0]
    assert (attempt, delay, why.code, why.opened) == (1, 1.0, 1006, True)
    assert rws.state is State.CLOSED
    assert rws.connections == 2


@pytest.mark.parametrize(
    "drop", ["reset", "fin", *[f"close-{code}" for code in RETRY_CODES]], ids=str
)
async def test_reconnecting_retries_after_drop(
    drop: str, autojump_clock: trio.testing.MockClock
) -> None:
    """RST, FIN without a close frame and each retryable close code lead to a new attempt."""
    async with reconnecting() as (server, rws, rec, _):
        conn = await server.accept()
        if drop == "reset":
            await conn.drop(reset=True)
        elif drop == "fin":
            await conn.drop()
        else:
            await conn.close(int(drop.removeprefix("close-")), "bye")
        await server.accept()
        await until(lambda: rws.is_open)
        rws.close()
    why: Ending = reconnects(rec)[0][3]
    expected = int(drop.removeprefix("close-")) if drop.startswith("close") else 1006
    assert why.code == expected
    assert (why.error is None) == drop.startswith("close")
    assert rec.names == ["open", "reconnecting", "open", "closed"]


@pytest.mark.parametrize("code", STOP_CODES)
async def test_reconnecting_stops_on_final_close_code(
    code: int, autojump_clock: trio.testing.MockClock
) -> None:
    """A server close with a final code ends everything: that close is the terminal event."""
    async with reconnecting() as (server, rws, rec, _):
        conn = await server.accept()
        await conn.close(code, "final")
    assert rec.events == [("open",), ("closed", code, "final")]
    assert (rws.close_code, rws.close_reason) == (code, "final")


async def test_reconnecting_honours_retry_after_seconds(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """503 with Retry-After: 2 waits 2 s (not the backoff's 1 s), then connects."""
    async with reconnecting() as (server, rws, rec, _):
        await server.reject(503, retry_after=2)
        refused_at = trio.current_time()
        await server.accept()
        waited = trio.current_time() - refused_at
        rws.close()
    _, attempt, delay, why = reconnects(rec)[0]
    assert (attempt, delay, why.status, why.retry_after) == (1, 2.0, 503, "2")
    assert isinstance(why.error, HandshakeRejected)
    assert 2.0 <= waited < 2.5


async def test_reconnecting_honours_retry_after_date(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """429 with an HTTP date waits until that date (seconds resolution), capped by max."""
    async with reconnecting(backoff=Backoff(initial=0.1, max=5, jitter=0)) as (server, rws, rec, _):
        now = datetime.datetime.now(datetime.UTC)
        await server.reject(429, retry_after=now + datetime.timedelta(seconds=4))
        await server.reject(429, retry_after=now + datetime.timedelta(hours=1))
        await server.accept()
        await until(lambda: rws.is_open)
        rws.close()
    delays = [event[2] for event in reconnects(rec)]
    assert 2.0 <= delays[0] <= 4.0  # the date has whole seconds; some time has passed
    assert delays[1] == 5.0  # an hour away, capped by max
    assert rec.names[-2:] == ["open", "closed"]


async def test_reconnecting_stops_on_403(autojump_clock: trio.testing.MockClock) -> None:
    """403 is final: on_error(HandshakeRejected), no wait, no second attempt."""
    async with reconnecting() as (server, _, rec, _):
        await server.reject(403, b"go away")
    assert rec.names == ["error"]
    assert isinstance(rec.error, HandshakeRejected)
    assert rec.error.status == 403
    assert rec.error.body == b"go away"


async def test_reconnecting_until_the_server_comes_back(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Refused connections are retried with growing delays until the server listens again."""
    async with reconnecting(down=True) as (server, rws, rec, _):
        await until(lambda: len(reconnects(rec)) >= 4, limit=60)
        await server.come_back()
        await server.accept()
        await until(lambda: rws.is_open)
        rws.close()
    delays = [event[2] for event in reconnects(rec)]
    assert delays[:4] == [1, 2, 4, 8]
    assert all(isinstance(event[3].error, ConnectError) for event in reconnects(rec))
    assert rec.names[-2:] == ["open", "closed"]


async def test_reconnecting_stops_on_tls_certificate_failure(tls_server: TLSServer) -> None:
    """An untrusted certificate is final: on_error at once, no second attempt."""
    rws = ReconnectingWebSocket(tls_server.url, backoff=STEADY)
    rec = Recorder(rws)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            rws.open(nursery)
    assert rec.names == ["error"]
    assert "TLS certificate verification failed" in str(rec.error)


async def test_reconnecting_passes_tls_options(tls_server: TLSServer) -> None:
    """ssl_context reaches each attempt: a trusted wss:// connection opens and echoes."""
    rws = ReconnectingWebSocket(tls_server.url, ssl_context=tls_server.client_context())
    with trio.fail_after(10):
        async with rws:
            got = trio.Event()
            rws.on_message += lambda rws, message: got.set()
            rws.send("over tls")
            await got.wait()
    assert rws.close_code == 1000


async def test_reconnecting_retries_keepalive_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A server that stops answering pings: KeepaliveTimeout, then a new attempt."""
    async with reconnecting(ping_interval=1, ping_timeout=1) as (server, rws, rec, _):
        await server.accept(answer_pings=False, answer_close=False)
        await server.accept()
        await until(lambda: rws.is_open)
        rws.close()
    why = reconnects(rec)[0][3]
    assert isinstance(why.error, KeepaliveTimeout)
    assert rec.names == ["open", "reconnecting", "open", "closed"]


async def test_reconnecting_retries_connect_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """An unanswered handshake times out (connect_timeout) and is tried again."""
    async with reconnecting(connect_timeout=2) as (server, rws, rec, _):
        await until(lambda: bool(reconnects(rec)), limit=10)
        await server.accept()  # the first client, which gave up already
        await server.accept()
        await until(lambda: rws.is_open)
        rws.close()
    assert isinstance(reconnects(rec)[0][3].error, ConnectTimeout)
    assert rec.names[-2:] == ["open", "closed"]


async def test_reconnecting_send_wait_waits_for_the_next_connection(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """send_wait() with a full queue waits until a connection opens and takes it."""
    async with reconnecting(down=True, max_buffered_amount=10) as (server, rws, _, nursery):
        done = trio.Event()

        async def produce() -> None:
            rws.send(b"12345678")
            await rws.send_wait("abcd")  # 12 bytes would pass 10: it waits
            done.set()

        nursery.start_soon(produce)
        await trio.sleep(5)
        assert not done.is_set()
        await server.come_back()
        conn = await server.accept()
        assert await receive_n(conn, 2) == [b"12345678", "abcd"]
        await done.wait()
        await rws.drain()
        rws.close()


async def test_reconnecting_gives_up_after_max_attempts(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """max_attempts=2: the first attempt and two more, then on_error with the last failure."""
    async with reconnecting(down=True, max_attempts=2) as (_, _, rec, _):
        pass  # no attempt connects: the block ends when the client gives up
    assert [event[1] for event in reconnects(rec)] == [1, 2]
    assert rec.names == ["reconnecting", "reconnecting", "error"]
    assert isinstance(rec.error, ConnectError)
    assert "refused" in str(rec.error).lower()


async def test_reconnecting_policy_override(autojump_clock: trio.testing.MockClock) -> None:
    """A policy callable sees each ending and its answer is followed."""
    seen: list[int] = []

    def retry_4000(ending: Ending) -> Decision:
        seen.append(ending.code)
        return Decision.RETRY if ending.code == 4000 else Decision.STOP

    async with reconnecting(policy=retry_4000) as (server, _, rec, _):
        await (await server.accept()).close(4000)
        await (await server.accept()).close(1012)
    assert seen == [4000, 1012]
    assert rec.names == ["open", "reconnecting", "open", "closed"]


async def test_reconnecting_send_queues_between_connections_in_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """What is sent while disconnected goes out first on the next connection, in order."""
    async with reconnecting() as (server, rws, _, _):
        sent_in_wait: list[str] = []

        def during_wait(
            rws: ReconnectingWebSocket, attempt: int, delay: float, why: Ending
        ) -> None:
            assert rws.current is None
            assert rws.state is State.CONNECTING
            for text in ("q1", "q2", "q3"):
                rws.send(text)
                sent_in_wait.append(text)
            assert rws.buffered_amount == 6

        rws.on_reconnecting += during_wait
        rws.on_open += lambda rws: rws.send("from on_open")
        rws.send("while connecting")  # the first attempt has not opened yet
        first = await server.accept()
        assert await first.receive() == "while connecting"
        assert await first.receive() == "from on_open"
        await first.drop()
        second = await server.accept()
        assert await receive_n(second, 4) == ["q1", "q2", "q3", "from on_open"]
        rws.close()
    assert rws.unsent == ()


def note_unsent_then_send(
    found: list[tuple[str | bytes, ...]], text: str
) -> Callable[[ReconnectingWebSocket, int, float, Ending], None]:
    """An on_reconnecting handler: keeps why.unsent, then sends ``text`` (it will wait)."""

    def handler(rws: ReconnectingWebSocket, attempt: int, delay: float, why: Ending) -> None:
        found.append(why.unsent)
        rws.send(text)

    return handler


async def test_reconnecting_resends_unsent_first(autojump_clock: trio.testing.MockClock) -> None:
    """With resend_unsent, what the dropped connection never wrote goes first, in order."""
    async with reconnecting() as (server, rws, _, _):
        why_unsent: list[tuple[str | bytes, ...]] = []
        rws.on_reconnecting += note_unsent_then_send(why_unsent, "new")

        @rws.on_message
        def answer(rws: ReconnectingWebSocket, message: str) -> None:
            # The server's close frame is in the same read: these are never written.
            rws.send("u1")
            rws.send("u2")

        first = await server.accept()
        await first.send_raw(text_frame("go") + close_frame(1012, "restart"))
        second = await server.accept()
        assert await receive_n(second, 3) == ["u1", "u2", "new"]
        rws.close()
    assert why_unsent == [("u1", "u2")]


async def test_reconnecting_without_resend_reports_unsent(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """resend_unsent=False: the dropped connection's unsent is only in why.unsent."""
    async with reconnecting(resend_unsent=False) as (server, rws, _, _):
        why_unsent: list[tuple[str | bytes, ...]] = []
        rws.on_reconnecting += note_unsent_then_send(why_unsent, "new")
        rws.on_message += lambda rws, m: rws.send("lost")
        first = await server.accept()
        await first.send_raw(text_frame("go") + close_frame(1012))
        second = await server.accept()
        assert await second.receive() == "new"
        rws.close()
    assert why_unsent == [("lost",)]


async def test_reconnecting_send_buffer_bounded_while_disconnected(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Between connections, max_buffered_amount bounds the queue: SendBufferFull past it."""
    async with reconnecting(down=True, max_buffered_amount=10) as (_, rws, _, _):
        rws.send(b"12345678")
        with pytest.raises(SendBufferFull, match="max_buffered_amount=10"):
            rws.send("abc")
        rws.send("ab")
        assert rws.buffered_amount == 10
        rws.close()
    assert rws.unsent == (b"12345678", "ab")
    assert isinstance(rws.close_code, int)


async def test_reconnecting_queue_memory_bounded_while_disconnected(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A producer that ignores SendBufferFull while the server is down holds at most about
    max_buffered_amount in memory (tracemalloc), not what it tried to send."""
    limit = 256 * 1024
    async with reconnecting(down=True, max_buffered_amount=limit) as (_, rws, _, _):
        refused = 0
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for _ in range(2048):  # 8 MiB offered, 32 times the limit
                try:
                    rws.send(bytes(4096))
                except SendBufferFull:
                    refused += 1
            held = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        assert rws.buffered_amount == limit
        assert refused == 2048 - limit // 4096
        assert held < 1.5 * limit, f"{held} bytes held for a {limit}-byte limit"
        rws.close()


async def test_reconnecting_close_during_wait_ends_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """close() during a 60 s wait ends at once: one on_error, what waited is in unsent."""
    async with reconnecting(backoff=SLOW) as (server, rws, rec, _):
        await (await server.accept()).drop()
        await until(lambda: bool(reconnects(rec)))
        rws.send("pending")
        started = trio.current_time()
        rws.close()
        await rws.wait_closed()
        assert trio.current_time() - started < 1
    assert rec.names == ["open", "reconnecting", "error"]
    assert isinstance(rec.error, ConnectError)
    assert "closed while waiting to reconnect" in str(rec.error)
    assert rws.unsent == ("pending",)
    assert rec.error.unsent == ("pending",)


async def test_reconnecting_cancelled_during_wait(autojump_clock: trio.testing.MockClock) -> None:
    """Cancelling the nursery during a wait fires one on_error and leaves nothing running."""
    async with reconnecting(backoff=SLOW) as (
        server,
        rws,
        rec,
        nursery,
    ):
        await (await server.accept()).drop()
        await until(lambda: bool(reconnects(rec)))
        nursery.cancel_scope.cancel()
    assert rec.names == ["open", "reconnecting", "error"]
    assert "cancelled while waiting to reconnect" in str(rec.error)
    assert rws.state is State.CLOSED
    assert rws.current is None


async def test_reconnecting_close_during_attempt(autojump_clock: trio.testing.MockClock) -> None:
    """close() while the handshake is unanswered abandons it: one on_error, no retry."""
    async with reconnecting() as (_, rws, rec, _):
        await trio.sleep(1)  # the server never accepts
        assert rws.current is not None
        assert rws.current.state is State.CONNECTING
        rws.close()
    assert rec.names == ["error"]
    assert "abandoned" in str(rec.error)


async def test_reconnecting_cancelled_during_attempt(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Cancellation during an unanswered handshake: one on_error, the socket closed."""
    async with reconnecting() as (_, rws, rec, nursery):
        await trio.sleep(1)
        nursery.cancel_scope.cancel()
    assert rec.names == ["error"]
    assert isinstance(rec.error, ConnectError)
    assert rws.current is not None
    assert rws.current.state is State.CLOSED


async def test_reconnecting_cancelled_while_open(autojump_clock: trio.testing.MockClock) -> None:
    """Cancellation while open: the 1001 close handshake, then one on_closed, no retry."""
    async with reconnecting() as (server, _, rec, nursery):
        conn = await server.accept()
        nursery.cancel_scope.cancel()
    assert rec.events == [("open",), ("closed", 1001, "")]
    assert conn.client_close == (1001, "")


async def test_reconnecting_close_before_open_does_no_io() -> None:
    """close() before open(): open() then ends at once with on_error, without connecting."""
    async with open_scripted_server() as server:
        rws = ReconnectingWebSocket(server.url)
        rec = Recorder(rws)
        rws.close()
        async with trio.open_nursery() as nursery:
            rws.open(nursery)
        assert rec.names == ["error"]
        assert "before open()" in str(rec.error)
        assert rws.current is None


async def test_reconnecting_handler_error_is_final_and_propagates() -> None:
    """A raising handler: on_error(HandlerError) once, no retry, the exception propagates."""
    with pytest.RaisesGroup(KeyError):
        async with reconnecting() as (server, rws, rec, _):

            @rws.on_message
            def boom(rws: ReconnectingWebSocket, message: str) -> None:
                raise KeyError(message)

            conn = await server.accept()
            await conn.send("x")
            assert (await conn.wait_closed())[0] == 1011
    assert rec.names == ["open", "message", "error"]
    assert isinstance(rec.error, HandlerError)
    assert isinstance(rec.error.__cause__, KeyError)


async def test_reconnecting_async_handlers_awaited_in_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Async handlers are awaited, one after the other, on every connection."""
    async with reconnecting() as (server, rws, _, _):
        seen: list[str] = []

        async def slow(rws: ReconnectingWebSocket, message: str) -> None:
            seen.append(f"start {message}")
            await trio.sleep(1)
            seen.append(f"end {message}")

        rws.on_message += slow
        rws.on_message += lambda rws, message: seen.append(f"then {message}")
        first = await server.accept()
        await first.send("a")
        await first.send("b")
        await until(lambda: len(seen) == 6)
        await first.drop()
        second = await server.accept()
        await second.send("c")
        await until(lambda: len(seen) == 9)
        rws.close()
    assert seen == [
        *("start a", "end a", "then a", "start b", "end b", "then b"),
        *("start c", "end c", "then c"),
    ]


async def test_reconnecting_handler_raising_in_on_reconnecting() -> None:
    """on_reconnecting raising: on_error(HandlerError) once, no new attempt, it propagates."""
    with pytest.RaisesGroup(RuntimeError):
        async with reconnecting() as (server, rws, rec, _):

            @rws.on_reconnecting
            def boom(rws: ReconnectingWebSocket, attempt: int, delay: float, why: Ending) -> None:
                raise RuntimeError("no")

            await (await server.accept()).drop()
    assert rec.names == ["open", "reconnecting", "error"]
    assert isinstance(rec.error, HandlerError)
    assert isinstance(rec.error.__cause__, RuntimeError)
    assert rws.connections == 1


async def test_reconnecting_close_from_on_reconnecting(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """close() inside on_reconnecting: no wait, no new attempt, one on_error."""
    async with reconnecting(backoff=SLOW) as (server, rws, rec, _):
        rws.on_reconnecting += lambda rws, attempt, delay, why: rws.close()
        await (await server.accept()).close(1012)
        started = trio.current_time()
        await rws.wait_closed()
        assert trio.current_time() - started < 1
    assert rec.names == ["open", "reconnecting", "error"]
    assert "closed while waiting to reconnect" in str(rec.error)


async def test_reconnecting_streams_pieces_across_connections() -> None:
    """on_incomplete_frame serves every connection, like the other message events."""
    async with reconnecting(backoff=Backoff(initial=0, max=1)) as (server, rws, _, _):
        pieces: list[tuple[str | bytes, bool]] = []
        rws.on_incomplete_frame += lambda rws, frame: pieces.append((frame.data, frame.final))
        first = await server.accept()
        await first.send_fragmented(["a", "b"])
        await first.drop()
        second = await server.accept()
        await second.send_fragmented([b"c", b"d"])
        await second.send("whole")  # one frame: on_message, which has no handler
        await trio.sleep(0.2)
        rws.close()
    assert pieces == [("a", False), ("b", True), (b"c", False), (b"d", True)]


async def test_reconnecting_passes_websocket_options_to_every_attempt(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Each attempt is built with the same options: protocols and headers reach the server."""
    async with reconnecting(protocols=["chat"], headers={"X-Token": "t"}) as (server, rws, _, _):
        first = await server.accept("chat")
        await first.drop()
        second = await server.accept("chat")
        await until(lambda: rws.connections == 2)
        rws.close()
    for conn in (first, second):
        assert conn.request.subprotocols == ["chat"]
        assert conn.request.header("x-token") == "t"


async def test_reconnecting_handshake_hook_runs_for_each_attempt(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """handshake_hook sees every attempt's request: a fresh token each time."""
    calls = 0

    def fresh_token(request: HandshakeRequest) -> None:
        nonlocal calls
        calls += 1
        request.set_header("Authorization", f"Bearer token-{calls}")

    async with reconnecting(handshake_hook=fresh_token) as (server, rws, _, _):
        await server.reject(503, retry_after=1)
        first = await server.accept()
        await first.close(1012)
        second = await server.accept()
        await until(lambda: rws.connections == 2)
        rws.close()
    assert first.request.header("authorization") == "Bearer token-2"
    assert second.request.header("authorization") == "Bearer token-3"


async def test_reconnecting_logs_to_the_given_logger_without_query(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """logger= receives the reconnect records too; the query string is never logged."""
    app_logger = logging.getLogger("test_app.ws")
    async with open_scripted_server() as server:
        url = server.url + "?token=s3cret"
        rws = ReconnectingWebSocket(url, backoff=STEADY, logger=app_logger)
        assert "s3cret" not in repr(rws)
        with caplog.at_level(logging.INFO, logger="test_app.ws"):
            async with trio.open_nursery() as nursery:
                rws.open(nursery)
                await (await server.accept()).drop()
                await server.accept()
                await until(lambda: rws.connections == 2)
                rws.close()
    reconnecting = [r for r in caplog.records if "reconnecting to" in r.getMessage()]
    assert [r.name for r in reconnecting] == ["test_app.ws"]
    assert "attempt 1 in 1.000s after ConnectionLost" in reconnecting[0].getMessage()
    assert all("s3cret" not in r.getMessage() for r in caplog.records)


async def test_reconnecting_async_with_waits_for_a_connection(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """async with waits through refusals until open; leaving closes with 1000."""
    async with open_scripted_server() as server:

        async def serve() -> None:
            await server.reject(503, retry_after=1)
            conn = await server.accept()
            assert await conn.receive() == "hi"
            await conn.wait_closed()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve)
            async with ReconnectingWebSocket(server.url, backoff=STEADY) as rws:
                assert rws.is_open
                assert rws.connections == 1
                rws.send("hi")
        assert (rws.close_code, rws.state) == (1000, State.CLOSED)


async def test_reconnecting_async_with_raises_when_it_gives_up() -> None:
    """async with raises the final error when no connection could open."""
    async with open_scripted_server() as server:

        async def refuse() -> None:
            await server.reject(403)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(refuse)
            with pytest.raises(HandshakeRejected):
                async with ReconnectingWebSocket(server.url):
                    pytest.fail("never opened")


async def test_reconnecting_misuse_is_refused() -> None:
    """send() before open(), a second open(), bad close arguments: clear errors, no change."""
    async with open_scripted_server() as server:
        rws = ReconnectingWebSocket(server.url)
        with pytest.raises(InvalidStateError, match="not open yet"):
            rws.send("x")
        with pytest.raises(ValueError, match="close code 1005 may not be sent"):
            rws.close(1005)
        with pytest.raises(TypeError, match="send\\(\\) takes str"):
            rws.send(1)  # type: ignore[arg-type]
        async with trio.open_nursery() as nursery:
            rws.open(nursery)
            with pytest.raises(InvalidStateError, match="cannot be reused"):
                rws.open(nursery)
            with pytest.raises(ValueError, match="lone surrogate"):
                rws.send("\ud800")
            rws.close()
        with pytest.raises(InvalidStateError, match="is CLOSED"):
            rws.send("late")


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"max_attempts": -1}, ValueError, "max_attempts must be 0 or more, or None, got -1"),
        ({"max_attempts": 1.5}, TypeError, "max_attempts must be an int or None, got float"),
        ({"backoff": 3}, TypeError, "backoff must be a Backoff or None, got int"),
        ({"policy": "retry"}, TypeError, "policy must be a callable or None, got str"),
        ({"compression": "zip"}, ValueError, "compression must be 'deflate'"),
        ({"max_buffered_amount": 0}, ValueError, "max_buffered_amount must be a positive"),
    ],
)
def test_reconnecting_constructor_checks_arguments(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    """Its own arguments and every WebSocket option are checked at construction."""
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        ReconnectingWebSocket("ws://127.0.0.1:1/", **kwargs)


def test_reconnecting_websocket_options_match_websocket() -> None:
    """WebSocketOptions names exactly WebSocket's keyword arguments, so none is left out."""
    parameters = inspect.signature(WebSocket).parameters.values()
    keywords = {p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert set(WebSocketOptions.__annotations__) == keywords


async def test_scripted_server_reject_formats_retry_after() -> None:
    """reject(retry_after=...) sends whole seconds or an HTTP date; bad values are refused."""
    async with open_scripted_server() as server:
        errors: list[HandshakeRejected] = []
        when = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
        for value in (1.2, when):
            ws = WebSocket(server.url)
            ws.on_error += lambda ws, e: errors.append(e)  # type: ignore[arg-type]
            async with trio.open_nursery() as nursery:
                ws.open(nursery)
                await server.reject(503, retry_after=value)
        assert [dict(e.headers)["retry-after"] for e in errors] == [
            "2",
            "Wed, 02 Jan 2030 03:04:05 GMT",
        ]
        with pytest.raises(ValueError, match="aware datetime"):
            await server.reject(503, retry_after=datetime.datetime(2030, 1, 1))


# ---------------------------------------------------------------------------- 100 drops

DROPS = 100
MESSAGES = 10_000


async def _flaky_server(
    server: ScriptedServer, rng: random.Random, log: list[tuple[str, list[int]]]
) -> None:
    """Accept, read a random number of messages, drop in a random way; 100 times, then serve."""
    drops = 0
    while True:
        conn = await server.accept()
        got: list[int] = []
        quota = rng.randint(1, 40) if drops < DROPS else None
        try:
            while quota is None or len(got) < quota:
                got.append(int(await conn.receive()))
        except ClientClosed:
            log.append(("client", got))
            return
        drops += 1
        kind = rng.choice(["reset", "fin", "close"])
        if kind == "close":
            await conn.close(rng.choice(RETRY_CODES))
        else:
            await conn.drop(reset=kind == "reset")
        # Whatever the reader took in before the end is received too.
        while True:
            try:
                got.append(int(await conn.receive()))
            except ClientClosed:
                break
        log.append((kind, got))


@dataclass
class _Tally:
    """What the server's log of the 100-drop run shows, checked message by message."""

    received: set[int] = field(default_factory=set)
    lost: set[int] = field(default_factory=set)
    duplicates: int = 0
    expected_next: int = 0


def _tally(log: list[tuple[str, list[int]]]) -> _Tally:
    """Walk the server's log in order; a gap or a duplicate may only follow an abrupt drop,
    and a gap only at the start of a connection (what was in flight was lost)."""
    tally = _Tally()
    for index, (_, got) in enumerate(log):
        abrupt_before = index > 0 and log[index - 1][0] in ("reset", "fin")
        for position, number in enumerate(got):
            if number in tally.received:
                assert abrupt_before, f"{number} received twice after a clean drop"
                assert number < tally.expected_next
                tally.duplicates += 1
                continue
            if number != tally.expected_next:
                assert abrupt_before, f"gap before {number} after a clean drop"
                assert position == 0, f"gap before {number} mid-connection"
                assert number > tally.expected_next
                tally.lost.update(range(tally.expected_next, number))
            tally.received.add(number)
            tally.expected_next = number + 1
    return tally


async def _send_numbered(rws: ReconnectingWebSocket) -> None:
    """Send 0 to MESSAGES - 1 as a stream, waiting while the buffer is full; then wait until
    a connection is open with nothing buffered, and close."""
    for number in range(MESSAGES):
        while True:
            try:
                rws.send(str(number))
                break
            except SendBufferFull:
                await trio.sleep(0.001)
        if number % 2 == 0:  # a stream, not one burst: let the server run
            await trio.lowlevel.checkpoint()
    while not (rws.is_open and rws.buffered_amount == 0):
        await trio.sleep(0.005)
    rws.close()


async def test_reconnecting_100_random_drops_lose_nothing_unreported() -> None:
    """10,000 numbered messages over 100 random drops: each is received or unsent, in order.

    Loss and duplicates are allowed only at abrupt drops (RST or FIN): what was written just
    before may be lost in flight, and a batch cut by a failed write is listed in unsent (and
    resent) although part of it may have arrived. A drop with a close frame loses nothing.
    """
    rng = random.Random(14)
    log: list[tuple[str, list[int]]] = []
    # What each dropped connection reported as never written: resend_unsent sends it
    # again, so none of it may be among the losses (only what was written may be).
    reported_unsent: set[int] = set()

    def note_unsent(rws: ReconnectingWebSocket, n: int, d: float, why: Ending) -> None:
        reported_unsent.update(int(message) for message in why.unsent)

    started = trio.current_time()
    options: dict[str, Any] = {
        "backoff": Backoff(initial=0, max=0.001),
        "max_buffered_amount": 256,  # a few dozen messages queue during a reconnect
        "rng": random.Random(1),
    }
    with trio.fail_after(60):
        async with reconnecting(**options) as (server, rws, _, nursery):
            rws.on_reconnecting += note_unsent
            nursery.start_soon(_flaky_server, server, rng, log)
            await _send_numbered(rws)
    elapsed = trio.current_time() - started
    assert sum(kind != "client" for kind, _ in log) == DROPS
    tally = _tally(log)
    assert not tally.lost & reported_unsent, "a message reported unsent was never resent"
    unsent = [int(m) for m in rws.unsent]
    assert unsent == list(range(tally.expected_next, tally.expected_next + len(unsent)))
    assert tally.expected_next + len(unsent) == MESSAGES
    abrupt = sum(kind in ("reset", "fin") for kind, _ in log)
    print(
        f"\n100-drop: {DROPS} drops ({abrupt} abrupt), {rws.connections - 1} reconnects, "
        f"{len(tally.received)} received, {len(tally.lost)} lost in flight, "
        f"{tally.duplicates} duplicates, {len(unsent)} unsent, {elapsed:.2f}s"
    )
    assert rws.connections == DROPS + 1


async def test_reconnecting_open_on_a_closed_nursery_raises_and_stays_usable() -> None:
    """open() on a nursery closed to new arrivals raises before changing state; the instance
    stays INITIAL and opens (and ends with one terminal event) in another nursery."""
    async with open_scripted_server() as server:
        rws = ReconnectingWebSocket(server.url, backoff=STEADY)
        async with trio.open_nursery() as closed:
            pass
        with pytest.raises(RuntimeError, match="while the nursery's async with block"):
            rws.open(closed)
        assert rws.state is State.INITIAL
        rec = Recorder(rws)
        with trio.fail_after(5):
            async with trio.open_nursery() as nursery:
                rws.open(nursery)
                await server.accept()
                await until(lambda: rws.is_open)
                rws.close()
        assert rec.names == ["open", "closed"]


@pytest.mark.parametrize("name", ["send", "close", "drain", "send_wait", "wait_closed"])
async def test_reconnecting_calls_from_another_thread_are_refused(name: str) -> None:
    """A call from outside the Trio thread raises RuntimeError and queues or changes nothing."""
    with trio.fail_after(5):
        async with reconnecting() as (server, rws, _, _):
            calls: dict[str, Callable[[], object]] = {
                "send": lambda: rws.send("from a thread"),
                "close": lambda: rws.close(),
                "drain": in_own_run(rws.drain),
                "send_wait": in_own_run(rws.send_wait, "from a thread"),
                "wait_closed": in_own_run(rws.wait_closed),
            }
            conn = await server.accept()
            await until(lambda: rws.is_open)
            error = await error_from_thread(calls[name])
            assert isinstance(error, RuntimeError), error
            assert str(error).startswith(f"{name}(")
            assert "trio.from_thread" in str(error)
            assert rws.state is State.OPEN
            assert rws.buffered_amount == 0
            rws.send("still works")
            assert await conn.receive() == "still works"
            rws.close()
