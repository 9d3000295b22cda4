"""The sans-I/O frame protocol, fed bytes directly (no sockets, no trio)."""

from __future__ import annotations

import os
import struct
import time
import tracemalloc
import zlib

import pytest

from trio_ws_events._events import Frame
from trio_ws_events._sansio.deflate import DeflateParams, Deflater, Inflater, parse_answer
from trio_ws_events._sansio.events import (
    MAX_PENDING_PONGS,
    BinaryMessage,
    CloseReceived,
    Failure,
    PendingPongs,
    Ping,
    Pong,
    ProtocolEvent,
    TextMessage,
    Wire,
)
from trio_ws_events._sansio.frames import CHUNK_SIZE, _apply_mask_python, apply_mask
from trio_ws_events._sansio.framing import SEPARATE_PAYLOAD
from trio_ws_events._sansio.protocol import (
    BATCH_FRAMES,
    EXACT_READ_MAX,
    HEADER_READ,
    ClientProtocol,
)


def frame(opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0) -> bytes:
    """A server frame (unmasked), shortest length form."""
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload)
    if n < 126:
        return bytes((b0, n)) + payload
    if n < 65536:
        return bytes((b0, 126)) + struct.pack("!H", n) + payload
    return bytes((b0, 127)) + struct.pack("!Q", n) + payload


def receive_all(proto: ClientProtocol, data: bytes) -> list[ProtocolEvent]:
    """Every event of ``data``: the first batch, then the backlog's."""
    events = proto.receive(data)
    while proto.backlog:
        events += proto.receive(b"")
    return events


def feed(proto: ClientProtocol, data: bytes, step: int | None = None) -> list[ProtocolEvent]:
    """Feed ``data`` whole, or ``step`` bytes at a time."""
    if step is None:
        return receive_all(proto, data)
    events: list[ProtocolEvent] = []
    for i in range(0, len(data), step):
        events += receive_all(proto, data[i : i + step])
    return events


def wire_bytes(wire: Wire) -> bytes:
    """The bytes of one frame as the sender writes them (a large payload masked in slices)."""
    return b"".join(
        part if isinstance(part, bytes) else b"".join(part.slices(4096)) for part in wire
    )


def unmask_client_frame(wire: Wire) -> tuple[int, bytes, bool, int]:
    """Parse one masked client frame: (opcode, payload, fin, rsv)."""
    data = wire_bytes(wire)
    b0, b1 = data[0], data[1]
    assert b1 & 0x80, "client frames must be masked"
    n = b1 & 0x7F
    pos = 2
    if n == 126:
        (n,) = struct.unpack_from("!H", data, 2)
        pos = 4
    elif n == 127:
        (n,) = struct.unpack_from("!Q", data, 2)
        pos = 10
    key = data[pos : pos + 4]
    payload = _apply_mask_python(data[pos + 4 : pos + 4 + n], key)
    assert len(data) == pos + 4 + n
    return b0 & 0x0F, payload, bool(b0 & 0x80), (b0 >> 4) & 7


@pytest.mark.parametrize("size", [0, 1, 3, 4, 5, 125, 126, 1000, 65536, 2**20 + 3])
def test_fast_mask_matches_fallback(size: int) -> None:
    """websockets.speedups.apply_mask (a private C helper we rely on) equals our fallback."""
    from websockets.speedups import apply_mask as speedups_mask

    assert apply_mask is speedups_mask, "websockets.speedups.apply_mask moved or lost its C build"
    data, key = os.urandom(size), os.urandom(4)
    assert apply_mask(data, key) == _apply_mask_python(data, key)
    assert _apply_mask_python(_apply_mask_python(data, key), key) == data


