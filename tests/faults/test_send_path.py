"""Hostile input on the send path and the lifecycle (issue 11, items 8-11 and 17).

A careless caller (a ``str`` subclass, a call from another thread, a closed nursery, a 200 MB
close reason) and a peer that breaks the protocol while it reads nothing: each is refused
before anything changes, or ends in one bounded terminal event that loses nothing silently.
"""

from __future__ import annotations

import enum
import time
import tracemalloc
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
import trio
from conftest import StartRawServer
from peers.raw_server import (
    Frame,
    Opcode,
    RawConnection,
    accept_key,
    build_frame,
    read_all_frames,
)
from recorder import Recorder, error_from_thread, in_own_run, run_to_end
from trio.testing import wait_all_tasks_blocked

from faults.support import DeafServer, run_case, until_open
from trio_ws_events import ProtocolError, State, WebSocket
from trio_ws_events._sansio.framing import FrameWriter
from trio_ws_events._trio.connection import FAIL_TIMEOUT

MiB = 2**20


class Color(enum.StrEnum):
    RED = "red"


class Loud(str):
    """A str subclass that lies in ``__str__`` and ``encode``: its characters are the text."""

    def __str__(self) -> str:
        return "LIES"

    def encode(self, *args: Any, **kwargs: Any) -> bytes:
        return b"LIES"


class Raw(bytes):
    """A bytes subclass that lies in ``__bytes__``: its buffer is the payload."""

    def __bytes__(self) -> bytes:
        return b"LIES"


class Buffer(bytearray):
    pass


def numbered(index: int, size: int = MiB) -> bytes:
    """A message that says which one it is in every 4 bytes."""
    return index.to_bytes(4, "big") * (size // 4)


# ---------------------------------------------------------------- item 8: subclasses


async def test_send_str_and_bytes_subclasses_are_framed_by_kind(
    raw_server: StartRawServer,
) -> None:
    """A str subclass (a StrEnum member) goes out as text, a bytes-like subclass as binary,
    each with its own characters or bytes, and the connection closes cleanly after them."""
    frames: list[Frame] = []

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        for _ in range(4):
            frames.append(await conn.read_frame())
        assert (await conn.read_close())[0] == 1000
        await conn.send_close(1000)

    server = await raw_server(script)
    ws = WebSocket(server.url, compression=None)

    def send_all(ws: WebSocket) -> None:
        ws.send(Color.RED)
        ws.send(Loud("abc"))
        ws.send(Raw(b"raw"))
        ws.send(Buffer(b"buf"))
        ws.close()

    ws.on_open += send_all
    rec = await run_case(ws, limit=5, before_fd_check=server.wait_finished)
    assert rec.names == ["open", "closed"]
    assert [(f.opcode, f.payload) for f in frames] == [
        (Opcode.TEXT, b"red"),
        (Opcode.TEXT, b"abc"),
        (Opcode.BINARY, b"raw"),
        (Opcode.BINARY, b"buf"),
    ]
    assert ws.stats.messages_sent == 4
    assert ws.unsent == ()


async def test_unsent_lists_subclass_messages_as_plain_str_and_bytes(
    raw_server: StartRawServer,
) -> None:
    """Queued subclass messages that never went out are listed in unsent as exact str and
    bytes (the server's close arrives with the handshake answer, before the sender runs)."""

    async def script(conn: RawConnection) -> None:
        key = conn.header("Sec-WebSocket-Key")
        assert key is not None
        head = (
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept_key(key)}\r\n\r\n"
        )
        await conn.send_raw(head.encode("latin-1") + build_frame(Opcode.CLOSE, b"\x03\xe8"))
        assert (await conn.read_close())[0] == 1000

    server = await raw_server(script)
    ws = WebSocket(server.url, compression=None)

    def send_two(ws: WebSocket) -> None:
        ws.send(Color.RED)
        ws.send(Raw(b"raw"))

    ws.on_open += send_two
    rec = await run_case(ws, limit=5, before_fd_check=server.wait_finished)
    assert rec.names == ["open", "closed"]
    assert ws.unsent == ("red", b"raw")
    assert [type(message) for message in ws.unsent] == [str, bytes]


