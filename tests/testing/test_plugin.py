"""The pytest plugin's fixtures and the scripted server of ``trio_ws_events.testing``."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio
from recorder import Recorder

from trio_ws_events import (
    CloseTimeout,
    ConnectionLost,
    Frame,
    HandshakeRejected,
    KeepaliveTimeout,
    ProtocolError,
    WebSocket,
    testing,
)
from trio_ws_events import pytest_plugin as old_plugin_path
from trio_ws_events._sansio.frames import (
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    RSV1,
    apply_mask,
    encode_frame,
)
from trio_ws_events.testing import (
    ClientClosed,
    ProtocolViolation,
    ScriptedServer,
    ScriptedServerFactory,
    UpgradeRequest,
    open_scripted_server,
    pytest_plugin,
)

#: Every scenario here takes milliseconds; past this something hangs.
TIMEOUT = 10.0


def _client(url: str, **options: object) -> tuple[WebSocket, Recorder]:
    ws = WebSocket(url, **options)  # type: ignore[arg-type]
    return ws, Recorder(ws)


@asynccontextmanager
async def _running(url: str, **options: object) -> AsyncIterator[tuple[WebSocket, Recorder]]:
    """A recorded WebSocket to ``url``, opened in a nursery for the block; leaving the block
    waits for its end, all within ``TIMEOUT``."""
    ws, events = _client(url, **options)
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            ws.open(nursery)
            yield ws, events


# --- the plugin itself --------------------------------------------------------------------------


def test_plugin_is_registered_by_its_entry_point(pytestconfig: pytest.Config) -> None:
    """Installing the package registers the plugin under the name ``trio_ws_events``."""
    assert pytestconfig.pluginmanager.get_plugin("trio_ws_events") is pytest_plugin


def test_plugin_old_module_path_reexports_the_plugin() -> None:
    """``trio_ws_events.pytest_plugin`` offers the same fixtures and names as the plugin."""
    for name in old_plugin_path.__all__:
        assert getattr(old_plugin_path, name) is getattr(pytest_plugin, name), name
    assert set(old_plugin_path.__all__) >= set(pytest_plugin.__all__)


def test_testing_handshake_request_is_an_alias_of_upgrade_request() -> None:
    """The scripted server's request kept its first name, distinct from the hook's class."""
    import trio_ws_events

    assert testing.HandshakeRequest is UpgradeRequest
    assert UpgradeRequest.__module__ == "trio_ws_events.testing"
    assert trio_ws_events.HandshakeRequest.__name__ == "HandshakeRequest"  # the hook's own class
    assert not issubclass(trio_ws_events.HandshakeRequest, UpgradeRequest)


async def test_ws_echo_server_echoes(ws_echo_server: str) -> None:
    """``ws_echo_server`` is the URL of a working echo server."""
    ws, events = _client(ws_echo_server)

    @ws.on_open
    def send_both(ws: WebSocket) -> None:
        ws.send("hi")
        ws.send(b"\x00\x01")

    ws.on_binary += lambda ws, data: ws.close(4000, "done")
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            ws.open(nursery)
    assert events.events == [
        ("open",),
        ("message", "hi"),
        ("binary", b"\x00\x01"),
        ("closed", 4000, "done"),
    ]


# --- the scripted server, through the ws_server fixture -----------------------------------------


async def test_ws_server_exchange_and_client_close(ws_server: ScriptedServerFactory) -> None:
    """Messages both ways, then the client's close is answered and reported by receive()."""
    server = ws_server()
    assert server.url.startswith("ws://127.0.0.1:")
    async with _running(server.url + "chat?room=1", protocols=["v2", "v1"]) as (ws, events):
        ws.on_message += lambda ws, message: ws.send(message.upper())
        conn = await server.accept("v1", headers=[("X-Served-By", "test")])
        assert isinstance(conn.request, UpgradeRequest)
        assert conn.request.path == "/chat?room=1"
        assert conn.request.subprotocols == ["v2", "v1"]
        assert conn.request.header("SEC-WEBSOCKET-VERSION") == "13"
        await conn.send("hello")
        await conn.send(b"\xff")
        assert await conn.receive() == "HELLO"
        ws.close(1000, "bye")
        with pytest.raises(ClientClosed) as closed:
            await conn.receive()
    assert (closed.value.code, closed.value.reason) == (1000, "bye")
    assert conn.client_close == (1000, "bye")
    assert ws.subprotocol == "v1"
    assert ("x-served-by", "test") in ws.response_headers
    assert events.events == [
        ("open",),
        ("message", "hello"),
        ("binary", b"\xff"),
        ("closed", 1000, "bye"),
    ]


