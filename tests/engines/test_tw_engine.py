"""What is particular to the trio-websocket engine and to adopted connections."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio_websocket
from conftest import StartRawServer, StartWebSocketsServer
from peers.raw_server import Opcode, RawConnection, build_frame
from recorder import Recorder, run_to_end, run_to_end_traced

from trio_ws_events import (
    ConnectError,
    HandshakeRejected,
    KeepaliveTimeout,
    MessageTooBig,
    ProtocolError,
    WebSocket,
    open_h2_pool,
)
from trio_ws_events._trio.tw_engine import MAX_CONTROLS

TW: dict[str, Any] = {"engine": "trio-websocket", "proxy": None}


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({"compression": "deflate"}, "compression"),
        ({"max_fragment_size": 1000}, "max_fragment_size"),
        ({"proxy": "http://127.0.0.1:3128"}, "proxy"),
        ({"max_redirects": 3}, "max_redirects"),
        ({"handshake_hook": lambda request: None}, "handshake_hook"),
        ({"server_hostname": "ws.test"}, "server_hostname"),
        ({"unix_socket": "/tmp/x.sock"}, "unix_socket"),
        ({"stream_factory": lambda url: None}, "stream_factory"),
    ],
)
def test_tw_engine_refuses_options_it_cannot_honour(options: dict[str, Any], option: str) -> None:
    """Each option trio-websocket cannot honour raises at construction, naming both."""
    with pytest.raises(ValueError, match=f"engine='trio-websocket' cannot honour {option}="):
        WebSocket("ws://127.0.0.1:1/", **{**TW, **options})


async def test_tw_engine_refuses_http2() -> None:
    """http2= is refused with the trio-websocket engine, which speaks HTTP/1.1 only."""
    async with open_h2_pool() as pool:
        with pytest.raises(ValueError, match="engine='trio-websocket' cannot honour http2="):
            WebSocket("wss://127.0.0.1:1/", http2=pool, **TW)


def test_tw_engine_refuses_the_environments_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy the environment names for the URL is refused, not silently skipped."""
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with pytest.raises(ValueError, match="cannot honour the proxy the environment names"):
        WebSocket("ws://example.test/", engine="trio-websocket")
    WebSocket("ws://example.test/", engine="trio-websocket", proxy=None)  # explicit: fine


def test_engine_name_is_checked() -> None:
    """An unknown engine is refused with the list of engines."""
    with pytest.raises(ValueError, match="use 'default' or 'trio-websocket'"):
        WebSocket("ws://127.0.0.1:1/", engine="wsproto")


def test_tw_engine_refuses_on_incomplete_frame_handlers() -> None:
    """Registering on_incomplete_frame raises: trio-websocket hands out whole messages."""
    ws = WebSocket("ws://127.0.0.1:1/", **TW)
    with pytest.raises(ValueError, match="cannot honour on_incomplete_frame"):
        ws.on_incomplete_frame += lambda ws, frame: None
    assert ws.extensions is None


async def test_tw_engine_connection_refused_is_connect_error() -> None:
    """Nothing listening: on_error with a ConnectError, nothing raised."""
    with trio.socket.socket() as probe:
        await probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ws = WebSocket(f"ws://127.0.0.1:{port}/", **TW)
    rec = Recorder(ws)
    await run_to_end(ws)
    assert type(rec.error) is ConnectError
    assert ws.close_code == 1006


async def test_tw_engine_rejection_carries_status(
    websockets_server: StartWebSocketsServer,
) -> None:
    """A refused upgrade is a HandshakeRejected with the status and body."""
    ws = WebSocket(await websockets_server("reject", "403", "go away"), **TW)
    rec = Recorder(ws)
    await run_to_end(ws)
    error = rec.error
    assert type(error) is HandshakeRejected
    assert error.status == 403
    assert b"go away" in error.body


async def test_tw_engine_close_before_open_abandons() -> None:
    """close() before open(): on_error with a ConnectError, without any I/O."""
    ws = WebSocket("ws://127.0.0.1:1/", **TW)
    rec = Recorder(ws)
    ws.close()
    await run_to_end(ws)
    assert type(rec.error) is ConnectError
    assert "abandoned" in str(rec.error)


