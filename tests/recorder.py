"""Helpers shared by the client's tests: an event recorder and a run-until-the-end helper."""

from __future__ import annotations

from typing import Any

import trio

from trio_ws_events import ReconnectingWebSocket, WebSocket, WebSocketError

__all__ = ["Recorder", "run_to_end"]


async def run_to_end(ws: WebSocket, limit: float = 20) -> None:
    """Open ``ws`` in a nursery of its own and wait for the terminal event, within ``limit``."""
    with trio.fail_after(limit):
        async with trio.open_nursery() as nursery:
            ws.open(nursery)
            await ws.wait_closed()


class Recorder:
    """Registers one handler per event on ``ws`` and keeps ``(name, *args)`` tuples in order.

    On a :class:`ReconnectingWebSocket` it also records ``("reconnecting", attempt, delay,
    why)``.
    """

    def __init__(self, ws: WebSocket | ReconnectingWebSocket) -> None:
        self.ws = ws
        self.events: list[tuple[Any, ...]] = []
        # Each hook is typed with its own class; these handlers serve either class.
        hooks: Any = ws
        hooks.on_open += lambda ws: self.events.append(("open",))
        hooks.on_message += lambda ws, m: self.events.append(("message", m))
        hooks.on_binary += lambda ws, d: self.events.append(("binary", d))
        hooks.on_closed += lambda ws, c, r: self.events.append(("closed", c, r))
        hooks.on_error += lambda ws, e: self.events.append(("error", e))
        if isinstance(ws, ReconnectingWebSocket):
            ws.on_reconnecting += lambda ws, n, d, why: self.events.append(
                ("reconnecting", n, d, why)
            )

    @property
    def names(self) -> list[str]:
        """Just the event names, in order."""
        return [event[0] for event in self.events]

    @property
    def error(self) -> WebSocketError:
        """The error handed to ``on_error``; fails the test when there was none."""
        last = self.events[-1]
        assert last[0] == "error", f"expected on_error last, got {self.events}"
        error: WebSocketError = last[1]
        return error

    @property
    def messages(self) -> list[Any]:
        """The payloads of ``on_message`` and ``on_binary``, in order."""
        return [event[1] for event in self.events if event[0] in ("message", "binary")]

    def assert_terminal_once(self) -> None:
        """Exactly one terminal event, and it is the last; at most one on_open, first."""
        terminal = [n for n in self.names if n in ("closed", "error")]
        assert len(terminal) == 1, self.events
        assert self.names[-1] in ("closed", "error"), self.events
        if "open" in self.names:
            assert self.names.count("open") == 1
            assert self.names[0] == "open"
