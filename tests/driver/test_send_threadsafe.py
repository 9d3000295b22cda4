"""``send_threadsafe()``: sending from worker threads, in order per thread, nothing lost."""

from __future__ import annotations

from concurrent.futures import Future

import pytest
import trio
from conftest import StartRawServer
from peers.raw_server import RawConnection, read_all_frames
from recorder import Recorder, run_on_open, run_to_end
from trio.testing import wait_all_tasks_blocked

from trio_ws_events import InvalidStateError, SendBufferFull, State, WebSocket

MiB = 2**20
THREADS = 8
PER_THREAD = 500


def _produce(ws: WebSocket, index: int) -> list[BaseException | None]:
    """Send ``PER_THREAD`` numbered messages from this thread; what each future ended with."""
    futures = [ws.send_threadsafe(f"{index}:{seq}") for seq in range(PER_THREAD)]
    return [future.exception(timeout=10) for future in futures]


async def test_send_threadsafe_from_8_threads_keeps_each_threads_order(echo_url: str) -> None:
    """8 threads send 500 messages each at once: the echo server returns all 4,000, and each
    thread's messages in the order that thread sent them."""
    ws = WebSocket(echo_url)
    echoes: list[str] = []
    outcomes: list[BaseException | None] = []
    ws.on_message += lambda ws, m: echoes.append(m)

    async def produce(index: int) -> None:
        outcomes.extend(await trio.to_thread.run_sync(_produce, ws, index))

    async def drive(ws: WebSocket) -> None:
        async with trio.open_nursery() as threads:
            for index in range(THREADS):
                threads.start_soon(produce, index)
        while len(echoes) < THREADS * PER_THREAD:
            await trio.sleep(0.01)
        ws.close()

    await run_on_open(ws, drive, limit=20)
    assert outcomes == [None] * (THREADS * PER_THREAD)
    assert len(echoes) == THREADS * PER_THREAD
    for index in range(THREADS):
        seqs = [int(m.split(":")[1]) for m in echoes if m.split(":")[0] == str(index)]
        assert seqs == list(range(PER_THREAD)), f"thread {index} out of order"
    assert ws.close_code == 1000


async def test_send_threadsafe_refuses_bad_input_in_the_calling_thread(echo_url: str) -> None:
    """Bad input raises in the calling thread with send()'s messages, before anything is
    scheduled; calling it before open() raises InvalidStateError."""
    ws = WebSocket(echo_url)
    with pytest.raises(InvalidStateError, match="open\\(\\) was not called"):
        ws.send_threadsafe("too early")

    def misuse() -> list[str]:
        messages = []
        for bad in (42, None, "lone \ud800"):
            try:
                ws.send_threadsafe(bad)  # type: ignore[arg-type]
            except (TypeError, ValueError) as exc:
                messages.append(str(exc))
        return messages

    async def check(ws: WebSocket) -> None:
        messages = await trio.to_thread.run_sync(misuse)
        assert messages[0].startswith("send() takes str (text) or bytes")
        assert "got int" in messages[0]
        assert "got NoneType" in messages[1]
        assert messages[2].startswith("cannot send text with a lone surrogate at index 5")
        assert ws.buffered_amount == 0
        ws.close()

    rec = Recorder(ws)
    await run_on_open(ws, check, limit=10)
    assert rec.names == ["open", "closed"]


async def test_send_threadsafe_after_the_end_is_reported_on_the_future(echo_url: str) -> None:
    """Once the connection ended, and once its trio run is over, a message is not dropped
    silently: the future holds InvalidStateError."""
    ws = WebSocket(echo_url)
    ws.on_open += lambda ws: ws.close()
    await run_to_end(ws, limit=10)
    assert ws.state is State.CLOSED
    future: Future[None] = await trio.to_thread.run_sync(ws.send_threadsafe, "late")
    with pytest.raises(InvalidStateError, match="is CLOSED"):
        future.result(timeout=5)


async def test_send_threadsafe_after_the_trio_run_returned_is_reported(echo_url: str) -> None:
    """A connection run by trio.run in a worker thread ends and that run returns; a later
    send_threadsafe() from another thread gets a future holding InvalidStateError."""
    ws = WebSocket(echo_url)
    ws.on_open += lambda ws: ws.close()

    def run_elsewhere() -> None:
        async def main() -> None:
            with trio.fail_after(10):
                await run_to_end(ws)

        trio.run(main)

    await trio.to_thread.run_sync(run_elsewhere)
    assert ws.state is State.CLOSED
    future = ws.send_threadsafe("after the run")  # from this test's own (other) Trio thread
    with pytest.raises(InvalidStateError, match="Trio run is over"):
        future.result(timeout=0)


async def test_send_threadsafe_reports_a_full_buffer_on_the_future(
    raw_server: StartRawServer,
) -> None:
    """A message that would pass max_buffered_amount is refused as send() refuses it: the
    future holds SendBufferFull, and nothing was queued for it."""
    release = trio.Event()

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        await release.wait()  # reads nothing until the check is done
        await read_all_frames(conn)

    server = await raw_server(script)
    ws = WebSocket(server.url, compression=None, max_buffered_amount=MiB, close_timeout=0.2)
    chunk = b"x" * (MiB // 4)
    outcome: list[BaseException | None] = []

    async def fill_then_check(ws: WebSocket) -> None:
        for _ in range(200):  # bounded: the kernel's buffers hold a few MiB at most
            try:
                ws.send(chunk)
            except SendBufferFull:
                await wait_all_tasks_blocked()  # the sender writes what the kernel takes
                if ws.buffered_amount + len(chunk) > MiB:
                    break
        before = ws.buffered_amount
        future = ws.send_threadsafe(chunk)
        outcome.append(await trio.to_thread.run_sync(future.exception, 5))
        assert ws.buffered_amount == before
        release.set()
        ws.close()

    await run_on_open(ws, fill_then_check, limit=10)
    await server.wait_finished()
    assert len(outcome) == 1
    assert isinstance(outcome[0], SendBufferFull)
