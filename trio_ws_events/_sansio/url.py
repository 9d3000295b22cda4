"""Parsing and checking of the URL given to ``WebSocket(url)``: no I/O, only ``ValueError``.

Also resolves the ``Location`` of a redirect against the URL that answered it.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import ipaddress
import re
from collections.abc import Callable
from urllib.parse import SplitResult, quote, unquote, urldefrag, urljoin, urlsplit

_WHITESPACE = re.compile(r"\s")

__all__ = ["WebSocketURL", "parse_url", "redact", "split_url"]

_SCHEMES = {"ws": False, "wss": True, "http": False, "https": True}
#: What may stay unescaped in the request target: RFC 3986 reserved and unreserved
#: characters, plus ``%`` so that escapes already made are kept as they are.
_TARGET_SAFE = "/?:@!$&'()*+,;=-._~%"
_HOSTNAME = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?")


@dataclasses.dataclass(frozen=True, slots=True)
class WebSocketURL:
    """A parsed ``ws://`` or ``wss://`` URL; ``credentials`` never show in ``str()`` or ``repr()``.

    Built by ``parse_url`` (or ``join``), not directly.

    Attributes:
        secure: ``True`` for ``wss://`` (and ``https://``).
        host: the host name in lower case and IDNA (``xn--``) form, or an IP address without
            brackets.
        port: the TCP port, the scheme's default when the URL has none.
        resource: the request target: the path (``/`` at least) and the query, percent-escaped.
        credentials: ``(user, password)`` from ``user:password@``, unescaped, or ``None``.
    """

    secure: bool
    host: str
    port: int
    resource: str
    credentials: tuple[str, str] | None = dataclasses.field(default=None, repr=False)
    # Derived once (``__post_init__``): each handshake reads them several times (issue 18).
    _host_header: str = dataclasses.field(init=False, repr=False, compare=False)
    _for_log: str = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        default_port = self.port == (443 if self.secure else 80)
        host = _bracketed(self.host) if default_port else self.authority
        object.__setattr__(self, "_host_header", host)
        path, query, _ = self.resource.partition("?")
        shown = f"{self.scheme}://{host}{path}{'?...' if query else ''}"
        object.__setattr__(self, "_for_log", shown)

    @property
    def scheme(self) -> str:
        """``"wss"`` or ``"ws"``."""
        return "wss" if self.secure else "ws"

    @property
    def authority(self) -> str:
        """``host:port`` as written in a ``CONNECT`` request, IPv6 addresses in brackets."""
        return f"{_bracketed(self.host)}:{self.port}"

    @property
    def host_header(self) -> str:
        """The value of the ``Host`` header: the port only when it is not the default."""
        return self._host_header

    @property
    def authorization(self) -> str | None:
        """A Basic ``Authorization`` header value built from the URL's credentials, if any."""
        if self.credentials is None:
            return None
        user, password = self.credentials
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        return f"Basic {token}"

    def same_origin(self, other: WebSocketURL) -> bool:
        """Whether ``other`` has the same scheme, host and port (credentials may follow)."""
        return (self.secure, self.host, self.port) == (other.secure, other.host, other.port)

    def join(self, location: str) -> WebSocketURL:
        """The URL a redirect's ``Location`` points to, resolved against this one.

        A relative ``Location`` is resolved as a browser does; ``http(s)://`` becomes
        ``ws(s)://``; a fragment is dropped. Credentials are kept only for the same origin
        and only when ``location`` brings none of its own.

        Raises:
            ValueError: ``location`` is not a usable WebSocket URL; the message says why
                and shows no credentials.
        """
        base = f"{'https' if self.secure else 'http'}://{self.host_header}{self.resource}"
        absolute, _ = urldefrag(urljoin(base, location.strip()))
        target = parse_url(absolute)
        if target.credentials is None and self.same_origin(target):
            target = dataclasses.replace(target, credentials=self.credentials)
        return target

    def __str__(self) -> str:
        return f"{self.scheme}://{self.host_header}{self.resource}"

    @property
    def for_log(self) -> str:
        """The URL without its query string: queries often carry tokens, logs keep none."""
        return self._for_log


def parse_url(url: object) -> WebSocketURL:
    """Parse ``url`` into a ``WebSocketURL``.

    ``http://`` and ``https://`` are accepted as ``ws://`` and ``wss://``. Non-ASCII
    characters in the path and query are percent-escaped, and a non-ASCII host name is
    turned into its IDNA (``xn--``) form.

    Raises:
        TypeError: ``url`` is not a ``str``.
        ValueError: the scheme, host or port is missing or invalid, or the URL has a
            fragment or whitespace; the message says which and shows no credentials, nor
            any piece of the URL that might be one (see ``redact``).
    """
    if not isinstance(url, str):
        raise TypeError(f"url must be a str such as 'ws://host/path', got {type(url).__name__}")
    if len(url) <= _CACHED_URL_LENGTH and "@" not in url:
        return _parse_cached(str(url))
    return _parse(url)


#: URLs up to this long, without credentials, are parsed once (``_parse_cached``): W4 and
#: W5 build a ``WebSocket`` per connection to the same URL (issue 18).
_CACHED_URL_LENGTH = 512


