"""Type aliases for handlers and options, documented once here."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

if TYPE_CHECKING:
    from ._errors import WebSocketError
    from ._events import Frame
    from ._sansio.reconnect import Ending

__all__ = [
    "Address",
    "BinaryHandler",
    "ClosedHandler",
    "ErrorHandler",
    "FrameHandler",
    "HeadersLike",
    "LoggerLike",
    "MessageHandler",
    "OpenHandler",
    "PieceSource",
    "PingHandler",
    "PongHandler",
    "ReconnectingHandler",
]

#: The instance whose event fires (``WebSocket``, or any class declaring ``EventSlot`` s).
W = TypeVar("W")

#: What a handler returns: an awaitable (``async def``) is awaited, anything else ignored.
_Result: TypeAlias = Awaitable[object] | object

# The handler shapes, generic in the instance type: ``OpenHandler[WebSocket]``. The slots
# themselves (``EventSlot[str]`` and so on, in _connection.py) derive the same shapes.
#: ``handler(ws)``, for ``on_open``.
OpenHandler: TypeAlias = Callable[[W], _Result]
#: ``handler(ws, message)``, for ``on_message``: one whole text message.
MessageHandler: TypeAlias = Callable[[W, str], _Result]
#: ``handler(ws, data)``, for ``on_binary``: one whole binary message.
BinaryHandler: TypeAlias = Callable[[W, bytes], _Result]
#: ``handler(ws, frame)``, for ``on_incomplete_frame``: one piece of a streamed message.
FrameHandler: TypeAlias = Callable[[W, "Frame"], _Result]
#: ``handler(ws, payload)``, for ``on_ping``: the payload of a ping from the server.
PingHandler: TypeAlias = Callable[[W, bytes], _Result]
#: ``handler(ws, payload)``, for ``on_pong``: the payload of a pong from the server.
PongHandler: TypeAlias = Callable[[W, bytes], _Result]
#: ``handler(ws, code, reason)``, for ``on_closed``.
ClosedHandler: TypeAlias = Callable[[W, int, str], _Result]
#: ``handler(ws, error)``, for ``on_error``.
ErrorHandler: TypeAlias = Callable[[W, "WebSocketError"], _Result]
#: ``handler(rws, attempt, delay, why)``, for ``on_reconnecting``: before each wait.
ReconnectingHandler: TypeAlias = Callable[[W, int, float, "Ending"], _Result]
#: Request headers: a mapping, or ``(name, value)`` pairs when a name repeats.
HeadersLike: TypeAlias = Mapping[str, str] | Sequence[tuple[str, str]]
#: A TCP endpoint: ``(host, port)``, the host as the socket gives it (an IP address).
Address: TypeAlias = tuple[str, int]
#: Where a connection logs: a logger, or an adapter that adds context to each record.
LoggerLike: TypeAlias = logging.Logger | logging.LoggerAdapter[Any]
#: What ``send_stream()`` takes: the pieces of one message, as an iterable or an async
#: iterable of ``str`` (text) or bytes-like objects (binary).
PieceSource: TypeAlias = (
    Iterable[str | bytes | bytearray | memoryview]
    | AsyncIterable[str | bytes | bytearray | memoryview]
)
