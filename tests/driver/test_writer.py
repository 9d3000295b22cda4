"""The sender's writer: a direct write first, trio's send_all for the rest."""

from __future__ import annotations

import os
import socket
from collections.abc import Awaitable, Callable

import pytest
import trio
import trio.testing

from trio_ws_events._sansio.closing import CloseHandshake
from trio_ws_events._sansio.events import Buffer
from trio_ws_events._sansio.frames import CHUNK_SIZE, FrameReader
from trio_ws_events._sansio.protocol import ClientProtocol
from trio_ws_events._trio.socket_writes import LARGE_WRITE_LOWAT, Writer, write_frames


async def _received_while(write: Callable[[Writer], Awaitable[None]], size: int) -> bytes:
    """``write`` to one end of a socket pair while the other end reads ``size`` bytes; what
    it read."""
    left, right = trio.socket.socketpair()
    sender, receiver = trio.SocketStream(left), trio.SocketStream(right)
    received = bytearray()

    async def read_all() -> None:
        while len(received) < size:
            received.extend(await receiver.receive_some(2**20))

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(read_all)
            await write(Writer(sender))
    await sender.aclose()
    await receiver.aclose()
    return bytes(received)


async def test_large_write_falls_back_to_send_all_and_keeps_order() -> None:
    """More than the kernel takes at once: the rest goes through send_all, bytes in order."""
    data = os.urandom(8 * 2**20)

    async def write(writer: Writer) -> None:
        await writer.send_all(data)
        await writer.send_all(b"tail")

    assert await _received_while(write, len(data) + 4) == data + b"tail"


@pytest.mark.parametrize(
    "write",
    [
        lambda writer, data: writer.send_all(data),
        lambda writer, data: writer.send_buffers([b"head", data]),
    ],
    ids=["send_all", "send_buffers"],
)
async def test_broken_and_closed_map_to_trio_errors(
    write: Callable[[Writer, bytes], Awaitable[None]],
) -> None:
    """A reset peer is BrokenResourceError; our own closed stream is ClosedResourceError."""
    left, right = trio.socket.socketpair()
    sender = trio.SocketStream(left)
    writer = Writer(sender)
    right.close()
    with pytest.raises(trio.BrokenResourceError):
        for _ in range(100):  # the first writes may still land in the buffer
            await write(writer, b"x" * 65536)
    await sender.aclose()
    with pytest.raises(trio.ClosedResourceError):
        await write(writer, b"late")


async def test_non_socket_streams_use_send_all() -> None:
    """TLS or any other stream: every byte goes through the stream's own send_all."""
    sender, receiver = trio.testing.memory_stream_pair()
    writer = Writer(sender)
    await writer.send_all(b"hello")
    assert await receiver.receive_some() == b"hello"


async def test_send_buffers_more_than_the_kernel_takes_keeps_order() -> None:
    """writev of 8 MiB in buffers of odd sizes: the kernel takes part, the rest follows in order."""
    buffers = [os.urandom(n) for n in (14, 2**20 + 3, 5, 3 * 2**20, 7, 4 * 2**20 - 1)]
    data = b"".join(buffers) + b"tail"

    async def write(writer: Writer) -> None:
        await writer.send_buffers([*buffers[:2], memoryview(buffers[2]), *buffers[3:]])
        await writer.send_buffers([b"tail"])

    assert await _received_while(write, len(data)) == data


async def test_send_buffers_closed_while_waiting_for_room_is_closed_resource_error() -> None:
    """A writev waiting for room when the stream is closed ends with ClosedResourceError."""
    left, right = trio.socket.socketpair()
    sender = trio.SocketStream(left)
    writer = Writer(sender)
    failed: list[BaseException] = []

    async def write_forever() -> None:
        try:
            for _ in range(1000):  # the peer never reads: the buffers fill, then it waits
                await writer.send_buffers([b"h", b"x" * 65536])
        except trio.ClosedResourceError as exc:
            failed.append(exc)

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(write_forever)
            await trio.testing.wait_all_tasks_blocked()
            await sender.aclose()
    assert len(failed) == 1
    right.close()


