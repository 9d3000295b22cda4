"""``async for message in ws``: order, endings, coexistence with handlers, bounds, misuse."""

from __future__ import annotations

import tracemalloc
from typing import Any

import pytest
import trio
from conftest import StartRawServer
from peers.raw_server import Opcode, RawConnection, build_frame, read_until_close
from recorder import Recorder

from trio_ws_events import (
    ConnectError,
    ConnectionLost,
    InvalidStateError,
    MessageIterator,
    State,
    WebSocket,
)

TIMEOUT = 10.0


async def test_async_for_yields_str_and_bytes_in_order(echo_url: str) -> None:
    """Against trio-websocket's echo server, the loop yields each echo, typed, in order."""
    sent: list[str | bytes] = ["one", b"two", "three", b"\x00four", "five"]
    received: list[str | bytes] = []
    with trio.fail_after(TIMEOUT):
        async with WebSocket(echo_url) as ws:
            for message in sent:
                ws.send(message)
            async for message in ws:
                received.append(message)
                if len(received) == len(sent):
                    ws.close(1000, "enough")
        # The loop ended by itself, after the close handshake.
        assert ws.state is State.CLOSED
    assert received == sent
    assert [type(m) for m in received] == [type(m) for m in sent]
    assert (ws.close_code, ws.close_reason) == (1000, "enough")


async def test_async_for_ends_after_on_closed(raw_server: StartRawServer) -> None:
    """The server's close ends the loop cleanly, after on_closed has run."""

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        await conn.send_text("a")
        await conn.send_binary(b"b")
        await conn.send_close(4000, "done")
        await read_until_close(conn)

    server = await raw_server(script)
    ws = WebSocket(server.url)
    recorder = Recorder(ws)
    seen: list[Any] = []
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            ws.open(nursery)
            async for message in ws:
                seen.append(message)
            seen.append(recorder.names[-1])  # what had fired when the loop ended
        await server.wait_finished()
    assert seen == ["a", b"b", "closed"]


async def test_async_for_raises_the_error_of_on_error(raw_server: StartRawServer) -> None:
    """A connection lost mid-way: the loop yields what came, then raises on_error's error."""

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        await conn.send_text("before the drop")
        await conn.drop()

    server = await raw_server(script)
    ws = WebSocket(server.url)
    recorder = Recorder(ws)
    seen: list[str | bytes] = []
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            ws.open(nursery)
            with pytest.raises(ConnectionLost) as raised:
                async for message in ws:
                    seen.append(message)
    assert seen == ["before the drop"]
    assert raised.value is recorder.error
    assert raised.value.code == 1006


async def test_async_for_while_connecting_raises_connect_error() -> None:
    """Started while CONNECTING, a failed attempt makes the loop raise its ConnectError."""
    ws = WebSocket("ws://127.0.0.1:1/", proxy=None)
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            ws.open(nursery)
            assert ws.state is State.CONNECTING
            with pytest.raises(ConnectError, match=r"cannot connect to ws://127\.0\.0\.1:1/"):
                async for _ in ws:
                    pytest.fail("no message can come from a refused connection")


async def test_async_for_before_open_is_refused() -> None:
    """Iterating before open() raises at once: nothing would ever arrive."""
    ws = WebSocket("ws://127.0.0.1:1/")
    with pytest.raises(InvalidStateError, match="open\\(\\) was not called"):
        aiter(ws)
    assert ws.state is State.INITIAL


async def test_async_for_after_the_end_ends_as_the_connection_did(echo_url: str) -> None:
    """On a CLOSED instance the loop ends at once, without a message."""
    ws = WebSocket(echo_url)
    ws.on_open += lambda ws: ws.close()
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            ws.open(nursery)
        assert [m async for m in ws] == []


