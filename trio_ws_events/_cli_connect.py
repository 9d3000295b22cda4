"""``trio-ws-events connect URL``: talk to a WebSocket server from a terminal or a pipe.

In a terminal (stdin and stdout both TTYs, and prompt_toolkit installed) lines are typed at a
prompt that stays below the output: prompt_toolkit's ``patch_stdout`` prints every message
above it. The prompt runs in a worker thread (``trio.to_thread``), one line per call, so the
connection, its handlers and the printing stay in the Trio thread.

Anywhere else (a pipe, a file, no prompt_toolkit) each line read from stdin is sent. At the
end of piped input the command waits for the replies (one per line sent) while they keep
coming, at most ``--wait`` seconds, then closes with 1000; typed input (Ctrl-D) closes at once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime
import os
import signal
import sys
import threading
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, Final

import trio

from ._errors import HandshakeRejected, SendBufferFull, WebSocketError
from ._reconnecting import ReconnectingWebSocket
from ._sansio.reconnect import Backoff, Ending
from ._sansio.state import State
from ._websocket import WebSocket

if TYPE_CHECKING:
    from ._events import Stats

__all__ = ["add_connect_command"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
#: A binary message is shown as a hex dump of at most this many bytes.
HEXDUMP_LIMIT: Final = 1024
#: Of a rejected handshake's response body, the first line is shown, cut at this many characters.
REJECTION_LINE_LIMIT: Final = 200
#: SIGTERM is how service managers and test harnesses stop a command: treat it like Ctrl-C.
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

_GREEN, _CYAN, _YELLOW, _RED, _RESET = "\x1b[32m", "\x1b[36m", "\x1b[33m", "\x1b[31m", "\x1b[0m"
# Control characters from the server must not drive the terminal: show them escaped.
_ESCAPES = {
    code: f"\\x{code:02x}" for code in [*range(0x20), *range(0x7F, 0xA0)] if code not in (9, 10)
}


def add_connect_command(commands: Any) -> None:
    """Add ``connect`` to the ``add_subparsers()`` object ``commands`` of the main parser."""
    connect = commands.add_parser(
        "connect",
        help="talk to a WebSocket server: type lines, see messages as they arrive",
        description="Open a WebSocket to URL. Each line typed (or read from a pipe) is sent as "
        "one text message; every message is printed with a timestamp, '<' for incoming and "
        "'>' for outgoing. Ctrl-D closes with 1000, Ctrl-C with 1001. Exit status: 0 after a "
        "close handshake, 1 after an error, 2 for bad arguments, 130 when interrupted before "
        "the connection opened.",
    )
    connect.add_argument("url", help="ws:// or wss:// URL")
    connect.add_argument(
        "-H",
        "--header",
        action="append",
        default=[],
        metavar="NAME:VALUE",
        type=_header,
        help="an extra request header; repeat for several",
    )
    connect.add_argument(
        "-s",
        "--subprotocol",
        action="append",
        default=[],
        metavar="P",
        help="a subprotocol to offer; repeat for several, in order of preference",
    )
    connect.add_argument(
        "--ping-interval",
        type=_seconds,
        default=20.0,
        metavar="S",
        help="seconds between keepalive pings, 0 for none (default: %(default)g)",
    )
    connect.add_argument(
        "--binary",
        action="store_true",
        help="send each line as a binary message, written in hex: '00ff10' or '00 ff 10'",
    )
    connect.add_argument(
        "--no-color", action="store_true", help="no colors (also when NO_COLOR is set)"
    )
    connect.add_argument(
        "--wait",
        type=_seconds,
        default=10.0,
        metavar="S",
        help="when input is not a terminal: after the end of input, wait for the replies "
        "(one per line sent) at most S seconds before closing (default: %(default)g)",
    )
    connect.add_argument(
        "--idle",
        type=_seconds,
        default=1.0,
        metavar="S",
        help="when input is not a terminal: stop waiting for replies once none has arrived "
        "for S seconds (default: %(default)g)",
    )
    connect.add_argument(
        "--reconnect",
        action="store_true",
        help="when the connection drops, connect again (backoff 0.5 s doubling to 30 s); "
        "lines typed meanwhile are sent once connected",
    )
    connect.set_defaults(command=run_connect)


def _header(text: str) -> tuple[str, str]:
    name, colon, value = text.partition(":")
    if not colon or not name.strip():
        raise argparse.ArgumentTypeError(f"header must be NAME:VALUE, got {text!r}")
    return name.strip(), value.strip()


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"seconds must be 0 or more, got {text!r}")
    return value


# ----------------------------------------------------------------------------- output


class Printer:
    """Prints messages and status lines, each with a timestamp and a direction mark.

    Messages (``<`` in, ``>`` out) go to stdout, status lines (``*``) and errors (``!``) to
    stderr, so that a script can keep only what was exchanged. ``sys.stdout`` is looked up at
    each call: ``patch_stdout`` replaces it while the prompt runs.
    """

    def __init__(self, *, color: bool) -> None:
        self._color = color

    def message(self, mark: str, data: str | bytes) -> None:
        """Print one message sent (``>``) or received (``<``)."""
        paint = _GREEN if mark == "<" else _CYAN
        if isinstance(data, str):
            self._emit(sys.stdout, mark, paint, _printable(data).split("\n"))
        else:
            self._emit(sys.stdout, mark, paint, [f"binary, {len(data)} bytes", *_hexdump(data)])

    def status(self, text: str) -> None:
        """Print a status line: connected, closing, closed."""
        self._emit(sys.stderr, "*", _YELLOW, [text])

    def error(self, text: str) -> None:
        """Print an error line."""
        self._emit(sys.stderr, "!", _RED, [text])

    def _emit(self, stream: Any, mark: str, paint: str, lines: list[str]) -> None:
        stamp = datetime.datetime.now().strftime("%H:%M:%S.%f")[:-3]
        if self._color:
            mark = f"{paint}{mark}{_RESET}"
        indent = " " * (len(stamp) + 3)
        text = "\n".join([f"{stamp} {mark} {lines[0]}", *(indent + line for line in lines[1:])])
        print(text, file=stream, flush=True)


def _printable(text: str) -> str:
    return text.translate(_ESCAPES)


def _hexdump(data: bytes) -> list[str]:
    """``0000  00 01 ...  |..|`` lines, 16 bytes each, for at most HEXDUMP_LIMIT bytes."""
    lines = []
    for offset in range(0, min(len(data), HEXDUMP_LIMIT), 16):
        row = data[offset : offset + 16]
        hexes = " ".join(f"{byte:02x}" for byte in row)
        shown = "".join(chr(byte) if 0x20 <= byte < 0x7F else "." for byte in row)
        lines.append(f"{offset:04x}  {hexes:<47}  |{shown}|")
    if len(data) > HEXDUMP_LIMIT:
        lines.append(f"... {len(data) - HEXDUMP_LIMIT} more bytes")
    return lines


def _use_color(no_color: bool) -> bool:
    return not no_color and not os.environ.get("NO_COLOR") and sys.stdout.isatty()


# ----------------------------------------------------------------------------- the session


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
        if isinstance(error, HandshakeRejected) and (said := _first_line(error.body)):
            self.printer.error(f"the server said: {said}")

    def _on_reconnecting(
        self, ws: ReconnectingWebSocket, attempt: int, delay: float, why: Ending
    ) -> None:
        cause = f"{type(why.error).__name__}: {why.error}" if why.error else f"closed {why.code}"
        self.printer.status(f"{cause}; reconnecting in {delay:.1f}s (attempt {attempt})")


def _first_line(body: bytes) -> str:
    """The first non-blank line of ``body``, decoded, escaped and cut to a bounded length."""
    # Only the head is decoded: a 64 KiB body with no newline costs no more than a short one.
    head = body[: REJECTION_LINE_LIMIT * 4].decode("utf-8", errors="replace")
    line = next((line.strip() for line in head.splitlines() if line.strip()), "")
    shown = _printable(line)
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


async def run_connect(args: argparse.Namespace) -> int:
    """``connect``: open the WebSocket, feed it lines, print until the connection ends."""
    options: dict[str, Any] = {
        "protocols": args.subprotocol,
        "headers": args.header,
        "ping_interval": args.ping_interval or None,
    }
    try:
        ws: WebSocket | ReconnectingWebSocket
        if args.reconnect:
            ws = ReconnectingWebSocket(args.url, backoff=Backoff(), **options)
        else:
            ws = WebSocket(args.url, **options)
    except (ValueError, TypeError) as exc:
        print(f"trio-ws-events connect: {exc}", file=sys.stderr)
        return EXIT_USAGE
    printer = Printer(color=_use_color(args.no_color))
    session = Session(ws, printer, binary=args.binary)
    prompt = _Prompt.create() if sys.stdin.isatty() and sys.stdout.isatty() else None
    if prompt is None:
        typed = sys.stdin.isatty()  # Ctrl-D in a terminal closes at once, without --wait
        await _run(session, _LineReader(session, args.wait, args.idle, typed=typed))
    else:
        with prompt.patched_stdout():
            await _run(session, _PromptReader(session, prompt))
    return session.status


async def _run(session: Session, reader: _Reader) -> None:
    ws = session.ws
    with trio.open_signal_receiver(*_STOP_SIGNALS) as signals:
        async with trio.open_nursery() as outer:
            ws.open(outer)
            async with trio.open_nursery() as inner:
                inner.start_soon(_watch_signals, session, signals, outer.cancel_scope)
                inner.start_soon(reader.run)
                await ws.wait_closed()
                reader.stop()
                inner.cancel_scope.cancel()


async def _watch_signals(
    session: Session, signals: AsyncIterator[int], everything: trio.CancelScope
) -> None:
    """The first Ctrl-C (or SIGTERM) closes with 1001; the second stops waiting.

    While connecting, the first one gives up the attempt: the command then exits 130.
    """
    async for _ in signals:
        if session.alive:
            session.close(1001)
        else:
            session.interrupted = not session.opened.is_set()
            everything.cancel()


class _Reader:
    async def run(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        """Called from the Trio thread once the connection is over."""


class _LineReader(_Reader):
    """Lines from a pipe or a file; at the end of input, wait for replies, then close.

    Typed lines (a terminal without prompt_toolkit) close at once at Ctrl-D instead.
    """

    def __init__(self, session: Session, wait: float, idle: float, *, typed: bool) -> None:
        self.session = session
        self.wait = wait
        self.idle = idle
        self.typed = typed

    async def run(self) -> None:
        session, ws = self.session, self.session.ws
        await session.opened.wait()
        async for raw in _stdin_lines():
            if not session.alive:
                break
            message = self._decode(raw)
            if message is None:
                continue
            await ws.drain()  # backpressure: a large input waits for the network
            if not session.alive:
                break
            try:
                ws.send(message)
            except SendBufferFull:  # larger than the room left: wait for more room
                try:
                    await ws.send_wait(message)
                except WebSocketError:
                    return  # the connection ended meanwhile: the terminal event says how
            # Printed at once, so that "> line" always comes before the reply's "< line".
            session.sent(message)
        if session.alive:
            if not self.typed:
                await self._await_replies()
            session.close(1000)

    async def _await_replies(self) -> None:
        """Wait until each line had its reply, or none came for ``idle`` s, or ``wait`` s."""
        session = self.session
        idle = False
        with trio.move_on_after(self.wait):
            while session.outstanding and not idle:
                with trio.move_on_after(self.idle) as quiet:
                    await session.arrived.wait()
                idle = quiet.cancelled_caught
        if session.outstanding and session.ws.is_open:
            why = f"none for {self.idle:g} s" if idle else f"--wait {self.wait:g} s ran out"
            plural = "y" if session.outstanding == 1 else "ies"
            session.printer.status(f"{session.outstanding} repl{plural} outstanding ({why})")

    def _decode(self, raw: bytes) -> str | bytes | None:
        line = raw.removesuffix(b"\n").removesuffix(b"\r")
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            self.session.printer.error(f"not sent: line is not valid UTF-8: {line!r}")
            self.session.outcome.bad_lines += 1
            return None
        return self.session.send_line(text)


async def _stdin_lines() -> AsyncIterator[bytes]:
    """The lines of stdin, each with its newline (the last one may lack it)."""
    fd = sys.stdin.fileno()
    pending = b""
    while True:
        # os.read, not sys.stdin.buffer: a thread abandoned in a buffered read would hold the
        # buffer's lock, and the interpreter aborts at exit when a daemon thread holds one.
        chunk = await trio.to_thread.run_sync(os.read, fd, 65536, abandon_on_cancel=True)
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield line + b"\n"
    if pending:
        yield pending


class _PromptReader(_Reader):
    """Lines typed at the prompt; Ctrl-D closes with 1000, Ctrl-C with 1001."""

    def __init__(self, session: Session, prompt: _Prompt) -> None:
        self.session = session
        self.prompt = prompt

    async def run(self) -> None:
        session, ws = self.session, self.session.ws
        await session.opened.wait()
        if session.alive:
            session.printer.status(
                "type a line to send it; Ctrl-D closes with 1000, Ctrl-C with 1001"
            )
        while session.alive:
            # Not abandoned on cancel: stop() ends the prompt, and the terminal must be
            # restored before the command goes on.
            line = await trio.to_thread.run_sync(self.prompt.read)
            if not session.alive:
                break
            if line is _EOF:
                session.close(1000)
            elif line is _INTERRUPT:
                session.close(1001)
            else:
                assert isinstance(line, str)
                message = session.send_line(line)
                if message is not None:
                    ws.send(message)
                    session.sent(message)

    def stop(self) -> None:
        self.prompt.stop()


_EOF = object()
_INTERRUPT = object()


class _Prompt:
    """A prompt_toolkit session whose ``read`` runs in a worker thread and can be stopped."""

    def __init__(self, session: Any, patch_stdout: Callable[..., Any]) -> None:
        self._session = session
        self._patch_stdout = patch_stdout
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped = False

    @classmethod
    def create(cls) -> _Prompt | None:
        """A prompt, or ``None`` when prompt_toolkit is not installed (plain lines then)."""
        try:
            from prompt_toolkit import PromptSession
            from prompt_toolkit.patch_stdout import patch_stdout
        except ImportError:
            print(
                "trio-ws-events connect: install trio-ws-events[cli] (prompt_toolkit) for the "
                "interactive prompt; reading plain lines instead",
                file=sys.stderr,
            )
            return None
        # erase_when_done: the typed line is replaced by its timestamped "> " record.
        return cls(PromptSession(erase_when_done=True), patch_stdout)

    def patched_stdout(self) -> Any:
        """Context manager: while it is active, prints appear above the prompt."""
        return self._patch_stdout(raw=True)

    def read(self) -> object:
        """One line, ``_EOF`` (Ctrl-D, or stopped) or ``_INTERRUPT`` (Ctrl-C); in a thread."""
        with self._lock:
            if self._stopped:
                return _EOF
        try:
            line: str = self._session.prompt("> ", pre_run=self._started)
        except EOFError:
            return _EOF
        except KeyboardInterrupt:
            return _INTERRUPT
        finally:
            with self._lock:
                self._loop = None
        return line

    def stop(self) -> None:
        """End the current and every later ``read``; from any thread."""
        with self._lock:
            self._stopped = True
            loop = self._loop
            if loop is not None:
                # RuntimeError: the loop has closed, so read() is returning anyway.
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(self._exit)

    def _started(self) -> None:
        # In the prompt's own event loop, once the application runs.
        with self._lock:
            self._loop = asyncio.get_running_loop()
            if self._stopped:
                self._exit()

    def _exit(self) -> None:
        app = self._session.app
        if app.is_running and not app.is_done:
            app.exit(exception=EOFError)