@pytest.mark.parametrize(
    ("size", "step"),
    [
        (size, step)
        for size in (0, 125, 126, 127, 65535, 65536, 3 * 2**20)
        for step in (None, 1, 7, 4096)
        if not (step == 1 and size > 70000)  # byte by byte over MiBs proves nothing new
    ],
)
def test_whole_messages_any_size_any_split(size: int, step: int | None) -> None:
    """Text and binary of every length form, fed whole or split, come out whole and equal."""
    proto = ClientProtocol(max_message_size=None)
    text = "é" * (size // 2) + "x" * (size % 2)
    data = os.urandom(size)
    events = feed(proto, frame(1, text.encode()) + frame(2, data), step)
    assert events == [TextMessage(text), BinaryMessage(data)]


def test_fragmented_message_reassembled_with_pings_between() -> None:
    """Fragments with pings in between: pings come out at once, the message whole at its end."""
    proto = ClientProtocol()
    wire = (
        frame(1, "hé".encode()[:2], fin=False)
        + frame(9, b"p1")
        + frame(0, "hé".encode()[2:] + b"llo", fin=False)
        + frame(0, b"", fin=True)
    )
    for step in (None, 1, 3):
        proto = ClientProtocol()
        assert feed(proto, wire, step) == [Ping(b"p1"), TextMessage("héllo")]


def test_streaming_delivers_pieces_and_never_splits_utf8() -> None:
    """In streaming mode a message that does not arrive whole comes as Frames; UTF-8 intact."""
    proto = ClientProtocol()
    proto.streaming = True
    text = "€uro"  # \xe2\x82\xac then ascii
    raw = text.encode()
    wire = frame(1, raw[:1], fin=False) + frame(0, raw[1:2], fin=False) + frame(0, raw[2:])
    events = feed(proto, wire, 1)
    assert all(isinstance(e, Frame) and e.is_text for e in events)
    assert "".join(str(e.data) for e in events if isinstance(e, Frame)) == text
    assert [e.final for e in events if isinstance(e, Frame)][-1] is True
    # A whole message still comes whole.
    assert proto.receive(frame(2, b"abc")) == [BinaryMessage(b"abc")]


def test_streaming_large_single_frame_split_across_reads() -> None:
    """A single big frame split across reads streams out in pieces, nothing reassembled."""
    proto = ClientProtocol(max_message_size=10)
    proto.streaming = True
    data = os.urandom(100_000)
    events = feed(proto, frame(2, data), 4096)
    assert len(events) > 10
    assert b"".join(e.data for e in events if isinstance(e, Frame)) == data  # type: ignore[misc]
    assert isinstance(events[-1], Frame)
    assert events[-1].final


@pytest.mark.parametrize(
    ("wire", "code"),
    [
        (frame(3), 1002),
        (frame(11), 1002),
        (frame(1, b"x", rsv=4), 1002),
        (frame(1, b"x", rsv=2), 1002),
        (frame(9, b"x", fin=False), 1002),
        (frame(9, b"x", rsv=4), 1002),
        (bytes((0x89, 126)) + struct.pack("!H", 126) + b"x" * 126, 1002),
        (bytes((0x81, 0x81)) + b"abcd" + b"x", 1002),  # masked
        (frame(0, b"x"), 1002),
        (frame(1, b"a", fin=False) + frame(1, b"b"), 1002),
        (frame(1, b"\xff"), 1007),
        (frame(1, b"\xe2\x82", fin=False) + frame(0, b"x"), 1007),
        (frame(8, b"\x03"), 1002),
        (frame(8, struct.pack("!H", 1005)), 1002),
        (frame(8, struct.pack("!H", 1000) + b"\xff"), 1007),
        (bytes((0x82, 126)) + struct.pack("!H", 5) + b"abcde", 1002),  # non-minimal length
        (bytes((0x82, 127)) + struct.pack("!Q", 2**63), 1002),
    ],
)
def test_violations_fail_with_code(wire: bytes, code: int) -> None:
    """Each violation ends in one Failure carrying the close code to send."""
    for step in (None, 1):
        proto = ClientProtocol()
        events = feed(proto, frame(1, b"before") + wire + frame(1, b"after"), step)
        assert events[0] == TextMessage("before")
        assert isinstance(events[-1], Failure), events
        assert events[-1].code == code
        assert len(events) == 2
        assert proto.closed


def test_close_frame_ends_input() -> None:
    """After the close frame nothing more is parsed."""
    proto = ClientProtocol()
    events = proto.receive(frame(8, struct.pack("!H", 1014) + b"bye") + frame(1, b"late"))
    assert events == [CloseReceived(1014, "bye")]
    assert proto.receive(frame(1, b"later")) == []
    assert ClientProtocol().receive(frame(8)) == [CloseReceived(1005, "")]


def test_pong_and_ping_payloads() -> None:
    """Ping and pong payloads of 0 and 125 bytes are reported intact."""
    proto = ClientProtocol()
    events = proto.receive(frame(9) + frame(9, b"x" * 125) + frame(10, b"y"))
    assert events == [Ping(b""), Ping(b"x" * 125), Pong(b"y")]


def test_max_message_size_fails_fast_and_counts_utf8_bytes() -> None:
    """The limit counts bytes; a frame header announcing too much fails before its payload."""
    proto = ClientProtocol(max_message_size=5)
    assert proto.receive(frame(1, "€".encode())) == [TextMessage("€")]  # 3 bytes
    assert proto.receive(frame(1, "€€".encode()))[0].code == 1009  # type: ignore[union-attr]
    proto = ClientProtocol(max_message_size=1000)
    header_only = bytes((0x82, 126)) + struct.pack("!H", 5000)
    assert proto.receive(header_only) == [
        Failure(1009, "message of at least 5000 bytes exceeds max_message_size=1000")
    ]
    proto = ClientProtocol(max_message_size=10)
    events = proto.receive(frame(2, b"123456", fin=False) + frame(0, b"789012"))
    assert isinstance(events[-1], Failure)
    assert events[-1].code == 1009


def test_outgoing_frames_are_masked_and_fragmented() -> None:
    """message() masks every frame and splits by max_fragment_size."""
    proto = ClientProtocol(max_fragment_size=4)
    frames = proto.framer.message("hello world")
    parsed = [unmask_client_frame(f) for f in frames]
    assert [p[0] for p in parsed] == [1, 0, 0]
    assert b"".join(p[1] for p in parsed) == b"hello world"
    assert [p[2] for p in parsed] == [False, False, True]
    (one,) = ClientProtocol().framer.message(b"\x00" * 70000)
    assert unmask_client_frame(one)[:3] == (2, b"\x00" * 70000, True)
    assert unmask_client_frame(ClientProtocol().close(4000, "ok"))[1] == b"\x0f\xa0ok"
    assert unmask_client_frame(ClientProtocol().close(None))[1] == b""


@pytest.mark.parametrize(
    ("size", "pieces"),
    [(SEPARATE_PAYLOAD - 1, 1), (SEPARATE_PAYLOAD, 2), (65536, 2), (CHUNK_SIZE, 2)],
)
def test_frame_keeps_a_large_payload_apart_from_its_header(size: int, pieces: int) -> None:
    """From SEPARATE_PAYLOAD bytes on, header and masked payload are two pieces (no join)."""
    data = os.urandom(size)
    (wire,) = ClientProtocol().framer.message(data)
    assert len(wire) == pieces
    assert len(wire[0]) < SEPARATE_PAYLOAD or pieces == 1
    assert unmask_client_frame(wire)[:3] == (2, data, True)


def test_masking_keys_differ() -> None:
    """Each frame gets a fresh masking key."""
    proto = ClientProtocol()
    keys = {wire_bytes(proto.ping())[2:6] for _ in range(2000)}
    assert len(keys) > 1990


def compress(data: bytes, wbits: int = -15) -> bytes:
    obj = zlib.compressobj(9, zlib.DEFLATED, wbits)
    out = obj.compress(data) + obj.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def test_compressed_messages_fragmented_with_ping_between() -> None:
    """A compressed fragmented message with a ping between pieces inflates correctly."""
    params = DeflateParams()
    proto = ClientProtocol(inflater=Inflater(params))
    body = compress(b"hello hello hello hello")
    wire = frame(1, body[:5], fin=False, rsv=4) + frame(9, b"!") + frame(0, body[5:])
    for step in (None, 1):
        proto = ClientProtocol(inflater=Inflater(params))
        assert feed(proto, wire, step) == [Ping(b"!"), TextMessage("hello hello hello hello")]


def test_rsv1_on_control_or_continuation_fails() -> None:
    """RSV1 is only valid on the first frame of a data message."""
    params = DeflateParams()
    proto = ClientProtocol(inflater=Inflater(params))
    assert proto.receive(frame(9, b"", rsv=4))[-1].code == 1002  # type: ignore[union-attr]
    proto = ClientProtocol(inflater=Inflater(params))
    body = compress(b"abc")
    events = proto.receive(frame(1, body, fin=False, rsv=4) + frame(0, b"", rsv=4))
    assert events[-1].code == 1002  # type: ignore[union-attr]


def test_decompression_bomb_stops_at_the_limit() -> None:
    """256 MiB of zeros compressed to ~256 KiB fails with 1009 without inflating it all."""
    import tracemalloc

    zeros = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = b"\x00" * 2**20
    bomb = b"".join(zeros.compress(chunk) for _ in range(256)) + zeros.flush(zlib.Z_SYNC_FLUSH)
    bomb = bomb[:-4]
    proto = ClientProtocol(max_message_size=2**20, inflater=Inflater(DeflateParams()))
    tracemalloc.start()
    events = proto.receive(frame(2, bomb, rsv=4))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert isinstance(events[-1], Failure)
    assert events[-1].code == 1009
    assert peak < 8 * 2**20, peak


def test_context_takeover_on_and_off() -> None:
    """With context takeover the second message may reference the first; without, it resets."""
    obj = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = obj.compress(b"abcabcabc") + obj.flush(zlib.Z_SYNC_FLUSH)
    second = obj.compress(b"abcabcabc") + obj.flush(zlib.Z_SYNC_FLUSH)
    proto = ClientProtocol(inflater=Inflater(DeflateParams()))
    events = proto.receive(frame(1, first[:-4], rsv=4) + frame(1, second[:-4], rsv=4))
    assert events == [TextMessage("abcabcabc"), TextMessage("abcabcabc")]
    params = DeflateParams(server_no_context_takeover=True)
    proto = ClientProtocol(inflater=Inflater(params))
    fresh = compress(b"abcabcabc")
    assert proto.receive(frame(1, fresh, rsv=4) + frame(1, fresh, rsv=4)) == [
        TextMessage("abcabcabc"),
        TextMessage("abcabcabc"),
    ]


def test_deflater_round_trip_and_no_context_takeover() -> None:
    """Our compressed frames inflate back; small messages are sent uncompressed."""
    params = DeflateParams(client_no_context_takeover=True)
    proto = ClientProtocol(deflater=Deflater(params))
    (small,) = proto.framer.message("tiny")
    assert unmask_client_frame(small)[3] == 0
    text = "compress me " * 100
    for _ in range(2):
        (big,) = proto.framer.message(text)
        _opcode, payload, _fin, rsv = unmask_client_frame(big)
        assert rsv == 4
        inflated = zlib.decompressobj(-15).decompress(payload + b"\x00\x00\xff\xff")
        assert inflated.decode() == text


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("permessage-deflate", DeflateParams()),
        (
            "permessage-deflate; server_no_context_takeover; client_max_window_bits=10",
            DeflateParams(server_no_context_takeover=True, client_max_window_bits=10),
        ),
        (
            'permessage-deflate; server_max_window_bits="12"',
            DeflateParams(server_max_window_bits=12),
        ),
    ],
)
def test_parse_answer(answer: str, expected: DeflateParams) -> None:
    """The server's answer is parsed into parameters."""
    assert parse_answer(answer) == expected


