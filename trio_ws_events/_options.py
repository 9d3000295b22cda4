"""The connection options given to ``WebSocket(...)``, checked once and frozen: no I/O."""

from __future__ import annotations

import dataclasses
import enum
import logging
import math
import os
import re
import ssl
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from ._sansio.compression import Compression, check_compression
from ._sansio.frames import MAX_CLOSE_REASON, is_valid_close_code
from ._sansio.url import WebSocketURL, parse_url
from ._trio.proxy import ProxyURL, parse_proxy_url
from ._typing import HeadersLike, LoggerLike

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import trio

    from ._h2 import H2Pool
    from ._trio.hook import HandshakeHook
    from ._trio.transports import StreamFactory

    #: Opens the byte stream to a URL in place of TCP, the proxy and TLS.
    StreamOpener = Callable[[WebSocketURL], Awaitable[trio.abc.Stream]]

__all__ = [
    "DEFAULT",
    "RESERVED_HEADERS",
    "ConnectOptions",
    "Default",
    "Options",
    "check_close_args",
    "check_engine_close_code",
    "check_headers",
    "check_logger",
]


class Default(enum.Enum):
    """The type of ``DEFAULT``: "use the documented default", distinct from ``None``."""

    DEFAULT = "DEFAULT"

    def __repr__(self) -> str:
        return "DEFAULT"


#: The logger of the library, used when no ``logger=`` is given.
LIBRARY_LOGGER: Final = logging.getLogger("trio_ws_events")

#: For options where ``None`` has a meaning of its own (``proxy=None``: no proxy at all).
DEFAULT: Final = Default.DEFAULT

#: Request headers the handshake writes itself, lower-cased, with what to use instead.
RESERVED_HEADERS: Final = {
    "upgrade": "it is always 'websocket'",
    "connection": "it is always 'Upgrade'",
    "sec-websocket-key": "a fresh key is made for each attempt",
    "sec-websocket-version": "it is always 13",
    "sec-websocket-accept": "it is a response header",
    "sec-websocket-protocol": "use protocols=[...]",
    "sec-websocket-extensions": "extensions are negotiated by the library",
    "content-length": "the handshake request has no body",
    "transfer-encoding": "the handshake request has no body",
}

_SERVER_NAME = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Field values: visible latin-1 characters, spaces and tabs; no other control character.
_BAD_VALUE_CHAR = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]|[^\x00-\xff]")