@functools.lru_cache(maxsize=64)
def _parse_cached(url: str) -> WebSocketURL:
    """``_parse``, remembered: ``WebSocketURL`` is frozen, and a failure is not cached. At
    most 64 URLs of ``_CACHED_URL_LENGTH`` characters, none holding a password."""
    return _parse(url)


def _parse(url: str) -> WebSocketURL:
    where = f"WebSocket URL {redact(url)!r}"

    def invalid(why: str) -> ValueError:
        return ValueError(f"invalid {where}: {why}")

    if _WHITESPACE.search(url):
        raise invalid("it contains whitespace")
    parts, port = split_url(url, where)
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        shown = f"scheme {parts.scheme!r}" if parts.scheme else "no scheme"
        raise invalid(f"{shown}; use ws://, wss://, http:// or https://")
    if parts.fragment or url.endswith("#"):
        raise invalid("a fragment (#...) is not allowed")
    if not parts.hostname:
        raise invalid("no host")
    host = _check_host(parts.hostname, invalid, show=_unambiguous(url, parts))
    secure = _SCHEMES[scheme]
    if port is None:
        port = 443 if secure else 80
    elif port == 0:
        raise invalid("port 0 is not a valid port")
    resource = quote(parts.path or "/", safe=_TARGET_SAFE)
    if parts.query:
        resource += "?" + quote(parts.query, safe=_TARGET_SAFE)
    credentials = None
    if parts.username is not None:
        credentials = (unquote(parts.username), unquote(parts.password or ""))
    return WebSocketURL(secure, host, port, resource, credentials)


def split_url(url: str, where: str) -> tuple[SplitResult, int | None]:
    """``urlsplit(url)`` and its port, failures in our own words.

    urllib's messages quote pieces of the URL (the port text, the whole authority), which
    may be a password written without escapes: ours quote only what cannot be one.

    Args:
        url: the URL as given.
        where: what to call it in errors, already redacted: ``"proxy 'http://***@p:1'"``.

    Raises:
        ValueError: the authority is malformed or the port is not a number 0-65535.
    """
    parts = _split_or_none(url)
    if parts is None:  # raised outside the except: urllib's error, kept as context, quotes
        raise ValueError(
            f"invalid {where}: the host and port part is malformed (an unbalanced '[' or ']', "
            "an invalid IPv6 address in brackets, or a character not allowed there)"
        )
    show = _unambiguous(url, parts)
    hostport = parts.netloc.rpartition("@")[2]
    if hostport.startswith("["):
        after = hostport.partition("]")[2]
        colon, text = after[:1], after[1:]
        if after and colon != ":":
            raise ValueError(f"invalid {where}: text after the ']' of an IPv6 address")
    else:
        _, colon, text = hostport.partition(":")
    if not colon or not text:
        return parts, None
    if not (text.isascii() and text.isdigit()):
        why = f"port {text!r} is not a number" if show else "the port is not a number"
        raise ValueError(f"invalid {where}: {why}; use 1-65535")
    port = int(text)
    if port > 65535:
        shown = f"port {port}" if show else "the port"
        raise ValueError(f"{shown} is out of range 0-65535 in {where}")
    return parts, port


def _split_or_none(url: str) -> SplitResult | None:
    try:
        return urlsplit(url)
    except ValueError:
        return None


def _unambiguous(url: str, parts: SplitResult) -> bool:
    """Whether every ``@`` of ``url`` is in the authority urllib found.

    When one is not (``ws://alice:s3cr/t@host/``: a password with an unescaped ``/``), the
    host and port urllib found may be pieces of a password, so messages do not quote them.
    """
    return url.count("@") == parts.netloc.count("@")


def _check_host(host: str, invalid: Callable[[str], ValueError], *, show: bool) -> str:
    """The host in the form used on the wire; ``invalid(why)`` builds the error.

    ``show=False`` keeps the host out of the message: it may be a piece of a password.
    """
    shown = f"{host!r}" if show else "in the URL"
    if ":" in host:  # urlsplit found brackets: an IPv6 address, perhaps with a zone
        literal = unquote(host)
        try:
            ipaddress.IPv6Address(literal)
        except ValueError:
            raise invalid(f"the host {shown} is not a valid IPv6 address") from None
        return literal
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise invalid(f"the host {shown} is not a valid host name") from None
    if not _HOSTNAME.fullmatch(ascii_host):
        raise invalid(f"the host {shown} is not a valid host name")
    return ascii_host


def _bracketed(host: str) -> str:
    return f"[{host.replace('%', '%25')}]" if ":" in host else host


def redact(url: str) -> str:
    """``url`` with everything from ``://`` to its last ``@`` replaced by ``***@``, for messages.

    The last ``@`` anywhere, not the first after the host: a password may hold an unescaped
    ``/``, ``?``, ``#`` or ``@``, and an invalid URL has no reliable authority to go by. A
    URL with an ``@`` in its query is then shown shortened; it never shows a password.
    """
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    return f"{scheme}{sep}***@{rest.rpartition('@')[2]}"