async def test_async_for_and_handlers_both_see_every_message(echo_url: str) -> None:
    """Each message goes to on_message/on_binary first, then to the loop."""
    order: list[tuple[str, str | bytes]] = []
    ws = WebSocket(echo_url)
    ws.on_message += lambda ws, m: order.append(("handler", m))
    ws.on_binary += lambda ws, d: order.append(("handler", d))
    with trio.fail_after(TIMEOUT):
        async with ws:
            ws.send("x")
            ws.send(b"y")
            async for message in ws:
                order.append(("loop", message))
                if message == b"y":
                    break
    assert order == [("handler", "x"), ("loop", "x"), ("handler", b"y"), ("loop", b"y")]


async def test_async_for_misses_no_greeting_with_async_with(raw_server: StartRawServer) -> None:
    """A message written right behind the 101 answer still reaches `async for` in the body."""

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        await conn.send_text("welcome")  # before the client could send anything
        assert await conn.read_message() == "thanks"
        await conn.send_close(1000)
        await read_until_close(conn)

    server = await raw_server(script)
    with trio.fail_after(TIMEOUT):
        async with WebSocket(server.url) as ws:
            async for message in ws:
                assert message == "welcome"
                ws.send("thanks")
        await server.wait_finished()


async def test_second_async_for_is_refused_while_one_is_active(echo_url: str) -> None:
    """A second iterator while one is live raises; once the first loop ends, one may start."""
    with trio.fail_after(TIMEOUT):
        async with WebSocket(echo_url) as ws:
            ws.send("first")
            async for message in ws:
                with pytest.raises(InvalidStateError, match="another `async for`"):
                    aiter(ws)
                assert message == "first"
                break
            ws.send("second")
            async for message in ws:
                assert message == "second"
                break


async def test_iterator_refuses_two_waiting_tasks(echo_url: str) -> None:
    """Two tasks waiting on one iterator: the second is refused, the first unaffected."""
    with trio.fail_after(TIMEOUT):
        async with WebSocket(echo_url) as ws, trio.open_nursery() as nursery:
            messages = aiter(ws)
            got: list[str | bytes] = []

            async def first() -> None:
                got.append(await anext(messages))

            nursery.start_soon(first)
            await trio.testing.wait_all_tasks_blocked()
            with pytest.raises(InvalidStateError, match="another task is already waiting"):
                await anext(messages)
            ws.send("only one")
        assert got == ["only one"]


async def test_break_keeps_the_connection_open_for_handlers(echo_url: str) -> None:
    """After `break`, the connection stays OPEN and later messages go to the handlers."""
    handled: list[str] = []
    all_back = trio.Event()

    def on_message(ws: WebSocket, message: str) -> None:
        handled.append(message)
        if message == "3":
            all_back.set()

    ws = WebSocket(echo_url)
    ws.on_message += on_message
    with trio.fail_after(TIMEOUT):
        async with ws:
            ws.send("1")
            async for _ in ws:
                break
            assert ws.is_open
            ws.send("2")
            ws.send("3")
            await all_back.wait()  # the reader did not wait for the loop that is gone
    assert handled == ["1", "2", "3"]


async def test_aclose_stops_the_loop_and_reading_goes_on(echo_url: str) -> None:
    """aclose() ends the iterator (idempotent); the handlers keep receiving."""
    handled: list[str] = []
    back = trio.Event()
    ws = WebSocket(echo_url)

    @ws.on_message
    def on_message(ws: WebSocket, message: str) -> None:
        handled.append(message)
        if message == "after":
            back.set()

    with trio.fail_after(TIMEOUT):
        async with ws:
            messages = aiter(ws)
            assert isinstance(messages, MessageIterator)
            ws.send("before")
            assert await anext(messages) == "before"
            await messages.aclose()
            await messages.aclose()
            ws.send("after")
            await back.wait()
            with pytest.raises(StopAsyncIteration):
                await anext(messages)
    assert handled == ["before", "after"]


