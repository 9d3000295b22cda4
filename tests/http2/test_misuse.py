"""Arguments checked before any I/O, concurrent misuse, cancellation and the liveness PING."""

from __future__ import annotations

from functools import partial

import h2.config
import h2.connection
import h2.events
import h2.settings
import pytest
import trio

from http2.conftest import StartH2Node
from trio_ws_events._errors import ConnectError
from trio_ws_events._h2 import ConnectionBroken, open_h2_pool


async def silent_server(stream: trio.SocketStream) -> None:
    """Sends SETTINGS with ENABLE_CONNECT_PROTOCOL=1, then reads and answers nothing."""
    server = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    server.local_settings = h2.settings.Settings(
        client=False, initial_values={h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL: 1}
    )
    server.initiate_connection()
    await stream.send_all(server.data_to_send())
    while await stream.receive_some(65536):
        pass


async def start_silent(nursery: trio.Nursery) -> str:
    listeners = await nursery.start(partial(trio.serve_tcp, silent_server, 0, host="127.0.0.1"))
    return f"ws://127.0.0.1:{listeners[0].socket.getsockname()[1]}/chat"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_connections_per_origin": 0}, "max_connections_per_origin must be an int >= 1"),
        ({"ping_interval": -1}, "ping_interval must be a positive number"),
        ({"ping_timeout": 0}, "ping_timeout must be a positive number"),
        ({"max_connections_per_origin": True}, "max_connections_per_origin must be an int >= 1"),
        ({"ping_interval": True}, "ping_interval must be a positive number"),
    ],
)
async def test_open_h2_pool_rejects_bad_options(options: dict[str, float], message: str) -> None:
    """Bad pool options raise ValueError saying what is allowed."""
    with pytest.raises(ValueError, match=message):
        async with open_h2_pool(**options):  # type: ignore[arg-type]
            pass


async def test_open_websocket_ws_url_needs_h2c() -> None:
    """A ws:// URL without h2c=True raises ValueError before connecting anywhere."""
    async with open_h2_pool() as pool:
        with pytest.raises(ValueError, match="h2c prior knowledge"):
            await pool.open_websocket("ws://127.0.0.1:9/")
        assert pool.connections_opened == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"headers": [("Upgrade", "websocket")]}, "set by the extended CONNECT"),
        ({"subprotocols": ["two words"]}, "is not an HTTP token"),
    ],
)
async def test_open_websocket_checks_request_before_connecting(
    options: dict[str, object], message: str
) -> None:
    """A request that cannot be sent raises ValueError before any connection is opened."""
    async with open_h2_pool(h2c=True) as pool:
        with pytest.raises(ValueError, match=message):
            await pool.open_websocket("ws://127.0.0.1:9/", **options)  # type: ignore[arg-type]
        assert pool.connections_opened == 0


async def test_receive_some_rejects_bad_max_bytes_and_concurrency(h2_node: StartH2Node) -> None:
    """receive_some checks max_bytes, and a second concurrent reader is refused."""
    url = f"ws://127.0.0.1:{await h2_node()}/echo"
    with trio.fail_after(10):
        async with open_h2_pool(h2c=True) as pool, trio.open_nursery() as nursery:
            stream = await pool.open_websocket(url)
            with pytest.raises(ValueError, match="max_bytes must be at least 1"):
                await stream.receive_some(0)
            with pytest.raises(TypeError, match="max_bytes must be an int or None"):
                await stream.receive_some("1")  # type: ignore[arg-type]
            nursery.start_soon(stream.receive_some)
            await trio.testing.wait_all_tasks_blocked()
            with pytest.raises(trio.BusyResourceError):
                await stream.receive_some()
            nursery.cancel_scope.cancel()


async def test_open_websocket_cancelled_resets_the_stream(nursery: trio.Nursery) -> None:
    """Cancelled while waiting for the response: the stream is reset, the connection lives."""
    url = await start_silent(nursery)
    with trio.fail_after(10):
        async with open_h2_pool(h2c=True, ping_interval=None) as pool:
            with trio.move_on_after(0.2) as scope:
                await pool.open_websocket(url)
            assert scope.cancelled_caught
            (connection,) = pool.connections(url)
            assert connection.open_streams == 0
            assert not connection.is_ended


