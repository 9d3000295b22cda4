"""The core contract (issue 2, rules 1-10) against real peers on 127.0.0.1.

Each test that takes ``way`` runs three times: with our engine, with
``engine="trio-websocket"`` and over an adopted trio-websocket connection (``tests/ways.py``);
a case that cannot apply to a way skips with the reason.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import trio
from conftest import StartRawServer, StartWebSocketsServer
from peers.raw_server import Opcode, RawConnection, build_frame, close_payload
from recorder import Recorder, run_to_end, send_and_collect
from ways import Way

from trio_ws_events import (
    CloseTimeout,
    ConnectError,
    ConnectionLost,
    ConnectTimeout,
    HandlerError,
    HandshakeRejected,
    InvalidStateError,
    ProtocolError,
    State,
    WebSocket,
    WebSocketError,
)

# ---------------------------------------------------------------- the walkthrough, rule 1


async def test_walkthrough_text_binary_close_with_code_and_reason(way: Way, echo_url: str) -> None:
    """The seed walkthrough: open, send text and bytes, close(1000, 'bye') echoed back."""
    ws = await way.connect(echo_url)
    rec = Recorder(ws)
    states: list[State] = [ws.state]

    @ws.on_open
    def opened(ws: WebSocket) -> None:
        states.append(ws.state)
        assert ws.is_open
        ws.send("Message to the Server")
        ws.send(b"\x00\x01\x02")

    @ws.on_binary
    def got_binary(ws: WebSocket, data: bytes) -> None:
        ws.close(1000, "bye")
        states.append(ws.state)

    async with trio.open_nursery() as nursery:
        ws.open(nursery)
        states.append(ws.state)
        await ws.wait_closed()
    assert rec.events == [
        ("open",),
        ("message", "Message to the Server"),
        ("binary", b"\x00\x01\x02"),
        ("closed", 1000, "bye"),
    ]
    assert states == [State.INITIAL, State.CONNECTING, State.OPEN, State.CLOSING]
    assert ws.state is State.CLOSED
    assert not ws.is_open
    assert (ws.close_code, ws.close_reason) == (1000, "bye")
    assert ws.unsent == ()
    assert ws.buffered_amount == 0


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 2**20])
async def test_round_trip_sizes(way: Way, echo_url: str, size: int) -> None:
    """Text and binary messages up to 1 MiB come back whole and unchanged."""
    text = ("é" * (size // 2)) + ("x" * (size % 2))
    data = os.urandom(size)
    async with await way.connect(echo_url, max_message_size=2 * 2**20) as ws:
        rec = Recorder(ws)
        done = trio.Event()
        ws.on_binary += lambda ws, d: done.set()
        ws.send(text)
        ws.send(data)
        with trio.fail_after(10):
            await done.wait()
    assert rec.messages == [text, data]


async def test_many_messages_keep_order(way: Way, websockets_server: StartWebSocketsServer) -> None:
    """A thousand mixed messages sent in one burst come back in the order sent."""
    url = await websockets_server("echo")
    sent: list[str | bytes] = [f"text {i}" if i % 3 else f"bin {i}".encode() for i in range(1000)]
    async with await way.connect(url) as ws:
        received = await send_and_collect(ws, sent)
    assert received == sent


async def test_async_handlers_run_in_order_and_never_overlap(way: Way, echo_url: str) -> None:
    """Async handlers are awaited one at a time, in registration and arrival order."""
    log: list[str] = []
    active = 0

    async def slow(ws: WebSocket, message: str) -> None:
        nonlocal active
        active += 1
        assert active == 1, "two handlers ran at once"
        log.append(f"slow-start {message}")
        await trio.sleep(0.01)
        log.append(f"slow-end {message}")
        active -= 1

    def fast(ws: WebSocket, message: str) -> None:
        assert active == 0
        log.append(f"fast {message}")
        if message == "b":
            ws.close()

    def send_two(ws: WebSocket) -> None:
        ws.send("a")
        ws.send("b")

    ws = await way.connect(echo_url)
    ws.on_message += slow
    ws.on_message += fast
    ws.on_open += send_two
    await run_to_end(ws)
    assert log == [
        "slow-start a",
        "slow-end a",
        "fast a",
        "slow-start b",
        "slow-end b",
        "fast b",
    ]


# ---------------------------------------------------------------- rule 2: on_closed


async def test_client_close_code_and_reason_echoed_by_websockets(
    way: Way,
    websockets_server: StartWebSocketsServer,
) -> None:
    """The websockets server echoes our close code and reason; on_closed receives them."""
    url = await websockets_server("echo")
    ws = await way.connect(url)
    rec = Recorder(ws)
    ws.on_open += lambda ws: ws.close(4321, "ünïcode reason")
    await run_to_end(ws)
    assert rec.events == [("open",), ("closed", 4321, "ünïcode reason")]
    assert (ws.close_code, ws.close_reason) == (4321, "ünïcode reason")


async def test_server_initiated_close_reports_server_code(
    way: Way,
    websockets_server: StartWebSocketsServer,
) -> None:
    """A close started by the server fires on_closed with the server's code and reason."""
    url = await websockets_server("close", "4001", "server says bye")
    ws = await way.connect(url)
    rec = Recorder(ws)
    await run_to_end(ws)
    assert rec.events == [("open",), ("closed", 4001, "server says bye")]
    assert ws.state is State.CLOSED


