"""TCP to an IP literal (``net.open_tcp``): the kernel's own connect, trio's semantics kept.

Issue 18 (W4) replaced trio's ``SocketType.connect`` for literals with a non-blocking
``connect_ex`` and a wait for writability; these pin what trio's gave: the reason of a
failure, the socket closed on cancellation, TCP_NODELAY, IPv6.
"""

from __future__ import annotations

import contextlib
import os
import socket

import pytest
import trio

from trio_ws_events import ConnectError
from trio_ws_events._trio.net import open_tcp


def _free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_open_tcp_refused_says_why() -> None:
    """Nothing listening: a ConnectError naming the URL and the kernel's reason."""
    port = _free_port()
    with pytest.raises(ConnectError, match=r"cannot connect to ws://x/: .*Connection refused"):
        await open_tcp("127.0.0.1", port, "", "ws://x/")


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts /proc/self/fd")
async def test_open_tcp_cancelled_closes_the_socket() -> None:
    """A cancellation delivered during the connect leaves no socket open behind it."""
    listener = trio.socket.socket()
    await listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    before = _open_fds()
    with trio.CancelScope() as scope:
        scope.cancel()
        await open_tcp("127.0.0.1", port, "", "ws://x/")
    assert scope.cancelled_caught
    assert _open_fds() == before
    listener.close()


async def test_open_tcp_gives_a_nodelay_stream_to_the_listener() -> None:
    """The stream is connected to the listener, with TCP_NODELAY as trio sets it."""
    listener = trio.socket.socket()
    await listener.bind(("127.0.0.1", 0))
    listener.listen()
    stream = await open_tcp("127.0.0.1", listener.getsockname()[1], "", "ws://x/")
    peer, _ = await listener.accept()
    assert stream.socket.getpeername() == listener.getsockname()
    assert stream.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    await stream.send_all(b"ping")
    assert await peer.recv(4) == b"ping"
    await stream.aclose()
    peer.close()
    listener.close()


async def test_open_tcp_connects_to_an_ipv6_literal() -> None:
    """``::1`` is connected as AF_INET6, as trio did."""
    listener = trio.socket.socket(socket.AF_INET6)
    try:
        await listener.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    listener.listen()
    stream = await open_tcp("::1", listener.getsockname()[1], "", "ws://[::1]/")
    assert stream.socket.family == socket.AF_INET6
    await stream.aclose()
    listener.close()


@pytest.fixture
def writable_waits(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The sockets ``trio.lowlevel.wait_writable`` is called with from now on."""
    waits: list[object] = []
    real_wait = trio.lowlevel.wait_writable

    async def counting_wait(sock: object) -> None:
        waits.append(sock)
        await real_wait(sock)  # type: ignore[arg-type]

    monkeypatch.setattr(trio.lowlevel, "wait_writable", counting_wait)
    return waits


async def test_open_tcp_to_loopback_needs_no_wait(writable_waits: list[object]) -> None:
    """On loopback the kernel completes the connect at once: no wait for writability
    (an epoll registration and a scheduler pass per handshake, issue 18)."""
    listener = trio.socket.socket()
    await listener.bind(("127.0.0.1", 0))
    listener.listen()
    stream = await open_tcp("127.0.0.1", listener.getsockname()[1], "", "ws://x/")
    assert writable_waits == []
    await stream.aclose()
    listener.close()


async def test_open_tcp_waits_for_a_connect_that_is_not_done_at_once(
    writable_waits: list[object],
) -> None:
    """A listener whose queue is full answers the SYN late: the connect waits for
    writability, and completes once the listener accepts (the kernel retries after 1 s)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        listener.setblocking(False)
        port = listener.getsockname()[1]
        fillers = [socket.socket() for _ in range(3)]
        for filler in fillers:
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))

        async def accept_soon() -> None:
            await trio.sleep(0.2)
            for _ in range(40):  # bounded: the queue holds a few
                with contextlib.suppress(BlockingIOError):
                    listener.accept()[0].close()
                await trio.sleep(0.05)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(accept_soon)
            with trio.fail_after(10):
                stream = await open_tcp("127.0.0.1", port, "", "ws://x/")
            nursery.cancel_scope.cancel()
        assert len(writable_waits) == 1
        assert stream.socket.getpeername() == ("127.0.0.1", port)
        await stream.aclose()
        for filler in fillers:
            filler.close()
