"""The trio-websocket engine: the event contract over a ``trio_websocket.WebSocketConnection``.

Either the engine connects (``WebSocket(url, engine="trio-websocket")``, through
``trio_websocket.connect_websocket_url`` in a nursery of its own task) or it adopts a
connection that is already open (``WebSocket.from_trio_websocket(conn)``, client or server
side). It is the default engine (``connection.Connection``) with the wire replaced: the
state, the close handshake's rules (``CloseHandshake``), the outbox, keepalive, the dispatch
and the ending are the default engine's own; only reading, writing and opening differ.

Reading: whole messages come from ``get_message()``; pings, pongs, close frames and
violations from the tap (``tw_tap.py``), which also says after how many messages each ping or
pong came, so that handlers see them in arrival order. Writing: one event at a time through
the connection's ``_send`` (a message, a piece, a ping, the close frame), so that ``unsent``
is exact and the replies to messages before a violation go out before its close frame.
"""

from __future__ import annotations

import math
from collections import deque
from typing import TYPE_CHECKING, Any, Final

import trio
import trio_websocket
from wsproto.events import BytesMessage, CloseConnection, Event, Ping, TextMessage

from .._errors import ProtocolError
from .._events import Stats
from .._handlers import EventHook
from .._sansio.events import Failure
from .._sansio.outbox import Piece, payload_size
from .._sansio.state import State
from .connect import Opened
from .connection import Connection
from .ending import close_stream
from .nursery import single_leaf
from .socket_writes import Writer
from .tw_connect import Guard, connect_trio_websocket
from .tw_tap import WsprotoTap, install_tap
from .writer import Sender

if TYPE_CHECKING:
    from .._options import Options
    from .engine import Owner

__all__ = ["MAX_CONTROLS", "TrioWebsocketEngine", "refuse_incomplete_frames"]

#: Pings and pongs received and waiting for their ``on_ping``/``on_pong`` handlers. The reader
#: of trio-websocket does not wait for handlers; past this many, the connection fails (1008)
#: rather than hold what a peer sends without bound.
MAX_CONTROLS: Final = 256