async def test_server_close_after_message(
    way: Way, websockets_server: StartWebSocketsServer
) -> None:
    """Messages before the server's close are delivered first, then on_closed."""
    url = await websockets_server("close-after-first")
    ws = await way.connect(url)
    rec = Recorder(ws)
    ws.on_open += lambda ws: ws.send("ping me")
    await run_to_end(ws)
    assert rec.events == [("open",), ("message", "ping me"), ("closed", 4000, "done")]


async def test_server_close_without_code_is_1005_and_echoed_empty(
    way: Way,
    raw_server: StartRawServer,
) -> None:
    """An empty close frame means 1005 and ""; the client answers with an empty close too."""

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        await conn.send_close(None)
        frame = await conn.read_frame()
        assert frame.opcode == Opcode.CLOSE
        assert frame.payload == b""
        await conn.drop()

    server = await raw_server(script)
    ws = await way.connect(server.url)
    rec = Recorder(ws)
    await run_to_end(ws)
    await server.wait_finished()
    assert rec.events == [("open",), ("closed", 1005, "")]


async def test_server_close_code_echoed_on_the_wire(way: Way, raw_server: StartRawServer) -> None:
    """The client's answer to a server close carries the server's code."""

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        await conn.send_close(4444, "x")
        assert await conn.read_close() == (4444, "x")
        await conn.drop()

    server = await raw_server(script)
    ws = await way.connect(server.url)
    rec = Recorder(ws)
    await run_to_end(ws)
    await server.wait_finished()
    assert rec.events[-1] == ("closed", 4444, "x")


# ---------------------------------------------------------------- rule 3: on_error


async def test_connection_refused_is_on_error_not_raised(way: Way) -> None:
    """A refused connection fires on_error with ConnectError (1006); the nursery exits clean."""
    way.needs_opening()
    with trio.socket.socket() as sock:
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: refused
        ws = await way.connect(f"ws://127.0.0.1:{port}/x")
        rec = Recorder(ws)
        await run_to_end(ws)
    assert rec.names == ["error"]
    error = rec.error
    assert type(error) is ConnectError
    assert error.code == 1006
    assert f"ws://127.0.0.1:{port}/x" in str(error)
    assert "refused" in str(error).lower()
    assert ws.state is State.CLOSED
    assert (ws.close_code, ws.close_reason) == (1006, "")


async def test_dns_failure_is_connect_error(way: Way) -> None:
    """A host that does not resolve is a ConnectError naming the URL."""
    way.needs_opening()
    ws = await way.connect("ws://no-such-host.invalid/")
    rec = Recorder(ws)
    await run_to_end(ws, limit=30)
    assert isinstance(rec.error, ConnectError)
    assert "no-such-host.invalid" in str(rec.error)


async def test_handshake_rejected_carries_status_headers_body(
    way: Way, raw_server: StartRawServer
) -> None:
    """A 403 answer fires on_error with HandshakeRejected holding status, headers and body."""
    way.needs_opening()

    async def script(conn: RawConnection) -> None:
        await conn.reject(403, b"go away", headers=[("X-Why", "testing")])

    server = await raw_server(script)
    ws = await way.connect(server.url)
    rec = Recorder(ws)
    await run_to_end(ws)
    error = rec.error
    assert isinstance(error, HandshakeRejected)
    assert error.status == 403
    assert error.body == b"go away"
    assert ("x-why", "testing") in error.headers  # h11 gives names in lower case
    assert "403" in str(error)
    assert server.url in str(error)


async def test_handshake_rejected_by_websockets_server(
    way: Way,
    websockets_server: StartWebSocketsServer,
) -> None:
    """A real server's refusal (HTTP 401) is reported with its body."""
    way.needs_opening()
    url = await websockets_server("reject", "401", "no", "token")
    ws = await way.connect(url)
    rec = Recorder(ws)
    await run_to_end(ws)
    error = rec.error
    assert isinstance(error, HandshakeRejected)
    assert error.status == 401
    assert error.body.startswith(b"no token")