@pytest.mark.parametrize(
    "answer",
    [
        "x-webkit-deflate-frame",
        "permessage-deflate, permessage-deflate",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; client_max_window_bits",
        "permessage-deflate; unknown=1",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; server_no_context_takeover=1",
    ],
)
def test_parse_answer_refuses(answer: str) -> None:
    """Answers we did not ask for, or invalid parameters, are refused."""
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        parse_answer(answer)


# ---------------------------------------------------------------- hostile input (issue 11)


def test_pending_pongs_keep_only_the_newest() -> None:
    """Past its bound the pong queue forgets the oldest pings (RFC 6455 5.5.3), never the last."""
    pongs = PendingPongs()
    for index in range(10):
        pongs.add(b"%d" % index)
    assert pongs.take() == [b"%d" % i for i in range(10)]  # a few pending: all answered
    assert not pongs
    for index in range(100_000):
        pongs.add(b"%d" % index)
    assert len(pongs) == MAX_PENDING_PONGS
    assert pongs.dropped == 100_000 - MAX_PENDING_PONGS
    assert pongs.take()[-1] == b"99999"


def test_receive_stops_after_a_batch_of_frames() -> None:
    """A read of 5,000 pings comes out in batches of at most BATCH_FRAMES, in order."""
    proto = ClientProtocol()
    wire = b"".join(frame(9, b"%d" % i) for i in range(5000)) + frame(1, b"end")
    first = proto.receive(wire)
    assert len(first) == BATCH_FRAMES
    assert proto.backlog
    events = first + receive_all(proto, b"")
    assert events == [*(Ping(b"%d" % i) for i in range(5000)), TextMessage("end")]
    assert not proto.backlog


