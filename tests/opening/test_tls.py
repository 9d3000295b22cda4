"""TLS for ``wss://``: verification by default, a custom context, SNI, clear failures.

The server is trio-websocket over TLS with a certificate from a trustme CA
(``peers/tls_server.py``); it listens on 127.0.0.1 only. Names other than 127.0.0.1 are
resolved to it by a custom trio resolver, so that SNI and name checks are real.
"""

from __future__ import annotations

import socket
import ssl
from typing import Literal

import pytest
import trio
import trustme
from peers.raw_server import StartRawServer
from peers.tls_server import TLSServer, serve_tls_echo
from recorder import Recorder, echo_once, run_to_end

from trio_ws_events import ConnectError, WebSocket
from trio_ws_events._sansio.url import parse_url
from trio_ws_events._trio.connect import ConnectOptions, open_connection


class LoopbackResolver(trio.abc.HostnameResolver):
    """Resolves the given test names to 127.0.0.1 and refuses every other name."""

    def __init__(self, *names: str) -> None:
        self.names = set(names)

    async def getaddrinfo(
        self,
        host: bytes | None,
        port: bytes | str | int | None,
        family: int = 0,
        type: int = 0,
        proto: int = 0,
        flags: int = 0,
    ) -> list[
        tuple[Literal[socket.AddressFamily.AF_INET], socket.SocketKind, int, str, tuple[str, int]]
        | tuple[
            Literal[socket.AddressFamily.AF_INET6],
            socket.SocketKind,
            int,
            str,
            tuple[str, int, int, int] | tuple[int, bytes],
        ]
    ]:
        await trio.lowlevel.checkpoint()
        name = (host or b"").decode("ascii")
        if name not in self.names and name != "127.0.0.1":
            raise socket.gaierror(socket.EAI_NONAME, f"{name} is not a test name")
        number = int(port) if port is not None else 0
        address = ("127.0.0.1", number)
        return [(socket.AddressFamily.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", address)]

    async def getnameinfo(
        self, sockaddr: tuple[str, int] | tuple[str, int, int, int], flags: int
    ) -> tuple[str, str]:
        raise NotImplementedError


async def test_self_signed_server_is_refused_by_default(tls_server: TLSServer) -> None:
    """The default context does not trust the test CA: ConnectError naming the host."""
    ws = WebSocket(tls_server.url)
    rec = Recorder(ws)
    await run_to_end(ws, 10)
    error = rec.error
    assert type(error) is ConnectError
    assert "TLS certificate verification failed for 127.0.0.1" in str(error)
    assert "certificate" in str(error.__cause__)
    assert tls_server.url in str(error)
    assert "ssl_context=" in str(error)


async def test_right_context_is_accepted(tls_server: TLSServer) -> None:
    """A context trusting the CA opens the connection; messages go both ways over TLS."""
    received = await echo_once(tls_server.url, "over tls", ssl_context=tls_server.client_context())
    assert received == ["over tls"]


async def test_sni_and_name_check_use_the_url_host(nursery: trio.Nursery, ca: trustme.CA) -> None:
    """The host name of the URL is sent as SNI and checked against the certificate."""
    trio.socket.set_custom_hostname_resolver(LoopbackResolver("ws.test", "other.test"))
    server: TLSServer = await nursery.start(serve_tls_echo, ca, ["ws.test"])
    context = server.client_context()
    received = await echo_once(f"wss://ws.test:{server.port}/", "sni", ssl_context=context)
    assert received == ["sni"]
    assert server.server_names == ["ws.test"]
    with pytest.raises(ConnectError, match=r"verification failed for other\.test") as info:
        await echo_once(f"wss://other.test:{server.port}/", "x", ssl_context=context)
    assert "other.test" in str(info.value.__cause__)


async def test_ip_address_not_in_certificate_is_refused(
    nursery: trio.Nursery, ca: trustme.CA
) -> None:
    """A certificate for a name only does not cover 127.0.0.1, even from a trusted CA."""
    server: TLSServer = await nursery.start(serve_tls_echo, ca, ["ws.test"])
    with pytest.raises(ConnectError, match=r"verification failed for 127\.0\.0\.1.*mismatch"):
        await echo_once(server.url, "x", ssl_context=server.client_context())


async def test_unverified_context_is_the_callers_choice(tls_server: TLSServer) -> None:
    """A context with verification turned off connects: the user's context is used as is."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    assert await echo_once(tls_server.url, "insecure", ssl_context=context) == ["insecure"]


async def test_wss_to_a_plain_tcp_server_is_connect_error() -> None:
    """A server that answers a ClientHello with plain HTTP fails the TLS handshake clearly."""

    # The raw server waits for a blank line, which a ClientHello lacks: answer on any bytes.
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]

    async def answer_plain(stream: trio.SocketStream) -> None:
        await stream.receive_some()
        await stream.send_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        await stream.aclose()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, answer_plain, listeners)
        url = f"wss://127.0.0.1:{port}/"
        with pytest.raises(ConnectError, match=r"TLS handshake with 127\.0\.0\.1 failed") as info:
            with trio.fail_after(5):
                await open_connection(parse_url(url), ConnectOptions.build())
        assert url in str(info.value)
        nursery.cancel_scope.cancel()


async def test_cancel_during_tls_handshake_closes_the_socket() -> None:
    """Cancelled while the server sits on the ClientHello: the client's socket is closed."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    saw_eof = trio.Event()

    async def silent(stream: trio.SocketStream) -> None:
        while await stream.receive_some():
            pass
        saw_eof.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, silent, listeners)
        with trio.move_on_after(0.3) as scope:
            await open_connection(parse_url(f"wss://127.0.0.1:{port}/"), ConnectOptions.build())
        assert scope.cancelled_caught
        with trio.fail_after(5):
            await saw_eof.wait()
        nursery.cancel_scope.cancel()


async def test_wss_redirect_to_ws_is_refused(
    tls_server: TLSServer, raw_server: StartRawServer
) -> None:
    """Following a redirect from wss:// to ws:// would drop TLS: it is refused, clearly."""
    plain = await raw_server(lambda conn: conn.accept_handshake())
    tls_server.redirect_to = plain.url
    ws = WebSocket(tls_server.url, ssl_context=tls_server.client_context())
    rec = Recorder(ws)
    await run_to_end(ws, 10)
    error = rec.error
    assert type(error) is ConnectError
    assert f"{tls_server.url} redirected to {plain.url}" in str(error)
    assert "refusing to follow a redirect from wss:// to ws://" in str(error)
    assert not plain.connections


async def test_wss_redirect_to_wss_is_followed(
    tls_server: TLSServer, nursery: trio.Nursery, ca: trustme.CA
) -> None:
    """A redirect between two TLS servers is followed, verifying the second one too."""
    second: TLSServer = await nursery.start(serve_tls_echo, ca)
    tls_server.redirect_to = second.url.replace("wss://", "https://") + "moved"
    received = await echo_once(tls_server.url, "moved", ssl_context=tls_server.client_context())
    assert received == ["moved"]
    assert len(second.server_names) == 1


async def test_server_side_context_is_connect_error(tls_server: TLSServer) -> None:
    """A context made for servers cannot start a client handshake: ConnectError, not ssl's."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with pytest.raises(ConnectError, match=r"cannot start TLS with 127\.0\.0\.1") as info:
        await open_connection(parse_url(tls_server.url), ConnectOptions.build(ssl_context=context))
    assert isinstance(info.value.__cause__, ssl.SSLError)


async def test_server_hostname_overrides_sni_and_the_name_checked(
    nursery: trio.Nursery, ca: trustme.CA
) -> None:
    """server_hostname= is sent as SNI and checked, while the URL's IP address is dialled."""
    server: TLSServer = await nursery.start(serve_tls_echo, ca, ["api.other.example"])
    context = server.client_context()
    received = await echo_once(
        server.url, "by name", ssl_context=context, server_hostname="API.Other.Example"
    )
    assert received == ["by name"]
    assert server.server_names == ["api.other.example"]
    with pytest.raises(ConnectError, match=r"verification failed for wrong\.example") as info:
        await echo_once(server.url, "x", ssl_context=context, server_hostname="wrong.example")
    assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)


@pytest.mark.parametrize(
    ("name", "error", "complaint"),
    [
        (b"api.example", TypeError, "server_hostname must be a str or None"),
        ("", ValueError, "is not a host name"),
        ("api example", ValueError, "is not a host name"),
        ("wss://api.example/", ValueError, "is not a host name"),
    ],
)
def test_server_hostname_is_checked_at_construction(
    name: object, error: type[Exception], complaint: str
) -> None:
    """A server_hostname that is not a DNS name is refused before any I/O."""
    with pytest.raises(error, match=complaint):
        WebSocket("wss://127.0.0.1/", server_hostname=name)  # type: ignore[arg-type]