async def test_bad_accept_key_is_connect_error(way: Way, raw_server: StartRawServer) -> None:
    """A 101 with the wrong Sec-WebSocket-Accept is refused as an invalid handshake."""
    way.needs_opening()

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake(accept="d3Jvbmc=")
        await conn.wait_eof()

    server = await raw_server(script)
    ws = await way.connect(server.url)
    rec = Recorder(ws)
    await run_to_end(ws)
    assert type(rec.error) is ConnectError
    assert "invalid handshake" in str(rec.error)
    await server.wait_finished()


async def test_handshake_never_answered_is_connect_timeout(
    way: Way, raw_server: StartRawServer
) -> None:
    """connect_timeout covers the HTTP upgrade: a silent server ends with ConnectTimeout."""
    way.needs_opening()

    async def script(conn: RawConnection) -> None:
        await conn.never_answer()

    server = await raw_server(script)
    ws = await way.connect(server.url, connect_timeout=0.3)
    rec = Recorder(ws)
    start = trio.current_time()
    await run_to_end(ws)
    assert trio.current_time() - start < 5
    assert isinstance(rec.error, ConnectTimeout)
    assert rec.error.code == 1006
    await server.wait_finished()  # the client closed its socket


async def test_close_never_answered_is_close_timeout(way: Way, raw_server: StartRawServer) -> None:
    """A server that never answers the close frame: CloseTimeout after close_timeout."""

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        assert await conn.read_close() == (1000, "")
        await conn.wait_eof()

    server = await raw_server(script)
    ws = await way.connect(server.url, close_timeout=0.3)
    rec = Recorder(ws)
    ws.on_open += lambda ws: ws.close()
    await run_to_end(ws)
    await server.wait_finished()
    assert isinstance(rec.error, CloseTimeout)
    # We did send our close frame: that is the code reported.
    assert (ws.close_code, ws.close_reason) == (1000, "")
    assert rec.error.code == 1000


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (build_frame(3, b""), 1002),  # reserved opcode
        (build_frame(Opcode.TEXT, b"x", rsv=4), 1002),  # RSV1 without an extension
        (build_frame(Opcode.TEXT, b"hi", mask=True), 1002),  # masked server frame
        (build_frame(Opcode.CONTINUATION, b"x"), 1002),  # nothing to continue
        (build_frame(Opcode.PING, b"x" * 126), 1002),  # control frame too long
        (build_frame(Opcode.TEXT, b"\xff\xfe"), 1007),  # invalid UTF-8
        (build_frame(Opcode.CLOSE, b"\x03"), 1002),  # 1-byte close payload
        (build_frame(Opcode.CLOSE, close_payload(999)), 1002),  # invalid close code
        (build_frame(Opcode.CLOSE, close_payload(1000, b"\xff")), 1007),  # bad reason
    ],
)
async def test_protocol_violation_sends_close_code_at_once(
    way: Way, raw_server: StartRawServer, frame: bytes, code: int
) -> None:
    """A violation by the server makes the client send the right close code itself."""
    seen: list[int | None] = []

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        await conn.send_text("before")
        await conn.send_raw(frame)
        seen.append((await conn.read_close())[0])
        await conn.wait_eof()  # and the client closes TCP without waiting for us

    server = await raw_server(script)
    ws = await way.connect(server.url)
    rec = Recorder(ws)
    await run_to_end(ws)
    await server.wait_finished()
    assert seen == [code]
    assert rec.names == ["open", "message", "error"]
    assert type(rec.error) is ProtocolError
    assert rec.error.code == code
    assert ws.close_code == code


async def test_events_before_violation_fire_and_their_sends_go_first(
    way: Way,
    raw_server: StartRawServer,
) -> None:
    """Frames before a violation in the same read fire first; what they send (a small queue)
    precedes the close frame."""

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        await conn.send_raw(
            build_frame(Opcode.TEXT, b"one")
            + build_frame(Opcode.TEXT, b"two")
            + build_frame(Opcode.TEXT, b"\xc3")
        )
        assert await conn.read_message() == "re: one"
        assert await conn.read_message() == "re: two"
        assert (await conn.read_close())[0] == 1007

    server = await raw_server(script)
    ws = await way.connect(server.url)
    rec = Recorder(ws)
    ws.on_message += lambda ws, m: ws.send(f"re: {m}")
    await run_to_end(ws)
    await server.wait_finished()
    assert rec.messages == ["one", "two"]
    assert isinstance(rec.error, ProtocolError)
    assert rec.error.message.endswith("; closed with 1007")


