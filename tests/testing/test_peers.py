"""The test peers themselves: frame codec, raw server, websockets subprocess, echo server."""

from __future__ import annotations

import base64
import os

import pytest
import trio
import trio_websocket
from peers.raw_server import (
    Frame,
    Opcode,
    RawConnection,
    StartRawServer,
    accept_key,
    build_frame,
    close_payload,
    parse_frame,
)
from peers.websockets_server import StartWebSocketsServer

from trio_ws_events._sansio.frames import FrameError
from trio_ws_events.testing import open_echo_server

MiB = 2**20


# --- frame codec -------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 125, 126, 0xFFFF, 0x10000])
@pytest.mark.parametrize("mask", [False, True])
def test_build_frame_parse_frame_round_trip(size: int, mask: bool) -> None:
    """A frame built by build_frame parses back to the same opcode, payload and bits."""
    payload = os.urandom(size)
    data = build_frame(Opcode.BINARY, payload, fin=False, rsv=0b101, mask=mask)
    parsed = parse_frame(data + b"next")
    assert parsed == (Frame(Opcode.BINARY, payload, fin=False, rsv=5, masked=mask), len(data))


@pytest.mark.parametrize(
    ("form", "header"), [(16, b"\x81\x7e\x00\x02"), (64, b"\x81\x7f" + bytes(7) + b"\x02")]
)
def test_build_frame_non_minimal_length(form: int, header: bytes) -> None:
    """length_form forces a longer length encoding than the payload needs; no reader takes it."""
    data = build_frame(Opcode.TEXT, b"hi", length_form=form)  # type: ignore[arg-type]
    assert data == header + b"hi"
    with pytest.raises(FrameError, match="length"):
        parse_frame(data)


def test_build_frame_declared_length_announces_missing_bytes() -> None:
    """declared_length writes a length the payload does not fill; the parser then waits."""
    data = build_frame(Opcode.BINARY, b"abc", declared_length=10)
    assert data == b"\x82\x0aabc"
    assert parse_frame(data) is None


def test_parse_frame_incomplete_header() -> None:
    """Fewer bytes than the header needs parse to None."""
    assert parse_frame(b"\x81") is None
    assert parse_frame(b"\x81\x7e\x00") is None
    assert parse_frame(b"\x81\xfe\x00\x7eab") is None  # the mask key is cut short


def test_close_frame_code_and_reason() -> None:
    """close_payload and Frame.close_code/close_reason agree; an empty payload has no code."""
    frame = Frame(Opcode.CLOSE, close_payload(4001, "bye"))
    assert (frame.close_code, frame.close_reason) == (4001, "bye")
    assert Frame(Opcode.CLOSE, close_payload(None)).close_code is None


def test_accept_key_matches_rfc_6455_example() -> None:
    """The handshake answer is the one worked out in RFC 6455 section 1.3."""
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


# --- raw server ----------------------------------------------------------------------------


async def test_raw_server_handshake_echo_and_close(raw_server: StartRawServer) -> None:
    """The raw server completes a handshake with trio-websocket and reads its frames."""
    seen: list[object] = []

    async def script(conn: RawConnection) -> None:
        seen.append(conn.path)
        await conn.accept_handshake()
        message = await conn.read_message()
        assert isinstance(message, str)
        seen.append(message)
        await conn.send_text(f"echo: {message}")
        seen.append(await conn.read_close())
        await conn.send_close(4001, "later")
        await conn.wait_eof()

    server = await raw_server(script)
    async with trio_websocket.open_websocket_url(server.url + "chat?x=1") as ws:
        await ws.send_message("hello")
        assert await ws.get_message() == "echo: hello"
    await server.wait_finished()
    assert seen == ["/chat?x=1", "hello", (1000, "")]
    assert ws.closed is not None
    assert (ws.closed.code, ws.closed.reason) == (4001, "later")


async def test_raw_server_reject(raw_server: StartRawServer) -> None:
    """reject() answers the upgrade with the given status, headers and body."""

    async def script(conn: RawConnection) -> None:
        await conn.reject(403, b"go away", [("X-Why", "test")])

    server = await raw_server(script)
    with pytest.raises(trio_websocket.ConnectionRejected) as caught:
        async with trio_websocket.open_websocket_url(server.url):
            pass  # pragma: no cover
    assert caught.value.status_code == 403
    assert caught.value.body == b"go away"
    assert caught.value.headers is not None
    assert (b"x-why", b"test") in caught.value.headers
    await server.wait_finished()


