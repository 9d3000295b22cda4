"""Hostile input on the receive path (issue 11, items 1-7): a raw-frame peer writes bytes.

Each case states the bound it holds and measures it: traced memory with tracemalloc (the
in-process raw server is traced too, so the bounds include it), scheduling gaps with the trio
clock. The protocol-level halves of these cases, without I/O, are in tests/sansio/test_protocol.py.
"""

from __future__ import annotations

import hashlib
import os
import socket
import tracemalloc
import zlib
from collections.abc import Sequence

import pytest
import trio
from conftest import StartRawServer, StartWebSocketsServer
from peers.raw_server import (
    Frame,
    Opcode,
    RawConnection,
    Script,
    build_frame,
    read_until_close,
)
from recorder import run_to_end

from faults.support import run_case
from trio_ws_events import Frame as Piece
from trio_ws_events import KeepaliveTimeout, State, WebSocket
from trio_ws_events._sansio.frames import CHUNK_SIZE
from trio_ws_events._sansio.protocol import EXACT_READ_MAX

MiB = 2**20
DEFLATE_ANSWER = [("Sec-WebSocket-Extensions", "permessage-deflate")]


def compressed(data: bytes, compressor: zlib._Compress | None = None) -> bytes:
    """``data`` as one permessage-deflate message body (sync flush, tail removed)."""
    obj = compressor or zlib.compressobj(9, zlib.DEFLATED, -15)
    return (obj.compress(data) + obj.flush(zlib.Z_SYNC_FLUSH))[:-4]


async def traced_run(ws: WebSocket, limit: float) -> int:
    """Run ``ws`` to its end; the peak traced memory above what was traced at the start."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        await run_to_end(ws, limit)
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


class Pieces:
    """An ``on_incomplete_frame`` handler that hashes and counts, keeping nothing."""

    def __init__(self, ws: WebSocket) -> None:
        self.sha = hashlib.sha256()
        self.total = 0
        self.largest = 0
        self.finals = 0
        ws.on_incomplete_frame += self

    def __call__(self, ws: WebSocket, piece: Piece) -> None:
        assert isinstance(piece.data, bytes)
        self.sha.update(piece.data)
        self.total += len(piece.data)
        self.largest = max(self.largest, len(piece.data))
        self.finals += piece.final


# ---------------------------------------------------------------- 1. ping flood


async def test_ping_flood_from_a_peer_that_never_reads_stays_bounded(
    raw_server: StartRawServer,
) -> None:
    """100,000 pings (125-byte payloads, 12.7 MB) from a peer that reads nothing: the pongs
    owed are bounded (RFC 6455 5.5.3), traced memory grows by well under 8 MiB, the most
    recent ping is still answered, and the message after the flood is delivered."""
    count = 100_000
    wire = build_frame(Opcode.PING, b"p" * 125) * count + build_frame(Opcode.PING, b"last")
    wire += build_frame(Opcode.TEXT, b"after the flood")
    done = trio.Event()
    frames: list[Frame] = []

    async def script(conn: RawConnection) -> None:
        conn.stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        await conn.accept_handshake()
        await conn.send_raw(wire)
        await done.wait()  # only now does it read what the client wrote meanwhile
        frames.extend(await read_until_close(conn))

    server = await raw_server(script, script_timeout=60)
    ws = WebSocket(server.url, compression=None, ping_interval=None)
    got: list[str] = []

    def on_message(ws: WebSocket, text: str) -> None:
        got.append(text)
        ws.close()
        done.set()

    ws.on_message += on_message
    grown = await traced_run(ws, limit=60)
    await server.wait_finished()
    assert got == ["after the flood"]
    assert ws.close_code == 1000
    assert grown < 4 * MiB, f"traced memory grew by {grown / MiB:.1f} MiB"
    pongs = [f.payload for f in frames if f.opcode == Opcode.PONG]
    assert pongs[-1] == b"last"  # the most recent ping is always answered
    assert len(pongs) < count  # older ones were forgotten while the peer did not read
    assert frames[-1].opcode == Opcode.CLOSE


async def test_keepalive_stays_honest_during_a_ping_flood(raw_server: StartRawServer) -> None:
    """While a peer that reads nothing floods pings, its frames keep the connection alive
    (no KeepaliveTimeout); once it falls silent, keepalive fails within its bound."""
    interval, timeout = 0.1, 0.3
    flood_for = 1.0
    ping = build_frame(Opcode.PING, b"p" * 125)
    flood_ended = 0.0
    client_done = trio.Event()

    async def script(conn: RawConnection) -> None:
        nonlocal flood_ended
        conn.stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        await conn.accept_handshake()
        with trio.move_on_after(flood_for):
            while True:
                await conn.send_raw(ping * 200)
                await trio.sleep(0.001)
        flood_ended = trio.current_time()
        await client_done.wait()  # silent, still reading nothing

    server = await raw_server(script, script_timeout=20)
    ws = WebSocket(server.url, ping_interval=interval, ping_timeout=timeout, close_timeout=0.3)
    state_at_flood_end: list[State] = []

    async def body(ws: WebSocket) -> None:
        await trio.sleep(flood_for - 0.05)
        state_at_flood_end.append(ws.state)

    ended = 0.0

    async def finish() -> None:
        nonlocal ended
        ended = trio.current_time()
        client_done.set()
        await server.wait_finished()

    rec = await run_case(ws, body, limit=15, before_fd_check=finish)
    assert state_at_flood_end == [State.OPEN]
    assert type(rec.error) is KeepaliveTimeout
    assert ws.last_message_received is not None
    assert ws.last_message_received >= flood_ended - 0.2
    # Silence is noticed within an interval and a timeout, plus the close bound.
    assert ended - flood_ended < interval + timeout + 0.3 + 1.0


# ---------------------------------------------------------------- 2. inflation per read


async def packed_run(raw_server: StartRawServer, count: int) -> int:
    """``count`` compressed 1 MiB messages in one write; the traced growth of the client."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    message = b"\x00" * MiB
    wire = b"".join(
        build_frame(Opcode.BINARY, compressed(message, compressor), rsv=4) for _ in range(count)
    )
    assert len(wire) < 1100 * count

    server = await raw_server(sends_then_closes(wire, headers=DEFLATE_ANSWER), script_timeout=30)
    ws = WebSocket(server.url)
    received = 0

    def on_binary(ws: WebSocket, data: bytes) -> None:
        nonlocal received
        assert data == message
        received += 1

    ws.on_binary += on_binary
    grown = await traced_run(ws, limit=30)
    await server.wait_finished()
    assert received == count
    assert ws.close_code == 1000
    return grown


