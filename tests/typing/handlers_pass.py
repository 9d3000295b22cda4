"""Handler typing that must pass ``mypy --strict`` (tests/api/test_typing.py runs it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import assert_type

import trio

from trio_ws_events import Frame, WebSocket, WebSocketError
from trio_ws_events._handlers import EventSlot


def on_open(ws: WebSocket) -> None:
    ws.send("hello")


async def on_message(ws: WebSocket, message: str) -> None:
    await trio.lowlevel.checkpoint()
    ws.send(message.upper())


def register(ws: WebSocket) -> None:
    ws.on_open += on_open
    ws.on_message += on_message
    ws.on_message -= on_message
    # Lambdas get the instance's own class: `w` is a WebSocket, `data` bytes, and so on.
    ws.on_binary += lambda w, data: assert_type(w, WebSocket).send(data)
    ws.on_incomplete_frame += lambda w, frame: assert_type(frame, Frame)
    ws.on_closed += lambda w, code, reason: print(code + 1, reason.upper())
    ws.on_error += lambda w, error: assert_type(error, WebSocketError)

    @ws.on_closed
    def closed(w: WebSocket, code: int, reason: str) -> None:
        print(w.close_code, code, reason)

    assert_type(closed, Callable[[WebSocket, int, str], object])  # the handler shape


def handler_wider_than_needed(ws: object, *rest: object) -> None:
    """A handler that accepts more than it is given is fine (parameters are contravariant)."""


def register_wide(ws: WebSocket) -> None:
    ws.on_open += handler_wider_than_needed
    ws.on_closed += handler_wider_than_needed


class MyWebSocket(WebSocket):
    """A subclass: its handlers receive a MyWebSocket, with its extra members."""

    def greet(self) -> None:
        self.send("hi")


def register_subclass(ws: MyWebSocket) -> None:
    ws.on_open += lambda w: w.greet()


class OtherClient:
    """Any class that declares slots (a reconnecting client, say) types handlers with itself."""

    on_open: EventSlot[()] = EventSlot()
    on_message: EventSlot[str] = EventSlot()

    def resend(self) -> None: ...


def register_other(client: OtherClient) -> None:
    client.on_open += lambda c: c.resend()
    client.on_message += lambda c, message: print(message.upper())
