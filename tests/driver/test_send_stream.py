"""send_stream(): one message in pieces, in order, in bounded memory; and send(bytes) uncopied."""

from __future__ import annotations

import hashlib
import os
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Iterator

import pytest
import trio
from conftest import StartNodeServer, StartRawServer, StartWebSocketsServer
from peers.raw_server import Frame, Opcode, RawConnection
from recorder import Recorder, collect

from trio_ws_events import HandlerError, InvalidStateError, WebSocket
from trio_ws_events._sansio.events import MaskedPayload
from trio_ws_events._sansio.frames import _apply_mask_python
from trio_ws_events._sansio.outbox import Outbox, Piece
from trio_ws_events._sansio.protocol import ClientProtocol


def digest(kind: str, data: bytes) -> str:
    """What the websockets ``digest`` peer answers for a message."""
    return f"{kind} {len(data)} {hashlib.sha256(data).hexdigest()}"


async def read_message_frames(conn: RawConnection) -> list[Frame]:
    """The client's frames up to the one with FIN, control frames included."""
    frames: list[Frame] = []
    for _ in range(10_000):
        frame = await conn.read_frame()
        frames.append(frame)
        if frame.opcode < 8 and frame.fin:
            return frames
    raise AssertionError("no final frame in 10000")


# ---------------------------------------------------------------- against websockets


@pytest.mark.parametrize("mode", ["digest", "digest-deflate"])
async def test_send_stream_binary_generator_arrives_whole(
    websockets_server: StartWebSocketsServer, mode: str
) -> None:
    """Pieces from a generator arrive as one binary message, byte for byte (with deflate too)."""
    url = await websockets_server(mode)
    pieces = [os.urandom(10_000) + b"\x00" * 50_000 for _ in range(40)]
    async with WebSocket(url) as ws:
        assert (ws.extensions is not None) == (mode == "digest-deflate")
        got, done = collect(ws.on_message)
        await ws.send_stream(iter(pieces))
        with trio.fail_after(20):
            await done.wait()
    assert got == [digest("binary", b"".join(pieces))]
    assert ws.stats.messages_sent == 1
    assert ws.stats.bytes_sent == 40 * 60_000


async def test_send_stream_text_async_generator_keeps_characters_whole(
    websockets_server: StartWebSocketsServer,
) -> None:
    """str pieces from an async generator make one text message; multibyte text survives."""
    url = await websockets_server("digest-deflate")
    pieces = ["héllo ", "wörld ", "€" * 1000, "𝄞 end"]

    async def produce() -> AsyncIterator[str]:
        for piece in pieces:
            await trio.lowlevel.checkpoint()
            yield piece

    async with WebSocket(url) as ws:
        got, done = collect(ws.on_message)
        await ws.send_stream(produce())
        with trio.fail_after(20):
            await done.wait()
    assert got == [digest("text", "".join(pieces).encode())]


@pytest.mark.parametrize(
    ("buffered", "bound"),
    [(2**20, 4 * 2**20), (16 * 2**20, 32 * 2**20)],
    ids=["1 MiB buffer", "default 16 MiB buffer"],
)
async def test_send_stream_memory_is_bounded_by_max_buffered_amount(
    websockets_server: StartWebSocketsServer, buffered: int, bound: int
) -> None:
    """64 MiB streamed from a generator: traced memory stays within the buffer's bound
    (4 MiB for a 1 MiB buffer; the documented 32 MiB with the default 16 MiB). The message is
    twice the larger bound, so a producer that stopped waiting for room would trip it."""
    url = await websockets_server("digest")
    piece = b"\x5a" * 65536
    count = 64 * 16  # 64 MiB

    def produce() -> Iterator[bytes]:
        for _ in range(count):
            yield bytes(piece)  # a fresh object each time, as a file read would give

    async with WebSocket(url, max_buffered_amount=buffered, max_message_size=None) as ws:
        got, done = collect(ws.on_message)
        tracemalloc.start()
        try:
            await ws.send_stream(produce())
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        with trio.fail_after(30):
            await done.wait()
    assert got == [digest("binary", piece * count)]
    assert peak < bound, f"peak traced memory {peak} bytes"


