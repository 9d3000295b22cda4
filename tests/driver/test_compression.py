"""permessage-deflate against real servers (websockets, Node's ws) and a hostile one."""

from __future__ import annotations

import json
import os
import zlib

import pytest
import trio
from conftest import StartNodeServer, StartRawServer, StartWebSocketsServer
from peers.raw_server import Opcode, RawConnection, build_frame
from recorder import Recorder, run_to_end, run_to_end_traced, send_and_collect

from trio_ws_events import MessageTooBig, WebSocket

DEFLATE_ANSWER = [("Sec-WebSocket-Extensions", "permessage-deflate")]


def sample_messages() -> list[str | bytes]:
    doc = json.dumps([{"id": i, "name": f"user {i}", "tags": ["a", "b"]} for i in range(5000)])
    return [
        "small",
        "x" * 63,
        "é" * 1000,
        doc,  # compressible JSON, about 250 KB
        os.urandom(70_000),  # incompressible
        b"\x00" * (2**20 - 10),
        "",
        b"",
    ]


@pytest.mark.parametrize(
    ("mode", "negotiated"),
    [("echo", "permessage-deflate"), ("echo-plain", None)],
    ids=["server-with-compression", "server-declines-compression"],
)
async def test_websockets_server_compression(
    websockets_server: StartWebSocketsServer, mode: str, negotiated: str | None
) -> None:
    """Against websockets with deflate on it is negotiated; a server that declines it gives no
    extension; either way every message round-trips."""
    url = await websockets_server(mode)
    messages = sample_messages()
    async with WebSocket(url) as ws:
        if negotiated is None:
            assert ws.extensions is None
        else:
            assert ws.extensions is not None
            assert ws.extensions.startswith(negotiated)
        assert await send_and_collect(ws, messages) == messages


async def test_compression_off_offers_nothing(raw_server: StartRawServer) -> None:
    """compression=None sends no Sec-WebSocket-Extensions; the default offers deflate."""
    offers: list[str | None] = []

    async def script(conn: RawConnection) -> None:
        offers.append(conn.header("Sec-WebSocket-Extensions"))
        await conn.accept_handshake()
        await conn.read_close()
        await conn.send_close(1000)

    server = await raw_server(script)
    async with WebSocket(server.url, compression=None):
        pass
    async with WebSocket(server.url):
        pass
    await server.wait_finished(2)
    assert offers[0] is None
    assert offers[1] is not None
    assert offers[1].startswith("permessage-deflate")


@pytest.mark.parametrize("extra", [(), ("server_no_context_takeover",)])
async def test_node_ws_server_with_deflate(node_server: StartNodeServer, extra: tuple[str]) -> None:
    """Against Node's ws with perMessageDeflate on (with and without context takeover)."""
    url = await node_server("deflate", *extra)
    messages = sample_messages() * 2  # the second round exercises context takeover
    ws = WebSocket(url)
    greeting = trio.Event()
    offered: list[str] = []

    def first(ws: WebSocket, text: str) -> None:
        offered.append(json.loads(text)["extensions"])
        ws.on_message -= first
        greeting.set()

    ws.on_message += first
    async with ws:
        with trio.fail_after(10):
            await greeting.wait()
        assert ws.extensions is not None
        assert ws.extensions.startswith("permessage-deflate")
        assert ("server_no_context_takeover" in ws.extensions) == bool(extra)
        assert await send_and_collect(ws, messages) == messages
    assert offered[0].startswith("permessage-deflate")
    assert ws.close_code == 1000


async def test_node_ws_server_plain(node_server: StartNodeServer) -> None:
    """Node's ws with perMessageDeflate off: no extension, messages round-trip."""
    url = await node_server("plain")
    ws = WebSocket(url)
    greeting = trio.Event()
    ws.on_message += lambda ws, text: greeting.set()
    async with ws:
        with trio.fail_after(10):
            await greeting.wait()
        ws.on_message.clear()
        assert ws.extensions is None
        messages = sample_messages()
        assert await send_and_collect(ws, messages) == messages


async def test_decompression_bomb_ends_with_1009(raw_server: StartRawServer) -> None:
    """256 MiB of zeros compressed to about 256 KiB: 1009, and memory stays small."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = b"\x00" * 2**20
    bomb = b"".join(compressor.compress(block) for _ in range(256))
    bomb += compressor.flush(zlib.Z_SYNC_FLUSH)
    bomb = bomb[:-4]
    codes: list[int | None] = []

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake(headers=DEFLATE_ANSWER)
        await conn.send_raw(build_frame(Opcode.BINARY, bomb, rsv=4))
        codes.append((await conn.read_close())[0])

    server = await raw_server(script)
    ws = WebSocket(server.url)
    rec = Recorder(ws)
    peak = await run_to_end_traced(ws)
    await server.wait_finished()
    assert len(bomb) < 300 * 1024
    assert codes == [1009]
    assert isinstance(rec.error, MessageTooBig)
    assert peak < 32 * 2**20, f"peak traced memory {peak} bytes"


async def test_compressed_fragments_with_ping_between(raw_server: StartRawServer) -> None:
    """A ping between the fragments of a compressed message does not break it (wsproto does)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = compressor.compress(b"hello " * 1000) + compressor.flush(zlib.Z_SYNC_FLUSH)
    body = body[:-4]

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake(headers=DEFLATE_ANSWER)
        await conn.send_frame(Opcode.TEXT, body[:10], fin=False, rsv=4)
        await conn.send_frame(Opcode.PING, b"between")
        frame = await conn.read_frame()
        assert (frame.opcode, frame.payload) == (Opcode.PONG, b"between")
        await conn.send_frame(Opcode.CONTINUATION, body[10:], fin=True)
        await conn.send_close(1000)
        await conn.read_close()

    server = await raw_server(script)
    ws = WebSocket(server.url)
    rec = Recorder(ws)
    await run_to_end(ws, 10)
    await server.wait_finished()
    assert rec.events == [("open",), ("message", "hello " * 1000), ("closed", 1000, "")]


async def test_extension_not_offered_is_refused(raw_server: StartRawServer) -> None:
    """A server that accepts deflate we did not offer fails the handshake (ConnectError)."""

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake(headers=DEFLATE_ANSWER)
        await conn.wait_eof()

    server = await raw_server(script)
    ws = WebSocket(server.url, compression=None)
    rec = Recorder(ws)
    await run_to_end(ws, 10)
    await server.wait_finished()
    assert rec.names == ["error"]
    assert "did not offer" in str(rec.error)
