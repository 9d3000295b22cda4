"""The shared frames module: constants, masking, encoding, close payloads, FrameReader."""

from __future__ import annotations

import os
import struct

import pytest

from trio_ws_events._sansio import frames
from trio_ws_events._sansio.frames import (
    MAX_CLOSE_REASON,
    MAX_CONTROL_PAYLOAD,
    RSV1,
    RSV2,
    RSV3,
    WEBSOCKET_GUID,
    CloseCode,
    FrameError,
    FrameReader,
    Opcode,
    RawFrame,
    _apply_mask_python,
    accept_token,
    apply_mask,
    decode_close,
    encode_close,
    encode_frame,
    encode_header,
    is_valid_close_code,
)

MASK = b"\x37\xfa\x21\x3d"


def test_opcode_constants_match_the_enum() -> None:
    """The plain-int opcodes equal the Opcode members and RFC 6455 5.2's values."""
    assert (frames.OP_CONT, frames.OP_TEXT, frames.OP_BINARY) == (0, 1, 2)
    assert (frames.OP_CLOSE, frames.OP_PING, frames.OP_PONG) == (8, 9, 10)
    assert [int(op) for op in Opcode] == [0, 1, 2, 8, 9, 10]
    assert int(Opcode.PONG) == frames.OP_PONG


def test_close_code_enum_has_the_registered_codes() -> None:
    """CloseCode lists 1000-1015 without the reserved 1004."""
    assert sorted(int(code) for code in CloseCode) == [c for c in range(1000, 1016) if c != 1004]
    assert int(CloseCode.MESSAGE_TOO_BIG) == 1009


@pytest.mark.parametrize(
    ("code", "valid"),
    [
        (999, False),
        (1000, True),
        (1003, True),
        (1004, False),
        (1005, False),
        (1006, False),
        (1007, True),
        (1014, True),
        (1015, False),
        (1016, False),
        (2999, False),
        (3000, True),
        (4999, True),
        (5000, False),
    ],
)
def test_is_valid_close_code_follows_rfc_6455_7_4(code: int, valid: bool) -> None:
    """Only 1000-1003, 1007-1014 and 3000-4999 may appear in a close frame."""
    assert is_valid_close_code(code) is valid


def test_sizes_are_rfc_6455_limits() -> None:
    """A control payload holds 125 bytes, so a close reason 123 after its code."""
    assert MAX_CONTROL_PAYLOAD == 125
    assert MAX_CLOSE_REASON == MAX_CONTROL_PAYLOAD - 2


