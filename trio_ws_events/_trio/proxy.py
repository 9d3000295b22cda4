"""Proxies: parsing proxy URLs, choosing one from the environment as curl does, opening tunnels.

An HTTP proxy is asked for a tunnel with ``CONNECT host:port`` (h11 reads its answer), over TLS
to the proxy itself for an ``https://`` one; a SOCKS5 proxy is driven by python-socks. Either
way the result is a byte stream to the server, over which TLS (for ``wss://``) and the
WebSocket handshake then run.

Environment (read at each connection attempt, only when ``proxy`` was left out):

- ``ws://`` uses ``http_proxy``, then ``HTTP_PROXY`` (ignored when ``REQUEST_METHOD`` is set,
  i.e. in a CGI script, where a client's ``Proxy:`` header would land in it), then
  ``all_proxy``/``ALL_PROXY``;
- ``wss://`` uses ``https_proxy``, then ``HTTPS_PROXY``, then ``all_proxy``/``ALL_PROXY``;
- ``no_proxy``/``NO_PROXY`` lists hosts reached directly (see ``bypasses_proxy``).

Lower case wins over upper case; an empty variable counts as unset.
"""

from __future__ import annotations

import base64
import dataclasses
import ipaddress
import math
import ssl
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final
from urllib.parse import unquote

import h11
import trio

from .._errors import ConnectError, map_exceptions
from .._sansio.handshake import MAX_RESPONSE_HEAD
from .._sansio.url import redact, split_url
from .net import describe, open_tcp, receive, send, start_tls

if TYPE_CHECKING:
    from .._sansio.url import WebSocketURL

__all__ = [
    "PROXY_SCHEMES",
    "ProxyURL",
    "bypasses_proxy",
    "open_tunnel",
    "parse_proxy_url",
    "proxy_from_environment",
]

#: The proxy schemes understood, and what each means.
PROXY_SCHEMES: Final = {
    "http": "HTTP proxy, tunnel with CONNECT",
    "https": "HTTP proxy reached over TLS, tunnel with CONNECT",
    "socks5": "SOCKS5 proxy, host names resolved here",
    "socks5h": "SOCKS5 proxy, host names resolved by the proxy",
}
#: curl's default proxy port, for every scheme but ``https``.
DEFAULT_PROXY_PORT: Final = 1080
#: curl's default port of an ``https://`` proxy.
DEFAULT_HTTPS_PROXY_PORT: Final = 443


