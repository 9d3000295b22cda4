"""What a user reads from a [`WebSocket`][]: its properties over the engine, its messages
(``async for``) and its end (``wait_closed``), with the refusals that read the engine's state."""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from ._calls import get_ident, wrong_thread
from ._errors import InvalidStateError
from ._sansio.state import State
from ._trio.iterate import MessageIterator, start_iteration

if TYPE_CHECKING:
    from ._events import Stats
    from ._options import Options
    from ._trio.engine import Engine
    from ._typing import Address
    from ._websocket import WebSocket  # noqa: F401  (the docstrings link through it)

__all__ = ["WebSocketReadout"]


class WebSocketReadout:
    """The properties, ``wait_closed`` and ``async for`` of [`WebSocket`][], read from its engine
    (a base of that class only)."""

    _options: Options
    _engine: Engine
    _shown_url: str

    @property
    def url(self) -> str:
        """The URL, normalised to ``ws://`` or ``wss://``, without credentials.

        The query string is kept (``repr(ws)`` and log records above DEBUG show ``?...``).
        """
        return self._shown_url

    @property
    def state(self) -> State:
        """The current [`State`][]."""
        return self._engine.state

    @property
    def is_open(self) -> bool:
        """``True`` exactly while [`state`][] is ``State.OPEN``."""
        return self._engine.state is State.OPEN

    @property
    def close_code(self) -> int | None:
        """The close code, once the terminal event fires; ``None`` before.

        After ``on_closed``, the code it received. After ``on_error``, the code the client
        sent, or 1006 when no close frame was sent.
        """
        return self._engine.close_code

    @property
    def close_reason(self) -> str | None:
        """The close reason that goes with [`close_code`][]; ``None`` before the end."""
        return self._engine.close_reason

    @property
    def buffered_amount(self) -> int:
        """Payload bytes (UTF-8 for text) accepted by [`send`][WebSocket.send], not yet given
        to the socket."""
        return self._engine.outbox.buffered_amount

    @property
    def unsent(self) -> tuple[str | bytes, ...]:
        """Messages given to [`send`][WebSocket.send] that were never written, in order.

        Filled in when the terminal event fires; empty until then and when all went out.
        """
        return self._engine.unsent

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol the server chose, or ``None``."""
        return self._engine.subprotocol

    @property
    def response_headers(self) -> list[tuple[str, str]]:
        """The headers of the server's handshake response, once open; empty before."""
        return self._engine.response_headers

    @property
    def extensions(self) -> str | None:
        """The negotiated extension, e.g. ``"permessage-deflate"``, or ``None``."""
        return self._engine.extensions

    @property
    def latency(self) -> float | None:
        """Round-trip time in seconds of the most recent ping answered; ``None`` before."""
        return self._engine.latency

    @property
    def stats(self) -> Stats:
        """A snapshot of this connection's message and byte counters and timings."""
        return self._engine.stats()

    @property
    def last_message_received(self) -> float | None:
        """The ``trio.current_time()`` when the last frame arrived; ``None`` before open."""
        return self._engine.last_message_received

    @property
    def local_address(self) -> Address | None:
        """This end of the TCP connection, ``(host, port)``, from OPEN on; ``None`` before.

        Kept after the connection ends. Through a proxy it is this end of the connection to
        the proxy.
        """
        addresses = self._engine.addresses
        return addresses[0] if addresses is not None else None

    @property
    def remote_address(self) -> Address | None:
        """The peer of the TCP connection, ``(host, port)``, from OPEN on; ``None`` before.

        Kept after the connection ends. Through a proxy the socket's peer is the proxy, so
        this is the proxy's address, not the server's.
        """
        addresses = self._engine.addresses
        return addresses[1] if addresses is not None else None

    def __repr__(self) -> str:
        # Without the query string: reprs end up in logs, and queries often carry tokens.
        return f"<WebSocket {self._options.url.for_log} {self._engine.state.name}>"

    async def wait_closed(self) -> None:
        """Wait until the terminal event (``on_closed`` or ``on_error``) has run.

        Cancellation: safe; it only waits.

        Raises:
            InvalidStateError: [`open`][WebSocket.open] was never called, so it would wait
                forever (right after [`open`][WebSocket.open] it is fine).
            RuntimeError: called from a thread other than the one running Trio.
        """
        self._check_thread("wait_closed")
        if self._engine.state is State.INITIAL:
            raise InvalidStateError(
                f"cannot wait_closed: open() was never called on {self._shown_url}, so it "
                "would wait forever; call open(nursery) first (wait_closed() may follow it "
                "at once)",
                url=self._shown_url,
            )
        await trio.lowlevel.checkpoint()
        await self._engine.done.wait()

    def __aiter__(self) -> MessageIterator:
        """``async for message in ws``: each whole message, ``str`` or ``bytes``, in order.

        Handlers and the loop both see every message: the handlers first, then the loop.
        The connection waits for the loop to take each message, so a slow loop slows
        reading, as a slow handler does. The loop ends after ``on_closed`` and raises the
        error after ``on_error``. Leaving it (``break``) keeps the connection open; later
        messages go to the handlers only. See [`MessageIterator`][].

        Raises:
            InvalidStateError: ``open`` was not called, or another ``async for`` over
                this instance is still running.
            RuntimeError: called from a thread other than the one running Trio.
        """
        self._check_thread("__aiter__")
        return start_iteration(self._engine)

    def _check_thread(self, what: str) -> None:
        """Refuse a call from outside the Trio thread, before it changes anything.

        The thread is the one ``open()`` ran in; before that no task exists to race with.
        """
        thread = self._engine.thread
        if thread is not None and get_ident() != thread:
            raise RuntimeError(wrong_thread(what))

    def _not_open(self, what: str) -> str:
        if self._engine.state is State.INITIAL:
            return (
                f"cannot {what}: connection to {self._shown_url} is not open yet: open() "
                f"was not called; call open(nursery), then {what} from on_open or later"
            )
        if self._engine.state is State.CONNECTING:
            return (
                f"cannot {what}: connection to {self._shown_url} is not open yet "
                f"(CONNECTING); {what} from an on_open handler or after on_open, or use "
                "`async with WebSocket(url) as ws:`, which returns once it is open"
            )
        return f"cannot {what}: connection to {self._shown_url} is {self._engine.state.name}"
