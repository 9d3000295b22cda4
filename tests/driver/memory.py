"""A WebSocket whose stream is in memory, its server side a script: tests in virtual time.

The driver is given a ``trio.testing.memory_stream_pair`` end instead of a TCP socket
(``ConnectOptions.open_stream``); the other end runs a script over the raw-frame peer's
:class:`~peers.raw_server.RawConnection`, so that with ``autojump_clock`` a test of
keepalive or of timeouts runs at once, in virtual time, and measures exact times.
"""

from __future__ import annotations

import dataclasses
from typing import cast

import trio
import trio.testing
from peers.raw_server import RawConnection, Script, _read_head

from trio_ws_events import WebSocket
from trio_ws_events._sansio.url import WebSocketURL
from trio_ws_events._trio.connection import Connection

__all__ = ["over_memory", "run_over_memory"]


def over_memory(ws: WebSocket, nursery: trio.Nursery, script: Script) -> None:
    """Make ``ws`` open over a memory stream whose other end runs ``script`` in ``nursery``.

    The script's connection is closed when it returns, as the raw server does.
    """

    async def open_stream(url: WebSocketURL) -> trio.abc.Stream:
        client, server = trio.testing.memory_stream_pair()
        nursery.start_soon(_serve, server, script)
        return client

    engine = cast(Connection, ws._engine)
    engine._connect_options = dataclasses.replace(engine._connect_options, open_stream=open_stream)


async def run_over_memory(ws: WebSocket, script: Script, *, limit: float) -> None:
    """Open ``ws`` over memory against ``script`` in a nursery of its own and wait for its
    terminal event, within ``limit`` seconds (virtual ones under ``autojump_clock``)."""
    with trio.fail_after(limit):
        async with trio.open_nursery() as nursery:
            over_memory(ws, nursery, script)
            ws.open(nursery)
            await ws.wait_closed()


async def _serve(stream: trio.abc.Stream, script: Script) -> None:
    # RawConnection only sends and receives (drop(reset=True) aside, which needs a socket).
    socket_like = cast(trio.SocketStream, stream)
    try:
        received = await _read_head(socket_like)
        assert received is not None, "the client sent no request head"
        await script(RawConnection(socket_like, *received))
    finally:
        await trio.aclose_forcefully(stream)
