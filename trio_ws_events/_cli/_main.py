"""The command line of ``trio-ws-events``: the parser, and ``main`` running a command."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, Sequence

import trio

from .._version import __version__
from ._common import EXIT_INTERRUPTED, EXIT_USAGE
from ._connect import add_connect_command
from ._demo import add_demo_command
from ._serve import add_serve_command

__all__ = ["main"]


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
    add_demo_command(commands)
    add_serve_command(commands)
    return parser
