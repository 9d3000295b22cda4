"""The HTTP/1.1 side of the scripted server: the upgrade request and the responses to it."""

from __future__ import annotations

import dataclasses
import datetime
import email.utils
import math
import socket
from collections.abc import Sequence
from typing import Final

import trio

__all__ = [
    "READ_SIZE",
    "UpgradeRequest",
    "listen",
    "read_head",
    "response",
    "retry_after_value",
]

#: A request head larger than this is answered with 400 and dropped.
_MAX_HEAD: Final = 64 * 1024
#: How much one read of the socket asks for, head and frames alike.
READ_SIZE: Final = 64 * 1024

_REASONS: Final = {
    101: "Switching Protocols",
    400: "Bad Request",
    403: "Forbidden",
    429: "Too Many Requests",
    431: "Too Large",
    503: "Service Unavailable",
}


@dataclasses.dataclass(frozen=True)
class UpgradeRequest:
    """The client's HTTP upgrade request, as the scripted server read it.

    ``trio_ws_events.testing.HandshakeRequest``, its first name, stays as an alias; new code
    says ``UpgradeRequest``, because ``trio_ws_events.HandshakeRequest`` is another class (what
    the client's handshake hook sees).

    Attributes:
        path: the request target, such as ``/chat?room=1``.
        headers: the header fields as ``(name, value)`` pairs, in the order received.
    """

    path: str
    headers: list[tuple[str, str]]

    def header(self, name: str) -> str | None:
        """The value of the first header called ``name`` (any case), or ``None``."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)

    @property
    def subprotocols(self) -> list[str]:
        """The subprotocols the client offered, in its order of preference."""
        offered = [value for key, value in self.headers if key.lower() == "sec-websocket-protocol"]
        return [item.strip() for value in offered for item in value.split(",") if item.strip()]


def listen(family: socket.AddressFamily, host: str, port: int) -> trio.SocketListener:
    """A listening TCP socket on ``(host, port)``; raises ``OSError`` if it cannot bind."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # SO_REUSEADDR lets come_back() bind the port while old connections are in TIME_WAIT.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen()
    except OSError:
        sock.close()
        raise
    return trio.SocketListener(trio.socket.from_stdlib_socket(sock))


def retry_after_value(value: float | datetime.datetime) -> str:
    """The ``Retry-After`` header's value: whole seconds, or an HTTP date.

    Raises:
        ValueError: ``value`` is negative, or a datetime without a time zone.
    """
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            raise ValueError("retry_after must be an aware datetime (with a time zone)")
        return email.utils.format_datetime(value.astimezone(datetime.UTC), usegmt=True)
    if value < 0:
        raise ValueError(f"retry_after must be 0 or more seconds, got {value!r}")
    return str(math.ceil(value))


def response(status: int, headers: Sequence[tuple[str, str]]) -> bytes:
    """An HTTP/1.1 response head with ``status`` and ``headers``."""
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def read_head(stream: trio.abc.ReceiveStream) -> tuple[UpgradeRequest | None, bytes] | None:
    """Read the request head and what followed it.

    Returns:
        ``(request, rest)``; ``(None, b"")`` for a malformed or oversized head; ``None`` when
        the stream ended first.
    """
    data = b""
    while b"\r\n\r\n" not in data:
        if len(data) > _MAX_HEAD:
            return None, b""
        chunk = await stream.receive_some(READ_SIZE)
        if not chunk:
            return None
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    request = _parse_head(head.decode("latin-1").split("\r\n"))
    return (request, rest) if request is not None else (None, b"")


def _parse_head(lines: list[str]) -> UpgradeRequest | None:
    """The upgrade request in ``lines``, or ``None`` when it is not one."""
    parts = lines[0].split(" ")
    if len(parts) != 3 or parts[0] != "GET":
        return None
    headers = []
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon:
            return None
        headers.append((name.strip(), value.strip()))
    request = UpgradeRequest(parts[1], headers)
    if request.header("sec-websocket-key") is None:
        return None
    return request
