"""The default engine over the user's own transport: a unix socket, or a stream factory."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from functools import partial
from pathlib import Path
from typing import cast

import pytest
import trio
import trio.testing
from conftest import WEBSOCKETS_SERVER
from peers.tls_server import TLSServer
from recorder import Recorder, read_line, run_to_end, send_and_collect

from trio_ws_events import (
    Backoff,
    ConnectError,
    ReconnectingWebSocket,
    WebSocket,
    open_h2_pool,
)
from trio_ws_events.testing import open_scripted_server


async def _websockets_unix_server(nursery: trio.Nursery, path: str) -> None:
    """Start ``websockets_server.py unix PATH echo`` and wait until it listens."""
    command = [sys.executable, str(WEBSOCKETS_SERVER), "unix", path, "echo"]
    process: trio.Process = await nursery.start(
        partial(trio.run_process, command, stdout=subprocess.PIPE, check=False)
    )
    assert process.stdout is not None
    with trio.fail_after(15):
        assert await read_line(process.stdout) == path


async def test_unix_socket_talks_to_a_websockets_unix_server(nursery: trio.Nursery) -> None:
    """unix_socket= connects to websockets' unix server; the URL gives the Host and path."""
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "ws.sock")
        await _websockets_unix_server(nursery, path)
        ws = WebSocket("ws://localhost/chat", unix_socket=path)
        async with trio.open_nursery() as inner:
            ws.open(inner)
            with trio.fail_after(10):
                while not ws.is_open:
                    await trio.sleep(0.001)
            assert await send_and_collect(ws, ["over unix", b"\x00\x01"]) == [
                "over unix",
                b"\x00\x01",
            ]
            assert ws.extensions is not None  # deflate negotiated over the unix socket too
            ws.close(4000, "unix done")
        assert (ws.close_code, ws.close_reason) == (4000, "unix done")


async def test_unix_socket_missing_is_connect_error() -> None:
    """A path nobody listens on ends the attempt with a ConnectError naming the path."""
    ws = WebSocket("ws://localhost/", unix_socket="/nonexistent/trio-ws-events.sock")
    rec = Recorder(ws)
    await run_to_end(ws)
    assert type(rec.error) is ConnectError
    assert "/nonexistent/trio-ws-events.sock" in str(rec.error)


async def test_stream_factory_memory_pair_against_the_scripted_server() -> None:
    """A memory stream pair from stream_factory carries the handshake, messages and close."""
    urls: list[str] = []
    async with open_scripted_server() as server, trio.open_nursery() as nursery:

        async def factory(url: str) -> trio.abc.Stream:
            urls.append(url)
            client, server_side = trio.testing.memory_stream_pair()
            nursery.start_soon(server._handle, cast(trio.SocketStream, server_side))
            return client

        ws = WebSocket("ws://memory.test/room?x=1", stream_factory=factory)
        ws.on_message += lambda ws, m: ws.send(m.upper())
        ws.open(nursery)
        with trio.fail_after(10):
            conn = await server.accept()
            assert conn.request.path == "/room?x=1"
            await conn.send("hello")
            assert await conn.receive() == "HELLO"
            await conn.close(4001, "bye")
            await ws.wait_closed()
    assert urls == ["ws://memory.test/room?x=1"]
    assert ws.close_code == 4001
    assert ws.local_address is None


async def test_stream_factory_is_called_once_per_attempt_on_redirect() -> None:
    """A redirect makes a second attempt: the factory is called again, with the new URL."""
    urls: list[str] = []
    async with open_scripted_server() as server, trio.open_nursery() as nursery:

        def factory(url: str) -> trio.abc.Stream:  # a plain function works too
            urls.append(url)
            client, server_side = trio.testing.memory_stream_pair()
            nursery.start_soon(server._handle, cast(trio.SocketStream, server_side))
            return client

        ws = WebSocket("ws://memory.test/old", stream_factory=factory)
        ws.on_open += lambda ws: ws.close()
        ws.open(nursery)
        with trio.fail_after(10):
            await server.reject(302, headers=[("Location", "/new")])
            await server.accept()
            await ws.wait_closed()
    assert urls == ["ws://memory.test/old", "ws://memory.test/new"]
    assert ws.close_code == 1000


