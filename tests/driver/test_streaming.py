"""Streaming (on_incomplete_frame), size limits and fragmentation against raw-frame servers."""

from __future__ import annotations

import os
import tracemalloc

from conftest import StartRawServer
from peers.raw_server import Opcode, RawConnection, build_frame
from recorder import Recorder, run_script, run_to_end

from trio_ws_events import Frame, MessageTooBig, ProtocolError, WebSocket


def fragments(opcode: int, payload: bytes, size: int) -> bytes:
    """``payload`` as a fragmented message of ``size``-byte frames, ending with an empty one."""
    pieces = [payload[i : i + size] for i in range(0, len(payload), size)]
    wire = b""
    for index, piece in enumerate(pieces):
        wire += build_frame(opcode if index == 0 else Opcode.CONTINUATION, piece, fin=False)
    return wire + build_frame(Opcode.CONTINUATION, b"", fin=True)


def streaming_socket(url: str, **options: object) -> tuple[WebSocket, list[Frame], Recorder]:
    ws = WebSocket(url, **options)  # type: ignore[arg-type]
    pieces: list[Frame] = []
    ws.on_incomplete_frame += lambda ws, frame: pieces.append(frame)
    return ws, pieces, Recorder(ws)


async def test_fragmented_text_streams_piece_by_piece(raw_server: StartRawServer) -> None:
    """1-byte fragments of multi-byte UTF-8 arrive as pieces that never split a character."""
    text = "naïve café, 東京, 😀" * 3

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        await conn.send_raw(fragments(Opcode.TEXT, text.encode(), 1))
        await conn.send_text("whole")
        await conn.send_close(1000)
        await conn.read_close()

    server = await raw_server(script)
    ws, pieces, rec = streaming_socket(server.url)
    await run_to_end(ws)
    await server.wait_finished()
    assert all(p.is_text and isinstance(p.data, str) for p in pieces)
    assert "".join(p.data for p in pieces) == text  # type: ignore[misc]
    assert [p.final for p in pieces].count(True) == 1
    assert pieces[-1].final
    # The fragmented message did not also fire on_message; the whole one did.
    assert rec.events == [("open",), ("message", "whole"), ("closed", 1000, "")]


async def test_large_single_frame_streams_across_reads(raw_server: StartRawServer) -> None:
    """A 4 MiB binary frame (past max_message_size) streams in pieces and is not limited."""
    data = os.urandom(4 * 2**20)

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        await conn.send_binary(data)
        await conn.send_close(1000)
        await conn.read_close()

    server = await raw_server(script)
    ws, pieces, rec = streaming_socket(server.url, max_message_size=2**20)
    await run_to_end(ws)
    await server.wait_finished()
    assert len(pieces) > 1
    assert b"".join(p.data for p in pieces) == data  # type: ignore[misc]
    assert not any(p.is_text for p in pieces)
    assert rec.events[-1] == ("closed", 1000, "")


async def test_pings_between_fragments_are_answered(raw_server: StartRawServer) -> None:
    """A ping inside a fragmented message is answered at once, and the message completes."""

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        await conn.send_frame(Opcode.BINARY, b"ab", fin=False)
        await conn.send_frame(Opcode.PING, b"mid")
        frame = await conn.read_frame()
        assert (frame.opcode, frame.payload) == (Opcode.PONG, b"mid")
        await conn.send_frame(Opcode.CONTINUATION, b"cd", fin=True)
        await conn.send_close(1000)
        await conn.read_close()

    _, rec = await run_script(raw_server, script)
    assert rec.events == [("open",), ("binary", b"abcd"), ("closed", 1000, "")]


async def test_invalid_utf8_in_middle_fragment_is_1007(raw_server: StartRawServer) -> None:
    """Invalid UTF-8 in a middle fragment ends the connection with 1007, while streaming."""

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        await conn.send_frame(Opcode.TEXT, b"ok ", fin=False)
        await conn.send_frame(Opcode.CONTINUATION, b"\xed\xa0\x80", fin=False)  # a surrogate
        await conn.send_frame(Opcode.CONTINUATION, b"end", fin=True)
        assert (await conn.read_close())[0] == 1007

    server = await raw_server(script)
    ws, pieces, rec = streaming_socket(server.url)
    await run_to_end(ws)
    await server.wait_finished()
    assert type(rec.error) is ProtocolError
    assert rec.error.code == 1007
    assert all(not p.final for p in pieces)


async def test_oversize_message_is_1009(raw_server: StartRawServer) -> None:
    """A reassembled message over max_message_size ends with 1009 and MessageTooBig."""

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        await conn.send_raw(fragments(Opcode.BINARY, b"x" * 3000, 500))
        assert (await conn.read_close())[0] == 1009

    _, rec = await run_script(raw_server, script, max_message_size=2000)
    assert isinstance(rec.error, MessageTooBig)
    assert rec.error.code == 1009
    assert "max_message_size=2000" in str(rec.error)


async def test_text_limit_counts_utf8_bytes(raw_server: StartRawServer) -> None:
    """max_message_size counts UTF-8 bytes: 700 euro signs are 2100 bytes, over 2000."""

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        await conn.send_text("€" * 600)  # 1800 bytes: fine
        await conn.send_text("€" * 700)
        assert (await conn.read_close())[0] == 1009

    _, rec = await run_script(raw_server, script, max_message_size=2000)
    assert rec.messages == ["€" * 600]
    assert isinstance(rec.error, MessageTooBig)


async def test_outgoing_fragmentation(raw_server: StartRawServer) -> None:
    """With max_fragment_size, a long message leaves as several frames the server joins."""

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        frames = []
        while True:
            frame = await conn.read_frame()
            frames.append(frame)
            if frame.fin:
                break
        assert [f.opcode for f in frames] == [Opcode.TEXT] + [Opcode.CONTINUATION] * 9
        assert b"".join(f.payload for f in frames) == b"0123456789" * 10
        await conn.send_close(1000)
        await conn.read_close()

    server = await raw_server(script)
    ws = WebSocket(server.url, max_fragment_size=10, compression=None)
    ws.on_open += lambda ws: ws.send("0123456789" * 10)
    rec = Recorder(ws)
    await run_to_end(ws)
    await server.wait_finished()
    assert rec.events[-1] == ("closed", 1000, "")


async def test_streaming_memory_stays_bounded(raw_server: StartRawServer) -> None:
    """Streaming 64 MiB through on_incomplete_frame allocates far less than the message."""
    size = 64 * 2**20
    chunk = b"\xab" * 2**20

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        header = build_frame(Opcode.BINARY, b"", declared_length=size)
        await conn.send_raw(header)
        for _ in range(size // len(chunk)):
            await conn.send_raw(chunk)
        await conn.send_close(1000)
        await conn.read_close()

    server = await raw_server(script, script_timeout=60)
    ws = WebSocket(server.url)
    total = 0

    def count(ws: WebSocket, frame: Frame) -> None:
        nonlocal total
        total += len(frame.data)

    ws.on_incomplete_frame += count
    tracemalloc.start()
    try:
        await run_to_end(ws, limit=60)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    await server.wait_finished()
    assert total == size
    assert ws.close_code == 1000
    assert peak < 16 * 2**20, f"peak traced memory {peak} bytes"
