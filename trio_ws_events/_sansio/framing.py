"""The client's outgoing frames, without I/O: masking, fragmentation, compression."""

from __future__ import annotations

import struct
from typing import Final

from .deflate import Deflater
from .entropy import random_bytes
from .events import Buffer, MaskedPayload, Wire
from .frames import CHUNK_SIZE, OP_BINARY, OP_CONT, OP_TEXT, apply_mask

__all__ = ["SEPARATE_PAYLOAD", "FrameWriter"]

#: A masked payload of at least this many bytes stays apart from its header (see ``Wire``):
#: the writer gathers header and payload with ``writev`` instead of copying them into one
#: ``bytes``. Below it, one piece is cheaper than one more buffer for the kernel.
SEPARATE_PAYLOAD: Final = 8192

#: Masking-key bytes a connection takes from the pool at a time (64 keys).
KEY_BLOCK: Final = 256

_pack_h = struct.Struct("!H").pack
_pack_q = struct.Struct("!Q").pack


class FrameWriter:
    """Builds the client's masked frames for one connection (``ClientProtocol.framer``).

    Args:
        deflater: the permessage-deflate compressor when it was negotiated.
        max_fragment_size: when set, messages longer than this are split into frames of at
            most this many payload bytes.
    """

    __slots__ = ("_deflater", "_keys", "_keys_used", "_max_fragment")

    def __init__(self, deflater: Deflater | None, max_fragment_size: int | None) -> None:
        self._deflater = deflater
        self._max_fragment = max_fragment_size
        # Masking keys come from the OS's CSPRNG (``entropy.random_bytes``), a block of
        # them at a time to spare a call per frame; each key is used once (RFC 6455 5.3).
        self._keys = b""
        self._keys_used = 0

    def _mask_key(self) -> bytes:
        used = self._keys_used
        if used + 4 > len(self._keys):
            # A small block per connection (W5 keeps a thousand), from the shared pool.
            self._keys = random_bytes(KEY_BLOCK)
            used = 0
        self._keys_used = used + 4
        return self._keys[used : used + 4]

    def frame(self, opcode: int, payload: Buffer, fin: bool = True, rsv1: bool = False) -> Wire:
        """One masked frame with ``payload``, as one or two pieces (see ``Wire``)."""
        length = len(payload)
        b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
        if length < 126:
            header = bytes((b0, 0x80 | length))
        elif length < 65536:
            header = bytes((b0, 0xFE)) + _pack_h(length)
        else:
            header = bytes((b0, 0xFF)) + _pack_q(length)
        key = self._mask_key()
        if length < SEPARATE_PAYLOAD:
            return (header + key + apply_mask(payload, key),)
        if length < CHUNK_SIZE:
            return (header + key, apply_mask(payload, key))
        return (header + key, MaskedPayload(payload, key))

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
        if deflater is not None and deflater.enabled and len(payload) >= deflater.min_size:
            payload = deflater.deflate(payload)
            compressed = True
        return self._split(opcode, payload, True, compressed)

    def piece(self, data: bytes, text: bool, first: bool, final: bool) -> list[Wire]:
        """The frames of one piece of a message sent in pieces (``send_stream``).

        With permessage-deflate, every piece is compressed (the size of the whole message is
        not known in advance) and only the first frame carries RSV1.
        """
        opcode = (OP_TEXT if text else OP_BINARY) if first else OP_CONT
        deflater = self._deflater
        compressed = deflater is not None and deflater.enabled
        if compressed:
            assert deflater is not None
            data = deflater.deflate_piece(data, final)
        return self._split(opcode, data, final, compressed and first)

    def _split(self, opcode: int, payload: Buffer, fin: bool, rsv1: bool) -> list[Wire]:
        """``payload`` as one frame, or several when ``max_fragment_size`` asks for it."""
        size = self._max_fragment
        if size is None or len(payload) <= size:
            return [self.frame(opcode, payload, fin, rsv1)]
        frames = []
        view = memoryview(payload)
        for offset in range(0, len(payload), size):
            last = offset + size >= len(payload)
            frames.append(
                self.frame(
                    opcode if offset == 0 else OP_CONT,
                    view[offset : offset + size],
                    fin and last,
                    rsv1 and offset == 0,
                )
            )
        return frames
