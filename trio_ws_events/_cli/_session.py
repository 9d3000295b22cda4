"""The ``connect`` session: the connection's handlers, what was sent, how it ended."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Final

import trio

from .._errors import HandshakeRejected, WebSocketError
from .._reconnecting import ReconnectingWebSocket
from .._sansio.reconnect import Ending
from .._sansio.state import State
from .._websocket import WebSocket
from ._common import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK
from ._output import Printer, printable

if TYPE_CHECKING:
    from .._events import Stats

__all__ = ["REJECTION_LINE_LIMIT", "Session", "first_line"]

#: Of a rejected handshake's response body, the first line is shown, cut at this many characters.
REJECTION_LINE_LIMIT: Final = 200


@dataclasses.dataclass
class _Outcome:
    closed: tuple[int, str] | None = None
    error: WebSocketError | None = None
    bad_lines: int = 0


class Session:
    """The connection's handlers and the sending of lines, shared by both input modes."""

    def __init__(
        self, ws: WebSocket | ReconnectingWebSocket, printer: Printer, *, binary: bool
    ) -> None:
        self.ws = ws
        self.printer = printer
        self.binary = binary
        self.outcome = _Outcome()
        self.opened = trio.Event()  # set when OPEN, or when the connection ended first
        self.interrupted = False  # Ctrl-C (or SIGTERM) before the connection opened
        self.sent_count = 0
        self.received_count = 0
        self.arrived = trio.Event()  # set, and replaced, by each message received
        # Each hook is typed with its own class (and invariant in it); these handlers take
        # either class, which a union of the two hooks cannot express.
        hooks: Any = ws
        hooks.on_open += self._on_open
        hooks.on_message += self._on_message
        hooks.on_binary += self._on_message
        hooks.on_closed += self._on_closed
        hooks.on_error += self._on_error
        if isinstance(ws, ReconnectingWebSocket):
            ws.on_reconnecting += self._on_reconnecting

    @property
    def alive(self) -> bool:
        """Whether lines may still be sent: open, or (with --reconnect) between connections."""
        if isinstance(self.ws, ReconnectingWebSocket):
            return self.ws.state in (State.CONNECTING, State.OPEN)
        return self.ws.is_open

    def send_line(self, line: str) -> str | bytes | None:
        """The message for ``line`` (hex-decoded with ``--binary``); ``None`` if invalid."""
        if not self.binary:
            return line
        try:
            return bytes.fromhex(line)
        except ValueError:
            self.printer.error(f"not sent: {line!r} is not hex (--binary expects '00ff10')")
            self.outcome.bad_lines += 1
            return None

    def sent(self, data: str | bytes) -> None:
        self.sent_count += 1
        self.printer.message(">", data)

    @property
    def outstanding(self) -> int:
        """Replies still to come if the server answers each message with one."""
        return max(0, self.sent_count - self.received_count)

    def close(self, code: int) -> None:
        """Close with ``code`` unless the connection is already ending."""
        if not self.ws.is_open:
            self.ws.close(code)  # abandons a connection attempt; harmless afterwards
            return
        self.printer.status(f"closing with {code}")
        self.ws.close(code)

    @property
    def status(self) -> int:
        """0 after a close handshake, 1 after an error or rejected input, 130 if interrupted."""
        if self.interrupted:
            return EXIT_INTERRUPTED
        if self.outcome.error is not None or self.outcome.closed is None:
            return EXIT_FAILED
        return EXIT_FAILED if self.outcome.bad_lines else EXIT_OK

    def _on_open(self, ws: WebSocket | ReconnectingWebSocket) -> None:
        attempt = _connection(ws)
        chosen = f", subprotocol {attempt.subprotocol!r}" if attempt.subprotocol else ""
        self.printer.status(f"connected to {ws.url}{chosen}")
        self.opened.set()

    def _on_message(self, ws: WebSocket | ReconnectingWebSocket, data: str | bytes) -> None:
        self.received_count += 1
        self.arrived.set()
        self.arrived = trio.Event()
        self.printer.message("<", data)

    def _on_closed(self, ws: WebSocket | ReconnectingWebSocket, code: int, reason: str) -> None:
        self.outcome.closed = (code, reason)
        stats = _connection(ws).stats
        self.printer.status(f"closed: code {code}, reason {reason!r}{_totals(stats)}")
        self.opened.set()

    def _on_error(self, ws: WebSocket | ReconnectingWebSocket, error: WebSocketError) -> None:
        self.outcome.error = error
        self.opened.set()
        if self.interrupted:
            self.printer.error("interrupted before the connection opened")
            return
        self.printer.error(f"{type(error).__name__}: {error}")
        if isinstance(error, HandshakeRejected) and (said := first_line(error.body)):
            self.printer.error(f"the server said: {said}")

    def _on_reconnecting(
        self, ws: ReconnectingWebSocket, attempt: int, delay: float, why: Ending
    ) -> None:
        cause = f"{type(why.error).__name__}: {why.error}" if why.error else f"closed {why.code}"
        self.printer.status(f"{cause}; reconnecting in {delay:.1f}s (attempt {attempt})")


def first_line(body: bytes) -> str:
    """The first non-blank line of ``body``, decoded, escaped and cut to a bounded length."""
    # Only the head is decoded: a 64 KiB body with no newline costs no more than a short one.
    head = body[: REJECTION_LINE_LIMIT * 4].decode("utf-8", errors="replace")
    line = next((line.strip() for line in head.splitlines() if line.strip()), "")
    shown = printable(line)
    if len(shown) > REJECTION_LINE_LIMIT:
        shown = shown[:REJECTION_LINE_LIMIT] + "..."
    return shown


def _connection(ws: WebSocket | ReconnectingWebSocket) -> WebSocket:
    """The WebSocket behind ``ws``: itself, or the current attempt of a reconnecting one."""
    if isinstance(ws, WebSocket):
        return ws
    assert ws.current is not None, "events fire only once an attempt exists"
    return ws.current


def _totals(stats: Stats) -> str:
    return f" ({stats.messages_sent} sent, {stats.messages_received} received)"
