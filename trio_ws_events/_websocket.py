"""The public [`WebSocket`][]: its handlers, open/send/close, and the tasks behind them.

Its read-only properties come from ``_websocket_readout``, the rest of the send family
(threads, waiting for room, pieces, drain, ping) from ``_websocket_sending``.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Unpack

import trio
import trio_websocket

# Under the names send() has always used: its body stays as it is (the hot path).
from ._calls import as_message as _as_message
from ._calls import get_ident as _get_ident
from ._calls import start_in
from ._calls import unencodable as _unencodable
from ._calls import wrong_thread as _wrong_thread
from ._errors import InvalidStateError, SendBufferFull, WebSocketError
from ._events import Frame
from ._handlers import EventSlot
from ._options import Options, check_close_args, check_engine_close_code
from ._sansio.compression import Compression
from ._sansio.outbox import payload_size as _payload_size
from ._sansio.state import State
from ._trio.connect import DEFAULT, Default
from ._trio.connection import Connection
from ._trio.engine import Engine
from ._trio.hook import HandshakeHook
from ._trio.nursery import enter_own_nursery, leave_own_nursery
from ._trio.tw_adopt import (
    AdoptOptions,
    accept_request,
    adopted_engine,
    adopted_options,
    check_accept_args,
    check_connection,
)
from ._trio.tw_engine import TrioWebsocketEngine, refuse_incomplete_frames
from ._typing import HeadersLike, LoggerLike
from ._websocket_sending import WebSocketSending

if TYPE_CHECKING:
    from typing import Self

    # Only for the annotation: HTTP/2 (the h2 package) is imported when a pool is opened.
    from ._h2 import H2Pool
    from ._trio.transports import StreamFactory

__all__ = ["WebSocket"]


class WebSocket(WebSocketSending):
    """An event-driven WebSocket client connection, used once.

    Register handlers on the ``on_*`` events, then either call [`open`][] with a nursery
    (the connection runs in that nursery and [`open`][] returns at once) or use
    ``async with WebSocket(url) as ws:`` in a script. The constructor does no I/O.

    Args:
        url: ``ws://`` or ``wss://`` URL (``http(s)://`` is accepted as ``ws(s)://``).
            Credentials in it (``user:pass@``) become a Basic ``Authorization`` header and are
            never shown.
        protocols: subprotocols to offer, in order of preference.
        headers: extra request headers, as a mapping or a sequence of ``(name, value)`` pairs
            (repeated names allowed).
        connect_timeout: seconds for TCP, TLS and the HTTP upgrade together; ``None`` waits
            as long as the nursery lets it.
        close_timeout: seconds for the close handshake, counted from [`close`][] (or from
            the server's close frame) and including the flush of queued messages.
        max_message_size: the largest message, in bytes (UTF-8 bytes for text), that is
            reassembled; a larger one ends the connection with 1009. ``None`` means no limit.
        ssl_context: the TLS context for ``wss://``; the default verifies certificates with
            the system's trust store.
        origin: the ``Origin`` header to send, if any.
        user_agent: the ``User-Agent`` header; by default ``trio-ws-events/<version>``,
            ``None`` sends none.
        proxy: ``http://[user:pass@]host:port``, ``https://...`` (TLS to the proxy) or
            ``socks5://...``; by default the standard proxy environment variables are honoured
            as curl does; ``None`` connects directly.
        max_redirects: how many 301/302/303/307/308 answers to the handshake to follow.
        compression: ``"deflate"`` (the default engine's default) offers permessage-deflate
            with default parameters, a [`Compression`][] offers it with yours; ``None``
            offers nothing (the default with ``engine="trio-websocket"``).
        max_fragment_size: when set, outgoing messages longer than this many bytes go out as
            several frames, so that pings and close frames can pass between them.
        ping_interval: seconds between keepalive pings; ``None`` sends none.
        ping_timeout: seconds to wait for any frame after a keepalive ping before ending the
            connection with [`KeepaliveTimeout`][] (1011); ``None`` never gives up.
        max_buffered_amount: the most payload bytes [`send`][] may queue before it raises
            [`SendBufferFull`][].
        busy_poll: after each write, when nothing else in the Trio run is ready, poll the
            socket this many seconds (at most 0.001) for the server's answer before letting
            the run sleep: a fast server's answer then comes without the wake-up latency of
            a sleep, for a little CPU (see "Busy polling" in the design notes). It stops
            polling on its own while the server answers slower than that. The answer to
            the upgrade request is polled for four times as long (a server does more for
            a handshake than for an echo). ``None`` or 0 never polls. Plain TCP and unix
            sockets only (not TLS, HTTP/2 or ``engine="trio-websocket"``, where it does
            nothing).
        handshake_hook: called with a [`HandshakeRequest`][] before each upgrade request
            is sent (the first and one per redirect), to change its headers in place; sync
            or async, within ``connect_timeout``. Its exception ends the attempt with a
            [`ConnectError`][] whose ``__cause__`` it is.
        proxy_ssl_context: the TLS context for an ``https://`` proxy; the default verifies
            the proxy's certificate with the system's trust store.
        server_hostname: for ``wss://``, the name sent as SNI and checked against the
            server's certificate, instead of the URL's host (the ``Host`` header keeps it).
        logger: a `logging.Logger` or `logging.LoggerAdapter` that receives
            this connection's log records instead of the ``trio_ws_events`` logger (an
            adapter can add the connection's context to each record); ``None`` for that one.
        http2: an HTTP/2 pool from ``async with open_h2_pool() as pool`` (its connections
            live in that block's nursery): the WebSocket is opened as a stream of a
            connection the pool shares by origin (RFC 8441), when the origin offers ``h2`` by
            ALPN and extended CONNECT; otherwise by the HTTP/1.1 upgrade on a fresh
            connection. ``ws://`` goes over HTTP/2 only with ``open_h2_pool(h2c=True)``.
            TLS over HTTP/2 uses the pool's ``ssl_context``; this one's serves the HTTP/1.1
            fallback. ``None`` (the default): always HTTP/1.1. Not with ``proxy=`` or
            ``server_hostname=``; see the HTTP/2 page of the docs.
        engine: ``"default"`` runs our own protocol; ``"trio-websocket"`` connects with
            ``trio_websocket.connect_websocket_url`` in the nursery given to [`open`][] and
            runs the same events over it (see the Engines page). Options that engine cannot
            honour raise ``ValueError`` here, naming the engine and the option.
        unix_socket: the path of a unix socket to connect to instead of TCP; the URL still
            gives the ``Host`` header, the path and, for ``wss://``, the TLS server name.
        stream_factory: called with the URL of each attempt (the first, each redirect,
            each reconnection) and returns the ``trio.abc.Stream`` to run over, or an
            awaitable of one, instead of TCP; for ``wss://`` TLS runs over it. Its
            exception ends the attempt with a [`ConnectError`][] whose ``__cause__`` it is.

    Raises:
        ValueError: the URL or an option is invalid; the message says what is allowed.
        TypeError: an option has the wrong type.
    """

    on_open: EventSlot[()] = EventSlot()
    """Fires once, when the handshake has completed: ``handler(ws)``."""
    on_message: EventSlot[str] = EventSlot()
    """Fires for each whole text message: ``handler(ws, message: str)``."""
    on_binary: EventSlot[bytes] = EventSlot()
    """Fires for each whole binary message: ``handler(ws, data: bytes)``."""
    on_incomplete_frame: EventSlot[Frame] = EventSlot()
    """While it has a handler, messages that do not arrive whole come piece by piece:
    ``handler(ws, frame: Frame)``; they then do not fire ``on_message``/``on_binary``."""
    on_ping: EventSlot[bytes] = EventSlot()
    """Fires for each ping from the server, after its pong was queued (pongs stay
    automatic): ``handler(ws, payload: bytes)``."""
    on_pong: EventSlot[bytes] = EventSlot()
    """Fires for each pong from the server, solicited or not: ``handler(ws, payload: bytes)``."""
    on_closed: EventSlot[int, str] = EventSlot()
    """Terminal: a close handshake completed: ``handler(ws, code: int, reason: str)``."""
    on_error: EventSlot[WebSocketError] = EventSlot()
    """Terminal: every other ending: ``handler(ws, error: WebSocketError)``."""

    def __init__(
        self,
        url: str,
        *,
        protocols: Sequence[str] = (),
        headers: HeadersLike | None = None,
        connect_timeout: float | None = 10.0,
        close_timeout: float | None = 10.0,
        max_message_size: int | None = 2**20,
        ssl_context: ssl.SSLContext | None = None,
        origin: str | None = None,
        user_agent: str | Default | None = DEFAULT,
        proxy: str | Default | None = DEFAULT,
        max_redirects: int = 10,
        compression: str | Compression | Default | None = DEFAULT,
        max_fragment_size: int | None = None,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
        max_buffered_amount: int = 16 * 2**20,
        busy_poll: float | None = 50e-6,
        handshake_hook: HandshakeHook | None = None,
        proxy_ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        logger: LoggerLike | None = None,
        http2: H2Pool | None = None,
        engine: str = "default",
        unix_socket: str | os.PathLike[str] | None = None,
        stream_factory: StreamFactory | None = None,
    ) -> None:
        options = Options.remembered(
            url,
            connect_timeout=connect_timeout,
            close_timeout=close_timeout,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            max_message_size=max_message_size,
            max_fragment_size=max_fragment_size,
            max_buffered_amount=max_buffered_amount,
            busy_poll=busy_poll,
            compression=compression,
            logger=logger,
            protocols=protocols,
            headers=headers,
            ssl_context=ssl_context,
            origin=origin,
            user_agent=user_agent,
            proxy=proxy,
            max_redirects=max_redirects,
            handshake_hook=handshake_hook,
            proxy_ssl_context=proxy_ssl_context,
            server_hostname=server_hostname,
            http2=http2,
            engine=engine,
            unix_socket=unix_socket,
            stream_factory=stream_factory,
        )
        engine_ = (
            Connection(self, options)
            if options.engine == "default"
            else TrioWebsocketEngine(self, options)
        )
        self._setup(options, engine_)

    def _setup(self, options: Options, engine: Engine) -> None:
        self._options = options  # read by ReconnectingWebSocket for its own attempts
        self._nursery_cm: Any = None  # the nursery of the `async with` form
        # The engine keeps the state and the tasks; send() reads its attributes directly.
        self._engine: Engine = engine
        self._shown_url = engine.shown_url
        self._stream_lock = None  # one send_stream() at a time, in call order
        if isinstance(engine, TrioWebsocketEngine):
            refuse_incomplete_frames(self)

    @classmethod
    def from_trio_websocket(
        cls,
        connection: trio_websocket.WebSocketConnection,
        *,
        close_timeout: float | None = 10.0,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
        max_buffered_amount: int = 16 * 2**20,
        logger: LoggerLike | None = None,
    ) -> Self:
        """The events over a trio-websocket connection that is already open.

        ``connection`` comes from ``trio_websocket.open_websocket_url`` or
        ``connect_websocket_url`` (client side) or from ``await request.accept()`` in a
        ``trio_websocket.serve_websocket`` handler (server side; there
        [`accept_trio_websocket`][] is better: it sees every frame). [`open`][] then fires
        ``on_open`` at once; from there on the instance behaves as any other (see the
        Engines page for what differs). Use the connection only through the returned
        instance from now on: its messages go to the handlers. Messages trio-websocket
        queued before are delivered; pings, pongs and violations it read before it are not
        seen.

        Args:
            connection: an open ``trio_websocket.WebSocketConnection``, adopted once.
            close_timeout, ping_interval, ping_timeout, max_buffered_amount, logger: as for
                [`WebSocket`][]. The message size limit is the one the connection was made
                with (trio-websocket's ``max_message_size``).

        Raises:
            TypeError: ``connection`` is not a ``trio_websocket.WebSocketConnection``, or
                another instance already adopted it; an option has the wrong type.
            ValueError: an option has an invalid value.
        """
        connection = check_connection(connection)
        options = adopted_options(
            connection,
            close_timeout=close_timeout,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            max_buffered_amount=max_buffered_amount,
            logger=logger,
        )
        ws = cls.__new__(cls)
        ws._setup(options, adopted_engine(ws, connection, options))
        return ws

    @classmethod
    async def accept_trio_websocket(
        cls,
        request: trio_websocket.WebSocketRequest,
        *,
        subprotocol: str | None = None,
        headers: HeadersLike | None = None,
        **options: Unpack[AdoptOptions],
    ) -> Self:
        """Accept a ``trio_websocket.serve_websocket`` request and return its events.

        The server side's way in: ``ws = await WebSocket.accept_trio_websocket(request)``
        in the handler, then ``ws.open(nursery)``. Unlike ``request.accept()`` followed by
        [`from_trio_websocket`][], nothing the client sends after the answer escapes the
        events (a client that pings or breaks the protocol at once).

        Args:
            request: the handler's ``trio_websocket.WebSocketRequest``.
            subprotocol: the subprotocol to answer with; one the client offered, or ``None``.
            headers: extra response headers, as for [`WebSocket`][].
            **options: ``close_timeout``, ``ping_interval``, ``ping_timeout``,
                ``max_buffered_amount``, ``logger``, as for [`from_trio_websocket`][].

        Raises:
            TypeError, ValueError: an argument is invalid; nothing was answered.
            ConnectError: the client went away before the answer was written.

        Cancellation: the request may then have been answered or not; the connection is
        trio-websocket's to close, as after ``request.accept()``.
        """
        encoded = check_accept_args(request, subprotocol, headers)
        ws = cls.from_trio_websocket(check_connection(request._connection), **options)
        await accept_request(request, subprotocol, encoded)
        return ws

    # ------------------------------------------------------------------ properties

    # ------------------------------------------------------------------ public methods

    def open(self, nursery: trio.Nursery) -> None:
        """Start connecting in ``nursery`` and return at once.

        The connection lives in a task of ``nursery``; ``on_open`` fires when it is
        established, and exactly one of ``on_closed`` or ``on_error`` fires at the end. A
        failure to connect is reported through ``on_error`` and does not raise out of the
        nursery; only an exception raised by one of your handlers does (after ``on_error``).

        Every error is raised synchronously, before any task starts or the state changes;
        inside a nursery's body an uncaught one leaves the nursery wrapped in an
        ``ExceptionGroup`` (trio's rule, see the Errors page).

        Raises:
            InvalidStateError: [`open`][] was already called: an instance is used once.
            TypeError: ``nursery`` is not a trio nursery.
            RuntimeError: called outside the Trio thread, or ``nursery`` no longer accepts
                tasks (its ``async with`` body has ended); the instance is still INITIAL
                and may be opened in another nursery.
        """
        engine = self._engine
        if engine.state is not State.INITIAL:
            raise InvalidStateError(
                f"WebSocket {self._shown_url} cannot be reused: open() was already called "
                f"(state {engine.state.name}); create a new WebSocket",
                url=self._shown_url,
            )
        start_in(nursery, engine.start, f"the connection to {self._shown_url}", "ws")

    def send(self, data: str | bytes | bytearray | memoryview) -> None:
        """Queue one message and return at once: ``str`` as text, bytes-like as binary.

        A ``bytearray`` or ``memoryview`` is copied, so the caller may reuse its buffer; a
        ``bytes`` or ``str`` cannot change and is queued as it is, without a copy. Messages
        are written in the order they were sent and before any close frame. If the
        connection ends first, the ones never written are listed in [`unsent`][WebSocket.unsent].

        A subclass of ``str`` (an ``enum.StrEnum`` member) is text and a subclass of a
        bytes-like type is binary; each is queued as a plain ``str`` or ``bytes``.

        Raises:
            TypeError: ``data`` is neither ``str`` nor bytes-like.
            ValueError: ``data`` is a ``str`` that UTF-8 cannot encode (a lone surrogate);
                nothing was queued.
            InvalidStateError: the connection is not OPEN (send after ``on_open``).
            SendBufferFull: queuing it would push
                [`buffered_amount`][WebSocket.buffered_amount] past ``max_buffered_amount``;
                nothing was queued (a message larger than the limit is still accepted when the
                buffer is empty). Wait with [`drain`][WebSocket.drain], or use
                [`send_wait`][WebSocket.send_wait].
            RuntimeError: called from a thread other than the one running Trio; nothing
                was queued. Use [`send_threadsafe`][WebSocket.send_threadsafe] there.
        """
        message = _as_message(data)
        engine = self._engine
        # Inlined _check_thread: this is the hot path, and a call costs more than the test.
        if engine.thread is not None and _get_ident() != engine.thread:
            raise RuntimeError(_wrong_thread("send"))
        if engine.state is not State.OPEN:
            raise InvalidStateError(self._not_open("send"), url=self._shown_url)
        outbox = engine.outbox
        try:
            if outbox.buffered_amount:
                size = _payload_size(message)
                if outbox.buffered_amount + size > engine.max_buffered:
                    raise SendBufferFull(
                        f"send buffer of {self._shown_url} is full: {outbox.buffered_amount} "
                        f"bytes queued, {size} more would pass max_buffered_amount="
                        f"{engine.max_buffered}; await drain() or use send_wait()",
                        url=self._shown_url,
                    )
            outbox.put(message)  # measures the UTF-8 size of text before queuing it
        except UnicodeEncodeError as exc:
            raise _unencodable(exc) from None
        if engine.drained.is_set() and outbox.buffered_amount > engine.low_water:
            engine.drained = trio.Event()
        if not engine.write_now():
            engine.wake.set()

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the close handshake and return at once; calling it again does nothing.

        Messages already queued are written before the close frame. Messages that arrive
        after it are not delivered (as in the browser). Before ``on_open`` (even before
        [`open`][]) it abandons the attempt: ``on_error`` then fires with a
        [`ConnectError`][], without any network I/O if [`open`][] was not yet called.

        Args:
            code: a code an endpoint may send (RFC 6455 7.4): 1000-1003, 1007-1014 or
                3000-4999 (not 1014 with ``engine="trio-websocket"``, whose wsproto does
                not know it).
            reason: at most 123 bytes once encoded as UTF-8.

        Raises:
            ValueError: the code or the reason is not allowed; nothing is sent.
            TypeError: the code is not an ``int`` or the reason not a ``str``.
            RuntimeError: called from a thread other than the one running Trio (use
                ``trio.from_thread.run_sync(ws.close)``); nothing changed.
        """
        check_close_args(code, reason)
        check_engine_close_code(self._options.engine, code)
        self._check_thread("close")
        self._engine.close(code, reason)

    async def __aenter__(self) -> Self:
        """Open in a nursery of its own and wait until OPEN.

        Raises:
            WebSocketError: the attempt failed (after ``on_error`` ran), the same error.
            InvalidStateError: the instance was already opened.
        """
        if self._engine.state is not State.INITIAL:
            raise InvalidStateError(
                f"WebSocket {self._shown_url} cannot be reused: it was already opened",
                url=self._shown_url,
            )
        await enter_own_nursery(self, self._engine, self._engine.entered)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        """Close (1000, or 1011 when leaving by an exception), wait for the end, re-raise.

        Raises:
            RuntimeError: called from a thread other than the one running Trio; nothing changed.
        """
        self._check_thread("__aexit__")
        await leave_own_nursery(self, self._engine, exc, self._close_if_open)
        return False

    # ------------------------------------------------------------------ internals

    def _close_if_open(self, code: int) -> None:
        if self._engine.state is State.OPEN:
            self.close(code)
