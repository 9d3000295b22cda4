"""The lifecycle of a [`WebSocket`][trio_ws_events.WebSocket], as an enum with its legal moves."""

from __future__ import annotations

import enum

__all__ = ["State"]


class State(enum.Enum):
    """Where a [`WebSocket`][trio_ws_events.WebSocket] is in its single-use life.

    ``INITIAL -> CONNECTING -> OPEN -> CLOSING -> CLOSED``; a failed or abandoned attempt goes
    ``CONNECTING -> CLOSED``. An instance never leaves ``CLOSED``.
    """

    #: Constructed; ``open()`` has not been called.
    INITIAL = "INITIAL"
    #: TCP, TLS and the HTTP upgrade are under way.
    CONNECTING = "CONNECTING"
    #: The handshake completed: ``send()`` is allowed and messages are delivered.
    OPEN = "OPEN"
    #: A close frame was sent or received; waiting for the close handshake to finish.
    CLOSING = "CLOSING"
    #: Over: the socket is closed and the terminal event has fired or is firing.
    CLOSED = "CLOSED"

    def __repr__(self) -> str:
        return f"State.{self.name}"


_ALLOWED: dict[State, frozenset[State]] = {
    State.INITIAL: frozenset({State.CONNECTING}),
    State.CONNECTING: frozenset({State.OPEN, State.CLOSED}),
    State.OPEN: frozenset({State.CLOSING, State.CLOSED}),
    State.CLOSING: frozenset({State.CLOSED}),
    State.CLOSED: frozenset(),
}


def check_transition(old: State, new: State) -> None:
    """Raise ``AssertionError`` for a move the lifecycle does not allow (an internal bug)."""
    if new not in _ALLOWED[old]:
        raise AssertionError(f"illegal state transition {old.name} -> {new.name}")