@dataclasses.dataclass(frozen=True, slots=True)
class ConnectOptions:
    """Everything about how to open a connection, checked once by ``build``.

    Built by ``WebSocket.__init__`` through ``build``; read by
    ``open_connection``.

    Attributes:
        protocols: the subprotocols to offer, in order of preference.
        headers: the user's request headers, in order, values stripped.
        ssl_context: the TLS context for ``wss://``; ``None`` means the default context.
        origin: the ``Origin`` header, if any.
        user_agent: the ``User-Agent`` header; ``DEFAULT`` for ``trio-ws-events/<version>``.
        proxy: a parsed proxy URL, ``DEFAULT`` to read the environment, ``None`` for none.
        max_redirects: how many redirects to follow.
        extensions: the raw ``Sec-WebSocket-Extensions`` offer, or ``None`` to offer none.
        handshake_hook: run before each request is sent, with a
            [`HandshakeRequest`][]; ``None`` for none.
        proxy_ssl_context: the TLS context for an ``https://`` proxy; ``None``: the default.
        server_hostname: the name sent as SNI and checked against the server's certificate
            instead of the URL's host; ``None``: the URL's host.
        logger: where the records of connecting go (the connection's ``logger=``).
        open_stream: opens the byte stream the handshake then runs over, instead of TCP,
            the proxy and TLS; ``None`` (the only value ``build`` gives): from the URL.
            The seam for streams the driver is given (memory streams in the tests).
        http2: the pool to open the WebSocket through, as an HTTP/2 stream (RFC 8441), when
            the origin allows it; ``None``: always the HTTP/1.1 upgrade.
    """

    protocols: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    ssl_context: ssl.SSLContext | None = None
    origin: str | None = None
    user_agent: str | Default | None = DEFAULT
    proxy: ProxyURL | Default | None = DEFAULT
    max_redirects: int = 10
    extensions: str | None = None
    handshake_hook: HandshakeHook | None = None
    proxy_ssl_context: ssl.SSLContext | None = None
    server_hostname: str | None = None
    logger: LoggerLike = LIBRARY_LOGGER
    open_stream: StreamOpener | None = None
    http2: H2Pool | None = None

    @classmethod
    def build(
        cls,
        *,
        protocols: Sequence[str] = (),
        headers: HeadersLike | None = None,
        ssl_context: ssl.SSLContext | None = None,
        origin: str | None = None,
        user_agent: str | Default | None = DEFAULT,
        proxy: str | Default | None = DEFAULT,
        max_redirects: int = 10,
        extensions: str | None = None,
        handshake_hook: HandshakeHook | None = None,
        proxy_ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        logger: LoggerLike | None = None,
        http2: H2Pool | None = None,
    ) -> ConnectOptions:
        """Check the user's options and freeze them.

        Raises:
            TypeError: an option has the wrong type.
            ValueError: an option has an invalid value; the message says what is allowed.
        """
        _check_context("ssl_context", ssl_context)
        _check_context("proxy_ssl_context", proxy_ssl_context)
        from ._trio.hook import check_hook  # here: _hook imports this module

        hook = check_hook(handshake_hook)
        checked_headers = check_headers(headers)
        names = {name.lower() for name, _ in checked_headers}
        if origin is not None:
            _check_value("origin", origin)
            if "origin" in names:
                raise ValueError("give the Origin either as origin= or in headers, not both")
        if user_agent is not DEFAULT and user_agent is not None:
            _check_value("user_agent", user_agent)
            if "user-agent" in names:
                raise ValueError(
                    "give the User-Agent either as user_agent= or in headers, not both"
                )
        if extensions is not None:
            _check_value("extensions", extensions)
        _check_http2(http2, proxy, server_hostname, checked_headers)
        return cls(
            protocols=tuple(_check_protocols(protocols)),
            headers=tuple(checked_headers),
            ssl_context=ssl_context,
            origin=origin,
            user_agent=user_agent,
            proxy=_check_proxy(proxy),
            max_redirects=_check_max_redirects(max_redirects),
            extensions=extensions or None,
            handshake_hook=hook,
            proxy_ssl_context=proxy_ssl_context,
            server_hostname=_check_server_hostname(server_hostname),
            logger=check_logger(logger),
            http2=http2,
        )


#: Request headers HTTP/2 forbids or writes as a pseudo-header (RFC 9113 8.2.2, 8.3.1).
HTTP2_FORBIDDEN_HEADERS: Final = frozenset({"host", "keep-alive", "proxy-connection", "te"})


def _check_http2(
    http2: object, proxy: object, server_hostname: object, headers: list[tuple[str, str]]
) -> None:
    """Refuse what cannot work with ``http2=``, before anything runs."""
    if http2 is None:
        return
    from ._h2 import H2Pool  # here: the pool's modules import this package's errors

    if not isinstance(http2, H2Pool):
        raise TypeError(
            "http2 must be a pool from `async with open_h2_pool() as pool` or None, "
            f"got {type(http2).__name__}"
        )
    if proxy is not DEFAULT and proxy is not None:
        raise ValueError(
            "http2= cannot be used with proxy=: HTTP/2 connections are made directly; give "
            "proxy=None or leave it out (a proxy named by the environment makes the "
            "WebSocket use HTTP/1.1 through it)"
        )
    if server_hostname is not None:
        raise ValueError(
            "http2= cannot be used with server_hostname=: a pooled HTTP/2 connection is "
            "shared by its origin and checks the certificate against the URL's host"
        )
    for name, _ in headers:
        if name.lower() in HTTP2_FORBIDDEN_HEADERS:
            raise ValueError(
                f"header {name!r} cannot be sent with http2=: HTTP/2 forbids it "
                "(RFC 9113 8.2.2; the host is the :authority)"
            )


def _check_context(option: str, context: object) -> None:
    if context is not None and not isinstance(context, ssl.SSLContext):
        raise TypeError(f"{option} must be an ssl.SSLContext or None, got {type(context).__name__}")