async def test_connection_dropped_mid_message_is_connection_lost(
    way: Way,
    raw_server: StartRawServer,
) -> None:
    """TCP closed halfway through a frame: ConnectionLost with 1006, no message delivered."""

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        await conn.send_raw(build_frame(Opcode.BINARY, b"x" * 10, declared_length=1000))
        await conn.drop()

    server = await raw_server(script)
    ws = await way.connect(server.url)
    rec = Recorder(ws)
    await run_to_end(ws)
    assert rec.names == ["open", "error"]
    assert type(rec.error) is ConnectionLost
    assert rec.error.code == 1006
    assert (ws.close_code, ws.close_reason) == (1006, "")


async def test_connection_reset_is_connection_lost(way: Way, raw_server: StartRawServer) -> None:
    """A TCP reset is reported as ConnectionLost too."""

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        await conn.drop(reset=True)

    server = await raw_server(script)
    ws = await way.connect(server.url)
    rec = Recorder(ws)
    await run_to_end(ws)
    assert type(rec.error) is ConnectionLost


async def test_ping_is_answered_with_identical_pong(way: Way, raw_server: StartRawServer) -> None:
    """Pings are answered automatically with the same payload."""

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        await conn.send_frame(Opcode.PING, b"are you there")
        frame = await conn.read_frame()
        assert (frame.opcode, frame.payload) == (Opcode.PONG, b"are you there")
        await conn.send_close(1000, "ok")
        await conn.read_close()

    server = await raw_server(script)
    ws = await way.connect(server.url)
    rec = Recorder(ws)
    await run_to_end(ws)
    await server.wait_finished()
    assert rec.events == [("open",), ("closed", 1000, "ok")]


# ---------------------------------------------------------------- rule 5: single use, misuse


async def test_second_open_raises_in_every_state(way: Way, echo_url: str) -> None:
    """open() twice raises InvalidStateError saying the instance cannot be reused."""
    ws = await way.connect(echo_url)
    seen_states = []
    async with trio.open_nursery() as nursery:
        ws.open(nursery)
        for _ in range(2):
            seen_states.append(ws.state)
            with pytest.raises(InvalidStateError, match="cannot be reused"):
                ws.open(nursery)
            if ws.state is State.CONNECTING:
                await ws._engine.ready.wait()
        ws.close()
        await ws.wait_closed()
        with pytest.raises(InvalidStateError, match="cannot be reused"):
            ws.open(nursery)
        with pytest.raises(InvalidStateError, match="cannot be reused"):
            async with ws:
                pass
    assert seen_states == [State.CONNECTING, State.OPEN]


async def test_send_outside_open_raises(way: Way, echo_url: str) -> None:
    """send() before OPEN and after close() raises InvalidStateError; nothing is queued."""
    ws = await way.connect(echo_url)
    with pytest.raises(InvalidStateError, match="not open yet"):
        ws.send("early")
    async with trio.open_nursery() as nursery:
        ws.open(nursery)
        with pytest.raises(InvalidStateError, match=r"CONNECTING.*after on_open"):
            ws.send("still early")
        await ws._engine.ready.wait()
        ws.close()
        with pytest.raises(InvalidStateError, match="is CLOSING"):
            ws.send("late")
        await ws.wait_closed()
    with pytest.raises(InvalidStateError, match="is CLOSED"):
        ws.send("later")
    assert ws.buffered_amount == 0
    assert ws.unsent == ()


async def test_wait_closed_before_open_raises(way: Way) -> None:
    """wait_closed() before open() raises instead of waiting forever."""
    way.needs_opening()
    ws = await way.connect("ws://127.0.0.1:9/")
    with pytest.raises(InvalidStateError, match=r"open\(\) was never called.*call open\(nursery\)"):
        await ws.wait_closed()


async def test_close_before_open_abandons_without_io(way: Way) -> None:
    """close() before open(): the later open() fires one on_error and touches no network."""
    way.needs_opening()
    ws = await way.connect("ws://no-such-host.invalid/")
    rec = Recorder(ws)
    ws.close()
    assert ws.state is State.INITIAL
    await run_to_end(ws, limit=1)
    assert rec.names == ["error"]
    assert type(rec.error) is ConnectError
    assert "abandoned" in str(rec.error)


async def test_close_while_connecting_abandons(way: Way, raw_server: StartRawServer) -> None:
    """close() during CONNECTING abandons the attempt: one on_error, socket closed."""
    way.needs_opening()

    async def script(conn: RawConnection) -> None:
        await conn.never_answer()

    server = await raw_server(script)
    ws = await way.connect(server.url)
    rec = Recorder(ws)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            ws.open(nursery)
            while not server.connections:
                await trio.sleep(0.01)
            ws.close()
            ws.close()  # twice is harmless
            await ws.wait_closed()
        await server.wait_finished()
    assert rec.names == ["error"]
    assert type(rec.error) is ConnectError
    assert "abandoned" in str(rec.error)
    assert ws.state is State.CLOSED


