"""Opening a connection: TCP, TLS for ``wss://``, and the HTTP upgrade, driven through wsproto.

Every failure leaves here as a :class:`~trio_ws_events.ConnectError` (or its subclass
:class:`~trio_ws_events.HandshakeRejected`); no trio, ssl or wsproto exception escapes.
"""

from __future__ import annotations

import dataclasses
import enum
import ssl
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, RejectConnection, RejectData, Request
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from ._errors import ConnectError, HandshakeRejected
from ._typing import HeadersLike
from ._url import WebSocketURL
from ._wsproto_compat import install_close_check

__all__ = ["DEFAULT", "ConnectOptions", "Default", "Opened", "open_connection"]

#: How much of a rejection's body the error keeps.
MAX_REJECT_BODY = 64 * 1024
#: Bytes asked of the socket per read. Large reads let one checkpoint carry many frames.
READ_SIZE = 256 * 1024


class Default(enum.Enum):
    """The type of :data:`DEFAULT`: "use the documented default", distinct from ``None``."""

    DEFAULT = "DEFAULT"

    def __repr__(self) -> str:
        return "DEFAULT"


#: For options where ``None`` has a meaning of its own (``proxy=None``: no proxy at all).
DEFAULT: Final = Default.DEFAULT


@dataclasses.dataclass(frozen=True, slots=True)
class ConnectOptions:
    """Everything about how to open a connection, checked once at construction."""

    protocols: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    ssl_context: ssl.SSLContext | None = None
    origin: str | None = None
    user_agent: str | Default | None = DEFAULT
    proxy: str | Default | None = DEFAULT
    max_redirects: int = 10

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
    ) -> ConnectOptions:
        """Check the user's options and freeze them.

        Raises:
            TypeError: an option has the wrong type.
            ValueError: an option has an invalid value; the message says what is allowed.
        """
        if ssl_context is not None and not isinstance(ssl_context, ssl.SSLContext):
            raise TypeError("ssl_context must be an ssl.SSLContext or None")
        return cls(
            protocols=tuple(_check_protocols(protocols)),
            headers=tuple(_check_headers(headers)),
            ssl_context=ssl_context,
            origin=origin,
            user_agent=user_agent,
            proxy=proxy,
            max_redirects=max_redirects,
        )


def _check_headers(headers: HeadersLike | None) -> list[tuple[str, str]]:
    if headers is None:
        return []
    pairs: Iterable[Any] = headers.items() if isinstance(headers, Mapping) else headers
    checked = []
    for pair in pairs:
        if not (isinstance(pair, tuple | list) and len(pair) == 2):
            raise TypeError(f"headers must be a mapping or (name, value) pairs, got {pair!r}")
        name, value = pair
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError(f"header names and values must be str, got {pair!r}")
        if not name or any(c in name for c in "\r\n:\0 \t"):
            raise ValueError(f"invalid header name {name!r}")
        if any(c in value for c in "\r\n\0"):
            raise ValueError(f"header {name!r} has a line break or NUL in its value")
        checked.append((name, value))
    return checked


def _check_protocols(protocols: Sequence[str]) -> list[str]:
    if isinstance(protocols, str) or not isinstance(protocols, Iterable):
        raise TypeError("protocols must be a sequence of str such as ['chat'], not a str")
    checked = list(protocols)
    for proto in checked:
        if not isinstance(proto, str) or not proto or any(c in proto for c in " ,\t\r\n;\"'"):
            raise ValueError(f"invalid subprotocol {proto!r}: it must be a non-empty token")
    return checked


class Opened:
    """What a successful handshake hands to the connection: the stream and protocol state."""

    __slots__ = ("extra_headers", "protocol", "stream", "subprotocol")

    def __init__(
        self,
        stream: trio.abc.Stream,
        protocol: WSConnection,
        subprotocol: str | None,
        extra_headers: list[tuple[bytes, bytes]],
    ) -> None:
        self.stream = stream
        self.protocol = protocol
        self.subprotocol = subprotocol
        self.extra_headers = extra_headers


def _default_ssl_context() -> ssl.SSLContext:
    return ssl.create_default_context()


