"""Closing: close frame payloads, the echo, data after the close, and TCP dropped at every stage.

Autobahn 7.x (close handling) plus the abnormal endings of RFC 6455 7.1.5 (1006).
"""

from __future__ import annotations

import pytest
from conftest import StartRawServer
from peers.raw_server import (
    Frame,
    Opcode,
    RawConnection,
    build_frame,
    close_payload,
    read_until_close,
)

from conformance.harness import ServerScript, close_wire, failed_with, play
from trio_ws_events import ConnectError, ConnectionLost, WebSocket


def _send_then_read(wire: bytes, *, answer: bool = True) -> ServerScript:
    async def script(conn: RawConnection) -> list[Frame]:
        await conn.accept_handshake()
        await conn.send_raw(wire)
        return await read_until_close(conn, answer=answer)

    return script


@pytest.mark.parametrize("byte", [b"\x00", b"\x03", b"\xe8", b"\xff"])
async def test_close_with_1_byte_payload_is_1002(raw_server: StartRawServer, byte: bytes) -> None:
    """A close payload must be empty or hold a 2-byte code: one byte is 1002 (Autobahn 7.3.2)."""
    out = await play(raw_server, _send_then_read(build_frame(Opcode.CLOSE, byte)))
    failed_with(out, 1002)


_INVALID_CODES = [0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]


@pytest.mark.parametrize("code", _INVALID_CODES)
async def test_close_with_invalid_code_is_1002(raw_server: StartRawServer, code: int) -> None:
    """Codes the server may not send (RFC 6455 7.4, Autobahn 7.9.x) fail with 1002."""
    out = await play(raw_server, _send_then_read(build_frame(Opcode.CLOSE, close_payload(code))))
    failed_with(out, 1002)
    assert str(code) in str(out.error)


_VALID_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014]
_VALID_CODES += [3000, 3999, 4000, 4999]


@pytest.mark.parametrize("code", _VALID_CODES)
async def test_server_close_answered_with_same_code(raw_server: StartRawServer, code: int) -> None:
    """The server's close is answered with its own code, then on_closed (Autobahn 7.7.x)."""
    reason = f"reason for {code}"
    out = await play(
        raw_server,
        _send_then_read(build_frame(Opcode.CLOSE, close_payload(code, reason)), answer=False),
    )
    assert out.events == [("open",), ("closed", code, reason)]
    assert out.frames[-1].close_code == code
    assert len(out.frames) == 1
    assert (out.ws.close_code, out.ws.close_reason) == (code, reason)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"", (1005, "")),
        (close_payload(1000), (1000, "")),
        (close_payload(1000, "é" * 61 + "x"), (1000, "é" * 61 + "x")),  # 123 bytes of reason
    ],
    ids=["empty", "code-only", "123-byte-reason"],
)
async def test_server_close_payload_shapes(
    raw_server: StartRawServer, payload: bytes, expected: tuple[int, str]
) -> None:
    """Empty (reported as 1005, echoed empty), code only, and the longest reason (7.1.x)."""
    out = await play(raw_server, _send_then_read(build_frame(Opcode.CLOSE, payload), answer=False))
    assert out.events == [("open",), ("closed", *expected)]
    assert out.frames[-1].close_code == (None if expected[0] == 1005 else expected[0])


@pytest.mark.parametrize(("sent", "answered"), [(1000, 1000), (4321, 4321), (1001, 1000)])
async def test_client_close_reports_what_the_server_answered(
    raw_server: StartRawServer, sent: int, answered: int
) -> None:
    """The client's close: on_closed gets the server's answer, whatever it echoed."""

    async def script(conn: RawConnection) -> list[Frame]:
        await conn.accept_handshake()
        frames = await read_until_close(conn, answer=False)
        await conn.send_close(answered, "answer")
        return frames

    out = await play(
        raw_server, script, setup=lambda ws: ws.on_open(lambda ws: ws.close(sent, "bye"))
    )
    assert out.wire == [close_wire(sent, "bye")]
    assert out.events == [("open",), ("closed", answered, "answer")]


@pytest.mark.parametrize("same_write", [True, False], ids=["same-write", "later-writes"])
async def test_data_after_server_close_is_ignored(
    raw_server: StartRawServer, same_write: bool
) -> None:
    """After the server's close, frames (even invalid ones) fire nothing and get no answer."""
    close = build_frame(Opcode.CLOSE, close_payload(1000, "done"))
    after = [
        build_frame(Opcode.TEXT, b"late"),
        build_frame(Opcode.PING, b"late ping"),
        build_frame(Opcode.BINARY, b"\x00"),
        build_frame(7, b"reserved"),  # would be a violation before the close
        b"\xff\xff garbage",
    ]

    async def script(conn: RawConnection) -> list[Frame]:
        await conn.accept_handshake()
        if same_write:
            await conn.send_raw(close + b"".join(after))
        else:
            await conn.send_raw(close)
            for data in after:
                await conn.send_raw(data)
        return await read_until_close(conn, answer=False)

    out = await play(raw_server, script)
    assert out.events == [("open",), ("closed", 1000, "done")]
    assert out.wire == [close_wire(1000, "done")]