def _check_server_hostname(name: object) -> str | None:
    if name is None:
        return None
    if not isinstance(name, str):
        raise TypeError(f"server_hostname must be a str or None, got {type(name).__name__}")
    try:
        ascii_name = name.encode("idna").decode("ascii").lower()
    except UnicodeError:
        ascii_name = ""
    if not _SERVER_NAME.fullmatch(ascii_name):
        raise ValueError(
            f"server_hostname {name!r} is not a host name; give a DNS name such as "
            "'api.example' (the name the certificate is for)"
        )
    return ascii_name


def _check_value(option: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{option} must be a str or None, got {type(value).__name__}")
    if _BAD_VALUE_CHAR.search(value):
        raise ValueError(
            f"{option} {value!r} has a line break, a control character or a character "
            "outside latin-1"
        )
    return value.strip(" \t")


def check_headers(headers: HeadersLike | None) -> list[tuple[str, str]]:
    if headers is None:
        return []
    if isinstance(headers, str | bytes):
        raise TypeError("headers must be a mapping or (name, value) pairs, not a string")
    pairs: Iterable[Any] = headers.items() if isinstance(headers, Mapping) else headers
    checked = []
    for pair in pairs:
        if not (isinstance(pair, tuple | list) and len(pair) == 2):
            size = f" of {len(pair)}" if isinstance(pair, tuple | list) else ""
            raise TypeError(
                f"headers must be a mapping or (name, value) pairs, got a {type(pair).__name__}"
                f"{size}"
            )
        name, value = pair
        if not isinstance(name, str) or not isinstance(value, str):
            # Types only: the value may be a token or a password.
            shown = repr(name) if isinstance(name, str) else type(name).__name__
            raise TypeError(
                f"header names and values must be str, got {shown} with a "
                f"{type(value).__name__} value"
            )
        if not _TOKEN.fullmatch(name):
            raise ValueError(
                f"invalid header name {name!r}: use letters, digits and !#$%&'*+-.^_`|~"
            )
        reserved = RESERVED_HEADERS.get(name.lower())
        if reserved is not None:
            raise ValueError(f"header {name!r} is set by the handshake: {reserved}")
        if _BAD_VALUE_CHAR.search(value):
            raise ValueError(
                f"header {name!r} has a line break, a control character or a character "
                "outside latin-1 in its value"
            )
        checked.append((name, value.strip(" \t")))
    return checked


def _check_protocols(protocols: Sequence[str]) -> list[str]:
    if isinstance(protocols, str) or not isinstance(protocols, Iterable):
        raise TypeError("protocols must be a sequence of str such as ['chat'], not a str")
    checked = list(protocols)
    for proto in checked:
        if not isinstance(proto, str) or not _TOKEN.fullmatch(proto):
            raise ValueError(f"invalid subprotocol {proto!r}: it must be a non-empty token")
    if len({proto.lower() for proto in checked}) != len(checked):
        raise ValueError(f"protocols {checked!r} offers the same subprotocol twice")
    return checked


def _check_proxy(proxy: object) -> ProxyURL | Default | None:
    if proxy is DEFAULT or proxy is None:
        return proxy
    if not isinstance(proxy, str):
        raise TypeError(
            "proxy must be a str such as 'http://host:3128', None (no proxy) or left out "
            f"(use the environment), got {type(proxy).__name__}"
        )
    return parse_proxy_url(proxy)


def _check_max_redirects(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"max_redirects must be an int, got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"max_redirects must be 0 or more, got {value}")
    return value


def check_logger(logger: object) -> LoggerLike:
    """``logger=`` checked: a logger or adapter as given, ``None`` for ``trio_ws_events``."""
    if logger is None:
        return LIBRARY_LOGGER
    if not isinstance(logger, logging.Logger | logging.LoggerAdapter):
        raise TypeError(
            "logger must be a logging.Logger, a logging.LoggerAdapter or None, "
            f"got {type(logger).__name__}"
        )
    return logger


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
        protocols: Sequence[str],
        headers: HeadersLike | None,
        ssl_context: ssl.SSLContext | None,
        origin: str | None,
        user_agent: str | Default | None,
        proxy: str | Default | None,
        max_redirects: int,
        handshake_hook: HandshakeHook | None,
        proxy_ssl_context: ssl.SSLContext | None,
        server_hostname: str | None,
        http2: H2Pool | None = None,
        engine: str = "default",
        unix_socket: str | os.PathLike[str] | None = None,
        stream_factory: StreamFactory | None = None,
    ) -> Options:
        """Check every option, in the order of the signature, and freeze them.

        Raises:
            TypeError: an option has the wrong type.
            ValueError: the URL or an option is invalid; the message says what is allowed.
        """
        parsed = parse_url(url)
        connect_after = _check_timeout("connect_timeout", connect_timeout)
        close_after = _check_timeout("close_timeout", close_timeout)
        interval = _check_timeout("ping_interval", ping_interval)
        ping_after = _check_timeout("ping_timeout", ping_timeout)
        max_message = _check_size("max_message_size", max_message_size)
        max_fragment = _check_size("max_fragment_size", max_fragment_size)
        limit = _check_size("max_buffered_amount", max_buffered_amount)
        if limit is None:
            raise TypeError("max_buffered_amount must be a positive int, got None")
        checked_engine = _check_engine(engine)
        if compression is DEFAULT:
            # The documented default: deflate where the engine can do it.
            compression = "deflate" if checked_engine == "default" else None
        checked_compression = check_compression(compression)
        checked_logger = check_logger(logger)
        connect = ConnectOptions.build(
            protocols=protocols,
            headers=headers,
            ssl_context=ssl_context,
            origin=origin,
            user_agent=user_agent,
            proxy=proxy,
            max_redirects=max_redirects,
            extensions=checked_compression.offer() if checked_compression else None,
            handshake_hook=handshake_hook,
            proxy_ssl_context=proxy_ssl_context,
            server_hostname=server_hostname,
            logger=checked_logger,
            http2=http2,
        )
        connect = _with_transport(connect, unix_socket, stream_factory)
        if checked_engine == "trio-websocket":
            _check_trio_websocket(
                parsed,
                connect,
                checked_compression,
                max_fragment,
                unix_socket=unix_socket,
                stream_factory=stream_factory,
            )
        return cls(
            parsed,
            connect_after,
            close_after,
            interval,
            ping_after,
            max_message,
            max_fragment,
            limit,
            checked_compression,
            checked_logger,
            connect,
            checked_engine,
        )

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
        limit = _check_size("max_buffered_amount", max_buffered_amount)
        if limit is None:
            raise TypeError("max_buffered_amount must be a positive int, got None")
        checked_logger = check_logger(logger)
        return cls(
            parse_url(url),
            None,
            _check_timeout("close_timeout", close_timeout),
            _check_timeout("ping_interval", ping_interval),
            _check_timeout("ping_timeout", ping_timeout),
            None,
            None,
            limit,
            None,
            checked_logger,
            ConnectOptions(proxy=None, logger=checked_logger),
            "trio-websocket",
        )


#: The engines ``engine=`` accepts.
ENGINES: Final = ("default", "trio-websocket")


def _check_engine(engine: object) -> str:
    if not isinstance(engine, str):
        raise TypeError(f"engine must be a str, got {type(engine).__name__}")
    if engine not in ENGINES:
        raise ValueError(f"engine {engine!r} is unknown; use 'default' or 'trio-websocket'")
    return engine


def _with_transport(
    connect: ConnectOptions, unix_socket: object, stream_factory: object
) -> ConnectOptions:
    """``connect`` with the opener of ``unix_socket=`` or ``stream_factory=``, if given.

    Raises:
        TypeError, ValueError: the option is invalid, or conflicts with another.
    """
    from ._trio.transports import check_unix_socket, factory_opener, unix_opener

    if unix_socket is None and stream_factory is None:
        return connect
    given = "unix_socket" if unix_socket is not None else "stream_factory"
    if unix_socket is not None and stream_factory is not None:
        raise ValueError("give either unix_socket= or stream_factory=, not both")
    if connect.proxy is not None and connect.proxy is not DEFAULT:
        raise ValueError(
            f"{given}= cannot be combined with proxy=: the stream goes where {given} says; "
            "drop the proxy, or open the tunnel in a stream_factory"
        )
    if connect.proxy_ssl_context is not None:
        raise ValueError(f"{given}= cannot be combined with proxy_ssl_context= (no proxy)")
    if connect.http2 is not None:
        raise ValueError(
            f"{given}= cannot be combined with http2=: the pool opens its own connections"
        )
    context, name = connect.ssl_context, connect.server_hostname
    if stream_factory is not None:
        if not callable(stream_factory):
            raise TypeError(
                "stream_factory must be a callable taking the URL and returning a "
                f"trio.abc.Stream (or an awaitable of one), got {type(stream_factory).__name__}"
            )
        opener = factory_opener(stream_factory, context, name)
    else:
        opener = unix_opener(check_unix_socket(unix_socket), context, name)
    # The environment's proxies are for TCP: a stream of the user's own never goes through one.
    return dataclasses.replace(connect, proxy=None, open_stream=opener)


#: The options the trio-websocket engine cannot honour, with what to do instead.
_NOT_WITH_TRIO_WEBSOCKET: Final = {
    "unix_socket": "it connects over TCP only; use the default engine",
    "stream_factory": "it connects over TCP only; use the default engine",
    "compression": "trio-websocket has no permessage-deflate; leave compression out or None",
    "max_fragment_size": "trio-websocket sends each message as one frame",
    "proxy": "trio-websocket connects directly; use proxy=None or the default engine",
    "proxy_ssl_context": "trio-websocket connects directly (no proxy)",
    "max_redirects": "trio-websocket follows no redirects; leave max_redirects out",
    "handshake_hook": "trio-websocket builds the request itself",
    "server_hostname": "trio-websocket sends the URL's host as SNI",
    "http2": "trio-websocket speaks HTTP/1.1 only; use the default engine",
}


def _check_trio_websocket(
    url: WebSocketURL,
    connect: ConnectOptions,
    compression: Compression | None,
    max_fragment: int | None,
    *,
    unix_socket: object,
    stream_factory: object,
) -> None:
    """Refuse, naming the engine and the option, what ``engine="trio-websocket"`` cannot do.

    Raises:
        ValueError: an option that engine cannot honour was given.
    """
    from ._trio.proxy import proxy_from_environment

    given = {
        "unix_socket": unix_socket is not None,
        "stream_factory": stream_factory is not None,
        "compression": compression is not None,
        "max_fragment_size": max_fragment is not None,
        "proxy": isinstance(connect.proxy, ProxyURL),
        "proxy_ssl_context": connect.proxy_ssl_context is not None,
        "max_redirects": connect.max_redirects != 10,
        "handshake_hook": connect.handshake_hook is not None,
        "server_hostname": connect.server_hostname is not None,
        "http2": connect.http2 is not None,
    }
    for option, used in given.items():
        if used:
            raise ValueError(
                f"engine='trio-websocket' cannot honour {option}=: "
                f"{_NOT_WITH_TRIO_WEBSOCKET[option]}"
            )
    if connect.proxy is DEFAULT and proxy_from_environment(url, os.environ) is not None:
        raise ValueError(
            f"engine='trio-websocket' cannot honour the proxy the environment names for {url}: "
            "it connects directly; pass proxy=None to connect directly, or use the default engine"
        )


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


def check_engine_close_code(engine: str, code: int) -> None:
    """Refuse a close code ``engine`` cannot send (``code`` passed ``check_close_args``).

    Raises:
        ValueError: 1014 with the trio-websocket engine: wsproto rejects it in a close frame
            it receives, so the peer's echo would end the connection as a protocol error.
    """
    if code == 1014 and engine == "trio-websocket":
        raise ValueError(
            "engine='trio-websocket' cannot honour close code 1014: wsproto does not know it, "
            "so the peer's echo would fail as a protocol error; use 1011 or 1013"
        )


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


def _check_timeout(name: str, value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds or None, got {type(value).__name__}")
    if not value > 0 or math.isnan(value):
        raise ValueError(f"{name} must be a positive number of seconds or None, got {value!r}")
    return float(value)
