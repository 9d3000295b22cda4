"""The sender's writer: a direct write first, trio's send_all for the rest."""

from __future__ import annotations

import os

import pytest
import trio
import trio.testing

from trio_ws_events._trio.writer import Writer


async def test_large_write_falls_back_to_send_all_and_keeps_order() -> None:
    """More than the kernel takes at once: the rest goes through send_all, bytes in order."""
    left, right = trio.socket.socketpair()
    sender, receiver = trio.SocketStream(left), trio.SocketStream(right)
    writer = Writer(sender)
    data = os.urandom(8 * 2**20)
    received = bytearray()

    async def read_all() -> None:
        while len(received) < len(data):
            received.extend(await receiver.receive_some(2**20))

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(read_all)
            await writer.send_all(data)
            await writer.send_all(b"tail")
            data += b"tail"
    assert bytes(received) == data
    await sender.aclose()
    await receiver.aclose()


async def test_broken_and_closed_map_to_trio_errors() -> None:
    """A reset peer is BrokenResourceError; our own closed stream is ClosedResourceError."""
    left, right = trio.socket.socketpair()
    sender = trio.SocketStream(left)
    writer = Writer(sender)
    right.close()
    with pytest.raises(trio.BrokenResourceError):
        for _ in range(100):  # the first writes may still land in the buffer
            await writer.send_all(b"x" * 65536)
    await sender.aclose()
    with pytest.raises(trio.ClosedResourceError):
        await writer.send_all(b"late")


async def test_non_socket_streams_use_send_all() -> None:
    """TLS or any other stream: every byte goes through the stream's own send_all."""
    sender, receiver = trio.testing.memory_stream_pair()
    writer = Writer(sender)
    await writer.send_all(b"hello")
    assert await receiver.receive_some() == b"hello"
