"""Faults under ``WebSocket(url, http2=pool)``: each WebSocket on a broken connection or
stream ends with its one terminal event and its own ``unsent``; the others go on."""

from __future__ import annotations

import trio
from recorder import Recorder, run_to_end

from http2.conftest import StartH2Node
from http2.test_misuse import start_silent
from trio_ws_events import (
    CloseTimeout,
    ConnectError,
    ConnectionLost,
    ConnectTimeout,
    H2Pool,
    WebSocket,
    open_h2_pool,
)


async def open_all(nursery: trio.Nursery, sockets: list[WebSocket]) -> None:
    """Open every WebSocket in ``nursery`` and wait until each is open (10 s)."""
    for ws in sockets:
        ws.open(nursery)
    with trio.fail_after(10):
        for ws in sockets:
            while not ws.is_open:
                await trio.sleep(0.01)


async def echoes(url: str, pool: H2Pool) -> bool:
    """Whether a fresh WebSocket to ``url`` through ``pool`` gets its message back."""
    ws = WebSocket(url, http2=pool)
    rec = Recorder(ws)
    ws.on_open += lambda ws: ws.send("still here")
    ws.on_message += lambda ws, message: ws.close()
    await run_to_end(ws, limit=10)
    return rec.messages == ["still here"]


async def test_websocket_http2_tcp_reset_ends_ten_each_with_its_unsent(
    h2_node: StartH2Node,
) -> None:
    """10 WebSockets whose sends are held by a shut window, then the TCP connection reset:
    10 ConnectionLost, one each, each with its own message in unsent."""
    port = await h2_node("--zero-window")
    url = f"ws://127.0.0.1:{port}"
    async with open_h2_pool(h2c=True) as pool:
        sockets = [WebSocket(f"{url}/echo", http2=pool, compression=None) for _ in range(10)]
        recorders = [Recorder(ws) for ws in sockets]
        async with trio.open_nursery() as nursery:
            await open_all(nursery, sockets)
            for i, ws in enumerate(sockets):
                ws.send(f"held {i}")
            await trio.sleep(0.1)
            assert [ws.buffered_amount for ws in sockets] == [len(f"held {i}") for i in range(10)]
            await pool.open_websocket(f"{url}/kill")
    for i, (ws, rec) in enumerate(zip(sockets, recorders, strict=True)):
        rec.assert_terminal_once()
        assert isinstance(rec.error, ConnectionLost), rec.events
        assert ws.unsent == (f"held {i}",)
        assert rec.error.unsent == ws.unsent
        assert ws.close_code == 1006


async def test_websocket_http2_server_reset_ends_only_that_websocket(
    h2_node: StartH2Node,
) -> None:
    """RST_STREAM from the server on one WebSocket: it ends (ConnectionLost); the other
    WebSocket on the same connection keeps echoing."""
    url = f"ws://127.0.0.1:{await h2_node()}"
    async with open_h2_pool(h2c=True) as pool:
        survivor = WebSocket(f"{url}/echo", http2=pool)
        reset = WebSocket(f"{url}/reset", http2=pool)
        got: list[str] = []
        survivor.on_message += lambda ws, message: got.append(message)
        rec = Recorder(reset)
        async with trio.open_nursery() as nursery:
            await open_all(nursery, [survivor, reset])
            reset.send("first frame: the server resets")
            with trio.fail_after(10):
                await reset.wait_closed()
            survivor.send("after the reset")
            with trio.fail_after(10):
                while not got:
                    await trio.sleep(0.01)
            survivor.close()
        assert pool.connections_opened == 1
    rec.assert_terminal_once()
    assert isinstance(rec.error, ConnectionLost)
    assert "reset" in str(rec.error).lower()
    assert got == ["after the reset"]
    assert survivor.close_code == 1000


async def test_websocket_http2_goaway_ends_websockets_and_next_opens_anew(
    h2_node: StartH2Node,
) -> None:
    """GOAWAY: the WebSockets of that connection each end once (h2 ends them all), and the
    next WebSocket to the origin opens on a new connection."""
    url = f"ws://127.0.0.1:{await h2_node()}"
    async with open_h2_pool(h2c=True) as pool:
        sockets = [WebSocket(f"{url}/echo", http2=pool), WebSocket(f"{url}/goaway", http2=pool)]
        recorders = [Recorder(ws) for ws in sockets]
        async with trio.open_nursery() as nursery:
            await open_all(nursery, sockets[:1])
            sockets[1].open(nursery)  # GOAWAY comes with its answer: it may never be open
            with trio.fail_after(10):
                for ws in sockets:
                    await ws.wait_closed()
        assert await echoes(f"{url}/echo", pool)
        assert pool.connections_opened == 2
    for rec in recorders:
        rec.assert_terminal_once()
    assert isinstance(recorders[0].error, ConnectionLost)
    # The GOAWAY may land before or after its own stream's answer was read.
    assert isinstance(recorders[1].error, ConnectionLost | ConnectError)


