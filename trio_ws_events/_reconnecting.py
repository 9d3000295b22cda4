"""The public :class:`ReconnectingWebSocket`: one set of handlers, a fresh WebSocket per attempt.

One task (``_run``, in the user's nursery) makes the attempts one after the other, each a new
single-use :class:`~trio_ws_events.WebSocket` in a nursery of that task, and waits between
them. The decisions (retry or stop, how long to wait) come from the sans-I/O
:mod:`trio_ws_events._reconnect`; this module only wires events and moves messages.
"""

from __future__ import annotations

import inspect
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

import trio

from ._connection import CANCEL_CLEANUP_TIMEOUT
from ._errors import ConnectError, HandlerError, InvalidStateError, SendBufferFull, WebSocketError
from ._handlers import EventHook, EventSlot, run_handlers
from ._outbox import payload_size
from ._reconnect import Backoff, Ending, Policy, RetryPolicy, RetrySchedule
from ._state import State
from ._typing import (
    BinaryHandler,
    ClosedHandler,
    ErrorHandler,
    FrameHandler,
    MessageHandler,
    OpenHandler,
    ReconnectingHandler,
)
from ._websocket import WebSocket, _as_message, _check_close_args, _single_leaf

if TYPE_CHECKING:
    from typing import Self

__all__ = ["ReconnectingWebSocket"]

logger = logging.getLogger("trio_ws_events")


class _LinkedHook(EventHook[FrameHandler]):
    """The ``on_incomplete_frame`` of one attempt: truthy while the reconnecting client's is.

    A WebSocket streams messages piece by piece only while its hook has handlers; linking the
    truth value lets a handler registered on the reconnecting client mid-connection count at
    once, as it does on a WebSocket.
    """

    def __init__(self, source: EventHook[FrameHandler], forward: FrameHandler) -> None:
        super().__init__(source.name)
        self._source = source
        self._handlers = [forward]

    def __bool__(self) -> bool:
        return bool(self._source)


