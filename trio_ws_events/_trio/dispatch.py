"""Running the owner's handlers for one connection: inline, in order, one at a time.

There is no queue between the socket and the handlers: the reader awaits ``dispatch``, so a
slow handler slows reading (receive backpressure) and events fire in arrival order. A
handler that raises fails the connection with 1011; the first such exception is re-raised
once the connection has ended (design rule 10).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import trio

from .._errors import HandlerError
from .._events import Frame
from .._handlers import EventHook, must_await, run_handlers
from .._sansio.events import (
    BinaryMessage,
    CloseReceived,
    Failure,
    Ping,
    Pong,
    ProtocolEvent,
    TextMessage,
)
from .ending import fire

if TYPE_CHECKING:
    from .connection import Connection

__all__ = ["Dispatcher"]


class Dispatcher:
    """Calls the handlers of ``conn``'s owner, and hands messages to a live ``async for``."""

    __slots__ = ("_conn", "_owner", "_pinger", "active", "reraise")

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._owner = conn._ws
        self._pinger = conn.pinger
        #: False once delivering events has stopped (close(), a failure, the end).
        self.active = True
        #: A handler's exception, re-raised by the connection's task at its end.
        self.reraise: BaseException | None = None

    async def dispatch(self, hook: EventHook[Any], args: tuple[Any, ...]) -> None:
        """Run ``hook``'s handlers in order; a raising handler fails the connection (1011).

        An awaitable result is awaited with keepalive paused, so that our own slowness is
        not blamed on the peer.
        """
        if not self.active:
            return
        for handler in hook._handlers:
            try:
                result = handler(self._owner, *args)
                if result is not None and must_await(result):
                    self._pinger.hold()
                    sender = self._conn._sender
                    handling = sender is not None and sender.pause()
                    try:
                        await result
                    finally:
                        if handling:
                            sender.resume(handling)  # type: ignore[union-attr]
                        self._pinger.release()
            except Exception as exc:
                self._handler_failed(hook, handler, exc)
                return

    async def handle(self, events: list[ProtocolEvent]) -> None:
        """Act on one batch of events, in order: handlers, pongs owed, the close, a failure."""
        conn = self._conn
        owner = self._owner
        dispatch = self.dispatch
        for event in events:
            kind = type(event)
            if kind is TextMessage:
                await dispatch(owner.on_message, (event.data,))  # type: ignore[union-attr]
                if conn.feed is not None:
                    await self.to_iterator(event.data)  # type: ignore[union-attr]
            elif kind is BinaryMessage:
                await dispatch(owner.on_binary, (event.data,))  # type: ignore[union-attr]
                if conn.feed is not None:
                    await self.to_iterator(event.data)  # type: ignore[union-attr]
            elif kind is Frame:
                await dispatch(owner.on_incomplete_frame, (event,))
            elif kind is Ping:
                conn.frame_due()  # the protocol owes its pong (ClientProtocol.pongs)
                await dispatch(owner.on_ping, (event.payload,))  # type: ignore[union-attr]
            elif kind is Pong:
                conn.pinger.got_pong(event.payload)  # type: ignore[union-attr]
                await dispatch(owner.on_pong, (event.payload,))  # type: ignore[union-attr]
            elif kind is CloseReceived:
                conn._on_close_frame(event.code, event.reason)  # type: ignore[union-attr]
            else:
                assert isinstance(event, Failure)
                conn._on_failure(event)

    def iterating(self) -> bool:
        """Whether an ``async for`` over this connection is live (it will raise the error)."""
        feed = self._conn.feed
        return feed is not None and feed.live

    async def to_iterator(self, message: str | bytes) -> None:
        """Hand ``message`` to the live ``async for``, waiting until its loop takes it."""
        conn = self._conn
        feed = conn.feed
        if feed is None or not self.active:
            return
        # Waiting for the loop is waiting for the user's code, as in an async handler:
        # keepalive must not blame the peer for it.
        self._pinger.hold()
        sender = conn._sender
        handling = sender is not None and sender.pause()
        try:
            await feed.send.send(message)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            # The loop ended (the iterator was dropped or closed): handlers only from now.
            if conn.feed is feed:
                conn.feed = None
        finally:
            if handling:
                sender.resume(handling)  # type: ignore[union-attr]
            self._pinger.release()

    async def terminal(self, hook: EventHook[Any], args: tuple[Any, ...]) -> None:
        """Run the terminal event's handlers; then the end is done, and ``async for`` ends."""
        conn = self._conn
        try:
            await run_handlers(hook._handlers, self._owner, *args)
        finally:
            conn._done = fire(conn._done)
            if conn.feed is not None:
                conn.feed.send.close()  # a waiting `async for` ends (or raises) now

    def _handler_failed(self, hook: EventHook[Any], handler: object, exc: Exception) -> None:
        conn = self._conn
        name = getattr(handler, "__qualname__", repr(handler))
        error = HandlerError(
            f"{hook.name} handler {name} raised {type(exc).__name__}: {exc} "
            f"(connection to {conn.shown_url})",
            url=conn.shown_url,
        )
        error.__cause__ = exc
        if self.reraise is None:
            self.reraise = exc
        # Our own fault, not the peer's: like close(1011), what was queued goes first.
        conn.fail(error, 1011, flush=True)