async def test_send_stream_producer_waits_while_the_server_does_not_read(
    raw_server: StartRawServer,
) -> None:
    """While the server stalls, the producer waits: buffered_amount never passes the limit."""
    limit = 256 * 1024
    piece = b"\x00" * 65536
    count = 160  # 10 MiB: more than the kernel's socket buffers hold
    received: list[int] = []

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        await trio.sleep(0.3)  # not reading: the client's writes back up
        frames = await read_message_frames(conn)
        received.append(sum(len(f.payload) for f in frames))
        await conn.read_close()
        await conn.send_close(1000)

    server = await raw_server(script, script_timeout=30)
    ws = WebSocket(server.url, max_buffered_amount=limit)
    seen: list[int] = []

    def produce() -> Iterator[bytes]:
        for _ in range(count):
            seen.append(ws.buffered_amount)
            yield piece

    async with ws:
        await ws.send_stream(produce())
    await server.wait_finished()
    assert received == [count * len(piece)]
    assert max(seen) <= limit
    assert max(seen) > limit // 2  # the stall did fill the buffer


async def test_send_stream_does_not_wait_for_messages_held_behind_it(
    websockets_server: StartWebSocketsServer,
) -> None:
    """A message sent during the stream fills the buffer: the stream goes on regardless."""
    url = await websockets_server("digest")
    ws = WebSocket(url, max_buffered_amount=256 * 1024, max_message_size=None)
    piece = b"p" * 100_000
    big = b"b" * 2**20

    async def produce() -> AsyncIterator[bytes]:
        yield piece
        await ws.drain()  # the piece is written: the buffer is empty
        ws.send(big)  # accepted (the buffer was empty), held behind the stream
        for _ in range(3):
            yield piece

    got: list[str] = []
    both = trio.Event()

    def on_message(ws: WebSocket, text: str) -> None:
        got.append(text)
        if len(got) == 2:
            both.set()

    ws.on_message += on_message
    async with ws:
        with trio.fail_after(10):  # it waited forever for the held message to drain
            await ws.send_stream(produce())
            await both.wait()
    assert got == [digest("binary", piece * 4), digest("binary", big)]


async def test_send_bytes_takes_no_copy_of_an_immutable_message(
    websockets_server: StartWebSocketsServer,
) -> None:
    """send() of 50 MiB of bytes allocates far less than the message (masked in slices)."""
    url = await websockets_server("digest")
    data = os.urandom(50 * 2**20)
    async with WebSocket(url, max_message_size=None) as ws:
        got, done = collect(ws.on_message)
        tracemalloc.start()
        try:
            ws.send(data)
            with trio.fail_after(30):
                await done.wait()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert got == [digest("binary", data)]
    assert peak < 4 * 2**20, f"peak traced memory {peak} bytes for a 50 MiB message"


# ---------------------------------------------------------------- on the wire


async def test_send_stream_frames_on_the_wire(raw_server: StartRawServer) -> None:
    """Each piece is a frame: TEXT then CONT without FIN, an empty final CONT; characters whole."""
    frames: list[Frame] = []

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        frames.extend(await read_message_frames(conn))
        await conn.read_close()
        await conn.send_close(1000)

    server = await raw_server(script)
    async with WebSocket(server.url) as ws:
        await ws.send_stream(["é", "", "€€", "𝄞"])
    await server.wait_finished()
    assert [(f.opcode, f.fin, f.rsv) for f in frames] == [
        (Opcode.TEXT, False, 0),
        (Opcode.CONTINUATION, False, 0),
        (Opcode.CONTINUATION, False, 0),
        (Opcode.CONTINUATION, True, 0),
    ]
    assert [f.payload.decode() for f in frames] == ["é", "€€", "𝄞", ""]