def test_accept_token_matches_rfc_6455_example() -> None:
    """The key of RFC 6455 section 1.3 gives the accept value printed there."""
    assert WEBSOCKET_GUID == b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
    assert accept_token("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_accept_token_of_a_non_ascii_key_does_not_raise() -> None:
    """A garbage key from a hostile client still gives a (wrong) token, no crash."""
    assert accept_token("clé") != accept_token("cle")


@pytest.mark.parametrize("size", [0, 1, 3, 4, 5, 125, 126, 1000, 65536, 2**20 + 3])
def test_apply_mask_matches_fallback_and_inverts(size: int) -> None:
    """The C helper (when present) equals the fallback, and masking twice gives the data."""
    data, key = os.urandom(size), os.urandom(4)
    assert apply_mask(data, key) == _apply_mask_python(data, key)
    assert apply_mask(memoryview(data), key) == _apply_mask_python(memoryview(data), key)
    assert _apply_mask_python(_apply_mask_python(data, key), key) == data


def test_apply_mask_xors_each_byte_with_the_key_in_turn() -> None:
    """Byte i is XORed with key[i % 4] (RFC 6455 5.3)."""
    data = bytes(range(10))
    expected = bytes(b ^ MASK[i % 4] for i, b in enumerate(data))
    assert apply_mask(data, MASK) == expected == _apply_mask_python(data, MASK)


@pytest.mark.parametrize(
    ("length", "second", "extra"),
    [
        (0, 0, b""),
        (125, 125, b""),
        (126, 126, struct.pack("!H", 126)),
        (65535, 126, struct.pack("!H", 65535)),
        (65536, 127, struct.pack("!Q", 65536)),
        (2**63 - 1, 127, struct.pack("!Q", 2**63 - 1)),
    ],
)
def test_encode_header_uses_the_shortest_length_form(
    length: int, second: int, extra: bytes
) -> None:
    """7-bit up to 125, 16-bit up to 65535, 64-bit beyond."""
    assert encode_header(frames.OP_BINARY, length) == bytes((0x82, second)) + extra
    masked = encode_header(frames.OP_BINARY, length, mask=MASK)
    assert masked == bytes((0x82, 0x80 | second)) + extra + MASK


def test_encode_header_sets_fin_rsv_and_opcode_bits() -> None:
    """fin=False clears bit 7, rsv bits sit in place, any opcode 0-15 is written."""
    assert encode_header(frames.OP_TEXT, 1, fin=False)[0] == 0x01
    assert encode_header(frames.OP_TEXT, 1, rsv=RSV1)[0] == 0xC1
    assert encode_header(0xB, 0, rsv=RSV1 | RSV2 | RSV3)[0] == 0xFB


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"opcode": 16, "length": 0}, "opcode must be 0-15, got 16"),
        ({"opcode": -1, "length": 0}, "opcode must be 0-15, got -1"),
        ({"opcode": 1, "length": -1}, "payload length must be 0 to 2**63 - 1, got -1"),
        ({"opcode": 1, "length": 2**63}, "payload length must be 0 to 2**63 - 1"),
        ({"opcode": 1, "length": 0, "rsv": 0x80}, "rsv must combine RSV1, RSV2 and RSV3"),
        ({"opcode": 1, "length": 0, "rsv": 1}, "rsv must combine RSV1, RSV2 and RSV3"),
        ({"opcode": 1, "length": 0, "mask": b"abc"}, "mask must be 4 bytes, got 3"),
    ],
)
def test_encode_header_refuses_out_of_range_arguments(kwargs: dict[str, int], message: str) -> None:
    """Each bad argument raises ValueError saying what is allowed."""
    with pytest.raises(ValueError, match=message.replace("*", r"\*")):
        encode_header(**kwargs)  # type: ignore[arg-type]


def test_encode_frame_masks_the_payload() -> None:
    """A masked frame carries the key, then the payload XORed with it."""
    frame = encode_frame(frames.OP_TEXT, b"Hello", mask=MASK)
    assert frame == b"\x81\x85" + MASK + apply_mask(b"Hello", MASK)
    assert encode_frame(frames.OP_TEXT, memoryview(b"Hello")) == b"\x81\x05Hello"
    assert encode_frame(frames.OP_PING) == b"\x89\x00"


def test_encode_close_and_decode_close_round_trip() -> None:
    """Code and reason survive encoding; no code means an empty payload and 1005 back."""
    payload = encode_close(1001, "bye é")
    assert payload == b"\x03\xe9" + "bye é".encode()
    assert decode_close(payload) == (1001, "bye é")
    assert encode_close(None) == encode_close(1005, "ignored") == b""
    assert decode_close(b"") == (1005, "")
    assert decode_close(encode_close(4999)) == (4999, "")


@pytest.mark.parametrize(
    ("payload", "code", "reason"),
    [
        (b"\x03", 1002, "close frame with a 1-byte payload"),
        (struct.pack("!H", 1005), 1002, "close frame with invalid code 1005"),
        (struct.pack("!H", 2000), 1002, "close frame with invalid code 2000"),
        (struct.pack("!H", 1000) + b"\xff", 1007, "invalid UTF-8 in the close reason"),
    ],
)
def test_decode_close_raises_frame_error_with_the_code_to_send(
    payload: bytes, code: int, reason: str
) -> None:
    """A malformed close payload names the close code the violation calls for."""
    with pytest.raises(FrameError) as info:
        decode_close(payload)
    assert info.value.code == code
    assert info.value.reason.startswith(reason)
    assert str(info.value) == info.value.reason


