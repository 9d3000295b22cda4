"""The ``trio-ws-events`` command: ``connect``, ``serve`` and ``demo``.

``trio-ws-events connect URL`` talks to a server from the terminal or a pipe (``_cli_connect``).
``trio-ws-events demo`` (or ``python -m trio_ws_events demo``) starts the embedded echo server
on a free 127.0.0.1 port and runs the walkthrough against it, printing each event as it fires.
``trio-ws-events serve --port N`` runs the echo server alone until Ctrl-C, which closes its
clients with 1001.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

import trio

from ._cli_connect import add_connect_command
from ._version import __version__
from ._websocket import WebSocket
from .testing._echo import ECHO_MAX_MESSAGE_SIZE, EchoClients, _open_server, open_echo_server

if TYPE_CHECKING:
    from ._errors import WebSocketError

__all__ = ["main"]

#: What the walkthrough sends, and expects back from the echo server.
DEMO_TEXT = "Hello from trio-ws-events"
DEMO_BINARY = b"\x00\x01\x02\x03 binary \xfc\xfd\xfe\xff"
DEMO_CLOSE = (1000, "bye")
#: The whole walkthrough takes milliseconds; past this something is stuck.
DEMO_TIMEOUT = 30.0
#: Exit statuses, in the shell's conventions.
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

#: When ``serve`` stops, how long its clients get to answer the 1001 close frame.
SERVE_CLOSE_TIMEOUT = 2.0
#: The ports one can listen on; 0 picks a free one.
PORTS = range(65536)

# SIGTERM is how service managers and test harnesses stop ``serve``: treat it like Ctrl-C.
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``) and return the exit status.

    Args:
        argv: the arguments after the program name.

    Returns:
        0 on success (for ``connect``: the connection ended with a close handshake), 1 when
        the demo or the connection fails or the server cannot listen, 2 for a usage error,
        130 when interrupted.
    """
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        # argparse exits for --help and for usage errors; main() returns a status instead, so
        # that tests and embedding programs can call it.
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    command: Callable[[argparse.Namespace], Awaitable[int]] = args.command
    try:
        return trio.run(command, args)
    except KeyboardInterrupt:
        # Only reached when Ctrl-C lands before the signal receiver is installed.
        return EXIT_INTERRUPTED


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trio-ws-events",
        description="An event-driven WebSocket client for Trio: an interactive client, an "
        "echo server and a demo.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    add_connect_command(commands)

    demo = commands.add_parser(
        "demo",
        help="run the walkthrough against an embedded echo server",
        description="Start an echo server on a free 127.0.0.1 port, open a WebSocket to it, "
        "send a text and a binary message, close with 1000 'bye', and print each event.",
    )
    demo.set_defaults(command=_demo)

    serve = commands.add_parser(
        "serve",
        help="run the echo server until Ctrl-C",
        description="Run a WebSocket echo server: text comes back as text, binary as binary, "
        "and a client's close code and reason are echoed. Ctrl-C or SIGTERM stops it, closing "
        f"each client with 1001 (waiting at most {SERVE_CLOSE_TIMEOUT:g} s for their answers).",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    serve.add_argument(
        "--port",
        type=_port,
        default=8765,
        help="port to bind, 0 for any free one (default: %(default)s)",
    )
    serve.set_defaults(command=_serve)
    return parser


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"port must be a number, got {text!r}") from None
    if port not in PORTS:
        raise argparse.ArgumentTypeError(f"port must be 0-65535, got {text!r}")
    return port


# ----------------------------------------------------------------------------- serve


async def _serve(args: argparse.Namespace) -> int:
    """``serve``: run the echo server until SIGINT or SIGTERM, then close clients with 1001."""
    clients = EchoClients()
    server = _open_server(args.host, args.port, ECHO_MAX_MESSAGE_SIZE, clients.handle)
    # The receiver is installed before the URL is printed: whoever reads that line may signal
    # at once, and the signal must stop the server cleanly rather than raise KeyboardInterrupt.
    with trio.open_signal_receiver(*_STOP_SIGNALS) as signals:
        async with contextlib.AsyncExitStack() as stack:
            try:
                url = await stack.enter_async_context(server)
            except OSError as exc:
                _complain(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}")
                return EXIT_FAILED
            _say(f"echo server listening on {url} (Ctrl-C to stop)")
            await _next_signal(signals)
            with trio.move_on_after(SERVE_CLOSE_TIMEOUT):
                await clients.close_all(1001, "")
    _say(f"echo server stopped{_goodbyes(clients.closed, clients.closing - clients.closed)}")
    return EXIT_OK


