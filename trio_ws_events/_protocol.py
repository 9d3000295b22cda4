"""The client side of the WebSocket framing protocol (RFC 6455, RFC 7692), without I/O.

``ClientProtocol`` turns bytes from the server into events and messages into bytes for
the server. It is written for the hot path: frames are parsed straight out of each read (no
buffer copies for frames that arrive whole), a whole message needs no reassembly, a large
one is joined once, and masking runs in C (``websockets.speedups``) when it is available.

Every violation by the server becomes a final ``Failure`` event carrying the close code
to send (1002, 1007, 1009); the events before it in the same read come first.
"""

from __future__ import annotations

import codecs
import dataclasses
import functools
import os
import struct
import zlib
from collections.abc import Callable
from typing import Final

from ._deflate import MIN_COMPRESS_SIZE, Deflater, Inflater, TooBig
from ._events import Frame

__all__ = [
    "BinaryMessage",
    "ClientProtocol",
    "CloseReceived",
    "Failure",
    "Ping",
    "Pong",
    "ProtocolEvent",
    "TextMessage",
    "Wire",
    "apply_mask",
    "peer_may_send",
]

OP_CONT: Final = 0x0
OP_TEXT: Final = 0x1
OP_BINARY: Final = 0x2
OP_CLOSE: Final = 0x8
OP_PING: Final = 0x9
OP_PONG: Final = 0xA

#: Payloads from this size on are written apart from their header instead of being copied
#: once more behind it.
SPLIT_PAYLOAD: Final = 256 * 1024

#: A frame as handed to the socket: one piece of bytes, or its header and its payload apart.
Wire = tuple[bytes] | tuple[bytes, bytes]
Buffer = bytes | memoryview

#: With compression, the most one streamed piece may hold once inflated.
MAX_INFLATED_PIECE: Final = 16 * 2**20

_pack_h = struct.Struct("!H").pack
_pack_q = struct.Struct("!Q").pack
_unpack_h = struct.Struct("!H").unpack_from
_unpack_q = struct.Struct("!Q").unpack_from


def _apply_mask_python(data: Buffer, mask: bytes) -> bytes:
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


apply_mask: Callable[[Buffer, bytes], bytes]
try:
    # websockets' C helper masks at memory speed (10x the fallback on 1 MiB payloads).
    # tests/test_protocol.py pins this private module and compares it with the fallback.
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - websockets without its C extension
    apply_mask = _apply_mask_python


def peer_may_send(code: int) -> bool:
    """Whether a close frame from the peer may carry ``code`` (RFC 6455 7.4, IANA registry)."""
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


@dataclasses.dataclass(slots=True)
class TextMessage:
    """A whole text message."""

    data: str


@dataclasses.dataclass(slots=True)
class BinaryMessage:
    """A whole binary message."""

    data: bytes


@dataclasses.dataclass(slots=True)
class Ping:
    """A ping from the server; the owner answers it with a pong of the same payload."""

    payload: bytes


@dataclasses.dataclass(slots=True)
class Pong:
    """A pong from the server."""

    payload: bytes


@dataclasses.dataclass(slots=True)
class CloseReceived:
    """The server's close frame: its code (1005 when it carried none) and reason."""

    code: int
    reason: str


@dataclasses.dataclass(slots=True)
class Failure:
    """The server broke the protocol: close with ``code``. No event follows."""

    code: int
    reason: str


ProtocolEvent = TextMessage | BinaryMessage | Frame | Ping | Pong | CloseReceived | Failure