async def test_tw_engine_send_stream_sends_one_message_in_pieces(
    raw_server: StartRawServer,
) -> None:
    """send_stream() over trio-websocket: frames with FIN on the last, one message."""
    frames: list[tuple[int, bool, bytes]] = []

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        while True:
            frame = await conn.read_frame()
            if frame.opcode == Opcode.CLOSE:
                await conn.send_close(1000)
                return
            frames.append((frame.opcode, frame.fin, frame.payload))

    server = await raw_server(script)
    ws = WebSocket(server.url, **TW)

    async def on_open(ws: WebSocket) -> None:
        await ws.send_stream(["é", "tè", "xt"])
        ws.close()

    ws.on_open += on_open
    await run_to_end(ws)
    await server.wait_finished()
    assert b"".join(payload for _, _, payload in frames).decode() == "étèxt"
    assert frames[0][0] == Opcode.TEXT
    assert [fin for _, fin, _ in frames][-1] is True
    assert not any(fin for _, fin, _ in frames[:-1])


async def test_tw_engine_message_too_big_is_1009(raw_server: StartRawServer) -> None:
    """A message over max_message_size: 1009 goes out, on_error has MessageTooBig."""
    seen: list[int | None] = []

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        await conn.send_binary(b"x" * 2000)
        seen.append((await conn.read_close())[0])

    server = await raw_server(script)
    ws = WebSocket(server.url, max_message_size=1000, **TW)
    rec = Recorder(ws)
    await run_to_end(ws)
    await server.wait_finished()
    assert seen == [1009]
    assert type(rec.error) is MessageTooBig
    assert ws.close_code == 1009


async def test_tw_engine_keepalive_timeout_closes_1011(raw_server: StartRawServer) -> None:
    """A server that never answers the keepalive ping: KeepaliveTimeout, 1011 on the wire."""
    seen: list[int | None] = []

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        while (frame := await conn.read_frame()).opcode == Opcode.PING:
            pass  # no pong, no other frame
        seen.append(int.from_bytes(frame.payload[:2], "big"))

    server = await raw_server(script)
    ws = WebSocket(server.url, ping_interval=0.1, ping_timeout=0.2, **TW)
    rec = Recorder(ws)
    await run_to_end(ws)
    await server.wait_finished()
    assert type(rec.error) is KeepaliveTimeout
    assert seen == [1011]


async def test_tw_engine_ping_flood_is_bounded(raw_server: StartRawServer) -> None:
    """Pings arriving faster than a slow on_ping handler takes them: at most MAX_CONTROLS
    wait, then the connection fails with 1008; memory stays bounded meanwhile."""
    seen: list[int | None] = []
    flood = MAX_CONTROLS + 64

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        await conn.send_raw(build_frame(Opcode.PING, b"p" * 125) * flood)
        while (frame := await conn.read_frame()).opcode != Opcode.CLOSE:
            pass  # the pongs trio-websocket sends
        seen.append(int.from_bytes(frame.payload[:2], "big"))

    server = await raw_server(script)
    ws = WebSocket(server.url, **TW)
    rec = Recorder(ws)
    queued: list[int] = []

    async def slow(ws: WebSocket, payload: bytes) -> None:
        queued.append(len(ws._engine._controls))  # type: ignore[attr-defined]
        await trio.sleep(0.01)

    ws.on_ping += slow
    peak = await run_to_end_traced(ws)
    await server.wait_finished()
    assert seen == [1008]
    assert type(rec.error) is ProtocolError
    assert max(queued) <= MAX_CONTROLS
    assert peak < 4 * 2**20  # the flood is ~40 KiB on the wire; what is held stays far below 4 MiB


async def test_adopted_connection_is_adopted_once(nursery: trio.Nursery, echo_url: str) -> None:
    """A connection runs the events of one instance; a second adoption is refused."""
    conn = await trio_websocket.connect_websocket_url(nursery, echo_url)
    WebSocket.from_trio_websocket(conn)
    with pytest.raises(TypeError, match="adopt a connection once"):
        WebSocket.from_trio_websocket(conn)
    await conn.aclose()


def test_adopt_takes_a_trio_websocket_connection() -> None:
    """Anything else is refused with the type it got."""
    with pytest.raises(TypeError, match=r"takes a trio_websocket\.WebSocketConnection, got str"):
        WebSocket.from_trio_websocket("ws://x/")  # type: ignore[arg-type]


async def test_adopted_connection_open_fires_on_open_at_once(
    nursery: trio.Nursery, echo_url: str
) -> None:
    """open() on an adopted connection fires on_open without any handshake of ours."""
    conn = await trio_websocket.connect_websocket_url(nursery, echo_url, subprotocols=[])
    ws = WebSocket.from_trio_websocket(conn, ping_interval=None)
    rec = Recorder(ws)
    ws.on_open += lambda ws: ws.close(4000, "at once")
    await run_to_end(ws)
    assert rec.events == [("open",), ("closed", 4000, "at once")]
    assert ws.url.startswith("ws://127.0.0.1:")
    assert ws.remote_address is not None
