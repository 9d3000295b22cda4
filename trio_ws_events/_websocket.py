"""The public :class:`WebSocket`: its handlers, open/send/close, and the tasks behind them."""

from __future__ import annotations

import logging
import math
import ssl
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

import trio
from wsproto.connection import ConnectionState
from wsproto.events import (
    BytesMessage,
    CloseConnection,
    Message,
    Ping,
    Pong,
    TextMessage,
)

from ._connect import DEFAULT, READ_SIZE, ConnectOptions, Default, Opened, open_connection
from ._errors import (
    CloseTimeout,
    ConnectError,
    ConnectionLost,
    ConnectTimeout,
    HandlerError,
    InvalidStateError,
    MessageTooBig,
    ProtocolError,
    WebSocketError,
)
from ._handlers import EventHook, EventSlot
from ._outbox import Outbox
from ._state import State, check_transition
from ._typing import (
    BinaryHandler,
    ClosedHandler,
    ErrorHandler,
    HeadersLike,
    MessageHandler,
    OpenHandler,
)
from ._url import parse_url

if TYPE_CHECKING:
    from typing import Self

__all__ = ["WebSocket"]

logger = logging.getLogger("trio_ws_events")

#: Payload bytes gathered into one ``send_all``: small messages share a system call,
#: large ones are not copied into an ever larger buffer.
COALESCE_BYTES: Final = 64 * 1024
#: After a completed close handshake, how long to wait for the server to close TCP first
#: (RFC 6455 7.1.1 asks the client to let the server close), capped by ``close_timeout``.
EOF_GRACE: Final = 2.0

#: The bound on the shielded cleanup after cancellation when close_timeout is None.
CANCEL_CLEANUP_TIMEOUT: Final = 10.0

_SENDABLE_CODES: Final = frozenset(range(1000, 1004)) | frozenset(range(1007, 1015))
MAX_REASON_BYTES: Final = 123


def _check_close_args(code: object, reason: object) -> bytes:
    if not isinstance(code, int) or isinstance(code, bool):
        raise TypeError(f"close code must be an int, got {type(code).__name__}")
    if code not in _SENDABLE_CODES and not 3000 <= code <= 4999:
        raise ValueError(
            f"close code {code} may not be sent; use 1000-1003, 1007-1014 or 3000-4999"
        )
    if not isinstance(reason, str):
        raise TypeError(f"close reason must be a str, got {type(reason).__name__}")
    encoded = reason.encode("utf-8", "surrogatepass")
    try:
        reason.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("close reason must be valid Unicode without lone surrogates") from None
    if len(encoded) > MAX_REASON_BYTES:
        raise ValueError(
            f"close reason is {len(encoded)} bytes of UTF-8; at most {MAX_REASON_BYTES} are allowed"
        )
    return encoded


