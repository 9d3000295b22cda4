"""How an HTTP/2 stream or connection ends badly, told apart so the driver can map each.

::

    trio.BrokenResourceError          what a trio.abc.Stream raises when it broke
    └── StreamBroken                  .stream_id, .error_code (an h2 ErrorCodes or None)
        ├── StreamReset               the server sent RST_STREAM on this stream
        ├── StreamRefused             GOAWAY: this stream is above the server's last id
        └── ConnectionBroken          the shared connection ended: TCP lost, HTTP/2 error,
                                      PING unanswered, GOAWAY (.reason says which)

    ConnectError (trio_ws_events)
    └── Http2Unavailable              ALPN chose no h2, or no SETTINGS_ENABLE_CONNECT_PROTOCOL:
                                      the signal to fall back to HTTP/1.1 (.reason)

A rejected extended CONNECT raises the library's ``HandshakeRejected``, as over HTTP/1.1.
"""

from __future__ import annotations

from typing import Literal

import trio

from .._errors import ConnectError

__all__ = [
    "ConnectionBroken",
    "Http2Unavailable",
    "StreamBroken",
    "StreamRefused",
    "StreamReset",
]


class StreamBroken(trio.BrokenResourceError):
    """The stream of one WebSocket cannot carry bytes any more.

    Attributes:
        stream_id: the HTTP/2 stream id, or ``None`` before the stream had one.
        error_code: the HTTP/2 error code the peer gave, or ``None`` when it gave none.
    """

    def __init__(self, message: str, *, stream_id: int | None, error_code: int | None) -> None:
        super().__init__(message)
        self.stream_id = stream_id
        self.error_code = error_code


class StreamReset(StreamBroken):
    """The server reset this stream (RST_STREAM); the connection's other streams go on."""


class StreamRefused(StreamBroken):
    """The server's GOAWAY named a last stream id below this stream's: it was not processed.

    Attributes:
        last_stream_id: the last stream id the server said it processed.
    """

    def __init__(
        self, message: str, *, stream_id: int | None, error_code: int | None, last_stream_id: int
    ) -> None:
        super().__init__(message, stream_id=stream_id, error_code=error_code)
        self.last_stream_id = last_stream_id


class ConnectionBroken(StreamBroken):
    """The HTTP/2 connection under this stream ended; each stream gets its own instance.

    Attributes:
        reason: ``"lost"`` (the TCP connection ended or failed), ``"protocol"`` (the server
            broke HTTP/2), ``"ping"`` (a liveness PING went unanswered) or ``"closed"`` (the
            pool or connection was closed under the stream) or ``"goaway"`` (the server sent
            GOAWAY and this stream was at or below its last id: the server processed it, but
            h2 4.x accepts no frame after a GOAWAY, so it cannot go on).
    """

    def __init__(
        self,
        message: str,
        *,
        stream_id: int | None,
        reason: Literal["lost", "protocol", "ping", "goaway", "closed"],
        error_code: int | None = None,
    ) -> None:
        super().__init__(message, stream_id=stream_id, error_code=error_code)
        self.reason = reason


class Http2Unavailable(ConnectError):
    """The origin cannot carry a WebSocket over HTTP/2: open it over HTTP/1.1 instead.

    Attributes:
        reason: ``"alpn"`` when TLS negotiated no ``h2`` (``alpn`` says what it chose), or
            ``"settings"`` when the server's SETTINGS lack ENABLE_CONNECT_PROTOCOL=1.
        alpn: the ALPN protocol TLS chose, or ``None`` (h2c, or no ALPN at all).
    """

    def __init__(
        self, message: str, *, reason: Literal["alpn", "settings"], alpn: str | None
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.alpn = alpn