async def test_send_stream_with_deflate_sets_rsv1_on_the_first_frame_only(
    raw_server: StartRawServer,
) -> None:
    """Compressed pieces: RSV1 on the first frame, and the frames inflate to the message."""
    frames: list[Frame] = []

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake(headers=[("Sec-WebSocket-Extensions", "permessage-deflate")])
        frames.extend(await read_message_frames(conn))
        await conn.read_close()
        await conn.send_close(1000)

    server = await raw_server(script)
    pieces = [b"abc" * 1000, b"def" * 1000, b"abc" * 1000]
    async with WebSocket(server.url) as ws:
        await ws.send_stream(pieces)
    await server.wait_finished()
    assert [f.rsv for f in frames] == [4, 0, 0, 0]
    body = b"".join(f.payload for f in frames) + b"\x00\x00\xff\xff"
    assert zlib.decompressobj(-15).decompress(body) == b"".join(pieces)


async def test_send_stream_holds_other_messages_and_lets_pongs_pass(
    raw_server: StartRawServer,
) -> None:
    """send() during a stream goes out after it; a ping between pieces is answered at once."""
    frames: list[Frame] = []

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        frames.append(await conn.read_frame())  # "before"
        frames.append(await conn.read_frame())  # the first piece
        await conn.send_frame(Opcode.PING, b"mid")
        frames.extend(await read_message_frames(conn))  # PONG, the rest of the message
        frames.append(await conn.read_frame())  # "during", held behind the message
        await conn.read_close()
        await conn.send_close(1000)

    server = await raw_server(script)
    ws = WebSocket(server.url)
    pinged = trio.Event()
    ws.on_ping += lambda ws, payload: pinged.set()

    async def produce() -> AsyncIterator[bytes]:
        yield b"one"
        with trio.fail_after(10):
            await pinged.wait()
        ws.send("during")
        yield b"two"

    async with ws:
        ws.send("before")
        await ws.send_stream(produce())
    await server.wait_finished()
    assert [(f.opcode, f.payload, f.fin) for f in frames] == [
        (Opcode.TEXT, b"before", True),
        (Opcode.BINARY, b"one", False),
        (Opcode.PONG, b"mid", True),
        (Opcode.CONTINUATION, b"two", False),
        (Opcode.CONTINUATION, b"", True),
        (Opcode.TEXT, b"during", True),
    ]


async def test_send_stream_cut_short_by_the_server_raises(raw_server: StartRawServer) -> None:
    """The server closes mid-message: send_stream raises; unsent lists the held message only."""

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        await conn.read_frame()
        await conn.send_close(1001, "going")
        await conn.read_close()

    server = await raw_server(script)
    ws = WebSocket(server.url)
    rec = Recorder(ws)

    async def produce() -> AsyncIterator[bytes]:
        yield b"first"
        ws.send(b"held")
        for _ in range(1000):
            await trio.sleep(0.01)
            yield b"more"

    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            opened = trio.Event()
            ws.on_open += lambda ws: opened.set()
            ws.open(nursery)
            await opened.wait()
            # Not from a handler: handlers hold the reading, and the close must be read.
            with pytest.raises(InvalidStateError) as info:
                await ws.send_stream(produce())
    await server.wait_finished()
    assert rec.events[-1] == ("closed", 1001, "going")
    assert "the message was cut short" in str(info.value)
    assert "not listed in unsent" in str(info.value)
    assert ws.unsent == (b"held",)


