"""The pool: WebSockets to one origin share one HTTP/2 connection, all inside a nursery."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager

import trio

from .._errors import ConnectError
from .._sansio.url import parse_url
from ._connection import H2Connection
from ._errors import Http2Unavailable
from ._request import connect_headers
from ._stream import H2WebSocketStream

__all__ = ["H2Pool", "open_h2_pool", "open_transport"]

Origin = tuple[bool, str, int]


async def open_transport(
    host: str, port: int, ssl_context: ssl.SSLContext | None
) -> tuple[trio.abc.Stream, str | None]:
    """Connect TCP, then TLS offering ALPN ``h2`` and ``http/1.1`` when ``ssl_context`` is set.

    Returns:
        The connected stream and the ALPN protocol chosen (``None`` without TLS).

    Raises:
        ConnectError: TCP or TLS failed.
        Http2Unavailable: TLS chose another protocol than ``h2`` (``reason="alpn"``).

    Cancellation: safe; a half-made connection is closed.
    """
    try:
        tcp = await trio.open_tcp_stream(host, port)
    except OSError as exc:
        raise ConnectError(f"could not connect to {host}:{port}: {exc}") from exc
    if ssl_context is None:
        return tcp, None
    tls = trio.SSLStream(tcp, ssl_context, server_hostname=host, https_compatible=True)
    try:
        await tls.do_handshake()
    except trio.BrokenResourceError as exc:
        await trio.aclose_forcefully(tls)
        raise ConnectError(f"TLS with {host}:{port} failed: {exc.__cause__ or exc}") from exc
    except BaseException:
        await trio.aclose_forcefully(tls)
        raise
    alpn = tls.selected_alpn_protocol()
    if alpn != "h2":
        await trio.aclose_forcefully(tls)
        raise Http2Unavailable(
            f"{host}:{port} chose {alpn or 'no protocol'} by ALPN, not h2 (a context given "
            "to the pool must offer it: ssl_context.set_alpn_protocols(['h2', 'http/1.1']))",
            reason="alpn",
            alpn=alpn,
        )
    return tls, alpn


class H2Pool:
    """HTTP/2 connections by origin, each shared by up to the server's
    SETTINGS_MAX_CONCURRENT_STREAMS WebSockets.

    Built by [`open_h2_pool`][], not directly. When every connection to an origin is full,
    the next WebSocket opens another connection, up to ``max_connections_per_origin``; past
    that it waits (bounded by the caller's cancel scope) until a stream ends.
    """

    def __init__(
        self,
        nursery: trio.Nursery,
        *,
        ssl_context: ssl.SSLContext | None,
        h2c: bool,
        max_connections_per_origin: int,
        ping_interval: float | None,
        ping_timeout: float,
        max_streams_per_connection: int | None = None,
    ) -> None:
        self._nursery = nursery
        self._ssl_context = ssl_context
        self._h2c = h2c
        self._max_connections = max_connections_per_origin
        self._max_streams = max_streams_per_connection
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._connections: dict[Origin, list[H2Connection]] = {}
        self._connecting: dict[Origin, trio.Event] = {}
        # Origins found unable to take WebSockets over HTTP/2, for the pool's lifetime: the
        # next WebSocket to them goes straight to HTTP/1.1 instead of paying a handshake.
        self._unavailable: dict[Origin, Http2Unavailable] = {}
        self._changed = trio.Event()
        self._retiring: set[H2Connection] = set()  # retired, idle, being closed
        self._closed = False
        self.connections_opened = 0

    @property
    def h2c(self) -> bool:
        """Whether ``ws://`` URLs are opened as cleartext HTTP/2 with prior knowledge."""
        return self._h2c

    def may_carry(self, url: str) -> bool:
        """Whether a WebSocket to ``url`` may be tried over HTTP/2: ``wss://`` (or ``ws://``
        with ``h2c``) to an origin not yet found without HTTP/2 WebSockets.

        Raises:
            ValueError: ``url`` is not a ``ws://`` or ``wss://`` URL.
        """
        target = parse_url(url)
        key = (target.secure, target.host, target.port)
        return (target.secure or self._h2c) and key not in self._unavailable

    def connections(self, url: str) -> list[H2Connection]:
        """The live HTTP/2 connections to ``url``'s origin.

        Raises:
            ValueError: ``url`` is not a ``ws://`` or ``wss://`` URL.
        """
        target = parse_url(url)
        key = (target.secure, target.host, target.port)
        return [c for c in self._connections.get(key, []) if not c.is_ended]

    async def open_websocket(
        self,
        url: str,
        *,
        subprotocols: Sequence[str] = (),
        extensions: str | None = None,
        origin: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
    ) -> H2WebSocketStream:
        """Open a WebSocket to ``url`` as an extended CONNECT stream on a shared connection.

        Args:
            url: ``wss://`` (TLS, ALPN h2), or ``ws://`` when the pool was opened with ``h2c``.
            subprotocols: offered in ``sec-websocket-protocol``.
            extensions: the ``sec-websocket-extensions`` offer (e.g. permessage-deflate).
            origin: the ``origin`` header.
            headers: more request headers.

        Returns:
            The WebSocket's stream.

        Raises:
            ValueError: a bad URL or header, or ``ws://`` without ``h2c`` (before any I/O).
            trio.ClosedResourceError: the pool is closed.
            Http2Unavailable: fall back to HTTP/1.1 (no h2 by ALPN, or no extended CONNECT);
                the pool remembers the origin and raises it at once from then on.
            HandshakeRejected: the server answered another status than 200.
            ConnectError: the connection or the stream failed while opening.

        Cancellation: safe; a connection being opened is closed, a stream being opened reset.
        """
        target = parse_url(url)
        if not target.secure and not self._h2c:
            raise ValueError("ws:// over HTTP/2 needs h2c prior knowledge: open_h2_pool(h2c=True)")
        subprotocols = list(subprotocols)
        headers = list(headers)
        # Built and checked once, before a connection is opened for a request that cannot be
        # sent; every connection tried then sends these very headers.
        request = connect_headers(
            scheme="https" if target.secure else "http",
            authority=target.authority,
            path=target.resource,
            subprotocols=subprotocols,
            extensions=extensions,
            origin=origin,
            extra_headers=headers,
        )
        key = (target.secure, target.host, target.port)
        while True:
            if self._closed:
                raise trio.ClosedResourceError("the HTTP/2 pool is closed")
            known = self._unavailable.get(key)
            if known is not None:
                raise Http2Unavailable(known.message, reason=known.reason, alpn=known.alpn)
            connection = self._pick(key)
            if connection is not None:
                return await connection.open_websocket(request, subprotocols)
            await self._make_room(key)

    def _pick(self, key: Origin) -> H2Connection | None:
        live = [c for c in self._connections.get(key, []) if not c.is_ended]
        self._connections[key] = live
        return next((c for c in live if c.is_usable), None)

    async def _make_room(self, key: Origin) -> None:
        """Open one more connection to ``key``, or wait for a change when none may open."""
        pending = self._connecting.get(key)
        # A retired connection waits only for its last streams to end: it holds no slot.
        active = [c for c in self._connections.get(key, []) if not c.is_retired]
        full = len(active) >= self._max_connections
        if pending is not None or full:
            changed = self._changed
            await (pending.wait() if pending is not None else changed.wait())
            return
        self._connecting[key] = done = trio.Event()
        try:
            await self._connect(key)
        except Http2Unavailable as exc:
            self._unavailable[key] = exc
            raise
        finally:
            del self._connecting[key]
            done.set()

    async def _connect(self, key: Origin) -> None:
        secure, host, port = key
        context = self._ssl_context if secure else None
        if secure and context is None:
            # Our own context, so ALPN may be set on it: a caller's is never changed (the same
            # context may serve HTTP/1.1 upgrades, where offering h2 would break them).
            context = ssl.create_default_context()
            context.set_alpn_protocols(["h2", "http/1.1"])
        transport, alpn = await open_transport(host, port, context)
        connection = H2Connection(
            transport,
            alpn=alpn,
            ping_interval=self._ping_interval,
            ping_timeout=self._ping_timeout,
            on_change=self._wake,
            max_streams=self._max_streams,
        )
        await self._nursery.start(connection.serve)
        self.connections_opened += 1
        if not connection.extended_connect:
            await connection.aclose()
            raise Http2Unavailable(
                f"{host}:{port} did not send SETTINGS_ENABLE_CONNECT_PROTOCOL=1 (RFC 8441)",
                reason="settings",
                alpn=alpn,
            )
        self._connections.setdefault(key, []).append(connection)

    def _wake(self) -> None:
        changed, self._changed = self._changed, trio.Event()
        changed.set()
        if self._closed:
            return
        self._retiring = {c for c in self._retiring if not c.is_ended}
        for connections in self._connections.values():
            for connection in connections:
                idle = connection.is_retired and not connection.open_streams
                if idle and not connection.is_ended and connection not in self._retiring:
                    # Its last stream ended: close it (GOAWAY) in the pool's nursery.
                    self._retiring.add(connection)
                    self._nursery.start_soon(connection.aclose)

    async def aclose(self) -> None:
        """Close every connection (GOAWAY); their streams break. Idempotent.

        Cancellation: the pool is closed whatever happens.
        """
        self._closed = True
        for connections in list(self._connections.values()):
            for connection in list(connections):
                await connection.aclose()
        self._connections.clear()
        self._wake()
        await trio.lowlevel.checkpoint()


@asynccontextmanager
async def open_h2_pool(
    *,
    ssl_context: ssl.SSLContext | None = None,
    h2c: bool = False,
    max_connections_per_origin: int = 4,
    ping_interval: float | None = 20.0,
    ping_timeout: float = 20.0,
    max_streams_per_connection: int | None = 500,
) -> AsyncIterator[H2Pool]:
    """A pool of HTTP/2 connections whose tasks live in a nursery this block owns.

    Give it to ``WebSocket(url, http2=pool)`` (or ``ReconnectingWebSocket``) inside the block:
    WebSockets to one origin then share its connections, as extended CONNECT streams (RFC
    8441), and fall back to the HTTP/1.1 upgrade where the origin cannot take them.

    Args:
        ssl_context: for ``wss://``; it must offer ALPN ``h2`` itself
            (``set_alpn_protocols(["h2", "http/1.1"])``): the pool never changes a context it
            is given. ``None``: the system's default verification, with that ALPN offer.
        h2c: open ``ws://`` URLs as cleartext HTTP/2 with prior knowledge (RFC 9113 3.3).
        max_connections_per_origin: connections to one origin before callers wait, >= 1.
        ping_interval: seconds between HTTP/2 PINGs checking each connection; ``None``: none.
        ping_timeout: seconds a PING may go unanswered before the connection is dropped.
        max_streams_per_connection: WebSockets one connection carries in its whole life;
            past that the next ones go to a new connection, and the old one is closed once
            its last WebSocket ends. Below the 1,000 requests after which nginx and
            Hypercorn send GOAWAY (which ends every WebSocket on the connection under h2
            4.x), and Hypercorn 0.18 fails a connection after 1,000 WebSocket streams.
            ``None``: no limit.

    Raises:
        ValueError: an argument outside what is allowed.

    Cancellation: leaving the block, by any way, closes every connection and stream.
    """
    if not _is_count(max_connections_per_origin):
        raise ValueError(
            f"max_connections_per_origin must be an int >= 1, got {max_connections_per_origin!r}"
        )
    limit = max_streams_per_connection
    if limit is not None and not _is_count(limit):
        raise ValueError(f"max_streams_per_connection must be an int >= 1 or None, got {limit!r}")
    for name, value in (("ping_interval", ping_interval), ("ping_timeout", ping_timeout)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float) or value <= 0
        ):
            raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
    async with trio.open_nursery() as nursery:
        pool = H2Pool(
            nursery,
            ssl_context=ssl_context,
            h2c=h2c,
            max_connections_per_origin=max_connections_per_origin,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            max_streams_per_connection=max_streams_per_connection,
        )
        try:
            yield pool
        finally:
            with trio.CancelScope(shield=True):
                with trio.move_on_after(2):
                    await pool.aclose()
            nursery.cancel_scope.cancel()


def _is_count(value: object) -> bool:
    # bool is an int to Python, but True is no count of connections or streams.
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1
