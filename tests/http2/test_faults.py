"""Faults on a shared HTTP/2 connection, against Node's http2 server (h2c): each stream hears
of its own ending, and only the streams a fault concerns break."""

from __future__ import annotations

import pytest
import trio

from http2.conftest import StartH2Node
from http2.wire import FrameIO
from trio_ws_events._h2 import (
    ConnectionBroken,
    H2Pool,
    H2WebSocketStream,
    StreamRefused,
    StreamReset,
    open_h2_pool,
)
from trio_ws_events._sansio.frames import OP_TEXT


async def echoes(stream: H2WebSocketStream, text: str = "still here") -> bool:
    """Whether ``stream`` echoes a text message."""
    io = FrameIO(stream)
    await io.send(OP_TEXT, text.encode())
    frame = await io.receive()
    return frame.payload == text.encode()


async def open_many(pool: H2Pool, url: str, count: int) -> list[H2WebSocketStream]:
    return [await pool.open_websocket(url) for _ in range(count)]


async def test_stream_reset_by_server_breaks_only_that_stream(h2_node: StartH2Node) -> None:
    """RST_STREAM(CANCEL) on one stream raises StreamReset there; its neighbour echoes on."""
    port = await h2_node()
    with trio.fail_after(10):
        async with open_h2_pool(h2c=True) as pool:
            other = await pool.open_websocket(f"ws://127.0.0.1:{port}/echo")
            doomed = await pool.open_websocket(f"ws://127.0.0.1:{port}/reset")
            await FrameIO(doomed).send(OP_TEXT, b"reset me")
            with pytest.raises(StreamReset) as caught:
                # Node's stream.close(code) ends the stream (END_STREAM) and sends its
                # RST_STREAM a moment later: keep sending until the reset has arrived.
                for _ in range(100):
                    await doomed.send_all(b"x")
                    await trio.sleep(0.01)
            assert caught.value.error_code == 0x8  # CANCEL
            assert caught.value.stream_id == doomed.stream_id
            with pytest.raises(StreamReset):
                await doomed.receive_some()
            assert await echoes(other)
            assert other.connection.open_streams == 1


async def test_goaway_breaks_streams_above_last_id(h2_node: StartH2Node) -> None:
    """GOAWAY(last=3): streams 5 and 7 raise StreamRefused, 1 and 3 ConnectionBroken
    (reason goaway), and the pool opens a new connection for the next WebSocket."""
    port = await h2_node()
    url = f"ws://127.0.0.1:{port}"
    with trio.fail_after(10):
        async with open_h2_pool(h2c=True) as pool:
            kept = await open_many(pool, f"{url}/echo", 3)
            refused = kept.pop()
            closer = await pool.open_websocket(f"{url}/goaway?last=3")
            assert [s.stream_id for s in (*kept, refused, closer)] == [1, 3, 5, 7]
            for stream in (refused, closer):
                with pytest.raises(StreamRefused) as caught:
                    await stream.receive_some()
                assert caught.value.last_stream_id == 3
            for stream in kept:
                with pytest.raises(ConnectionBroken) as broken:
                    await stream.receive_some()
                assert (broken.value.reason, broken.value.error_code) == ("goaway", 0)
            fresh = await pool.open_websocket(f"{url}/echo")
            assert fresh.connection is not kept[0].connection
            assert pool.connections_opened == 2
            assert await echoes(fresh)


async def test_tcp_reset_breaks_each_of_ten_streams(h2_node: StartH2Node) -> None:
    """The TCP connection reset under 10 open streams: 10 ConnectionBroken, one per stream."""
    port = await h2_node()
    url = f"ws://127.0.0.1:{port}"
    with trio.fail_after(10):
        async with open_h2_pool(h2c=True) as pool:
            streams = await open_many(pool, f"{url}/echo", 10)
            await pool.open_websocket(f"{url}/kill")
            errors: list[ConnectionBroken] = []
            for stream in streams:
                with pytest.raises(ConnectionBroken) as caught:
                    await stream.receive_some()
                errors.append(caught.value)
            assert [e.stream_id for e in errors] == [s.stream_id for s in streams]
            assert len({id(e) for e in errors}) == 10
            assert {e.reason for e in errors} == {"lost"}
            with pytest.raises(ConnectionBroken) as again:
                await streams[0].send_all(b"x")
            assert again.value is errors[0]
            assert pool.connections(f"{url}/") == []


async def test_send_all_window_that_never_opens_ends_with_cancel_scope(
    h2_node: StartH2Node,
) -> None:
    """A server whose stream window stays 0: send_all waits until the caller's scope ends it."""
    port = await h2_node("--zero-window")
    with trio.fail_after(10):
        async with open_h2_pool(h2c=True) as pool:
            stream = await pool.open_websocket(f"ws://127.0.0.1:{port}/echo")
            with trio.move_on_after(0.3) as scope:
                await stream.send_all(b"blocked by flow control")
            assert scope.cancelled_caught
            with trio.move_on_after(0.1) as scope:
                await stream.wait_send_all_might_not_block()
            assert scope.cancelled_caught
