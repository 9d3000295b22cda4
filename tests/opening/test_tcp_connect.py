"""TCP to an IP literal (``net.open_tcp``): the kernel's own connect, trio's semantics kept.

Issue 18 (W4) replaced trio's ``SocketType.connect`` for literals with a non-blocking
``connect_ex`` and a wait for writability; these pin what trio's gave: the reason of a
failure, the socket closed on cancellation, TCP_NODELAY, IPv6.
"""

from __future__ import annotations

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
