"""Control frames: pings answered, pongs ignored, oversized and fragmented ones refused.

Autobahn 2.1-2.11 (pings and pongs), 5.3-5.20 (control frames between fragments).
"""

from __future__ import annotations

import pytest
from conftest import StartRawServer
from peers.raw_server import Frame, Opcode, RawConnection, build_frame, read_until_close

from conformance.harness import close_wire, failed_with, joined, play, utf8_text


@pytest.mark.parametrize("size", [0, 1, 125])
async def test_ping_answered_with_identical_pong(raw_server: StartRawServer, size: int) -> None:
    """A ping of 0 to 125 bytes (binary payload) is answered by a pong with the same payload."""
    payload = bytes(range(255, 255 - size, -1))

    async def script(conn: RawConnection) -> list[Frame]:
        await conn.accept_handshake()
        await conn.send_frame(Opcode.PING, payload)
        pong = await conn.read_frame()
        await conn.send_close(1000)
        return [pong, *await read_until_close(conn)]

    out = await play(raw_server, script)
    assert out.wire == [(Opcode.PONG, payload), close_wire(1000)]
    assert out.events == [("open",), ("closed", 1000, "")]


@pytest.mark.parametrize("same_write", [False, True], ids=["close-later", "close-same-write"])
async def test_ten_pings_answered_in_order_before_close(
    raw_server: StartRawServer, same_write: bool
) -> None:
    """Ten pings then a close: ten pongs in order, then the close echo (Autobahn 2.10).

    RFC 6455 5.5.2: a ping received before the close frame is answered, even when both came
    in the same read.
    """
    pings = b"".join(build_frame(Opcode.PING, b"ping %d" % i) for i in range(10))
    close = build_frame(Opcode.CLOSE, b"\x03\xe8")

    async def script(conn: RawConnection) -> list[Frame]:
        await conn.accept_handshake()
        if same_write:
            await conn.send_raw(pings + close)
            return await read_until_close(conn, answer=False)
        await conn.send_raw(pings)
        pongs = [await conn.read_frame() for _ in range(10)]
        await conn.send_raw(close)
        return [*pongs, *await read_until_close(conn, answer=False)]

    out = await play(raw_server, script)
    assert out.wire == [*((Opcode.PONG, b"ping %d" % i) for i in range(10)), close_wire(1000)]
    assert out.events == [("open",), ("closed", 1000, "")]


@pytest.mark.parametrize("size", [0, 10, 125])
async def test_unsolicited_pong_ignored(raw_server: StartRawServer, size: int) -> None:
    """A pong nobody asked for fires nothing, is not answered and sets no latency (2.6-2.7)."""

    async def script(conn: RawConnection) -> list[Frame]:
        await conn.accept_handshake()
        await conn.send_frame(Opcode.PONG, b"u" * size)
        await conn.send_text("after")
        await conn.send_frame(Opcode.PONG, b"v" * size)
        await conn.send_close(1000)
        return await read_until_close(conn)

    out = await play(raw_server, script)
    assert out.events == [("open",), ("message", "after"), ("closed", 1000, "")]
    assert out.wire == [close_wire(1000)]
    assert out.ws.latency is None


_OVERSIZED = [
    (opcode, size)
    for opcode in (Opcode.PING, Opcode.PONG, Opcode.CLOSE)
    for size in (126, 127, 65535, 65536)
]


@pytest.mark.parametrize(
    ("opcode", "size"), _OVERSIZED, ids=[f"{op.name}-{n}" for op, n in _OVERSIZED]
)
async def test_control_frame_over_125_bytes_is_1002(
    raw_server: StartRawServer, opcode: Opcode, size: int
) -> None:
    """A control frame with more than 125 bytes of payload fails with 1002 (Autobahn 2.5)."""
    payload = b"\x03\xe8" + b"x" * (size - 2)

    async def script(conn: RawConnection) -> list[Frame]:
        await conn.accept_handshake()
        await conn.send_frame(opcode, payload)
        return await read_until_close(conn)

    failed_with(await play(raw_server, script), 1002)  # no pong for an oversized ping


@pytest.mark.parametrize("opcode", [Opcode.PING, Opcode.PONG, Opcode.CLOSE])
@pytest.mark.parametrize("with_continuation", [False, True])
async def test_fragmented_control_frame_is_1002(
    raw_server: StartRawServer, opcode: Opcode, with_continuation: bool
) -> None:
    """A control frame without FIN fails with 1002, continued or not (Autobahn 5.1-5.2)."""
    wire = build_frame(opcode, b"\x03\xe8frag", fin=False)
    if with_continuation:
        wire += build_frame(Opcode.CONTINUATION, b"ment")

    async def script(conn: RawConnection) -> list[Frame]:
        await conn.accept_handshake()
        await conn.send_raw(wire)
        return await read_until_close(conn)

    failed_with(await play(raw_server, script), 1002)


@pytest.mark.parametrize("streaming", [False, True], ids=["reassembled", "streamed"])
@pytest.mark.parametrize("opcode", [Opcode.TEXT, Opcode.BINARY], ids=["text", "binary"])
async def test_pings_between_fragments_answered_before_message_ends(
    raw_server: StartRawServer, opcode: Opcode, streaming: bool
) -> None:
    """Each ping between fragments is answered while the message is still open (5.19-5.20)."""
    payload = utf8_text(60)
    parts = [payload[i : i + 6] for i in range(0, 60, 6)]

    async def script(conn: RawConnection) -> list[Frame]:
        await conn.accept_handshake()
        pongs = []
        for index, part in enumerate(parts):
            first, last = index == 0, index == len(parts) - 1
            await conn.send_frame(opcode if first else Opcode.CONTINUATION, part, fin=last)
            if not last:
                # The next fragment waits for the pong: the client answers mid-message.
                await conn.send_frame(Opcode.PING, b"%d" % index)
                pongs.append(await conn.read_frame())
        await conn.send_close(1000)
        return [*pongs, *await read_until_close(conn)]

    out = await play(raw_server, script, streaming=streaming)
    assert out.wire == [*((Opcode.PONG, b"%d" % i) for i in range(9)), close_wire(1000)]
    message = payload.decode() if opcode == Opcode.TEXT else payload
    if streaming:
        assert out.events == [("open",), ("closed", 1000, "")]
        assert joined(out.pieces) == message
        assert [p.final for p in out.pieces][-1] is True
    else:
        kind = "message" if opcode == Opcode.TEXT else "binary"
        assert out.events == [("open",), (kind, message), ("closed", 1000, "")]