@pytest.mark.parametrize(("code", "expected"), [(4000, (4000, "going")), (None, (1005, ""))])
async def test_ws_server_close(
    ws_server: ScriptedServerFactory, code: int | None, expected: tuple[int, str]
) -> None:
    """The server closes with a code (or none: 1005); close() returns the client's answer."""
    server = ws_server()
    async with _running(server.url) as (_, events):
        conn = await server.accept()
        answer = await conn.close(code, "going" if code else "")
    assert answer == expected
    assert events.events == [("open",), ("closed", *expected)]


@pytest.mark.parametrize("reset", [False, True])
async def test_ws_server_drop(ws_server: ScriptedServerFactory, reset: bool) -> None:
    """drop() ends TCP without a close frame: the client reports ConnectionLost (1006)."""
    server = ws_server()
    async with _running(server.url) as (_, events):
        conn = await server.accept()
        await conn.drop(reset=reset)
    assert isinstance(events.error, ConnectionLost)
    assert conn.client_close == (1006, "")
    with pytest.raises(ClientClosed):
        await conn.send("too late")


async def test_ws_server_reject(ws_server: ScriptedServerFactory) -> None:
    """reject() answers the handshake with a status and a body."""
    server = ws_server()
    async with _running(server.url + "private") as (_, events):
        request = await server.reject(403, b"members only", headers=[("X-Why", "test")])
    assert request.path == "/private"
    error = events.error
    assert isinstance(error, HandshakeRejected)
    assert (error.status, error.body) == (403, b"members only")
    assert ("x-why", "test") in error.headers


async def test_ws_server_never_answering_close(ws_server: ScriptedServerFactory) -> None:
    """With answer_close=False the client's close_timeout runs out; the frame is still seen."""
    server = ws_server()
    async with _running(server.url, close_timeout=0.2) as (ws, events):
        ws.on_open += lambda ws: ws.close(4001, "leaving")
        conn = await server.accept(answer_close=False)
        assert await conn.wait_closed() == (4001, "leaving")
    assert isinstance(events.error, CloseTimeout)


async def test_ws_server_not_answering_pings(ws_server: ScriptedServerFactory) -> None:
    """With answer_pings=False the client's keepalive gives up."""
    server = ws_server()
    options = {"ping_interval": 0.05, "ping_timeout": 0.1, "close_timeout": 0.2}
    async with _running(server.url, **options) as (_, events):
        await server.accept(answer_pings=False)
    assert isinstance(events.error, KeepaliveTimeout)


async def test_ws_server_ping_and_fragments(ws_server: ScriptedServerFactory) -> None:
    """ping() waits for the pong; send_fragmented() arrives in pieces or whole."""
    server = ws_server()
    async with _running(server.url) as (ws, events):
        pieces: list[Frame] = []
        conn = await server.accept()
        await conn.ping(b"are you there")
        await conn.send_fragmented(["ab", "cd"])
        await conn.ping(b"handled")  # the client read the message before the pong
        ws.on_incomplete_frame += lambda ws, frame: pieces.append(frame)
        await conn.send_fragmented([b"\x01", b"\x02"])
        await conn.close()
    assert events.messages == ["abcd"]
    assert pieces == [Frame(b"\x01", False, False), Frame(b"\x02", False, True)]
    with pytest.raises(ValueError, match="at least one"):
        await conn.send_fragmented([])
    with pytest.raises(TypeError, match="all str or all bytes"):
        await conn.send_fragmented(["a", b"b"])