async def test_websocket_http2_window_never_opening_is_bounded_by_close_timeout(
    h2_node: StartH2Node,
) -> None:
    """A stream window that stays 0: the message waits (buffered_amount), close() ends with
    CloseTimeout after close_timeout, and the message is in unsent."""
    url = f"ws://127.0.0.1:{await h2_node('--zero-window')}/echo"
    async with open_h2_pool(h2c=True) as pool:
        ws = WebSocket(url, http2=pool, close_timeout=0.3, compression=None)
        rec = Recorder(ws)
        async with trio.open_nursery() as nursery:
            await open_all(nursery, [ws])
            ws.send("blocked by flow control")
            await trio.sleep(0.1)
            assert ws.is_open
            started = trio.current_time()
            ws.close()
            with trio.fail_after(5):
                await ws.wait_closed()
            assert trio.current_time() - started < 2
    rec.assert_terminal_once()
    assert isinstance(rec.error, CloseTimeout)
    assert ws.unsent == ("blocked by flow control",)


async def test_websocket_http2_slow_handler_does_not_stall_the_other(
    h2_node: StartH2Node,
) -> None:
    """One WebSocket's handler blocks while 1.5 MiB echo to it (beyond its stream window);
    another WebSocket on the same connection still gets its 20 echoes."""
    url = f"ws://127.0.0.1:{await h2_node()}/echo"
    release = trio.Event()
    big = b"x" * (512 * 1024)

    async def stuck(ws: WebSocket, data: bytes) -> None:
        await release.wait()

    async with open_h2_pool(h2c=True) as pool:
        slow = WebSocket(url, http2=pool, compression=None)
        fast = WebSocket(url, http2=pool)
        slow.on_binary += stuck
        got: list[str] = []
        fast.on_message += lambda ws, message: got.append(message)
        async with trio.open_nursery() as nursery:
            await open_all(nursery, [slow, fast])
            for _ in range(3):
                slow.send(big)
            await trio.sleep(0.2)
            for i in range(20):
                fast.send(f"m{i}")
            with trio.fail_after(10):
                while len(got) < 20:
                    await trio.sleep(0.01)
            release.set()
            slow.close()
            fast.close()
        assert pool.connections_opened == 1
    assert got == [f"m{i}" for i in range(20)]
    assert (slow.close_code, fast.close_code) == (1000, 1000)


async def test_websocket_http2_connect_timeout_resets_only_its_stream(
    nursery: trio.Nursery,
) -> None:
    """No answer to the extended CONNECT: ConnectTimeout after connect_timeout; the stream
    is reset and the shared connection lives on for the next WebSocket."""
    url = await start_silent(nursery)
    async with open_h2_pool(h2c=True, ping_interval=None) as pool:
        ws = WebSocket(url, http2=pool, connect_timeout=0.2)
        rec = Recorder(ws)
        await run_to_end(ws, limit=5)
        (connection,) = pool.connections(url)
        assert connection.open_streams == 0
        assert not connection.is_ended
    assert isinstance(rec.error, ConnectTimeout)
    assert rec.names == ["error"]


async def test_websocket_http2_close_while_connecting_abandons(nursery: trio.Nursery) -> None:
    """close() while the extended CONNECT waits: the attempt is abandoned (ConnectError),
    the stream reset, the connection kept."""
    url = await start_silent(nursery)
    async with open_h2_pool(h2c=True, ping_interval=None) as pool:
        ws = WebSocket(url, http2=pool)
        rec = Recorder(ws)
        with trio.fail_after(5):
            async with trio.open_nursery() as inner:
                ws.open(inner)
                while not pool.connections(url) or not pool.connections(url)[0].open_streams:
                    await trio.sleep(0.01)
                ws.close()
        (connection,) = pool.connections(url)
        assert connection.open_streams == 0
    assert isinstance(rec.error, ConnectError)
    assert "abandoned" in str(rec.error)