def test_receive_inflates_one_message_per_batch() -> None:
    """240 compressed 1 MiB messages in one read are inflated as they are handed on: the
    first batch holds one message, and memory stays near one message plus the read."""
    obj = zlib.compressobj(9, zlib.DEFLATED, -15)
    message = b"\x00" * 2**20
    wire = b"".join(
        frame(2, (obj.compress(message) + obj.flush(zlib.Z_SYNC_FLUSH))[:-4], rsv=4)
        for _ in range(240)
    )
    assert len(wire) < 300_000
    proto = ClientProtocol(inflater=Inflater(DeflateParams()))
    tracemalloc.start()
    try:
        count = len(proto.receive(wire))
        assert count == 1
        while proto.backlog:
            batch = proto.receive(b"")
            assert batch == [BinaryMessage(message)]
            count += 1
            del batch
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == 240
    assert peak < 3 * 2**20 + len(wire), f"peak traced memory {peak} bytes"


def test_streamed_compressed_frame_inflates_in_bounded_pieces() -> None:
    """48 MiB in one compressed frame, streamed: pieces of at most CHUNK_SIZE, nothing refused."""
    size = 48 * 2**20
    obj = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = (obj.compress(b"\x07" * size) + obj.flush(zlib.Z_SYNC_FLUSH))[:-4]
    proto = ClientProtocol(max_message_size=None, inflater=Inflater(DeflateParams()))
    proto.streaming = True
    wire = frame(2, body[:1000], fin=False, rsv=4) + frame(0, body[1000:])
    total = pieces = 0
    events = proto.receive(wire)
    while True:
        for event in events:
            assert isinstance(event, Frame)
            assert len(event.data) <= CHUNK_SIZE
            assert event.data == b"\x07" * len(event.data)
            total += len(event.data)
            pieces += 1
        if not proto.backlog:
            break
        events = proto.receive(b"")
    assert total == size
    assert pieces >= size // CHUNK_SIZE
    assert isinstance(event, Frame)
    assert event.final


