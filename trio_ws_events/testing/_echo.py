"""An embedded echo server on trio-websocket, for the demo, ``trio-ws-events serve`` and tests."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import trio
from trio_websocket import (
    ConnectionClosed,
    Endpoint,
    WebSocketConnection,
    WebSocketRequest,
    WebSocketServer,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

_Handler = Callable[[WebSocketRequest], Awaitable[None]]

__all__ = ["ECHO_MAX_MESSAGE_SIZE", "open_echo_server", "serve_echo"]

#: The largest message the echo server accepts, 64 MiB. trio-websocket's default (1 MiB) would
#: close with 1009 on the 1 MiB round trips the test suite and the benchmark make.
ECHO_MAX_MESSAGE_SIZE = 64 * 2**20


async def serve_echo(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    max_message_size: int = ECHO_MAX_MESSAGE_SIZE,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run a WebSocket echo server until cancelled.

    Each text message is sent back as text and each binary message as binary, in order. When
    the client starts the close handshake the server answers with the client's own close code
    and reason (trio-websocket echoes the client's close frame), then closes the TCP connection.
    Any path is accepted, and the first subprotocol the client proposes, if any, is selected.

    Limits inherited from wsproto 1.3: a close code it does not know (1014 among them) or any
    other protocol violation by the client ends the connection without a close frame.

    Use it with ``url = await nursery.start(serve_echo)``; cancel the nursery to stop it.
    Cancelling it ends every open connection at once, without a close handshake.

    Args:
        host: the address to bind. Only the first listener is reported, so with ``port=0`` pass
            one address, not a name such as ``localhost`` that may resolve to two.
        port: the TCP port to bind; 0 picks a free one.
        max_message_size: received messages larger than this are refused with close code 1009.
        task_status: reports the URL to connect to, such as ``ws://127.0.0.1:53211/``, once the
            socket listens.

    Raises:
        OSError: the address could not be bound (port in use, unknown interface).
    """
    server, listeners = await _bind(host, port, max_message_size, _echo)
    # The sockets already listen, so a client connecting now waits in the backlog until
    # ``run()`` accepts it: reporting the URL before ``run()`` starts is safe.
    task_status.started(_url_of(server))
    await _run(server, listeners)


@contextlib.asynccontextmanager
async def open_echo_server(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    max_message_size: int = ECHO_MAX_MESSAGE_SIZE,
) -> AsyncIterator[str]:
    """Run [`serve_echo`][] for the duration of an ``async with`` block.

    ``async with open_echo_server() as url:`` gives the URL to connect to; leaving the block
    stops the server and drops any connection still open. An exception raised in the block
    propagates as itself, not wrapped in an exception group.

    Args:
        host: the address to bind, as for [`serve_echo`][].
        port: the TCP port to bind; 0 picks a free one.
        max_message_size: as for [`serve_echo`][].

    Yields:
        The server's ``ws://`` URL.

    Raises:
        OSError: the address could not be bound.
    """
    async with _open_server(host, port, max_message_size, _echo) as url:
        yield url


@contextlib.asynccontextmanager
async def _open_server(
    host: str, port: int, max_message_size: int, handler: _Handler
) -> AsyncIterator[str]:
    """``open_echo_server`` with the connection ``handler`` given (``serve`` tracks clients)."""
    # Bound before the nursery opens, so that a bind failure is not wrapped in a group.
    server, listeners = await _bind(host, port, max_message_size, handler)
    body_error: BaseException | None = None
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_run, server, listeners)
        try:
            yield _url_of(server)
        except BaseException as exc:
            # Held and re-raised outside the nursery, which would otherwise wrap it in an
            # exception group. Cancelled is re-raised too, so it still reaches its scope.
            body_error = exc
        finally:
            nursery.cancel_scope.cancel()
    if body_error is not None:
        raise body_error


async def _bind(
    host: str, port: int, max_message_size: int, handler: _Handler
) -> tuple[WebSocketServer, list[trio.SocketListener]]:
    """Open the listening sockets and the trio-websocket server that will serve them."""
    listeners = await trio.open_tcp_listeners(port, host=host)
    server = WebSocketServer(
        handler,
        listeners,
        max_message_size=max_message_size,
        # None lets trio pick its (larger) read size: big echoes then take far fewer reads.
        receive_buffer_size=None,
    )
    return server, listeners


async def _run(server: WebSocketServer, listeners: list[trio.SocketListener]) -> None:
    """Serve until cancelled, then make sure the listening sockets are closed."""
    try:
        await server.run()
    finally:
        # ``run()`` closes them when it started; this covers a cancellation before it did.
        for listener in listeners:
            listener.socket.close()


async def _echo(request: WebSocketRequest) -> None:
    """Accept one connection and send every message back until the connection closes."""
    await _echo_messages(await _accept(request))


async def _accept(request: WebSocketRequest) -> WebSocketConnection:
    proposed = request.proposed_subprotocols
    return await request.accept(subprotocol=proposed[0] if proposed else None)


async def _echo_messages(ws: WebSocketConnection) -> None:
    # ConnectionClosed is how every session ends: the client closed (trio-websocket has already
    # answered its close frame) or the TCP connection was lost.
    with contextlib.suppress(ConnectionClosed):
        while True:
            await ws.send_message(await ws.get_message())


class EchoClients:
    """The open connections of an echo server, so that ``serve`` can close them on its way out.

    ``handle`` is the server's connection handler; ``close_all`` sends each client a close
    frame and waits for the close handshakes.
    """

    def __init__(self) -> None:
        self._open: set[WebSocketConnection] = set()
        self.closing = 0
        self.closed = 0

    def __len__(self) -> int:
        return len(self._open)

    async def handle(self, request: WebSocketRequest) -> None:
        """Accept and echo one connection, tracked while it is open."""
        ws = await _accept(request)
        self._open.add(ws)
        try:
            await _echo_messages(ws)
        finally:
            self._open.discard(ws)

    async def close_all(self, code: int, reason: str) -> None:
        """Close every open connection with ``code`` and wait for the close handshakes.

        ``closing`` counts the connections it closes and ``closed`` the handshakes completed.
        Cancellation: safe; the connections still closing are left to the server's ending,
        which drops them. Bound it with the caller's cancel scope.
        """
        clients = list(self._open)
        self.closing += len(clients)

        async def close(ws: WebSocketConnection) -> None:
            await ws.aclose(code, reason)
            self.closed += 1

        async with trio.open_nursery() as nursery:
            for ws in clients:
                nursery.start_soon(close, ws)


def _url_of(server: WebSocketServer) -> str:
    """The ``ws://host:port/`` URL of the server's first listener."""
    endpoint = server.listeners[0]
    if not isinstance(endpoint, Endpoint):
        raise TypeError(f"echo server listener is not a TCP endpoint: {endpoint}")
    return endpoint.url + "/"