async def test_cancelled_anext_loses_no_message(raw_server: StartRawServer) -> None:
    """A cancelled wait for the next message leaves the connection OPEN and loses nothing."""
    release = trio.Event()

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        await release.wait()
        await conn.send_text("late")
        await conn.send_close(1000)
        await read_until_close(conn)

    server = await raw_server(script)
    with trio.fail_after(TIMEOUT):
        async with WebSocket(server.url) as ws:
            messages = aiter(ws)
            with trio.move_on_after(0.05) as scope:
                await anext(messages)
            assert scope.cancelled_caught
            assert ws.is_open
            release.set()
            assert [m async for m in messages] == ["late"]
        await server.wait_finished()


async def test_cancelling_the_nursery_ends_the_loop_and_closes(echo_url: str) -> None:
    """Cancelling the nursery while the loop waits: Cancelled, then CLOSED with a 1001 close."""
    ws = WebSocket(echo_url)
    recorder = Recorder(ws)
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            ws.open(nursery)

            async def cancel_soon() -> None:
                await trio.sleep(0.05)
                nursery.cancel_scope.cancel()

            nursery.start_soon(cancel_soon)
            async for _ in ws:
                pytest.fail("the echo server sends nothing unasked")
    assert ws.state is State.CLOSED
    assert recorder.names[-1] == "closed"
    assert ws.close_code == 1001


#: The slow-consumer test: messages of this size, this many (16 MiB in all).
SLOW_SIZE, SLOW_COUNT = 64 * 1024, 256


async def test_slow_loop_slows_the_server_in_bounded_memory(raw_server: StartRawServer) -> None:
    """A loop that does not take messages stops reading: the server's writes block."""
    frame = build_frame(Opcode.BINARY, b"\xab" * SLOW_SIZE)
    written = [0]

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        for _ in range(SLOW_COUNT):
            await conn.send_raw(frame)
            written[0] += 1
        await conn.send_close(1000)
        await read_until_close(conn)

    server = await raw_server(script, script_timeout=30)
    received = 0
    with trio.fail_after(30):
        async with WebSocket(server.url, max_message_size=None) as ws:
            messages = aiter(ws)
            assert len(await anext(messages)) == SLOW_SIZE
            tracemalloc.start()
            try:
                await trio.sleep(0.5)  # the loop takes nothing: socket buffers fill up
                stalled_at = written[0]
                await trio.sleep(0.5)
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
            print(f"stalled at {stalled_at} messages, peak {peak} bytes")
            assert written[0] == stalled_at < SLOW_COUNT, "the server was not slowed down"
            async for message in messages:
                received += len(message)
        await server.wait_finished()
    assert received == (SLOW_COUNT - 1) * SLOW_SIZE
    # Held while the loop sleeps: one message for the loop and one read's worth, not the
    # megabytes the server tried to send.
    assert peak < 2 * 1024 * 1024, f"peak {peak} bytes while the loop was stalled"


async def test_slow_loop_is_not_blamed_on_the_server_by_keepalive(echo_url: str) -> None:
    """While the reader waits for the loop, unanswered keepalive pings do not end it."""
    received: list[str | bytes] = []
    with trio.fail_after(TIMEOUT):
        async with WebSocket(echo_url, ping_interval=0.05, ping_timeout=0.2) as ws:
            ws.send("first")
            ws.send("second")
            async for message in ws:
                received.append(message)
                if message == "first":
                    await trio.sleep(1.0)  # five ping_timeouts without reading
                else:
                    ws.close()
    assert received == ["first", "second"]
    assert ws.close_code == 1000


async def test_exception_out_of_the_loop_lets_a_new_loop_start(echo_url: str) -> None:
    """An exception that leaves the loop drops its iterator: a new `async for` may start."""
    with trio.fail_after(TIMEOUT):
        async with WebSocket(echo_url) as ws:
            ws.send("a")
            with pytest.raises(RuntimeError, match="stop"):
                async for _ in ws:
                    raise RuntimeError("stop")
            assert ws.is_open
            ws.send("b")
            async for message in ws:
                assert message == "b"
                break
