"""Opening a connection: TCP or a proxy tunnel, TLS for ``wss://``, the upgrade, redirects.

Each request (the first, and one per redirect followed) is built, shown to the
``handshake_hook`` if there is one, and only then given a socket.

Every failure leaves ``open_connection`` as a ``ConnectError`` (or
its subclass ``HandshakeRejected``) whose message names the URL without
credentials; no trio, ssl, h11 or python-socks exception escapes, and the socket is closed on
every path out, cancellation included. The deadline is the caller's cancel scope.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Final

import h11
import trio

from .._errors import ConnectError, HandshakeRejected, map_exceptions
from .._options import DEFAULT, ConnectOptions, Default
from .._sansio.busypoll import HANDSHAKE_FACTOR
from .._sansio.compression import Compression
from .._sansio.deflate import Inflater
from .._sansio.handshake import MAX_REJECT_BODY, Accepted, ClientHandshake, HandshakeError, Rejected
from .._sansio.protocol import ClientProtocol
from .._sansio.url import WebSocketURL
from .._version import __version__
from .h2_open import open_over_http2
from .hook import HandshakeRequest, run_hook
from .net import open_tcp, receive, send, start_tls
from .proxy import ProxyURL, open_tunnel, proxy_from_environment
from .reading import Reads
from .socket_writes import Writer

__all__ = [
    "CREDENTIAL_HEADERS",
    "DEFAULT",
    "MAX_REJECT_BODY",
    "REDIRECT_STATUSES",
    "ConnectOptions",
    "Default",
    "Opened",
    "make_protocol",
    "open_connection",
]

#: The answers to the handshake that are followed, up to ``max_redirects`` of them.
REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
#: Seconds a rejection's body may take after its head: a server that announces more than it
#: sends, or never closes, does not hold the error back for the whole ``connect_timeout``.
REJECT_BODY_GRACE: Final = 2.0
#: The default ``User-Agent``.
USER_AGENT: Final = f"trio-ws-events/{__version__}"


class Opened:
    """What a completed handshake hands to the connection.

    Built by ``open_connection`` only.

    Attributes:
        stream: the byte stream to the server (TCP, TLS, or either through a proxy tunnel).
        subprotocol: the subprotocol the server chose, one of those offered, or ``None``.
        extensions: the server's raw ``Sec-WebSocket-Extensions`` value, or ``None``. It is
            never set when no extensions were offered; otherwise the caller must check it.
        headers: the response headers as ``(name, value)`` pairs of ``str``, in order, names
            lower-cased.
        trailing: the bytes received after the response head: the first WebSocket frames.
        url: the URL that accepted, after redirects (with credentials, if it kept them).
    """

    __slots__ = ("_headers", "extensions", "stream", "subprotocol", "trailing", "url")

    def __init__(
        self,
        stream: trio.abc.Stream,
        *,
        subprotocol: str | None,
        extensions: str | None,
        headers: list[tuple[str, str]],
        trailing: bytes,
        url: WebSocketURL,
    ) -> None:
        self.stream = stream
        self.subprotocol = subprotocol
        self.extensions = extensions
        self._headers = _pack(headers)
        self.trailing = trailing
        self.url = url

    @property
    def headers(self) -> list[tuple[str, str]]:
        packed = self._headers
        if not isinstance(packed, str):
            return packed
        if not packed:
            return []
        parts = packed.split("\n")
        return list(zip(parts[::2], parts[1::2], strict=True))


def _pack(headers: list[tuple[str, str]]) -> str | list[tuple[str, str]]:
    """``headers`` as one string, split again when asked for: each pair of ``str`` kept
    apart cost about 60 B (W5's memory: 1 KiB per connection). A line feed cannot be in
    a header (RFC 9110 5.5), but a stream we were given may not have checked: then as is."""
    if not headers:
        return ""
    packed = "\n".join(f"{name}\n{value}" for name, value in headers)
    return packed if packed.count("\n") == 2 * len(headers) - 1 else headers


async def open_connection(url: WebSocketURL, options: ConnectOptions) -> Opened:
    """Connect to ``url`` and complete the opening handshake, following redirects.

    With ``options.http2``, the WebSocket is first tried as a stream of that HTTP/2 pool
    (``h2_open.py``); when the origin cannot take it, the upgrade runs as here.

    Cancellation: safe; a half-open socket is closed before ``Cancelled`` propagates.

    Raises:
        ConnectError: TCP, the proxy or TLS failed, the server closed during the handshake,
            its answer is not a valid WebSocket upgrade, or a redirect cannot be followed.
        HandshakeRejected: the server answered with a status other than 101 (a redirect
            beyond ``max_redirects`` included).
    """
    shown = str(url)
    current = url
    followed = 0
    keep_credentials = True
    try:
        if options.http2 is not None:
            headers = _request_headers(url, options, keep_credentials=True)
            opened = await open_over_http2(url, options, shown, headers)
            if opened is not None:
                return opened
        while True:
            where = shown if current is url else f"{current} (redirected from {shown})"
            # Once another origin was visited, the credentials never come back (Fetch).
            keep_credentials = keep_credentials and current.same_origin(url)
            outcome = await _attempt(
                current,
                options,
                where,
                keep_credentials=keep_credentials,
                redirects=followed,
            )
            if isinstance(outcome, Opened):
                return outcome
            current = outcome
            followed += 1
    except ConnectError as exc:
        exc.url = shown
        raise


async def _attempt(
    url: WebSocketURL,
    options: ConnectOptions,
    where: str,
    *,
    keep_credentials: bool,
    redirects: int,
) -> Opened | WebSocketURL:
    """One connection and handshake: the opened connection, or where a redirect points."""
    headers = _request_headers(url, options, keep_credentials=keep_credentials)
    if options.handshake_hook is not None:
        # Before the socket: a hook that fetches a token holds no connection meanwhile.
        request = HandshakeRequest(str(url), headers, redirects)
        headers = await run_hook(options.handshake_hook, request, where)
    stream, where = await _open_stream(url, options, where)
    try:
        handshake = ClientHandshake(
            host=url.host_header,
            target=url.resource,
            protocols=options.protocols,
            extensions=options.extensions,
            headers=headers,
        )
        # The options were checked: a request refused here would be a bug.
        with map_exceptions({(h11.LocalProtocolError, ValueError): _unwritable(where)}):
            request_bytes = handshake.request()
        # One direct write(2) when the kernel takes it all (it does: the socket is new), no
        # scheduler pass: the answer's read just after is the checkpoint (issue 18, W4).
        writer = Writer(stream, options.busy_poll * HANDSHAKE_FACTOR)
        await send(writer, request_bytes, "", where)
        writer.linger()  # for the 101: a fast server's answer then needs no wake-up
        may_follow = redirects < options.max_redirects
        answer = await _read_answer(stream, handshake, where, may_follow=may_follow)
    except BaseException:
        # Cancelled included: nothing may leave a socket behind.
        await trio.aclose_forcefully(stream)
        raise
    if isinstance(answer, Accepted):
        return Opened(
            stream,
            subprotocol=answer.subprotocol,
            extensions=answer.extensions,
            headers=answer.headers,
            trailing=answer.trailing,
            url=url,
        )
    await trio.aclose_forcefully(stream)
    location = _redirect_location(answer)
    if location is not None and may_follow:
        return _redirect_target(url, location, where, options)
    raise _rejected(answer, where, options.max_redirects)


async def _open_stream(
    url: WebSocketURL, options: ConnectOptions, where: str
) -> tuple[trio.abc.Stream, str]:
    """TCP or a proxy tunnel, then TLS for ``wss://``; and ``where`` naming the proxy."""
    if options.open_stream is not None:
        # A stream we are given: whatever it runs over is the opener's business.
        return await options.open_stream(url), where
    proxy = _choose_proxy(url, options, where)
    if proxy is None:
        options.logger.debug("connecting to %s", url.for_log)
        stream: trio.abc.Stream = await open_tcp(url.host, url.port, "", where)
    else:
        options.logger.debug("connecting to %s through proxy %s", url.for_log, proxy)
        stream = await open_tunnel(proxy, url, where, options.proxy_ssl_context)
        where = f"{where} through proxy {proxy}"
    if url.secure:
        try:
            name = options.server_hostname or url.host
            stream = await start_tls(stream, name, options.ssl_context, where)
        except BaseException:
            await trio.aclose_forcefully(stream)
            raise
    return stream, where


def _unwritable(where: str) -> Callable[[Exception], ConnectError]:
    def build(exc: Exception) -> ConnectError:
        return ConnectError(f"cannot write the handshake request for {where}: {exc}")

    return build


def _redirect_location(answer: Rejected) -> str | None:
    """The ``Location`` of a redirect that can be followed, else ``None``."""
    location = answer.header("location")
    return location if location and answer.status in REDIRECT_STATUSES else None


def _choose_proxy(url: WebSocketURL, options: ConnectOptions, where: str) -> ProxyURL | None:
    if options.proxy is None or isinstance(options.proxy, ProxyURL):
        return options.proxy
    try:
        found = proxy_from_environment(url, os.environ)
    except ValueError as exc:
        raise ConnectError(f"cannot connect to {where}: {exc}") from None
    return found[0] if found is not None else None


#: Headers of ``headers=`` sent to the origin of the URL given only (as curl and Fetch do).
CREDENTIAL_HEADERS: Final = frozenset({"authorization", "cookie", "proxy-authorization", "host"})


def _request_headers(
    url: WebSocketURL, options: ConnectOptions, *, keep_credentials: bool
) -> list[tuple[str, str]]:
    """Origin, User-Agent, Authorization, then the user's headers, for one attempt.

    Once a redirect went to another origin, the user's ``Authorization``, ``Cookie``,
    ``Proxy-Authorization`` and ``Host`` headers are not sent (the URL's credentials were
    already dropped by ``WebSocketURL.join``).
    """
    user = list(options.headers)
    if not keep_credentials:
        user = [(name, value) for name, value in user if name.lower() not in CREDENTIAL_HEADERS]
    names = {name.lower() for name, _ in user}
    headers = []
    if options.origin is not None:
        headers.append(("Origin", options.origin))
    agent = options.user_agent
    if agent is DEFAULT:
        agent = None if "user-agent" in names else USER_AGENT
    if isinstance(agent, str):
        headers.append(("User-Agent", agent))
    if url.authorization is not None and "authorization" not in names:
        headers.append(("Authorization", url.authorization))
    return headers + user


async def _read_answer(
    stream: trio.abc.Stream, handshake: ClientHandshake, where: str, *, may_follow: bool
) -> Accepted | Rejected:
    # The descriptor read directly on a plain socket, as the reader does (trio's
    # receive_some goes through four layers per read).
    reads = Reads(stream)
    deadline = math.inf
    while True:
        try:
            answer = handshake.next_answer()
        except HandshakeError as exc:
            raise ConnectError(f"invalid handshake response from {where}: {exc}") from None
        if answer is not None:
            return answer
        if handshake.status is None:
            # The head, bounded by the caller's connect_timeout: no scope of its own here
            # (issue 18: entering and leaving one per read cost about 5 us of each W4
            # handshake).
            data = await receive(reads, "", where)
            if not data:
                raise ConnectError(f"{where} closed the connection during the opening handshake")
            handshake.receive_data(data)
            continue
        head = handshake.rejection()
        if may_follow and _redirect_location(head) is not None:
            return head  # the body of a redirect that is followed is not needed
        if deadline == math.inf:
            deadline = trio.current_time() + REJECT_BODY_GRACE
        with trio.move_on_at(deadline):
            try:
                data = await receive(reads, "", where)
            except ConnectError:
                data = b""  # the body was cut short: report what came
            handshake.receive_data(data)
            continue
        return handshake.rejection()


def _redirect_target(
    url: WebSocketURL, location: str, where: str, options: ConnectOptions
) -> WebSocketURL:
    try:
        target = url.join(location)
    except ValueError as exc:
        raise ConnectError(f"{where} redirected to an unusable URL: {exc}") from None
    if url.secure and not target.secure:
        raise ConnectError(
            f"{where} redirected to {target}: refusing to follow a redirect from wss:// to "
            "ws://, which would drop TLS"
        )
    options.logger.debug("%s redirected to %s", url.for_log, target.for_log)
    return target


def _rejected(answer: Rejected, where: str, max_redirects: int) -> HandshakeRejected:
    message = (
        f"{where} rejected the WebSocket handshake with HTTP {answer.status} {answer.reason}"
    ).rstrip()
    if _redirect_location(answer) is not None:
        message += f"; redirect not followed: max_redirects={max_redirects} reached"
    return HandshakeRejected(
        message, status=answer.status, headers=answer.headers, body=answer.body
    )


def make_protocol(
    opened: Opened,
    compression: Compression | None,
    max_message_size: int | None,
    max_fragment_size: int | None,
    shown_url: str,
) -> tuple[ClientProtocol, str | None]:
    """The frame protocol for ``opened``, with the extension the server accepted.

    Returns:
        The protocol and the negotiated extension (``str`` of its parameters) or ``None``.

    Raises:
        ConnectError: the server's extension answer was not offered or is invalid.
    """
    answer = opened.extensions
    if answer is None:
        protocol = ClientProtocol(
            max_message_size=max_message_size, max_fragment_size=max_fragment_size
        )
        return protocol, None
    try:
        if compression is None:
            raise ValueError(f"the server accepted {answer!r}, which was not offered")
        params = compression.accept(answer)
    except ValueError as exc:
        raise ConnectError(
            f"invalid extension answer from {shown_url}: {exc}", url=shown_url
        ) from None
    protocol = ClientProtocol(
        max_message_size=max_message_size,
        inflater=Inflater(params),
        deflater=compression.deflater(params),
        max_fragment_size=max_fragment_size,
    )
    return protocol, str(params)