async def test_close_right_after_open_call_abandons(way: Way) -> None:
    """close() in the same tick as open(), before any I/O, still gives one on_error."""
    way.needs_opening()
    ws = await way.connect("ws://127.0.0.1:9/")
    rec = Recorder(ws)
    async with trio.open_nursery() as nursery:
        ws.open(nursery)
        ws.close()
    assert rec.names == ["error"]
    assert "abandoned" in str(rec.error)


async def test_close_twice_is_harmless(way: Way, echo_url: str) -> None:
    """A second close() does nothing: the first code and reason are the ones sent."""
    ws = await way.connect(echo_url)
    rec = Recorder(ws)

    @ws.on_open
    def opened(ws: WebSocket) -> None:
        ws.close(4000, "first")
        ws.close(4001, "second")

    await run_to_end(ws)
    ws.close()
    assert rec.events == [("open",), ("closed", 4000, "first")]


# ---------------------------------------------------------------- rule 6: send


async def test_send_types_and_copy(way: Way, raw_server: StartRawServer) -> None:
    """str is text; bytes, bytearray, memoryview are binary; the caller's buffer is copied."""

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        got = [await conn.read_message() for _ in range(4)]
        assert got == ["text", b"bytes", b"array", b"view"]
        assert await conn.read_close() == (1000, "")
        await conn.send_close(1000)

    server = await raw_server(script)
    ws = await way.connect(server.url)

    @ws.on_open
    def opened(ws: WebSocket) -> None:
        buffer = bytearray(b"array")
        view_source = bytearray(b"view")
        ws.send("text")
        ws.send(b"bytes")
        ws.send(buffer)
        ws.send(memoryview(view_source))
        # Each byte accepted is queued or already written (the first may go out at once).
        assert ws.buffered_amount + ws.stats.bytes_sent == 4 + 5 + 5 + 4
        buffer[:] = b"XXXXX"
        view_source[:] = b"YYYY"
        ws.close()

    await run_to_end(ws)
    await server.wait_finished()
    assert ws.close_code == 1000


@pytest.mark.parametrize("bad", [1, None, ["x"], {"a": 1}, 3.5])
async def test_send_wrong_type_is_type_error(way: Way, echo_url: str, bad: Any) -> None:
    """send() of anything but str or bytes-like is a TypeError naming what is allowed."""
    async with await way.connect(echo_url) as ws:
        with pytest.raises(TypeError, match="send\\(\\) takes str"):
            ws.send(bad)
        assert ws.buffered_amount == 0


async def test_buffered_amount_counts_utf8_payload(way: Way, raw_server: StartRawServer) -> None:
    """buffered_amount counts UTF-8 payload bytes until the socket takes them."""
    amounts: list[int] = []

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        await conn.read_message()
        await conn.read_message()
        await conn.send_text("seen")
        await conn.read_close()
        await conn.send_close(1000)

    server = await raw_server(script)
    ws = await way.connect(server.url)

    @ws.on_open
    def opened(ws: WebSocket) -> None:
        ws.send(b"1234")  # may be written at once (send() on an idle plain socket)
        ws.send("€€")  # 6 bytes of UTF-8, 2 characters: queued behind, whatever the way
        amounts.extend((ws.buffered_amount, ws.stats.bytes_sent))

    @ws.on_message
    def seen(ws: WebSocket, message: str) -> None:
        amounts.extend((ws.buffered_amount, ws.stats.bytes_sent))
        ws.close()

    await run_to_end(ws)
    assert amounts[0] in (6, 10)
    assert amounts[0] + amounts[1] == 10
    assert amounts[2:] == [0, 10]


async def test_unsent_messages_are_reported_in_order(way: Way, raw_server: StartRawServer) -> None:
    """When the connection dies with messages queued, ws.unsent and error.unsent list them."""
    chunk = b"z" * 2**20

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        # Read nothing until the client's queue backs up, then reset the connection.
        await trio.sleep(0.5)
        await conn.drop(reset=True)

    server = await raw_server(script)
    ws = await way.connect(server.url, max_buffered_amount=128 * 2**20)
    rec = Recorder(ws)
    sent: list[bytes] = []

    @ws.on_open
    def opened(ws: WebSocket) -> None:
        for i in range(64):
            message = i.to_bytes(4, "big") + chunk
            sent.append(message)
            ws.send(message)

    await run_to_end(ws)
    error = rec.error
    assert isinstance(error, ConnectionLost)
    assert ws.unsent == error.unsent
    assert 0 < len(ws.unsent) <= len(sent)
    # The unsent ones are exactly the tail of what was sent, in order.
    assert list(ws.unsent) == sent[len(sent) - len(ws.unsent) :]