def _goodbyes(closed: int, late: int) -> str:
    """What ``serve`` says about its clients as it stops."""
    said = f": closed {closed} connection(s) with 1001" if closed else ""
    if late:
        said += f"; {late} did not answer within {SERVE_CLOSE_TIMEOUT:g} s and were dropped"
    return said


async def _next_signal(signals: AsyncIterator[int]) -> None:
    """Return when the next stop signal arrives."""
    async for _ in signals:
        return


# ----------------------------------------------------------------------------- demo


class _Walkthrough:
    """The handlers of the demo: print each event, and check the echoes and the close."""

    def __init__(self) -> None:
        self.echoes: list[str | bytes] = []
        self.closed: tuple[int, str] | None = None
        self.failed = False

    def on_open(self, ws: WebSocket) -> None:
        _say("on_open")
        _say(f"  -> send({DEMO_TEXT!r})")
        ws.send(DEMO_TEXT)
        _say(f"  -> send({DEMO_BINARY!r})")
        ws.send(DEMO_BINARY)

    def on_message(self, ws: WebSocket, message: str) -> None:
        _say(f"on_message: {message!r}")
        self._echoed(ws, message)

    def on_binary(self, ws: WebSocket, data: bytes) -> None:
        _say(f"on_binary: {len(data)} bytes {data!r}")
        self._echoed(ws, data)

    def on_closed(self, ws: WebSocket, code: int, reason: str) -> None:
        _say(f"on_closed: code={code} reason={reason!r}")
        self.closed = (code, reason)

    def on_error(self, ws: WebSocket, error: WebSocketError) -> None:
        _say(f"on_error: {type(error).__name__} (code={error.code}): {error}")
        self.failed = True

    @property
    def succeeded(self) -> bool:
        """Both echoes came back intact and the server echoed the close code and reason."""
        expected: list[str | bytes] = [DEMO_TEXT, DEMO_BINARY]
        return not self.failed and self.echoes == expected and self.closed == DEMO_CLOSE

    def _echoed(self, ws: WebSocket, message: str | bytes) -> None:
        self.echoes.append(message)
        if len(self.echoes) == 2:
            _say(f"  -> close{DEMO_CLOSE!r}")
            ws.close(*DEMO_CLOSE)


async def _demo(args: argparse.Namespace) -> int:
    """``demo``: the walkthrough against an embedded echo server; Ctrl-C stops it."""
    status = EXIT_INTERRUPTED
    with trio.open_signal_receiver(*_STOP_SIGNALS) as signals:
        async with trio.open_nursery() as nursery:

            async def walk_then_stop() -> None:
                nonlocal status
                status = await _walkthrough()
                nursery.cancel_scope.cancel()

            nursery.start_soon(walk_then_stop)
            await _next_signal(signals)
            _complain("interrupted")
            nursery.cancel_scope.cancel()
    return status


async def _walkthrough() -> int:
    """Run the walkthrough once and return its exit status."""
    async with open_echo_server() as url:
        _say(f"echo server listening on {url}")
        ws = WebSocket(url + "chat")
        walk = _Walkthrough()
        ws.on_open += walk.on_open
        ws.on_message += walk.on_message
        ws.on_binary += walk.on_binary
        ws.on_closed += walk.on_closed
        ws.on_error += walk.on_error
        _say(f"open({ws.url!r})")
        with trio.move_on_after(DEMO_TIMEOUT) as deadline:
            async with trio.open_nursery() as nursery:
                ws.open(nursery)
                await ws.wait_closed()
    if deadline.cancelled_caught:
        _complain(f"the demo did not finish within {DEMO_TIMEOUT:g} seconds")
        return EXIT_FAILED
    if not walk.succeeded:
        _complain("the demo did not end with both echoes and a clean close")
        return EXIT_FAILED
    return EXIT_OK


def _say(line: str) -> None:
    # Flushed so that each event shows the moment it fires, even through a pipe.
    print(line, flush=True)


def _complain(line: str) -> None:
    print(f"trio-ws-events: {line}", file=sys.stderr, flush=True)