def _check_timeout(name: str, value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds or None, got {type(value).__name__}")
    if not value > 0 or math.isnan(value):
        raise ValueError(f"{name} must be a positive number of seconds or None, got {value!r}")
    return float(value)


class WebSocket:
    """An event-driven WebSocket client connection, used once.

    Register handlers on the ``on_*`` events, then either call :meth:`open` with a nursery
    (the connection runs in that nursery and :meth:`open` returns at once) or use
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
        close_timeout: seconds for the close handshake, counted from :meth:`close` (or from
            the server's close frame) and including the flush of queued messages.
        max_message_size: the largest message, in bytes (UTF-8 bytes for text), that is
            reassembled; a larger one ends the connection with 1009. ``None`` means no limit.
        ssl_context: the TLS context for ``wss://``; the default verifies certificates with
            the system's trust store.
        origin: the ``Origin`` header to send, if any.
        user_agent: the ``User-Agent`` header; by default ``trio-ws-events/<version>``,
            ``None`` sends none.
        proxy: ``http://[user:pass@]host:port`` or ``socks5://...``; by default the standard
            proxy environment variables are honoured as curl does; ``None`` connects directly.
        max_redirects: how many 301/302/303/307/308 answers to the handshake to follow.

    Raises:
        ValueError: the URL or an option is invalid; the message says what is allowed.
        TypeError: an option has the wrong type.
    """

    on_open: EventSlot[OpenHandler] = EventSlot()
    """Fires once, when the handshake has completed: ``handler(ws)``."""
    on_message: EventSlot[MessageHandler] = EventSlot()
    """Fires for each text message: ``handler(ws, message: str)``."""
    on_binary: EventSlot[BinaryHandler] = EventSlot()
    """Fires for each binary message: ``handler(ws, data: bytes)``."""
    on_closed: EventSlot[ClosedHandler] = EventSlot()
    """Terminal: a close handshake completed: ``handler(ws, code: int, reason: str)``."""
    on_error: EventSlot[ErrorHandler] = EventSlot()
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
    ) -> None:
        self._url = parse_url(url)
        self._shown_url = str(self._url)
        self._connect_options = ConnectOptions.build(
            protocols=protocols,
            headers=headers,
            ssl_context=ssl_context,
            origin=origin,
            user_agent=user_agent,
            proxy=proxy,
            max_redirects=max_redirects,
        )
        self._connect_timeout = _check_timeout("connect_timeout", connect_timeout)
        self._close_timeout = _check_timeout("close_timeout", close_timeout)
        if max_message_size is not None and (
            isinstance(max_message_size, bool)
            or not isinstance(max_message_size, int)
            or max_message_size <= 0
        ):
            raise ValueError(
                f"max_message_size must be a positive int or None, got {max_message_size!r}"
            )
        self._max_message_size = max_message_size

        self._state = State.INITIAL
        self._outbox = Outbox()
        self._opened: Opened | None = None
        self._close_code: int | None = None
        self._close_reason: str | None = None
        self._unsent: tuple[str | bytes, ...] = ()
        self._ready = trio.Event()  # OPEN reached, or the attempt is over
        self._done = trio.Event()  # the terminal event has run
        self._nursery_cm: Any = None  # the nursery of the `async with` form

        # Connection-phase bookkeeping, see _run().
        self._connect_scope: trio.CancelScope | None = None
        self._abandoned = False
        self._recv_scope = trio.CancelScope()
        self._wake_sender = trio.Event()
        self._pongs: list[bytes] = []
        self._close_request: tuple[int, str] | None = None  # what the next close frame says
        self._close_sent: tuple[int, str] | None = None  # what our close frame said
        self._close_written = trio.Event()
        self._write_broken = False
        self._dispatching = True  # False once a local failure stops delivering events
        self._parser_dead = False  # wsproto's parser stops for good after a violation
        self._peer_close: tuple[int, str] | None = None
        self._error: WebSocketError | None = None  # the ending, when it is an error
        self._reraise: BaseException | None = None  # a handler's exception (rule 10)
        self._fragments: list[str | bytes] = []
        self._fragments_size = 0

    # ------------------------------------------------------------------ properties

    @property
    def url(self) -> str:
        """The URL, normalised to ``ws://`` or ``wss://``, without credentials."""
        return self._shown_url

    @property
    def state(self) -> State:
        """The current :class:`State`."""
        return self._state

    @property
    def is_open(self) -> bool:
        """``True`` exactly while :attr:`state` is ``State.OPEN``."""
        return self._state is State.OPEN

    @property
    def close_code(self) -> int | None:
        """The close code, once the terminal event fires; ``None`` before.

        After ``on_closed``, the code it received. After ``on_error``, the code the client
        sent, or 1006 when no close frame was sent.
        """
        return self._close_code

    @property
    def close_reason(self) -> str | None:
        """The close reason that goes with :attr:`close_code`; ``None`` before the end."""
        return self._close_reason

    @property
    def buffered_amount(self) -> int:
        """Payload bytes (UTF-8 for text) accepted by :meth:`send`, not yet given to the socket."""
        return self._outbox.buffered_amount

    @property
    def unsent(self) -> tuple[str | bytes, ...]:
        """Messages given to :meth:`send` that were never written, in order.

        Filled in when the terminal event fires; empty until then and when all went out.
        """
        return self._unsent

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol the server chose, or ``None``."""
        return self._opened.subprotocol if self._opened is not None else None

    @property
    def response_headers(self) -> list[tuple[str, str]]:
        """The headers of the server's handshake response, once open; empty before."""
        if self._opened is None:
            return []
        return [(n.decode("latin-1"), v.decode("latin-1")) for n, v in self._opened.extra_headers]

    def __repr__(self) -> str:
        return f"<WebSocket {self._shown_url} {self._state.name}>"

    # ------------------------------------------------------------------ public methods

    def open(self, nursery: trio.Nursery) -> None:
        """Start connecting in ``nursery`` and return at once.

        The connection lives in a task of ``nursery``; ``on_open`` fires when it is
        established, and exactly one of ``on_closed`` or ``on_error`` fires at the end. A
        failure to connect is reported through ``on_error`` and does not raise out of the
        nursery; only an exception raised by one of your handlers does (after ``on_error``).

        Raises:
            InvalidStateError: :meth:`open` was already called: an instance is used once.
            TypeError: ``nursery`` is not a trio nursery.
        """
        if self._state is not State.INITIAL:
            raise InvalidStateError(
                f"WebSocket {self._shown_url} cannot be reused: open() was already called "
                f"(state {self._state.name}); create a new WebSocket",
                url=self._shown_url,
            )
        if not isinstance(nursery, trio.Nursery):
            raise TypeError(f"open() takes a trio.Nursery, got {type(nursery).__name__}")
        self._set_state(State.CONNECTING)
        nursery.start_soon(self._run, name=f"trio_ws_events {self._shown_url}")

    def send(self, data: str | bytes | bytearray | memoryview) -> None:
        """Queue one message and return at once: ``str`` as text, bytes-like as binary.

        A bytes-like argument is copied, so the caller may reuse its buffer. Messages are
        written in the order they were sent and before any close frame. If the connection
        ends first, the ones never written are listed in :attr:`unsent`.

        Raises:
            TypeError: ``data`` is neither ``str`` nor bytes-like.
            InvalidStateError: the connection is not OPEN (send after ``on_open``).
        """
        if isinstance(data, str):
            message: str | bytes = data
        elif isinstance(data, bytes):
            message = data
        elif isinstance(data, bytearray | memoryview):
            message = bytes(data)
        else:
            raise TypeError(
                f"send() takes str (text) or bytes, bytearray, memoryview (binary), "
                f"got {type(data).__name__}"
            )
        if self._state is not State.OPEN:
            raise InvalidStateError(self._not_open("send"), url=self._shown_url)
        self._outbox.put(message)
        self._wake_sender.set()

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the close handshake and return at once; calling it again does nothing.

        Messages already queued are written before the close frame. Messages that arrive
        after it are not delivered (as in the browser). Before ``on_open`` (even before
        :meth:`open`) it abandons the attempt: ``on_error`` then fires with a
        :class:`ConnectError`, without any network I/O if :meth:`open` was not yet called.

        Args:
            code: a code an endpoint may send (RFC 6455 7.4): 1000-1003, 1007-1014 or
                3000-4999.
            reason: at most 123 bytes once encoded as UTF-8.

        Raises:
            ValueError: the code or the reason is not allowed; nothing is sent.
            TypeError: the code is not an ``int`` or the reason not a ``str``.
        """
        _check_close_args(code, reason)
        state = self._state
        if state is State.INITIAL or state is State.CONNECTING:
            self._abandoned = True
            if self._connect_scope is not None:
                self._connect_scope.cancel()
        elif state is State.OPEN:
            self._set_state(State.CLOSING)
            # As in the browser, messages that still arrive are not delivered: a handler
            # answering them could only meet InvalidStateError from send().
            self._dispatching = False
            self._request_close(code, reason)

    async def wait_closed(self) -> None:
        """Wait until the terminal event (``on_closed`` or ``on_error``) has run.

        Cancellation: safe; it only waits.

        Raises:
            InvalidStateError: :meth:`open` was never called, so it would wait forever.
        """
        if self._state is State.INITIAL:
            raise InvalidStateError(self._not_open("wait_closed"), url=self._shown_url)
        await trio.lowlevel.checkpoint()
        await self._done.wait()

    async def __aenter__(self) -> Self:
        """Open in a nursery of its own and wait until OPEN.

        Raises:
            WebSocketError: the attempt failed (after ``on_error`` ran), the same error.
            InvalidStateError: the instance was already opened.
        """
        if self._state is not State.INITIAL:
            raise InvalidStateError(
                f"WebSocket {self._shown_url} cannot be reused: it was already opened",
                url=self._shown_url,
            )
        self._nursery_cm = trio.open_nursery()
        nursery = await self._nursery_cm.__aenter__()
        try:
            self.open(nursery)
            await self._ready.wait()
        except BaseException as exc:
            await self._exit_nursery(exc)
            raise
        if not self.is_open:
            # The attempt failed, or on_open already ended the connection.
            await self._done.wait()
            await self._exit_nursery(None)  # raises a handler's exception, if one did
            if self._error is not None:
                raise self._error
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        """Close (1000, or 1011 when leaving by an exception), wait for the end, re-raise."""
        if not isinstance(exc, trio.Cancelled):
            if self._state is State.OPEN:
                self.close(1000 if exc is None else 1011)
            try:
                await self._done.wait()
            except BaseException as inner:
                await self._exit_nursery(inner)
                raise
        await self._exit_nursery(exc)
        return False

    # ------------------------------------------------------------------ internals

    def _set_state(self, new: State) -> None:
        check_transition(self._state, new)
        self._state = new

    def _not_open(self, what: str) -> str:
        if self._state in (State.INITIAL, State.CONNECTING):
            return (
                f"cannot {what}: connection to {self._shown_url} is not open yet "
                f"({self._state.name}); {what} after on_open"
            )
        return f"cannot {what}: connection to {self._shown_url} is {self._state.name}"

    async def _exit_nursery(self, exc: BaseException | None) -> None:
        """Leave the ``async with`` nursery, raising a lone handler exception bare."""
        cm, self._nursery_cm = self._nursery_cm, None
        try:
            if exc is None:
                await cm.__aexit__(None, None, None)
            else:
                await cm.__aexit__(type(exc), exc, exc.__traceback__)
        except BaseExceptionGroup as group:
            leaf = _single_leaf(group)
            if leaf is None:
                raise
            if leaf is exc:
                return  # __aexit__ returns False and Python re-raises exc unwrapped
            raise leaf from leaf.__cause__

    def _request_close(self, code: int, reason: str) -> None:
        """Ask the sender for a close frame after the queue; arm ``close_timeout``."""
        if self._close_sent is None:
            self._close_request = (code, reason)
            self._wake_sender.set()
        if self._close_timeout is not None:
            deadline = trio.current_time() + self._close_timeout
            self._recv_scope.deadline = min(self._recv_scope.deadline, deadline)

    def _fail(self, error: WebSocketError, code: int, reason: str = "") -> None:
        """A local decision to end the connection: stop delivering, close with ``code``."""
        if self._error is None and self._peer_close is None:
            self._error = error
        self._dispatching = False
        self._fragments = []
        if self._state is State.OPEN:
            self._set_state(State.CLOSING)
        self._request_close(code, reason)

    async def _run(self) -> None:
        completed = False
        try:
            opened = await self._connect()
            if opened is not None:
                self._opened = opened
                await self._session(opened)
            completed = True
        finally:
            if completed:
                await self._finish()
            elif not self._done.is_set():
                # Cancelled (or a bug): the end is still reported, each step within
                # close_timeout and shielded from the cancellation that brought us here.
                with self._shielded() as scope:
                    await self._abort()
                if scope.cancelled_caught:
                    self._note_timeout()
                with self._shielded():
                    await self._finish()
        if self._reraise is not None:
            raise self._reraise

    def _shielded(self) -> trio.CancelScope:
        # close_timeout=None cannot mean "forever" here: the nursery is being cancelled.
        budget = CANCEL_CLEANUP_TIMEOUT if self._close_timeout is None else self._close_timeout
        return trio.CancelScope(shield=True, deadline=trio.current_time() + budget)

    async def _connect(self) -> Opened | None:
        logger.debug("connecting to %s", self._shown_url)
        try:
            with trio.CancelScope() as self._connect_scope:
                if self._connect_timeout is not None:
                    self._connect_scope.deadline = trio.current_time() + self._connect_timeout
                if self._abandoned:  # close() came before this task started
                    self._connect_scope.cancel()
                return await open_connection(self._url, self._connect_options)
        except WebSocketError as exc:
            self._error = exc
            return None
        finally:
            self._connect_scope = None
        # The scope swallowed its own cancellation: close() or connect_timeout.
        if self._abandoned:
            self._error = ConnectError(
                f"connection attempt to {self._shown_url} abandoned: close() was called "
                "before the connection opened",
                url=self._shown_url,
            )
        else:
            self._error = ConnectTimeout(
                f"connecting to {self._shown_url} timed out after {self._connect_timeout}s",
                url=self._shown_url,
            )
        return None

    async def _session(self, opened: Opened) -> None:
        self._set_state(State.OPEN)
        logger.info("connected to %s", self._shown_url)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._send_loop, opened.stream, opened.protocol)
            with self._recv_scope:
                await self._dispatch(self.on_open, ())
                self._ready.set()
                await self._receive_loop(opened)
            if self._recv_scope.cancelled_caught:
                self._note_timeout()
            nursery.cancel_scope.cancel()

    def _note_timeout(self) -> None:
        if self._error is not None or self._peer_close is not None:
            return  # the handshake completed; only the wait for the server's EOF ran out
        sent = f" after sending close {self._close_sent[0]}" if self._close_sent else ""
        self._error = CloseTimeout(
            f"close handshake with {self._shown_url} timed out{sent} "
            f"(close_timeout={self._close_timeout}s)",
            url=self._shown_url,
        )

    async def _dispatch(self, hook: EventHook[Any], args: tuple[Any, ...]) -> None:
        """Run ``hook``'s handlers in order; a raising handler fails the connection (1011)."""
        if not self._dispatching:
            return
        for handler in hook._handlers:
            try:
                result = handler(self, *args)
                if result is not None and hasattr(result, "__await__"):
                    await result
            except Exception as exc:
                self._handler_failed(hook, handler, exc)
                return

    def _handler_failed(self, hook: EventHook[Any], handler: object, exc: Exception) -> None:
        name = getattr(handler, "__qualname__", repr(handler))
        error = HandlerError(
            f"{hook.name} handler {name} raised {type(exc).__name__}: {exc} "
            f"(connection to {self._shown_url} closed with 1011)",
            url=self._shown_url,
        )
        error.__cause__ = exc
        if self._reraise is None:
            self._reraise = exc
        if self._error is None:
            self._error = error
        self._fail(error, 1011)

    async def _receive_loop(self, opened: Opened) -> None:
        stream, protocol = opened.stream, opened.protocol
        # Frames that came in the same read as the handshake answer.
        await self._process(protocol)
        while True:
            try:
                data = await stream.receive_some(READ_SIZE)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                self._lost(f"the connection broke: {exc.__cause__ or exc}")
                return
            if not data:
                self._lost("the server closed the TCP connection without a close frame")
                return
            if self._parser_dead or self._peer_close is not None:
                continue  # waiting for EOF: whatever comes now is not ours to read
            protocol.receive_data(bytes(data))
            await self._process(protocol)

    def _lost(self, what: str) -> None:
        # After the server's close frame, the end of TCP is the expected last step.
        if self._error is None and self._peer_close is None:
            self._error = ConnectionLost(f"{what} ({self._shown_url})", url=self._shown_url)

    async def _process(self, protocol: Any) -> None:
        for event in protocol.events():
            kind = type(event)
            if kind is TextMessage or kind is BytesMessage:
                await self._on_data(event)
            elif kind is Ping:
                if protocol.state is ConnectionState.OPEN:
                    self._pongs.append(event.payload)
                    self._wake_sender.set()
            elif kind is CloseConnection:
                self._on_close_frame(protocol.state, event)
                return

    async def _on_data(self, event: Message[Any]) -> None:
        if not self._dispatching:
            return
        data = event.data
        limit = self._max_message_size
        if not self._fragments and event.message_finished:
            if limit is not None and _size(data) > limit:
                self._too_big(_size(data))
                return
            if type(data) is str:
                await self._dispatch(self.on_message, (data,))
            else:
                await self._dispatch(self.on_binary, (bytes(data),))
            return
        self._fragments.append(data)
        self._fragments_size += _size(data)
        if limit is not None and self._fragments_size > limit:
            self._too_big(self._fragments_size)
            return
        if event.message_finished:
            pieces, self._fragments, self._fragments_size = self._fragments, [], 0
            if type(data) is str:
                await self._dispatch(self.on_message, ("".join(pieces),))  # type: ignore[arg-type]
            else:
                await self._dispatch(self.on_binary, (b"".join(pieces),))  # type: ignore[arg-type]

    def _too_big(self, size: int) -> None:
        error = MessageTooBig(
            f"message from {self._shown_url} exceeds max_message_size "
            f"({size} > {self._max_message_size} bytes); closed with 1009",
            url=self._shown_url,
        )
        self._fail(error, 1009, "message too big")

    def _on_close_frame(self, state: ConnectionState, event: CloseConnection) -> None:
        code, reason = int(event.code), event.reason or ""
        if state is ConnectionState.REMOTE_CLOSING or state is ConnectionState.CLOSED:
            self._peer_close = (code, reason)
            if self._state is State.OPEN:
                self._set_state(State.CLOSING)
            logger.debug("close frame from %s: %d %r", self._shown_url, code, reason)
            if state is ConnectionState.REMOTE_CLOSING:
                # Echo the server's code (RFC 6455 5.5.1); 1005 means its frame had none.
                self._request_close(code, reason)
            else:
                self._await_eof()
            return
        # wsproto reports its own parse failure as a close "event" while its state stays
        # OPEN or LOCAL_CLOSING: it is our verdict on the peer, and we must say it on the wire.
        self._parser_dead = True
        error = ProtocolError(
            f"protocol error from {self._shown_url}: {reason} (closed with {code})",
            url=self._shown_url,
        )
        self._fail(error, code, _truncate_reason(reason))

    def _await_eof(self) -> None:
        grace = EOF_GRACE if self._close_timeout is None else min(EOF_GRACE, self._close_timeout)
        deadline = trio.current_time() + grace
        self._recv_scope.deadline = min(self._recv_scope.deadline, deadline)

    async def _send_loop(self, stream: trio.abc.Stream, protocol: Any) -> None:
        outbox = self._outbox
        while True:
            await self._wake_sender.wait()
            self._wake_sender = trio.Event()
            # A cancellation already pending must land here, before a batch is taken: once
            # send_all has started, a cancelled write leaves frame boundaries unknown.
            await trio.lowlevel.checkpoint_if_cancelled()
            while True:
                chunks = self._frame_batch(protocol)
                if not chunks:
                    break
                try:
                    await stream.send_all(b"".join(chunks) if len(chunks) > 1 else chunks[0])
                except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                    self._write_broken = True
                    self._lost(f"writing failed: {exc.__cause__ or exc}")
                    self._recv_scope.cancel()
                    return
                except BaseException:
                    # Cancelled mid-write: frame boundaries on the wire are now unknown.
                    self._write_broken = True
                    raise
                outbox.written()
                if self._close_sent is not None:
                    self._close_written.set()
                    if self._peer_close is not None or self._parser_dead:
                        self._await_eof()
                    return

    def _frame_batch(self, protocol: Any) -> list[bytes]:
        """Frame what is due: pongs, then queued messages, then the close frame."""
        chunks: list[bytes] = []
        state = protocol.state
        outbox = self._outbox
        if state is ConnectionState.OPEN:
            for payload in self._pongs:
                chunks.append(protocol.send(Pong(payload=payload)))
            if outbox:
                for message in outbox.take(COALESCE_BYTES):
                    if type(message) is str:
                        chunks.append(protocol.send(TextMessage(data=message)))
                    else:
                        chunks.append(protocol.send(BytesMessage(data=message)))  # type: ignore[arg-type]
        self._pongs = []
        # Our own close waits for the queue. Answering the server's close does not: RFC 6455
        # 5.5.1 allows finishing one message at most, so what is queued stays in `unsent`.
        if (
            self._close_request is not None
            and self._close_sent is None
            and (state is ConnectionState.REMOTE_CLOSING or not outbox)
            and state in (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING)
        ):
            code, reason = self._close_request
            # 1005 is never sent: an empty close frame says it (RFC 6455 7.4.1).
            frame_code = None if code == 1005 else code
            # wsproto's annotation says int, but None is how it writes an empty close frame.
            close = CloseConnection(code=frame_code, reason=reason)  # type: ignore[arg-type]
            chunks.append(protocol.send(close))
            self._close_sent = (code, reason)
        return chunks

    async def _abort(self) -> None:
        """Cleanup after cancellation: flush, send 1001, read the reply, close the socket."""
        opened = self._opened
        if opened is None:
            return
        stream, protocol = opened.stream, opened.protocol
        try:
            if self._error is None and self._peer_close is None and not self._write_broken:
                if self._close_request is None:
                    self._close_request = (1001, "")
                while not self._close_written.is_set():
                    chunks = self._frame_batch(protocol)
                    if not chunks:
                        break
                    await stream.send_all(b"".join(chunks))
                    self._outbox.written()
                    if self._close_sent is not None:
                        self._close_written.set()
                if self._close_written.is_set():
                    await self._read_close_reply(stream, protocol)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            await trio.aclose_forcefully(stream)

    async def _read_close_reply(self, stream: trio.abc.Stream, protocol: Any) -> None:
        self._dispatching = False
        while self._peer_close is None and not self._parser_dead:
            data = await stream.receive_some(READ_SIZE)
            if not data:
                return
            protocol.receive_data(bytes(data))
            await self._process(protocol)

    async def _finish(self) -> None:
        """Close the socket, settle the state and the accounting, fire the terminal event."""
        if self._opened is not None:
            await trio.aclose_forcefully(self._opened.stream)
        error = self._error
        if error is None and self._peer_close is None:
            # Cancelled, or the handshake did not complete: an ending with no close handshake.
            if self._state is State.CONNECTING or self._opened is None:
                error = ConnectError(
                    f"connection attempt to {self._shown_url} was cancelled",
                    url=self._shown_url,
                )
            else:
                error = ConnectionLost(
                    f"connection to {self._shown_url} was cancelled before the close "
                    "handshake completed",
                    url=self._shown_url,
                )
        self._set_state(State.CLOSED)
        self._unsent = self._outbox.unsent()
        self._ready.set()
        if error is None:
            assert self._peer_close is not None
            self._close_code, self._close_reason = self._peer_close
            logger.info("closed %s: %d %r", self._shown_url, *self._peer_close)
            await self._run_terminal(self.on_closed, self._peer_close)
        else:
            self._error = error
            sent = self._close_sent if self._close_written.is_set() else None
            self._close_code, self._close_reason = sent if sent is not None else (1006, "")
            error.code = self._close_code
            error.unsent = self._unsent
            if self.on_error:
                logger.info("connection to %s ended: %s", self._shown_url, error)
            else:
                logger.warning("connection to %s ended: %s", self._shown_url, error)
            await self._run_terminal(self.on_error, (error,))

    async def _run_terminal(self, hook: EventHook[Any], args: tuple[Any, ...]) -> None:
        try:
            for handler in hook._handlers:
                result = handler(self, *args)
                if result is not None and hasattr(result, "__await__"):
                    await result
        finally:
            self._done.set()


def _truncate_reason(reason: str) -> str:
    encoded = reason.encode("utf-8")[:MAX_REASON_BYTES]
    return encoded.decode("utf-8", "ignore")


def _size(data: str | bytes) -> int:
    if type(data) is str:
        return len(data) if data.isascii() else len(data.encode("utf-8"))
    return len(data)


def _single_leaf(group: BaseExceptionGroup[Any]) -> BaseException | None:
    """The only exception inside ``group`` (through nesting), unless it is a Cancelled."""
    leaves: list[BaseException] = []

    def walk(exc: BaseException) -> None:
        if isinstance(exc, BaseExceptionGroup):
            for inner in exc.exceptions:
                walk(inner)
        else:
            leaves.append(exc)

    walk(group)
    if len(leaves) != 1 or isinstance(leaves[0], trio.Cancelled):
        return None
    return leaves[0]