async def test_messages_before_close_go_out_before_close_frame(
    way: Way, raw_server: StartRawServer
) -> None:
    """Everything sent before close() is written before the close frame."""

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        got = [await conn.read_message() for _ in range(100)]
        assert got == [f"m{i}" for i in range(100)]
        assert await conn.read_close() == (1000, "done")
        await conn.send_close(1000, "done")

    server = await raw_server(script)
    ws = await way.connect(server.url)

    @ws.on_open
    def opened(ws: WebSocket) -> None:
        for i in range(100):
            ws.send(f"m{i}")
        ws.close(1000, "done")

    await run_to_end(ws)
    await server.wait_finished()
    assert ws.unsent == ()


# ---------------------------------------------------------------- rule 7: close arguments


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535])
async def test_close_rejects_codes_an_endpoint_may_not_send(
    way: Way, echo_url: str, code: int
) -> None:
    """Codes outside 1000-1003, 1007-1014, 3000-4999 are a ValueError; nothing is sent."""
    async with await way.connect(echo_url) as ws:
        rec = Recorder(ws)
        with pytest.raises(ValueError, match=f"close code {code} may not be sent"):
            ws.close(code)
        assert ws.state is State.OPEN
    assert rec.events == [("closed", 1000, "")]


@pytest.mark.parametrize("code", [1000, 1001, 1003, 1007, 1012, 1013, 1014, 3000, 4999])
async def test_close_accepts_sendable_codes(
    way: Way, websockets_server: StartWebSocketsServer, code: int
) -> None:
    """Every sendable code goes out and comes back from the websockets echo server."""
    ws = await way.connect(await websockets_server("echo"))
    if code == 1014 and way.name != "default":
        with pytest.raises(ValueError, match="cannot honour close code 1014"):
            ws.close(code, "r")  # wsproto does not know 1014: refused before sending
        return
    rec = Recorder(ws)
    ws.on_open += lambda ws: ws.close(code, "r")
    await run_to_end(ws)
    assert rec.events[-1] == ("closed", code, "r")


async def test_close_reason_length_is_checked_in_utf8_bytes(way: Way, echo_url: str) -> None:
    """A reason of 123 UTF-8 bytes is accepted; 124 is a ValueError."""
    async with await way.connect(echo_url) as ws:
        with pytest.raises(ValueError, match="124 bytes of UTF-8; at most 123"):
            ws.close(1000, "€" * 41 + "x")  # 41*3 + 1 = 124 bytes, only 42 characters
        with pytest.raises(TypeError, match="close code must be an int"):
            ws.close("1000")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="close code must be an int"):
            ws.close(True)
        with pytest.raises(TypeError, match="close reason must be a str"):
            ws.close(1000, b"x")  # type: ignore[arg-type]
        assert ws.is_open
        rec = Recorder(ws)
        ws.close(1000, "€" * 41)  # exactly 123 bytes
        await ws.wait_closed()
    assert rec.events == [("closed", 1000, "€" * 41)]


# ---------------------------------------------------------------- rule 8: cancellation


async def test_cancel_while_connecting(way: Way, raw_server: StartRawServer) -> None:
    """Cancelling the nursery while connecting: CLOSED, on_error, socket closed, no task left."""
    way.needs_opening()

    async def script(conn: RawConnection) -> None:
        await conn.never_answer()

    server = await raw_server(script)
    ws = await way.connect(server.url)
    rec = Recorder(ws)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            ws.open(nursery)
            while not server.connections:
                await trio.sleep(0.01)
            nursery.cancel_scope.cancel()
        assert not nursery.child_tasks
        await server.wait_finished()  # EOF seen: the socket was closed
    assert ws.state is State.CLOSED
    assert rec.names == ["error"]
    assert type(rec.error) is ConnectError
    assert "cancelled" in str(rec.error)


async def test_cancel_while_open_sends_1001_and_reports_close(
    way: Way, raw_server: StartRawServer
) -> None:
    """Cancelling while open flushes the queue, sends 1001 and fires on_closed with the reply."""

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        assert await conn.read_message() == "queued"
        assert await conn.read_close() == (1001, "")
        await conn.send_close(1001)
        await conn.wait_eof()

    server = await raw_server(script)
    ws = await way.connect(server.url)
    rec = Recorder(ws)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            ws.open(nursery)
            await ws._engine.ready.wait()
            ws.send("queued")
            nursery.cancel_scope.cancel()
        assert not nursery.child_tasks
        await server.wait_finished()
    assert ws.state is State.CLOSED
    assert rec.events == [("open",), ("closed", 1001, "")]
    assert ws.unsent == ()