async def test_raw_server_never_answer(raw_server: StartRawServer) -> None:
    """never_answer() sends nothing, and returns once the client closes the connection."""

    async def script(conn: RawConnection) -> None:
        await conn.never_answer()

    server = await raw_server(script)
    stream = await trio.open_tcp_stream("127.0.0.1", server.port)
    async with stream:
        await stream.send_all(_upgrade_request(server.port, "dGhlIHNhbXBsZSBub25jZQ=="))
        with trio.move_on_after(0.3) as waited:
            await stream.receive_some()
        assert waited.cancelled_caught
    await server.wait_finished()
    assert server.connections[0].header("sec-websocket-key") == "dGhlIHNhbXBsZSBub25jZQ=="


@pytest.mark.parametrize("reset", [False, True])
async def test_raw_server_drop(raw_server: StartRawServer, reset: bool) -> None:
    """drop() ends the TCP connection with no close frame: the client sees 1006."""

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        await conn.send_raw(build_frame(Opcode.BINARY, b"part", declared_length=100))
        await conn.drop(reset=reset)

    server = await raw_server(script)
    assert (await _close_reason(server.url)).code == 1006
    await server.wait_finished()


async def test_raw_server_sends_masked_frame(raw_server: StartRawServer) -> None:
    """A masked server frame goes out as built.

    It also pins the gap the issue describes: trio-websocket reports 1002 locally but sends
    no close frame, which is why trio_ws_events must send it itself.
    """
    after: list[bytes] = []

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        await conn.send_frame(Opcode.TEXT, b"masked", mask=True)
        with trio.move_on_after(0.3):
            after.append(await conn.stream.receive_some())
        await conn.drop()

    server = await raw_server(script)
    assert (await _close_reason(server.url)).code == 1002
    await server.wait_finished()
    assert after == []


async def test_raw_server_wait_finished_times_out(raw_server: StartRawServer) -> None:
    """wait_finished is bounded by the server's timeout when no client comes."""
    server = await raw_server(RawConnection.never_answer, script_timeout=0.1)
    with pytest.raises(trio.TooSlowError):
        await server.wait_finished()


