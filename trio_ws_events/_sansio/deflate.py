"""permessage-deflate (RFC 7692): the offer, the server's answer, and a bounded codec.

No I/O here. The inflater hands out its output in pieces no larger than the caller asks for,
so a small compressed frame cannot turn into gigabytes before a size check runs (wsproto's
extension inflates a whole read with no cap, which is why we do not use it).
"""

from __future__ import annotations

import dataclasses
import zlib

__all__ = [
    "OFFER",
    "WINDOW",
    "DeflateParams",
    "Deflater",
    "Inflater",
    "answer_params",
    "parse_answer",
]

#: What the client offers: the defaults, plus willingness to honour client_max_window_bits.
OFFER = "permessage-deflate; client_max_window_bits"
_TAIL = b"\x00\x00\xff\xff"
#: Messages shorter than this go out uncompressed: deflate would only add bytes and time.
MIN_COMPRESS_SIZE = 64
#: The largest LZ77 window (2**15 bytes): what a DEFLATE stream that follows a BFINAL block
#: may still refer to.
WINDOW = 2**15


@dataclasses.dataclass(frozen=True, slots=True)
class DeflateParams:
    """The parameters the server accepted (RFC 7692 section 7.1)."""

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int = 15
    client_max_window_bits: int = 15

    def __str__(self) -> str:
        parts = ["permessage-deflate"]
        if self.server_no_context_takeover:
            parts.append("server_no_context_takeover")
        if self.client_no_context_takeover:
            parts.append("client_no_context_takeover")
        if self.server_max_window_bits != 15:
            parts.append(f"server_max_window_bits={self.server_max_window_bits}")
        if self.client_max_window_bits != 15:
            parts.append(f"client_max_window_bits={self.client_max_window_bits}")
        return "; ".join(parts)


def _window_bits(name: str, value: str | None) -> int:
    if value is None or not value.isdigit() or not 8 <= int(value) <= 15:
        raise ValueError(f"{name} must be a number from 8 to 15, got {value!r}")
    return int(value)


def parse_answer(header: str) -> DeflateParams:
    """Parse the server's ``Sec-WebSocket-Extensions`` answer to ``OFFER``.

    Raises:
        ValueError: the server accepted something else, several extensions, or invalid,
            repeated or unknown parameters; the message says what.
    """
    return DeflateParams(**answer_params(header))  # type: ignore[arg-type]


def answer_params(header: str) -> dict[str, bool | int]:
    """The parameters present in the server's answer, by name; absent ones are left out.

    Raises:
        ValueError: as ``parse_answer``.
    """
    extensions = [e.strip() for e in header.split(",") if e.strip()]
    if len(extensions) != 1:
        raise ValueError(f"expected one extension in the answer, got {header!r}")
    name, *raw_params = (p.strip() for p in extensions[0].split(";"))
    if name.lower() != "permessage-deflate":
        raise ValueError(f"the server accepted extension {name!r}, which was not offered")
    values: dict[str, str | None] = {}
    for raw in raw_params:
        key, eq, value = raw.partition("=")
        key = key.strip().lower()
        if key in values:
            raise ValueError(f"parameter {key} repeated in {header!r}")
        values[key] = value.strip().strip('"') if eq else None
    params: dict[str, bool | int] = {}
    for key, given in values.items():
        if key in ("server_no_context_takeover", "client_no_context_takeover"):
            if given is not None:
                raise ValueError(f"{key} takes no value, got {given!r}")
            params[key] = True
        elif key in ("server_max_window_bits", "client_max_window_bits"):
            params[key] = _window_bits(key, given)
        else:
            raise ValueError(f"unknown permessage-deflate parameter {key!r}")
    return params