async def test_cancel_while_open_with_silent_server_is_bounded(
    way: Way, raw_server: StartRawServer
) -> None:
    """If the server never answers the 1001, close_timeout bounds the wait; on_error fires."""

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        await conn.wait_eof()

    server = await raw_server(script)
    ws = await way.connect(server.url, close_timeout=0.3)
    rec = Recorder(ws)
    start = trio.current_time()
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            ws.open(nursery)
            await ws._engine.ready.wait()
            nursery.cancel_scope.cancel()
        await server.wait_finished()
    assert trio.current_time() - start < 3
    assert ws.state is State.CLOSED
    assert rec.names == ["open", "error"]
    assert isinstance(rec.error, WebSocketError)
    assert ws.close_code == 1001  # we did send it


async def test_cancel_while_async_handler_runs(way: Way, echo_url: str) -> None:
    """Cancellation inside a slow async handler is not a handler failure."""
    ws = await way.connect(echo_url)
    rec = Recorder(ws)

    async def forever(ws: WebSocket, message: str) -> None:
        await trio.sleep_forever()

    ws.on_message += forever
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            ws.open(nursery)
            await ws._engine.ready.wait()
            ws.send("hang")
            while not rec.messages:
                await trio.sleep(0.01)
            await trio.sleep(0.05)
            nursery.cancel_scope.cancel()
    assert rec.events[-1] == ("closed", 1001, "")
    assert ws.state is State.CLOSED


# ---------------------------------------------------------------- rule 9: async with


async def test_async_with_waits_for_open_and_closes_1000(
    way: Way, raw_server: StartRawServer
) -> None:
    """async with opens before the body and leaves with a 1000 close, waiting for the end."""

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        assert await conn.read_message() == "hi"
        assert await conn.read_close() == (1000, "")
        await conn.send_close(1000)

    server = await raw_server(script)
    async with await way.connect(server.url) as ws:
        assert ws.is_open
        ws.send("hi")
    assert ws.state is State.CLOSED
    assert ws.close_code == 1000
    await server.wait_finished()


async def test_async_with_failure_raises_the_error(way: Way) -> None:
    """A failed attempt runs on_error, then raises the same error bare from async with."""
    way.needs_opening()
    ws = await way.connect("ws://127.0.0.1:9/")
    rec = Recorder(ws)
    with pytest.raises(ConnectError) as info:
        async with ws:
            pytest.fail("the body must not run")
    assert info.value is rec.error


async def test_async_with_body_exception_closes_1011(way: Way, raw_server: StartRawServer) -> None:
    """Leaving by an exception closes with 1011 and the exception propagates unwrapped."""

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        assert await conn.read_close() == (1011, "")
        await conn.send_close(1011)

    server = await raw_server(script)
    with pytest.raises(KeyError, match="boom"):
        async with await way.connect(server.url) as ws:
            raise KeyError("boom")
    assert ws.state is State.CLOSED
    assert ws.close_code == 1011
    await server.wait_finished()


async def test_async_with_cancelled_body(way: Way, raw_server: StartRawServer) -> None:
    """Cancelling around async with closes with 1001 and is absorbed by the cancel scope."""

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        assert await conn.read_close() == (1001, "")
        await conn.send_close(1001)

    server = await raw_server(script)
    with trio.move_on_after(0.2) as scope:
        async with await way.connect(server.url) as ws:
            await trio.sleep_forever()
    assert scope.cancelled_caught
    assert ws.state is State.CLOSED
    await server.wait_finished()


# ---------------------------------------------------------------- rule 10: raising handlers


async def test_raising_handler_closes_1011_and_propagates(
    way: Way, raw_server: StartRawServer
) -> None:
    """A handler that raises: 1011 on the wire, on_error with the cause, then it propagates."""

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        await conn.send_text("trigger")
        await conn.send_text("never delivered")
        assert await conn.read_close() == (1011, "")
        await conn.send_close(1011)

    server = await raw_server(script)
    ws = await way.connect(server.url)
    rec = Recorder(ws)

    def bad(ws: WebSocket, message: str) -> None:
        raise ZeroDivisionError("handler bug")

    ws.on_message += bad
    with pytest.RaisesGroup(pytest.RaisesExc(ZeroDivisionError, match="handler bug")):
        async with trio.open_nursery() as nursery:
            ws.open(nursery)
    await server.wait_finished()
    assert rec.names == ["open", "message", "error"]
    error = rec.error
    assert isinstance(error, HandlerError)
    assert isinstance(error.__cause__, ZeroDivisionError)
    assert error.code == 1011
    assert "bad" in str(error)
    assert ws.state is State.CLOSED


