"""The connection options given to ``WebSocket(...)``, checked once and frozen: no I/O."""

from __future__ import annotations

import dataclasses
import enum
import re
import ssl
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from ._proxy import ProxyURL, parse_proxy_url
from ._typing import HeadersLike

__all__ = ["DEFAULT", "RESERVED_HEADERS", "ConnectOptions", "Default"]


class Default(enum.Enum):
    """The type of ``DEFAULT``: "use the documented default", distinct from ``None``."""

    DEFAULT = "DEFAULT"

    def __repr__(self) -> str:
        return "DEFAULT"


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
    """

    protocols: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    ssl_context: ssl.SSLContext | None = None
    origin: str | None = None
    user_agent: str | Default | None = DEFAULT
    proxy: ProxyURL | Default | None = DEFAULT
    max_redirects: int = 10
    extensions: str | None = None

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
    ) -> ConnectOptions:
        """Check the user's options and freeze them.

        Raises:
            TypeError: an option has the wrong type.
            ValueError: an option has an invalid value; the message says what is allowed.
        """
        if ssl_context is not None and not isinstance(ssl_context, ssl.SSLContext):
            raise TypeError(
                f"ssl_context must be an ssl.SSLContext or None, got {type(ssl_context).__name__}"
            )
        checked_headers = _check_headers(headers)
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
        return cls(
            protocols=tuple(_check_protocols(protocols)),
            headers=tuple(checked_headers),
            ssl_context=ssl_context,
            origin=origin,
            user_agent=user_agent,
            proxy=_check_proxy(proxy),
            max_redirects=_check_max_redirects(max_redirects),
            extensions=extensions or None,
        )


def _check_value(option: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{option} must be a str or None, got {type(value).__name__}")
    if _BAD_VALUE_CHAR.search(value):
        raise ValueError(
            f"{option} {value!r} has a line break, a control character or a character "
            "outside latin-1"
        )
    return value.strip(" \t")


def _check_headers(headers: HeadersLike | None) -> list[tuple[str, str]]:
    if headers is None:
        return []
    if isinstance(headers, str | bytes):
        raise TypeError("headers must be a mapping or (name, value) pairs, not a string")
    pairs: Iterable[Any] = headers.items() if isinstance(headers, Mapping) else headers
    checked = []
    for pair in pairs:
        if not (isinstance(pair, tuple | list) and len(pair) == 2):
            raise TypeError(f"headers must be a mapping or (name, value) pairs, got {pair!r}")
        name, value = pair
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError(f"header names and values must be str, got {pair!r}")
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
