"""send() writes at once on an idle plain socket (``Sender.write_now``), and only then."""

from __future__ import annotations

import socket

import trio
from peers.raw_server import Opcode, RawConnection, RawServer, StartRawServer, build_frame
from recorder import run_to_end

from trio_ws_events import WebSocket


async def echo_until_close(conn: RawConnection) -> None:
    await conn.accept_handshake()
    while True:
        message = await conn.read_message()
        if message == "close":
            break
        await conn.send_binary(message) if isinstance(message, bytes) else await conn.send_text(
            message
        )
    assert await conn.read_close() == (1000, "")
    await conn.send_close(1000)


async def test_send_on_an_idle_socket_writes_at_once_and_a_burst_is_queued(
    raw_server: StartRawServer,
) -> None:
    """The first send() after a read leaves at once (buffered_amount stays 0, counted as
    sent); the ones after it in the same step are queued and leave as the sender's batch."""
    server: RawServer = await raw_server(echo_until_close)
    replies: list[str | bytes] = []
    got_all = trio.Event()
    async with WebSocket(server.url, max_buffered_amount=1000) as ws:

        def echoed(ws: WebSocket, message: str | bytes) -> None:
            replies.append(message)
            if len(replies) == 3:
                got_all.set()

        ws.on_message += echoed
        ws.on_binary += echoed
        ws.send(b"x" * 5000)  # above max_buffered_amount, and accepted
        assert ws.buffered_amount == 0
        assert ws.stats.messages_sent == 1
        ws.send("second")
        ws.send("third")
        assert ws.buffered_amount == len("second") + len("third")
        with trio.fail_after(5):
            await got_all.wait()
        assert replies == [b"x" * 5000, "second", "third"]
        assert ws.buffered_amount == 0
        ws.send("close")
        ws.close()
    assert ws.close_code == 1000
    assert ws.unsent == ()


async def test_sends_from_a_handler_wait_for_the_rest_of_the_read(
    raw_server: StartRawServer,
) -> None:
    """A handler's send() is queued, not written, while the read's later frames are still
    to be handled: a close frame there leaves it unsent (as before direct writes)."""

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        close = build_frame(Opcode.CLOSE, (4000).to_bytes(2, "big"))
        await conn.send_raw(build_frame(Opcode.TEXT, b"one") + close)
        assert await conn.read_close() == (4000, "")
        await conn.drop()

    server: RawServer = await raw_server(script)
    ws = WebSocket(server.url)
    ws.on_message += lambda ws, message: ws.send(f"answer to {message}")
    await run_to_end(ws)
    assert ws.close_code == 4000
    assert ws.unsent == ("answer to one",)


async def test_a_direct_write_the_kernel_takes_in_part_is_finished_by_the_sender(
    raw_server: StartRawServer,
) -> None:
    """A small send buffer and a slow reader: the rest of the message is written by the
    sender task, before the messages queued behind it; every byte arrives in order."""
    release = trio.Event()
    received: list[str | bytes] = []

    async def script(conn: RawConnection) -> None:
        conn.stream.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        await conn.accept_handshake()
        await release.wait()
        received.extend([await conn.read_message() for _ in range(3)])
        assert await conn.read_close() == (1000, "")
        await conn.send_close(1000)

    server: RawServer = await raw_server(script)
    host, port = server.url.removeprefix("ws://").rstrip("/").split(":")

    async def small_buffer(url: str) -> trio.SocketStream:
        sock = trio.socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        await sock.connect((host, int(port)))
        return trio.SocketStream(sock)

    big = bytes(range(256)) * 400  # 100 KiB: far more than the kernel takes at once
    async with WebSocket(server.url, stream_factory=small_buffer, max_message_size=None) as ws:
        ws.send(big)
        assert (
            ws.stats.messages_sent == 0
        )  # the kernel took a part: in flight until the rest is out
        assert ws.buffered_amount == len(big)
        ws.send("after")
        ws.send(b"last")
        await trio.sleep(0.05)
        assert ws.buffered_amount == len(big) + len("after") + len(b"last")
        release.set()
        with trio.fail_after(5):
            while ws.buffered_amount:
                await trio.sleep(0.01)
        assert ws.stats.messages_sent == 3
        ws.close()
    assert received == [big, "after", b"last"]
    assert ws.close_code == 1000


async def test_an_async_handler_await_does_not_hold_back_sends(
    raw_server: StartRawServer,
) -> None:
    """Deferring a handler's send() lasts only while the reader runs: an async handler that
    sends and then sleeps has its message written during the sleep, and so does another
    task's send() meanwhile."""
    arrived: list[str | bytes] = []
    both = trio.Event()

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        await conn.send_text("go")
        arrived.append(await conn.read_message())
        arrived.append(await conn.read_message())
        both.set()
        assert await conn.read_close() == (1000, "")
        await conn.send_close(1000)

    server: RawServer = await raw_server(script)
    async with WebSocket(server.url) as ws:
        sleeping = trio.Event()
        wake_up = trio.Event()

        async def slow(ws: WebSocket, message: str) -> None:
            ws.send("from the handler")
            sleeping.set()
            await wake_up.wait()  # until both messages arrived

        ws.on_message += slow
        with trio.fail_after(5):
            await sleeping.wait()
            ws.send("from another task")
            await both.wait()
        assert arrived == ["from the handler", "from another task"]
        wake_up.set()
        ws.close()