class ReconnectingWebSocket:
    """A WebSocket client that reconnects: handlers registered once serve every connection.

    Each attempt is a fresh, single-use :class:`WebSocket` built with ``url`` and
    ``**websocket_options``. Between attempts it waits as ``backoff`` says, and which endings
    are retried is up to ``policy``. ``on_open`` fires each time a connection opens;
    ``on_message``, ``on_binary`` and ``on_incomplete_frame`` serve every connection;
    ``on_reconnecting`` fires before each wait; ``on_closed`` or ``on_error`` fires once, at the
    very end. Handlers receive this object, not the WebSocket of the attempt
    (:attr:`current`). The constructor does no I/O.

    Args:
        url: as for :class:`WebSocket`.
        backoff: the waits between attempts; by default ``Backoff()`` (0.5 s doubling to 30 s,
            full jitter, reset after 10 s open).
        policy: decides, for each ending, :attr:`Decision.RETRY` or :attr:`Decision.STOP`; by
            default :class:`RetryPolicy()`.
        max_attempts: how many new attempts in a row, at most, before giving up; ``None``
            (the default) never gives up on endings the policy retries.
        resend_unsent: send what a dropped connection listed in ``unsent`` first, in order,
            on the next connection; with ``False`` those messages are only reported to
            ``on_reconnecting`` (``why.unsent``).
        rng: the source of jitter, for reproducible waits in tests.
        **websocket_options: every keyword argument of :class:`WebSocket`, given to each
            attempt.

    Raises:
        ValueError, TypeError: the URL, an option or an argument is invalid; the message says
            what is allowed.
    """

    on_open: EventSlot[OpenHandler] = EventSlot()
    """Fires each time a connection opens: ``handler(rws)``."""
    on_message: EventSlot[MessageHandler] = EventSlot()
    """Fires for each whole text message, on any connection: ``handler(rws, message: str)``."""
    on_binary: EventSlot[BinaryHandler] = EventSlot()
    """Fires for each whole binary message, on any connection: ``handler(rws, data: bytes)``."""
    on_incomplete_frame: EventSlot[FrameHandler] = EventSlot()
    """While it has a handler, messages that do not arrive whole come piece by piece:
    ``handler(rws, frame: Frame)``; a message cut by a drop never gets its final piece."""
    on_reconnecting: EventSlot[ReconnectingHandler] = EventSlot()
    """Fires before each wait: ``handler(rws, attempt: int, delay: float, why: Ending)``."""
    on_closed: EventSlot[ClosedHandler] = EventSlot()
    """Terminal: the last connection ended with a close handshake:
    ``handler(rws, code: int, reason: str)``."""
    on_error: EventSlot[ErrorHandler] = EventSlot()
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
        **websocket_options: Any,
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
        # The first attempt, built now so that the URL and every option are checked at once.
        self._next: WebSocket | None = WebSocket(url, **websocket_options)
        self._raw_url = url
        self._options = dict(websocket_options)
        self._shown_url = self._next.url
        self._max_buffered = self._next._max_buffered
        self._close_timeout = self._next._close_timeout
        self._resend = bool(resend_unsent)
        self._schedule = RetrySchedule(
            backoff or Backoff(), policy or RetryPolicy(), max_attempts, rng or random.Random()
        )
        self._state = State.INITIAL
        self._current: WebSocket | None = None
        self._queue: deque[str | bytes] = deque()
        self._queued_bytes = 0
        self._close_request: tuple[int, str] | None = None
        self._waiting: trio.CancelScope | None = None
        self._ending: Ending | None = None  # of the attempt that just ended, not yet handled
        self._final: Ending | None = None
        self._error: WebSocketError | None = None
        self._reraise: BaseException | None = None
        self._unsent: tuple[str | bytes, ...] = ()
        self._close_code: int | None = None
        self._close_reason: str | None = None
        self._connections = 0
        self._abandoned = False  # close() came before open()
        self._ready = trio.Event()
        self._done = trio.Event()
        self._changed = trio.Event()  # a connection opened or closed, or the end came
        self._nursery_cm: Any = None

    # ------------------------------------------------------------------ properties

    @property
    def url(self) -> str:
        """The URL, normalised to ``ws://`` or ``wss://``, without credentials."""
        return self._shown_url

    @property
    def state(self) -> State:
        """``INITIAL``; ``CONNECTING`` during an attempt and while waiting between attempts;
        ``OPEN`` while a connection is open; ``CLOSING`` after :meth:`close`; ``CLOSED``."""
        return self._state

    @property
    def is_open(self) -> bool:
        """``True`` exactly while a connection is open and :meth:`close` was not called."""
        return self._state is State.OPEN

    @property
    def current(self) -> WebSocket | None:
        """The WebSocket of the current attempt; ``None`` while waiting and before
        :meth:`open`. After the end, the last one."""
        return self._current

    @property
    def connections(self) -> int:
        """How many connections have opened so far (``on_open`` count)."""
        return self._connections

    @property
    def buffered_amount(self) -> int:
        """Payload bytes accepted by :meth:`send` and not yet handed to a socket: those
        waiting for the next connection plus those queued on the current one."""
        current = self._current
        ongoing = current.buffered_amount if current is not None and not self._ended() else 0
        return self._queued_bytes + ongoing

    @property
    def unsent(self) -> tuple[str | bytes, ...]:
        """Messages given to :meth:`send` that were never written, in order, once the
        terminal event fires: the last connection's ``unsent``, then those still waiting for
        a connection. Empty until then."""
        return self._unsent

    @property
    def close_code(self) -> int | None:
        """The close code of the end, as :attr:`WebSocket.close_code`; ``None`` before."""
        return self._close_code

    @property
    def close_reason(self) -> str | None:
        """The reason that goes with :attr:`close_code`; ``None`` before the end."""
        return self._close_reason

    def __repr__(self) -> str:
        return f"<ReconnectingWebSocket {self._shown_url} {self._state.name}>"

    # ------------------------------------------------------------------ public methods

    def open(self, nursery: trio.Nursery) -> None:
        """Start the first attempt in ``nursery`` and return at once.

        Every attempt and every wait runs in one task of ``nursery``. Endings are reported
        through the events; only an exception raised by one of your handlers propagates out
        of the nursery (after ``on_error``).

        Raises:
            InvalidStateError: :meth:`open` was already called: an instance is used once.
            TypeError: ``nursery`` is not a trio nursery.
        """
        if self._state is not State.INITIAL:
            raise InvalidStateError(
                f"ReconnectingWebSocket {self._shown_url} cannot be reused: open() was already "
                f"called (state {self._state.name}); create a new one",
                url=self._shown_url,
            )
        if not isinstance(nursery, trio.Nursery):
            raise TypeError(f"open() takes a trio.Nursery, got {type(nursery).__name__}")
        self._state = State.CONNECTING
        nursery.start_soon(self._run, name=f"trio_ws_events reconnecting {self._shown_url}")

    def send(self, data: str | bytes | bytearray | memoryview) -> None:
        """Queue one message and return at once: ``str`` as text, bytes-like as binary.

        While a connection is open it goes to that connection; otherwise it waits, in order,
        for the next one. Written is not delivered: a message written just before a drop may
        be lost in flight (see the documentation).

        Raises:
            TypeError: ``data`` is neither ``str`` nor bytes-like.
            ValueError: ``data`` is a ``str`` that UTF-8 cannot encode; nothing was queued.
            InvalidStateError: :meth:`open` was not called yet, or :meth:`close` was, or the
                end has come.
            SendBufferFull: it would push :attr:`buffered_amount` past
                ``max_buffered_amount``; nothing was queued.
        """
        message = _as_message(data)
        if self._state is State.INITIAL:
            raise InvalidStateError(
                self._refusal("send", "is not open yet (INITIAL); open() first")
            )
        if self._close_request is not None or self._ended():
            raise InvalidStateError(self._refusal("send", f"is {self._state.name}"))
        current = self._current
        if current is not None and current.is_open and not self._queue:
            current.send(message)
            return
        try:
            size = payload_size(message)
        except UnicodeEncodeError as exc:
            raise ValueError(
                f"cannot send text with a lone surrogate at index {exc.start}: "
                "it has no UTF-8 encoding"
            ) from None
        pending = self.buffered_amount
        if pending and pending + size > self._max_buffered:
            raise SendBufferFull(
                f"send buffer of {self._shown_url} is full: {pending} bytes wait for a "
                f"connection, {size} more would pass max_buffered_amount={self._max_buffered}",
                url=self._shown_url,
            )
        self._queue.append(message)
        self._queued_bytes += size

    async def drain(self) -> None:
        """Wait until :attr:`buffered_amount` is at most a quarter of ``max_buffered_amount``.

        Messages waiting for a connection only drain once one opens, so this may wait through
        reconnects. It returns at once (after a checkpoint) when the buffer is already that
        low, and when the end has come: check :attr:`unsent` then. Cancellation: safe; it
        only waits.
        """
        await trio.lowlevel.checkpoint()
        low = self._max_buffered // 4
        while self.buffered_amount > low and not self._done.is_set():
            current = self._current
            if current is not None and current.is_open and not self._queue:
                await current.drain()  # returns at the low-water mark or when it ends
                if current.is_open:
                    return
            else:
                await self._changed.wait()

    async def send_wait(self, data: str | bytes | bytearray | memoryview) -> None:
        """Queue one message, waiting for room first, then wait for the buffer to drain.

        Cancellation: if cancelled while waiting for room, nothing was queued.

        Raises:
            TypeError, ValueError: as :meth:`send`.
            InvalidStateError: :meth:`open` was not called, :meth:`close` was, or the end
                came while waiting.
        """
        message = _as_message(data)
        while True:
            try:
                self.send(message)
                break
            except SendBufferFull:
                current = self._current
                if current is not None and current.is_open:
                    await current._written.wait()  # room may come at any write
                else:
                    await self._changed.wait()
        await self.drain()

    def close(self, code: int = 1000, reason: str = "") -> None:
        """End for good and return at once; calling it again does nothing.

        While a connection is open it is closed with ``code`` and ``reason``; during an attempt
        the attempt is abandoned; during a wait the wait ends at once. Either way no new
        attempt is made and one terminal event fires. Before :meth:`open`, the later
        :meth:`open` ends at once, without any network I/O.

        Args:
            code: 1000-1003, 1007-1014 or 3000-4999.
            reason: at most 123 bytes once encoded as UTF-8.

        Raises:
            ValueError: the code or the reason is not allowed; nothing changed.
            TypeError: the code is not an ``int`` or the reason not a ``str``.
        """
        _check_close_args(code, reason)
        if self._close_request is not None or self._ended():
            return
        self._close_request = (code, reason)
        if self._state is State.INITIAL:
            self._abandoned = True
            return
        self._state = State.CLOSING
        if self._waiting is not None:
            self._waiting.cancel()
        elif self._current is not None:
            self._current.close(code, reason)

    async def wait_closed(self) -> None:
        """Wait until the terminal event (``on_closed`` or ``on_error``) has run.

        Cancellation: safe; it only waits.

        Raises:
            InvalidStateError: :meth:`open` was never called, so it would wait forever.
        """
        if self._state is State.INITIAL:
            raise InvalidStateError(self._refusal("wait_closed", "was never opened"))
        await trio.lowlevel.checkpoint()
        await self._done.wait()

    async def __aenter__(self) -> Self:
        """Open in a nursery of its own and wait until a first connection is open.

        It waits through failed attempts as long as the policy retries them.

        Raises:
            WebSocketError: it gave up before any connection opened (after ``on_error``).
            InvalidStateError: the instance was already opened.
        """
        if self._state is not State.INITIAL:
            raise InvalidStateError(self._refusal("enter", "was already opened"))
        self._nursery_cm = trio.open_nursery()
        nursery = await self._nursery_cm.__aenter__()
        try:
            self.open(nursery)
            await self._ready.wait()
        except BaseException as exc:
            await self._exit_nursery(exc)
            raise
        if not self.is_open:
            # It gave up before a connection opened, or on_open already closed.
            await self._done.wait()
            await self._exit_nursery(None)
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
            self.close(1000 if exc is None else 1011)
            try:
                await self._done.wait()
            except BaseException as inner:
                await self._exit_nursery(inner)
                raise
        await self._exit_nursery(exc)
        return False

    # ------------------------------------------------------------------ the task

    async def _run(self) -> None:
        completed = False
        try:
            try:
                await self._attempts()
            except BaseExceptionGroup as group:
                # A handler's exception, out of the attempt's nursery: raised bare, once.
                leaf = _single_leaf(group)
                if leaf is None or leaf is not self._reraise:
                    raise
                raise leaf from leaf.__cause__
            completed = True
        finally:
            if completed:
                await self._finish()
            else:
                budget = self._close_timeout or CANCEL_CLEANUP_TIMEOUT
                deadline = trio.current_time() + budget
                with trio.CancelScope(shield=True, deadline=deadline):
                    await self._finish()
        if self._reraise is not None:
            raise self._reraise

    async def _attempts(self) -> None:
        """Attempt, wait, attempt again, until an ending is final or close() is called."""
        while self._close_request is None:
            ws = self._next or WebSocket(self._raw_url, **self._options)
            self._next = None
            ending = await self._attempt(ws)
            if self._close_request is not None or isinstance(ending.error, HandlerError):
                self._final = ending
                return
            planned = self._schedule.next_delay(ending, time.time())
            if planned is None:
                self._final = ending
                return
            attempt, delay = planned
            self._carry_over(ending)
            await self._wait(attempt, delay, ending)

    async def _attempt(self, ws: WebSocket) -> Ending:
        """Run one WebSocket to its end in a nursery of this task and return how it ended."""
        self._wire(ws)
        self._current = ws
        if self._state is not State.CLOSING:
            self._state = State.CONNECTING
        async with trio.open_nursery() as nursery:
            ws.open(nursery)
        ending = self._ending
        assert ending is not None, "a WebSocket always fires a terminal event"
        return ending

    def _carry_over(self, ending: Ending) -> None:
        """Put the dropped connection's unsent messages back in front of the queue."""
        self._ending = None
        if self._resend and ending.unsent:
            self._queue.extendleft(reversed(ending.unsent))
            self._queued_bytes += sum(payload_size(m) for m in ending.unsent)

    async def _wait(self, attempt: int, delay: float, why: Ending) -> None:
        self._current = None
        logger.info(
            "reconnecting to %s: attempt %d in %.3fs after %s",
            self._shown_url,
            attempt,
            delay,
            type(why.error).__name__ if why.error else f"close {why.code}",
        )
        with trio.CancelScope() as self._waiting:
            await self._dispatch_reconnecting(attempt, delay, why)
            if self._close_request is not None:
                self._waiting.cancel()
            await trio.sleep(delay)
        self._waiting = None

    async def _dispatch_reconnecting(self, attempt: int, delay: float, why: Ending) -> None:
        try:
            await run_handlers(self.on_reconnecting._handlers, self, attempt, delay, why)
        except Exception as exc:
            error = HandlerError(
                f"on_reconnecting handler raised {type(exc).__name__}: {exc}",
                url=self._shown_url,
            )
            error.__cause__ = exc
            self._reraise = exc
            self._final = Ending(error, 1006)
            raise

    # ------------------------------------------------------------------ wiring one attempt

    def _wire(self, ws: WebSocket) -> None:
        ws.on_open += self._attempt_opened
        ws.on_message += self._forwarder(self.on_message)
        ws.on_binary += self._forwarder(self.on_binary)
        linked = _LinkedHook(self.on_incomplete_frame, self._forwarder(self.on_incomplete_frame))
        ws.__dict__["_hook_on_incomplete_frame"] = linked
        ws.on_closed += self._attempt_closed
        ws.on_error += self._attempt_failed

    def _forwarder(self, hook: EventHook[Any]) -> Callable[..., Awaitable[None] | None]:
        def forward(ws: WebSocket, *args: object) -> Awaitable[None] | None:
            return self._fan_out(hook, args)

        forward.__qualname__ = f"ReconnectingWebSocket.{hook.name}"
        return forward

    def _fan_out(self, hook: EventHook[Any], args: tuple[object, ...]) -> Awaitable[None] | None:
        """Call ``hook``'s handlers with this object; async only if one of them is."""
        handlers = hook._handlers
        for index, handler in enumerate(handlers):
            result = handler(self, *args)
            if inspect.isawaitable(result):
                return self._finish_fan_out(result, handlers[index + 1 :], args)
        return None

    async def _finish_fan_out(
        self, first: Awaitable[object], rest: list[Any], args: tuple[object, ...]
    ) -> None:
        await first
        await run_handlers(rest, self, *args)

    def _attempt_opened(self, ws: WebSocket) -> Awaitable[None] | None:
        self._connections += 1
        if self._state is State.CONNECTING:
            self._state = State.OPEN
        # What waited for this connection goes first, before anything on_open sends.
        while self._queue:
            message = self._queue.popleft()
            self._queued_bytes -= payload_size(message)
            ws.send(message)
        self._ready.set()
        self._signal_change()
        return self._fan_out(self.on_open, ())

    def _attempt_closed(self, ws: WebSocket, code: int, reason: str) -> None:
        self._ending = Ending(None, code, reason, True, ws.stats.time_open, ws.unsent)
        self._after_attempt()

    def _attempt_failed(self, ws: WebSocket, error: WebSocketError) -> None:
        opened = ws.stats.time_open is not None
        code = error.code if error.code is not None else 1006
        self._ending = Ending(
            error, code, ws.close_reason or "", opened, ws.stats.time_open, ws.unsent
        )
        if isinstance(error, HandlerError):
            self._reraise = error.__cause__
        self._after_attempt()

    def _after_attempt(self) -> None:
        if self._state is State.OPEN:
            self._state = State.CONNECTING
        self._signal_change()

    def _signal_change(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    # ------------------------------------------------------------------ the end

    async def _finish(self) -> None:
        ending = self._final
        if ending is None:
            ending = self._ending if self._ending is not None else Ending(self._stopped(), 1006)
        self._state = State.CLOSED
        self._unsent = (*ending.unsent, *self._queue)
        self._queue.clear()
        self._queued_bytes = 0
        self._ready.set()
        self._changed.set()  # never replaced again: waiters return from now on
        try:
            if ending.error is None:
                self._close_code, self._close_reason = ending.code, ending.reason
                await run_handlers(self.on_closed._handlers, self, ending.code, ending.reason)
            else:
                error = self._error = ending.error
                self._close_code, self._close_reason = ending.code, ending.reason
                error.unsent = self._unsent
                await run_handlers(self.on_error._handlers, self, error)
        finally:
            self._done.set()

    def _stopped(self) -> ConnectError:
        """The error of an end that came between attempts: close() or cancellation."""
        if self._close_request is None:
            what = "was cancelled while waiting to reconnect"
        elif self._abandoned:
            what = "was abandoned: close() was called before open()"
        else:
            what = "was closed while waiting to reconnect"
        return ConnectError(f"connection to {self._shown_url} {what}", url=self._shown_url)

    def _ended(self) -> bool:
        return self._state is State.CLOSED

    def _refusal(self, what: str, why: str) -> str:
        return f"cannot {what}: ReconnectingWebSocket {self._shown_url} {why}"

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
                return
            raise leaf from leaf.__cause__
