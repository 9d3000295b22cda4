"""Handler typing that must fail ``mypy --strict``: each E comment names the expected error.

tests/api/test_typing.py runs mypy on this file and compares, line by line.
"""

from __future__ import annotations

from trio_ws_events import WebSocket
from trio_ws_events._handlers import EventSlot


def register(ws: WebSocket) -> None:
    ws.on_open += lambda w: w.snd("x")  # E: "WebSocket" has no attribute "snd"
    ws.on_message += lambda w, message: message.decode()  # E: "str" has no attribute "decode"
    ws.on_binary += lambda w, data: data.upper() + "!"  # E: Unsupported operand types for +
    ws.on_closed += lambda w, code, reason: code.upper()  # E: "int" has no attribute "upper"
    ws.on_open += "not a function"  # E: incompatible type "str"


def on_message_bytes(ws: WebSocket, message: bytes) -> None: ...


def on_open_two(ws: WebSocket, extra: int) -> None: ...


def register_wrong_shapes(ws: WebSocket) -> None:
    ws.on_message += on_message_bytes  # E: incompatible type "Callable[[WebSocket, bytes], None]"
    ws.on_open += on_open_two  # E: incompatible type "Callable[[WebSocket, int], None]"
    ws.on_message = ws.on_message  # assigning the same hook back is what `+=` does: allowed


class OtherClient:
    on_open: EventSlot[()] = EventSlot()


def register_other(client: OtherClient) -> None:
    client.on_open += lambda c: c.send("x")  # E: "OtherClient" has no attribute "send"
