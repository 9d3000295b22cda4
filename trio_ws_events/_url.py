"""Parsing and checking of the URL given to ``WebSocket(url)``: no I/O, only ``ValueError``."""

from __future__ import annotations

import base64
import dataclasses
from urllib.parse import unquote, urlsplit

__all__ = ["WebSocketURL", "parse_url"]

_SCHEMES = {"ws": False, "wss": True, "http": False, "https": True}


@dataclasses.dataclass(frozen=True, slots=True)
class WebSocketURL:
    """A parsed ``ws://`` or ``wss://`` URL; ``credentials`` never appear in ``str()``."""

    secure: bool
    host: str
    port: int
    resource: str
    credentials: tuple[str, str] | None = dataclasses.field(default=None, repr=False)

    @property
    def host_header(self) -> str:
        """The value of the ``Host`` header: the port only when it is not the default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.port == (443 if self.secure else 80):
            return host
        return f"{host}:{self.port}"

    @property
    def authorization(self) -> str | None:
        """A Basic ``Authorization`` header value built from the URL's credentials, if any."""
        if self.credentials is None:
            return None
        user, password = self.credentials
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        return f"Basic {token}"

    def __str__(self) -> str:
        scheme = "wss" if self.secure else "ws"
        return f"{scheme}://{self.host_header}{self.resource}"


def parse_url(url: object) -> WebSocketURL:
    """Parse ``url`` into a :class:`WebSocketURL`.

    ``http://`` and ``https://`` are accepted as ``ws://`` and ``wss://``.

    Raises:
        TypeError: ``url`` is not a ``str``.
        ValueError: the scheme, host or port is missing or invalid; the message says which.
    """
    if not isinstance(url, str):
        raise TypeError(f"url must be a str such as 'ws://host/path', got {type(url).__name__}")
    if any(c.isspace() for c in url):
        raise ValueError(f"invalid WebSocket URL {url!r}: it contains whitespace")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"invalid WebSocket URL {url!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        shown = f"scheme {parts.scheme!r}" if parts.scheme else "no scheme"
        raise ValueError(
            f"invalid WebSocket URL {_redact(url)!r}: {shown}; use ws://, wss://, http:// or https://"
        )
    if parts.fragment:
        raise ValueError(
            f"invalid WebSocket URL {_redact(url)!r}: a fragment (#...) is not allowed"
        )
    host = parts.hostname
    if not host:
        raise ValueError(f"invalid WebSocket URL {_redact(url)!r}: no host")
    secure = _SCHEMES[scheme]
    if port is None:
        port = 443 if secure else 80
    elif port == 0:
        raise ValueError(f"invalid WebSocket URL {_redact(url)!r}: port 0 is not a valid port")
    resource = parts.path or "/"
    if parts.query:
        resource += "?" + parts.query
    credentials = None
    if parts.username is not None:
        credentials = (unquote(parts.username), unquote(parts.password or ""))
    return WebSocketURL(secure, host, port, resource, credentials)


def _redact(url: str) -> str:
    """``url`` with any ``user:password@`` part replaced, for error messages."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, tail = rest.partition("/")
    if "@" in authority:
        authority = "***@" + authority.rpartition("@")[2]
    return f"{scheme}{sep}{authority}{slash}{tail}"
