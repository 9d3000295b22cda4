"""Bytes flow both ways over an RFC 8441 stream: Hypercorn (TLS, ALPN h2) and Node (h2c)."""

from __future__ import annotations

import os
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio
import trustme

from http2.conftest import start_h2_node, start_hypercorn
from http2.test_pool import close_seen_by_server
from http2.wire import FrameIO
from trio_ws_events._h2 import H2WebSocketStream, open_h2_pool
from trio_ws_events._sansio.frames import (
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    decode_close,
    encode_close,
)

MIB = 1024 * 1024


@asynccontextmanager
async def one_stream(
    url: str, *, context: ssl.SSLContext | None = None, subprotocols: tuple[str, ...] = ()
) -> AsyncIterator[H2WebSocketStream]:
    async with open_h2_pool(ssl_context=context, h2c=context is None) as pool:
        stream = await pool.open_websocket(url, subprotocols=subprotocols)
        yield stream
        await stream.aclose()


@pytest.fixture(params=["hypercorn", "node"])
async def echo_target(
    request: pytest.FixtureRequest,
    nursery: trio.Nursery,
    ca: trustme.CA,
    tmp_path: Path,
    trusting: ssl.SSLContext,
) -> AsyncIterator[tuple[str, ssl.SSLContext | None]]:
    """The URL of an RFC 8441 echo peer and the client context (None: h2c)."""
    if request.param == "hypercorn":
        url, stop = await start_hypercorn(nursery, ca, tmp_path, ["h2", "http/1.1"])
        yield f"{url}/echo", trusting
        stop.set()
        return
    node = request.getfixturevalue("node")
    yield f"ws://127.0.0.1:{await start_h2_node(nursery, node)}/echo", None


async def echo(io: FrameIO, opcode: int, payload: bytes) -> bytes:
    await io.send(opcode, payload)
    frame = await io.receive()
    assert frame.opcode == opcode
    assert not frame.masked
    return frame.payload


async def test_stream_echoes_text_and_binary(
    echo_target: tuple[str, ssl.SSLContext | None],
) -> None:
    """A text and a binary message come back unchanged over the HTTP/2 stream."""
    url, context = echo_target
    with trio.fail_after(10):
        async with one_stream(url, context=context) as stream:
            io = FrameIO(stream)
            assert await echo(io, OP_TEXT, "héllo".encode()) == "héllo".encode()
            assert await echo(io, OP_BINARY, b"\x00\xff" * 10) == b"\x00\xff" * 10


async def test_stream_echoes_one_mib_within_flow_control(
    echo_target: tuple[str, ssl.SSLContext | None],
) -> None:
    """A 1 MiB message, far past every initial window, crosses both ways intact."""
    url, context = echo_target
    payload = os.urandom(MIB)
    with trio.fail_after(20):
        async with one_stream(url, context=context) as stream:
            io = FrameIO(stream)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(io.send, OP_BINARY, payload)
                frame = await io.receive()
            assert frame.opcode == OP_BINARY
            assert frame.payload == payload


async def test_stream_ping_gets_pong(echo_target: tuple[str, ssl.SSLContext | None]) -> None:
    """A WebSocket ping over the stream is answered by a pong with its payload."""
    url, context = echo_target
    with trio.fail_after(10):
        async with one_stream(url, context=context) as stream:
            io = FrameIO(stream)
            await io.send(OP_PING, b"are you there")
            frame = await io.receive()
            assert (frame.opcode, frame.payload) == (OP_PONG, b"are you there")


async def test_open_websocket_reports_chosen_subprotocol(
    echo_target: tuple[str, ssl.SSLContext | None],
) -> None:
    """The server's sec-websocket-protocol is on the stream once opened."""
    url, context = echo_target
    with trio.fail_after(10):
        async with one_stream(url, context=context, subprotocols=("chat", "other")) as stream:
            assert stream.subprotocol == "chat"


async def test_aclose_after_close_handshake_ends_stream(
    echo_target: tuple[str, ssl.SSLContext | None],
) -> None:
    """After the WebSocket close handshake aclose frees the stream; the connection goes on.

    Node ends its side (END_STREAM) after its close frame, Hypercorn 0.18 does not: aclose
    answers the first with END_STREAM and the second with RST_STREAM(CANCEL).
    """
    url, context = echo_target
    with trio.fail_after(10):
        async with open_h2_pool(ssl_context=context, h2c=context is None) as pool:
            stream = await pool.open_websocket(url)
            io = FrameIO(stream)
            await io.send(OP_CLOSE, encode_close(1000, "bye"))
            frame = await io.receive()
            assert (frame.opcode, decode_close(frame.payload)) == (OP_CLOSE, (1000, "bye"))
            await stream.aclose()
            assert stream.connection.open_streams == 0
            if context is None:  # Node: it ended its side, so aclose ended ours cleanly
                assert await close_seen_by_server(pool, url, stream.stream_id) == 0
            second = await pool.open_websocket(url)
            assert second.connection is stream.connection
            assert await echo(FrameIO(second), OP_TEXT, b"after") == b"after"


async def test_open_websocket_negotiates_extensions_in_headers(
    hypercorn_url: str, trusting: ssl.SSLContext
) -> None:
    """permessage-deflate is offered and answered in the headers, as over HTTP/1.1."""
    with trio.fail_after(10):
        async with open_h2_pool(ssl_context=trusting) as pool:
            stream = await pool.open_websocket(
                f"{hypercorn_url}/echo", extensions="permessage-deflate; client_max_window_bits"
            )
            assert stream.extensions is not None
            assert stream.extensions.startswith("permessage-deflate")
            await stream.aclose()
