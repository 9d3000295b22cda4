"""WebSockets over HTTP/2 (RFC 8441): a transport producing ``trio.abc.Stream`` objects.

``WebSocket(url, http2=pool)`` opens through it (``_trio/h2_open.py``); ``open_h2_pool`` and
``H2Pool`` are public. See docs/http2.md.
"""

from __future__ import annotations

from ._connection import CONNECTION_WINDOW, STREAM_WINDOW, H2Connection
from ._errors import ConnectionBroken, Http2Unavailable, StreamBroken, StreamRefused, StreamReset
from ._pool import H2Pool, open_h2_pool, open_transport
from ._stream import MAX_SEND_BATCH, H2WebSocketStream

__all__ = [
    "CONNECTION_WINDOW",
    "MAX_SEND_BATCH",
    "STREAM_WINDOW",
    "ConnectionBroken",
    "H2Connection",
    "H2Pool",
    "H2WebSocketStream",
    "Http2Unavailable",
    "StreamBroken",
    "StreamRefused",
    "StreamReset",
    "open_h2_pool",
    "open_transport",
]