async def test_send_stream_pieces_raising_close_with_1011(raw_server: StartRawServer) -> None:
    """Pieces that raise half-way: closed with 1011, on_error(HandlerError), the error raised."""
    codes: list[int | None] = []

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        codes.append((await conn.read_close())[0])
        await conn.send_close(1011)

    def produce() -> Iterator[bytes]:
        yield b"part"
        raise OSError("disk gone")

    server = await raw_server(script)
    ws = WebSocket(server.url)
    rec = Recorder(ws)
    with pytest.raises(OSError, match="disk gone"):
        async with ws:
            await ws.send_stream(produce())
    await server.wait_finished()
    assert codes == [1011]
    assert isinstance(rec.error, HandlerError)
    assert isinstance(rec.error.__cause__, OSError)
    assert "send_stream() raised OSError('disk gone') after 4 bytes" in str(rec.error)


async def test_send_stream_cancelled_half_way_closes_with_1011(raw_server: StartRawServer) -> None:
    """Cancelling send_stream after a piece went out closes with 1011 (HandlerError)."""
    codes: list[int | None] = []

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        codes.append((await conn.read_close())[0])
        await conn.send_close(1011)

    async def produce() -> AsyncIterator[bytes]:
        yield b"part"
        await trio.sleep_forever()
        yield b"never"  # pragma: no cover

    server = await raw_server(script)
    ws = WebSocket(server.url)
    rec = Recorder(ws)
    async with ws:
        with trio.move_on_after(0.2):
            await ws.send_stream(produce())
        await ws.wait_closed()
    await server.wait_finished()
    assert codes == [1011]
    assert "send_stream() was cancelled after 4 bytes" in str(rec.error)


async def test_send_stream_cancelled_before_a_piece_sends_nothing(
    websockets_server: StartWebSocketsServer,
) -> None:
    """Cancelled while waiting for its first piece: nothing was sent, the connection goes on."""
    url = await websockets_server("digest")

    async def produce() -> AsyncIterator[bytes]:
        await trio.sleep_forever()
        yield b"never"  # pragma: no cover

    async with WebSocket(url) as ws:
        got, done = collect(ws.on_message)
        with trio.move_on_after(0.05) as scope:
            await ws.send_stream(produce())
        assert scope.cancelled_caught
        ws.send(b"after")
        with trio.fail_after(10):
            await done.wait()
    assert got == [digest("binary", b"after")]
    assert ws.close_code == 1000


async def test_send_stream_waits_for_another_send_stream(raw_server: StartRawServer) -> None:
    """Two send_stream calls at once: the second message starts after the first ends."""
    frames: list[Frame] = []

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        frames.extend(await read_message_frames(conn))
        frames.extend(await read_message_frames(conn))
        await conn.read_close()
        await conn.send_close(1000)

    async def slow(tag: bytes) -> AsyncIterator[bytes]:
        for _ in range(3):
            await trio.sleep(0.01)
            yield tag

    server = await raw_server(script)
    async with WebSocket(server.url) as ws, trio.open_nursery() as nursery:
        nursery.start_soon(ws.send_stream, slow(b"a"))
        await trio.sleep(0.005)
        nursery.start_soon(ws.send_stream, slow(b"b"))
    await server.wait_finished()
    assert [f.payload for f in frames] == [b"a", b"a", b"a", b"", b"b", b"b", b"b", b""]


# ---------------------------------------------------------------- refused input


@pytest.mark.parametrize(
    ("pieces", "error", "words"),
    [
        ("text", TypeError, "takes an iterable of pieces, not one str; use send()"),
        (b"data", TypeError, "not one bytes"),
        (42, TypeError, "an iterable or async iterable of str or bytes pieces, got int"),
        ([1], TypeError, "must be str (text) or bytes-like (binary); piece 0 is int"),
        ([b"", "x"], TypeError, "piece 1 is str after bytes-like pieces"),
        (["\ud800"], ValueError, "lone surrogate at index 0 of piece 0"),
    ],
)
async def test_send_stream_refuses_bad_pieces_before_sending(
    websockets_server: StartWebSocketsServer, pieces: object, error: type, words: str
) -> None:
    """A bad source or first piece raises with nothing sent; the connection goes on."""
    url = await websockets_server("digest")
    async with WebSocket(url) as ws:
        got, done = collect(ws.on_message)
        with pytest.raises(error) as info:
            await ws.send_stream(pieces)  # type: ignore[arg-type]
        assert words in str(info.value)
        ws.send(b"next")
        with trio.fail_after(10):
            await done.wait()
    assert got == [digest("binary", b"next")]
    assert ws.close_code == 1000