class _Fail(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class ClientProtocol:
    """Parses the server's frames and builds the client's, for one connection.

    Args:
        max_message_size: the largest reassembled message in bytes (inflated size with
            compression), ``None`` for no limit; exceeding it is a 1009 failure.
        inflater, deflater: the permessage-deflate codecs when it was negotiated.
        max_fragment_size: when set, outgoing messages longer than this are split into
            frames of at most this many payload bytes.

    The owner sets ``streaming`` before feeding data: while it is true, a message that
    does not arrive whole is delivered as ``Frame`` pieces instead of being reassembled.
    """

    __slots__ = (
        "_buf",
        "_decoder",
        "_deflater",
        "_frame_fin",
        "_frame_left",
        "_inflater",
        "_keys",
        "_keys_used",
        "_max_fragment",
        "_max_size",
        "_msg_compressed",
        "_msg_opcode",
        "_msg_parts",
        "_msg_size",
        "_msg_streaming",
        "_msg_whole",
        "_text_parts",
        "bytes_received",
        "closed",
        "messages_received",
        "streaming",
    )

    def __init__(
        self,
        *,
        max_message_size: int | None = 2**20,
        inflater: Inflater | None = None,
        deflater: Deflater | None = None,
        max_fragment_size: int | None = None,
    ) -> None:
        self._buf = b""
        self._max_size = max_message_size
        self._inflater = inflater
        self._deflater = deflater
        self._max_fragment = max_fragment_size
        self._frame_left = 0
        self._frame_fin = False
        self._msg_opcode = 0
        self._msg_compressed = False
        self._msg_streaming = False
        self._msg_whole = False  # the message's one frame came whole in one read
        self._msg_parts: list[bytes] = []
        self._text_parts: list[str] = []  # a reassembled text message, decoded as it came
        self._msg_size = 0
        self._decoder: codecs.IncrementalDecoder | None = None
        # Masking keys come from the OS's CSPRNG, fetched in bulk to spare a system call
        # per frame; each key is used once (RFC 6455 5.3).
        self._keys = b""
        self._keys_used = 0
        #: Totals of data messages and their payload bytes (inflated), for ``ws.stats``.
        self.messages_received = 0
        self.bytes_received = 0
        #: Deliver unfinished messages as pieces (set by the owner).
        self.streaming = False
        #: True once a close frame or a violation ended the input: further data is ignored.
        self.closed = False

    # ------------------------------------------------------------------ receiving

    def receive(self, data: bytes) -> list[ProtocolEvent]:
        """Parse ``data`` (the next bytes from the server) and return the events it completes."""
        events: list[ProtocolEvent] = []
        if self.closed:
            return events
        buf = self._buf + data if self._buf else data
        end = len(buf)
        pos = 0
        try:
            while pos < end:
                if self._frame_left:
                    take = min(self._frame_left, end - pos)
                    # A read that is all payload is used as it is, without a copy.
                    chunk = buf if pos == 0 and take == end else buf[pos : pos + take]
                    pos += take
                    self._frame_left -= take
                    self._data(chunk, self._frame_fin and not self._frame_left, events)
                    continue
                if end - pos < 2:
                    break
                b0 = buf[pos]
                b1 = buf[pos + 1]
                length = b1 & 0x7F
                start = pos + 2
                if length == 126:
                    if end - pos < 4:
                        break
                    (length,) = _unpack_h(buf, start)
                    start += 2
                    if length < 126:
                        raise _Fail(1002, "frame length not minimally encoded")
                elif length == 127:
                    if end - pos < 10:
                        break
                    (length,) = _unpack_q(buf, start)
                    start += 8
                    if length < 65536 or length >> 63:
                        raise _Fail(1002, "invalid 64-bit frame length")
                if b1 & 0x80:
                    raise _Fail(1002, "the server sent a masked frame")
                opcode = b0 & 0x0F
                if opcode >= 8:
                    if end - start < length:
                        if length > 125:
                            raise _Fail(1002, f"control frame of {length} bytes (max 125)")
                        break
                    payload = buf[start : start + length]
                    pos = start + length
                    if self._control(b0, opcode, length, payload, events):
                        break
                    continue
                fin = b0 & 0x80
                if (
                    fin
                    and not (b0 & 0x70)
                    and opcode
                    and not self._msg_opcode
                    and end - start >= length
                ):
                    # The common case: a whole, unfragmented, uncompressed message.
                    pos = start + length
                    payload = buf[start:pos]
                    if self._max_size is not None and length > self._max_size:
                        self._too_big(length)
                    self.messages_received += 1
                    self.bytes_received += length
                    if opcode == OP_TEXT:
                        try:
                            events.append(TextMessage(payload.decode()))
                        except UnicodeDecodeError as exc:
                            raise _Fail(1007, f"invalid UTF-8 in a text message: {exc}") from None
                    elif opcode == OP_BINARY:
                        events.append(BinaryMessage(payload))
                    else:
                        raise _Fail(1002, f"reserved opcode {opcode:#x}")
                    continue
                pos = start
                self._frame_header(b0, opcode, length, bool(fin) and end - start >= length)
                if not length:
                    self._data(b"", bool(fin), events)
        except _Fail as failure:
            self.closed = True
            self._buf = b""
            self._msg_parts = []
            self._text_parts = []
            events.append(Failure(failure.code, failure.reason))
            return events
        self._buf = buf[pos:] if pos < end else b""
        return events

    def _control(
        self, b0: int, opcode: int, length: int, payload: bytes, events: list[ProtocolEvent]
    ) -> bool:
        """Handle a whole control frame; True when it was the close frame."""
        if opcode > OP_PONG:
            raise _Fail(1002, f"reserved opcode {opcode:#x}")
        if not b0 & 0x80:
            raise _Fail(1002, "fragmented control frame")
        if b0 & 0x70:
            raise _Fail(1002, "reserved bits set on a control frame")
        if length > 125:
            raise _Fail(1002, f"control frame of {length} bytes (max 125)")
        if opcode == OP_PING:
            events.append(Ping(payload))
            return False
        if opcode == OP_PONG:
            events.append(Pong(payload))
            return False
        events.append(_parse_close(payload))
        self.closed = True
        self._buf = b""
        return True

    def _frame_header(self, b0: int, opcode: int, length: int, whole: bool = False) -> None:
        """Start a data frame whose payload is not (all) in the buffer, or that continues.

        ``whole``: the frame has FIN and all its payload in this read (a compressed message
        that arrived whole): it fires as a whole message even while streaming.
        """
        rsv = b0 & 0x70
        if opcode == OP_CONT:
            if not self._msg_opcode:
                raise _Fail(1002, "continuation frame with no message to continue")
            if rsv:
                raise _Fail(1002, "reserved bits set on a continuation frame")
        elif opcode in (OP_TEXT, OP_BINARY):
            if self._msg_opcode:
                raise _Fail(1002, "new message started inside a fragmented message")
            if rsv & 0x30 or (rsv and self._inflater is None):
                raise _Fail(1002, "reserved bits set without a negotiated extension")
            self._msg_opcode = opcode
            self._msg_compressed = bool(rsv)
            self._msg_streaming = self.streaming
            self._msg_whole = whole
            self._msg_size = 0
            if opcode == OP_TEXT:
                # Streamed or not, text is decoded as it arrives: invalid UTF-8 fails at
                # once, not when the message ends (Autobahn 6.4.x).
                self._decoder = codecs.getincrementaldecoder("utf-8")()
        else:
            raise _Fail(1002, f"reserved opcode {opcode:#x}")
        limit = self._max_size
        if (
            limit is not None
            and not self._msg_streaming
            and not self._msg_compressed
            and self._msg_size + length > limit
        ):
            self._too_big(self._msg_size + length)
        self._frame_fin = bool(b0 & 0x80)
        self._frame_left = length

    def _data(self, chunk: bytes, final: bool, events: list[ProtocolEvent]) -> None:
        """Take one piece of the current message's payload."""
        if self._msg_compressed:
            chunk = self._inflate(chunk, final)
        is_text = self._msg_opcode == OP_TEXT
        self.bytes_received += len(chunk)
        if final:
            self.messages_received += 1
        if self._msg_streaming:
            if is_text:
                text = self._decode(chunk, final)
                if self._msg_whole:
                    events.append(TextMessage(text))
                elif text or final:
                    events.append(Frame(text, True, final))
            elif self._msg_whole:
                events.append(BinaryMessage(bytes(chunk)))
            elif chunk or final:
                events.append(Frame(bytes(chunk), False, final))
        else:
            self._msg_size += len(chunk)
            if self._max_size is not None and self._msg_size > self._max_size:
                self._too_big(self._msg_size)
            if is_text:
                text = self._decode(chunk, final)
                if text:
                    self._text_parts.append(text)
                if final:
                    texts = self._text_parts
                    self._text_parts = []
                    events.append(TextMessage(texts[0] if len(texts) == 1 else "".join(texts)))
            else:
                if chunk:
                    self._msg_parts.append(chunk)
                if final:
                    parts = self._msg_parts
                    data = parts[0] if len(parts) == 1 else b"".join(parts)
                    self._msg_parts = []
                    events.append(BinaryMessage(bytes(data)))
        if final:
            self._msg_opcode = 0
            self._decoder = None

    def _decode(self, chunk: bytes, final: bool) -> str:
        assert self._decoder is not None
        try:
            return self._decoder.decode(chunk, final)
        except UnicodeDecodeError as exc:
            raise _Fail(1007, f"invalid UTF-8 in a text message: {exc}") from None

    def _inflate(self, chunk: bytes, final: bool) -> bytes:
        assert self._inflater is not None
        if self._msg_streaming:
            limit: int | None = MAX_INFLATED_PIECE
        elif self._max_size is not None:
            limit = self._max_size - self._msg_size
        else:
            limit = None
        try:
            return self._inflater.inflate(chunk, final, limit)
        except TooBig:
            if self._msg_streaming:
                raise _Fail(
                    1009, f"a compressed piece inflates past {MAX_INFLATED_PIECE} bytes"
                ) from None
            self._too_big(self._msg_size + (limit or 0) + 1)
            raise  # unreachable: _too_big raises
        except zlib.error as exc:
            raise _Fail(1007, f"invalid compressed data: {exc}") from None

    def _too_big(self, size: int) -> None:
        raise _Fail(
            1009, f"message of at least {size} bytes exceeds max_message_size={self._max_size}"
        )

    # ------------------------------------------------------------------ sending

    def _mask_key(self) -> bytes:
        used = self._keys_used
        if used + 4 > len(self._keys):
            self._keys = os.urandom(4096)
            used = 0
        self._keys_used = used + 4
        return self._keys[used : used + 4]

    def frame(self, opcode: int, payload: Buffer, fin: bool = True, rsv1: bool = False) -> Wire:
        """One masked frame with ``payload``, as one or two pieces of bytes (see ``Wire``)."""
        length = len(payload)
        b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
        if length < 126:
            header = bytes((b0, 0x80 | length))
        elif length < 65536:
            header = bytes((b0, 0xFE)) + _pack_h(length)
        else:
            header = bytes((b0, 0xFF)) + _pack_q(length)
        key = self._mask_key()
        if length < SPLIT_PAYLOAD:
            return (header + key + apply_mask(payload, key),)
        return (header + key, apply_mask(payload, key))

    def message(self, data: str | bytes) -> list[Wire]:
        """The frames of one message: several when ``max_fragment_size`` asks for it."""
        if type(data) is str:
            opcode = OP_TEXT
            payload = data.encode()
        else:
            opcode = OP_BINARY
            payload = data  # type: ignore[assignment]
        deflater = self._deflater
        compressed = False
        if deflater is not None and deflater.enabled and len(payload) >= MIN_COMPRESS_SIZE:
            payload = deflater.deflate(payload)
            compressed = True
        size = self._max_fragment
        if size is None or len(payload) <= size:
            return [self.frame(opcode, payload, True, compressed)]
        frames = []
        view = memoryview(payload)
        for offset in range(0, len(payload), size):
            last = offset + size >= len(payload)
            frames.append(
                self.frame(
                    opcode if offset == 0 else OP_CONT,
                    view[offset : offset + size],
                    last,
                    compressed and offset == 0,
                )
            )
        return frames

    def ping(self, payload: bytes = b"") -> Wire:
        """A ping frame."""
        return self.frame(OP_PING, payload)

    def pong(self, payload: bytes) -> Wire:
        """A pong frame answering a ping with ``payload``."""
        return self.frame(OP_PONG, payload)

    def close(self, code: int | None, reason: str = "") -> Wire:
        """A close frame; ``code=None`` (or 1005) sends an empty one."""
        if code is None or code == 1005:
            return self.frame(OP_CLOSE, b"")
        return self.frame(OP_CLOSE, _pack_h(code) + reason.encode())


def _parse_close(payload: bytes) -> CloseReceived:
    if not payload:
        return CloseReceived(1005, "")
    if len(payload) == 1:
        raise _Fail(1002, "close frame with a 1-byte payload")
    (code,) = _unpack_h(payload, 0)
    if not peer_may_send(code):
        raise _Fail(1002, f"close frame with invalid code {code}")
    try:
        reason = payload[2:].decode()
    except UnicodeDecodeError as exc:
        raise _Fail(1007, f"invalid UTF-8 in the close reason: {exc}") from None
    return CloseReceived(code, reason)
