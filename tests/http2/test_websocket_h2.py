"""``WebSocket(url, http2=pool)``: h2 on the wire, one TCP connection for many, the fallback
to HTTP/1.1, the handshake's headers, keepalive and streaming, and the options refused."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trio
import trustme
from peers.proxy_server import ProxyProcess
from peers.tls_server import TLSServer
from recorder import Recorder, run_to_end

from http2.conftest import StartH2Node, start_hypercorn
from http2.test_pool import close_seen_by_server
from http2.wire import h2_stream, rode_http2
from trio_ws_events import (
    Backoff,
    ConnectError,
    Frame,
    H2Pool,
    HandshakeRejected,
    HandshakeRequest,
    ReconnectingWebSocket,
    WebSocket,
    open_h2_pool,
)


def plain_context(ca: trustme.CA) -> ssl.SSLContext:
    """A client context trusting ``ca`` with no ALPN offer: what HTTP/1.1 upgrades use."""
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def sender(text: str) -> Callable[[WebSocket], None]:
    """An on_open handler sending ``text``."""
    return lambda ws: ws.send(text)


async def echo_once(ws: WebSocket, text: str = "hello") -> Recorder:
    """Open ``ws``, send ``text``, close once it comes back; the events recorded."""
    rec = Recorder(ws)
    ws.on_open += lambda ws: ws.send(text)
    ws.on_message += lambda ws, message: ws.close(1000, "done")
    with trio.fail_after(10):
        await run_to_end(ws)
    return rec


# ---------------------------------------------------------------- h2 on the wire


async def test_websocket_http2_echoes_over_hypercorn_h2_stream(
    hypercorn_url: str, trusting: ssl.SSLContext, ca: trustme.CA
) -> None:
    """Over wss:// with ALPN h2, the WebSocket is an extended CONNECT stream and echoes."""
    async with open_h2_pool(ssl_context=trusting) as pool:
        ws = WebSocket(f"{hypercorn_url}/echo", http2=pool, ssl_context=plain_context(ca))
        rec = await echo_once(ws)
        [connection] = pool.connections(hypercorn_url)
        assert connection.alpn == "h2"
    assert rec.events == [("open",), ("message", "hello"), ("closed", 1000, "done")]
    assert rode_http2(ws)
    assert ("server", "hypercorn-h2") in ws.response_headers
    assert ws.extensions is not None
    assert ws.extensions.startswith("permessage-deflate")  # negotiated in the headers
    assert ws.remote_address == ("127.0.0.1", int(hypercorn_url.rsplit(":", 1)[1]))


async def test_websocket_http2_hundred_share_one_tcp_connection_node(
    h2_node: StartH2Node,
) -> None:
    """100 WebSockets opened at once to one origin: the server accepted one TCP connection."""
    url = f"ws://127.0.0.1:{await h2_node()}/echo"
    async with open_h2_pool(h2c=True) as pool:
        sockets = [WebSocket(url, http2=pool) for _ in range(100)]
        recorders = [Recorder(ws) for ws in sockets]
        for i, ws in enumerate(sockets):
            ws.on_open += sender(f"n{i}")
            ws.on_message += lambda ws, message: ws.close()
        with trio.fail_after(20):
            async with trio.open_nursery() as nursery:
                for ws in sockets:
                    ws.open(nursery)
        assert pool.connections_opened == 1
    assert [rec.messages for rec in recorders] == [[f"n{i}"] for i in range(100)]
    assert {dict(ws.response_headers)["x-connections"] for ws in sockets} == {"1"}
    assert len({ws.local_address for ws in sockets}) == 1
    assert all(rode_http2(ws) for ws in sockets)


async def test_websocket_http2_hundred_share_one_tls_connection_hypercorn(
    hypercorn_url: str, trusting: ssl.SSLContext
) -> None:
    """100 WebSockets to Hypercorn over wss://: one TLS connection, one local port."""
    async with open_h2_pool(ssl_context=trusting) as pool:
        sockets = [WebSocket(f"{hypercorn_url}/echo", http2=pool) for _ in range(100)]
        for ws in sockets:
            ws.on_open += lambda ws: ws.send("x")
            ws.on_message += lambda ws, message: ws.close()
        with trio.fail_after(20):
            async with trio.open_nursery() as nursery:
                for ws in sockets:
                    ws.open(nursery)
        assert pool.connections_opened == 1
    assert {ws.close_code for ws in sockets} == {1000}
    assert len({ws.local_address for ws in sockets}) == 1


