"""The exception tree: every ending and every misuse has one class here.

::

    WebSocketError                 .code, .url, .unsent
    ├── InvalidStateError          misuse: open() twice, send() outside OPEN (.code is None)
    ├── SendBufferFull             send() would pass max_buffered_amount (.code is None)
    ├── ConnectError               could not open: refused, DNS, TLS, bad handshake (1006)
    │   ├── HandshakeRejected      the server answered the upgrade with another status
    │   └── ConnectTimeout         connect_timeout ran out (also a WebSocketTimeout)
    ├── WebSocketTimeout           a protocol deadline ran out
    │   ├── CloseTimeout           close_timeout ran out before the close handshake ended
    │   └── KeepaliveTimeout       no frame within ping_timeout of a keepalive ping (1011)
    ├── ProtocolError              the peer broke RFC 6455; .code is the code we sent (1002, 1007)
    │   └── MessageTooBig          a message exceeded max_message_size (1009)
    ├── ConnectionLost             the TCP connection ended without a close frame (1006)
    └── HandlerError               a user handler (or send_stream's pieces) raised (1011)

"You closed it" never shows up here: a close handshake that completes, whoever started it, is
reported through ``on_closed`` and is not an error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Literal

__all__ = [
    "CloseTimeout",
    "ConnectError",
    "ConnectTimeout",
    "ConnectionLost",
    "HandlerError",
    "HandshakeRejected",
    "InvalidStateError",
    "KeepaliveTimeout",
    "MessageTooBig",
    "ProtocolError",
    "SendBufferFull",
    "WebSocketError",
    "WebSocketTimeout",
    "map_exceptions",
]

#: What ``unsent`` holds: each message exactly as ``send()`` queued it.
Unsent = tuple[str | bytes, ...]


class WebSocketError(Exception):
    """Base class of every error this library raises or hands to ``on_error``.

    Attributes:
        code: the close code that ended the connection from the client's side (the code the
            client sent, or 1006 when no close frame could be exchanged); ``None`` for errors
            that end nothing, such as [`InvalidStateError`][].
        url: the URL of the connection, without credentials, or ``None``.
        unsent: the messages handed to ``send()`` that were never written to the socket, in
            order. Filled in when the error ends a connection; empty otherwise.
    """

    code: int | None = None

    def __init__(self, message: str, *, code: int | None = None, url: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.url = url
        self.unsent: Unsent = ()

    @property
    def message(self) -> str:
        """The human-readable text of the error."""
        return str(self.args[0]) if self.args else ""


class InvalidStateError(WebSocketError):
    """A method was called in a state that does not allow it, such as a second ``open()``.

    It ends nothing: ``code`` is ``None`` and the connection, if any, goes on.
    """


class SendBufferFull(WebSocketError):
    """``send()`` would push ``buffered_amount`` past ``max_buffered_amount``.

    It ends nothing (``code`` is ``None``) and nothing was queued: the caller still holds the
    message. Wait with ``drain()``, or send with ``send_wait()``.
    """


class ConnectError(WebSocketError):
    """The connection could not be opened: refused, DNS, TLS, or a broken handshake."""

    code = 1006


class HandshakeRejected(ConnectError):
    """The server answered the opening handshake with a status other than 101.

    Attributes:
        status: the HTTP status code, e.g. 403.
        headers: the response headers as ``(name, value)`` pairs of ``str``, in order.
        body: at most the first 64 KiB of the response body.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        url: str | None = None,
    ) -> None:
        super().__init__(message, url=url)
        self.status = status
        self.headers: list[tuple[str, str]] = list(headers)
        self.body = body


class WebSocketTimeout(WebSocketError):
    """A deadline set by a constructor option (``connect_timeout``, ``close_timeout``) ran out."""

    code = 1006


class ConnectTimeout(WebSocketTimeout, ConnectError):
    """``connect_timeout`` ran out before the handshake completed."""


class CloseTimeout(WebSocketTimeout):
    """``close_timeout`` ran out before the close handshake completed; the socket was closed."""


class KeepaliveTimeout(WebSocketTimeout):
    """No pong and no other frame arrived within ``ping_timeout`` of a keepalive ping.

    The client closed with 1011 (or gave up on the socket when even that went unanswered).
    """

    code = 1011


class ProtocolError(WebSocketError):
    """The peer broke the protocol; the client closed with ``code`` (1002, 1007, ...)."""

    code = 1002


class MessageTooBig(ProtocolError):
    """A received message exceeded ``max_message_size``; the client closed with 1009."""

    code = 1009


class ConnectionLost(WebSocketError):
    """The TCP connection ended (EOF, reset) without a completed close handshake."""

    code = 1006


class HandlerError(WebSocketError):
    """A user handler raised; the client closed with 1011. ``__cause__`` is the exception.

    Also the ending when the pieces given to ``send_stream()`` raise (or the call is
    cancelled) after part of the message went out: a message cannot be taken back.
    """

    code = 1011


#: Exception types of a lower layer (trio, ssl, OSError, python-socks) and how to build ours.
ExceptionMap = Mapping[
    type[Exception] | tuple[type[Exception], ...], Callable[[Exception], WebSocketError]
]


class map_exceptions:  # lower case: it reads as the function it replaced
    """The one translation boundary: a lower layer's exception leaves as one of ours.

    The first entry of ``mapping`` whose types match builds the error raised in place of
    the caught one, chained to it (``from``), or to the ``__cause__`` the builder chose (a
    TLS failure names the ``SSLError`` under trio's ``BrokenResourceError``). Anything else,
    our own errors and ``Cancelled`` included, passes through untouched.

    The opening code uses it around every call into trio, ssl and python-socks. The
    connection's read and write loops do not: they run per message, and a broken stream
    there is not an error to raise but the end of the connection (``ConnectionLost``).
    """

    # A class, not a generator-based context manager: the opening code enters several per
    # handshake, and @contextmanager's generator cost about 2 us each (issue 18, W4).
    __slots__ = ("_mapping",)

    def __init__(self, mapping: ExceptionMap) -> None:
        self._mapping = mapping

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> Literal[False]:
        if not isinstance(exc, Exception):
            return False  # no exception, or Cancelled and the like: untouched
        for kinds, build in self._mapping.items():
            if isinstance(exc, kinds):
                error = build(exc)
                raise error from (exc if error.__cause__ is None else error.__cause__)
        return False