async def test_ws_server_raw_bytes(ws_server: ScriptedServerFactory) -> None:
    """send_raw() can break the protocol: a masked frame from a server is a 1002."""
    server = ws_server()
    async with _running(server.url) as (_, events):
        conn = await server.accept()
        await conn.send_raw(bytes([0x81, 0x81, 1, 2, 3, 4, ord("x") ^ 1]))
        assert (await conn.wait_closed())[0] == 1002
    assert isinstance(events.error, ProtocolError)


async def test_ws_server_several_connections_in_order(ws_server: ScriptedServerFactory) -> None:
    """Clients wait for accept(), which takes them in arrival order."""
    server = ws_server()
    first, first_events = _client(server.url + "1")
    second, second_events = _client(server.url + "2")
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            first.open(nursery)
            await trio.sleep(0.05)
            second.open(nursery)
            for expected in ("/1", "/2"):
                conn = await server.accept()
                assert conn.request.path == expected
                await conn.close(4000 + int(expected[1]))
    assert first_events.events[-1] == ("closed", 4001, "")
    assert second_events.events[-1] == ("closed", 4002, "")


# --- the scripted server on its own -------------------------------------------------------------


async def _raw_client(server: ScriptedServer) -> trio.SocketStream:
    """A TCP client that completed its handshake with ``server``, by hand."""
    port = int(server.url.rsplit(":", 1)[1].strip("/"))
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    await stream.send_all(
        f"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    await server.accept()
    response = await stream.receive_some()
    assert response.startswith(b"HTTP/1.1 101 ")
    assert b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in response  # RFC 6455's own example
    return stream


async def test_open_scripted_server_fails_on_client_violation() -> None:
    """A client that sends an unmasked frame gets a 1002 and fails the server's block."""
    with pytest.raises(ProtocolViolation, match="not masked"), trio.fail_after(TIMEOUT):
        async with open_scripted_server() as server:
            stream = await _raw_client(server)
            await stream.send_all(b"\x81\x01x")  # unmasked
            close = await stream.receive_some()
            assert close[:4] == b"\x88\x02\x03\xea"  # close 1002
            await trio.sleep_forever()


@pytest.mark.parametrize(
    ("frame", "code", "match"),
    [
        (encode_frame(OP_CLOSE, b"\x03\xed", mask=b"abcd"), 1002, "invalid code 1005"),
        (encode_frame(OP_CLOSE, b"\x03", mask=b"abcd"), 1002, "1-byte payload"),
        (encode_frame(OP_CLOSE, b"\x03\xe8\xff", mask=b"abcd"), 1007, "invalid UTF-8"),
        (b"\x81\xfe\x00\x01abcd" + apply_mask(b"x", b"abcd"), 1002, "minimally encoded"),
        (encode_frame(0x3, b"", mask=b"abcd"), 1002, "reserved opcode"),
        (encode_frame(OP_PING, b"", fin=False, mask=b"abcd"), 1002, "fragmented"),
        (encode_frame(OP_BINARY, b"", rsv=RSV1, mask=b"abcd"), 1002, "reserved bits"),
    ],
)
async def test_scripted_server_fails_on_a_broken_client_frame(
    frame: bytes, code: int, match: str
) -> None:
    """Each rule of RFC 6455 a client frame breaks closes with its code and fails the block."""
    with pytest.raises(ProtocolViolation, match=match) as caught, trio.fail_after(TIMEOUT):
        async with open_scripted_server() as server:
            stream = await _raw_client(server)
            await stream.send_all(frame)
            close = await stream.receive_some()
            assert close[:4] == b"\x88\x02" + code.to_bytes(2, "big")
            await trio.sleep_forever()
    assert caught.value.code == code


async def test_scripted_server_answers_bad_requests_with_400() -> None:
    """A request that is not a WebSocket upgrade is refused without bothering the test."""
    async with open_scripted_server() as server:
        port = int(server.url.rsplit(":", 1)[1].strip("/"))
        with trio.fail_after(TIMEOUT):
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            await stream.send_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert (await stream.receive_some()).startswith(b"HTTP/1.1 400 ")


def test_scripted_server_port_in_use() -> None:
    """Binding a busy port raises OSError at construction."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(OSError):  # noqa: PT011 - any bind error
            ScriptedServer("127.0.0.1", busy.getsockname()[1])