async def open_connection(url: WebSocketURL, options: ConnectOptions) -> Opened:
    """Connect to ``url`` and complete the opening handshake.

    Cancellation: safe; a half-open socket is closed before ``Cancelled`` propagates.

    Raises:
        ConnectError: TCP or TLS failed, the server closed during the handshake, or its answer
            is not a valid WebSocket upgrade.
        HandshakeRejected: the server answered with a status other than 101.
    """
    shown = str(url)
    try:
        stream: trio.abc.Stream = await trio.open_tcp_stream(url.host, url.port)
    except OSError as exc:
        raise ConnectError(f"cannot connect to {shown}: {_describe(exc)}", url=shown) from exc
    try:
        if url.secure:
            stream = await _start_tls(stream, url, options.ssl_context)
        protocol = WSConnection(ConnectionType.CLIENT)
        extra = [
            (name.encode("latin-1"), value.encode("latin-1")) for name, value in options.headers
        ]
        if url.authorization is not None:
            extra.append((b"Authorization", url.authorization.encode("ascii")))
        request = Request(
            host=url.host_header,
            target=url.resource,
            subprotocols=list(options.protocols),
            extra_headers=extra,
        )
        await stream.send_all(protocol.send(request))
        return await _read_answer(stream, protocol, shown)
    except BaseException:
        # Cancelled included: nothing may leave a socket behind.
        await trio.aclose_forcefully(stream)
        raise


async def _start_tls(
    stream: trio.abc.Stream, url: WebSocketURL, context: ssl.SSLContext | None
) -> trio.SSLStream[trio.abc.Stream]:
    tls = trio.SSLStream(
        stream,
        context or _default_ssl_context(),
        server_hostname=url.host,
        https_compatible=True,
    )
    try:
        await tls.do_handshake()
    except trio.BrokenResourceError as exc:
        cause = exc.__cause__ or exc
        raise ConnectError(
            f"TLS handshake with {url.host} failed for {url}: {_describe(cause)}", url=str(url)
        ) from cause
    return tls


async def _read_answer(stream: trio.abc.Stream, protocol: WSConnection, shown: str) -> Opened:
    rejection: RejectConnection | None = None
    body = bytearray()
    while True:
        try:
            data = await stream.receive_some(READ_SIZE)
        except trio.BrokenResourceError as exc:
            raise ConnectError(
                f"connection to {shown} broke during the handshake: {_describe(exc)}", url=shown
            ) from exc
        try:
            protocol.receive_data(bytes(data) or None)
            for event in protocol.events():
                if isinstance(event, AcceptConnection):
                    install_close_check(protocol)
                    return Opened(stream, protocol, event.subprotocol, list(event.extra_headers))
                if isinstance(event, RejectConnection):
                    rejection = event
                    if not event.has_body:
                        raise _rejected(shown, rejection, bytes(body))
                elif isinstance(event, RejectData):
                    body += event.data[: MAX_REJECT_BODY - len(body)]
                    if event.body_finished or len(body) >= MAX_REJECT_BODY:
                        assert rejection is not None
                        raise _rejected(shown, rejection, bytes(body))
        except (RemoteProtocolError, LocalProtocolError) as exc:
            raise ConnectError(
                f"invalid handshake response from {shown}: {exc}", url=shown
            ) from exc
        if not data:
            if rejection is not None:
                raise _rejected(shown, rejection, bytes(body))
            raise ConnectError(
                f"{shown} closed the connection during the opening handshake", url=shown
            )


def _rejected(shown: str, event: RejectConnection, body: bytes) -> HandshakeRejected:
    headers = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in event.headers]
    return HandshakeRejected(
        f"{shown} rejected the WebSocket handshake with HTTP {event.status_code}",
        status=event.status_code,
        headers=headers,
        body=body,
        url=shown,
    )


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    # open_tcp_stream tries every address and chains the failures as a group.
    cause = exc.__cause__
    if isinstance(cause, BaseExceptionGroup) and cause.exceptions:
        reasons = sorted({_describe(inner) for inner in cause.exceptions})
        return f"{exc} ({'; '.join(reasons)})"
    text = str(exc)
    return text if text else type(exc).__name__