def test_whole_message_over_the_limit_streams_while_streaming() -> None:
    """While streaming, what would fire whole obeys max_message_size: a larger message, whole
    or compressed, comes as pieces instead; without streaming it is a 1009 failure."""
    obj = zlib.compressobj(9, zlib.DEFLATED, -15)
    big = b"z" * (10 * 2**20)
    wire = frame(2, (obj.compress(big) + obj.flush(zlib.Z_SYNC_FLUSH))[:-4], rsv=4)
    wire += frame(1, b"x" * 5000) + frame(2, b"small")
    proto = ClientProtocol(max_message_size=2**20, inflater=Inflater(DeflateParams()))
    proto.streaming = True
    events = receive_all(proto, wire)
    pieces = [e for e in events if isinstance(e, Frame) and not e.is_text]
    assert b"".join(p.data for p in pieces) == big  # type: ignore[misc]
    assert all(len(p.data) <= CHUNK_SIZE for p in pieces)
    assert events[len(pieces) :] == [TextMessage("x" * 5000), BinaryMessage(b"small")]
    proto = ClientProtocol(max_message_size=1000)
    proto.streaming = True
    assert receive_all(proto, frame(1, b"x" * 5000) + frame(2, b"ok")) == [
        Frame("x" * 5000, True, True),
        BinaryMessage(b"ok"),
    ]
    proto = ClientProtocol(max_message_size=2**20, inflater=Inflater(DeflateParams()))
    failure = receive_all(proto, wire)[-1]
    assert isinstance(failure, Failure)
    assert failure.code == 1009