# --- echo server (trio-websocket, in-process) ------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, MiB, MiB + 1, 3 * MiB])
async def test_echo_server_round_trips(echo_url: str, size: int) -> None:
    """Text comes back as text and binary as binary, beyond trio-websocket's 1 MiB default."""
    async with trio_websocket.open_websocket_url(echo_url, max_message_size=4 * MiB) as ws:
        text = "é" * (size // 2)
        data = os.urandom(size)
        await ws.send_message(text)
        await ws.send_message(data)
        assert await ws.get_message() == text
        assert await ws.get_message() == data


async def test_echo_server_selects_first_subprotocol(echo_url: str) -> None:
    """The echo server picks the first subprotocol the client proposes."""
    async with trio_websocket.open_websocket_url(echo_url, subprotocols=["chat", "v2"]) as ws:
        assert ws.subprotocol == "chat"


@pytest.mark.parametrize(
    ("payload", "expected"),
    [(close_payload(4001, "bye"), (4001, "bye")), (b"", (None, ""))],
)
async def test_echo_server_echoes_close_on_the_wire(
    echo_url: str, payload: bytes, expected: tuple[int | None, str]
) -> None:
    """The echo server answers a client's close frame with the same code and reason."""
    port = int(echo_url.rsplit(":", 1)[1].strip("/"))
    with trio.fail_after(10):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            key = base64.b64encode(os.urandom(16)).decode()
            await stream.send_all(_upgrade_request(port, key))
            head, rest = await _read_response_head(stream)
            assert head.startswith(b"HTTP/1.1 101 ")
            assert f"\r\nSec-WebSocket-Accept: {accept_key(key)}".encode() in head
            await stream.send_all(build_frame(Opcode.CLOSE, payload, mask=True))
            reply = await _read_frame(stream, rest)
            assert reply.opcode == Opcode.CLOSE
            assert not reply.masked
            assert (reply.close_code, reply.close_reason) == expected
            # The server then closes the TCP connection.
            assert await stream.receive_some() == b""


async def test_open_echo_server_body_error_is_not_wrapped() -> None:
    """An exception raised in the block comes out as itself, not in an exception group."""

    async def body() -> None:
        async with open_echo_server() as url:
            assert url.startswith("ws://127.0.0.1:")
            raise KeyError("boom")

    with pytest.raises(KeyError):
        await body()


async def test_open_echo_server_bind_error_is_oserror(echo_url: str) -> None:
    """A port already in use raises OSError from open_echo_server."""
    port = int(echo_url.rsplit(":", 1)[1].strip("/"))
    with pytest.raises(OSError):  # noqa: PT011 (the errno differs between platforms)
        async with open_echo_server(port=port):
            pass  # pragma: no cover


# --- websockets server (subprocess) -------------------------------------------------------------


async def test_websockets_server_echo(websockets_server: StartWebSocketsServer) -> None:
    """The websockets peer echoes text and binary, and the client's close code and reason."""
    url = await websockets_server("echo")
    async with trio_websocket.open_websocket_url(url, max_message_size=2 * MiB) as ws:
        data = os.urandom(MiB)
        await ws.send_message("hi")
        await ws.send_message(data)
        assert await ws.get_message() == "hi"
        assert await ws.get_message() == data
        await ws.aclose(4002, "client says bye")
    assert ws.closed is not None
    assert (ws.closed.code, ws.closed.reason) == (4002, "client says bye")


async def test_websockets_server_close_mode(websockets_server: StartWebSocketsServer) -> None:
    """In ``close`` mode the websockets peer closes first with the given code and reason."""
    url = await websockets_server("close", "4321", "server says bye")
    reason = await _close_reason(url)
    assert (reason.code, reason.reason) == (4321, "server says bye")


async def test_websockets_server_close_after_first(
    websockets_server: StartWebSocketsServer,
) -> None:
    """In ``close-after-first`` mode the peer echoes one message, then closes with 4000."""
    url = await websockets_server("close-after-first")
    async with trio_websocket.open_websocket_url(url) as ws:
        await ws.send_message(b"one")
        assert await ws.get_message() == b"one"
        with pytest.raises(trio_websocket.ConnectionClosed) as caught:
            await ws.get_message()
    assert (_reason(caught.value).code, _reason(caught.value).reason) == (4000, "done")


async def test_websockets_server_reject(websockets_server: StartWebSocketsServer) -> None:
    """In ``reject`` mode the peer refuses the upgrade with the status and body given."""
    url = await websockets_server("reject", "403", "no", "entry")
    with pytest.raises(trio_websocket.ConnectionRejected) as caught:
        async with trio_websocket.open_websocket_url(url):
            pass  # pragma: no cover
    assert caught.value.status_code == 403
    assert caught.value.body == b"no entry"


# --- helpers ---------------------------------------------------------------------------------


def _reason(error: trio_websocket.ConnectionClosed) -> trio_websocket.CloseReason:
    assert error.reason is not None
    return error.reason


async def _close_reason(url: str) -> trio_websocket.CloseReason:
    """Connect trio-websocket to ``url`` and wait for the connection to close (no message may
    come first); return how it closed."""
    async with trio_websocket.open_websocket_url(url) as ws:
        with pytest.raises(trio_websocket.ConnectionClosed) as caught:
            await ws.get_message()
    return _reason(caught.value)


def _upgrade_request(port: int, key: str) -> bytes:
    lines = [
        "GET / HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def _read_response_head(stream: trio.SocketStream) -> tuple[bytes, bytes]:
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        chunk = await stream.receive_some()
        assert chunk, f"connection closed during the handshake: {buffer!r}"
        buffer += chunk
    head, _, rest = buffer.partition(b"\r\n\r\n")
    return head, rest


async def _read_frame(stream: trio.SocketStream, buffer: bytes) -> Frame:
    while (parsed := parse_frame(buffer)) is None:
        chunk = await stream.receive_some()
        assert chunk, f"connection closed mid-frame: {buffer!r}"
        buffer += chunk
    return parsed[0]
