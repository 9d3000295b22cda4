"""``trio-ws-events serve``: the embedded echo server until Ctrl-C, which closes with 1001."""

from __future__ import annotations

import argparse
import contextlib
from typing import Any

import trio

from ..testing._echo import ECHO_MAX_MESSAGE_SIZE, EchoClients, _open_server
from ._common import EXIT_FAILED, EXIT_OK, STOP_SIGNALS, complain, next_signal, say

__all__ = ["SERVE_CLOSE_TIMEOUT", "add_serve_command"]

#: When ``serve`` stops, how long its clients get to answer the 1001 close frame.
SERVE_CLOSE_TIMEOUT = 2.0
#: The ports one can listen on; 0 picks a free one.
PORTS = range(65536)


def add_serve_command(commands: Any) -> None:
    """Add ``serve`` to the ``add_subparsers()`` object ``commands`` of the main parser."""
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


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"port must be a number, got {text!r}") from None
    if port not in PORTS:
        raise argparse.ArgumentTypeError(f"port must be 0-65535, got {text!r}")
    return port


async def _serve(args: argparse.Namespace) -> int:
    """``serve``: run the echo server until SIGINT or SIGTERM, then close clients with 1001."""
    clients = EchoClients()
    server = _open_server(args.host, args.port, ECHO_MAX_MESSAGE_SIZE, clients.handle)
    # The receiver is installed before the URL is printed: whoever reads that line may signal
    # at once, and the signal must stop the server cleanly rather than raise KeyboardInterrupt.
    with trio.open_signal_receiver(*STOP_SIGNALS) as signals:
        async with contextlib.AsyncExitStack() as stack:
            try:
                url = await stack.enter_async_context(server)
            except OSError as exc:
                complain(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}")
                return EXIT_FAILED
            say(f"echo server listening on {url} (Ctrl-C to stop)")
            await next_signal(signals)
            with trio.move_on_after(SERVE_CLOSE_TIMEOUT):
                await clients.close_all(1001, "")
    say(f"echo server stopped{_goodbyes(clients.closed, clients.closing - clients.closed)}")
    return EXIT_OK


def _goodbyes(closed: int, late: int) -> str:
    """What ``serve`` says about its clients as it stops."""
    said = f": closed {closed} connection(s) with 1001" if closed else ""
    if late:
        said += f"; {late} did not answer within {SERVE_CLOSE_TIMEOUT:g} s and were dropped"
    return said
