"""The connection options given to ``WebSocket(...)``, checked once and frozen: no I/O.

``ConnectOptions`` (how to open) and its checks live in ``_connect_options``; what an engine or a
transport cannot be combined with, in ``_engine_options``. This module checks the rest, in the
order of ``WebSocket``'s signature, and freezes the whole.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import TYPE_CHECKING, Any, Final, Unpack

from ._connect_options import (
    DEFAULT,
    LIBRARY_LOGGER,
    RESERVED_HEADERS,
    ConnectArgs,
    ConnectOptions,
    Default,
    check_headers,
    check_logger,
)
from ._engine_options import check_engine, check_engine_close_code, check_transport
from ._sansio.busypoll import DEFAULT_BUDGET, MAX_BUDGET
from ._sansio.compression import Compression, check_compression
from ._sansio.frames import MAX_CLOSE_REASON, is_valid_close_code
from ._sansio.url import WebSocketURL, parse_url
from ._typing import LoggerLike

if TYPE_CHECKING:
    from ._trio.transports import StreamFactory

__all__ = [
    "DEFAULT",
    "REMEMBERED",
    "LIBRARY_LOGGER",
    "RESERVED_HEADERS",
    "ConnectOptions",
    "Default",
    "Options",
    "check_close_args",
    "check_engine_close_code",
    "check_headers",
    "check_logger",
]


@dataclasses.dataclass(frozen=True, slots=True)
class Options:
    """Every option of ``WebSocket(...)``, checked once by ``build`` and frozen.

    Built by ``WebSocket.__init__`` only, which documents each option and its default.

    Attributes:
        url: the parsed URL.
        connect_timeout, close_timeout, ping_interval, ping_timeout: seconds, or ``None``.
        max_message_size, max_fragment_size: bytes, or ``None`` for no limit.
        max_buffered_amount: bytes ``send()`` may queue.
        compression: the permessage-deflate settings, or ``None`` to offer nothing.
        logger: where the connection's records go.
        connect: how to open the connection (with the extension offer of ``compression``).
        engine: what runs the connection: ``"default"`` (our own protocol) or
            ``"trio-websocket"``.
        busy_poll: seconds to poll for the answer after a write (``_sansio/busypoll.py``);
            0 never polls.
    """

    url: WebSocketURL
    connect_timeout: float | None
    close_timeout: float | None
    ping_interval: float | None
    ping_timeout: float | None
    max_message_size: int | None
    max_fragment_size: int | None
    max_buffered_amount: int
    compression: Compression | None
    logger: LoggerLike
    connect: ConnectOptions
    engine: str = "default"
    busy_poll: float = 0.0

    @classmethod
    def build(
        cls,
        url: str,
        *,
        connect_timeout: float | None,
        close_timeout: float | None,
        ping_interval: float | None,
        ping_timeout: float | None,
        max_message_size: int | None,
        max_fragment_size: int | None,
        max_buffered_amount: int,
        compression: str | Compression | Default | None,
        logger: LoggerLike | None,
        busy_poll: float | None = DEFAULT_BUDGET,
        engine: str = "default",
        unix_socket: str | os.PathLike[str] | None = None,
        stream_factory: StreamFactory | None = None,
        **connect_args: Unpack[ConnectArgs],
    ) -> Options:
        """Check every option, in the order of ``WebSocket``'s signature, and freeze them.

        Raises:
            TypeError: an option has the wrong type.
            ValueError: the URL or an option is invalid; the message says what is allowed.
        """
        parsed = parse_url(url)
        timeouts = _check_timeouts(connect_timeout, close_timeout, ping_interval, ping_timeout)
        sizes = _check_sizes(max_message_size, max_fragment_size, max_buffered_amount)
        polling = _check_busy_poll(busy_poll)
        engine = check_engine(engine)
        deflate = _check_engine_compression(engine, compression)
        checked_logger = check_logger(logger)
        offer = deflate.offer() if deflate else None
        connect = ConnectOptions.build(
            **connect_args, extensions=offer, logger=checked_logger, busy_poll=polling
        )
        connect = check_transport(
            parsed, connect, engine, deflate, sizes[1], unix_socket, stream_factory
        )
        return cls(parsed, *timeouts, *sizes, deflate, checked_logger, connect, engine, polling)

    @classmethod
    def remembered(cls, url: str, **options: Any) -> Options:
        """``build(url, **options)``, remembered for up to ``REMEMBERED`` sets of plain
        arguments.

        A program that opens many connections with the same arguments checked them once per
        ``WebSocket``: about 8 us of each W4 handshake and of each W5 connection (issue 18).
        Only arguments of the plain immutable types in ``_PLAIN`` are remembered, their types
        part of the key (``True`` is refused where ``1`` is accepted); any other argument (a
        dict of headers, an SSL context, a logger, a hook, a pool) builds afresh, so that no
        user object is kept alive here. Invalid arguments raise every time: only what built
        is remembered.

        Raises:
            TypeError, ValueError: as ``build``.
        """
        values = tuple(options.values())
        kinds = tuple(map(type, values))
        if (
            type(url) is not str
            or not _PLAIN.issuperset(kinds)
            or not all(
                _plain_tuple(value)
                for value, kind in zip(values, kinds, strict=True)
                if kind is tuple
            )
        ):
            return cls.build(url, **options)
        key = (url, tuple(options), kinds, values)
        built = _REMEMBERED.get(key)
        if built is None:
            built = cls.build(url, **options)
            if len(_REMEMBERED) >= REMEMBERED:
                # All at once: one call, safe if another thread fills it meanwhile.
                _REMEMBERED.clear()
            _REMEMBERED[key] = built
        return built

    @classmethod
    def adopted(
        cls,
        url: str,
        *,
        close_timeout: float | None = 10.0,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
        max_buffered_amount: int = 16 * 2**20,
        logger: LoggerLike | None = None,
    ) -> Options:
        """The options of events over a connection already open (``from_trio_websocket``).

        Raises:
            TypeError: an option has the wrong type.
            ValueError: an option has an invalid value; the message says what is allowed.
        """
        limit = _check_limit(max_buffered_amount)
        checked_logger = check_logger(logger)
        return cls(
            parse_url(url),
            *_check_timeouts(None, close_timeout, ping_interval, ping_timeout),
            None,
            None,
            limit,
            None,
            checked_logger,
            ConnectOptions(proxy=None, logger=checked_logger),
            "trio-websocket",
        )


#: How many argument sets ``Options.remembered`` keeps at most.
REMEMBERED: Final = 32
_REMEMBERED: dict[tuple[object, ...], Options] = {}
#: The argument types ``Options.remembered`` keeps: immutable, compared by value.
_PLAIN: Final = frozenset({type(None), bool, int, float, str, tuple, Default, Compression})


def _plain_tuple(value: tuple[object, ...]) -> bool:
    return all(type(item) is str for item in value)


#: ``connect_timeout``, ``close_timeout``, ``ping_interval``, ``ping_timeout``, checked.
_Timeouts = tuple[float | None, float | None, float | None, float | None]


def _check_timeouts(
    connect_timeout: object, close_timeout: object, ping_interval: object, ping_timeout: object
) -> _Timeouts:
    """The four timeouts checked, in the order of the signature."""
    return (
        _check_timeout("connect_timeout", connect_timeout),
        _check_timeout("close_timeout", close_timeout),
        _check_timeout("ping_interval", ping_interval),
        _check_timeout("ping_timeout", ping_timeout),
    )


def _check_sizes(
    max_message_size: object, max_fragment_size: object, max_buffered_amount: object
) -> tuple[int | None, int | None, int]:
    """The three sizes checked, in the order of the signature."""
    return (
        _check_size("max_message_size", max_message_size),
        _check_size("max_fragment_size", max_fragment_size),
        _check_limit(max_buffered_amount),
    )


def _check_limit(max_buffered_amount: object) -> int:
    """``max_buffered_amount=`` checked: a positive int; ``None`` is no limit it allows."""
    limit = _check_size("max_buffered_amount", max_buffered_amount)
    if limit is None:
        raise TypeError("max_buffered_amount must be a positive int, got None")
    return limit


def _check_engine_compression(
    engine: str, compression: str | Compression | Default | None
) -> Compression | None:
    """``compression=`` checked, ``DEFAULT`` resolved for ``engine``."""
    if compression is DEFAULT:
        # The documented default: deflate where the engine can do it.
        compression = "deflate" if engine == "default" else None
    return check_compression(compression)


def check_close_args(code: object, reason: object) -> bytes:
    """Check the arguments of ``close(code, reason)``; the reason encoded as UTF-8.

    Raises:
        TypeError: the code is not an ``int`` or the reason not a ``str``.
        ValueError: the code may not be sent, or the reason is too long or not Unicode.
    """
    if not isinstance(code, int) or isinstance(code, bool):
        raise TypeError(f"close code must be an int, got {type(code).__name__}")
    if not is_valid_close_code(code):
        raise ValueError(
            f"close code {code} may not be sent; use 1000-1003, 1007-1014 or 3000-4999"
        )
    if not isinstance(reason, str):
        raise TypeError(f"close reason must be a str, got {type(reason).__name__}")
    # Each character is at least one byte of UTF-8: a reason too long in characters is refused
    # before anything is encoded, so a huge one costs no memory (issue 11, item 17).
    if len(reason) > MAX_CLOSE_REASON:
        raise ValueError(
            f"close reason is {len(reason)} characters; at most {MAX_CLOSE_REASON} bytes of "
            "UTF-8 are allowed"
        )
    try:
        encoded = reason.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("close reason must be valid Unicode without lone surrogates") from None
    if len(encoded) > MAX_CLOSE_REASON:
        raise ValueError(
            f"close reason is {len(encoded)} bytes of UTF-8; at most {MAX_CLOSE_REASON} are allowed"
        )
    return encoded


def _check_size(name: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(
            f"{name} must be a positive int (bytes) or None, got {type(value).__name__}"
        )
    if value <= 0:
        raise ValueError(f"{name} must be a positive int (bytes) or None, got {value!r}")
    return value


def _check_busy_poll(value: object) -> float:
    """``busy_poll=`` checked: seconds from 0 to ``MAX_BUDGET``; ``None`` is 0 (off)."""
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(
            f"busy_poll must be a number of seconds or None, got {type(value).__name__}"
        )
    if not 0 <= value <= MAX_BUDGET:  # also refuses NaN
        raise ValueError(
            f"busy_poll must be from 0 to {MAX_BUDGET} seconds, or None, got {value!r}"
        )
    return float(value)


def _check_timeout(name: str, value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds or None, got {type(value).__name__}")
    if not value > 0 or math.isnan(value):
        raise ValueError(f"{name} must be a positive number of seconds or None, got {value!r}")
    return float(value)
