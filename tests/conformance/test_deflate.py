"""permessage-deflate (RFC 7692) from a raw server: fragments, context takeover, window bits,
and the reserved bits that remain violations with the extension on (Autobahn 12.x / 13.x shapes).
"""

from __future__ import annotations

import os
import zlib

import pytest
from conftest import StartRawServer
from peers.raw_server import Frame, Opcode, RawConnection, build_frame, read_until_close, trickle

from conformance.harness import (
    close_wire,
    deflate,
    failed_with,
    fragments,
    joined,
    play,
    utf8_text,
)
from trio_ws_events import WebSocket

#: Whether ``WebSocket(url)`` offers permessage-deflate in its handshake (issue 5 wires it).
OFFERED = WebSocket("ws://127.0.0.1:9/")._options.connect.extensions is not None

pytestmark = pytest.mark.skipif(
    not OFFERED,
    reason="the client does not offer permessage-deflate yet (ConnectOptions.extensions unset)",
)

_TAIL = b"\x00\x00\xff\xff"


def _answer(*params: str) -> list[tuple[str, str]]:
    return [("Sec-WebSocket-Extensions", "; ".join(["permessage-deflate", *params]))]


def _inflate_all(frames: list[Frame], wbits: int = 15, takeover: bool = True) -> list[bytes]:
    """Inflate the client's data messages as a server would (one frame per message here)."""
    obj = zlib.decompressobj(-wbits)
    out = []
    for frame in frames:
        if frame.opcode not in (Opcode.TEXT, Opcode.BINARY):
            continue
        if not frame.rsv & 4:
            out.append(frame.payload)
            continue
        if not takeover:
            obj = zlib.decompressobj(-wbits)
        out.append(obj.decompress(frame.payload + _TAIL))
    return out


def _echo(ws: WebSocket) -> None:
    ws.on_message(lambda ws, m: ws.send(m))
    ws.on_binary(lambda ws, d: ws.send(d))


_MESSAGES = [
    (Opcode.TEXT, utf8_text(10_000)),
    (Opcode.BINARY, bytes(range(256)) * 40),
    (Opcode.TEXT, b""),
    (Opcode.BINARY, os.urandom(3000)),  # incompressible
    (Opcode.TEXT, b"tiny"),
]


