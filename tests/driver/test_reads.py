"""The reader's reads: fresh bytes until a read is large, then views of one reused buffer."""

from __future__ import annotations

import os

import pytest
import trio
import trio.testing

from trio_ws_events._sansio.frames import CHUNK_SIZE
from trio_ws_events._sansio.protocol import HEADER_READ
from trio_ws_events._trio.reading import LARGE_READ, Reads


async def _socket_pair() -> tuple[trio.SocketStream, trio.SocketStream]:
    left, right = trio.socket.socketpair()
    return trio.SocketStream(left), trio.SocketStream(right)


async def _read_exactly(reads: Reads, size: int, keep: bool = False) -> list[bytes | memoryview]:
    got: list[bytes | memoryview] = []
    total = 0
    while total < size:
        data = await reads.receive(keep)
        assert data
        got.append(data)
        total += len(data)
    return got


async def test_receive_small_reads_stay_fresh_bytes() -> None:
    """A connection that only reads small amounts gets bytes each time, no buffer."""
    ours, peer = await _socket_pair()
    reads = Reads(ours)
    for _ in range(5):
        await peer.send_all(b"x" * 1000)
        data = await reads.receive(False)
        assert type(data) is bytes
        assert data == b"x" * 1000
    await ours.aclose()
    await peer.aclose()


async def test_receive_after_a_large_read_gives_views_of_one_buffer() -> None:
    """After a read of LARGE_READ bytes or more, reads come as views of one buffer of
    CHUNK_SIZE bytes (the bound per connection), in order; keep=True still gives bytes."""
    ours, peer = await _socket_pair()
    reads = Reads(ours)
    await peer.send_all(bytes(LARGE_READ))
    first = await reads.receive(False)
    assert len(first) == LARGE_READ
    assert type(first) is bytes  # the read that made the connection a large reader
    payload = os.urandom(4 * CHUNK_SIZE)
    received = bytearray()
    owners: set[int] = set()
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(peer.send_all, payload)
            while len(received) < len(payload):
                data = await reads.receive(False)
                assert type(data) is memoryview
                owners.add(id(data.obj))
                assert len(data.obj) == CHUNK_SIZE  # type: ignore[arg-type]
                received += data
    assert bytes(received) == payload
    assert len(owners) == 1
    await peer.send_all(b"kept")
    (kept,) = await _read_exactly(reads, 4, keep=True)
    assert type(kept) is bytes
    assert kept == b"kept"
    await ours.aclose()
    await peer.aclose()


async def test_receive_eof_broken_and_closed() -> None:
    """The end of the stream is b""; a reset is BrokenResourceError; our own closed stream
    is ClosedResourceError, from the buffer's reads as from fresh ones."""
    ours, peer = await _socket_pair()
    reads = Reads(ours)
    await peer.send_all(bytes(LARGE_READ))
    await _read_exactly(reads, LARGE_READ)  # the buffer is in use from now on
    await peer.aclose()
    assert len(await reads.receive(False)) == 0
    await ours.aclose()
    with pytest.raises(trio.ClosedResourceError):
        await reads.receive(False)
    with pytest.raises(trio.ClosedResourceError):
        await reads.receive(True)


async def test_receive_from_a_reset_peer_is_broken_resource_error() -> None:
    """A peer that resets the connection: BrokenResourceError from the buffer's read."""
    left, right = trio.socket.socketpair()
    ours = trio.SocketStream(left)
    reads = Reads(ours)
    await right.send(bytes(LARGE_READ))
    await _read_exactly(reads, LARGE_READ)
    await ours.send_all(b"unread")  # unread data at close makes the kernel reset
    right.close()
    with pytest.raises(trio.BrokenResourceError), trio.fail_after(5):
        await reads.receive(False)
    await ours.aclose()


async def test_receive_on_non_socket_streams_uses_receive_some() -> None:
    """TLS or any other stream: bytes from the stream's own receive_some, even large ones."""
    ours, peer = trio.testing.memory_stream_pair()
    reads = Reads(ours)
    for size in (2 * LARGE_READ, 10):
        await peer.send_all(bytes(size))
        data = await reads.receive(False)
        assert type(data) is bytes
        assert len(data) == size


async def test_receive_reads_at_most_size() -> None:
    """``size`` bounds one read (the protocol's ``read_size``): the rest stays in the socket."""
    ours, peer = await _socket_pair()
    reads = Reads(ours)
    payload = os.urandom(1000)
    await peer.send_all(payload)
    with trio.fail_after(5):
        first = await reads.receive(True, 10)
        rest = await reads.receive(True, 5000)
    assert type(first) is bytes
    assert first == payload[:10]
    assert rest == payload[10:]
    await ours.aclose()
    await peer.aclose()


async def test_receive_of_a_header_read_does_not_yield_but_others_do() -> None:
    """A read of HEADER_READ bytes that finds them (a large frame's header: its payload's
    read follows and yields) lets no other task run; any other read that did not wait yields
    once, as trio's receive_some does."""
    ours, peer = await _socket_pair()
    reads = Reads(ours)
    steps = 0

    async def other() -> None:
        nonlocal steps
        while True:
            steps += 1
            await trio.lowlevel.checkpoint()

    count = 20
    await peer.send_all(bytes(count * (HEADER_READ + 1)))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(other)
        for _ in range(100):
            if steps:
                break
            await trio.lowlevel.checkpoint()
        before = steps
        for _ in range(count):
            assert len(await reads.receive(True, HEADER_READ)) == HEADER_READ
        assert steps == before
        for _ in range(count):
            assert len(await reads.receive(True, 1)) == 1
        assert steps > before
        nursery.cancel_scope.cancel()
    await ours.aclose()
    await peer.aclose()