async def test_read_packed_with_compressed_messages_is_inflated_one_by_one(
    raw_server: StartRawServer,
) -> None:
    """240 compressed 1 MiB messages (about 250 KB) in one write: each is inflated as it is
    dispatched, so the client holds about what one such message costs, not 240 MiB."""
    one = await packed_run(raw_server, 1)
    packed = await packed_run(raw_server, 240)
    # One message costs about 2 MiB while it is inflated and joined, on top of the
    # connection's own (buffers, zlib states, the handshake); packing 240 of them into a
    # read adds the read (about 170 KB measured), not 239 more messages.
    assert packed < one + 512 * 1024, f"{packed} bytes for 240 messages, {one} for one"
    assert packed < 3.5 * MiB, f"traced memory grew by {packed} bytes"


async def test_huge_declared_frame_without_a_limit_allocates_bounded_reads(
    raw_server: StartRawServer,
) -> None:
    """A frame declaring 2**62 bytes, with max_message_size=None: no read of its payload
    allocates more than EXACT_READ_MAX (not the declared size), so 3 MiB of it cost about
    what arrived plus one read; the peer then drops the connection: 1006."""
    header = bytes((0x82, 127)) + (2**62).to_bytes(8, "big")
    wire = header + os.urandom(3 * MiB)

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        await conn.send_raw(wire)
        await trio.sleep(0.2)  # let the client read it all before the end
        await conn.drop()

    server = await raw_server(script)
    ws = WebSocket(server.url, max_message_size=None)
    grown = await traced_run(ws, limit=30)
    await server.wait_finished()
    assert ws.close_code == 1006
    assert grown < EXACT_READ_MAX + 4 * MiB, f"traced memory grew by {grown / MiB:.1f} MiB"


# ---------------------------------------------------------------- 3. and 4. streaming


