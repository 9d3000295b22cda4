"""RFC 6455 frames written once: opcodes, close codes, masking, headers, the accept token.

Everything the client, the scripted test server, the test peers and the benchmarks need to
know about a frame lives here, without I/O (no trio). The client's own receive path
(``ClientProtocol.receive``) parses frames inline for speed but takes its constants, its
masking and its close-payload rules from this module; ``FrameReader`` is the plain
incremental parser for everything else (servers and test peers).
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import functools
import hashlib
import struct
from collections.abc import Callable
from typing import Final

__all__ = [
    "CHUNK_SIZE",
    "MAX_CLOSE_REASON",
    "MAX_CONTROL_PAYLOAD",
    "OP_BINARY",
    "OP_CLOSE",
    "OP_CONT",
    "OP_PING",
    "OP_PONG",
    "OP_TEXT",
    "RSV1",
    "RSV2",
    "RSV3",
    "WEBSOCKET_GUID",
    "CloseCode",
    "FrameError",
    "FrameReader",
    "Opcode",
    "RawFrame",
    "accept_token",
    "apply_mask",
    "decode_close",
    "encode_close",
    "encode_frame",
    "encode_header",
    "is_valid_close_code",
]

# Plain ints for the hot paths, which compare opcodes per frame.
OP_CONT: Final = 0x0
OP_TEXT: Final = 0x1
OP_BINARY: Final = 0x2
OP_CLOSE: Final = 0x8
OP_PING: Final = 0x9
OP_PONG: Final = 0xA

#: The reserved bits as they sit in a frame's first byte (``rsv=`` and ``RawFrame.rsv``).
RSV1: Final = 0x40
RSV2: Final = 0x20
RSV3: Final = 0x10

#: The largest payload of a control frame (RFC 6455 5.5).
MAX_CONTROL_PAYLOAD: Final = 125
#: The largest close reason, in bytes of UTF-8: a control payload less the 2-byte code.
MAX_CLOSE_REASON: Final = 123
#: The unit bytes move in on every path, so that what one step holds is one figure: a read
#: from the socket, a batch of writes, a piece of a streamed (or inflated) message, what one
#: receive batch may inflate, and the payload size from which masking goes slice by slice
#: instead of copying the payload whole.
CHUNK_SIZE: Final = 256 * 1024
#: The GUID RFC 6455 section 1.3 appends to ``Sec-WebSocket-Key``.
WEBSOCKET_GUID: Final = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

_pack_h = struct.Struct("!H").pack
_pack_q = struct.Struct("!Q").pack
_unpack_h = struct.Struct("!H").unpack_from
_unpack_q = struct.Struct("!Q").unpack_from


class Opcode(enum.IntEnum):
    """The frame opcodes RFC 6455 defines (5.2); the others are reserved."""

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


class CloseCode(enum.IntEnum):
    """The close codes of RFC 6455 7.4.1 and the IANA registry."""

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS_RCVD = 1005
    ABNORMAL_CLOSURE = 1006
    INVALID_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015


def is_valid_close_code(code: int) -> bool:
    """Whether ``code`` may appear in a close frame: 1000-1003, 1007-1014 or 3000-4999.

    1005, 1006 and 1015 only ever describe a close locally (RFC 6455 7.4.1); 1004 and
    1016-2999 are reserved; 3000-4999 belong to libraries and applications.
    """
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


class FrameError(Exception):
    """A frame breaks RFC 6455.

    Attributes:
        code: the close code the violation calls for (1002, 1007, 1009...).
        reason: what was wrong, fit for a close reason or a log.
    """

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def accept_token(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` value that answers ``Sec-WebSocket-Key: key``.

    Args:
        key: the request's key as sent (base64 of 16 bytes from a valid client; anything
            else still gives a token, which a client will then refuse).

    Returns:
        base64 of the SHA-1 of the key and ``WEBSOCKET_GUID``.
    """
    # SHA-1 because RFC 6455 says so; it proves the server read the key, nothing more.
    digest = hashlib.sha1(key.encode("ascii", "replace") + WEBSOCKET_GUID).digest()
    return base64.b64encode(digest).decode("ascii")


def _apply_mask_python(data: bytes | memoryview, mask: bytes) -> bytes:
    """XOR ``data`` with the 4-byte ``mask`` repeated: four strided ``translate`` calls."""
    if not data:
        return b""
    tables = _xor_tables()
    buffer = bytearray(data)
    for offset in range(4):
        buffer[offset::4] = buffer[offset::4].translate(tables[mask[offset]])
    return bytes(buffer)


@functools.cache
def _xor_tables() -> list[bytes]:
    # Built on first use only: 64 KiB and a few milliseconds that the C helper never needs.
    return [bytes(value ^ key for value in range(256)) for key in range(256)]


apply_mask: Callable[[bytes | memoryview, bytes], bytes]
try:
    # websockets' C helper masks at memory speed (10x the fallback on 1 MiB payloads).
    # tests/sansio/test_frames.py pins this private module and compares it with the fallback.
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - websockets without its C extension
    apply_mask = _apply_mask_python


