"""Keepalive, latency, silent peers, send backpressure and receive backpressure (issue 4)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest
import trio
from conftest import StartRawServer, StartWebSocketsServer
from peers.raw_server import Opcode, RawConnection
from recorder import Recorder, read_line, run_to_end

from trio_ws_events import (
    InvalidStateError,
    KeepaliveTimeout,
    SendBufferFull,
    State,
    WebSocket,
)
from trio_ws_events._sansio.frames import CHUNK_SIZE

PEERS = Path(__file__).parents[1] / "peers"


async def answer_pings(conn: RawConnection, until_close: bool = True) -> tuple[int | None, str]:
    """Answer every ping with a pong, until the client's close frame arrives."""
    while True:
        frame = await conn.read_frame()
        if frame.opcode == Opcode.PING:
            await conn.send_frame(Opcode.PONG, frame.payload)
        elif frame.opcode == Opcode.CLOSE:
            return frame.close_code, frame.close_reason


async def test_keepalive_pings_and_latency(raw_server: StartRawServer) -> None:
    """Pings go out every ping_interval; answered, they set latency and keep the connection."""
    pings = 0

    async def script(conn: RawConnection) -> None:
        nonlocal pings
        await conn.accept_handshake()
        while True:
            frame = await conn.read_frame()
            if frame.opcode == Opcode.PING:
                pings += 1
                await conn.send_frame(Opcode.PONG, frame.payload)
            else:
                assert frame.close_code == 1000
                await conn.send_close(1000)
                return

    server = await raw_server(script)
    ws = WebSocket(server.url, ping_interval=0.05, ping_timeout=0.5)
    assert ws.latency is None
    async with trio.open_nursery() as nursery:
        ws.open(nursery)
        await trio.sleep(0.4)
        assert ws.is_open
        assert ws.latency is not None
        assert 0 <= ws.latency < 0.5
        assert ws.last_message_received is not None
        assert ws.last_message_received <= trio.current_time()
        ws.close()
    await server.wait_finished()
    assert pings >= 3
    assert ws.close_code == 1000


async def test_unanswered_ping_ends_with_keepalive_timeout(raw_server: StartRawServer) -> None:
    """A peer that stays silent after a ping: KeepaliveTimeout (1011) within interval+timeout."""

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        await conn.wait_eof()  # reads, never answers

    server = await raw_server(script)
    ws = WebSocket(server.url, ping_interval=0.1, ping_timeout=0.2, close_timeout=0.2)
    rec = Recorder(ws)
    start = trio.current_time()
    await run_to_end(ws)
    elapsed = trio.current_time() - start
    await server.wait_finished()
    assert isinstance(rec.error, KeepaliveTimeout)
    assert ws.close_code == 1011  # the close frame went out
    # interval + timeout, then the close handshake's own bound on top
    assert 0.3 <= elapsed < 0.3 + 0.2 + 0.5, elapsed
    assert ws.state is State.CLOSED


async def test_slow_handler_does_not_count_against_peer(raw_server: StartRawServer) -> None:
    """While our own handler keeps us from reading, the keepalive timer does not blame the peer."""

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        await conn.send_text("slow")
        assert await answer_pings(conn) == (1000, "")
        await conn.send_close(1000)

    server = await raw_server(script)
    ws = WebSocket(server.url, ping_interval=0.05, ping_timeout=0.1)
    rec = Recorder(ws)

    async def slow(ws: WebSocket, message: str) -> None:
        await trio.sleep(0.5)  # five ping timeouts without reading
        ws.close()

    ws.on_message += slow
    await run_to_end(ws)
    await server.wait_finished()
    assert rec.events[-1] == ("closed", 1000, "")


