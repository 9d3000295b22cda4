"""The public [`ReconnectingWebSocket`][]: one set of handlers, a fresh WebSocket per attempt.

The task, its state and its queue live in ``_trio.reconnect_loop``; this is the face:
argument checks, properties, and the methods users call.
"""

from __future__ import annotations

import os
import random
import ssl
import threading
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

import trio

from ._calls import as_message, send_when_room, start_in, wrong_thread
from ._errors import InvalidStateError, WebSocketError
from ._events import Frame
from ._handlers import EventSlot
from ._options import Default, check_close_args
from ._sansio.compression import Compression
from ._sansio.reconnect import Backoff, Ending, Policy, RetryPolicy, RetrySchedule
from ._sansio.state import State
from ._trio.hook import HandshakeHook
from ._trio.nursery import enter_own_nursery, leave_own_nursery
from ._trio.reconnect_loop import ReconnectLoop
from ._typing import HeadersLike, LoggerLike
from ._websocket import WebSocket

if TYPE_CHECKING:
    from typing import Self

    # Only for the annotation: HTTP/2 (the h2 package) is imported when a pool is opened.
    from ._h2 import H2Pool
    from ._trio.transports import StreamFactory

__all__ = ["ReconnectingWebSocket", "WebSocketOptions"]


class WebSocketOptions(TypedDict, total=False):
    """The keyword arguments of [`WebSocket`][], so that type checkers see them through
    ``**websocket_options`` (a test keeps the two lists the same)."""

    protocols: Sequence[str]
    headers: HeadersLike | None
    connect_timeout: float | None
    close_timeout: float | None
    max_message_size: int | None
    ssl_context: ssl.SSLContext | None
    origin: str | None
    user_agent: str | Default | None
    proxy: str | Default | None
    max_redirects: int
    compression: str | Compression | Default | None
    max_fragment_size: int | None
    ping_interval: float | None
    ping_timeout: float | None
    max_buffered_amount: int
    busy_poll: float | None
    handshake_hook: HandshakeHook | None
    proxy_ssl_context: ssl.SSLContext | None
    server_hostname: str | None
    logger: LoggerLike | None
    http2: H2Pool | None
    engine: str
    unix_socket: str | os.PathLike[str] | None
    stream_factory: StreamFactory | None