class Inflater:
    """Decompresses the messages the server compressed, in pieces of a size the caller picks.

    Give each compressed piece of a message to ``read``, then call it again without data
    until ``drained`` is true before giving the next piece.
    """

    __slots__ = ("_final", "_obj", "_pending", "_reset", "_wbits", "_window", "drained")

    def __init__(self, params: DeflateParams) -> None:
        # zlib refuses a raw window of 8 bits; a larger window inflates the same stream.
        self._wbits = -max(params.server_max_window_bits, 9)
        self._reset = params.server_no_context_takeover
        self._obj = zlib.decompressobj(self._wbits)
        self._pending = b""
        self._final = False
        # The last output, kept only to start a new stream after a BFINAL block.
        self._window = bytearray()
        #: True once everything given so far has been inflated and handed out.
        self.drained = True

    def read(self, size: int | None, data: bytes | None = None, final: bool = False) -> bytes:
        """Inflate at most ``size`` bytes (``None``: all) of what was fed.

        Args:
            size: the most bytes to return.
            data: the next compressed piece of the current message, to take first (only
                once ``drained``).
            final: ``data`` is the message's last piece.

        Sets ``drained`` once nothing is left; until then call again without ``data``.

        Raises:
            zlib.error: the data is not a valid deflate stream.
        """
        if data is not None:
            self._pending = data + _TAIL if final else data
            self._final = final
        obj = self._obj
        out = obj.decompress(self._pending) if size is None else obj.decompress(self._pending, size)
        self._pending = obj.unconsumed_tail
        if out:  # _remember, inlined: this runs once per compressed message at least
            window = self._window
            if len(out) >= WINDOW:
                window[:] = out[-WINDOW:]
            else:
                window += out
                if len(window) > 2 * WINDOW:
                    del window[:-WINDOW]
        if obj.eof:
            out = self._after_final_block(out, size)
        # Output shorter than asked for means zlib had room and stopped for want of input.
        self.drained = not self._pending and (size is None or len(out) < size)
        if self.drained and self._final:
            self._end_message()
        return out

    def _after_final_block(self, out: bytes, size: int | None) -> bytes:
        """The stream ended (a block with BFINAL set, RFC 7692 7.2.3.4): go on in a new one.

        The new stream starts with the old one's window (context takeover holds across it)
        and inflates whatever followed the final block, however often the peer ends one.
        """
        parts = [out]
        room = None if size is None else size - len(out)
        while self._obj.eof:
            rest = self._obj.unused_data
            if self._final and rest == _TAIL:
                rest = b""  # only the tail we appended: the message ended with the block
            self._obj = zlib.decompressobj(self._wbits, zdict=bytes(self._window[-WINDOW:]))
            self._pending = rest
            if room == 0 or not rest:
                break
            obj = self._obj
            more = obj.decompress(rest) if room is None else obj.decompress(rest, room)
            self._pending = obj.unconsumed_tail
            self._remember(more)
            parts.append(more)
            if room is not None:
                room -= len(more)
        return out if len(parts) == 1 else b"".join(parts)

    def _remember(self, out: bytes) -> None:
        """Keep the last ``WINDOW`` bytes of output (amortized: trimmed at twice that)."""
        window = self._window
        if len(out) >= WINDOW:
            window[:] = out[-WINDOW:]
        elif out:
            window += out
            if len(window) > 2 * WINDOW:
                del window[:-WINDOW]

    def _end_message(self) -> None:
        self._final = False
        if self._reset:
            self._obj = zlib.decompressobj(self._wbits)
            self._window.clear()


class Deflater:
    """Compresses outgoing messages within the window the server allowed.

    Args:
        params: what was negotiated.
        level, memory_level: zlib's compression level (0-9) and memory level (1-9).
        min_size: messages shorter than this many bytes go out uncompressed.
    """

    __slots__ = ("_level", "_memory_level", "_obj", "_reset", "_wbits", "enabled", "min_size")

    def __init__(
        self,
        params: DeflateParams,
        level: int = zlib.Z_DEFAULT_COMPRESSION,
        memory_level: int = zlib.DEF_MEM_LEVEL,
        min_size: int = MIN_COMPRESS_SIZE,
    ) -> None:
        self._wbits = -params.client_max_window_bits
        self._reset = params.client_no_context_takeover
        self._level = level
        self._memory_level = memory_level
        self.min_size = min_size
        # zlib cannot deflate with an 8-bit window; sending uncompressed is always allowed.
        self.enabled = params.client_max_window_bits >= 9
        self._obj = self._new()

    def _new(self) -> zlib._Compress:
        return zlib.compressobj(self._level, zlib.DEFLATED, self._wbits, self._memory_level)

    def deflate(self, data: bytes) -> bytes:
        """Compress one whole message; the result goes out with RSV1 set."""
        return self.deflate_piece(data, True)

    def deflate_piece(self, data: bytes, final: bool) -> bytes:
        """Compress the next piece of a message; ``final`` on its last piece.

        Each piece is flushed, so that it can go out at once as a frame of its own.
        """
        obj = self._obj
        out = obj.compress(data) + obj.flush(zlib.Z_SYNC_FLUSH)
        if final:
            if out.endswith(_TAIL):
                out = out[:-4]
            if self._reset:
                self._obj = self._new()
        return out