async def test_ping_returns_round_trip(websockets_server: StartWebSocketsServer) -> None:
    """await ws.ping() returns the round-trip time once the pong arrives."""
    url = await websockets_server("echo")
    async with WebSocket(url, ping_interval=None) as ws:
        rtt = await ws.ping()
        assert 0 <= rtt < 1
        assert ws.latency is not None
        assert await ws.ping(b"x" * 125) >= 0
        with pytest.raises(ValueError, match="at most 125"):
            await ws.ping(b"x" * 126)
    with pytest.raises(InvalidStateError):
        await ws.ping()


async def test_ping_interrupted_by_the_end(raw_server: StartRawServer) -> None:
    """A ping whose connection ends before the pong raises InvalidStateError."""

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        await conn.read_frame()
        await conn.drop()

    server = await raw_server(script)
    async with WebSocket(server.url, ping_interval=None) as ws:
        with pytest.raises(InvalidStateError, match="ended before the pong"):
            await ws.ping()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGSTOP is POSIX")
async def test_stopped_server_process_is_detected() -> None:
    """A server frozen with SIGSTOP is detected within ping_interval + ping_timeout + margin."""
    command = [sys.executable, str(PEERS / "websockets_server.py"), "echo"]
    process = await trio.lowlevel.open_process(command, stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None
        with trio.fail_after(15):
            port = int(await read_line(process.stdout))
        ws = WebSocket(
            f"ws://127.0.0.1:{port}/", ping_interval=0.2, ping_timeout=0.3, close_timeout=0.3
        )
        rec = Recorder(ws)
        async with trio.open_nursery() as nursery:
            ws.open(nursery)
            with trio.fail_after(5):
                await ws._engine.ready.wait()
            assert await ws.ping() >= 0
            os.kill(process.pid, signal.SIGSTOP)
            stopped = trio.current_time()
            with trio.fail_after(5):
                await ws.wait_closed()
            elapsed = trio.current_time() - stopped
        assert isinstance(rec.error, KeepaliveTimeout)
        # ping_interval + ping_timeout, plus close_timeout for the unanswered close frame
        assert elapsed < 0.2 + 0.3 + 0.3 + 0.5, elapsed
        assert ws.state is State.CLOSED
        assert not nursery.child_tasks
    finally:
        os.kill(process.pid, signal.SIGCONT)
        process.kill()
        with trio.CancelScope(shield=True):
            await process.wait()


async def test_send_buffer_full_and_drain(raw_server: StartRawServer) -> None:
    """Past max_buffered_amount send() raises SendBufferFull and queues nothing; drain() waits."""
    release = trio.Event()
    received: list[bytes] = []

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        await release.wait()  # read nothing until the client's buffer is full
        while True:
            message = await conn.read_message()
            assert isinstance(message, bytes)
            received.append(message)
            if message == b"last":
                break
        await conn.read_close()
        await conn.send_close(1000)

    server = await raw_server(script)
    limit = 4 * 2**20
    chunk = b"c" * 2**20
    async with WebSocket(server.url, max_buffered_amount=limit, compression=None) as ws:
        sent = 0
        with pytest.raises(SendBufferFull) as info:
            for _ in range(1000):  # kernel buffers absorb some, then ours fills up
                ws.send(chunk)
                sent += 1
                await trio.sleep(0.001)
        assert info.value.code is None
        assert "max_buffered_amount" in str(info.value)
        before = ws.buffered_amount
        assert before + len(chunk) > limit
        assert ws.is_open  # it ends nothing
        release.set()
        with trio.fail_after(10):
            await ws.drain()
        assert ws.buffered_amount <= limit // 4
        await ws.send_wait(b"last")
    await server.wait_finished()
    assert len(received) == sent + 1  # nothing lost, nothing extra
    assert ws.unsent == ()


async def test_large_message_accepted_when_buffer_empty(echo_url: str) -> None:
    """A single message larger than the limit is accepted when nothing is queued."""
    async with WebSocket(echo_url, max_buffered_amount=1000, max_message_size=None) as ws:
        done = trio.Event()
        ws.on_binary += lambda ws, data: done.set()
        # Large enough never to be written from send() itself (Sender.write_now): queued.
        size = CHUNK_SIZE // 2
        ws.send(b"x" * size)
        assert ws.buffered_amount == size
        with pytest.raises(SendBufferFull):
            ws.send(b"y")
        with trio.fail_after(5):
            await done.wait()


async def test_send_wait_producer(websockets_server: StartWebSocketsServer) -> None:
    """A producer using send_wait() never sees SendBufferFull and loses nothing."""
    url = await websockets_server("echo")
    count = 200
    async with WebSocket(url, max_buffered_amount=256 * 1024) as ws:
        got: list[bytes] = []
        done = trio.Event()

        def collect(ws: WebSocket, data: bytes) -> None:
            got.append(data)
            if len(got) == count:
                done.set()

        ws.on_binary += collect
        for i in range(count):
            await ws.send_wait(i.to_bytes(4, "big") * 16384)  # 64 KiB each
        with trio.fail_after(20):
            await done.wait()
    assert [g[:4] for g in got] == [i.to_bytes(4, "big") for i in range(count)]


async def test_receive_backpressure_bounds_memory(raw_server: StartRawServer) -> None:
    """A server flooding 200 MB at a slow handler does not grow the client's memory."""
    message = b"f" * 65536
    flood = 200 * 10**6 // len(message)
    sent = 0

    async def script(conn: RawConnection) -> None:
        nonlocal sent
        await conn.accept_handshake()
        with trio.move_on_after(3):  # the client stops reading; TCP pushes back on us
            for _ in range(flood):
                await conn.send_binary(message)
                sent += 1
        await conn.drop()

    server = await raw_server(script, script_timeout=20)
    ws = WebSocket(server.url)
    received = 0

    async def slow(ws: WebSocket, data: bytes) -> None:
        nonlocal received
        received += 1
        await trio.sleep(0.01)

    ws.on_binary += slow
    tracemalloc.start()
    try:
        with trio.move_on_after(4):
            await run_to_end(ws)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # The server could not push the whole flood: TCP and our bounded reads pushed back.
    assert sent < flood
    assert 0 < received <= sent
    assert peak < 8 * 2**20, f"peak traced memory {peak} bytes"


async def test_send_wait_big_message_waits_for_empty_buffer(raw_server: StartRawServer) -> None:
    """send_wait of a message above the limit waits until the buffer is empty, then sends."""

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        assert await conn.read_message() == b"a" * 100
        assert await conn.read_message() == b"b" * 5000
        await conn.read_close()
        await conn.send_close(1000)

    server = await raw_server(script)
    async with WebSocket(server.url, max_buffered_amount=1000, compression=None) as ws:
        ws.send(b"a" * 100)  # below the low-water mark (250), but 100 + 5000 > 1000
        with trio.fail_after(5):
            await ws.send_wait(b"b" * 5000)
        assert ws.buffered_amount == 0
    await server.wait_finished()


async def test_silent_peer_detected_while_a_write_is_blocked(raw_server: StartRawServer) -> None:
    """A peer that stops reading and answering is detected even while our sender is stuck."""

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        await trio.sleep(5)  # reads nothing, answers nothing: a vanished peer
        await conn.drop()

    server = await raw_server(script)
    ws = WebSocket(
        server.url,
        ping_interval=0.2,
        ping_timeout=0.2,
        close_timeout=0.2,
        compression=None,
        max_buffered_amount=64 * 2**20,
    )
    rec = Recorder(ws)
    # Far more than the kernel buffers hold: the sender blocks in its write.
    ws.on_open += lambda ws: ws.send(b"u" * (32 * 2**20))
    start = trio.current_time()
    await run_to_end(ws, limit=4)
    elapsed = trio.current_time() - start
    assert isinstance(rec.error, KeepaliveTimeout)
    assert elapsed < 0.2 + 0.2 + 0.2 + 1.0, elapsed
    assert ws.unsent == (b"u" * (32 * 2**20),)