def one_byte_fragments(size: int) -> bytes:
    """A binary message of ``size`` bytes (``a``, then ``b``s, then ``c``), one byte a frame."""
    return frame(2, b"a", fin=False) + frame(0, b"b", fin=False) * (size - 2) + frame(0, b"c")


def receive_in_reads(
    proto: ClientProtocol, data: bytes, read_size: int = 256 * 1024
) -> list[ProtocolEvent]:
    """``data`` fed as reads of ``read_size`` (the connection's is 256 KiB), each drained."""
    events: list[ProtocolEvent] = []
    for offset in range(0, len(data), read_size):
        events += receive_all(proto, data[offset : offset + read_size])
    return events


def test_million_one_byte_fragments_take_linear_time() -> None:
    """A 1 MB message in a million 1-byte fragments is reassembled in linear time (about
    0.7 s of CPU here; 8.9 s before fragments were gathered)."""
    size = 10**6
    data = one_byte_fragments(size)
    started = time.process_time()
    events = receive_in_reads(ClientProtocol(max_message_size=None), data)
    elapsed = time.process_time() - started
    assert events == [BinaryMessage(b"a" + b"b" * (size - 2) + b"c")]
    assert elapsed < 5, f"{elapsed:.1f} s of CPU"


@pytest.mark.parametrize("opcode", [1, 2], ids=["text", "binary"])
def test_one_byte_fragments_cost_about_twice_the_message(opcode: int) -> None:
    """Reassembling 1-byte fragments holds at most 2.5 times the message (its gathered parts and
    the joined copy; 2.53 measured with the reads) plus two reads, not an object per fragment."""
    size = 200_000
    read_size = 16 * 1024  # small reads, so that the bound is about the message, not the reads
    first = bytearray(one_byte_fragments(size))
    first[0] = opcode  # FIN clear, text or binary
    data = bytes(first)
    del first
    proto = ClientProtocol(max_message_size=None)
    tracemalloc.start()
    try:
        events = receive_in_reads(proto, data, read_size)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    expected = b"a" + b"b" * (size - 2) + b"c"
    assert events == [TextMessage(expected.decode()) if opcode == 1 else BinaryMessage(expected)]
    assert peak < 2.5 * size + 2 * read_size, f"peak traced memory {peak} bytes"


@pytest.mark.parametrize("takeover", [True, False], ids=["takeover", "no-takeover"])
def test_bfinal_blocks_end_a_stream_and_later_messages_decode(takeover: bool) -> None:
    """Messages ending with a BFINAL=1 block (RFC 7692 7.2.3.4), the RFC's own example among
    them: each later message, text or binary, decodes intact, with or without takeover."""
    params = DeflateParams(server_no_context_takeover=not takeover)
    proto = ClientProtocol(inflater=Inflater(params))
    history = b""
    wire = frame(1, bytes.fromhex("f348cdc9c9070000"), rsv=4)  # "Hello", RFC 7692 7.2.3.4
    expected: list[ProtocolEvent] = [TextMessage("Hello")]
    history += b"Hello"
    for index in range(6):
        data = (b"message %d " % index) * 200
        zdict = history[-32768:] if takeover else b""
        obj = zlib.compressobj(9, zlib.DEFLATED, -15, zdict=zdict)
        if index % 3 == 2:  # now and then a message flushed the usual way
            body = (obj.compress(data) + obj.flush(zlib.Z_SYNC_FLUSH))[:-4]
        else:
            body = obj.compress(data) + obj.flush(zlib.Z_FINISH)
        opcode = 1 if index % 2 else 2
        wire += frame(opcode, body, rsv=4)
        expected.append(TextMessage(data.decode()) if opcode == 1 else BinaryMessage(data))
        history += data
    for step in (None, 1, 5):
        proto = ClientProtocol(inflater=Inflater(params))
        assert feed(proto, wire, step) == expected


