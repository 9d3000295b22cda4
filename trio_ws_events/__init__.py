"""An event-driven WebSocket client for Trio.

Register handlers, ``open(nursery)``, ``send()`` text or bytes, ``close(code, reason)``::

    ws = WebSocket("ws://127.0.0.1:8765/chat")
    ws.on_message += lambda ws, message: print(message)
    ws.open(nursery)

See the documentation for the event contract.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._errors import (
    CloseTimeout,
    ConnectError,
    ConnectionLost,
    ConnectTimeout,
    HandlerError,
    HandshakeRejected,
    InvalidStateError,
    KeepaliveTimeout,
    MessageTooBig,
    ProtocolError,
    SendBufferFull,
    WebSocketError,
    WebSocketTimeout,
)
from ._events import Frame, Stats
from ._handlers import EventHook
from ._reconnecting import ReconnectingWebSocket
from ._sansio.compression import Compression
from ._sansio.reconnect import Backoff, Decision, Ending, RetryPolicy
from ._sansio.state import State
from ._trio.hook import HandshakeRequest
from ._trio.iterate import MessageIterator
from ._version import __version__
from ._websocket import WebSocket

if TYPE_CHECKING:
    from ._h2 import H2Pool, open_h2_pool

#: Imported on first use: the h2 package costs its import time only to those who use HTTP/2.
_LAZY = {"H2Pool", "open_h2_pool"}

__all__ = [
    "Backoff",
    "CloseTimeout",
    "Compression",
    "ConnectError",
    "ConnectTimeout",
    "ConnectionLost",
    "Decision",
    "Ending",
    "EventHook",
    "Frame",
    "H2Pool",
    "HandlerError",
    "HandshakeRejected",
    "HandshakeRequest",
    "InvalidStateError",
    "KeepaliveTimeout",
    "MessageIterator",
    "MessageTooBig",
    "ProtocolError",
    "ReconnectingWebSocket",
    "RetryPolicy",
    "SendBufferFull",
    "State",
    "Stats",
    "WebSocket",
    "WebSocketError",
    "WebSocketTimeout",
    "__version__",
    "open_h2_pool",
]

# Tracebacks and generated docs name the public module, not the private one.
for _name in __all__:
    _obj = globals().get(_name)
    if isinstance(_obj, type):
        _obj.__module__ = __name__
del _name, _obj


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import _h2

        value = getattr(_h2, name)
        if isinstance(value, type):
            value.__module__ = __name__
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
