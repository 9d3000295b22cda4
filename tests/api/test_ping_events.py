"""on_ping and on_pong: fired in arrival order, pongs to pings still automatic."""

from __future__ import annotations

from typing import Any

import pytest
import trio
from conftest import StartRawServer, StartWebSocketsServer
from peers.raw_server import Opcode, RawConnection
from recorder import Recorder, run_to_end

from trio_ws_events import Backoff, HandlerError, ReconnectingWebSocket, WebSocket
from trio_ws_events.testing import open_scripted_server


def record_pings(ws: WebSocket, rec: Recorder) -> None:
    """Add ("ping", payload) and ("pong", payload) to ``rec.events`` as they fire."""
    ws.on_ping += lambda ws, payload: rec.events.append(("ping", payload))
    ws.on_pong += lambda ws, payload: rec.events.append(("pong", payload))


async def test_on_ping_on_pong_fire_in_arrival_order(raw_server: StartRawServer) -> None:
    """Pings and pongs fire between messages exactly where they arrived; pings are answered."""
    answered: list[bytes] = []

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        await conn.send_frame(Opcode.PING, b"p1")
        await conn.send_frame(Opcode.TEXT, b"m1")
        await conn.send_frame(Opcode.PONG, b"unasked")
        await conn.send_frame(Opcode.PING, b"")
        await conn.send_frame(Opcode.BINARY, b"m2")
        for _ in range(2):
            frame = await conn.read_frame()
            assert frame.opcode == Opcode.PONG
            answered.append(frame.payload)
        await conn.send_close(1000)
        await conn.read_close()

    server = await raw_server(script)
    ws = WebSocket(server.url)
    rec = Recorder(ws)
    record_pings(ws, rec)
    await run_to_end(ws)
    await server.wait_finished()
    assert rec.events == [
        ("open",),
        ("ping", b"p1"),
        ("message", "m1"),
        ("pong", b"unasked"),
        ("ping", b""),
        ("binary", b"m2"),
        ("closed", 1000, ""),
    ]
    assert answered == [b"p1", b""]


async def test_on_ping_from_websockets_ping(websockets_server: StartWebSocketsServer) -> None:
    """websockets' ping() fires on_ping with its payload and gets its pong without a handler's
    help; our ping() fires on_pong with ours."""
    url = await websockets_server("ping", "heartbeat-7")
    ws = WebSocket(url, ping_interval=None)
    rec = Recorder(ws)
    record_pings(ws, rec)
    got_pong = trio.Event()
    ws.on_message += lambda ws, text: got_pong.set()
    async with ws:
        with trio.fail_after(10):
            await got_pong.wait()
        await ws.ping(b"ours")
    assert rec.events[:3] == [("open",), ("ping", b"heartbeat-7"), ("message", "pong heartbeat-7")]
    assert rec.events[3:] == [("pong", b"ours"), ("closed", 1000, "")]


async def test_on_pong_fires_for_keepalive_pongs(echo_url: str) -> None:
    """The answers to keepalive pings fire on_pong too, with the payload that was sent."""
    ws = WebSocket(echo_url, ping_interval=0.05)
    pongs: list[bytes] = []
    enough = trio.Event()

    def on_pong(ws: WebSocket, payload: bytes) -> None:
        pongs.append(payload)
        if len(pongs) == 2:
            enough.set()

    ws.on_pong += on_pong
    async with ws:
        with trio.fail_after(10):
            await enough.wait()
    assert all(isinstance(p, bytes) and len(p) == 4 for p in pongs)
    assert pongs[0] != pongs[1]


async def test_on_ping_async_handler_holds_reading(raw_server: StartRawServer) -> None:
    """An async on_ping handler is awaited before the next frame is delivered."""
    order: list[Any] = []

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        await conn.send_frame(Opcode.PING, b"slow")
        await conn.send_frame(Opcode.TEXT, b"after")
        await conn.send_close(1000)
        await conn.read_frame()  # the pong
        await conn.read_close()

    async def on_ping(ws: WebSocket, payload: bytes) -> None:
        await trio.sleep(0.05)
        order.append(("ping done", payload))

    server = await raw_server(script)
    ws = WebSocket(server.url)
    ws.on_ping += on_ping
    ws.on_message += lambda ws, text: order.append(("message", text))
    await run_to_end(ws)
    await server.wait_finished()
    assert order == [("ping done", b"slow"), ("message", "after")]


async def test_on_ping_handler_raising_closes_with_1011(raw_server: StartRawServer) -> None:
    """A raising on_ping handler is a handler error like any other: 1011, then it propagates."""
    codes: list[int | None] = []

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        await conn.send_frame(Opcode.PING, b"boom")
        frame = await conn.read_frame()
        assert frame.opcode == Opcode.PONG
        codes.append((await conn.read_close())[0])
        await conn.send_close(1011)

    def on_ping(ws: WebSocket, payload: bytes) -> None:
        raise RuntimeError(payload.decode())

    server = await raw_server(script)
    ws = WebSocket(server.url)
    ws.on_ping += on_ping
    rec = Recorder(ws)
    with pytest.raises(ExceptionGroup) as info:
        await run_to_end(ws)
    await server.wait_finished()
    assert info.group_contains(RuntimeError, match="boom")
    assert isinstance(rec.error, HandlerError)
    assert "on_ping handler" in str(rec.error)
    assert codes == [1011]


@pytest.mark.parametrize("event", ["on_ping", "on_pong"])
def test_on_ping_on_pong_refuse_non_callables(event: str) -> None:
    """Registering something that is not callable raises TypeError naming the event."""
    ws = WebSocket("ws://127.0.0.1:9/")
    hook = getattr(ws, event)
    with pytest.raises(TypeError, match=f"{event} handlers must be callable, got int"):
        hook += 5


async def test_reconnecting_forwards_on_ping_on_pong_from_every_connection() -> None:
    """ReconnectingWebSocket's on_ping and on_pong serve every connection, with itself as ws."""
    async with open_scripted_server() as server:
        rws = ReconnectingWebSocket(server.url, backoff=Backoff(initial=0, max=1))
        seen: list[tuple[str, bytes, bool]] = []
        rws.on_ping += lambda ws, payload: seen.append(("ping", payload, ws is rws))
        rws.on_pong += lambda ws, payload: seen.append(("pong", payload, ws is rws))
        async with trio.open_nursery() as nursery:
            rws.open(nursery)
            first = await server.accept()
            await first.ping(b"one")  # returns once the automatic pong arrived
            await first.drop()
            second = await server.accept()
            await second.send_raw(b"\x8a\x03two")  # an unsolicited pong
            await second.ping(b"three")
            rws.close()
    assert seen == [("ping", b"one", True), ("pong", b"two", True), ("ping", b"three", True)]