def feed_reused(proto: ClientProtocol, data: bytes, step: int) -> list[ProtocolEvent]:
    """Feed ``data`` ``step`` bytes at a time as views of ONE buffer, overwritten with
    garbage after each read's batches are handled (as the reader's reusable buffer is)."""
    buffer = bytearray(step)
    events: list[ProtocolEvent] = []
    for i in range(0, len(data), step):
        piece = data[i : i + step]
        buffer[: len(piece)] = piece
        events += receive_all(proto, memoryview(buffer)[: len(piece)])  # type: ignore[arg-type]
        buffer[:] = b"\xee" * step
    return events


@pytest.mark.parametrize("step", [1, 7, 4096, 70001, 1 << 20])
def test_receive_from_a_reused_buffer_copies_out_what_it_keeps(step: int) -> None:
    """Views of a buffer overwritten after each read: the events are whole bytes and str,
    equal to what the same bytes give; nothing refers to the buffer once handled."""
    big = os.urandom(300_000)
    wire = (
        frame(2, b"small")
        + frame(1, "héllo".encode())
        + frame(9, b"ping!")
        + frame(2, big)
        + frame(1, b"frag", fin=False)
        + frame(10, b"pong")
        + frame(0, b"ment")
        + frame(2, os.urandom(70_000))
        + frame(8, struct.pack("!H", 1000) + b"bye")
    )
    expected = feed(ClientProtocol(max_message_size=None), wire)
    got = feed_reused(ClientProtocol(max_message_size=None), wire, step)
    assert got == expected
    for event in got:
        for value in vars(event).values() if hasattr(event, "__dict__") else ():
            assert not isinstance(value, memoryview | bytearray)
        data = getattr(event, "data", getattr(event, "payload", b""))
        assert type(data) in (bytes, str)


def test_receive_from_a_reused_buffer_inflates_compressed_messages() -> None:
    """A compressed message read through a reused buffer inflates as from bytes."""
    params = DeflateParams()
    text = "compress me " * 5000
    body = compress(text.encode())
    wire = frame(1, body[:100], fin=False, rsv=4) + frame(9, b"!") + frame(0, body[100:])
    for step in (3, 1000, len(wire)):
        proto = ClientProtocol(inflater=Inflater(params))
        assert feed_reused(proto, wire, step) == [Ping(b"!"), TextMessage(text)]


