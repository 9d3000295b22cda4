"""The pool: many WebSockets share one HTTP/2 connection, per-stream windows keep them apart,
and a server that cannot take WebSockets over HTTP/2 is reported for the fallback."""

from __future__ import annotations

import json
import os
import ssl
import tracemalloc
from pathlib import Path

import pytest
import trio
import trustme

from http2.conftest import StartH2Node, start_hypercorn
from http2.test_faults import echoes
from http2.wire import FrameIO
from trio_ws_events._errors import HandshakeRejected
from trio_ws_events._h2 import (
    STREAM_WINDOW,
    ConnectionBroken,
    H2Pool,
    H2WebSocketStream,
    Http2Unavailable,
    open_h2_pool,
)
from trio_ws_events._sansio.frames import OP_BINARY

KIB = 1024


async def close_seen_by_server(pool: H2Pool, url: str, stream_id: int) -> int:
    """The RST_STREAM code Node saw ``stream_id`` close with (0: ended cleanly both ways).

    Node reports the closes of the session in each 200's headers; probe streams ask until
    ``stream_id``'s close has reached it.
    """
    for _ in range(50):
        probe = await pool.open_websocket(url)
        closes: dict[str, int] = json.loads(dict(probe.response_headers)["x-closes"])
        await probe.aclose()
        if str(stream_id) in closes:
            return closes[str(stream_id)]
        await trio.sleep(0.01)
    raise AssertionError(f"the server saw no close of stream {stream_id}")


async def test_open_websocket_hundred_streams_share_one_tcp_connection(
    h2_node: StartH2Node,
) -> None:
    """100 WebSockets to one origin: the server accepted one TCP connection, and all echo."""
    url = f"ws://127.0.0.1:{await h2_node()}/echo"
    with trio.fail_after(20):
        async with open_h2_pool(h2c=True) as pool:
            streams = [await pool.open_websocket(url) for _ in range(100)]
            assert {s.connection for s in streams} == {streams[0].connection}
            seen = {dict(s.response_headers)["x-connections"] for s in streams}
            assert seen == {"1"}
            assert pool.connections_opened == 1
            for stream in streams:
                assert await echoes(stream)


async def test_concurrent_opens_to_a_new_origin_share_the_connection_being_made(
    h2_node: StartH2Node,
) -> None:
    """20 WebSockets opened at once to an origin with no connection yet: one TCP connection."""
    url = f"ws://127.0.0.1:{await h2_node()}/echo"
    streams: list[H2WebSocketStream] = []

    async def open_one(pool: H2Pool) -> None:
        streams.append(await pool.open_websocket(url))

    with trio.fail_after(20):
        async with open_h2_pool(h2c=True) as pool:
            async with trio.open_nursery() as nursery:
                for _ in range(20):
                    nursery.start_soon(open_one, pool)
            assert len(streams) == 20
            assert pool.connections_opened == 1
            assert {dict(s.response_headers)["x-connections"] for s in streams} == {"1"}
            for stream in streams:
                await stream.aclose()


async def test_open_websocket_hundred_streams_over_tls_alpn_h2(
    hypercorn_url: str, trusting: ssl.SSLContext
) -> None:
    """Against Hypercorn over TLS: ALPN chose h2 and 100 WebSockets ride one connection."""
    with trio.fail_after(20):
        async with open_h2_pool(ssl_context=trusting) as pool:
            streams = [await pool.open_websocket(f"{hypercorn_url}/echo") for _ in range(100)]
            (connection,) = pool.connections(f"{hypercorn_url}/")
            assert connection.alpn == "h2"
            assert connection.extended_connect
            assert connection.open_streams == 100
            assert pool.connections_opened == 1
            for stream in streams[::10]:
                assert await echoes(stream)


async def test_receive_window_slow_reader_does_not_stall_another(h2_node: StartH2Node) -> None:
    """A stream whose reader stops holds at most STREAM_WINDOW bytes; its neighbour echoes."""
    url = f"ws://127.0.0.1:{await h2_node()}/echo"
    with trio.fail_after(15):
        async with open_h2_pool(h2c=True) as pool, trio.open_nursery() as nursery:
            slow = await pool.open_websocket(url)
            fast = await pool.open_websocket(url)
            nursery.start_soon(FrameIO(slow).send, OP_BINARY, os.urandom(1024 * KIB))
            while slow.buffered < STREAM_WINDOW:
                await trio.sleep(0.01)
            for _ in range(20):
                assert await echoes(fast, "x" * 10_000)
            assert slow.buffered == STREAM_WINDOW
            nursery.cancel_scope.cancel()


