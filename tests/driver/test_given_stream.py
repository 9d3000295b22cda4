"""The driver runs over a stream it is given (``ConnectOptions.open_stream``), not only TCP."""

from __future__ import annotations

import trio
import trio.testing
from peers.raw_server import RawConnection
from recorder import Recorder

from trio_ws_events import State, WebSocket

from .memory import over_memory, run_over_memory


async def test_open_over_a_memory_stream_exchanges_messages_and_closes() -> None:
    """Handshake, a message each way and the close handshake all run over the memory stream."""
    received: list[str | bytes] = []

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        await conn.send_text("hello")
        received.append(await conn.read_message())
        assert await conn.read_close() == (1000, "done")
        await conn.send_close(1000, "done")

    ws = WebSocket("ws://memory.test/chat")
    recorder = Recorder(ws)
    ws.on_message += lambda ws, message: ws.send(message.upper())
    ws.on_message += lambda ws, message: ws.close(1000, "done")
    await run_over_memory(ws, script, limit=5)
    assert received == ["HELLO"]
    assert recorder.names == ["open", "message", "closed"]
    assert (ws.close_code, ws.close_reason) == (1000, "done")
    assert ws.local_address is None  # no socket under a memory stream


async def test_cancelled_over_a_memory_stream_ends_closed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Cancelling the nursery mid-connection leaves the WebSocket CLOSED and the stream shut."""
    ended: list[bool] = []

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        try:
            await conn.read_close()
        finally:
            ended.append(True)

    ws = WebSocket("ws://memory.test/", close_timeout=2.0)
    with trio.move_on_after(30):
        async with trio.open_nursery() as nursery:
            over_memory(ws, nursery, script)
            ws.open(nursery)
            await trio.sleep(10)
            nursery.cancel_scope.cancel()
    assert ws.state is State.CLOSED
    assert ended == [True]