async def test_send_buffers_on_non_socket_streams_joins_only_small_ones() -> None:
    """TLS or any other stream: small buffers joined, large ones (CHUNK_SIZE) on their own,
    all through the stream's own send_all, in order."""
    sender, receiver = trio.testing.memory_stream_pair()
    writes: list[int] = []
    send_all = sender.send_stream.send_all

    async def counting_send_all(data: bytes | bytearray | memoryview) -> None:
        writes.append(len(data))
        await send_all(data)

    sender.send_stream.send_all = counting_send_all  # type: ignore[method-assign]
    writer = Writer(sender)
    large = os.urandom(CHUNK_SIZE)
    await writer.send_buffers([b"hel", memoryview(b"lo"), large, b"!", b"?"])
    received = bytearray()
    while len(received) < CHUNK_SIZE + 7:
        received += await receiver.receive_some()
    assert bytes(received) == b"hello" + large + b"!?"
    assert writes == [5, CHUNK_SIZE, 2]


class _CountingWriter(Writer):
    """A Writer that records the buffers of each ``send_buffers`` call it makes."""

    calls: list[list[int]]

    async def send_buffers(self, buffers: list[Buffer]) -> None:
        self.calls.append([len(buffer) for buffer in buffers])
        await super().send_buffers(buffers)


async def _tcp_pair() -> tuple[trio.SocketStream, trio.SocketStream]:
    (listener,) = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listener.socket.getsockname()[1]
    async with trio.open_nursery() as nursery:
        client = await trio.open_tcp_stream("127.0.0.1", port)
        server = await listener.accept()
        nursery.cancel_scope.cancel()
    await listener.aclose()
    return client, server


def _lowat(stream: trio.SocketStream) -> int:
    return int(stream.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NOTSENT_LOWAT))


@pytest.mark.skipif(not hasattr(socket, "TCP_NOTSENT_LOWAT"), reason="no TCP_NOTSENT_LOWAT")
async def test_write_frames_of_a_large_payload_raise_the_lowat_and_keep_the_bytes() -> None:
    """Small frames keep trio's 16 KiB TCP_NOTSENT_LOWAT; the first payload of CHUNK_SIZE
    or more raises it to LARGE_WRITE_LOWAT; its header leaves with its first masked slice
    (no write of a header alone), and the frames arrive whole and in order."""
    client, server = await _tcp_pair()
    writer = _CountingWriter(client)
    writer.calls = []
    protocol = ClientProtocol(max_message_size=None)
    closing = CloseHandshake()
    trio_default = _lowat(client)
    await write_frames(writer, protocol, protocol.framer.message(b"small"), closing)
    assert _lowat(client) == trio_default < LARGE_WRITE_LOWAT
    big = os.urandom(3 * CHUNK_SIZE + 5)
    writer.calls = []
    received = bytearray()

    async def read_all(size: int) -> None:
        while len(received) < size:
            received.extend(await server.receive_some(2**20))

    frames = [*protocol.framer.message(b"before"), *protocol.framer.message(big)]
    expected = 11 + 12 + 14 + len(big)  # "small", "before", the large header and payload
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(read_all, expected)
            await write_frames(writer, protocol, frames, closing)
    assert _lowat(client) == LARGE_WRITE_LOWAT
    assert writer.calls[0] == [12 + 14, CHUNK_SIZE]  # "before" and the header, joined
    assert [len(call) for call in writer.calls] == [2, 1, 1, 1]
    reader = FrameReader(bytes(received))
    payloads = [reader.next_frame() for _ in range(3)]
    assert [frame.payload for frame in payloads if frame] == [b"small", b"before", big]
    await client.aclose()
    await server.aclose()