class ReconnectingWebSocket:
    """A WebSocket client that reconnects: handlers registered once serve every connection.

    Each attempt is a fresh, single-use [`WebSocket`][] built with ``url`` and
    ``**websocket_options``. Between attempts it waits as ``backoff`` says, and which endings
    are retried is up to ``policy``. ``on_open`` fires each time a connection opens;
    ``on_message``, ``on_binary`` and ``on_incomplete_frame`` serve every connection;
    ``on_reconnecting`` fires before each wait; ``on_closed`` or ``on_error`` fires once, at the
    very end. Handlers receive this object, not the WebSocket of the attempt
    (``current``). The constructor does no I/O.

    Args:
        url: as for [`WebSocket`][].
        backoff: the waits between attempts; by default ``Backoff()`` (0.5 s doubling to 30 s,
            full jitter, reset after 10 s open).
        policy: decides, for each ending, ``Decision.RETRY`` or ``Decision.STOP``; by
            default ``RetryPolicy``.
        max_attempts: how many new attempts in a row, at most, before giving up; ``None``
            (the default) never gives up on endings the policy retries.
        resend_unsent: send what a dropped connection listed in ``unsent`` first, in order,
            on the next connection; with ``False`` those messages are only reported to
            ``on_reconnecting`` (``why.unsent``).
        rng: the source of jitter, for reproducible waits in tests.
        **websocket_options: every keyword argument of [`WebSocket`][], given to each
            attempt.

    Raises:
        ValueError, TypeError: the URL, an option or an argument is invalid; the message says
            what is allowed.
    """

    on_open: EventSlot[()] = EventSlot()
    """Fires each time a connection opens: ``handler(rws)``."""
    on_message: EventSlot[str] = EventSlot()
    """Fires for each whole text message, on any connection: ``handler(rws, message: str)``."""
    on_binary: EventSlot[bytes] = EventSlot()
    """Fires for each whole binary message, on any connection: ``handler(rws, data: bytes)``."""
    on_incomplete_frame: EventSlot[Frame] = EventSlot()
    """While it has a handler, messages that do not arrive whole come piece by piece:
    ``handler(rws, frame: Frame)``; a message cut by a drop never gets its final piece."""
    on_ping: EventSlot[bytes] = EventSlot()
    """Fires for each ping from the server, on any connection (the pong is automatic):
    ``handler(rws, payload: bytes)``."""
    on_pong: EventSlot[bytes] = EventSlot()
    """Fires for each pong from the server, on any connection: ``handler(rws, payload)``."""
    on_reconnecting: EventSlot[int, float, Ending] = EventSlot()
    """Fires before each wait: ``handler(rws, attempt: int, delay: float, why: Ending)``."""
    on_closed: EventSlot[int, str] = EventSlot()
    """Terminal: the last connection ended with a close handshake:
    ``handler(rws, code: int, reason: str)``."""
    on_error: EventSlot[WebSocketError] = EventSlot()
    """Terminal: every other ending, including giving up: ``handler(rws, error)``."""

    def __init__(
        self,
        url: str,
        *,
        backoff: Backoff | None = None,
        policy: Policy | None = None,
        max_attempts: int | None = None,
        resend_unsent: bool = True,
        rng: random.Random | None = None,
        **websocket_options: Unpack[WebSocketOptions],
    ) -> None:
        if backoff is not None and not isinstance(backoff, Backoff):
            raise TypeError(f"backoff must be a Backoff or None, got {type(backoff).__name__}")
        if policy is not None and not callable(policy):
            raise TypeError(f"policy must be a callable or None, got {type(policy).__name__}")
        if max_attempts is not None and (
            isinstance(max_attempts, bool) or not isinstance(max_attempts, int)
        ):
            raise TypeError(
                f"max_attempts must be an int or None, got {type(max_attempts).__name__}"
            )
        if max_attempts is not None and max_attempts < 0:
            raise ValueError(f"max_attempts must be 0 or more, or None, got {max_attempts}")
        if rng is not None and not isinstance(rng, random.Random):
            raise TypeError(f"rng must be a random.Random or None, got {type(rng).__name__}")
        self._nursery_cm: Any = None  # the nursery of the `async with` form
        self._thread: int | None = None  # the thread that called open(), running Trio
        self._loop = ReconnectLoop(
            self,
            WebSocket(url, **websocket_options),
            url,
            dict(websocket_options),
            RetrySchedule(
                backoff or Backoff(), policy or RetryPolicy(), max_attempts, rng or random.Random()
            ),
            resend_unsent=bool(resend_unsent),
        )

    # ------------------------------------------------------------------ properties

    @property
    def url(self) -> str:
        """The URL, normalised to ``ws://`` or ``wss://``, without credentials."""
        return self._loop.shown_url

    @property
    def state(self) -> State:
        """``INITIAL``; ``CONNECTING`` during an attempt and while waiting between attempts;
        ``OPEN`` while a connection is open; ``CLOSING`` after ``close``; ``CLOSED``."""
        return self._loop.state

    @property
    def is_open(self) -> bool:
        """``True`` exactly while a connection is open and ``close`` was not called."""
        return self._loop.state is State.OPEN

    @property
    def current(self) -> WebSocket | None:
        """The WebSocket of the current attempt; ``None`` while waiting and before
        ``open``. After the end, the last one."""
        return self._loop.current

    @property
    def connections(self) -> int:
        """How many connections have opened so far (``on_open`` count)."""
        return self._loop.connections

    @property
    def buffered_amount(self) -> int:
        """Payload bytes accepted by ``send`` and not yet handed to a socket: those
        waiting for the next connection plus those queued on the current one."""
        return self._loop.buffered_amount()

    @property
    def unsent(self) -> tuple[str | bytes, ...]:
        """Messages given to ``send`` that were never written, in order, once the
        terminal event fires: the last connection's ``unsent``, then those still waiting for
        a connection. Empty until then."""
        return self._loop.unsent

    @property
    def close_code(self) -> int | None:
        """The close code of the end, as [`WebSocket.close_code`][]; ``None`` before."""
        return self._loop.close_code

    @property
    def close_reason(self) -> str | None:
        """The reason that goes with ``close_code``; ``None`` before the end."""
        return self._loop.close_reason

    def __repr__(self) -> str:
        return f"<ReconnectingWebSocket {self._loop.log_url} {self._loop.state.name}>"

    # ------------------------------------------------------------------ public methods

    def open(self, nursery: trio.Nursery) -> None:
        """Start the first attempt in ``nursery`` and return at once.

        Every attempt and every wait runs in one task of ``nursery``. Endings are reported
        through the events; only an exception raised by one of your handlers propagates out
        of the nursery (after ``on_error``).

        Raises:
            InvalidStateError: ``open`` was already called: an instance is used once.
            TypeError: ``nursery`` is not a trio nursery.
            RuntimeError: called outside the Trio thread, or ``nursery`` no longer accepts
                tasks; nothing changed (the instance can still be opened).
        """
        if self._loop.state is not State.INITIAL:
            raise InvalidStateError(
                f"ReconnectingWebSocket {self._loop.shown_url} cannot be reused: open() was "
                f"already called (state {self._loop.state.name}); create a new one",
                url=self._loop.shown_url,
            )
        start_in(nursery, self._loop.start, self._loop.shown_url, "rws")
        self._thread = threading.get_ident()

    def send(self, data: str | bytes | bytearray | memoryview) -> None:
        """Queue one message and return at once: ``str`` as text, bytes-like as binary.

        While a connection is open it goes to that connection; otherwise it waits, in order,
        for the next one. Written is not delivered: a message written just before a drop may
        be lost in flight (see the documentation).

        Raises:
            TypeError: ``data`` is neither ``str`` nor bytes-like.
            ValueError: ``data`` is a ``str`` that UTF-8 cannot encode; nothing was queued.
            InvalidStateError: ``open`` was not called yet, or ``close`` was, or the
                end has come.
            SendBufferFull: it would push ``buffered_amount`` past
                ``max_buffered_amount``; nothing was queued.
        """
        message = as_message(data)
        self._check_thread("send")
        if self._loop.state is State.INITIAL:
            raise InvalidStateError(
                self._refusal("send", "is not open yet (INITIAL); open() first")
            )
        if self._loop.close_request is not None or self._loop.ended():
            raise InvalidStateError(self._refusal("send", f"is {self._loop.state.name}"))
        self._loop.send(message)

    async def drain(self) -> None:
        """Wait until ``buffered_amount`` is at most a quarter of ``max_buffered_amount``.

        Messages waiting for a connection only drain once one opens, so this may wait through
        reconnects. It returns at once (after a checkpoint) when the buffer is already that
        low, and when the end has come: check ``unsent`` then. Cancellation: safe; it
        only waits.
        """
        self._check_thread("drain")
        await trio.lowlevel.checkpoint()
        await self._loop.drain()

    async def send_wait(self, data: str | bytes | bytearray | memoryview) -> None:
        """Queue one message, waiting for room first, then wait for the buffer to drain.

        Cancellation: if cancelled while waiting for room, nothing was queued.

        Raises:
            TypeError, ValueError: as ``send``.
            InvalidStateError: ``open`` was not called, ``close`` was, or the end
                came while waiting.
        """
        message = as_message(data)
        self._check_thread("send_wait")
        await send_when_room(self.send, message, self._loop.room_may_come)
        await self.drain()

    def close(self, code: int = 1000, reason: str = "") -> None:
        """End for good and return at once; calling it again does nothing.

        While a connection is open it is closed with ``code`` and ``reason``; during an attempt
        the attempt is abandoned; during a wait the wait ends at once. Either way no new
        attempt is made and one terminal event fires. Before ``open``, the later
        ``open`` ends at once, without any network I/O.

        Args:
            code: 1000-1003, 1007-1014 or 3000-4999.
            reason: at most 123 bytes once encoded as UTF-8.

        Raises:
            ValueError: the code or the reason is not allowed; nothing changed.
            TypeError: the code is not an ``int`` or the reason not a ``str``.
        """
        check_close_args(code, reason)
        self._check_thread("close")
        self._loop.close(code, reason)

    async def wait_closed(self) -> None:
        """Wait until the terminal event (``on_closed`` or ``on_error``) has run.

        Cancellation: safe; it only waits.

        Raises:
            InvalidStateError: ``open`` was never called, so it would wait forever.
        """
        if self._loop.state is State.INITIAL:
            raise InvalidStateError(self._refusal("wait_closed", "was never opened"))
        self._check_thread("wait_closed")
        await trio.lowlevel.checkpoint()
        await self._loop.done.wait()

    async def __aenter__(self) -> Self:
        """Open in a nursery of its own and wait until a first connection is open.

        It waits through failed attempts as long as the policy retries them.

        Raises:
            WebSocketError: it gave up before any connection opened (after ``on_error``).
            InvalidStateError: the instance was already opened.
        """
        if self._loop.state is not State.INITIAL:
            raise InvalidStateError(self._refusal("enter", "was already opened"))
        await enter_own_nursery(self, self._loop)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        """Close (1000, or 1011 when leaving by an exception), wait for the end, re-raise."""
        await leave_own_nursery(self, self._loop, exc, self.close)
        return False

    def _check_thread(self, what: str) -> None:
        """Refuse, before anything changes, a call from a thread that is not running Trio."""
        if self._thread is not None and threading.get_ident() != self._thread:
            raise RuntimeError(wrong_thread(what, "rws"))

    def _refusal(self, what: str, why: str) -> str:
        return f"cannot {what}: ReconnectingWebSocket {self._loop.shown_url} {why}"