async def test_raising_async_on_open_in_async_with_propagates_bare(way: Way, echo_url: str) -> None:
    """In the script form, a raising handler's exception comes out of async with bare."""
    ws = await way.connect(echo_url)
    rec = Recorder(ws)

    async def bad(ws: WebSocket) -> None:
        await trio.lowlevel.checkpoint()
        raise RuntimeError("on_open failed")

    ws.on_open += bad
    with pytest.raises(RuntimeError, match="on_open failed"):
        async with ws:
            pytest.fail("the body must not run")
    assert isinstance(rec.error, HandlerError)
    assert ws.close_code == 1011


async def test_raising_handler_in_async_with_body(way: Way, echo_url: str) -> None:
    """A handler failing while the body runs surfaces as the bare exception at exit."""
    with pytest.raises(ValueError, match="bad message"):
        async with await way.connect(echo_url) as ws:

            def bad(ws: WebSocket, message: str) -> None:
                raise ValueError("bad message")

            ws.on_message += bad
            ws.send("x")
            with trio.fail_after(5):
                await ws.wait_closed()
    assert ws.close_code == 1011


async def test_messages_after_client_close_are_not_delivered(
    way: Way, raw_server: StartRawServer
) -> None:
    """After close(), arriving messages are dropped (as in the browser); on_closed still fires."""

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        await conn.send_text("first")
        assert await conn.read_close() == (1000, "")
        await conn.send_text("late")
        await conn.send_close(1000)

    server = await raw_server(script)
    ws = await way.connect(server.url)
    rec = Recorder(ws)

    def reply(ws: WebSocket, message: str) -> None:
        ws.close()

    ws.on_message += reply
    await run_to_end(ws)
    await server.wait_finished()
    assert rec.events == [("open",), ("message", "first"), ("closed", 1000, "")]


async def test_server_close_leaves_queue_in_unsent(way: Way, raw_server: StartRawServer) -> None:
    """Messages queued when the server's close arrives are not sent after it: they are unsent."""

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        await conn.send_raw(
            build_frame(Opcode.TEXT, b"go") + build_frame(Opcode.CLOSE, close_payload(4000, "bye"))
        )
        assert await conn.read_close() == (4000, "bye")
        await conn.drop()

    server = await raw_server(script)
    ws = await way.connect(server.url)
    rec = Recorder(ws)
    ws.on_message += lambda ws, m: ws.send("answer")
    await run_to_end(ws)
    await server.wait_finished()
    assert rec.events == [("open",), ("message", "go"), ("closed", 4000, "bye")]
    assert ws.unsent == ("answer",)


async def test_stats_count_messages_bytes_and_times(way: Way, echo_url: str) -> None:
    """ws.stats counts what went out and came in, and how long connecting and being open took."""
    ws = await way.connect(echo_url, compression=None)
    assert ws.stats.connect_time is None
    done = trio.Event()

    @ws.on_binary
    def got(ws: WebSocket, data: bytes) -> None:
        done.set()

    async with trio.open_nursery() as nursery:
        ws.open(nursery)
        await ws._engine.ready.wait()
        ws.send("héllo")  # 6 bytes of UTF-8
        ws.send(b"1234")
        with trio.fail_after(5):
            await done.wait()
        ws.close()
        await ws.wait_closed()
    stats = ws.stats
    assert (stats.messages_sent, stats.bytes_sent) == (2, 10)
    assert (stats.messages_received, stats.bytes_received) == (2, 10)
    assert stats.connect_time is not None
    assert stats.connect_time >= 0
    assert stats.time_open is not None
    assert stats.time_open >= 0
    assert ws.stats.time_open == stats.time_open  # frozen once CLOSED


async def test_server_ping_fires_on_ping_before_the_next_message(
    way: Way, websockets_server: StartWebSocketsServer
) -> None:
    """A server's ping is answered and fires on_ping, in order with the messages."""
    if way.name == "adopted":
        pytest.skip("the ping comes right after the handshake, before adoption: it is not ours")
    ws = await way.connect(await websockets_server("ping", "hello"))
    seen: list[object] = []
    ws.on_ping += lambda ws, p: seen.append(("ping", p))

    def on_message(ws: WebSocket, text: str) -> None:
        seen.append(text)
        ws.close()

    ws.on_message += on_message
    await run_to_end(ws)
    assert seen == [("ping", b"hello"), "pong hello"]


async def test_ping_measures_latency(way: Way, echo_url: str) -> None:
    """ping() returns the round trip once the pong came; latency keeps it."""
    ws = await way.connect(echo_url)
    async with trio.open_nursery() as nursery:
        ws.open(nursery)
        with trio.fail_after(10):
            while not ws.is_open:
                await trio.sleep(0.001)
            rtt = await ws.ping(b"abc")
        assert 0 <= rtt < 5
        assert ws.latency is not None
        ws.close()