@dataclasses.dataclass(frozen=True, slots=True)
class ProxyURL:
    """A parsed proxy URL; ``credentials`` never appear in ``str()`` or ``repr()``.

    Built by ``parse_proxy_url``.

    Attributes:
        scheme: ``"http"``, ``"https"``, ``"socks5"`` or ``"socks5h"``.
        host: the proxy's host name or IP address (no brackets).
        port: its port; when the URL has none, 443 for ``https`` and 1080 for the others
            (as in curl).
        credentials: ``(user, password)`` from the URL, unescaped, or ``None``.
    """

    scheme: str
    host: str
    port: int
    credentials: tuple[str, str] | None = dataclasses.field(default=None, repr=False)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def parse_proxy_url(text: str, *, source: str = "proxy") -> ProxyURL:
    """Parse ``[scheme://][user:password@]host[:port]``; no scheme means ``http://``.

    Args:
        text: the proxy URL.
        source: what to call it in errors, e.g. ``"proxy"`` or ``"$HTTPS_PROXY"``.

    Raises:
        ValueError: the scheme is not one of ``PROXY_SCHEMES``, or the host or port is
            missing or invalid; the message says which and shows no password.
    """
    where = f"{source} {redact(text)!r}"

    def invalid(why: str) -> ValueError:
        return ValueError(f"invalid {where}: {why}")

    stripped = text.strip()
    if not stripped:
        raise invalid("it is empty")
    if "://" not in stripped:
        stripped = "http://" + stripped
    parts, port = split_url(stripped, where)
    scheme = parts.scheme.lower()
    if scheme not in PROXY_SCHEMES:
        raise invalid(f"scheme {parts.scheme!r}; use http://, https://, socks5:// or socks5h://")
    if not parts.hostname:
        raise invalid("no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise invalid("a proxy URL has no path, query or fragment")
    if port == 0:
        raise invalid("port 0 is not a valid port")
    if port is None:
        port = DEFAULT_HTTPS_PROXY_PORT if scheme == "https" else DEFAULT_PROXY_PORT
    credentials = None
    if parts.username is not None:
        credentials = (unquote(parts.username), unquote(parts.password or ""))
    return ProxyURL(scheme, parts.hostname, port, credentials)


def proxy_from_environment(
    url: WebSocketURL, environ: Mapping[str, str]
) -> tuple[ProxyURL, str] | None:
    """The proxy the environment chooses for ``url``, and the variable it came from.

    Returns:
        ``None`` when no variable applies or ``no_proxy`` lists the host.

    Raises:
        ValueError: the chosen variable does not hold a valid proxy URL; the message names it.
    """
    if bypasses_proxy(url.host, _first(environ, ("no_proxy", "NO_PROXY"))[1]):
        return None
    if url.secure:
        names = ["https_proxy", "HTTPS_PROXY"]
    else:
        names = ["http_proxy"] if "REQUEST_METHOD" in environ else ["http_proxy", "HTTP_PROXY"]
    name, value = _first(environ, (*names, "all_proxy", "ALL_PROXY"))
    if not value:
        return None
    return parse_proxy_url(value, source=f"${name}"), name


def _first(environ: Mapping[str, str], names: tuple[str, ...]) -> tuple[str, str]:
    for name in names:
        value = environ.get(name, "").strip()
        if value:
            return name, value
    return "", ""


def bypasses_proxy(host: str, no_proxy: str) -> bool:
    """Whether ``no_proxy`` says ``host`` is reached directly, by curl's rules.

    ``no_proxy`` is a list separated by commas or blanks. ``*`` matches every host. A name
    matches itself and its subdomains (``example.com`` and ``.example.com`` both match
    ``example.com`` and ``www.example.com``, not ``notexample.com``), ignoring case and a
    trailing dot. An IP address matches an equal address or a CIDR block containing it
    (``10.0.0.0/8``, ``::1``, ``fe80::/10``); names never match addresses.
    """
    entries = [entry for entry in no_proxy.replace(",", " ").split() if entry]
    if "*" in entries:
        return True
    address = _ip(host)
    name = host.lower().rstrip(".")
    for entry in entries:
        if address is not None:
            if _address_in(address, entry):
                return True
            continue
        pattern = entry.lower().rstrip(".").lstrip(".")
        if pattern and (name == pattern or name.endswith("." + pattern)):
            return True
    return False


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _address_in(address: ipaddress.IPv4Address | ipaddress.IPv6Address, entry: str) -> bool:
    try:
        network = ipaddress.ip_network(entry.strip("[]").replace("]/", "/"), strict=False)
    except ValueError:
        return False
    return network.version == address.version and address in network


async def open_tunnel(
    proxy: ProxyURL,
    target: WebSocketURL,
    shown: str,
    ssl_context: ssl.SSLContext | None = None,
) -> trio.abc.Stream:
    """A byte stream to ``target``'s host and port through ``proxy``.

    For an ``https://`` proxy, TLS to the proxy itself comes first, with ``ssl_context``
    (``None``: the default, verified context); the tunnel then runs inside it.

    Cancellation: safe; the socket to the proxy is closed before ``Cancelled`` propagates.

    Raises:
        ConnectError: the proxy cannot be reached, refuses (e.g. HTTP 407), or breaks the
            protocol; the message names the proxy (without credentials) and ``shown``.
    """
    if proxy.scheme in ("http", "https"):
        return await _http_connect(proxy, target, shown, ssl_context)
    return await _socks5_connect(proxy, target, shown)


async def _http_connect(
    proxy: ProxyURL, target: WebSocketURL, shown: str, ssl_context: ssl.SSLContext | None
) -> trio.abc.Stream:
    what = f"proxy {proxy} for "
    stream: trio.abc.Stream = await open_tcp(proxy.host, proxy.port, what, shown)
    try:
        if proxy.scheme == "https":
            stream = await start_tls(
                stream,
                proxy.host,
                ssl_context,
                shown,
                peer=f"proxy {proxy}",
                option="proxy_ssl_context",
            )
        connection = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_RESPONSE_HEAD)
        headers = [("Host", target.authority)]
        if proxy.credentials is not None:
            token = base64.b64encode(":".join(proxy.credentials).encode()).decode("ascii")
            headers.append(("Proxy-Authorization", f"Basic {token}"))
        request = h11.Request(method="CONNECT", target=target.authority, headers=headers)
        data = connection.send(request) + (connection.send(h11.EndOfMessage()) or b"")
        await send(stream, data, what, shown)
        response = await _read_connect_answer(stream, connection, proxy, target, shown)
        if not 200 <= response.status_code < 300:
            raise ConnectError(_refusal(proxy, target, shown, response), url=shown)
        if connection.trailing_data[0]:
            raise ConnectError(
                f"proxy {proxy} sent data before the tunnel to {target.authority} was used "
                f"({shown})",
                url=shown,
            )
    except BaseException:
        await trio.aclose_forcefully(stream)
        raise
    return stream


