"""The driver's keepalive over a memory stream, in virtual time (``autojump_clock``)."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from peers.raw_server import Opcode, RawConnection
from recorder import Recorder

from trio_ws_events import KeepaliveTimeout, WebSocket
from trio_ws_events._trio.connect import Opened
from trio_ws_events._trio.connection import FAIL_TIMEOUT, Connection

from .memory import over_memory, run_over_memory


async def _answer_pings_until_close(conn: RawConnection, times: list[float]) -> int | None:
    """Pong every ping (noting when it came) until the client's close frame; its code."""
    while True:
        frame = await conn.read_frame()
        if frame.opcode == Opcode.PING:
            times.append(trio.current_time())
            await conn.send_frame(Opcode.PONG, frame.payload)
        elif frame.opcode == Opcode.CLOSE:
            await conn.send_close(frame.close_code)
            return frame.close_code


async def test_keepalive_pings_every_interval_in_virtual_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Answered pings go out exactly every ping_interval and set latency to the round trip."""
    ping_times: list[float] = []
    codes: list[int | None] = []

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        codes.append(await _answer_pings_until_close(conn, ping_times))

    ws = WebSocket("ws://memory.test/", ping_interval=20.0, ping_timeout=5.0)
    opened_at: list[float] = []
    ws.on_open += lambda ws: opened_at.append(trio.current_time())
    async with trio.open_nursery() as nursery:
        over_memory(ws, nursery, script)
        ws.open(nursery)
        await trio.sleep(65)
        assert ws.is_open
        ws.close()
    assert [t - opened_at[0] for t in ping_times] == pytest.approx([20.0, 40.0, 60.0])
    assert ws.latency == 0.0  # a memory stream answers within the same virtual instant
    assert codes == [1000]
    assert ws.close_code == 1000


async def test_keepalive_timeout_ends_at_interval_plus_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A peer that never answers: KeepaliveTimeout, 1011, exactly interval + timeout in."""
    codes: list[int | None] = []

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        codes.append((await conn.read_close())[0])
        await conn.send_close(1011)

    ws = WebSocket("ws://memory.test/", ping_interval=20.0, ping_timeout=5.0)
    recorder = Recorder(ws)
    ended_at: list[float] = []
    ws.on_error += lambda ws, error: ended_at.append(trio.current_time())
    start = trio.current_time()
    await run_over_memory(ws, script, limit=300)  # virtual seconds
    assert isinstance(recorder.error, KeepaliveTimeout)
    assert codes == [1011]
    assert ws.close_code == 1011
    assert ended_at[0] - start == pytest.approx(25.0)


async def test_keepalive_does_not_blame_the_peer_for_a_slow_handler(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """While an async handler runs (no reading), no timeout; after it, a full ping_timeout."""
    handler_done: list[float] = []
    ended_at: list[float] = []

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        await conn.send_text("slow")
        await conn.read_close()  # pings go unanswered
        await conn.send_close(1011)

    async def slow(ws: WebSocket, message: str) -> None:
        await trio.sleep(100)
        handler_done.append(trio.current_time())

    ws = WebSocket("ws://memory.test/", ping_interval=20.0, ping_timeout=5.0)
    recorder = Recorder(ws)
    ws.on_message += slow
    ws.on_error += lambda ws, error: ended_at.append(trio.current_time())
    await run_over_memory(ws, script, limit=300)  # virtual seconds
    assert isinstance(recorder.error, KeepaliveTimeout)
    assert ended_at[0] - handler_done[0] == pytest.approx(5.0)


class _ReaderThatDoesNotTick(Connection):
    """An engine reading its own way (as an engine over another library does): it reads
    nothing and never ticks, so ``Pinger.run`` must."""

    __slots__ = ()
    reader_ticks = False

    async def _receive_loop(self, opened: Opened) -> None:
        await trio.sleep_forever()


async def test_keepalive_task_runs_for_an_engine_whose_reader_does_not_tick(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """With reader_ticks false the keepalive runs as a task: KeepaliveTimeout on time."""
    codes: list[int | None] = []

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        codes.append((await conn.read_close())[0])
        await conn.send_close(1011)

    ws = WebSocket("ws://memory.test/", ping_interval=20.0, ping_timeout=5.0)
    ws._engine.__class__ = _ReaderThatDoesNotTick
    recorder = Recorder(ws)
    failed_at: list[float] = []
    ws.on_error += lambda ws, error: failed_at.append(trio.current_time())
    start = trio.current_time()
    await run_over_memory(ws, script, limit=300)  # virtual seconds
    assert isinstance(recorder.error, KeepaliveTimeout)
    assert codes == [1011]
    # The failure is decided at interval + timeout; the close then waits FAIL_TIMEOUT for
    # a reply that this reader never reads.
    assert failed_at[0] - start == pytest.approx(25.0 + FAIL_TIMEOUT)