@pytest.mark.parametrize("size", [None, 1, 7, 1000])
async def test_compressed_messages_whole_and_fragmented(
    raw_server: StartRawServer, size: int | None
) -> None:
    """Compressed messages, as one frame or in fragments of ``size`` bytes, inflate and echo."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    wire = b""
    for opcode, data in _MESSAGES:
        body = deflate(data, compressor)
        if size is None:
            wire += build_frame(opcode, body, rsv=4)
        else:
            wire += fragments(opcode, body, size, rsv=4)

    async def script(conn: RawConnection) -> list[Frame]:
        await conn.accept_handshake(headers=_answer())
        await conn.send_raw(wire)
        echoes = [await conn.read_frame() for _ in _MESSAGES]
        await conn.send_close(1000)
        return [*echoes, *await read_until_close(conn, answer=False)]

    out = await play(raw_server, script, setup=_echo)
    assert out.ws.extensions == "permessage-deflate"
    expected = [d.decode() if op == Opcode.TEXT else d for op, d in _MESSAGES]
    assert out.rec.messages == expected
    assert out.events[-1] == ("closed", 1000, "")
    assert _inflate_all(out.frames) == [d for _, d in _MESSAGES]
    assert out.wire[-1] == close_wire(1000)


async def test_compressed_fragments_byte_by_byte_with_pings(raw_server: StartRawServer) -> None:
    """Compressed fragments with pings between, every byte its own read: intact, pongs sent."""
    data = utf8_text(500)
    wire = fragments(Opcode.TEXT, deflate(data), 9, rsv=4, between=build_frame(Opcode.PING, b"!"))

    async def script(conn: RawConnection) -> list[Frame]:
        await conn.accept_handshake(headers=_answer())
        await trickle(conn, wire + build_frame(Opcode.CLOSE, b"\x03\xe8"))
        return await read_until_close(conn, answer=False)

    out = await play(raw_server, script)
    assert out.events == [("open",), ("message", data.decode()), ("closed", 1000, "")]
    assert {w for w in out.wire[:-1]} == {(Opcode.PONG, b"!")}


@pytest.mark.parametrize("streaming", [False, True], ids=["reassembled", "streamed"])
async def test_uncompressed_message_with_deflate_negotiated(
    raw_server: StartRawServer, streaming: bool
) -> None:
    """RSV1 clear means not compressed, even with the extension on (RFC 7692 6)."""

    async def script(conn: RawConnection) -> list[Frame]:
        await conn.accept_handshake(headers=_answer())
        await conn.send_raw(build_frame(Opcode.TEXT, b"plain") + build_frame(Opcode.BINARY, b"raw"))
        await conn.send_close(1000)
        return await read_until_close(conn, answer=False)

    out = await play(raw_server, script, streaming=streaming)
    assert out.rec.messages == ["plain", b"raw"]
    assert out.pieces == []


async def test_whole_compressed_message_fires_on_message_while_streaming(
    raw_server: StartRawServer,
) -> None:
    """With on_incomplete_frame set, a compressed message that arrives whole (one frame, one
    read) still fires on_message / on_binary (issue 3, rule 1); a fragmented one streams."""
    text = utf8_text(300)

    async def script(conn: RawConnection) -> list[Frame]:
        await conn.accept_handshake(headers=_answer())
        await conn.send_raw(
            build_frame(Opcode.BINARY, deflate(b"packed"), rsv=4)
            + build_frame(Opcode.TEXT, deflate(text), rsv=4)
        )
        await conn.send_raw(fragments(Opcode.BINARY, deflate(b"in pieces" * 10), 5, rsv=4))
        await conn.send_close(1000)
        return await read_until_close(conn, answer=False)

    out = await play(raw_server, script, streaming=True)
    assert out.rec.messages == [b"packed", text.decode()]
    assert joined(out.pieces) == b"in pieces" * 10
    assert out.pieces[-1].final


@pytest.mark.parametrize("takeover", [True, False], ids=["takeover", "no-takeover"])
async def test_context_takeover_both_ways(raw_server: StartRawServer, takeover: bool) -> None:
    """With takeover, messages may refer to earlier ones in both directions; without (both
    no_context_takeover parameters), each message stands alone: the client resets too."""
    params = () if takeover else ("server_no_context_takeover", "client_no_context_takeover")
    block = os.urandom(2000).hex()  # 4000 incompressible characters, repeated below
    messages = [block, block, block + "!", block]
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    bodies = [deflate(m.encode(), compressor if takeover else None) for m in messages]
    if takeover:
        # The repeats cost a few bytes each: they refer to the first message.
        assert all(len(body) < 100 for body in bodies[1:])

    async def script(conn: RawConnection) -> list[Frame]:
        await conn.accept_handshake(headers=_answer(*params))
        for body in bodies:
            await conn.send_raw(build_frame(Opcode.TEXT, body, rsv=4))
        echoes = [await conn.read_frame() for _ in messages]
        await conn.send_close(1000)
        return [*echoes, *await read_until_close(conn, answer=False)]

    out = await play(raw_server, script, setup=_echo)
    assert out.rec.messages == messages
    assert all(frame.rsv == 4 for frame in out.frames[:-1])
    # A server inflating each of the client's messages with a fresh context only succeeds
    # when the client did not refer to earlier messages.
    assert _inflate_all(out.frames, takeover=takeover) == [m.encode() for m in messages]
    if takeover:
        assert all(len(frame.payload) < 100 for frame in out.frames[1:-1])
    else:
        assert out.ws.extensions == (
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
        )


@pytest.mark.parametrize("bits", [9, 10, 12, 15])
async def test_window_bits_honoured(raw_server: StartRawServer, bits: int) -> None:
    """client_max_window_bits limits how far back the client's compressor refers; the server
    inflates with that window. server_max_window_bits is the server's own window."""
    block = os.urandom(700).hex()  # 1400 bytes, repeated at a distance past 2**9 and 2**10
    message = block * 3

    async def script(conn: RawConnection) -> list[Frame]:
        headers = _answer(f"server_max_window_bits={bits}", f"client_max_window_bits={bits}")
        await conn.accept_handshake(headers=headers)
        await conn.send_frame(Opcode.TEXT, deflate(message.encode(), wbits=bits), rsv=4)
        echo = await conn.read_frame()
        await conn.send_close(1000)
        return [echo, *await read_until_close(conn, answer=False)]

    out = await play(raw_server, script, setup=_echo)
    assert out.rec.messages == [message]
    assert _inflate_all(out.frames[:1], wbits=max(bits, 9)) == [message.encode()]


_RSV_VIOLATIONS = {
    "rsv1-ping": build_frame(Opcode.PING, b"p", rsv=4),
    "rsv1-pong": build_frame(Opcode.PONG, b"p", rsv=4),
    "rsv1-close": build_frame(Opcode.CLOSE, b"\x03\xe8", rsv=4),
    "rsv1-continuation": (
        build_frame(Opcode.TEXT, deflate(b"abc"), fin=False, rsv=4)
        + build_frame(Opcode.CONTINUATION, b"", rsv=4)
    ),
    "rsv2-text": build_frame(Opcode.TEXT, deflate(b"abc"), rsv=6),
    "rsv3-binary": build_frame(Opcode.BINARY, deflate(b"abc"), rsv=5),
}


@pytest.mark.parametrize("wire", _RSV_VIOLATIONS.values(), ids=list(_RSV_VIOLATIONS))
async def test_reserved_bits_still_refused_with_deflate(
    raw_server: StartRawServer, wire: bytes
) -> None:
    """RSV1 is for the first frame of a data message only; RSV2/RSV3 stay reserved: 1002."""

    async def script(conn: RawConnection) -> list[Frame]:
        await conn.accept_handshake(headers=_answer())
        await conn.send_raw(build_frame(Opcode.TEXT, deflate(b"before"), rsv=4) + wire)
        return await read_until_close(conn)

    out = await play(raw_server, script)
    failed_with(out, 1002, events=[("message", "before")])


async def test_invalid_deflate_data_is_1007(raw_server: StartRawServer) -> None:
    """A compressed message that is not a deflate stream fails with 1007."""

    async def script(conn: RawConnection) -> list[Frame]:
        await conn.accept_handshake(headers=_answer())
        await conn.send_frame(Opcode.BINARY, b"\xff\xff\xff\xff not deflate", rsv=4)
        return await read_until_close(conn)

    failed_with(await play(raw_server, script), 1007)