async def test_receive_window_bounds_memory_of_a_stalled_stream(h2_node: StartH2Node) -> None:
    """4 MiB sent to a stream that is never read: the client holds about STREAM_WINDOW."""
    url = f"ws://127.0.0.1:{await h2_node()}/echo"
    frame = FrameIO.masked(OP_BINARY, os.urandom(4096 * KIB))
    with trio.fail_after(15):
        async with open_h2_pool(h2c=True) as pool, trio.open_nursery() as nursery:
            stream = await pool.open_websocket(url)
            tracemalloc.start()
            try:
                nursery.start_soon(stream.send_all, frame)
                while stream.buffered < STREAM_WINDOW:
                    await trio.sleep(0.01)
                await trio.sleep(0.2)  # more would arrive now if the window let it
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            nursery.cancel_scope.cancel()
    assert stream.buffered == STREAM_WINDOW
    assert peak < STREAM_WINDOW + 512 * KIB, f"peak {peak} bytes"


async def test_pool_full_connection_opens_another(h2_node: StartH2Node) -> None:
    """SETTINGS_MAX_CONCURRENT_STREAMS=2: the third WebSocket opens a second connection."""
    url = f"ws://127.0.0.1:{await h2_node('--max-streams=2')}/echo"
    with trio.fail_after(10):
        async with open_h2_pool(h2c=True) as pool:
            streams = [await pool.open_websocket(url) for _ in range(3)]
            assert streams[0].connection is streams[1].connection
            assert streams[2].connection is not streams[0].connection
            assert pool.connections_opened == 2
            assert dict(streams[2].response_headers)["x-connections"] == "2"


async def test_pool_at_connection_limit_waits_for_a_stream_to_end(h2_node: StartH2Node) -> None:
    """With max_connections_per_origin=1 and a full connection, opening waits for room."""
    url = f"ws://127.0.0.1:{await h2_node('--max-streams=2')}/echo"
    with trio.fail_after(10):
        async with open_h2_pool(h2c=True, max_connections_per_origin=1) as pool:
            first, second = [await pool.open_websocket(url) for _ in range(2)]
            with trio.move_on_after(0.3) as waited:
                await pool.open_websocket(url)
            assert waited.cancelled_caught
            async with trio.open_nursery() as nursery:
                nursery.start_soon(first.aclose)
                third = await pool.open_websocket(url)
            assert third.connection is second.connection
            assert pool.connections_opened == 1


async def test_open_websocket_without_connect_protocol_reports_fallback(
    h2_node: StartH2Node,
) -> None:
    """A server without SETTINGS_ENABLE_CONNECT_PROTOCOL: Http2Unavailable, reason settings."""
    url = f"ws://127.0.0.1:{await h2_node('--no-connect-protocol')}/echo"
    with trio.fail_after(10):
        async with open_h2_pool(h2c=True) as pool:
            with pytest.raises(Http2Unavailable) as caught:
                await pool.open_websocket(url)
            assert caught.value.reason == "settings"
            assert caught.value.code == 1006
            assert pool.connections(url) == []


async def test_open_websocket_alpn_without_h2_reports_fallback(
    nursery: trio.Nursery, ca: trustme.CA, tmp_path: Path, trusting: ssl.SSLContext
) -> None:
    """A TLS server offering only http/1.1 by ALPN: Http2Unavailable, reason alpn."""
    url, stop = await start_hypercorn(nursery, ca, tmp_path, ["http/1.1"])
    with trio.fail_after(10):
        async with open_h2_pool(ssl_context=trusting) as pool:
            with pytest.raises(Http2Unavailable) as caught:
                await pool.open_websocket(f"{url}/echo")
    assert (caught.value.reason, caught.value.alpn) == ("alpn", "http/1.1")
    stop.set()


async def test_open_h2_pool_never_changes_a_given_ssl_context(
    nursery: trio.Nursery, ca: trustme.CA, tmp_path: Path
) -> None:
    """A context without an h2 ALPN offer stays without one: reason alpn, and no offer added."""
    url, stop = await start_hypercorn(nursery, ca, tmp_path, ["h2", "http/1.1"])
    plain = ssl.create_default_context()
    ca.configure_trust(plain)
    with trio.fail_after(10):
        async with open_h2_pool(ssl_context=plain) as pool:
            with pytest.raises(Http2Unavailable, match="set_alpn_protocols") as caught:
                await pool.open_websocket(f"{url}/echo")
    assert (caught.value.reason, caught.value.alpn) == ("alpn", None)
    # The same context, used again for TLS, still offers nothing by ALPN.
    with trio.fail_after(10):
        tcp = await trio.open_tcp_stream("127.0.0.1", int(url.rsplit(":", 1)[1]))
        tls = trio.SSLStream(tcp, plain, server_hostname="127.0.0.1")
        await tls.do_handshake()
        assert tls.selected_alpn_protocol() is None
        await tls.aclose()
    stop.set()


async def test_open_websocket_rejected_carries_status_headers_body(h2_node: StartH2Node) -> None:
    """A 403 to the extended CONNECT raises HandshakeRejected with its headers and body."""
    url = f"ws://127.0.0.1:{await h2_node()}/reject"
    with trio.fail_after(10):
        async with open_h2_pool(h2c=True) as pool:
            with pytest.raises(HandshakeRejected) as caught:
                await pool.open_websocket(url)
            assert caught.value.status == 403
            assert ("x-why", "forbidden here") in caught.value.headers
            assert caught.value.body == b"no websocket for you"
            (connection,) = pool.connections(url)
            assert connection.open_streams == 0


