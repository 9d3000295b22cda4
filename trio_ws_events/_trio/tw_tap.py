"""What the trio-websocket engine sees of a ``trio_websocket.WebSocketConnection``'s wire.

trio-websocket hands out whole messages only (``get_message``). Pings, pongs, the close frames
both ways and the violations wsproto finds never reach its public API, and it reports a
violation as a close from the peer, without sending a close frame. ``WsprotoTap`` stands in for
the connection's wsproto object (the private ``_wsproto`` attribute, see
``TRIO_WEBSOCKET_INTERNALS``), passes every call through, and tells the engine what it saw.
A violation is made right here: trio-websocket is shown the state of a peer's close, so it
answers with the violation's code (1002, 1007) as it answers a close frame.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, Protocol

import wsproto
from wsproto.connection import ConnectionState
from wsproto.events import BytesMessage, CloseConnection, Event, Ping, Pong, TextMessage

from .._sansio.closing import truncate_reason

if TYPE_CHECKING:
    from collections.abc import Iterator

    import trio_websocket

__all__ = ["TRIO_WEBSOCKET_INTERNALS", "Listener", "WsprotoTap", "install_tap"]

#: Every private part of ``trio_websocket.WebSocketConnection`` this engine relies on; a test
#: (tests/engines/test_tw_internals.py) checks each against the installed trio-websocket.
TRIO_WEBSOCKET_INTERNALS: Final = (
    # Replaced by the tap; its reader task looks it up on every use.
    "WebSocketConnection._wsproto",
    # Writes one wsproto event: pings, close frames, the pieces of a message.
    "WebSocketConnection._send",
    # The byte stream: closed at the end, asked for its addresses.
    "WebSocketConnection._stream",
    # Answers a close seen in REMOTE_CLOSING: how a violation gets its close frame.
    "WebSocketConnection._handle_close_connection_event",
    # Started with start_soon as a bound method: the tap goes in before it runs.
    "WebSocketConnection._reader_task",
    # The connection a server's request accepts: its tap goes in before the 101.
    "WebSocketRequest._connection",
)

_CLOSED_BY_PEER: Final = (ConnectionState.REMOTE_CLOSING, ConnectionState.CLOSED)


class Listener(Protocol):
    """The engine's side of the tap: called synchronously, from trio-websocket's reader."""

    def tap_received(self) -> None:
        """Bytes arrived (keepalive counts any of them as a sign of life)."""

    def tap_control(self, kind: str, payload: bytes, after: int) -> None:
        """A ping or pong arrived after ``after`` whole messages."""


class WsprotoTap:
    """Passes every call to the wsproto connection it wraps, noting the frames that pass.

    Attributes:
        peer_close: the peer's close frame (code, reason), once it arrived.
        violation: the code and reason of the peer's protocol violation, once found.
        own_close: the first close frame written to the peer (ours, trio-websocket's own
            1009, or the answer to the peer's or the violation's).
        messages: whole messages seen so far, to order pings and pongs among them.
        close_is_ours: the violation's close frame is left to the engine, to be written
            after the replies to the messages that came before the violation (client side;
            a server's trio-websocket closes the socket at once, so it answers itself).
    """

    def __init__(self, inner: wsproto.WSConnection, listener: Listener) -> None:
        self._inner = inner
        self._listener = listener
        self._answer_violation = False
        self.peer_close: tuple[int, str] | None = None
        self.violation: tuple[int, str] | None = None
        self.own_close: tuple[int, str] | None = None
        self.messages = 0
        self.close_is_ours = False

    @property
    def client(self) -> bool:
        return self._inner.client

    @property
    def state(self) -> ConnectionState:
        # Shown as a peer's close while a violation waits for its answer: trio-websocket then
        # writes the close frame the RFC asks for (7.1.7), as it answers a peer's close.
        if self._answer_violation:
            return ConnectionState.REMOTE_CLOSING
        return self._inner.state

    def send(self, event: Event) -> bytes:
        if isinstance(event, CloseConnection):
            if self._answer_violation:
                self._answer_violation = False
                if self._inner.client:
                    # trio-websocket's answer to the violation: not yet; the engine writes
                    # it once the handlers of the earlier messages have sent their replies.
                    self.close_is_ours = True
                    return b""
            # 1006 is trio-websocket moving wsproto's state when the stream broke: its bytes
            # are never written.
            if self.own_close is None and event.code != 1006:
                self.own_close = (int(event.code), event.reason or "")
        return self._inner.send(event)

    def receive_data(self, data: bytes | None) -> None:
        if data:
            self._listener.tap_received()
        self._inner.receive_data(data)

    def events(self) -> Iterator[Event]:
        for event in self._inner.events():
            kind = type(event)
            if kind is TextMessage or kind is BytesMessage:
                self.messages += event.message_finished  # type: ignore[attr-defined]
            elif kind is Ping or kind is Pong:
                name = "ping" if kind is Ping else "pong"
                self._listener.tap_control(name, bytes(event.payload), self.messages)  # type: ignore[attr-defined]
            elif kind is CloseConnection:
                assert isinstance(event, CloseConnection)
                event = self._close_event(event)
            yield event

    def _close_event(self, event: CloseConnection) -> CloseConnection:
        reason = event.reason or ""
        if self._inner.state in _CLOSED_BY_PEER:
            if self.peer_close is None:
                self.peer_close = (int(event.code), reason)
            return event
        # wsproto reports a violation as a close event without a close frame having come:
        # its state did not move.
        reason = truncate_reason(reason)
        if self.violation is None and self.peer_close is None:
            self.violation = (int(event.code), reason)
        if self._inner.state is ConnectionState.OPEN:
            self._answer_violation = True
        return CloseConnection(code=event.code, reason=reason)

    def catch_up(self, conn: trio_websocket.WebSocketConnection) -> None:
        """Learn how ``conn`` ended when it ended unseen: before the tap was installed, or
        in a batch of events trio-websocket took from wsproto before it."""
        closed = conn.closed
        if closed is None or self.peer_close or self.violation:
            return
        state = self._inner.state
        if state in _CLOSED_BY_PEER:
            # trio-websocket answered the peer's close (CLOSED), or will (REMOTE_CLOSING: its
            # answer then passes the tap).
            self.peer_close = (int(closed.code), closed.reason or "")
            if state is ConnectionState.CLOSED and self.own_close is None:
                self.own_close = self.peer_close
        elif closed.code != 1006 and state is ConnectionState.OPEN and not self.own_close:
            # A violation: trio-websocket reported it and sent nothing; the engine will.
            self.violation = (int(closed.code), truncate_reason(closed.reason or ""))
            self.close_is_ours = True

    def writable(self, conn: trio_websocket.WebSocketConnection) -> bool:
        """Whether frames may still be written: trio-websocket has not closed, or the
        violation's close frame (and what goes before it) is ours to write."""
        if conn.closed is not None and not self.close_is_ours:
            self.catch_up(conn)  # a violation trio-websocket took from wsproto before the tap
        return conn.closed is None or self.close_is_ours

    def __getattr__(self, name: str) -> Any:
        # Anything else trio-websocket asks of wsproto goes to wsproto itself.
        return getattr(self._inner, name)


def install_tap(conn: trio_websocket.WebSocketConnection, listener: Listener) -> WsprotoTap:
    """Put a tap in place of ``conn``'s wsproto connection (once) and return it.

    Raises:
        TypeError: ``conn`` already has a tap: it runs the events of another ``WebSocket``.
    """
    inner = conn._wsproto
    if isinstance(inner, WsprotoTap):
        raise TypeError(
            "this trio_websocket.WebSocketConnection already runs the events of another "
            "WebSocket; adopt a connection once"
        )
    tap = WsprotoTap(inner, listener)
    conn._wsproto = tap  # type: ignore[assignment]
    tap.catch_up(conn)
    return tap