async def test_ping_unanswered_ends_connection_and_its_streams(nursery: trio.Nursery) -> None:
    """A server that never ACKs PING: after ping_timeout the connection ends (reason ping)."""
    url = await start_silent(nursery)
    with trio.fail_after(10):
        async with open_h2_pool(h2c=True, ping_interval=0.05, ping_timeout=0.2) as pool:
            with pytest.raises(ConnectError) as caught:
                await pool.open_websocket(url)
            cause = caught.value.__cause__
            assert isinstance(cause, ConnectionBroken)
            assert cause.reason == "ping"
            assert pool.connections(url) == []


async def hang_up_at_first_ping(stream: trio.SocketStream) -> None:
    """Sends SETTINGS, reads until the client's first PING, then closes TCP without its ACK."""
    server = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    server.local_settings = h2.settings.Settings(
        client=False, initial_values={h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL: 1}
    )
    server.initiate_connection()
    await stream.send_all(server.data_to_send())
    while data := await stream.receive_some(65536):
        if any(isinstance(event, h2.events.PingReceived) for event in server.receive_data(data)):
            break
    await stream.aclose()


async def test_connection_lost_while_a_keepalive_ping_waits_ends_only_that_connection(
    nursery: trio.Nursery,
) -> None:
    """The TCP connection lost under a keepalive PING: the pool's block goes on unharmed."""
    listeners = await nursery.start(
        partial(trio.serve_tcp, hang_up_at_first_ping, 0, host="127.0.0.1")
    )
    url = f"ws://127.0.0.1:{listeners[0].socket.getsockname()[1]}/chat"
    with trio.fail_after(10):
        async with open_h2_pool(h2c=True, ping_interval=0.05, ping_timeout=10) as pool:
            with pytest.raises(ConnectError):
                await pool.open_websocket(url)  # the server never answers the CONNECT
            assert pool.connections(url) == []
            await trio.sleep(0.2)  # a keepalive task that raised would have ended the block
        # Reaching this line is the point: no exception left the pool's nursery.


async def test_open_h2_pool_exit_breaks_open_streams(h2_node: StartH2Node) -> None:
    """Leaving the pool's block closes its connections: an open stream then raises."""
    url = f"ws://127.0.0.1:{await h2_node()}/echo"
    with trio.fail_after(10):
        async with open_h2_pool(h2c=True) as pool:
            stream = await pool.open_websocket(url)
        with pytest.raises(ConnectionBroken) as caught:
            await stream.receive_some()
        assert caught.value.reason == "closed"
        with pytest.raises(trio.ClosedResourceError):
            await pool.open_websocket(url)


async def hang_up(stream: trio.SocketStream) -> None:
    """Closes the TCP connection before any SETTINGS."""
    await stream.aclose()


async def test_open_websocket_connection_lost_before_settings(nursery: trio.Nursery) -> None:
    """A server that hangs up before its SETTINGS: a bare ConnectError, no connection kept."""
    listeners = await nursery.start(partial(trio.serve_tcp, hang_up, 0, host="127.0.0.1"))
    url = f"ws://127.0.0.1:{listeners[0].socket.getsockname()[1]}/"
    with trio.fail_after(10):
        async with open_h2_pool(h2c=True) as pool:
            with pytest.raises(ConnectError, match="HTTP/2 connection failed"):
                await pool.open_websocket(url)
            assert pool.connections(url) == []


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "9"])
async def test_open_h2_pool_rejects_bad_max_streams_per_connection(bad: object) -> None:
    """max_streams_per_connection is an int >= 1 or None; anything else is refused."""
    with pytest.raises(ValueError, match="max_streams_per_connection must be an int >= 1"):
        async with open_h2_pool(max_streams_per_connection=bad):  # type: ignore[arg-type]
            pass
