"""``ws.local_address`` and ``ws.remote_address``: the two ends of the TCP socket."""

from __future__ import annotations

import pytest
import trio
from conftest import StartRawServer
from peers.proxy_server import ProxyProcess
from peers.raw_server import RawConnection, read_until_close
from peers.tls_server import TLSServer

from trio_ws_events import WebSocket

TIMEOUT = 10.0


async def test_addresses_are_the_sockets_ends_and_outlive_the_end(
    raw_server: StartRawServer,
) -> None:
    """None before OPEN; then (host, port) of both ends, as the server sees them; kept after."""
    server_saw: list[tuple[str, int]] = []

    async def script(conn: RawConnection) -> None:
        server_saw.append(conn.stream.socket.getpeername())
        await conn.accept_handshake()
        await conn.send_close(1000)
        await read_until_close(conn)

    server = await raw_server(script)
    ws = WebSocket(server.url)
    at_open: list[object] = []
    ws.on_open += lambda ws: at_open.append((ws.local_address, ws.remote_address))
    assert (ws.local_address, ws.remote_address) == (None, None)
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            ws.open(nursery)
            assert (ws.local_address, ws.remote_address) == (None, None)  # CONNECTING
        await server.wait_finished()
    port = int(server.url.rsplit(":", 1)[1].strip("/"))
    assert at_open == [(server_saw[0], ("127.0.0.1", port))]
    assert (ws.local_address, ws.remote_address) == at_open[0]  # CLOSED: still known
    local, remote = ws.local_address, ws.remote_address
    assert local is not None
    assert remote is not None
    assert [type(part) for part in (*local, *remote)] == [str, int, str, int]


async def test_addresses_stay_none_when_the_connection_never_opens() -> None:
    """A refused connection never had a WebSocket: both stay None."""
    ws = WebSocket("ws://127.0.0.1:1/", proxy=None)
    ws.on_error += lambda ws, error: None
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            ws.open(nursery)
    assert (ws.local_address, ws.remote_address) == (None, None)


async def test_remote_address_over_tls_is_the_servers(tls_server: TLSServer) -> None:
    """Under wss:// the addresses are those of the TCP socket beneath TLS."""
    with trio.fail_after(TIMEOUT):
        async with WebSocket(tls_server.url, ssl_context=tls_server.client_context()) as ws:
            assert ws.remote_address == ("127.0.0.1", tls_server.port)
            assert ws.local_address is not None
            assert ws.local_address[0] == "127.0.0.1"


@pytest.mark.parametrize("scheme", ["http", "socks5"])
async def test_remote_address_through_a_proxy_is_the_proxys(
    echo_url: str, open_proxy: ProxyProcess, scheme: str
) -> None:
    """Through a proxy the socket's peer is the proxy, not the WebSocket server."""
    with trio.fail_after(TIMEOUT):
        async with WebSocket(echo_url, proxy=open_proxy.url(scheme)) as ws:
            assert ws.remote_address == ("127.0.0.1", open_proxy.port)
