"""How to open a connection (``ConnectOptions``) and the checks of its options: no I/O."""

from __future__ import annotations

import dataclasses
import enum
import logging
import re
import ssl
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, TypedDict

from ._sansio.url import WebSocketURL
from ._trio.proxy import ProxyURL, parse_proxy_url
from ._typing import HeadersLike, LoggerLike

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import trio

    from ._h2 import H2Pool
    from ._trio.hook import HandshakeHook

    #: Opens the byte stream to a URL in place of TCP, the proxy and TLS.
    StreamOpener = Callable[[WebSocketURL], Awaitable[trio.abc.Stream]]

__all__ = [
    "DEFAULT",
    "LIBRARY_LOGGER",
    "RESERVED_HEADERS",
    "ConnectArgs",
    "ConnectOptions",
    "Default",
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
        busy_poll: seconds to poll for the answer to the upgrade request before the run
            may sleep (``_sansio/busypoll.py``); 0 never polls.
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
    busy_poll: float = 0.0

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
        busy_poll: float = 0.0,
    ) -> ConnectOptions:
        """Check the user's options and freeze them (``busy_poll`` comes checked).

        Raises:
            TypeError: an option has the wrong type.
            ValueError: an option has an invalid value; the message says what is allowed.
        """
        _check_context("ssl_context", ssl_context)
        _check_context("proxy_ssl_context", proxy_ssl_context)
        from ._trio.hook import check_hook  # here: _hook imports this module

        hook = check_hook(handshake_hook)
        checked_headers = check_headers(headers)
        _check_header_options(origin, user_agent, extensions, checked_headers)
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
            busy_poll=busy_poll,
        )


class ConnectArgs(TypedDict, total=False):
    """The keywords of ``ConnectOptions.build`` that ``WebSocket(...)`` passes through as given
    (``extensions`` and ``logger`` come checked from ``Options.build``)."""

    protocols: Sequence[str]
    headers: HeadersLike | None
    ssl_context: ssl.SSLContext | None
    origin: str | None
    user_agent: str | Default | None
    proxy: str | Default | None
    max_redirects: int
    handshake_hook: HandshakeHook | None
    proxy_ssl_context: ssl.SSLContext | None
    server_hostname: str | None
    http2: H2Pool | None


def _check_header_options(
    origin: object, user_agent: object, extensions: object, headers: list[tuple[str, str]]
) -> None:
    """The options that become request headers: valid values, not also given in ``headers``."""
    names = {name.lower() for name, _ in headers}
    if origin is not None:
        _check_value("origin", origin)
        if "origin" in names:
            raise ValueError("give the Origin either as origin= or in headers, not both")
    if user_agent is not DEFAULT and user_agent is not None:
        _check_value("user_agent", user_agent)
        if "user-agent" in names:
            raise ValueError("give the User-Agent either as user_agent= or in headers, not both")
    if extensions is not None:
        _check_value("extensions", extensions)


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