async def test_a_batch_that_failed_to_frame_is_unsent_not_written(
    raw_server: StartRawServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If framing a batch fails (an internal bug, injected here), the abort path writes
    nothing more and claims nothing: the batch is in unsent and counted as not written."""
    frames: list[Frame] = []

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        got, _ = await read_all_frames(conn)
        frames.extend(got)

    server = await raw_server(script)
    ws = WebSocket(server.url, compression=None)

    def boom(self: FrameWriter, data: str | bytes) -> list[Any]:
        raise RuntimeError("framing bug")

    def send_two(ws: WebSocket) -> None:
        monkeypatch.setattr(FrameWriter, "message", boom)
        ws.send("one")
        ws.send(b"two")

    ws.on_open += send_two
    with trio.fail_after(5), pytest.RaisesGroup(RuntimeError, flatten_subgroups=True):
        await run_to_end(ws)
    await server.wait_finished()
    assert ws.state is State.CLOSED
    assert ws.stats.messages_sent == 0
    assert ws.unsent == ("one", b"two")
    assert ws.close_code == 1006
    assert [f.opcode for f in frames if f.opcode != Opcode.CLOSE] == []


# ---------------------------------------------------------------- item 9: other threads


def _misuse(name: str, ws: WebSocket) -> Callable[[], object]:
    """The call ``name`` made from a worker thread; async methods in a trio run of its own."""
    calls: dict[str, Callable[[], object]] = {
        "send": lambda: ws.send("from a thread"),
        "close": lambda: ws.close(),
        "drain": in_own_run(ws.drain),
        "send_wait": in_own_run(ws.send_wait, "from a thread"),
        "ping": in_own_run(ws.ping),
        "wait_closed": in_own_run(ws.wait_closed),
        "send_stream": in_own_run(ws.send_stream, ["from ", "a thread"]),
    }
    return calls[name]


@pytest.mark.parametrize(
    "name", ["send", "close", "drain", "send_wait", "ping", "wait_closed", "send_stream"]
)
async def test_calls_from_another_thread_are_refused_before_anything_changes(
    echo_url: str, name: str
) -> None:
    """A call from outside the Trio thread raises RuntimeError naming the way to do it and
    changes nothing: no message queued, still OPEN; sending and closing still work after."""
    ws = WebSocket(echo_url, close_timeout=2)
    rec = Recorder(ws)
    got = trio.Event()
    ws.on_message += lambda ws, m: got.set()

    async def body(ws: WebSocket) -> None:
        await until_open(ws)
        error = await error_from_thread(_misuse(name, ws))
        assert isinstance(error, RuntimeError), error
        assert "trio.from_thread.run_sync(ws.send, msg)" in str(error)
        assert str(error).startswith(f"{name}(")
        assert ws.state is State.OPEN
        assert ws.buffered_amount == 0
        ws.send("still works")
        await got.wait()
        ws.close()

    await run_case(ws, body, limit=5)
    assert rec.names == ["open", "message", "closed"]
    assert rec.messages == ["still works"]


# ---------------------------------------------------------------- item 10: a closed nursery


async def test_open_on_a_closed_nursery_raises_and_leaves_the_instance_usable(
    echo_url: str,
) -> None:
    """open() on a nursery closed to new arrivals raises before changing state; the instance
    stays INITIAL and opens (and ends with one terminal event) in another nursery."""
    ws = WebSocket(echo_url)
    rec = Recorder(ws)
    async with trio.open_nursery() as gone:
        pass
    with pytest.raises(RuntimeError, match=r"could not start .*closed to new arrivals.*while"):
        ws.open(gone)
    assert ws.state is State.INITIAL
    assert rec.events == []
    ws.on_open += lambda ws: ws.close()
    await run_to_end(ws, limit=5)
    assert rec.names == ["open", "closed"]


# ---------------------------------------------------------------- item 11: failing fast


async def _violate_when(violate: trio.Event, conn: RawConnection) -> None:
    """Once ``violate`` is set, send a text frame with RSV2 set: a protocol violation."""
    await violate.wait()
    await conn.send_raw(build_frame(Opcode.TEXT, b"bad", rsv=2))


async def test_violation_while_the_peer_reads_nothing_ends_within_the_fail_bound(
    raw_server: StartRawServer,
) -> None:
    """24 MiB queued to a peer that reads nothing, then it breaks the protocol: with
    close_timeout=None the end still comes within FAIL_TIMEOUT, the queue is in unsent, and
    .code 1006 agrees with a message that does not claim a close frame was sent."""
    violate = trio.Event()
    deaf = DeafServer(partial(_violate_when, violate))
    server = await raw_server(deaf.script, script_timeout=30)
    ws = WebSocket(server.url, compression=None, close_timeout=None, max_buffered_amount=64 * MiB)
    sent = [numbered(i) for i in range(24)]
    took = 0.0
    written_before = -1

    async def body(ws: WebSocket) -> None:
        nonlocal took, written_before
        await until_open(ws)
        for message in sent:
            ws.send(message)
        await wait_all_tasks_blocked()  # the sender is stuck in a write the kernel refuses
        assert ws.buffered_amount > 0, "the kernel took 24 MiB: the peer must seem not to read"
        written_before = ws.stats.messages_sent
        start = trio.current_time()
        violate.set()
        await ws.wait_closed()
        took = trio.current_time() - start

    rec = await run_case(ws, body, limit=10, before_fd_check=deaf.finish(server))
    assert took < FAIL_TIMEOUT + 0.5, f"took {took:.2f}s"  # 1.0 s measured; slack for load
    assert type(rec.error) is ProtocolError
    assert ws.close_code == rec.error.code == 1006
    assert "closed with 1002" not in rec.error.message
    assert "close frame 1002 could not be written" in rec.error.message
    written = ws.stats.messages_sent
    assert written == written_before  # the write in flight never completed
    assert list(ws.unsent) == sent[written:]
    received = deaf.payloads
    assert received == sent[: len(received)]
    assert Opcode.CLOSE not in [f.opcode for f in deaf.frames]


async def test_violation_with_a_large_queue_sends_the_close_frame_without_flushing(
    raw_server: StartRawServer,
) -> None:
    """The peer breaks the protocol with 24 MiB queued, then reads: the close frame 1002
    follows the batch already being written; the rest is in unsent, never on the wire."""
    violate = trio.Event()
    reader = DeafServer(partial(_violate_when, violate), deaf=False)  # reads once it violated
    server = await raw_server(reader.script, script_timeout=30)
    frames = reader.frames
    ws = WebSocket(server.url, compression=None, close_timeout=None, max_buffered_amount=64 * MiB)
    sent = [numbered(i) for i in range(24)]
    written_before = -1

    async def body(ws: WebSocket) -> None:
        nonlocal written_before
        await until_open(ws)
        for message in sent:
            ws.send(message)
        await wait_all_tasks_blocked()
        assert ws.buffered_amount > 0, "the kernel took 24 MiB: the peer must seem not to read"
        written_before = ws.stats.messages_sent
        violate.set()

    rec = await run_case(ws, body, limit=10, before_fd_check=server.wait_finished)
    assert type(rec.error) is ProtocolError
    assert ws.close_code == rec.error.code == 1002
    assert rec.error.message.endswith("; closed with 1002")
    assert frames[-1].opcode == Opcode.CLOSE
    assert frames[-1].close_code == 1002
    received = [f.payload for f in frames[:-1]]
    written = ws.stats.messages_sent
    # Only the batch being written when the violation came (one 1 MiB message) went on.
    assert written_before <= written <= written_before + 1
    assert received == sent[:written]
    assert list(ws.unsent) == sent[written:]


# ---------------------------------------------------------------- item 17: a huge close reason


@pytest.mark.parametrize("char", ["x", "é"])
def test_close_with_a_200_mb_reason_is_refused_before_encoding(char: str) -> None:
    """A 200-million-character reason is refused by its length alone: no encoding, so traced
    memory grows by under 64 KiB and the call takes well under a millisecond or so."""
    ws = WebSocket("ws://127.0.0.1:9/")
    reason = char * 200_000_000
    tracemalloc.start()
    try:
        start = time.perf_counter()
        with pytest.raises(ValueError, match=r"200000000 characters; at most 123 bytes"):
            ws.close(1000, reason)
        took = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024, f"peak traced memory {peak} bytes"
    assert took < 0.05, f"took {took:.3f}s"
    assert ws.state is State.INITIAL
    del reason


def test_close_reason_of_123_characters_but_more_bytes_is_refused_by_its_bytes() -> None:
    """Within 123 characters, the UTF-8 length still decides."""
    ws = WebSocket("ws://127.0.0.1:9/")
    with pytest.raises(ValueError, match=r"reason is 124 bytes of UTF-8; at most 123"):
        ws.close(1000, "é" * 62)
