"""Opening a client connection with trio-websocket (``engine="trio-websocket"``).

``trio_websocket.connect_websocket_url`` starts its reader task in a nursery it is given and
waits for the handshake; a rejected handshake raises in that reader task. ``Guard`` is the
nursery it is given: it runs the reader inside the engine's own task and keeps what the
reader raises, so that every failure leaves as one of our errors.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Any, Final

import h11
import trio
import trio_websocket
import wsproto.utilities

from .._errors import ConnectError, HandshakeRejected
from .._options import Options
from .connect import _request_headers
from .net import describe

#: What wsproto (and h11 under it) raise for an answer that is not a valid upgrade.
_HANDSHAKE_ERRORS: Final = (
    wsproto.utilities.LocalProtocolError,
    wsproto.utilities.RemoteProtocolError,
    h11.ProtocolError,
)

__all__ = ["Guard", "connect_trio_websocket"]


class Guard:
    """The nursery trio-websocket starts its reader in; keeps the reader's exception.

    ``prepare`` is called with the connection before its reader task starts.
    """

    def __init__(self, nursery: trio.Nursery, prepare: Callable[[Any], None]) -> None:
        self._nursery = nursery
        self._prepare = prepare
        self.error: Exception | None = None
        self.failed = trio.Event()
        # Shielded: after a cancellation the engine's shielded cleanup still reads the peer's
        # answer to its 1001 through this reader; ``stop`` ends it.
        self._scope = trio.CancelScope(shield=True)

    def stop(self) -> None:
        """End the reader task (the connection is over)."""
        self._scope.cancel()

    def start_soon(
        self, fn: Callable[..., Awaitable[Any]], *args: Any, name: object = None
    ) -> None:
        async def guarded() -> None:
            try:
                with self._scope:
                    await fn(*args)
            except Exception as exc:
                # A rejected handshake, or a fault in trio-websocket: the engine reports it.
                self.error = exc
                self.failed.set()

        connection = getattr(fn, "__self__", None)
        if isinstance(connection, trio_websocket.WebSocketConnection):
            # Before its reader reads a byte: the frames in the handshake answer's read too.
            self._prepare(connection)
        self._nursery.start_soon(guarded, name=name or fn)


async def connect_trio_websocket(
    guard: Guard, options: Options
) -> trio_websocket.WebSocketConnection:
    """Connect to ``options.url`` with trio-websocket, its reader task in ``guard``.

    Raises:
        ConnectError: TCP, TLS or the handshake failed.
        HandshakeRejected: the server answered with a status other than 101 (redirects are
            not followed by this engine).

    Cancellation: safe; a half-open connection is closed by the cancelled reader.
    """
    url = options.url
    connect = options.connect
    headers = [
        (name.encode("latin-1"), value.encode("latin-1"))
        for name, value in _request_headers(url, connect, keep_credentials=True)
    ]
    result: list[trio_websocket.WebSocketConnection] = []
    errors: list[Exception] = []

    async def attempt() -> None:
        try:
            result.append(
                await trio_websocket.connect_websocket_url(
                    guard,  # type: ignore[arg-type]
                    str(url),
                    connect.ssl_context if url.secure else None,
                    subprotocols=connect.protocols,
                    extra_headers=headers,
                    max_message_size=options.max_message_size or sys.maxsize,
                )
            )
        except Exception as exc:
            errors.append(exc)
        race.cancel_scope.cancel()

    async def reader_failed() -> None:
        await guard.failed.wait()
        race.cancel_scope.cancel()

    async with trio.open_nursery() as race:
        race.start_soon(attempt)
        race.start_soon(reader_failed)
    if result:
        return result[0]
    raise _translate(errors[0] if errors else guard.error, str(url))


def _translate(exc: Exception | None, shown: str) -> ConnectError:
    """The one boundary for trio-websocket's opening errors."""
    if isinstance(exc, trio_websocket.ConnectionRejected):
        body = exc.body or b""
        headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in exc.headers or ()]
        error: ConnectError = HandshakeRejected(
            f"{shown} rejected the WebSocket handshake with HTTP {exc.status_code} "
            "(engine='trio-websocket' follows no redirects)",
            status=exc.status_code,
            headers=headers,
            body=body,
        )
    elif isinstance(exc, OSError):
        error = ConnectError(f"cannot connect to {shown}: {describe(exc)}")
    elif isinstance(exc, _HANDSHAKE_ERRORS):
        error = ConnectError(f"invalid handshake response from {shown}: {exc}")
    else:
        error = ConnectError(f"cannot connect to {shown} with trio-websocket: {exc!r}")
    error.url = shown
    error.__cause__ = exc
    return error
