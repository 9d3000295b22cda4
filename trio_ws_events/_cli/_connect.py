"""``trio-ws-events connect URL``: talk to a WebSocket server from a terminal or a pipe.

In a terminal (stdin and stdout both TTYs, and prompt_toolkit installed) lines are typed at a
prompt that stays below the output: prompt_toolkit's ``patch_stdout`` prints every message
above it. The prompt runs in a worker thread (``trio.to_thread``), one line per call, so the
connection, its handlers and the printing stay in the Trio thread (``_input``).

Anywhere else (a pipe, a file, no prompt_toolkit) each line read from stdin is sent. At the
end of piped input the command waits for the replies (one per line sent) while they keep
coming, at most ``--wait`` seconds, then closes with 1000; typed input (Ctrl-D) closes at once.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator
from typing import Any

import trio

from .._reconnecting import ReconnectingWebSocket
from .._sansio.reconnect import Backoff
from .._websocket import WebSocket
from ._common import EXIT_USAGE, STOP_SIGNALS
from ._input import LineReader, Prompt, PromptReader, Reader
from ._output import Printer, use_color
from ._session import Session

__all__ = ["add_connect_command"]


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
    _add_connection_options(connect)
    _add_session_options(connect)
    connect.set_defaults(command=run_connect)


def _add_connection_options(connect: argparse.ArgumentParser) -> None:
    """The options of the WebSocket itself: headers, subprotocols, keepalive."""
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


def _add_session_options(connect: argparse.ArgumentParser) -> None:
    """The options of the session: how lines are sent and shown, the end, reconnecting."""
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
    printer = Printer(color=use_color(args.no_color))
    session = Session(ws, printer, binary=args.binary)
    prompt = Prompt.create() if sys.stdin.isatty() and sys.stdout.isatty() else None
    if prompt is None:
        typed = sys.stdin.isatty()  # Ctrl-D in a terminal closes at once, without --wait
        await _run(session, LineReader(session, args.wait, args.idle, typed=typed))
    else:
        with prompt.patched_stdout():
            await _run(session, PromptReader(session, prompt))
    return session.status


async def _run(session: Session, reader: Reader) -> None:
    ws = session.ws
    with trio.open_signal_receiver(*STOP_SIGNALS) as signals:
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
