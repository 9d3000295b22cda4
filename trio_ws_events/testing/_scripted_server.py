"""The scripted server: it listens, and hands each client to the test to accept or reject."""

from __future__ import annotations

import contextlib
import datetime
import math
import socket
from collections.abc import AsyncIterator, Sequence
from typing import Protocol

import trio

from .._sansio.frames import accept_token
from ._http import UpgradeRequest, listen, read_head, response, retry_after_value
from ._scripted import ProtocolViolation, ScriptedConnection

__all__ = ["ScriptedServer", "ScriptedServerFactory", "open_scripted_server"]


class ScriptedServerFactory(Protocol):
    """The type of the ``ws_server`` fixture: call it to start a scripted server."""

    def __call__(self, *, host: str = "127.0.0.1", port: int = 0) -> ScriptedServer:
        """Start a [`ScriptedServer`][] that lives until the test ends.

        Args:
            host: the address to listen on (an IP address).
            port: the TCP port; 0 picks a free one.
        """
        ...


class ScriptedServer:
    """A WebSocket server on 127.0.0.1 whose every move the test makes.

    The socket listens from construction on (so [`url`][] is known at once); connections
    are served while [`serve`][] runs. Clients that connect wait until the test calls
    [`accept`][] or [`reject`][], one call per connection, in the order they arrived.
    Use [`open_scripted_server`][], or the ``ws_server`` pytest fixture, rather than
    building one yourself.

    Args:
        host: the address to listen on (an IP address).
        port: the TCP port; 0 picks a free one.

    Raises:
        OSError: the address could not be bound.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._listener = listen(family, host, port)
        self._address = (family, host, self._listener.socket.getsockname()[1])
        shown_host = f"[{host}]" if family == socket.AF_INET6 else host
        self.url = f"ws://{shown_host}:{self._address[2]}/"
        """The URL to connect to, such as ``ws://127.0.0.1:53211/``."""
        self._pending_send, self._pending = trio.open_memory_channel[_Pending](math.inf)
        self._up = trio.Event()
        self._up.set()

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve connections until cancelled, then close the socket and every connection.

        Raises:
            ProtocolViolation: a client broke RFC 6455 (the exception is an ``AssertionError``
                so that it fails the test).
        """
        try:
            async with trio.open_nursery() as nursery:
                task_status.started()
                while True:
                    await self._up.wait()
                    try:
                        stream = await self._listener.accept()
                    except trio.ClosedResourceError:
                        continue  # go_down() closed the listener
                    nursery.start_soon(self._handle, stream)
        except BaseExceptionGroup as group:
            violation = _lone_violation(group)
            if violation is None:
                raise
            raise violation from None
        finally:
            await trio.aclose_forcefully(self._listener)

    async def accept(
        self,
        subprotocol: str | None = None,
        *,
        headers: Sequence[tuple[str, str]] = (),
        answer_pings: bool = True,
        answer_close: bool = True,
    ) -> ScriptedConnection:
        """Wait for the next client and complete its handshake (HTTP 101).

        Args:
            subprotocol: the ``Sec-WebSocket-Protocol`` to answer with, sent as given even
                when the client did not offer it.
            headers: extra response headers.
            answer_pings: answer the client's pings with pongs; ``False`` lets a test
                check the client's keepalive timeout.
            answer_close: answer the client's close frame with the same code and reason and
                close TCP, as a server should; ``False`` never answers, so that a test can
                check the client's ``close_timeout``.

        Returns:
            The connection, on which the test sends and receives.

        Cancellation: safe before a client arrives; the client then waits for the next call.
        """
        pending = await self._pending.receive()
        key = pending.request.header("sec-websocket-key") or ""
        lines = [
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Accept", accept_token(key)),
        ]
        if subprotocol is not None:
            lines.append(("Sec-WebSocket-Protocol", subprotocol))
        await pending.stream.send_all(response(101, [*lines, *headers]))
        connection = ScriptedConnection(
            pending.stream,
            pending.request,
            subprotocol,
            answer_pings=answer_pings,
            answer_close=answer_close,
        )
        pending.decide(connection)
        return connection

    async def reject(
        self,
        status: int = 403,
        body: bytes = b"",
        *,
        headers: Sequence[tuple[str, str]] = (),
        retry_after: float | datetime.datetime | None = None,
    ) -> UpgradeRequest:
        """Wait for the next client and refuse its handshake with ``status`` and ``body``.

        Args:
            status: the HTTP status, such as 403, 429 or 503.
            body: the response body.
            headers: extra response headers.
            retry_after: adds a ``Retry-After`` header: a number of seconds (sent as a whole
                number), or an aware ``datetime`` (sent as an HTTP date).

        Returns:
            The request that was refused.

        Raises:
            ValueError: ``retry_after`` is negative, or a datetime without a time zone.
        """
        extra = [] if retry_after is None else [("Retry-After", retry_after_value(retry_after))]
        pending = await self._pending.receive()
        fields = [*headers, *extra, ("Content-Length", str(len(body))), ("Connection", "close")]
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await pending.stream.send_all(response(status, fields) + body)
        pending.decide(None)
        return pending.request

    async def go_down(self) -> None:
        """Stop listening: new clients are refused (connection refused) until ``come_back``.

        Connections already accepted go on; drop them with
        ``ScriptedConnection.drop`` to take the server down entirely. Calling it again
        does nothing.
        """
        if self._up.is_set():
            self._up = trio.Event()
            await self._listener.aclose()
        await trio.lowlevel.checkpoint()

    async def come_back(self) -> None:
        """Listen again, on the same address and port as before ``go_down``.

        Calling it while listening does nothing.

        Raises:
            OSError: the port could not be bound again (another program took it).
        """
        if not self._up.is_set():
            self._listener = listen(*self._address)
            self._up.set()
        await trio.lowlevel.checkpoint()

    async def _handle(self, stream: trio.SocketStream) -> None:
        try:
            head = await read_head(stream)
            if head is None:
                return
            request, rest = head
            if request is None:
                await stream.send_all(response(400, [("Content-Length", "0")]))
                return
            pending = _Pending(stream, request)
            self._pending_send.send_nowait(pending)
            connection = await pending.decided()
            if connection is not None:
                await connection._serve(rest)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            await trio.aclose_forcefully(stream)


@contextlib.asynccontextmanager
async def open_scripted_server(
    host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[ScriptedServer]:
    """Run a [`ScriptedServer`][] for the duration of an ``async with`` block.

    Leaving the block closes the listening socket and drops every connection still open.
    An exception raised in the block propagates as itself, not wrapped in a group.

    Args:
        host: the address to listen on (an IP address).
        port: the TCP port; 0 picks a free one.

    Yields:
        The server; connect to ``server.url``.
    """
    server = ScriptedServer(host, port)
    body_error: BaseException | None = None
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(server.serve)
            try:
                yield server
            except BaseException as exc:
                body_error = exc
            finally:
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        violation = _lone_violation(group)
        if violation is None:
            raise
        raise violation from None
    if body_error is not None:
        raise body_error


class _Pending:
    """A client whose handshake waits for the test's accept() or reject()."""

    def __init__(self, stream: trio.SocketStream, request: UpgradeRequest) -> None:
        self.stream = stream
        self.request = request
        self._event = trio.Event()
        self._connection: ScriptedConnection | None = None

    def decide(self, connection: ScriptedConnection | None) -> None:
        self._connection = connection
        self._event.set()

    async def decided(self) -> ScriptedConnection | None:
        await self._event.wait()
        return self._connection


def _lone_violation(group: BaseExceptionGroup[BaseException]) -> ProtocolViolation | None:
    """The first [`ProtocolViolation`][] in ``group`` if all else is cancellation."""
    violations, rest = group.split(ProtocolViolation)
    if violations is None or (rest is not None and rest.split(trio.Cancelled)[1] is not None):
        return None
    leaf: BaseException = violations
    while isinstance(leaf, BaseExceptionGroup):
        leaf = leaf.exceptions[0]
    assert isinstance(leaf, ProtocolViolation)
    return leaf
