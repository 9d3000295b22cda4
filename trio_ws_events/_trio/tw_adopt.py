"""Adopting trio-websocket connections: ``WebSocket.from_trio_websocket`` and
``WebSocket.accept_trio_websocket`` (the server side, from a ``WebSocketRequest``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict, Unpack

import trio_websocket

from .._errors import ConnectError
from .._options import Options, check_headers
from .._typing import LoggerLike
from .tw_engine import TrioWebsocketEngine
from .tw_tap import WsprotoTap

if TYPE_CHECKING:
    from .._typing import HeadersLike
    from .engine import Owner

__all__ = [
    "AdoptOptions",
    "accept_request",
    "adopted_engine",
    "adopted_options",
    "check_accept_args",
    "check_connection",
]


def check_connection(connection: object) -> trio_websocket.WebSocketConnection:
    """``connection`` if it is a trio-websocket connection no other instance adopted.

    Raises:
        TypeError: it is not, or it was adopted already.
    """
    if not isinstance(connection, trio_websocket.WebSocketConnection):
        raise TypeError(
            "from_trio_websocket() takes a trio_websocket.WebSocketConnection, got "
            f"{type(connection).__name__}"
        )
    if isinstance(connection._wsproto, WsprotoTap):
        raise TypeError(
            "this trio_websocket.WebSocketConnection already runs the events of another "
            "WebSocket; adopt a connection once"
        )
    return connection


class AdoptOptions(TypedDict, total=False):
    """The options of an adopted connection (``WebSocket.from_trio_websocket``'s keywords)."""

    close_timeout: float | None
    ping_interval: float | None
    ping_timeout: float | None
    max_buffered_amount: int
    logger: LoggerLike | None


def adopted_options(
    connection: trio_websocket.WebSocketConnection, **options: Unpack[AdoptOptions]
) -> Options:
    """The checked options of an adopted connection, named by the peer's address and path."""
    try:
        remote = connection.remote
    except OSError:  # the socket broke already: the connection will end at once
        remote = None
    base = remote.url if isinstance(remote, trio_websocket.Endpoint) else "ws://localhost"
    path = connection.path or "/"
    return Options.adopted(base + (path if path.startswith("/") else "/" + path), **options)


def adopted_engine(
    owner: Owner, connection: trio_websocket.WebSocketConnection, options: Options
) -> TrioWebsocketEngine:
    """The engine of ``owner`` over ``connection``, its tap in place from now on."""
    engine = TrioWebsocketEngine(owner, options, adopt=connection)
    engine._install(connection)
    return engine


def check_accept_args(
    request: object, subprotocol: object, headers: HeadersLike | None
) -> list[tuple[bytes, bytes]]:
    """The response headers of ``accept_trio_websocket``, checked and encoded.

    Raises:
        TypeError, ValueError: an argument is invalid.
    """
    if not isinstance(request, trio_websocket.WebSocketRequest):
        raise TypeError(
            "accept_trio_websocket() takes a trio_websocket.WebSocketRequest, got "
            f"{type(request).__name__}"
        )
    if subprotocol is not None:
        if not isinstance(subprotocol, str):
            raise TypeError(f"subprotocol must be a str or None, got {type(subprotocol).__name__}")
        if subprotocol not in request.proposed_subprotocols:
            raise ValueError(
                f"subprotocol {subprotocol!r} was not offered by the client; it offered "
                f"{list(request.proposed_subprotocols)!r}"
            )
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in check_headers(headers)]


async def accept_request(
    request: trio_websocket.WebSocketRequest,
    subprotocol: str | None,
    headers: list[tuple[bytes, bytes]],
) -> None:
    """Answer ``request`` with 101 (its connection's tap is already in place).

    Raises:
        ConnectError: the client went away before the answer was written.

    Cancellation: the connection is then trio-websocket's to close, as after its own accept.
    """
    try:
        await request.accept(subprotocol=subprotocol, extra_headers=headers)
    except trio_websocket.ConnectionClosed as exc:
        raise ConnectError(f"the client went away before the handshake answer: {exc}") from exc
