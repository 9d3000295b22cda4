"""The seam between ``WebSocket`` and whatever runs its connection: two small interfaces.

``WebSocket`` keeps the handlers, checks every argument and owns the public methods; an
engine (today ``connection.Connection``, the driver of our own protocol; next the events
over a trio-websocket connection, issue 13) keeps the state and the tasks. ``Engine`` is
what the WebSocket reads and calls; ``Owner`` is what an engine reads back from the
WebSocket it serves. ``send()`` is the hot path: it reads ``Engine``'s attributes directly
(the thread, the state, the outbox, the bounds, the events), with no call per message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import trio

from .._errors import WebSocketError
from .._events import Stats
from .._handlers import EventHook
from .._sansio.outbox import Outbox
from .._sansio.state import State
from .._typing import Address

if TYPE_CHECKING:
    from .iterate import Feed
    from .wakeup import Wakeup

__all__ = ["Engine", "Owner"]


class Owner(Protocol):
    """What an engine needs from the ``WebSocket`` it serves: the hooks to dispatch, and
    whether the ``async with`` form runs it. Handlers receive the owner as first argument."""

    @property
    def on_open(self) -> EventHook[Any]: ...
    @property
    def on_message(self) -> EventHook[Any]: ...
    @property
    def on_binary(self) -> EventHook[Any]: ...
    @property
    def on_incomplete_frame(self) -> EventHook[Any]: ...
    @property
    def on_ping(self) -> EventHook[Any]: ...
    @property
    def on_pong(self) -> EventHook[Any]: ...
    @property
    def on_closed(self) -> EventHook[Any]: ...
    @property
    def on_error(self) -> EventHook[Any]: ...

    #: The nursery of the ``async with`` form, or ``None`` (``open(nursery)``).
    _nursery_cm: Any


class Engine(Protocol):
    """What a ``WebSocket`` needs from whatever runs its connection.

    The WebSocket has checked every argument before it calls a method here, so none of them
    raises ``TypeError`` or ``ValueError`` for a bad argument; they change state only.
    """

    # Read by send() on every message: plain attributes.
    shown_url: str
    thread: int | None
    token: trio.lowlevel.TrioToken | None
    state: State
    outbox: Outbox
    max_buffered: int
    low_water: int
    drained: trio.Event
    written: trio.Event
    wake: Wakeup

    # The ending and its accounting.
    ready: trio.Event
    done: trio.Event
    entered: trio.Event
    error: WebSocketError | None
    unsent: tuple[str | bytes, ...]
    close_code: int | None
    close_reason: str | None
    extensions: str | None
    addresses: tuple[Address, Address] | None
    feed: Feed | None

    @property
    def subprotocol(self) -> str | None: ...
    @property
    def response_headers(self) -> list[tuple[str, str]]: ...
    @property
    def latency(self) -> float | None: ...
    @property
    def last_message_received(self) -> float | None: ...

    def stats(self) -> Stats:
        """A snapshot of the counters and timings."""
        ...

    def start(self, nursery: trio.Nursery) -> None:
        """Start the connection's task in ``nursery`` (INITIAL to CONNECTING).

        Raises:
            RuntimeError: ``nursery`` no longer accepts tasks; nothing changed.
        """
        ...

    def close(self, code: int, reason: str) -> None:
        """Abandon the attempt (before OPEN) or start the close handshake (OPEN)."""
        ...

    def write_now(self) -> bool:
        """Write what ``send()`` has just queued at once, if nothing else is due; False when
        the sender must (``send()`` then sets ``wake``)."""
        ...

    def fail(self, error: WebSocketError, code: int, reason: str = "") -> None:
        """End the connection for a local reason: stop delivering, close with ``code``."""
        ...

    def awaiting(self, payload: bytes) -> bool:
        """Whether a ping with ``payload`` is already waiting for its pong."""
        ...

    async def ping(self, payload: bytes) -> float:
        """Send a ping; the round trip in seconds once its pong arrived.

        Raises:
            InvalidStateError: the connection ended before the pong.

        Cancellation: safe; a pong arriving later is ignored.
        """
        ...

    async def drain(self) -> None:
        """Wait until the buffer is at most ``low_water`` or the end. Cancellation: safe."""
        ...