async def test_send_stream_with_no_content_sends_nothing(
    websockets_server: StartWebSocketsServer,
) -> None:
    """An empty iterable, or only empty pieces, sends no message."""
    url = await websockets_server("digest")
    async with WebSocket(url) as ws:
        got, done = collect(ws.on_message)
        await ws.send_stream([])
        await ws.send_stream([b"", b""])
        ws.send("last")
        with trio.fail_after(10):
            await done.wait()
    assert got == [digest("text", b"last")]


async def test_send_stream_before_open_is_refused() -> None:
    """send_stream outside OPEN raises InvalidStateError and takes nothing from the pieces."""
    taken: list[bytes] = []

    def produce() -> Iterator[bytes]:
        taken.append(b"x")
        yield b"x"

    ws = WebSocket("ws://127.0.0.1:9/")
    with pytest.raises(InvalidStateError, match=r"cannot send_stream: .* not open yet"):
        await ws.send_stream(produce())
    assert taken == []


# ---------------------------------------------------------------- sans-I/O


def test_masked_payload_slices_equal_the_whole_mask() -> None:
    """A large payload masked slice by slice is the payload masked whole."""
    data = os.urandom(2**20 + 7)
    key = b"\x01\x82\x43\xf4"
    masked = MaskedPayload(data, key)
    assert len(masked) == len(data)
    assert b"".join(masked.slices(65536)) == _apply_mask_python(data, key)


def test_piece_frames_split_by_max_fragment_size() -> None:
    """A piece longer than max_fragment_size is split; only the final piece's last frame has FIN."""
    proto = ClientProtocol(max_fragment_size=4)
    first = proto.framer.piece(b"abcdefghij", False, True, False)
    last = proto.framer.piece(b"xyz", False, False, True)
    heads = [wire[0][0] for wire in first + last]
    assert heads == [0x02, 0x00, 0x00, 0x80]


async def test_send_stream_compressed_round_trip_node_ws(
    node_server: StartNodeServer,
) -> None:
    """Node's ws inflates a compressed message sent in pieces and echoes it whole."""
    url = await node_server("deflate")
    pieces = [bytes([i]) * 30_000 + os.urandom(2000) for i in range(20)]
    ws = WebSocket(url)
    greeting = trio.Event()
    ws.on_message += lambda ws, text: greeting.set()
    echoed, done = collect(ws.on_binary)
    async with ws:
        with trio.fail_after(10):
            await greeting.wait()
        assert ws.extensions == "permessage-deflate"
        await ws.send_stream(pieces)
        with trio.fail_after(10):
            await done.wait()
    assert echoed == [b"".join(pieces)]


def test_outbox_holds_messages_behind_pieces_and_never_lists_pieces() -> None:
    """While a stream is open, put() holds; the final piece releases; unsent skips pieces."""
    outbox = Outbox()
    outbox.put("before")
    outbox.begin_stream()
    first = Piece(b"ab", False, True, False)
    outbox.put_piece(first)
    outbox.put(b"held")
    assert outbox.buffered_amount == len("before") + 2 + 4
    assert outbox.unsent() == ("before", b"held")
    assert outbox.take(2**20) == ["before", first]
    outbox.written()
    assert first.written
    assert outbox.messages_written == 1  # a piece that is not final is not a message
    final = Piece(b"", False, False, True)
    outbox.put_piece(final)
    assert not outbox.streaming
    assert outbox.take(2**20) == [final, b"held"]
    outbox.written()
    assert (outbox.messages_written, outbox.buffered_amount, outbox.unsent()) == (3, 0, ())
