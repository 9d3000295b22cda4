"""Framing: payload lengths in every header form, and frames split across TCP writes.

Autobahn 1.1.x / 1.2.x (text and binary payloads of 0 to 16 MiB), 1.1.7 / 1.2.7 (chopped
into small writes) and 2.x / 5.x shapes written byte by byte.
"""

from __future__ import annotations

from typing import Literal

import pytest
from conftest import StartRawServer
from peers.raw_server import (
    Frame,
    Opcode,
    RawConnection,
    build_frame,
    read_until_close,
    send_pieces,
    trickle,
)

from conformance.harness import close_wire, fragments, play, utf8_text
from trio_ws_events import ProtocolError

MiB = 2**20
Form = Literal[7, 16, 64]


def _minimal(size: int) -> Form:
    return 7 if size <= 125 else 16 if size <= 0xFFFF else 64


_CASES = [
    (size, form)
    for size in (0, 125, 126, 127, 65535, 65536, 16 * MiB)
    for form in (7, 16, 64)
    if form >= _minimal(size)
]


def _payload(opcode: int, size: int) -> bytes:
    return (
        utf8_text(size)
        if opcode == Opcode.TEXT
        else bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    )


@pytest.mark.parametrize("opcode", [Opcode.TEXT, Opcode.BINARY], ids=["text", "binary"])
@pytest.mark.parametrize(("size", "form"), _CASES, ids=[f"{s}B-{f}bit" for s, f in _CASES])
async def test_payload_length_forms(
    raw_server: StartRawServer, opcode: Opcode, size: int, form: Form
) -> None:
    """Minimal length forms are delivered intact and echoed; a longer form than needed is 1002."""
    payload = _payload(opcode, size)
    minimal = form == _minimal(size)

    async def script(conn: RawConnection) -> list[Frame]:
        await conn.accept_handshake()
        await conn.send_frame(opcode, payload, length_form=form)
        if minimal:
            await conn.send_close(1000)
        return await read_until_close(conn)

    out = await play(raw_server, script, max_message_size=None)
    if minimal:
        kind = "message" if opcode == Opcode.TEXT else "binary"
        assert out.rec.names == ["open", kind, "closed"]
        assert out.rec.messages == [payload.decode() if opcode == Opcode.TEXT else payload]
        assert out.wire == [close_wire(1000)]
    else:
        assert out.events == [("open",), ("error", ProtocolError, 1002)]
        assert out.wire[-1][0] == Opcode.CLOSE
        assert out.frames[-1].close_code == 1002
        assert "minimal" in str(out.error) or "64-bit" in str(out.error)


_BYTEWISE = b"".join(
    [
        build_frame(Opcode.TEXT, b""),
        build_frame(Opcode.TEXT, utf8_text(125)),
        build_frame(Opcode.BINARY, bytes(300)),
        build_frame(Opcode.PING, b"p" * 125),
        fragments(Opcode.TEXT, utf8_text(40), 7, between=build_frame(Opcode.PING, b"mid")),
        build_frame(Opcode.PONG, b"unsolicited"),
        build_frame(Opcode.CLOSE, b"\x03\xe8bye"),
    ]
)


@pytest.mark.parametrize("step", [1, 2, 3, 5, 7])
async def test_frames_split_across_writes(raw_server: StartRawServer, step: int) -> None:
    """Every frame kind written ``step`` bytes at a time parses exactly as if written whole."""

    async def script(conn: RawConnection) -> list[Frame]:
        await conn.accept_handshake()
        await trickle(conn, _BYTEWISE, step)
        return await read_until_close(conn, answer=False)

    out = await play(raw_server, script)
    assert out.events == [
        ("open",),
        ("message", ""),
        ("message", utf8_text(125).decode()),
        ("binary", bytes(300)),
        ("message", utf8_text(40).decode()),
        ("closed", 1000, "bye"),
    ]
    assert out.wire == [
        (Opcode.PONG, b"p" * 125),
        *[(Opcode.PONG, b"mid")] * 5,
        close_wire(1000, "bye"),
    ]


async def test_64bit_header_split_byte_by_byte(raw_server: StartRawServer) -> None:
    """A 64-bit length header arriving one byte per read, then its 1 MiB payload in chops."""
    payload = bytes(range(256)) * 4096
    wire = build_frame(Opcode.BINARY, payload)

    async def script(conn: RawConnection) -> list[Frame]:
        await conn.accept_handshake()
        await send_pieces(conn, wire, [1] * 10 + [1, 4095, 65536, 3])
        await conn.send_close(1000)
        return await read_until_close(conn)

    out = await play(raw_server, script)
    assert out.events == [("open",), ("binary", payload), ("closed", 1000, "")]
