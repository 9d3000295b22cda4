"""``trio-ws-events demo``: the walkthrough against an embedded echo server, event by event."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

import trio

from .._websocket import WebSocket
from ..testing._echo import open_echo_server
from ._common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    STOP_SIGNALS,
    complain,
    next_signal,
    say,
)

if TYPE_CHECKING:
    from .._errors import WebSocketError

__all__ = ["DEMO_BINARY", "DEMO_TEXT", "add_demo_command"]

#: What the walkthrough sends, and expects back from the echo server.
DEMO_TEXT = "Hello from trio-ws-events"
DEMO_BINARY = b"\x00\x01\x02\x03 binary \xfc\xfd\xfe\xff"
DEMO_CLOSE = (1000, "bye")
#: The whole walkthrough takes milliseconds; past this something is stuck.
DEMO_TIMEOUT = 30.0


def add_demo_command(commands: Any) -> None:
    """Add ``demo`` to the ``add_subparsers()`` object ``commands`` of the main parser."""
    demo = commands.add_parser(
        "demo",
        help="run the walkthrough against an embedded echo server",
        description="Start an echo server on a free 127.0.0.1 port, open a WebSocket to it, "
        "send a text and a binary message, close with 1000 'bye', and print each event.",
    )
    demo.set_defaults(command=_demo)


class _Walkthrough:
    """The handlers of the demo: print each event, and check the echoes and the close."""

    def __init__(self) -> None:
        self.echoes: list[str | bytes] = []
        self.closed: tuple[int, str] | None = None
        self.failed = False

    def on_open(self, ws: WebSocket) -> None:
        say("on_open")
        say(f"  -> send({DEMO_TEXT!r})")
        ws.send(DEMO_TEXT)
        say(f"  -> send({DEMO_BINARY!r})")
        ws.send(DEMO_BINARY)

    def on_message(self, ws: WebSocket, message: str) -> None:
        say(f"on_message: {message!r}")
        self._echoed(ws, message)

    def on_binary(self, ws: WebSocket, data: bytes) -> None:
        say(f"on_binary: {len(data)} bytes {data!r}")
        self._echoed(ws, data)

    def on_closed(self, ws: WebSocket, code: int, reason: str) -> None:
        say(f"on_closed: code={code} reason={reason!r}")
        self.closed = (code, reason)

    def on_error(self, ws: WebSocket, error: WebSocketError) -> None:
        say(f"on_error: {type(error).__name__} (code={error.code}): {error}")
        self.failed = True

    @property
    def succeeded(self) -> bool:
        """Both echoes came back intact and the server echoed the close code and reason."""
        expected: list[str | bytes] = [DEMO_TEXT, DEMO_BINARY]
        return not self.failed and self.echoes == expected and self.closed == DEMO_CLOSE

    def _echoed(self, ws: WebSocket, message: str | bytes) -> None:
        self.echoes.append(message)
        if len(self.echoes) == 2:
            say(f"  -> close{DEMO_CLOSE!r}")
            ws.close(*DEMO_CLOSE)


async def _demo(args: argparse.Namespace) -> int:
    """``demo``: the walkthrough against an embedded echo server; Ctrl-C stops it."""
    status = EXIT_INTERRUPTED
    with trio.open_signal_receiver(*STOP_SIGNALS) as signals:
        async with trio.open_nursery() as nursery:

            async def walk_then_stop() -> None:
                nonlocal status
                status = await _walkthrough()
                nursery.cancel_scope.cancel()

            nursery.start_soon(walk_then_stop)
            await next_signal(signals)
            complain("interrupted")
            nursery.cancel_scope.cancel()
    return status


async def _walkthrough() -> int:
    """Run the walkthrough once and return its exit status."""
    async with open_echo_server() as url:
        say(f"echo server listening on {url}")
        ws = WebSocket(url + "chat")
        walk = _Walkthrough()
        ws.on_open += walk.on_open
        ws.on_message += walk.on_message
        ws.on_binary += walk.on_binary
        ws.on_closed += walk.on_closed
        ws.on_error += walk.on_error
        say(f"open({ws.url!r})")
        with trio.move_on_after(DEMO_TIMEOUT) as deadline:
            async with trio.open_nursery() as nursery:
                ws.open(nursery)
                await ws.wait_closed()
    if deadline.cancelled_caught:
        complain(f"the demo did not finish within {DEMO_TIMEOUT:g} seconds")
        return EXIT_FAILED
    if not walk.succeeded:
        complain("the demo did not end with both echoes and a clean close")
        return EXIT_FAILED
    return EXIT_OK