async def test_close_in_the_middle_of_a_fragmented_message(raw_server: StartRawServer) -> None:
    """A close between fragments ends the exchange; the unfinished message is not delivered."""
    wire = build_frame(Opcode.TEXT, b"unfinished", fin=False) + build_frame(
        Opcode.CLOSE, close_payload(1001)
    )
    out = await play(raw_server, _send_then_read(wire, answer=False))
    assert out.events == [("open",), ("closed", 1001, "")]


# ---------------------------------------------------------------- TCP dropped at every stage

_HEAD = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConn"
_STAGES = {
    # stage: (what the server sends before dropping, is the handshake complete)
    "before-response": (b"", False),
    "mid-status-line": (b"HTTP/1.1 10", False),
    "mid-response-head": (_HEAD, False),
    "after-handshake": (None, True),
    "mid-header-1-byte": (b"\x82", True),
    "mid-extended-length-16": (b"\x82\x7e\x01", True),
    "mid-extended-length-64": (b"\x82\x7f\x00\x00\x00", True),
    "mid-payload": (build_frame(Opcode.BINARY, b"x" * 100, declared_length=1000), True),
    "mid-payload-64bit": (build_frame(Opcode.BINARY, bytes(70000), declared_length=80000), True),
    "between-fragments": (build_frame(Opcode.TEXT, b"first", fin=False), True),
    "mid-close-frame": (build_frame(Opcode.CLOSE, close_payload(1000, "bye"))[:4], True),
}


@pytest.mark.parametrize("reset", [False, True], ids=["fin", "rst"])
@pytest.mark.parametrize("stage", list(_STAGES))
async def test_tcp_dropped_without_close_frame(
    raw_server: StartRawServer, stage: str, reset: bool
) -> None:
    """TCP ends (FIN or RST) anywhere before a close frame: ConnectError or ConnectionLost, 1006."""
    data, handshake = _STAGES[stage]

    async def script(conn: RawConnection) -> list[Frame]:
        if handshake:
            await conn.accept_handshake()
        if data:
            await conn.send_raw(data)
        await conn.drop(reset=reset)
        return []

    out = await play(raw_server, script)
    if handshake:
        assert out.events == [("open",), ("error", ConnectionLost, 1006)]
    else:
        assert out.events == [("error", ConnectError, 1006)]
    assert (out.ws.close_code, out.ws.close_reason) == (1006, "")
    assert out.error.url == out.ws.url


async def test_tcp_dropped_after_a_whole_message_delivers_it_first(
    raw_server: StartRawServer,
) -> None:
    """A message and the end of TCP in one write: the message fires, then ConnectionLost."""

    async def script(conn: RawConnection) -> list[Frame]:
        await conn.accept_handshake()
        await conn.send_raw(build_frame(Opcode.TEXT, b"last words"))
        await conn.drop()
        return []

    out = await play(raw_server, script)
    assert out.events == [("open",), ("message", "last words"), ("error", ConnectionLost, 1006)]


@pytest.mark.parametrize("reset", [False, True], ids=["fin", "rst"])
async def test_tcp_dropped_right_after_server_close(
    raw_server: StartRawServer, reset: bool
) -> None:
    """The server closes and drops TCP at once: its close still counts, on_closed with its code."""

    async def script(conn: RawConnection) -> list[Frame]:
        await conn.accept_handshake()
        await conn.send_close(4001, "gone")
        await conn.drop(reset=reset)
        return []

    out = await play(raw_server, script)
    assert out.events == [("open",), ("closed", 4001, "gone")]


@pytest.mark.parametrize("reset", [False, True], ids=["fin", "rst"])
async def test_tcp_dropped_after_client_close(raw_server: StartRawServer, reset: bool) -> None:
    """The server reads the client's close and drops TCP without answering: ConnectionLost,
    and close_code is the code the client sent."""

    async def script(conn: RawConnection) -> list[Frame]:
        await conn.accept_handshake()
        frames = await read_until_close(conn, answer=False)
        await conn.drop(reset=reset)
        return frames

    def setup(ws: WebSocket) -> None:
        ws.on_open(lambda ws: ws.close(1000, "bye"))

    out = await play(raw_server, script, setup=setup)
    assert out.wire == [close_wire(1000, "bye")]
    assert out.events == [("open",), ("error", ConnectionLost, 1000)]
    assert (out.ws.close_code, out.ws.close_reason) == (1000, "bye")


@pytest.mark.parametrize("reset", [False, True], ids=["fin", "rst"])
async def test_tcp_dropped_after_the_failing_close(raw_server: StartRawServer, reset: bool) -> None:
    """After a violation the client's 1002 goes out; a server that drops then changes nothing."""

    async def script(conn: RawConnection) -> list[Frame]:
        await conn.accept_handshake()
        await conn.send_raw(build_frame(3, b""))
        frames = await read_until_close(conn, answer=False)
        await conn.drop(reset=reset)
        return frames

    failed_with(await play(raw_server, script), 1002)