@pytest.mark.parametrize("fragment", [4096, 64 * 1024, None], ids=["4KiB", "64KiB", "one-frame"])
async def test_streamed_bomb_in_compressed_fragments_stays_bounded(
    raw_server: StartRawServer, fragment: int | None
) -> None:
    """256 MiB of zeros compressed to about 256 KB, in compressed fragments of any size
    (4 KiB each inflating to about 4 MiB), streamed: all delivered, in pieces of at most
    CHUNK_SIZE, traced memory under 32 MiB."""
    size = 256 * MiB
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = b"\x00" * MiB
    body = b"".join(compressor.compress(block) for _ in range(size // MiB))
    body = (body + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]
    step = fragment or len(body)
    cuts = [body[i : i + step] for i in range(0, len(body), step)]
    wire = b"".join(
        build_frame(
            Opcode.BINARY if i == 0 else Opcode.CONTINUATION,
            cut,
            fin=i == len(cuts) - 1,
            rsv=4 if i == 0 else 0,
        )
        for i, cut in enumerate(cuts)
    )

    ws, pieces, grown = await _stream_compressed(raw_server, wire)
    assert ws.close_code == 1000
    assert pieces.total == size
    assert pieces.finals == 1
    assert pieces.largest <= CHUNK_SIZE
    assert grown < 32 * MiB, f"traced memory grew by {grown / MiB:.1f} MiB"


def sends_then_closes(wire: bytes, headers: Sequence[tuple[str, str]] = ()) -> Script:
    """A script that accepts (with ``headers``), writes ``wire`` in one write, closes with
    1000 and reads until the client's close, without answering it."""

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake(headers=headers)
        await conn.send_raw(wire)
        await conn.send_close(1000)
        await read_until_close(conn, answer=False)

    return script


async def _stream_compressed(
    raw_server: StartRawServer, wire: bytes
) -> tuple[WebSocket, Pieces, int]:
    """Stream ``wire`` (deflate negotiated) to a WebSocket that takes the pieces, to the end
    (60 s); return it, its pieces and how much traced memory grew meanwhile."""
    server = await raw_server(sends_then_closes(wire, headers=DEFLATE_ANSWER), script_timeout=60)
    ws = WebSocket(server.url)
    pieces = Pieces(ws)
    grown = await traced_run(ws, limit=60)
    await server.wait_finished()
    return ws, pieces, grown


def pattern(size: int) -> bytes:
    """``size`` compressible bytes that are not all alike (a wrong offset shows)."""
    unit = b"".join(b"%06d|" % i for i in range(4096))
    return (unit * (size // len(unit) + 1))[:size]


async def test_48_mib_in_one_compressed_frame_streams(raw_server: StartRawServer) -> None:
    """48 MiB of compressible data in ONE compressed frame, streamed: no 1009, the pieces
    (each at most CHUNK_SIZE) make up the message exactly."""
    data = pattern(48 * MiB)
    frame = build_frame(Opcode.BINARY, compressed(data), rsv=4)
    ws, pieces, grown = await _stream_compressed(raw_server, frame)
    assert ws.close_code == 1000
    assert pieces.total == len(data)
    assert pieces.sha.digest() == hashlib.sha256(data).digest()
    assert pieces.largest <= CHUNK_SIZE
    assert grown < 32 * MiB, f"traced memory grew by {grown / MiB:.1f} MiB"


async def test_50_mib_compressed_echo_from_websockets_streams(
    websockets_server: StartWebSocketsServer,
) -> None:
    """websockets echoes a 50 MiB message compressed in one frame: it streams in pieces."""
    url = await websockets_server("echo")
    data = pattern(50 * MiB)
    ws = WebSocket(url)
    pieces = Pieces(ws)
    done = trio.Event()
    ws.on_incomplete_frame += lambda ws, piece: done.set() if piece.final else None
    with trio.fail_after(60):
        async with ws:
            assert ws.extensions is not None
            ws.send(data)
            await done.wait()
    assert pieces.total == len(data)
    assert pieces.sha.digest() == hashlib.sha256(data).digest()
    assert pieces.largest <= CHUNK_SIZE


# ---------------------------------------------------------------- 5. a million fragments


@pytest.mark.parametrize("streaming", [False, True], ids=["reassembled", "streamed"])
async def test_million_one_byte_fragments_leave_other_tasks_running(
    raw_server: StartRawServer, streaming: bool
) -> None:
    """A 1 MB message in a million 1-byte fragments, reassembled or streamed: delivered, and
    another task keeps being scheduled while the reads are processed (the reader checkpoints
    between batches)."""
    size = 10**6
    wire = (
        build_frame(Opcode.BINARY, b"a", fin=False)
        + build_frame(Opcode.CONTINUATION, b"b", fin=False) * (size - 2)
        + build_frame(Opcode.CONTINUATION, b"c")
    )

    server = await raw_server(sends_then_closes(wire), script_timeout=60)
    ws = WebSocket(server.url, compression=None)
    got: list[int] = []
    ws.on_binary += lambda ws, data: got.append(len(data))
    if streaming:
        pieces = Pieces(ws)
    gaps: list[float] = []

    async def ticker() -> None:
        last = trio.current_time()
        while True:
            await trio.sleep(0.002)
            now = trio.current_time()
            gaps.append(now - last)
            last = now

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ticker)
            ws.open(nursery)
            await ws.wait_closed()
            nursery.cancel_scope.cancel()
    await server.wait_finished()
    if streaming:
        assert (got, pieces.total, pieces.finals) == ([], size, 1)
    else:
        assert got == [size]
    assert ws.close_code == 1000
    # One 256 KiB read holds 87,000 such frames, processed in batches of a few milliseconds
    # (about 0.01 s measured here; 0.43 s streamed when a read was processed in one go).
    assert max(gaps) < 0.15, f"another task waited {max(gaps):.3f} s"


# ---------------------------------------------------------------- 6. the limit while streaming


async def test_whole_compressed_message_over_the_limit_streams(
    raw_server: StartRawServer,
) -> None:
    """With on_incomplete_frame set and max_message_size=1 MiB, a 10 MiB compressed message
    arriving whole never reaches on_binary: it comes as pieces; a small one fires whole."""
    big = pattern(10 * MiB)

    server = await raw_server(
        sends_then_closes(
            build_frame(Opcode.BINARY, compressed(big), rsv=4)
            + build_frame(Opcode.BINARY, compressed(b"small" * 100), rsv=4),
            headers=DEFLATE_ANSWER,
        ),
        script_timeout=30,
    )
    ws = WebSocket(server.url, max_message_size=MiB)
    pieces = Pieces(ws)
    whole: list[int] = []
    ws.on_binary += lambda ws, data: whole.append(len(data))
    rec = await run_case(ws, limit=30)
    await server.wait_finished()
    assert rec.events[-1] == ("closed", 1000, "")
    assert whole == [500]
    assert pieces.total == len(big)
    assert pieces.sha.digest() == hashlib.sha256(big).digest()


# ---------------------------------------------------------------- 7. BFINAL blocks


def finished(data: bytes, history: bytes) -> bytes:
    """``data`` compressed into a stream ended by a BFINAL=1 block, referring to ``history``."""
    obj = zlib.compressobj(9, zlib.DEFLATED, -15, zdict=history[-32768:])
    return obj.compress(data) + obj.flush(zlib.Z_FINISH)


@pytest.mark.parametrize("takeover", [True, False], ids=["takeover", "no-takeover"])
async def test_messages_after_a_bfinal_block_decode_intact(
    raw_server: StartRawServer, takeover: bool
) -> None:
    """Messages each ending with a BFINAL=1 block (RFC 7692 7.2.3.4), text and binary: every
    one decodes intact, with context takeover (later ones refer to earlier ones) and without."""
    messages: list[str | bytes] = []
    wire = b""
    history = b""
    for index in range(6):
        raw = (b"message %d, " % index) * 300
        message: str | bytes = raw.decode() if index % 2 else raw
        opcode = Opcode.TEXT if index % 2 else Opcode.BINARY
        wire += build_frame(opcode, finished(raw, history if takeover else b""), rsv=4)
        messages.append(message)
        history += raw
    answer = (
        DEFLATE_ANSWER
        if takeover
        else [("Sec-WebSocket-Extensions", "permessage-deflate; server_no_context_takeover")]
    )

    server = await raw_server(sends_then_closes(wire, headers=answer))
    ws = WebSocket(server.url)
    rec = await run_case(ws, limit=10)
    await server.wait_finished()
    assert rec.messages == messages
    assert rec.events[-1] == ("closed", 1000, "")