async def test_open_websocket_rejected_by_hypercorn(
    hypercorn_url: str, trusting: ssl.SSLContext
) -> None:
    """Hypercorn's app closing before accept: HandshakeRejected with a 403."""
    with trio.fail_after(10):
        async with open_h2_pool(ssl_context=trusting) as pool:
            with pytest.raises(HandshakeRejected) as caught:
                await pool.open_websocket(f"{hypercorn_url}/reject")
            assert caught.value.status == 403


async def test_aclose_open_stream_resets_it_and_frees_its_slot(h2_node: StartH2Node) -> None:
    """aclose before the server ended the stream sends RST_STREAM(CANCEL): the slot is free,
    the connection goes on, and the stream refuses further use."""
    url = f"ws://127.0.0.1:{await h2_node()}/echo"
    with trio.fail_after(10):
        async with open_h2_pool(h2c=True) as pool:
            stream = await pool.open_websocket(url)
            await stream.aclose()
            await stream.aclose()  # idempotent
            assert stream.connection.open_streams == 0
            with pytest.raises(trio.ClosedResourceError):
                await stream.send_all(b"x")
            with pytest.raises(trio.ClosedResourceError):
                await stream.receive_some()
            assert await close_seen_by_server(pool, url, stream.stream_id) == 0x8  # CANCEL

            other = await pool.open_websocket(url)
            assert other.connection is stream.connection
            assert await echoes(other)


async def test_ping_is_acknowledged(h2_node: StartH2Node) -> None:
    """An HTTP/2 PING on the shared connection returns once the server acknowledged it."""
    url = f"ws://127.0.0.1:{await h2_node()}/echo"
    with trio.fail_after(10):
        # ping_timeout 0.1 s: a keepalive PING left unanswered would end the connection
        # within the 0.3 s below, so this also pins that each one got its ACK.
        async with open_h2_pool(h2c=True, ping_interval=0.05, ping_timeout=0.1) as pool:
            stream: H2WebSocketStream = await pool.open_websocket(url)
            await stream.connection.ping()
            await trio.sleep(0.3)  # a few keepalive PINGs, all answered
            assert not stream.connection.is_ended
            assert await echoes(stream)


async def test_ping_while_the_connection_closes_is_connection_broken(
    h2_node: StartH2Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PING asked for while aclose() waits for its GOAWAY to be written (what a keepalive
    PING due at that moment does) raises ConnectionBroken("closed"), not h2's ProtocolError."""
    url = f"ws://127.0.0.1:{await h2_node()}/echo"
    with trio.fail_after(10):
        async with open_h2_pool(h2c=True) as pool:
            stream: H2WebSocketStream = await pool.open_websocket(url)
            connection = stream.connection
            flush = connection._flush_or_fail
            outcomes: list[BaseException] = []

            async def ping_then_flush() -> None:
                try:
                    await connection.ping()
                except Exception as exc:
                    outcomes.append(exc)
                await flush()

            monkeypatch.setattr(connection, "_flush_or_fail", ping_then_flush)
            await connection.aclose()
            assert [type(exc) for exc in outcomes] == [ConnectionBroken]
            assert outcomes[0].reason == "closed"  # type: ignore[attr-defined]


async def test_send_eof_half_closes_and_keeps_receiving(h2_node: StartH2Node) -> None:
    """After send_eof the echo of what was sent still arrives; sending again is refused."""
    url = f"ws://127.0.0.1:{await h2_node()}/echo"
    with trio.fail_after(10):
        async with open_h2_pool(h2c=True) as pool:
            stream = await pool.open_websocket(url)
            io = FrameIO(stream)
            await io.send(OP_BINARY, b"last words")
            await stream.send_eof()
            await stream.send_eof()  # idempotent
            assert (await io.receive()).payload == b"last words"
            with pytest.raises(trio.ClosedResourceError, match="send_eof was called"):
                await stream.send_all(b"more")


async def test_pool_retires_a_connection_after_max_streams_per_connection(
    h2_node: StartH2Node,
) -> None:
    """After max_streams_per_connection streams a connection takes no new one: the next
    opens a new connection, and the old one is closed once its last stream ends."""
    url = f"ws://127.0.0.1:{await h2_node()}/echo"
    with trio.fail_after(10):
        async with open_h2_pool(h2c=True, max_streams_per_connection=3) as pool:
            first = [await pool.open_websocket(url) for _ in range(3)]
            old = first[0].connection
            assert old.is_retired
            fourth = await pool.open_websocket(url)
            assert fourth.connection is not old
            assert dict(fourth.response_headers)["x-connections"] == "2"
            assert not old.is_ended  # its streams are still open
            for stream in first:
                await stream.aclose()
            while not old.is_ended:
                await trio.sleep(0.01)
            assert pool.connections(url) == [fourth.connection]
            assert await echoes(fourth)