def _stream() -> tuple[bytes, list[RawFrame]]:
    """Frames of every length form, masked and not, with their expected parse."""
    expected = [
        RawFrame(frames.OP_TEXT, True, 0, True, b"hello"),
        RawFrame(frames.OP_BINARY, False, RSV1, False, os.urandom(300)),
        RawFrame(frames.OP_CONT, True, 0, True, os.urandom(70000)),
        RawFrame(frames.OP_PING, True, 0, False, b""),
        RawFrame(0xB, True, RSV2 | RSV3, True, b"reserved"),
        RawFrame(frames.OP_CLOSE, True, 0, True, encode_close(1000, "done")),
    ]
    data = b"".join(
        encode_frame(f.opcode, f.payload, fin=f.fin, rsv=f.rsv, mask=MASK if f.masked else None)
        for f in expected
    )
    return data, expected


def _drain(reader: FrameReader) -> list[RawFrame]:
    out: list[RawFrame] = []
    for _ in range(100):  # bounded: the stream holds six frames
        frame = reader.next_frame()
        if frame is None:
            return out
        out.append(frame)
    raise AssertionError("reader never ran out of frames")


def test_frame_reader_round_trips_encode_frame() -> None:
    """Every frame encode_frame wrote comes back unmasked, with its bits."""
    data, expected = _stream()
    reader = FrameReader(data)
    assert _drain(reader) == expected
    assert reader.next_frame() is None


def test_frame_reader_split_at_every_byte() -> None:
    """However the bytes are split in two, the same frames come out, none early."""
    data, expected = _stream()
    small = data[: len(data) - 70000 - 14]  # all but the large frame: every split point
    small_expected = [f for f in expected if len(f.payload) != 70000]
    small = b"".join(
        encode_frame(f.opcode, f.payload, fin=f.fin, rsv=f.rsv, mask=MASK if f.masked else None)
        for f in small_expected
    )
    for cut in range(len(small) + 1):
        reader = FrameReader()
        reader.feed(small[:cut])
        got = _drain(reader)
        reader.feed(small[cut:])
        got += _drain(reader)
        assert got == small_expected, cut
    assert len(data) > len(small)


def test_frame_reader_fed_one_byte_at_a_time() -> None:
    """Fed byte by byte, each frame comes out exactly when its last byte arrives."""
    _, expected = _stream()
    encoded = [
        encode_frame(f.opcode, f.payload, fin=f.fin, rsv=f.rsv, mask=MASK if f.masked else None)
        for f in expected
        if len(f.payload) < 1000
    ]
    ends = [sum(len(e) for e in encoded[: i + 1]) - 1 for i in range(len(encoded))]
    data = b"".join(encoded)
    reader = FrameReader()
    seen_at = []
    for i in range(len(data)):
        reader.feed(data[i : i + 1])
        seen_at += [i] * len(_drain(reader))
    assert seen_at == ends


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (b"\x82\x7e\x00\x7d", "frame length not minimally encoded"),
        (b"\x82\x7f" + struct.pack("!Q", 65535), "invalid 64-bit frame length"),
        (b"\x82\x7f" + struct.pack("!Q", 2**63), "invalid 64-bit frame length"),
    ],
)
def test_frame_reader_refuses_unreadable_lengths(header: bytes, reason: str) -> None:
    """A non-minimal length or a 64-bit length with its top bit set is a 1002 at the header."""
    reader = FrameReader(header)
    with pytest.raises(FrameError, match=reason) as info:
        reader.next_frame()
    assert info.value.code == 1002


def test_frame_reader_leaves_policy_to_the_caller() -> None:
    """An unmasked, reserved-bit, 200-byte ping is parsed as it is, not judged."""
    reader = FrameReader(encode_frame(frames.OP_PING, b"x" * 200, fin=False, rsv=RSV1))
    assert reader.next_frame() == RawFrame(frames.OP_PING, False, RSV1, False, b"x" * 200)


def test_frame_reader_drops_consumed_bytes() -> None:
    """A long-lived reader does not keep the bytes of frames already returned."""
    reader = FrameReader()
    frame = encode_frame(frames.OP_BINARY, b"y" * 1000)
    for _ in range(50):
        reader.feed(frame)
        assert reader.next_frame() is not None
    assert len(reader._buffer) <= 2 * len(frame)
