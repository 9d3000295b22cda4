"""The frame codec of the raw-frame test peer: frames as sent, well-formed or not.

Built on the package's frames module; the deliberately malformed options of
:func:`build_frame` (``length_form=``, ``declared_length=``) are thin wrappers over it. Its
names are re-exported by ``raw_server``, which tests import them from.
"""

from __future__ import annotations

import dataclasses
import os
import struct
from typing import Literal

from trio_ws_events._sansio.frames import (
    FrameReader,
    Opcode,
    RawFrame,
    accept_token,
    apply_mask,
    encode_frame,
    encode_header,
)

__all__ = [
    "Frame",
    "Opcode",
    "accept_key",
    "build_frame",
    "close_payload",
    "parse_frame",
    "wire_size",
]

#: For each ``length_form``, a length that :func:`encode_header` writes in that form.
_FORM_TEMPLATE = {7: 0, 16: 126, 64: 65536}


@dataclasses.dataclass(frozen=True)
class Frame:
    """One frame as read from the wire, already unmasked.

    Attributes:
        opcode: the opcode, an :class:`Opcode` when it is a known one.
        payload: the unmasked payload.
        fin: whether the FIN bit was set.
        rsv: the three reserved bits as an integer 0-7.
        masked: whether the frame carried a mask (every client frame must).
    """

    opcode: int
    payload: bytes
    fin: bool = True
    rsv: int = 0
    masked: bool = False

    @classmethod
    def from_raw(cls, raw: RawFrame) -> Frame:
        """The frame :class:`FrameReader` read, with a known opcode as an :class:`Opcode`."""
        known = raw.opcode in Opcode._value2member_map_
        opcode = Opcode(raw.opcode) if known else raw.opcode
        return cls(opcode, raw.payload, fin=raw.fin, rsv=raw.rsv >> 4, masked=raw.masked)

    @property
    def close_code(self) -> int | None:
        """The code of a close frame, or ``None`` when its payload is empty."""
        if self.opcode != Opcode.CLOSE:
            raise ValueError(f"not a close frame: opcode {self.opcode}")
        if len(self.payload) < 2:
            return None
        code: int = struct.unpack("!H", self.payload[:2])[0]
        return code

    @property
    def close_reason(self) -> str:
        """The reason of a close frame, decoded as UTF-8 ("" when absent)."""
        if self.opcode != Opcode.CLOSE:
            raise ValueError(f"not a close frame: opcode {self.opcode}")
        return self.payload[2:].decode("utf-8")


def accept_key(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` value that answers ``Sec-WebSocket-Key: key``."""
    return accept_token(key)


def close_payload(code: int | None = 1000, reason: str | bytes = "") -> bytes:
    """The payload of a close frame: the code in two bytes, then the reason.

    ``code=None`` gives an empty payload (the peer then reports 1005). ``reason`` may be
    ``bytes`` so that a test can send invalid UTF-8.
    """
    if code is None:
        return b""
    raw_reason = reason.encode("utf-8") if isinstance(reason, str) else reason
    return struct.pack("!H", code) + raw_reason


def build_frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: bool | bytes = False,
    length_form: Literal[7, 16, 64] | None = None,
    declared_length: int | None = None,
) -> bytes:
    """Encode one frame, well-formed or not.

    Args:
        opcode: the 4-bit opcode; any value 0-15 is allowed, reserved ones included.
        payload: the payload, before masking.
        fin: the FIN bit.
        rsv: the three reserved bits as an integer 0-7.
        mask: ``True`` for a random mask, or the 4-byte masking key. A server must not mask.
        length_form: force the 7-bit, 16-bit or 64-bit length encoding; ``None`` picks the
            shortest, as RFC 6455 requires. A longer form than needed is a protocol violation.
        declared_length: the length to write in the header instead of ``len(payload)``, to
            announce more bytes than follow (a truncated message).

    Returns:
        The frame's bytes, ready for :meth:`RawConnection.send_raw`.
    """
    key = None if mask is False else os.urandom(4) if mask is True else mask
    if length_form is None and declared_length is None:
        return encode_frame(opcode & 0xF, payload, fin=fin, rsv=(rsv & 0x7) << 4, mask=key)
    length = len(payload) if declared_length is None else declared_length
    header = _header(opcode, length, fin=fin, rsv=rsv, key=key, form=length_form)
    return header + (payload if key is None else apply_mask(payload, key))


def _header(
    opcode: int,
    length: int,
    *,
    fin: bool,
    rsv: int,
    key: bytes | None,
    form: Literal[7, 16, 64] | None,
) -> bytes:
    """A header announcing ``length`` in the length ``form`` asked for (the shortest if None)."""
    head = encode_header(
        opcode & 0xF,
        length if form is None else _FORM_TEMPLATE[form],
        fin=fin,
        rsv=(rsv & 0x7) << 4,
        mask=key,
    )
    if form is None:
        return head
    # encode_header wrote the template length in the form asked for: overwrite it.
    patched = bytearray(head)
    if form == 7:
        patched[1] = patched[1] & 0x80 | length
    else:
        size = 2 if form == 16 else 8
        patched[2 : 2 + size] = length.to_bytes(size, "big")
    return bytes(patched)


def parse_frame(data: bytes | bytearray) -> tuple[Frame, int] | None:
    """Decode the frame at the start of ``data``.

    Returns:
        The frame and the number of bytes it took, or ``None`` when ``data`` does not hold a
        whole frame yet.

    Raises:
        FrameError: a length not in its shortest form, which no client may send.
    """
    raw = FrameReader(bytes(data)).next_frame()
    return None if raw is None else (Frame.from_raw(raw), wire_size(raw))


def wire_size(raw: RawFrame) -> int:
    """How many bytes ``raw`` took on the wire (FrameReader takes only the shortest form)."""
    header = encode_header(raw.opcode, len(raw.payload), mask=b"\0\0\0\0" if raw.masked else None)
    return len(header) + len(raw.payload)