class TrioWebsocketEngine(Connection):
    """Runs the event contract over a trio-websocket connection, for its owner.

    Built by ``WebSocket`` (``engine="trio-websocket"``) or ``WebSocket.from_trio_websocket``
    (``adopt`` set); satisfies ``Engine``.
    """

    #: Its reader (``_receive_loop``) is trio-websocket's: the keepalive ticks in a task.
    reader_ticks = False

    def __init__(
        self,
        owner: Owner,
        options: Options,
        adopt: trio_websocket.WebSocketConnection | None = None,
    ) -> None:
        super().__init__(owner, options)
        self._options = options
        self._adopt = adopt
        self._conn: trio_websocket.WebSocketConnection | None = None
        self._tap: WsprotoTap | None = None
        self._guard: Guard | None = None
        self._controls: deque[tuple[int, str, bytes]] = deque()  # (after, kind, payload)
        self._delivered = 0  # whole messages taken from get_message()
        self._waiting: trio.CancelScope | None = None  # get_message() with no control due
        self._counts = (0, 0)  # messages, payload bytes
        self._close_out = trio.Event()  # our close frame was written, or the sender ended

    # ------------------------------------------------------------------ opening

    async def _run(self) -> None:
        try:
            async with trio.open_nursery() as nursery:
                self._guard = Guard(nursery, self._install)
                try:
                    await super()._run()
                finally:
                    self._guard.stop()  # trio-websocket's reader, if ours
        except BaseExceptionGroup as group:
            leaf = single_leaf(group)
            if leaf is None:
                raise
            # A handler's exception leaves as the default engine's does: bare, from our task.
            raise leaf from leaf.__cause__

    async def _open(self) -> Opened:
        if self._adopt is not None:
            await trio.lowlevel.checkpoint()
            conn = self._adopt
        else:
            assert self._guard is not None
            conn = await connect_trio_websocket(self._guard, self._options)
        self._install(conn)
        headers = [
            (name.decode("latin-1").lower(), value.decode("latin-1"))
            for name, value in conn.handshake_headers
        ]
        return Opened(
            conn._stream,
            subprotocol=conn.subprotocol,
            extensions=None,
            headers=headers,
            trailing=b"",
            url=self._url,
        )

    async def _finish(self) -> None:
        if self.opened is None and self._conn is not None and self._adopt is None:
            # The attempt ended before OPEN: the socket trio-websocket opened is ours to close.
            await close_stream(self._conn._stream)
        await super()._finish()

    def _install(self, conn: trio_websocket.WebSocketConnection) -> None:
        if self._tap is None:
            self._conn = conn
            self._tap = install_tap(conn, self)

    def stats(self) -> Stats:
        messages, size = self._counts
        return Stats(
            messages_sent=self.outbox.messages_written,
            bytes_sent=self.outbox.bytes_written,
            messages_received=messages,
            bytes_received=size,
            connect_time=None if self.open_at is None else self.open_at - (self.opened_at or 0),
            time_open=None if self.open_at is None else self._time_open(),
        )

    def _time_open(self) -> float:
        assert self.open_at is not None
        end = self.closed_at if self.closed_at is not None else trio.current_time()
        return end - self.open_at

    # ------------------------------------------------------------------ the tap's reports

    def tap_received(self) -> None:
        self.keepalive.received(trio.current_time())

    def tap_control(self, kind: str, payload: bytes, after: int) -> None:
        if kind == "pong":
            self.pinger.got_pong(payload)
        hook = self._ws.on_ping if kind == "ping" else self._ws.on_pong
        if not hook or not self._dispatcher.active:
            return
        if len(self._controls) >= MAX_CONTROLS:
            error = ProtocolError(
                f"{self.shown_url} sent more than {MAX_CONTROLS} pings and pongs that the "
                "on_ping/on_pong handlers did not take in time",
                url=self.shown_url,
            )
            self.fail(error, 1008, "too many control frames")
            return
        self._controls.append((after, kind, payload))
        if self._waiting is not None:
            self._waiting.cancel()  # the receiver waits for a message: run the handler now

    # ------------------------------------------------------------------ receiving

    async def _receive_loop(self, opened: Opened) -> None:
        conn = self._conn
        assert conn is not None
        while True:
            await self._run_controls(self._delivered)
            try:
                message = await self._next_message(conn)
            except trio_websocket.ConnectionClosed:
                await self._run_controls(math.inf)
                await self._ended()
                return
            if message is None:
                continue  # a ping or pong came first
            self._delivered += 1
            count, size = self._counts
            self._counts = (count + 1, size + payload_size(message))
            if type(message) is str:
                await self._dispatcher.dispatch(self._ws.on_message, (message,))
            else:
                await self._dispatcher.dispatch(self._ws.on_binary, (message,))
            if self.feed is not None:
                await self._dispatcher.to_iterator(message)

    async def _next_message(self, conn: trio_websocket.WebSocketConnection) -> str | bytes | None:
        """The next whole message, or ``None`` when a ping or pong arrived first."""
        if self._controls:
            return await conn.get_message()  # one came before the next control: it waits
        with trio.CancelScope() as scope:
            self._waiting = scope
            try:
                return await conn.get_message()
            finally:
                self._waiting = None
        return None

    async def _run_controls(self, delivered: float) -> None:
        """Dispatch the pings and pongs that arrived before message number ``delivered + 1``."""
        controls = self._controls
        while controls and controls[0][0] <= delivered:
            _, kind, payload = controls.popleft()
            hook: EventHook[Any] = self._ws.on_ping if kind == "ping" else self._ws.on_pong
            await self._dispatcher.dispatch(hook, (payload,))

    async def _ended(self) -> None:
        """``get_message()`` raised ``ConnectionClosed``: settle which ending it was."""
        tap = self._tap
        assert tap is not None
        assert self._conn is not None
        tap.catch_up(self._conn)
        closing = self.closing
        if tap.peer_close is not None:
            code, reason = tap.peer_close
            if self.state is State.OPEN:
                self._set_state(State.CLOSING)
            self._logger.debug("close frame from %s: %d %r", self._url.for_log, code, reason)
            closing.received(code, reason)
            self._echoed()
        elif tap.violation is not None or (tap.own_close and closing.sent is None):
            # The peer broke the protocol (wsproto), or a message passed trio-websocket's
            # max_message_size (1009): trio-websocket already wrote the close frame.
            code, reason = tap.violation or tap.own_close or (1002, "")
            self._echoed(code, reason)
            self._on_failure(Failure(code, reason or "the server broke the protocol"))
            if not self.closing.written:
                # Found before the tap (an adopted connection): no close frame went out yet;
                # the sender writes it, within the failure's bound (FAIL_TIMEOUT).
                await self._close_out.wait()
        else:
            self._lost("the connection broke or the server closed it without a close frame")

    def _echoed(self, code: int | None = None, reason: str = "") -> None:
        """trio-websocket wrote a close frame itself: ours counts as sent and written."""
        closing = self.closing
        if closing.sent is None and self._tap is not None and self._tap.own_close is not None:
            closing.sent = (code, reason) if code is not None else self._tap.own_close
            closing.written = True

    # ------------------------------------------------------------------ sending

    async def write_event(self, event: Event) -> None:
        """Write one event, unless trio-websocket closed (wsproto would refuse it).

        Raises:
            trio_websocket.ConnectionClosed: the connection closed; the receiver settles it.
        """
        conn, tap = self._conn, self._tap
        assert conn is not None
        assert tap is not None
        if not tap.writable(conn):
            raise trio_websocket.ConnectionClosed(conn.closed)
        await conn._send(event)

    def _make_sender(self, opened: Opened) -> Sender:
        assert self._protocol is not None
        return _TrioWebsocketSender(self, Writer(opened.stream), self._protocol)

    # ------------------------------------------------------------------ the end

    async def _abort(self) -> None:
        """Cleanup after cancellation: send 1001, read until the peer's close, close."""
        conn = self._conn
        if conn is None or self.opened is None:
            return  # cancelled while connecting: _finish closes the stream
        closing = self.closing
        sender = self._sender
        try:
            writable = sender is not None and not sender.broken and not self.outbox.in_flight
            if not closing.failed and closing.peer is None and writable:
                assert sender is not None
                closing.going_away()
                # What was queued goes first, then the 1001 (as with the default engine).
                if closing.written or await sender.write_due():
                    closing.written = True
                self._dispatcher.active = False
                while True:
                    await conn.get_message()
        except trio_websocket.ConnectionClosed:
            tap = self._tap
            if tap is not None and tap.peer_close is not None and closing.peer is None:
                closing.received(*tap.peer_close)
        finally:
            await close_stream(conn._stream)


