"""The task behind [`ReconnectingWebSocket`][]: attempts, waits, the end.

One task (``_run``, in the user's nursery) makes the attempts one after the other, each a new
single-use [`WebSocket`][] in a nursery of that task, and waits between
them. The decisions (retry or stop, how long to wait) come from the sans-I/O
``_reconnect``; this module only wires events and moves messages.
"""

from __future__ import annotations

import inspect
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from .._errors import ConnectError, HandlerError, WebSocketError
from .._events import Frame
from .._handlers import EventHook, EventSlot, run_handlers
from .._sansio.outbox import payload_size
from .._sansio.reconnect import Ending, RetrySchedule
from .._sansio.state import State
from .._typing import FrameHandler
from .._websocket import WebSocket
from .connection import CANCEL_CLEANUP_TIMEOUT
from .nursery import single_leaf

__all__ = ["ReconnectLoop"]


class _LinkedHook(EventHook[FrameHandler[Any]]):
    """The ``on_incomplete_frame`` of one attempt: truthy while the reconnecting client's is.

    A WebSocket streams messages piece by piece only while its hook has handlers; linking the
    truth value lets a handler registered on the reconnecting client mid-connection count at
    once, as it does on a WebSocket.
    """

    def __init__(self, source: EventHook[FrameHandler[Any]], forward: FrameHandler[Any]) -> None:
        super().__init__(source.name)
        self._source = source
        self._handlers = [forward]

    def __bool__(self) -> bool:
        return bool(self._source)


class ReconnectLoop:
    """State and task of a reconnecting client; [`ReconnectingWebSocket`][]
    is its face.

    Not meant to be built directly: the subclass's constructor checks the arguments, then
    calls ``_init_loop``.
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

    def _init_loop(
        self,
        first: WebSocket,
        url: str,
        options: dict[str, Any],
        schedule: RetrySchedule,
        *,
        resend_unsent: bool,
    ) -> None:
        # The first attempt is built by the constructor, so that options are checked at once.
        self._next: WebSocket | None = first
        self._raw_url = url
        self._options = options
        self._shown_url = first.url
        self._log_url = first._options.url.for_log  # no query string: it often carries a token
        self._logger = first._options.logger  # logger= of the options, or the package's
        self._max_buffered = first._options.max_buffered_amount
        self._close_timeout = first._options.close_timeout
        self._resend = resend_unsent
        self._schedule = schedule
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

    # ------------------------------------------------------------------ the task

    async def _run(self) -> None:
        completed = False
        try:
            try:
                await self._attempts()
            except BaseExceptionGroup as group:
                # A handler's exception, out of the attempt's nursery: raised bare, once.
                leaf = single_leaf(group)
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
        self._logger.info(
            "reconnecting to %s: attempt %d in %.3fs after %s",
            self._log_url,
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
        ws.on_ping += self._forwarder(self.on_ping)
        ws.on_pong += self._forwarder(self.on_pong)
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
