"""The core contract over the three ways in: our engine, engine="trio-websocket", adopted.

Each test runs once per way (``tests/ways.py``) against trio-websocket's echo server
in-process, the ``websockets`` server in a subprocess, or the raw-frame server.
"""

from __future__ import annotations

import pytest
import trio
from conftest import StartRawServer, StartWebSocketsServer
from peers.raw_server import Opcode, RawConnection, build_frame
from recorder import Recorder, run_to_end, send_and_collect
from ways import WAYS, Way

from trio_ws_events import (
    ConnectionLost,
    HandlerError,
    InvalidStateError,
    ProtocolError,
    State,
    WebSocket,
)


@pytest.fixture(params=WAYS)
def way(request: pytest.FixtureRequest, nursery: trio.Nursery) -> Way:
    """One of the three ways in."""
    return Way(request.param, nursery)


async def test_ways_echo_keeps_order_and_close_code_reason(way: Way, echo_url: str) -> None:
    """Text and binary echo in order; the close code and reason come back as sent."""
    ws = await way.connect(echo_url)
    rec = Recorder(ws)

    def on_open(ws: WebSocket) -> None:
        for message in ("a", b"b", "c"):
            ws.send(message)

    ws.on_open += on_open

    def on_message(ws: WebSocket, data: str | bytes) -> None:
        if data == "c":
            ws.close(4001, "done é")

    ws.on_message += on_message
    await run_to_end(ws)
    assert rec.events == [
        ("open",),
        ("message", "a"),
        ("binary", b"b"),
        ("message", "c"),
        ("closed", 4001, "done é"),
    ]
    assert ws.close_code == 4001
    assert ws.state is State.CLOSED
    assert ws.stats.messages_received == 3
    assert ws.stats.messages_sent == 3


async def test_ways_many_messages_keep_order(
    way: Way, websockets_server: StartWebSocketsServer
) -> None:
    """Hundreds of messages to websockets' server come back whole and in order."""
    ws = await way.connect(await websockets_server("echo-plain"))
    async with trio.open_nursery() as nursery:
        ws.open(nursery)
        with trio.fail_after(10):
            while not ws.is_open:
                await trio.sleep(0.001)
        sent: list[str | bytes] = [f"m{i}" if i % 2 else bytes([i % 256]) * i for i in range(300)]
        assert await send_and_collect(ws, sent) == sent
        ws.close()
    assert ws.close_code == 1000


async def test_ways_server_close_reports_its_code(
    way: Way, websockets_server: StartWebSocketsServer
) -> None:
    """A close started by the server fires on_closed with its code and reason, once."""
    ws = await way.connect(await websockets_server("close", "4002", "server says bye"))
    rec = Recorder(ws)
    await run_to_end(ws)
    assert rec.events == [("open",), ("closed", 4002, "server says bye")]
    rec.assert_terminal_once()


async def test_ways_server_ping_fires_on_ping_before_the_next_message(
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


async def test_ways_ping_measures_latency(way: Way, echo_url: str) -> None:
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


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (build_frame(3, b""), 1002),  # reserved opcode
        (build_frame(Opcode.TEXT, b"hi", mask=True), 1002),  # masked server frame
        (build_frame(Opcode.TEXT, b"\xff\xfe"), 1007),  # invalid UTF-8
    ],
)
async def test_ways_server_violation_sends_its_close_code(
    way: Way, raw_server: StartRawServer, frame: bytes, code: int
) -> None:
    """A violation by the server: the client sends the code, on_error has a ProtocolError."""
    seen: list[int | None] = []

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        await conn.send_text("before")
        await conn.send_raw(frame)
        seen.append((await conn.read_close())[0])

    server = await raw_server(script)
    ws = await way.connect(server.url)
    rec = Recorder(ws)
    await run_to_end(ws)
    await server.wait_finished()
    assert seen == [code]
    assert rec.names == ["open", "message", "error"]
    assert type(rec.error) is ProtocolError
    assert rec.error.code == code == ws.close_code


async def test_ways_raising_handler_closes_1011_and_propagates(
    way: Way, raw_server: StartRawServer
) -> None:
    """A handler that raises: 1011 on the wire, on_error with the cause, then it propagates."""

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        await conn.send_text("trigger")
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
    assert isinstance(rec.error, HandlerError)
    assert rec.error.code == 1011
    assert isinstance(rec.error.__cause__, ZeroDivisionError)
    assert ws.state is State.CLOSED


async def test_ways_cancel_while_open_sends_1001(way: Way, raw_server: StartRawServer) -> None:
    """Cancelling the nursery flushes the queue, sends 1001 and leaves the instance CLOSED."""

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        assert await conn.read_message() == "queued"
        assert await conn.read_close() == (1001, "")
        await conn.send_close(1001)

    server = await raw_server(script)
    ws = await way.connect(server.url)
    rec = Recorder(ws)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            ws.open(nursery)
            await ws._engine.ready.wait()
            ws.send("queued")
            await trio.sleep(0.05)
            nursery.cancel_scope.cancel()
        assert not nursery.child_tasks
        await server.wait_finished()
    assert ws.state is State.CLOSED
    assert rec.events == [("open",), ("closed", 1001, "")]


async def test_ways_dropped_connection_is_connection_lost(
    way: Way, raw_server: StartRawServer
) -> None:
    """The server closing TCP without a close frame ends with ConnectionLost (1006)."""

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        await conn.send_text("last")
        await conn.drop()

    server = await raw_server(script)
    ws = await way.connect(server.url)
    rec = Recorder(ws)
    await run_to_end(ws)
    await server.wait_finished()
    assert rec.names == ["open", "message", "error"]
    assert type(rec.error) is ConnectionLost
    assert ws.close_code == 1006


async def test_ways_close_code_checked_before_sending(way: Way, echo_url: str) -> None:
    """A close code an endpoint may not send is refused before anything changes."""
    ws = await way.connect(echo_url)
    refused: list[str] = []

    def on_open(ws: WebSocket) -> None:
        with pytest.raises(ValueError, match="may not be sent"):
            ws.close(1005)
        refused.append(ws.state.name)
        ws.close(1000)

    ws.on_open += on_open
    await run_to_end(ws)
    assert refused == ["OPEN"]
    assert ws.close_code == 1000


async def test_ways_single_use_and_send_after_end(way: Way, echo_url: str) -> None:
    """An instance is opened once; send after the end raises and lists nothing."""
    ws = await way.connect(echo_url)
    ws.on_open += lambda ws: ws.close()
    await run_to_end(ws)
    async with trio.open_nursery() as nursery:
        with pytest.raises(InvalidStateError, match="cannot be reused"):
            ws.open(nursery)
    with pytest.raises(InvalidStateError, match="CLOSED"):
        ws.send("late")
    assert ws.unsent == ()