def encode_header(
    opcode: int, length: int, *, fin: bool = True, rsv: int = 0, mask: bytes | None = None
) -> bytes:
    """A frame header in the shortest length form, followed by ``mask`` when given.

    Any opcode 0-15 is accepted: what may be sent is the caller's policy (test peers send
    reserved opcodes on purpose).

    Args:
        opcode: 0-15.
        length: the payload's length, 0 to 2**63 - 1.
        fin: the FIN bit.
        rsv: the reserved bits in place (a combination of ``RSV1``, ``RSV2``,
            ``RSV3``).
        mask: the 4-byte masking key, or ``None`` for an unmasked frame.

    Raises:
        ValueError: an argument is out of range.
    """
    if not 0 <= opcode <= 0xF:
        raise ValueError(f"opcode must be 0-15, got {opcode}")
    if rsv & ~0x70:
        raise ValueError(f"rsv must combine RSV1, RSV2 and RSV3 (0x40, 0x20, 0x10), got {rsv:#x}")
    if not 0 <= length < 2**63:
        raise ValueError(f"payload length must be 0 to 2**63 - 1, got {length}")
    if mask is not None and len(mask) != 4:
        raise ValueError(f"mask must be 4 bytes, got {len(mask)}")
    b0 = (0x80 if fin else 0) | rsv | opcode
    bit = 0x80 if mask is not None else 0
    if length < 126:
        header = bytes((b0, bit | length))
    elif length < 65536:
        header = bytes((b0, bit | 126)) + _pack_h(length)
    else:
        header = bytes((b0, bit | 127)) + _pack_q(length)
    return header if mask is None else header + mask


def encode_frame(
    opcode: int,
    payload: bytes | memoryview = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: bytes | None = None,
) -> bytes:
    """A whole frame: ``encode_header`` and ``payload``, masked with ``mask`` if given.

    Raises:
        ValueError: as ``encode_header``.
    """
    header = encode_header(opcode, len(payload), fin=fin, rsv=rsv, mask=mask)
    body = bytes(payload) if mask is None else apply_mask(payload, mask)
    return header + body


def encode_close(code: int | None, reason: str = "") -> bytes:
    """The payload of a close frame: empty for ``code=None`` or 1005, else code and reason.

    Nothing is checked here (test peers send invalid codes on purpose): the public API checks
    what a user asks for before it gets this far.
    """
    if code is None or code == CloseCode.NO_STATUS_RCVD:
        return b""
    return _pack_h(code) + reason.encode()


def decode_close(payload: bytes) -> tuple[int, str]:
    """The code and reason of a received close frame's payload; ``(1005, "")`` when empty.

    Raises:
        FrameError: 1002 for a 1-byte payload or a code no peer may send, 1007 for a reason
            that is not UTF-8.
    """
    if not payload:
        return CloseCode.NO_STATUS_RCVD, ""
    if len(payload) == 1:
        raise FrameError(1002, "close frame with a 1-byte payload")
    (code,) = _unpack_h(payload, 0)
    if not is_valid_close_code(code):
        raise FrameError(1002, f"close frame with invalid code {code}")
    try:
        reason = payload[2:].decode()
    except UnicodeDecodeError as exc:
        raise FrameError(1007, f"invalid UTF-8 in the close reason: {exc}") from None
    return code, reason


@dataclasses.dataclass(frozen=True, slots=True)
class RawFrame:
    """One frame as it was on the wire, its payload unmasked.

    Attributes:
        opcode: 0-15, reserved ones included.
        fin: the FIN bit.
        rsv: the reserved bits in place (``b0 & 0x70``).
        masked: whether the frame was masked.
        payload: the payload, unmasked.
    """

    opcode: int
    fin: bool
    rsv: int
    masked: bool
    payload: bytes


class FrameReader:
    """An incremental frame parser for servers and test peers: feed bytes, take frames.

    It enforces only what makes a frame unreadable (the length's encoding); whether frames
    must be masked, which opcodes and bits are allowed, how long a control frame may be is
    the caller's policy, checked on the ``RawFrame`` it returns.
    """

    __slots__ = ("_buffer", "_pos")

    def __init__(self, data: bytes = b"") -> None:
        self._buffer = bytearray(data)
        self._pos = 0  # where the next frame starts: consumed bytes are dropped in bulk

    def feed(self, data: bytes) -> None:
        """Add the next bytes received."""
        if self._pos and self._pos * 2 >= len(self._buffer):
            del self._buffer[: self._pos]
            self._pos = 0
        self._buffer += data

    def next_frame(self) -> RawFrame | None:
        """The next whole frame, or ``None`` when more bytes are needed.

        Raises:
            FrameError: 1002 for a length not in its shortest form or a 64-bit length with
                its top bit set.
        """
        buffer = self._buffer
        pos = self._pos
        available = len(buffer) - pos
        if available < 2:
            return None
        b0, b1 = buffer[pos], buffer[pos + 1]
        length = b1 & 0x7F
        offset = 2
        if length == 126:
            if available < 4:
                return None
            (length,) = _unpack_h(buffer, pos + 2)
            offset = 4
            if length < 126:
                raise FrameError(1002, "frame length not minimally encoded")
        elif length == 127:
            if available < 10:
                return None
            (length,) = _unpack_q(buffer, pos + 2)
            offset = 10
            if length < 65536 or length >> 63:
                raise FrameError(1002, "invalid 64-bit frame length")
        masked = bool(b1 & 0x80)
        if masked:
            offset += 4
        if available < offset + length:
            return None
        start = pos + offset
        payload = bytes(buffer[start : start + length])
        if masked:
            payload = apply_mask(payload, bytes(buffer[start - 4 : start]))
        self._pos = start + length
        return RawFrame(b0 & 0x0F, bool(b0 & 0x80), b0 & 0x70, masked, payload)
