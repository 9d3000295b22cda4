"""The reader's receive_some: read(2) on a plain socket, the stream's own method otherwise."""

from __future__ import annotations

import socket
import struct

import pytest
import trio
import trio.testing

from trio_ws_events._trio.busypoll import Exchange
from trio_ws_events._trio.reader import Receive
from trio_ws_events._trio.reader import receiver as receiver_of
from trio_ws_events._trio.wakeup import Wakeup


def receiver(stream: trio.abc.Stream) -> Receive:
    """The reader's receive_some for ``stream``, without busy polling."""
    return receiver_of(stream, Exchange(), 0.0)


def socket_pair() -> tuple[trio.SocketStream, trio.SocketStream]:
    left, right = trio.socket.socketpair()
    return trio.SocketStream(left), trio.SocketStream(right)


async def test_plain_socket_reads_bypass_the_stream_and_end_with_eof() -> None:
    """Bytes already there, then bytes after a wait, then b"" at the end of the stream."""
    ours, peer = socket_pair()
    receive = receiver(ours)
    assert receive != ours.receive_some  # the direct one
    await peer.send_all(b"first")
    with trio.testing.assert_checkpoints():  # a read that did not wait still yields
        assert await receive(100) == b"first"

    async def later() -> None:
        await trio.sleep(0.01)
        await peer.send_all(b"second")
        await peer.aclose()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(later)
        with trio.fail_after(5):
            assert await receive(100) == b"second"
            assert await receive(100) == b""
    await ours.aclose()


async def test_a_cancelled_read_takes_nothing() -> None:
    """Cancelled before it reads: Cancelled, and the bytes stay for the next read."""
    ours, peer = socket_pair()
    receive = receiver(ours)
    await peer.send_all(b"kept")
    with trio.CancelScope() as scope:
        scope.cancel()
        await receive(100)
    assert scope.cancelled_caught
    assert await receive(100) == b"kept"
    await ours.aclose()
    await peer.aclose()


async def test_reset_is_broken_and_closed_is_closed() -> None:
    """A reset by the peer is BrokenResourceError; our socket closed, before or during the
    wait, is ClosedResourceError, as with SocketStream.receive_some."""
    listener = trio.socket.socket()
    await listener.bind(("127.0.0.1", 0))
    listener.listen()
    stream = await trio.open_tcp_stream(*listener.getsockname())
    accepted, _ = await listener.accept()
    receive = receiver(stream)
    # SO_LINGER 0: close() sends a RST instead of a FIN.
    accepted.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    accepted.close()
    listener.close()
    with trio.fail_after(5), pytest.raises(trio.BrokenResourceError, match="reading failed"):
        await receive(100)
    await stream.aclose()
    with pytest.raises(trio.ClosedResourceError):
        await receive(100)

    ours, peer = socket_pair()
    receive = receiver(ours)
    async with trio.open_nursery() as nursery:

        async def close_soon() -> None:
            await trio.testing.wait_all_tasks_blocked()
            await ours.aclose()

        nursery.start_soon(close_soon)
        with trio.fail_after(5), pytest.raises(trio.ClosedResourceError):
            await receive(100)
    await peer.aclose()


async def test_other_streams_keep_their_own_receive_some() -> None:
    """A memory stream (or TLS, HTTP/2) is read through its own receive_some."""
    ours, _ = trio.testing.memory_stream_pair()
    assert receiver(ours) == ours.receive_some


# ---------------------------------------------------------------- the sender's Wakeup


async def test_wakeup_set_before_wait_wakes_at_once_and_clears() -> None:
    """set() before wait(): wait() returns after a checkpoint, and the flag is cleared."""
    wakeup = Wakeup()
    wakeup.set()
    wakeup.set()  # a second set changes nothing
    with trio.testing.assert_checkpoints():
        await wakeup.wait()
    assert not wakeup.is_set()


async def test_wakeup_set_while_waiting_wakes_the_waiter() -> None:
    """set() from another task wakes the waiting one; a cancelled wait leaves it usable."""
    wakeup = Wakeup()
    woke = 0

    async def waiter() -> None:
        nonlocal woke
        await wakeup.wait()
        woke += 1

    async with trio.open_nursery() as nursery:
        nursery.start_soon(waiter)
        await trio.testing.wait_all_tasks_blocked()
        assert woke == 0
        wakeup.set()
    assert woke == 1
    assert not wakeup.is_set()

    with trio.move_on_after(0.01) as scope:
        await wakeup.wait()
    assert scope.cancelled_caught
    wakeup.set()  # nobody waits: kept for the next wait
    assert wakeup.is_set()
    await wakeup.wait()