class _TrioWebsocketSender(Sender):
    """The default engine's sender task, writing through trio-websocket: one event at a time
    (so that ``unsent`` is exact), through the connection's ``_send``."""

    __slots__ = ()

    def write_now(self) -> bool:
        return False  # every frame goes through trio-websocket's connection, from the task

    async def run(self) -> None:
        engine = self._conn
        assert isinstance(engine, TrioWebsocketEngine)
        try:
            await super().run()
        except trio_websocket.ConnectionClosed:
            pass  # trio-websocket closed or broke: the receiver settles the ending
        finally:
            engine._close_out.set()

    async def write_due(self) -> bool:
        """Write what is due, a message at a time, until nothing is or our close is out.

        Returns:
            True once our close frame was written.

        Raises:
            trio_websocket.ConnectionClosed: trio-websocket closed the connection.
        """
        engine = self._conn
        assert isinstance(engine, TrioWebsocketEngine)
        closing = engine.closing
        outbox = engine.outbox
        while True:
            if closing.sends_data:
                pings, engine.pinger.due = engine.pinger.due, []
                for payload in pings:
                    await engine.write_event(Ping(payload=payload))
                if outbox:
                    # One message per batch: one cut short leaves the rest listed exactly.
                    message = outbox.take(0)[0]
                    try:
                        await engine.write_event(_message_event(message))
                    except BaseException:
                        self.broken = True
                        raise
                    self.confirm_written()
                    continue
            engine.pinger.due = []
            close = closing.close_due(queue_empty=not outbox)
            if close is None:
                return False
            self._logger.debug("sending close %d to %s", close[0], engine._url.for_log)
            await engine.write_event(CloseConnection(code=close[0], reason=close[1]))
            return True


def _message_event(message: object) -> Event:
    """The wsproto event of a queued message or piece (text pieces are whole characters)."""
    if type(message) is Piece:
        if message.text:
            return TextMessage(data=message.data.decode("utf-8"), message_finished=message.final)
        return BytesMessage(data=message.data, message_finished=message.final)
    if type(message) is str:
        return TextMessage(data=message)
    assert type(message) is bytes
    return BytesMessage(data=message)


class _RefusedHook(EventHook[Any]):
    """``on_incomplete_frame`` of the trio-websocket engine: it hands out whole messages only."""

    __slots__ = ()

    def __iadd__(self, handler: Any) -> _RefusedHook:
        raise ValueError(
            "engine='trio-websocket' cannot honour on_incomplete_frame: trio-websocket "
            "delivers whole messages only; use the default engine for messages in pieces"
        )


def refuse_incomplete_frames(owner: object) -> None:
    """Make ``owner.on_incomplete_frame += handler`` raise (see ``_RefusedHook``)."""
    owner.__dict__["_hook_on_incomplete_frame"] = _RefusedHook("on_incomplete_frame")