# ---------------------------------------------------------------- the fallback to HTTP/1.1


async def test_websocket_http2_falls_back_when_alpn_chooses_http1(
    nursery: trio.Nursery, ca: trustme.CA, tmp_path: Path, trusting: ssl.SSLContext
) -> None:
    """A server offering only http/1.1 by ALPN: the upgrade runs on a fresh connection, and
    the pool sends the next WebSocket to that origin straight to HTTP/1.1."""
    url, stop = await start_hypercorn(nursery, ca, tmp_path, ["http/1.1"])
    async with open_h2_pool(ssl_context=trusting) as pool:
        first = await echo_once(WebSocket(f"{url}/echo", http2=pool, ssl_context=plain_context(ca)))
        assert not pool.may_carry(url)
        second = WebSocket(f"{url}/echo", http2=pool, ssl_context=plain_context(ca))
        await echo_once(second)
        assert pool.connections_opened == 0
    stop.set()
    assert first.events == [("open",), ("message", "hello"), ("closed", 1000, "done")]
    assert not rode_http2(second)
    assert ("server", "hypercorn-h11") in second.response_headers


async def test_websocket_http2_falls_back_against_a_server_without_alpn(
    tls_server: TLSServer, trusting: ssl.SSLContext
) -> None:
    """The TLS echo server (no ALPN, no HTTP/2): the WebSocket opens over HTTP/1.1."""
    async with open_h2_pool(ssl_context=trusting) as pool:
        ws = WebSocket(
            f"wss://127.0.0.1:{tls_server.port}/",
            http2=pool,
            ssl_context=plain_context(ca=tls_server.ca),
        )
        rec = await echo_once(ws)
    assert rec.events[-1] == ("closed", 1000, "done")
    assert not rode_http2(ws)


async def test_websocket_http2_ws_url_without_h2c_uses_http1(echo_url: str) -> None:
    """ws:// goes over HTTP/2 only with h2c: without it the upgrade is used, untried."""
    async with open_h2_pool() as pool:
        ws = WebSocket(echo_url, http2=pool)
        rec = await echo_once(ws)
        assert pool.connections_opened == 0
    assert rec.events[-1] == ("closed", 1000, "done")
    assert not rode_http2(ws)


