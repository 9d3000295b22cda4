"""The last steps of a connection: the cleanup after cancellation, the settled state and
accounting, the terminal event, closing the stream, the log record of an error end, and
letting go of the connection once it is over."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, overload

import trio

from .._errors import ConnectError, ConnectionLost, WebSocketError
from .._sansio.frames import CHUNK_SIZE
from .._sansio.state import State
from .._typing import LoggerLike

if TYPE_CHECKING:
    from .connection import Connection

__all__ = [
    "SET",
    "LazyEvent",
    "abort",
    "close_stream",
    "finish",
    "fire",
    "log_error_end",
    "release",
]

#: An event that is already set, shared by every connection: what a signal nobody waited on
#: becomes once it fires (``fire``), and ``drained`` until the buffer first fills.
SET: trio.Event = trio.Event()
SET.set()


def fire(event: trio.Event | None) -> trio.Event:
    """Set ``event``; one nobody made yet (``None``) becomes ``SET``. Returns what to keep."""
    if event is None:
        return SET
    event.set()
    return event


class LazyEvent:
    """A connection's ``trio.Event`` attribute, made at its first read (W5's memory: an idle
    connection nobody waits on keeps none of its 216 bytes). It lives in the slot of the same
    name with a leading underscore, ``None`` until read; ``fire`` sets it without making it."""

    __slots__ = ("_slot",)

    def __set_name__(self, owner: type, name: str) -> None:
        self._slot = f"_{name}"

    @overload
    def __get__(self, obj: None, objtype: type | None = None) -> LazyEvent: ...
    @overload
    def __get__(self, obj: object, objtype: type | None = None) -> trio.Event: ...
    def __get__(self, obj: object, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        event = getattr(obj, self._slot)
        if event is None:
            event = trio.Event()
            setattr(obj, self._slot, event)
        return event

    def __set__(self, obj: object, value: trio.Event) -> None:
        setattr(obj, self._slot, value)


async def close_stream(stream: trio.abc.Stream) -> None:
    """Close ``stream`` at once. A plain socket closes without a checkpoint: this runs at the
    very end of the connection's task, where one more scheduler tick buys nothing."""
    if isinstance(stream, trio.SocketStream):
        stream.socket.close()
    else:
        await trio.aclose_forcefully(stream)


def log_error_end(
    logger: LoggerLike, url: str, error: WebSocketError, cancelled: bool, heard: bool
) -> None:
    """Log an end by ``error`` (its ``code`` set) of the connection to ``url`` (for logs).

    Above DEBUG, only the kind of error and the code: messages may quote payloads (a
    handler's exception text) and URLs their query strings. An error nobody will hear of
    (``heard`` false: no ``on_error``, no ``async with``, no ``async for``) is a WARNING.
    """
    if cancelled:
        # The caller's own cancellation (a cancel scope, or an exception in the nursery's
        # body, which the caller sees as a traceback): nothing to look up in on_error.
        logger.info(
            "connection to %s ended: %s, cancelled from outside (close code %d)",
            url,
            type(error).__name__,
            error.code,
        )
    else:
        logger.log(
            logging.INFO if heard else logging.WARNING,
            "connection to %s ended: %s (close code %d); register on_error for details",
            url,
            type(error).__name__,
            error.code,
        )
    logger.debug("connection to %s ended: %s", url, error)


async def abort(conn: Connection) -> None:
    """Cleanup after cancellation: flush, send 1001, read the reply, close the socket."""
    opened = conn.opened
    if opened is None:
        return
    stream = opened.stream
    sender = conn._sender
    try:
        # A batch still in flight was never written (the sender stopped mid-way): the
        # wire may be mid-frame, and the batch must stay in unsent, so nothing is written.
        writable = sender is not None and not sender.broken and not conn.outbox.in_flight
        closing = conn.closing
        if not closing.failed and closing.peer is None and writable:
            assert sender is not None
            closing.going_away()
            if closing.written or await sender.write_due():
                closing.written = True
                await _read_close_reply(conn, stream)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    finally:
        await close_stream(stream)


async def _read_close_reply(conn: Connection, stream: trio.abc.Stream) -> None:
    protocol = conn._protocol
    assert protocol is not None
    conn._dispatcher.active = False
    while conn.closing.peer is None and not protocol.closed:
        data = await stream.receive_some(CHUNK_SIZE)
        if not data:
            return
        await conn._received(protocol, bytes(data))


async def finish(conn: Connection) -> None:
    """Close the socket, settle the state and the accounting, fire the terminal event."""
    if conn.opened is not None:
        await close_stream(conn.opened.stream)
    error = conn.error
    peer = conn.closing.peer
    cancelled = error is None and peer is None
    if cancelled:
        error = _cancelled_error(conn)
    conn._set_state(State.CLOSED)
    conn.closed_at = trio.current_time()
    conn.unsent = conn.outbox.unsent()
    conn._dispatcher.active = False
    conn.pinger.ended()
    conn.drained.set()
    conn._written = fire(conn._written)
    conn._ready = fire(conn._ready)
    if error is None:
        assert peer is not None
        conn.close_code, conn.close_reason = peer
        conn._logger.info(
            "closed %s: %d (close started by %s)",
            conn._url.for_log,
            peer[0],
            "the server" if conn.closing.by_server else "the client",
        )
        await conn._dispatcher.terminal(conn._ws.on_closed, peer)
    else:
        conn.error = error
        conn.close_code, conn.close_reason = conn.closing.reported()
        error.code = conn.close_code
        error.unsent = conn.unsent
        if conn.closing.fail_code is not None:
            # The message agrees with .code: what became of the failure's close frame.
            error.args = (error.message + conn.closing.failure_note(),)
        # Nobody hears of an error without on_error, unless async with or `async for`
        # raises it (open() does not).
        heard = bool(conn._ws.on_error) or conn._ws._nursery_cm is not None
        heard = heard or conn._dispatcher.iterating()
        log_error_end(conn._logger, conn._url.for_log, error, cancelled, heard)
        await conn._dispatcher.terminal(conn._ws.on_error, (error,))


def release(conn: Connection) -> None:
    """The end is reported: the parts let go of ``conn`` and its owner.

    They point back at it (and the owner at it), so without this each ended connection was
    a reference cycle of some 50 objects left to the garbage collector, whose passes cost W4
    about 8 us per handshake; now it is freed as soon as the owner is. Nothing reads these
    once the terminal event has run: a read would raise AttributeError.
    """
    sender = conn._sender
    if sender is not None:
        del sender._conn
    del conn.pinger._conn
    dispatcher = conn._dispatcher
    del dispatcher._conn, dispatcher._owner, dispatcher._pinger
    del conn._ws


def _cancelled_error(conn: Connection) -> WebSocketError:
    """The error of an end by cancellation, before any close handshake completed."""
    if conn.opened is None:
        return ConnectError(
            f"connection attempt to {conn.shown_url} was cancelled", url=conn.shown_url
        )
    return ConnectionLost(
        f"connection to {conn.shown_url} was cancelled before the close handshake completed",
        url=conn.shown_url,
    )