async def _read_connect_answer(
    stream: trio.abc.Stream,
    connection: h11.Connection,
    proxy: ProxyURL,
    target: WebSocketURL,
    shown: str,
) -> h11.Response:
    what = f"proxy {proxy} for "
    while True:
        try:
            event = connection.next_event()
        except h11.RemoteProtocolError as exc:
            raise ConnectError(
                f"invalid answer from proxy {proxy} to CONNECT {target.authority} ({shown}): {exc}",
                url=shown,
            ) from None
        if isinstance(event, h11.Response):
            return event
        if event is h11.NEED_DATA:
            data = await receive(stream, what, shown)
            if not data:
                raise ConnectError(
                    f"proxy {proxy} closed the connection without answering CONNECT "
                    f"{target.authority} ({shown})",
                    url=shown,
                )
            connection.receive_data(data)
        # An InformationalResponse (1xx) comes before the real answer: read on.


def _refusal(proxy: ProxyURL, target: WebSocketURL, shown: str, response: h11.Response) -> str:
    status = response.status_code
    reason = response.reason.decode("latin-1")
    message = (
        f"proxy {proxy} refused the tunnel to {target.authority} ({shown}): "
        f"HTTP {status} {reason}".rstrip()
    )
    if status == 407:
        if proxy.credentials is None:
            message += "; it wants credentials: put them in the proxy URL as user:password@"
        else:
            message += "; it refused the credentials in the proxy URL"
    return message


async def _socks5_connect(proxy: ProxyURL, target: WebSocketURL, shown: str) -> trio.abc.Stream:
    # Imported here: only SOCKS users pay for python-socks.
    from python_socks import ProxyConnectionError, ProxyError, ProxyTimeoutError, ProxyType
    from python_socks.async_.trio import Proxy

    user, password = proxy.credentials if proxy.credentials is not None else (None, None)
    client = Proxy(
        ProxyType.SOCKS5,
        proxy.host,
        proxy.port,
        username=user,
        password=password,
        rdns=proxy.scheme == "socks5h",
    )

    def unreachable(exc: Exception) -> ConnectError:
        # The proxy itself cannot be reached; python-socks keeps the OSError as the cause.
        reason = describe(exc.__cause__ or exc)
        return ConnectError(f"cannot connect to proxy {proxy} for {shown}: {reason}", url=shown)

    def refused(exc: Exception) -> ConnectError:
        return ConnectError(
            f"SOCKS5 proxy {proxy} could not open a connection to {target.authority} "
            f"({shown}): {describe(exc)}",
            url=shown,
        )

    # The first match wins: ProxyConnectionError is a ProxyError.
    with map_exceptions(
        {ProxyConnectionError: unreachable, (ProxyError, ProxyTimeoutError, OSError): refused}
    ):
        # No timeout of its own: the caller's cancel scope bounds the attempt.
        sock = await client.connect(target.host, target.port, timeout=math.inf)
    return trio.SocketStream(sock)