async def test_websocket_http2_environment_proxy_means_http1_through_it(
    echo_url: str, open_proxy: ProxyProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With proxy= left out and a proxy in the environment, the WebSocket goes by HTTP/1.1
    through that proxy: the h2c pool is not tried (it would fail on this HTTP/1.1 server)."""
    for name in ("no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY", "HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", open_proxy.url("http"))
    start = len(open_proxy.lines)
    async with open_h2_pool(h2c=True) as pool:
        ws = WebSocket(echo_url, http2=pool)
        rec = await echo_once(ws)
        assert pool.connections_opened == 0
    assert rec.events[-1] == ("closed", 1000, "done")
    assert not rode_http2(ws)
    port = echo_url.rsplit(":", 1)[1].split("/")[0]
    assert open_proxy.wait_for(rf"-> 127\.0\.0\.1:{port}\b", start=start) is not None


# ---------------------------------------------------------------- the extended CONNECT


async def test_websocket_http2_negotiates_subprotocol_and_runs_hook(h2_node: StartH2Node) -> None:
    """protocols= and handshake_hook= work over HTTP/2: the server's choice is subprotocol."""
    url = f"ws://127.0.0.1:{await h2_node()}/echo"
    seen: list[HandshakeRequest] = []
    async with open_h2_pool(h2c=True) as pool:
        ws = WebSocket(url, http2=pool, protocols=["chat", "v2"], handshake_hook=seen.append)
        await echo_once(ws)
    assert ws.subprotocol == "chat"
    assert [request.url for request in seen] == [url]
    assert seen[0].get_header("User-Agent") is not None


async def test_websocket_http2_rejected_is_handshake_rejected(h2_node: StartH2Node) -> None:
    """A 403 to the extended CONNECT ends with HandshakeRejected: status, headers, body."""
    url = f"ws://127.0.0.1:{await h2_node()}/reject"
    async with open_h2_pool(h2c=True) as pool:
        ws = WebSocket(url, http2=pool)
        rec = Recorder(ws)
        with trio.fail_after(10):
            await run_to_end(ws)
    error = rec.error
    assert isinstance(error, HandshakeRejected)
    assert (error.status, error.body) == (403, b"no websocket for you")
    assert ("x-why", "forbidden here") in error.headers
    assert url in str(error)
    assert rec.names == ["error"]


async def test_websocket_http2_hook_adding_a_forbidden_header_is_connect_error(
    h2_node: StartH2Node,
) -> None:
    """A hook that adds a header HTTP/2 forbids ends the attempt with a ConnectError."""
    url = f"ws://127.0.0.1:{await h2_node()}/echo"

    def add_host(request: HandshakeRequest) -> None:
        request.set_header("Host", "elsewhere")

    async with open_h2_pool(h2c=True) as pool:
        ws = WebSocket(url, http2=pool, handshake_hook=add_host)
        rec = Recorder(ws)
        await run_to_end(ws, limit=10)
    assert isinstance(rec.error, ConnectError)
    assert "cannot write the extended CONNECT" in str(rec.error)
    assert "'Host'" in str(rec.error)


async def test_websocket_h2c_to_an_http1_server_is_connect_error(echo_url: str) -> None:
    """h2c is prior knowledge: a server that does not speak HTTP/2 fails the attempt (no
    silent fallback for what was asked for explicitly)."""
    async with open_h2_pool(h2c=True) as pool:
        ws = WebSocket(echo_url, http2=pool)
        rec = Recorder(ws)
        await run_to_end(ws, limit=10)
    assert isinstance(rec.error, ConnectError)
    assert "HTTP/2" in str(rec.error)
    assert rec.names == ["error"]


async def test_websocket_http2_server_close_reports_its_code_and_reason(
    h2_node: StartH2Node,
) -> None:
    """A close started by the server over HTTP/2: on_closed gets its code and reason. The
    stream is closed once our reply is written, without waiting for the server's
    END_STREAM: a clean end (0) if it came first, else RST_STREAM(CANCEL) (8), nothing else
    (the decision in docs/http2.md, for servers that never end theirs)."""
    url = f"ws://127.0.0.1:{await h2_node()}"
    async with open_h2_pool(h2c=True) as pool:
        ws = WebSocket(f"{url}/close", http2=pool)
        rec = Recorder(ws)
        await run_to_end(ws, limit=10)
        stream = h2_stream(ws)
        assert stream is not None
        assert await close_seen_by_server(pool, f"{url}/echo", stream.stream_id) in (0, 8)
    assert rec.events == [("open",), ("closed", 4001, "server says bye")]


async def test_websocket_http2_close_ends_the_stream_cleanly(h2_node: StartH2Node) -> None:
    """close(): Node ends its side with its close frame and we answer END_STREAM: the
    server saw the stream end cleanly both ways (code 0), with no RST_STREAM."""
    url = f"ws://127.0.0.1:{await h2_node()}/echo"
    async with open_h2_pool(h2c=True) as pool:
        ws = WebSocket(url, http2=pool)
        ws.on_open += lambda ws: ws.close()
        await run_to_end(ws, limit=10)
        stream = h2_stream(ws)
        assert stream is not None
        assert await close_seen_by_server(pool, url, stream.stream_id) == 0
    assert ws.close_code == 1000


# ---------------------------------------------------------------- keepalive and streaming


async def test_websocket_http2_keepalive_pings_are_answered(h2_node: StartH2Node) -> None:
    """WebSocket pings ride the stream: ping() and the keepalive both get their pongs."""
    url = f"ws://127.0.0.1:{await h2_node()}/echo"
    async with open_h2_pool(h2c=True, ping_interval=0.05) as pool:
        with trio.fail_after(10):
            async with WebSocket(url, http2=pool, ping_interval=0.05, ping_timeout=2) as ws:
                assert await ws.ping(b"rtt") >= 0
                await trio.sleep(0.3)  # several keepalive rounds, WebSocket and HTTP/2
                assert ws.is_open
                [connection] = pool.connections(url)
                await connection.ping()
    assert ws.latency is not None
    assert ws.close_code == 1000


async def test_websocket_http2_streaming_pieces_arrive_in_order(h2_node: StartH2Node) -> None:
    """A message sent in fragments comes back piece by piece to on_incomplete_frame."""
    url = f"ws://127.0.0.1:{await h2_node()}/echo"
    pieces: list[Frame] = []
    payload = bytes(range(256)) * 16  # 4096 bytes, four fragments of 1024

    def got(ws: WebSocket, frame: Frame) -> None:
        pieces.append(frame)
        if frame.final:
            ws.close()

    async with open_h2_pool(h2c=True) as pool:
        ws = WebSocket(url, http2=pool, max_fragment_size=1024)
        ws.on_incomplete_frame += got
        ws.on_open += lambda ws: ws.send(payload)
        with trio.fail_after(10):
            await run_to_end(ws)
    assert all(isinstance(p.data, bytes) for p in pieces)
    assert b"".join(p.data for p in pieces if isinstance(p.data, bytes)) == payload
    assert len(pieces) >= 2
    assert [p.final for p in pieces] == [False] * (len(pieces) - 1) + [True]


async def test_reconnecting_websocket_http2_reconnects_on_a_new_connection(
    h2_node: StartH2Node,
) -> None:
    """ReconnectingWebSocket(http2=pool): the TCP connection reset, it reopens over a new one."""
    port = await h2_node()
    url = f"ws://127.0.0.1:{port}/echo"
    async with open_h2_pool(h2c=True) as pool:
        rws = ReconnectingWebSocket(url, http2=pool, backoff=Backoff(initial=0.01, jitter=0))
        opens: list[str] = []

        async def on_open(rws: ReconnectingWebSocket) -> None:
            assert rws.current is not None
            opens.append(dict(rws.current.response_headers)["x-connections"])
            if len(opens) == 1:
                await pool.open_websocket(f"ws://127.0.0.1:{port}/kill")
            else:
                rws.close()

        rws.on_open += on_open
        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                rws.open(nursery)
        assert pool.connections_opened == 2
    assert opens == ["1", "2"]


# ---------------------------------------------------------------- options refused


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"proxy": "http://127.0.0.1:3128"}, ValueError, "cannot be used with proxy="),
        ({"server_hostname": "api.example"}, ValueError, "cannot be used with server_hostname"),
        ({"headers": {"Host": "other"}}, ValueError, "'Host' cannot be sent with http2="),
        ({"headers": [("TE", "trailers")]}, ValueError, "HTTP/2 forbids it"),
    ],
)
async def test_websocket_http2_refuses_options_that_cannot_work(
    options: dict[str, Any], error: type[Exception], message: str
) -> None:
    """http2= with a proxy, server_hostname= or a header HTTP/2 forbids: refused at once."""
    async with open_h2_pool() as pool:
        with pytest.raises(error, match=message):
            WebSocket("wss://127.0.0.1:1/", http2=pool, **options)


def test_websocket_http2_must_be_a_pool() -> None:
    """http2= takes a pool (or None), nothing else, with a message saying how to get one."""
    with pytest.raises(TypeError, match=r"http2 must be a pool from .*open_h2_pool.*got str"):
        WebSocket("wss://127.0.0.1:1/", http2="h2")  # type: ignore[arg-type]


async def test_websocket_http2_with_closed_pool_is_connect_error(h2_node: StartH2Node) -> None:
    """A pool whose block has ended opens nothing: on_error with a ConnectError saying so."""
    url = f"ws://127.0.0.1:{await h2_node()}/echo"
    async with open_h2_pool(h2c=True) as pool:
        kept: H2Pool = pool
    ws = WebSocket(url, http2=kept)
    rec = Recorder(ws)
    with trio.fail_after(5):
        await run_to_end(ws)
    assert "the pool is closed" in str(rec.error)