async def test_stream_factory_over_tcp_runs_tls_for_wss(tls_server: TLSServer) -> None:
    """For wss:// TLS runs over the factory's stream, with the URL's host as SNI."""
    port = tls_server.port

    async def factory(url: str) -> trio.abc.Stream:
        return await trio.open_tcp_stream("127.0.0.1", port)

    ws = WebSocket(
        "wss://localhost/",
        stream_factory=factory,
        ssl_context=tls_server.client_context(),
    )
    got: list[str] = []
    ws.on_open += lambda ws: ws.send("over tls")

    def on_message(ws: WebSocket, text: str) -> None:
        got.append(text)
        ws.close()

    ws.on_message += on_message
    await run_to_end(ws)
    assert got == ["over tls"]
    assert tls_server.server_names == ["localhost"]


async def test_stream_factory_exception_is_connect_error() -> None:
    """The factory's exception ends the attempt: ConnectError, the exception its cause."""

    async def factory(url: str) -> trio.abc.Stream:
        raise OSError("tunnel is down")

    ws = WebSocket("ws://memory.test/", stream_factory=factory)
    rec = Recorder(ws)
    await run_to_end(ws)
    assert type(rec.error) is ConnectError
    assert "tunnel is down" in str(rec.error)
    assert isinstance(rec.error.__cause__, OSError)


async def test_stream_factory_returning_no_stream_is_connect_error() -> None:
    """A factory that returns something other than a trio stream is reported, not used."""
    ws = WebSocket("ws://memory.test/", stream_factory=lambda url: "not a stream")  # type: ignore[arg-type,return-value]
    rec = Recorder(ws)
    await run_to_end(ws)
    assert type(rec.error) is ConnectError
    assert "returned a str, not a trio.abc.Stream" in str(rec.error)


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"unix_socket": "/s", "proxy": "http://p:3128"}, ValueError, "unix_socket= cannot be"),
        ({"stream_factory": print, "unix_socket": "/s"}, ValueError, "either unix_socket="),
        ({"unix_socket": 3}, TypeError, "unix_socket must be a str or os.PathLike"),
        ({"unix_socket": ""}, ValueError, "non-empty path"),
        ({"stream_factory": "x"}, TypeError, "stream_factory must be a callable"),
    ],
)
def test_transport_options_are_checked_at_construction(
    options: dict[str, object], error: type[Exception], message: str
) -> None:
    """Bad or conflicting transport options raise when the instance is built."""
    with pytest.raises(error, match=message):
        WebSocket("ws://localhost/", **options)  # type: ignore[arg-type]


async def test_stream_factory_is_called_again_on_reconnect() -> None:
    """ReconnectingWebSocket calls the factory for each connection it makes."""
    urls: list[str] = []
    async with open_scripted_server() as server, trio.open_nursery() as nursery:

        def factory(url: str) -> trio.abc.Stream:
            urls.append(url)
            client, server_side = trio.testing.memory_stream_pair()
            nursery.start_soon(server._handle, cast(trio.SocketStream, server_side))
            return client

        rws = ReconnectingWebSocket(
            "ws://memory.test/feed", backoff=Backoff(initial=0), stream_factory=factory
        )
        rws.open(nursery)
        with trio.fail_after(10):
            first = await server.accept()
            await first.drop()  # no close frame: a reconnect
            second = await server.accept()
            await second.close(1000, "done")
            await rws.wait_closed()
    assert urls == ["ws://memory.test/feed", "ws://memory.test/feed"]


async def test_own_transport_refuses_http2() -> None:
    """unix_socket= and stream_factory= cannot go with http2=: the pool opens its own."""
    async with open_h2_pool() as pool:
        for option in ({"unix_socket": "/s"}, {"stream_factory": lambda url: None}):
            with pytest.raises(ValueError, match="cannot be combined with http2="):
                WebSocket("wss://localhost/", http2=pool, **option)