def test_keeps_reads_from_a_large_frame_until_a_smaller_one_straddles_a_read() -> None:
    """keeps_reads (reads kept without a copy) from a large frame's header on, through the
    frames after it, until a frame smaller than CHUNK_SIZE straddles a read."""
    proto = ClientProtocol(max_message_size=None)
    assert not proto.keeps_reads
    wire = frame(2, bytes(3 * CHUNK_SIZE))
    proto.receive(wire[:1000])
    assert proto.keeps_reads
    proto.receive(wire[1000 : -CHUNK_SIZE // 2])
    assert proto.keeps_reads
    assert proto.receive(wire[-CHUNK_SIZE // 2 :]) == [BinaryMessage(bytes(3 * CHUNK_SIZE))]
    assert proto.keeps_reads  # a stream of large messages: the next one is likely large
    assert proto.receive(frame(2, b"whole")) == [BinaryMessage(b"whole")]
    small = frame(2, bytes(1000))
    proto.receive(small[:500])
    assert not proto.keeps_reads  # a small frame's rest goes into the reused buffer
    assert proto.receive(small[500:]) == [BinaryMessage(bytes(1000))]


def test_read_size_asks_for_a_large_frame_payload_then_the_next_header() -> None:
    """Within a large frame read_size is what is left of it, right after it HEADER_READ;
    a payload that arrives in one read is handed on as that very bytes (no join)."""
    proto = ClientProtocol(max_message_size=None)
    assert proto.read_size == CHUNK_SIZE
    size = 3 * CHUNK_SIZE
    first = frame(2, bytes(size))
    assert not proto.reads_whole
    assert proto.receive(first[:1000]) == []
    assert proto.read_size == len(first) - 1000
    assert proto.reads_whole  # the rest of the frame, awaited whole by the driver
    assert proto.receive(first[1000:]) == [BinaryMessage(bytes(size))]
    assert proto.read_size == HEADER_READ
    assert not proto.reads_whole  # a header: whatever comes
    body = os.urandom(size)
    second = frame(2, body)
    assert len(second) == HEADER_READ + size  # the longest header is all of the header read
    assert proto.receive(second[:HEADER_READ]) == []
    assert proto.read_size == size
    payload = second[HEADER_READ:]
    (event,) = proto.receive(payload)
    assert isinstance(event, BinaryMessage)
    assert event.data is payload
    assert proto.read_size == HEADER_READ
    small = frame(2, bytes(100))
    assert proto.receive(small[:HEADER_READ]) == []
    assert proto.read_size == CHUNK_SIZE  # a small frame next: back to ordinary reads
    assert proto.receive(small[HEADER_READ:]) == [BinaryMessage(bytes(100))]
    assert proto.read_size == CHUNK_SIZE


def test_a_streamed_large_frame_is_not_read_whole() -> None:
    """A message handed over in pieces (``on_incomplete_frame``) is read as it comes: its
    large frame is neither asked for whole nor awaited whole."""
    proto = ClientProtocol(max_message_size=None)
    proto.streaming = True
    wire = frame(2, bytes(2 * CHUNK_SIZE))
    assert proto.receive(wire[:HEADER_READ]) == []
    assert proto.keeps_reads
    assert proto.read_size == CHUNK_SIZE
    assert not proto.reads_whole


def test_read_size_after_a_large_frame_and_more_frames_in_one_read_is_chunk_size() -> None:
    """A read that holds a large frame's end and then whole small frames asks for an
    ordinary read next, not a header's worth."""
    proto = ClientProtocol(max_message_size=None)
    wire = frame(2, bytes(CHUNK_SIZE)) + frame(2, b"tail")
    proto.receive(wire[:100])
    assert proto.receive(wire[100:]) == [BinaryMessage(bytes(CHUNK_SIZE)), BinaryMessage(b"tail")]
    assert proto.read_size == CHUNK_SIZE


def test_read_size_is_bounded_by_exact_read_max_and_by_the_frame() -> None:
    """A frame of EXACT_READ_MAX bytes is asked for whole; a larger one (2**62 declared, no
    max_message_size) in CHUNK_SIZE reads, as it is joined anyway; a frame over
    max_message_size fails at its header, before anything of its size is read."""
    proto = ClientProtocol(max_message_size=None)
    wire = frame(2, bytes(EXACT_READ_MAX))
    assert proto.receive(wire[: HEADER_READ + 5]) == []
    assert proto.read_size == EXACT_READ_MAX - 5
    assert proto.reads_whole
    proto = ClientProtocol(max_message_size=None)
    wire = frame(2, bytes(EXACT_READ_MAX + 1))
    assert proto.receive(wire[:HEADER_READ]) == []
    assert proto.keeps_reads
    assert proto.read_size == CHUNK_SIZE
    assert not proto.reads_whole
    proto = ClientProtocol(max_message_size=None)
    assert proto.receive(b"\x82\x7f" + struct.pack("!Q", 2**62) + b"x") == []
    assert proto.read_size == CHUNK_SIZE
    proto = ClientProtocol(max_message_size=2**20)
    (event,) = proto.receive(b"\x82\x7f" + struct.pack("!Q", 2**62))
    assert isinstance(event, Failure)
    assert event.code == 1009


def test_read_size_stays_chunk_size_for_streamed_and_compressed_messages() -> None:
    """A streamed message comes in pieces of at most CHUNK_SIZE, and a compressed one is
    inflated as it comes: both keep ordinary reads, however large the frame."""
    streamed = ClientProtocol(max_message_size=None)
    streamed.streaming = True
    streamed.receive(frame(2, bytes(4 * CHUNK_SIZE))[:1000])
    assert streamed.keeps_reads
    assert streamed.read_size == CHUNK_SIZE
    compressed = ClientProtocol(max_message_size=None, inflater=Inflater(DeflateParams()))
    body = compress(os.urandom(4 * CHUNK_SIZE))
    compressed.receive(frame(2, body, rsv=4)[:1000])
    assert compressed.keeps_reads
    assert compressed.read_size == CHUNK_SIZE
