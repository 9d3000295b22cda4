"""The task behind [`ReconnectingWebSocket`][]: attempts, waits, the end.

One task (``_run``, in the user's nursery) makes the attempts one after the other, each a new
single-use [`WebSocket`][] in a nursery of that task, and waits between
them. The decisions (retry or stop, how long to wait) come from the sans-I/O
``_reconnect``; this module only wires events and moves messages.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

import trio

from .._errors import ConnectError, HandlerError, SendBufferFull, WebSocketError
from .._handlers import run_handlers
from .._sansio.outbox import payload_size
from .._sansio.reconnect import Ending, RetrySchedule
from .._sansio.state import State
from .._websocket import WebSocket
from .connection import CANCEL_CLEANUP_TIMEOUT
from .forward import fan_out, forward_messages
from .nursery import single_leaf

if TYPE_CHECKING:
    from .._reconnecting import ReconnectingWebSocket

__all__ = ["ReconnectLoop"]


class ReconnectLoop:
    """State and task of a reconnecting client, for its owner.

    Built by [`ReconnectingWebSocket`][] (its owner), which keeps the handlers, checks the
    arguments and owns the public methods; this object makes the attempts and dispatches
    to the owner's hooks, handing the owner to each handler.
    """

    def __init__(
        self,
        owner: ReconnectingWebSocket,
        first: WebSocket,
        url: str,
        options: dict[str, Any],
        schedule: RetrySchedule,
        *,
        resend_unsent: bool,
    ) -> None:
        self._owner = owner
        # The first attempt is built by the constructor, so that options are checked at once.
        self._next: WebSocket | None = first
        self._raw_url = url
        self._options = options
        self.shown_url = first.url
        self.log_url = first._options.url.for_log  # no query string: it often carries a token
        self._logger = first._options.logger  # logger= of the options, or the package's
        self.max_buffered = first._options.max_buffered_amount
        self._close_timeout = first._options.close_timeout
        self._resend = resend_unsent
        self._schedule = schedule
        self.state = State.INITIAL
        self.current: WebSocket | None = None
        self.queue: deque[str | bytes] = deque()
        self.queued_bytes = 0
        self.close_request: tuple[int, str] | None = None
        self.waiting: trio.CancelScope | None = None
        self._ending: Ending | None = None  # of the attempt that just ended, not yet handled
        self._final: Ending | None = None
        self.error: WebSocketError | None = None
        self._reraise: BaseException | None = None
        self.unsent: tuple[str | bytes, ...] = ()
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self.connections = 0
        self.abandoned = False  # close() came before open()
        self.ready = trio.Event()
        self.done = trio.Event()
        self.changed = trio.Event()  # a connection opened or closed, or the end came

    def start(self, nursery: trio.Nursery) -> None:
        """Start the task of the attempts in ``nursery`` (INITIAL to CONNECTING).

        Raises:
            RuntimeError: ``nursery`` takes no new task; the state did not change.
        """
        nursery.start_soon(self._run, name=f"trio_ws_events reconnecting {self.shown_url}")
        self.state = State.CONNECTING

    # ------------------------------------------------------------------ for the owner's methods

    def buffered_amount(self) -> int:
        """Bytes waiting for a connection plus those queued on the current one."""
        current = self.current
        ongoing = current.buffered_amount if current is not None and not self.ended() else 0
        return self.queued_bytes + ongoing

    def send(self, message: str | bytes) -> None:
        """Hand ``message`` to the open connection, or queue it for the next one.

        The owner checked the state and the thread; what is already queued goes first, so
        a message only bypasses the queue when the queue is empty.

        Raises:
            ValueError: ``message`` is text with a lone surrogate; nothing was queued.
            SendBufferFull: it would pass ``max_buffered_amount``; nothing was queued.
        """
        current = self.current
        if current is not None and current.is_open and not self.queue:
            current.send(message)
            return
        try:
            size = payload_size(message)
        except UnicodeEncodeError as exc:
            raise ValueError(
                f"cannot send text with a lone surrogate at index {exc.start}: "
                "it has no UTF-8 encoding"
            ) from None
        pending = self.buffered_amount()
        if pending and pending + size > self.max_buffered:
            raise SendBufferFull(
                f"send buffer of {self.shown_url} is full: {pending} bytes wait for a "
                f"connection, {size} more would pass max_buffered_amount={self.max_buffered}",
                url=self.shown_url,
            )
        self.queue.append(message)
        self.queued_bytes += size

    async def drain(self) -> None:
        """Wait until at most a quarter of ``max_buffered_amount`` is buffered, or the end.

        Cancellation: safe; it only waits.
        """
        low = self.max_buffered // 4
        while self.buffered_amount() > low and not self.done.is_set():
            current = self.current
            if current is not None and current.is_open and not self.queue:
                await current.drain()  # returns at the low-water mark or when it ends
                if current.is_open:
                    return
            else:
                await self.changed.wait()

    async def room_may_come(self) -> None:
        """Wait until room in the buffer may have come: a write, or a connection's change.

        Cancellation: safe; it only waits.
        """
        current = self.current
        if current is not None and current.is_open:
            await current._engine.written.wait()  # room may come at any write
        else:
            await self.changed.wait()

    def close(self, code: int, reason: str) -> None:
        """End for good with ``code`` and ``reason`` (checked by the owner); again, nothing.

        Before ``start`` it only marks the later start as abandoned; during a wait it ends the
        wait; during an attempt or a connection it closes that WebSocket.
        """
        if self.close_request is not None or self.ended():
            return
        self.close_request = (code, reason)
        if self.state is State.INITIAL:
            self.abandoned = True
            return
        self.state = State.CLOSING
        if self.waiting is not None:
            self.waiting.cancel()
        elif self.current is not None:
            self.current.close(code, reason)

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
        while self.close_request is None:
            ws = self._next or WebSocket(self._raw_url, **self._options)
            self._next = None
            ending = await self._attempt(ws)
            if self.close_request is not None or isinstance(ending.error, HandlerError):
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
        self.current = ws
        if self.state is not State.CLOSING:
            self.state = State.CONNECTING
        async with trio.open_nursery() as nursery:
            ws.open(nursery)
        ending = self._ending
        assert ending is not None, "a WebSocket always fires a terminal event"
        return ending

    def _carry_over(self, ending: Ending) -> None:
        """Put the dropped connection's unsent messages back in front of the queue."""
        self._ending = None
        if self._resend and ending.unsent:
            self.queue.extendleft(reversed(ending.unsent))
            self.queued_bytes += sum(payload_size(m) for m in ending.unsent)

    async def _wait(self, attempt: int, delay: float, why: Ending) -> None:
        self.current = None
        self._logger.info(
            "reconnecting to %s: attempt %d in %.3fs after %s",
            self.log_url,
            attempt,
            delay,
            type(why.error).__name__ if why.error else f"close {why.code}",
        )
        with trio.CancelScope() as self.waiting:
            await self._dispatch_reconnecting(attempt, delay, why)
            if self.close_request is not None:
                self.waiting.cancel()
            await trio.sleep(delay)
        self.waiting = None

    async def _dispatch_reconnecting(self, attempt: int, delay: float, why: Ending) -> None:
        try:
            await run_handlers(
                self._owner.on_reconnecting._handlers, self._owner, attempt, delay, why
            )
        except Exception as exc:
            error = HandlerError(
                f"on_reconnecting handler raised {type(exc).__name__}: {exc}",
                url=self.shown_url,
            )
            error.__cause__ = exc
            self._reraise = exc
            self._final = Ending(error, 1006)
            raise

    # ------------------------------------------------------------------ wiring one attempt

    def _wire(self, ws: WebSocket) -> None:
        ws.on_open += self._attempt_opened
        forward_messages(ws, self._owner)
        ws.on_closed += self._attempt_closed
        ws.on_error += self._attempt_failed

    def _attempt_opened(self, ws: WebSocket) -> Awaitable[None] | None:
        self.connections += 1
        if self.state is State.CONNECTING:
            self.state = State.OPEN
        # What waited for this connection goes first, before anything on_open sends.
        while self.queue:
            message = self.queue.popleft()
            self.queued_bytes -= payload_size(message)
            ws.send(message)
        self.ready.set()
        self._signal_change()
        return fan_out(self._owner, self._owner.on_open, ())

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
        if self.state is State.OPEN:
            self.state = State.CONNECTING
        self._signal_change()

    def _signal_change(self) -> None:
        self.changed.set()
        self.changed = trio.Event()

    # ------------------------------------------------------------------ the end

    async def _finish(self) -> None:
        ending = self._final
        if ending is None:
            ending = self._ending if self._ending is not None else Ending(self._stopped(), 1006)
        self.state = State.CLOSED
        self.unsent = (*ending.unsent, *self.queue)
        self.queue.clear()
        self.queued_bytes = 0
        self.ready.set()
        self.changed.set()  # never replaced again: waiters return from now on
        try:
            if ending.error is None:
                self.close_code, self.close_reason = ending.code, ending.reason
                await run_handlers(
                    self._owner.on_closed._handlers, self._owner, ending.code, ending.reason
                )
            else:
                error = self.error = ending.error
                self.close_code, self.close_reason = ending.code, ending.reason
                error.unsent = self.unsent
                await run_handlers(self._owner.on_error._handlers, self._owner, error)
        finally:
            self.done.set()

    def _stopped(self) -> ConnectError:
        """The error of an end that came between attempts: close() or cancellation."""
        if self.close_request is None:
            what = "was cancelled while waiting to reconnect"
        elif self.abandoned:
            what = "was abandoned: close() was called before open()"
        else:
            what = "was closed while waiting to reconnect"
        return ConnectError(f"connection to {self.shown_url} {what}", url=self.shown_url)

    def ended(self) -> bool:
        """Whether the end has come (CLOSED)."""
        return self.state is State.CLOSED
