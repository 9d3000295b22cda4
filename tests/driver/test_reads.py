"""The reader's reads: fresh bytes until a read is large, then views of one reused buffer."""

from __future__ import annotations

import os
import socket

import pytest
import trio
import trio.testing

from trio_ws_events._sansio.frames import CHUNK_SIZE
from trio_ws_events._sansio.protocol import HEADER_READ
from trio_ws_events._trio.reading import LARGE_READ, WHOLE_READS, Reads


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


# ---------------------------------------------------------------- a large frame's payload, whole


async def _tcp_pair() -> tuple[trio.SocketStream, trio.SocketStream]:
    """A loopback TCP connection: the kernel honours SO_RCVLOWAT on TCP, not on AF_UNIX."""
    listener = trio.socket.socket()
    await listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    ours = trio.socket.socket()
    await ours.connect(listener.getsockname())
    peer, _ = await listener.accept()
    listener.close()
    return trio.SocketStream(ours), trio.SocketStream(peer)


def _low_water(stream: trio.SocketStream) -> int:
    return stream.socket.getsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT)


WHOLE = 2**20


async def _send_in_pieces(peer: trio.SocketStream, data: bytes, then_close: bool = False) -> None:
    for offset in range(0, len(data), 64 * 1024):
        await peer.send_all(data[offset : offset + 64 * 1024])
        await trio.sleep(0.002)
    if then_close:
        await peer.aclose()


needs_whole_reads = pytest.mark.skipif(not WHOLE_READS, reason="SO_RCVLOWAT waits: Linux")


async def _reads_of(reads: Reads, size: int, whole: bool) -> tuple[bytes, int]:
    got = b""
    count = 0
    with trio.fail_after(5):
        while len(got) < size:
            data = await reads.receive(True, size - len(got), whole=whole)
            assert type(data) is bytes
            assert data
            got += data
            count += 1
    return got, count


@needs_whole_reads
async def test_a_whole_read_waits_for_the_whole_payload() -> None:
    """1 MiB arriving in 64 KiB pieces: ordinary reads take it piece by piece; whole reads
    (``ClientProtocol.reads_whole``) take it at once, and the low-water mark is 1 byte again
    after them. The kernel also wakes a whole read when its receive window is all but closed
    (a fresh connection's is small): one more read then, never a read per piece."""
    ours, peer = await _tcp_pair()
    reads = Reads(ours)
    for whole, most in ((False, None), (True, 3), (True, 2)):
        body = os.urandom(WHOLE)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_send_in_pieces, peer, body)
            got, count = await _reads_of(reads, WHOLE, whole)
        assert got == body
        if most is None:
            assert count >= 8  # the control: the pieces come one by one
        else:
            assert count <= most
        assert _low_water(ours) == 1
    await ours.aclose()
    await peer.aclose()


@needs_whole_reads
async def test_a_whole_read_ends_with_the_stream() -> None:
    """The server sends half the payload and closes: the whole read returns that half (the
    end of the stream wakes it below the mark), then b""."""
    ours, peer = await _tcp_pair()
    reads = Reads(ours)
    half = os.urandom(WHOLE // 2)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_send_in_pieces, peer, half, True)
        got = b""
        with trio.fail_after(5):
            while len(got) < len(half):
                got += await reads.receive(True, WHOLE - len(got), whole=True)
            assert await reads.receive(True, WHOLE - len(got), whole=True) == b""
    assert got == half
    await ours.aclose()


@needs_whole_reads
async def test_a_cancelled_whole_read_takes_nothing_and_resets_the_mark() -> None:
    """Cancelled while it waits for the rest: Cancelled, the mark is 1 byte again, and what
    had arrived is there for the next read."""
    ours, peer = await _tcp_pair()
    reads = Reads(ours)
    await peer.send_all(b"x" * 1000)
    with trio.move_on_after(0.05) as scope:
        await reads.receive(True, WHOLE, whole=True)
    assert scope.cancelled_caught
    assert _low_water(ours) == 1
    assert await reads.receive(True, WHOLE) == b"x" * 1000
    await ours.aclose()
    await peer.aclose()
