"""The reader's reads on a plain socket (read(2) itself, trio's checkpoints), and the
sender's Wakeup; tests/driver/test_reads.py has the reusable buffer and the errors."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from trio_ws_events._trio.busypoll import Exchange
from trio_ws_events._trio.reading import Reads
from trio_ws_events._trio.wakeup import Wakeup


def socket_pair() -> tuple[trio.SocketStream, trio.SocketStream]:
    left, right = trio.socket.socketpair()
    return trio.SocketStream(left), trio.SocketStream(right)


async def test_plain_socket_reads_yield_and_wait_like_receive_some() -> None:
    """A read that did not wait still yields once; one that waits returns what came next;
    the end of the stream is b""."""
    ours, peer = socket_pair()
    reads = Reads(ours, Exchange(), 0.0)
    await peer.send_all(b"first")
    with trio.testing.assert_checkpoints():
        assert await reads.receive(True) == b"first"

    async def later() -> None:
        await trio.sleep(0.01)
        await peer.send_all(b"second")
        await peer.aclose()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(later)
        with trio.fail_after(5):
            assert await reads.receive(True) == b"second"
            assert await reads.receive(True) == b""
    await ours.aclose()


async def test_a_cancelled_read_takes_nothing() -> None:
    """Cancelled before it reads: Cancelled, and the bytes stay for the next read."""
    ours, peer = socket_pair()
    reads = Reads(ours, Exchange(), 0.0)
    await peer.send_all(b"kept")
    with trio.CancelScope() as scope:
        scope.cancel()
        await reads.receive(True)
    assert scope.cancelled_caught
    assert await reads.receive(True) == b"kept"
    await ours.aclose()
    await peer.aclose()


async def test_socket_closed_during_the_wait_is_closed_resource_error() -> None:
    """Our socket closed by another task while the read waits: ClosedResourceError."""
    ours, peer = socket_pair()
    reads = Reads(ours, Exchange(), 0.0)
    async with trio.open_nursery() as nursery:

        async def close_soon() -> None:
            await trio.testing.wait_all_tasks_blocked()
            await ours.aclose()

        nursery.start_soon(close_soon)
        with trio.fail_after(5), pytest.raises(trio.ClosedResourceError):
            await reads.receive(True)
    await peer.aclose()


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
