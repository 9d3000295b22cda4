"""The ``compression=`` option: permessage-deflate parameters, the offer, the answer's rules.

No I/O here. [`Compression`][] says what the client asks for; [`Compression.accept`][]
checks the server's answer against RFC 7692 section 7.1 and returns what was agreed.
"""

from __future__ import annotations

import dataclasses
from typing import Final

from .deflate import MIN_COMPRESS_SIZE, DeflateParams, Deflater, answer_params

__all__ = ["Compression", "check_compression"]

_NAME: Final = "permessage-deflate"


def _check_bool(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")


def _check_int(name: str, value: object, low: int, high: int | None, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int ({what}), got {type(value).__name__}")
    if value < low or (high is not None and value > high):
        raise ValueError(f"{name} must be {what}, got {value!r}")


@dataclasses.dataclass(frozen=True, slots=True)
class Compression:
    """permessage-deflate (RFC 7692) options for ``WebSocket(compression=...)``.

    ``Compression()`` is what ``compression="deflate"`` means. Each field is checked when the
    object is built. What the server answers is honoured: it may grant a smaller window or
    turn off context takeover on its own; an answer that breaks RFC 7692's rules (a larger
    window than asked for, a refused ``server_no_context_takeover``) fails the connection
    attempt with [`ConnectError`][].

    Attributes:
        client_max_window_bits: the largest LZ77 window (as a power of two, 9-15) the client
            will compress with; ``None`` lets the server choose (15 unless it says less).
            zlib cannot compress with 8 bits, so 8 is refused here; a server that answers 8
            anyway gets uncompressed messages, which RFC 7692 always allows.
        server_max_window_bits: ask the server to compress with at most this window (8-15),
            to save the client's memory; ``None`` asks nothing.
        client_no_context_takeover: reset the client's compressor after each message
            (less memory for both sides, worse compression).
        server_no_context_takeover: ask the server to reset its compressor after each
            message; a server that does not agree fails the attempt.
        level: zlib's compression level for outgoing messages, 0 (none) to 9 (best).
        memory_level: zlib's memory level for outgoing messages, 1 (least) to 9 (fastest).
        min_size: outgoing messages shorter than this many bytes (UTF-8 for text) go out
            uncompressed (RSV1 unset); 0 compresses every message.
    """

    client_max_window_bits: int | None = None
    server_max_window_bits: int | None = None
    client_no_context_takeover: bool = False
    server_no_context_takeover: bool = False
    level: int = 6
    memory_level: int = 8
    min_size: int = MIN_COMPRESS_SIZE

    def __post_init__(self) -> None:
        if self.client_max_window_bits is not None:
            _check_int(
                "client_max_window_bits",
                self.client_max_window_bits,
                9,
                15,
                "from 9 to 15 or None (zlib cannot compress with an 8-bit window)",
            )
        if self.server_max_window_bits is not None:
            _check_int(
                "server_max_window_bits", self.server_max_window_bits, 8, 15, "from 8 to 15 or None"
            )
        _check_bool("client_no_context_takeover", self.client_no_context_takeover)
        _check_bool("server_no_context_takeover", self.server_no_context_takeover)
        _check_int("level", self.level, 0, 9, "from 0 to 9")
        _check_int("memory_level", self.memory_level, 1, 9, "from 1 to 9")
        _check_int("min_size", self.min_size, 0, None, "0 or more bytes")

    def offer(self) -> str:
        """The ``Sec-WebSocket-Extensions`` value the client sends."""
        parts = [_NAME]
        if self.server_no_context_takeover:
            parts.append("server_no_context_takeover")
        if self.client_no_context_takeover:
            parts.append("client_no_context_takeover")
        if self.server_max_window_bits is not None:
            parts.append(f"server_max_window_bits={self.server_max_window_bits}")
        if self.client_max_window_bits is None:
            # Bare: the server may pick any window for the client (RFC 7692 7.1.2.2).
            parts.append("client_max_window_bits")
        else:
            parts.append(f"client_max_window_bits={self.client_max_window_bits}")
        return "; ".join(parts)

    def accept(self, answer: str) -> DeflateParams:
        """What was agreed, from the server's answer to ``offer``.

        Raises:
            ValueError: the answer is malformed or breaks RFC 7692 7.1; the message says how.
        """
        given = answer_params(answer)
        if self.server_no_context_takeover and "server_no_context_takeover" not in given:
            raise ValueError(
                "the server accepted permessage-deflate without server_no_context_takeover, "
                "which was requested"
            )
        return DeflateParams(
            server_no_context_takeover="server_no_context_takeover" in given,
            client_no_context_takeover=(
                self.client_no_context_takeover or "client_no_context_takeover" in given
            ),
            server_max_window_bits=self._server_bits(given.get("server_max_window_bits")),
            client_max_window_bits=self._client_bits(given.get("client_max_window_bits")),
        )

    def _server_bits(self, answered: bool | int | None) -> int:
        asked = self.server_max_window_bits
        if answered is None:
            if asked is not None:
                raise ValueError(
                    f"the server did not answer server_max_window_bits={asked}, which was requested"
                )
            return 15
        assert isinstance(answered, int)
        if asked is not None and answered > asked:
            raise ValueError(
                f"the server answered server_max_window_bits={answered}, more than the "
                f"{asked} requested"
            )
        return answered

    def _client_bits(self, answered: bool | int | None) -> int:
        offered = self.client_max_window_bits
        if answered is None:
            return 15 if offered is None else offered
        assert isinstance(answered, int)
        if offered is not None and answered > offered:
            raise ValueError(
                f"the server answered client_max_window_bits={answered}, more than the "
                f"{offered} offered"
            )
        return answered

    def deflater(self, params: DeflateParams) -> Deflater:
        """The compressor for outgoing messages under ``params``."""
        return Deflater(params, self.level, self.memory_level, self.min_size)


def check_compression(value: object) -> Compression | None:
    """``compression=`` as given to ``WebSocket``: ``"deflate"``, a [`Compression`][], None.

    Raises:
        TypeError, ValueError: anything else; the message says what is allowed.
    """
    if value is None or isinstance(value, Compression):
        return value
    if not isinstance(value, str):
        raise TypeError(
            f"compression must be 'deflate', a Compression(...) or None, got {type(value).__name__}"
        )
    if value != "deflate":
        raise ValueError(
            "compression must be 'deflate' (permessage-deflate), a Compression(...) or None, "
            f"got {value!r}"
        )
    return Compression()
