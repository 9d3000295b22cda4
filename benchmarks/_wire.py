"""Pre-built WebSocket bytes for the two reference clients (raw socket, Trio floor).

Frames are built once, with the package's frames module (no trio), before anything is
timed: a reference client writes them as they are and reads the server's frames with no
parsing beyond what it needs to count them (``FrameCounter``, specialised: it skips payloads
without copying them, which a general reader cannot) or compare them (``Frames.echo``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from urllib.parse import urlsplit

from trio_ws_events._sansio.frames import (
    OP_CLOSE,
    CloseCode,
    apply_mask,
    encode_close,
    encode_frame,
    encode_header,
)

from ._common import ClientFailed, Job, make_payload

__all__ = [
    "CLOSE_1000",
    "CLOSE_REPLY",
    "FrameCounter",
    "Frames",
    "address",
    "check_101",
    "check_close_reply",
    "client_frame",
    "frames_for",
    "job_frames",
    "request",
    "server_frame",
]

_MASK_KEY = b"\x37\xfa\x21\x3d"
_CHUNK = 64 * 1024  # masking is done per chunk (a multiple of 4), small temporaries


def client_frame(payload: bytes, opcode: int) -> bytearray:
    """One masked frame, built chunk by chunk (no temporary copies of a large payload)."""
    header = encode_header(opcode, len(payload), mask=_MASK_KEY)
    frame = bytearray(len(header) + len(payload))
    frame[: len(header)] = header
    # _CHUNK is a multiple of 4, so every chunk starts at the key's first byte.
    with memoryview(payload) as view:
        for start in range(0, len(payload), _CHUNK):
            chunk = apply_mask(view[start : start + _CHUNK], _MASK_KEY)
            frame[len(header) + start : len(header) + start + len(chunk)] = chunk
    return frame


def server_frame(payload: bytes, opcode: int) -> bytes:
    """The unmasked frame the echo server sends back for ``payload``."""
    return encode_frame(opcode, payload)


CLOSE_1000 = bytes(client_frame(encode_close(CloseCode.NORMAL_CLOSURE), OP_CLOSE))
CLOSE_REPLY = server_frame(encode_close(CloseCode.NORMAL_CLOSURE), OP_CLOSE)


@dataclass(frozen=True)
class Frames:
    """What a reference client writes for one message, and what comes back."""

    opcode: int
    data: bytes  # the payload as bytes (text encoded)
    frame: bytes | bytearray  # the masked client frame

    @property
    def echo_header(self) -> bytes:
        """The header of the server's frame for this payload."""
        return encode_header(self.opcode, len(self.data))

    def echo(self) -> bytearray:
        """The server's whole frame for this payload: a copy, built once before anything
        is timed, in place (no temporary that would raise the peak RSS W3 starts from)."""
        header = self.echo_header
        echo = bytearray(len(header) + len(self.data))
        # Through a memoryview: a bytearray's own slice assignment copies bytes first.
        with memoryview(echo) as view:
            view[: len(header)] = header
            view[len(header) :] = self.data
        return echo


def frames_for(payload: str | bytes, *, copy_frame: bool = True) -> Frames:
    """The frames of ``payload``; ``copy_frame=False`` keeps the client frame the
    bytearray it is built in (no second copy of a large message: W3 measures peak RSS)."""
    data = payload.encode() if isinstance(payload, str) else payload
    opcode = 0x1 if isinstance(payload, str) else 0x2
    frame = client_frame(data, opcode)
    return Frames(opcode, data, bytes(frame) if copy_frame else frame)


def job_frames(job: Job, *, copy_frame: bool = True) -> Frames:
    """The frames of the job's payload (see ``frames_for``)."""
    return frames_for(make_payload(job.size, job.text), copy_frame=copy_frame)


def address(url: str) -> tuple[str, int, str]:
    """(host, port, path) of a ``ws://`` URL."""
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 80, parts.path or "/"


def request(url: str) -> bytes:
    """The opening handshake request, with a fixed key (the answer is not verified)."""
    host, port, path = address(url)
    return (
        f"GET {path} HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def check_101(response: bytes | bytearray) -> None:
    """Raise ClientFailed unless ``response`` is a complete ``101`` answer."""
    if not response.startswith((b"HTTP/1.1 101 ", b"HTTP/1.0 101 ")):
        raise ClientFailed(f"handshake refused: {bytes(response[:80])!r}")
    if not response.endswith(b"\r\n\r\n"):
        raise ClientFailed("data after the handshake response")


def check_close_reply(reply: bytes | bytearray) -> None:
    """Raise ClientFailed unless ``reply`` is the server's close frame with 1000."""
    if reply != CLOSE_REPLY:
        raise ClientFailed(f"unexpected close reply {bytes(reply)!r}")


class FrameCounter:
    """Counts the complete messages in the server's byte stream without copying payloads."""

    def __init__(self, opcode: int, size: int) -> None:
        self.opcode = opcode
        self.size = size
        self.messages = 0
        self._skip = 0  # payload bytes of the current frame still to come
        self._tail = b""  # the start of a header split between two reads

    def feed(self, data: memoryview) -> None:
        pos, end = 0, len(data)
        while pos < end:
            if self._skip:
                take = min(self._skip, end - pos)
                pos += take
                self._skip -= take
                if not self._skip:
                    self.messages += 1
                continue
            if self._tail:
                head = self._tail + bytes(data[pos : pos + 14])
            else:
                head = bytes(data[pos : pos + 14])
            if len(head) < 2:
                self._tail, pos = head, end
                break
            b0, b1 = head[0], head[1]
            length = b1 & 0x7F
            size = 2 if length < 126 else 4 if length == 126 else 10
            if len(head) < size:
                self._tail, pos = head, end
                break
            if length == 126:
                length = struct.unpack_from("!H", head, 2)[0]
            elif length == 127:
                length = struct.unpack_from("!Q", head, 2)[0]
            if b0 != 0x80 | self.opcode or length != self.size:
                raise ClientFailed(
                    f"unexpected frame: first byte {b0:#x}, length {length}, "
                    f"expected {0x80 | self.opcode:#x} and {self.size}"
                )
            pos += size - len(self._tail)
            self._tail = b""
            self._skip = length
            if not length:
                self.messages += 1
