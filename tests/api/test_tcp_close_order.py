"""Who closes TCP after the close handshake: the server first (RFC 6455 7.1.1).

Issue 18 weighed closing the socket as soon as the server's close reply arrives (the
benchmarks' Trio floor does, and it saves a read per connection) and kept the wait, as
websockets and Chromium do: see docs/design.md, "After the close handshake, the server
closes TCP". These pin it.
"""

from __future__ import annotations

import trio
from peers.raw_server import RawConnection, StartRawServer
from recorder import Recorder, run_to_end

from trio_ws_events import WebSocket
from trio_ws_events._trio.connection import EOF_GRACE


async def test_close_waits_for_the_server_to_close_tcp(raw_server: StartRawServer) -> None:
    """After the close reply the client keeps its socket open until the server closes its
    own; on_closed fires then, not before."""
    held: list[bool] = []

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        assert await conn.read_close() == (1000, "bye")
        await conn.send_close(1000, "bye")
        with trio.move_on_after(0.3):
            await conn.wait_eof()  # the client closing first would end this at once
        held.append(not conn.eof)
        await conn.drop()

    server = await raw_server(script)
    ws = WebSocket(server.url)
    rec = Recorder(ws)
    closed_at: list[float] = []

    def close_at_once(ws: WebSocket) -> None:
        closed_at.append(trio.current_time())
        ws.close(1000, "bye")

    ws.on_open += close_at_once
    await run_to_end(ws)
    await server.wait_finished()
    assert held == [True]
    assert rec.names == ["open", "closed"]
    assert (ws.close_code, ws.close_reason) == (1000, "bye")
    assert ws.stats.time_open is not None
    assert trio.current_time() - closed_at[0] >= 0.3


async def test_close_ends_after_the_grace_when_the_server_keeps_tcp(
    raw_server: StartRawServer,
) -> None:
    """A server that answers the close but never closes TCP is waited on for the EOF grace
    at most (close_timeout when shorter); the end is still on_closed, and the client closes."""

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        await conn.read_close()
        await conn.send_close(1000, "")
        await conn.wait_eof()

    server = await raw_server(script)
    ws = WebSocket(server.url, close_timeout=0.4)
    rec = Recorder(ws)
    ws.on_open += lambda ws: ws.close()
    start = trio.current_time()
    await run_to_end(ws)
    took = trio.current_time() - start
    await server.wait_finished()  # the client's socket was closed: the server read EOF
    assert rec.names == ["open", "closed"]
    assert ws.close_code == 1000
    assert 0.35 <= took < min(EOF_GRACE, 0.4) + 1.0
