"""permessage-deflate (RFC 7692): the offer, the server's answer, and a bounded codec.

No I/O here. The inflater never produces more than the caller allows, so a small compressed
frame cannot turn into gigabytes before a size check runs (wsproto's extension inflates a
whole read with no cap, which is why we do not use it).
"""

from __future__ import annotations

import dataclasses
import zlib

__all__ = ["OFFER", "DeflateParams", "Deflater", "Inflater", "TooBig", "parse_answer"]

#: What the client offers: the defaults, plus willingness to honour client_max_window_bits.
OFFER = "permessage-deflate; client_max_window_bits"
_TAIL = b"\x00\x00\xff\xff"
#: Messages shorter than this go out uncompressed: deflate would only add bytes and time.
MIN_COMPRESS_SIZE = 64


class TooBig(Exception):
    """Inflating would exceed the allowed size."""


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
    return DeflateParams(**params)  # type: ignore[arg-type]


class Inflater:
    """Decompresses the messages the server compressed, never past a given size."""

    __slots__ = ("_obj", "_reset", "_wbits")

    def __init__(self, params: DeflateParams) -> None:
        # zlib refuses a raw window of 8 bits; a larger window inflates the same stream.
        self._wbits = -max(params.server_max_window_bits, 9)
        self._reset = params.server_no_context_takeover
        self._obj = zlib.decompressobj(self._wbits)

    def inflate(self, data: bytes, final: bool, limit: int | None) -> bytes:
        """Inflate one piece of a compressed message; ``final`` on its last piece.

        Raises:
            TooBig: the output would be longer than ``limit`` bytes.
            zlib.error: the data is not a valid deflate stream.
        """
        obj = self._obj
        if final:
            data = data + _TAIL
        if limit is None:
            out = obj.decompress(data)
        else:
            out = obj.decompress(data, limit + 1)
            if len(out) > limit or obj.unconsumed_tail:
                raise TooBig(len(out))
        if final and self._reset:
            self._obj = zlib.decompressobj(self._wbits)
        return out


class Deflater:
    """Compresses outgoing messages within the window the server allowed."""

    __slots__ = ("_obj", "_reset", "_wbits", "enabled")

    def __init__(self, params: DeflateParams) -> None:
        self._wbits = -params.client_max_window_bits
        self._reset = params.client_no_context_takeover
        # zlib cannot deflate with an 8-bit window; sending uncompressed is always allowed.
        self.enabled = params.client_max_window_bits >= 9
        self._obj = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, self._wbits)

    def deflate(self, data: bytes) -> bytes:
        """Compress one whole message; the result goes out with RSV1 set."""
        obj = self._obj
        out = obj.compress(data) + obj.flush(zlib.Z_SYNC_FLUSH)
        if out.endswith(_TAIL):
            out = out[:-4]
        if self._reset:
            self._obj = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, self._wbits)
        return out
