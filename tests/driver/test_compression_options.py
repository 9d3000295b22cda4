"""compression=Compression(...): validation, the offer, the answer's rules, and interop."""

from __future__ import annotations

import dataclasses
import json
import os
import zlib
from typing import Any

import pytest
import trio
from conftest import StartNodeServer, StartRawServer, StartWebSocketsServer
from peers.raw_server import Opcode, RawConnection
from recorder import Recorder, run_script, run_to_end, send_and_collect

from trio_ws_events import Compression, ConnectError, WebSocket
from trio_ws_events._options import Options

#: Back references 3000 bytes away: a compressor that used a larger window than it was
#: allowed would make a peer with a 9-bit (512-byte) window fail to inflate them.
_BLOCK = os.urandom(1500).hex()


def window_messages() -> list[str | bytes]:
    """Messages that catch a wrong window or a lost context, sent twice by the tests."""
    return ["small", "x" * 63, "é" * 1000, _BLOCK * 8, os.urandom(5000), b"\x00" * 100_000]


def inflate_in_window(payload: bytes, bits: int) -> str:
    """Inflate ``payload`` 64 bytes of output at a time, so that back references must come
    from a window of ``bits`` bits (within one big output buffer zlib would not check)."""
    inflater = zlib.decompressobj(-bits)
    data = payload + b"\x00\x00\xff\xff"
    out = []
    for _ in range(len(payload) * 1100):  # bounded: deflate expands at most ~1000 times
        out.append(inflater.decompress(data, 64))
        data = inflater.unconsumed_tail
        if not data:
            break
    return b"".join(out).decode()


# ---------------------------------------------------------------- validation and the offer


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"client_max_window_bits": 8}, ValueError, "from 9 to 15 or None (zlib cannot"),
        ({"client_max_window_bits": 16}, ValueError, "from 9 to 15"),
        ({"client_max_window_bits": "15"}, TypeError, "client_max_window_bits must be an int"),
        ({"client_max_window_bits": True}, TypeError, "got bool"),
        ({"server_max_window_bits": 7}, ValueError, "server_max_window_bits must be from 8 to 15"),
        ({"server_max_window_bits": 15.0}, TypeError, "got float"),
        ({"client_no_context_takeover": 1}, TypeError, "must be a bool, got int"),
        ({"server_no_context_takeover": "yes"}, TypeError, "must be a bool, got str"),
        ({"level": 10}, ValueError, "level must be from 0 to 9, got 10"),
        ({"level": -1}, ValueError, "level must be from 0 to 9, got -1"),
        ({"memory_level": 0}, ValueError, "memory_level must be from 1 to 9"),
        ({"min_size": -1}, ValueError, "min_size must be 0 or more bytes"),
        ({"min_size": None}, TypeError, "min_size must be an int"),
    ],
)
def test_compression_refuses_bad_fields(kwargs: dict[str, Any], error: type, words: str) -> None:
    """Each field is checked at construction, with a message saying what is allowed."""
    with pytest.raises(error) as info:
        Compression(**kwargs)
    assert words in str(info.value)


@pytest.mark.parametrize(
    ("value", "error", "words"),
    [
        ("gzip", ValueError, "compression must be 'deflate' (permessage-deflate), a Compression"),
        (True, TypeError, "compression must be 'deflate', a Compression(...) or None, got bool"),
        ({"level": 1}, TypeError, "got dict"),
    ],
)
def test_websocket_compression_refuses_other_values(value: object, error: type, words: str) -> None:
    """compression= takes 'deflate', a Compression or None; anything else is refused."""
    with pytest.raises(error) as info:
        WebSocket("ws://127.0.0.1:9/", compression=value)  # type: ignore[arg-type]
    assert words in str(info.value)


def test_compression_is_frozen() -> None:
    """A Compression cannot be changed once built."""
    options = Compression(level=1)
    with pytest.raises(AttributeError):
        options.level = 2  # type: ignore[misc]


@pytest.mark.parametrize(
    ("compression", "offer"),
    [
        ("deflate", "permessage-deflate; client_max_window_bits"),
        (Compression(), "permessage-deflate; client_max_window_bits"),
        (
            Compression(server_max_window_bits=10, client_max_window_bits=12),
            "permessage-deflate; server_max_window_bits=10; client_max_window_bits=12",
        ),
        (
            Compression(server_no_context_takeover=True, client_no_context_takeover=True),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
            "client_max_window_bits",
        ),
    ],
)
async def test_compression_offer_says_what_is_asked(
    raw_server: StartRawServer, compression: str | Compression, offer: str
) -> None:
    """The Sec-WebSocket-Extensions offer carries exactly the parameters asked for."""
    offers: list[str | None] = []

    async def script(conn: RawConnection) -> None:
        offers.append(conn.header("Sec-WebSocket-Extensions"))
        await conn.reject(400)

    server = await raw_server(script)
    await run_to_end(WebSocket(server.url, compression=compression))
    await server.wait_finished()
    assert offers == [offer]


# ---------------------------------------------------------------- the server's answer


@pytest.mark.parametrize(
    ("compression", "answer", "words"),
    [
        (
            Compression(server_no_context_takeover=True),
            "permessage-deflate",
            "without server_no_context_takeover, which was requested",
        ),
        (
            Compression(server_max_window_bits=10),
            "permessage-deflate",
            "did not answer server_max_window_bits=10",
        ),
        (
            Compression(server_max_window_bits=10),
            "permessage-deflate; server_max_window_bits=12",
            "server_max_window_bits=12, more than the 10 requested",
        ),
        (
            Compression(client_max_window_bits=10),
            "permessage-deflate; client_max_window_bits=11",
            "client_max_window_bits=11, more than the 10 offered",
        ),
        (Compression(), "permessage-deflate; client_max_window_bits=16", "from 8 to 15"),
        (Compression(), "permessage-deflate; server_max_window_bits", "from 8 to 15, got None"),
    ],
)
async def test_answer_breaking_rfc7692_is_a_connect_error(
    raw_server: StartRawServer, compression: Compression, answer: str, words: str
) -> None:
    """An answer that breaks RFC 7692 7.1 ends the attempt in on_error(ConnectError)."""

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake(headers=[("Sec-WebSocket-Extensions", answer)])
        await conn.wait_eof()

    _, rec = await run_script(raw_server, script, compression=compression)
    assert rec.names == ["error"]
    assert type(rec.error) is ConnectError
    assert "invalid extension answer" in str(rec.error)
    assert words in str(rec.error)


async def test_answer_narrowing_windows_is_honoured(raw_server: StartRawServer) -> None:
    """Windows the server adds or narrows are used: it inflates our 9-bit stream, we its."""
    answer = "permessage-deflate; server_max_window_bits=10; client_max_window_bits=9"
    text = _BLOCK * 8
    got: list[str] = []

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake(headers=[("Sec-WebSocket-Extensions", answer)])
        frame = await conn.read_frame()
        assert frame.rsv == 4
        got.append(inflate_in_window(frame.payload, 9))
        deflater = zlib.compressobj(6, zlib.DEFLATED, -10)
        body = deflater.compress(text.encode()) + deflater.flush(zlib.Z_SYNC_FLUSH)
        await conn.send_frame(Opcode.TEXT, body[:-4], rsv=4)
        await conn.send_close(1000)
        await conn.read_close()

    server = await raw_server(script)
    ws = WebSocket(server.url)
    ws.on_open += lambda ws: ws.send(text)
    rec = Recorder(ws)
    await run_to_end(ws)
    await server.wait_finished()
    assert got == [text]
    assert ws.extensions == answer
    assert rec.messages == [text]


async def test_min_size_and_level_shape_what_is_sent(raw_server: StartRawServer) -> None:
    """Below min_size RSV1 is unset; level=0 stores (no smaller), level=9 compresses."""
    frames: list[tuple[int, int]] = []

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake(headers=[("Sec-WebSocket-Extensions", "permessage-deflate")])
        for _ in range(3):
            frame = await conn.read_frame()
            frames.append((frame.rsv, len(frame.payload)))
        await conn.read_close()
        await conn.send_close(1000)

    server = await raw_server(script)
    for level in (0, 9):
        ws = WebSocket(server.url, compression=Compression(level=level, min_size=1000))

        def on_open(ws: WebSocket) -> None:
            ws.send("a" * 999)
            ws.send("a" * 1000)
            ws.send(b"b" * 10_000)
            ws.close()

        ws.on_open += on_open
        await run_to_end(ws)
    await server.wait_finished(2)
    rsv = [frame[0] for frame in frames]
    sizes = [frame[1] for frame in frames]
    assert rsv == [0, 4, 4, 0, 4, 4]
    assert sizes[0] == sizes[3] == 999
    assert sizes[1] >= 1000  # level 0: stored blocks, never smaller
    assert sizes[2] >= 10_000
    assert sizes[4] < 50
    assert sizes[5] < 100


# ---------------------------------------------------------------- interop

_NCT = {"server_no_context_takeover": True}
_CNCT = {"client_no_context_takeover": True}

WEBSOCKETS_CASES = [
    ({}, {}, "permessage-deflate"),
    ({"client_max_window_bits": 9}, {}, "permessage-deflate; client_max_window_bits=9"),
    ({"server_max_window_bits": 9}, {}, "permessage-deflate; server_max_window_bits=9"),
    (
        {"server_max_window_bits": 12, "client_max_window_bits": 11},
        {},
        "permessage-deflate; server_max_window_bits=12; client_max_window_bits=11",
    ),
    (_CNCT, {}, "permessage-deflate; client_no_context_takeover"),
    (_NCT, {}, "permessage-deflate; server_no_context_takeover"),
    (
        {**_NCT, **_CNCT},
        {},
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
    ),
    ({}, {"server_max_window_bits": 10}, "permessage-deflate; server_max_window_bits=10"),
    ({}, {"client_max_window_bits": 10}, "permessage-deflate; client_max_window_bits=10"),
    ({}, _NCT, "permessage-deflate; server_no_context_takeover"),
    ({}, _CNCT, "permessage-deflate; client_no_context_takeover"),
    (
        {"server_max_window_bits": 10},
        {"server_max_window_bits": 12},
        "permessage-deflate; server_max_window_bits=10",
    ),
    (
        {"server_max_window_bits": 13},
        {"server_max_window_bits": 9},
        "permessage-deflate; server_max_window_bits=9",
    ),
    (
        {"client_max_window_bits": 12},
        {"client_max_window_bits": 9},
        "permessage-deflate; client_max_window_bits=9",
    ),
    (
        {"level": 1, "memory_level": 1, "min_size": 0, "client_max_window_bits": 9, **_CNCT},
        {},
        "permessage-deflate; client_no_context_takeover; client_max_window_bits=9",
    ),
    # websockets cannot compress with an 8-bit window: it declines the extension.
    ({"server_max_window_bits": 8}, {}, None),
]


@pytest.mark.parametrize(("client", "server", "agreed"), WEBSOCKETS_CASES)
async def test_compression_interop_websockets(
    websockets_server: StartWebSocketsServer,
    client: dict[str, Any],
    server: dict[str, Any],
    agreed: str | None,
) -> None:
    """Against websockets, both sides' windows and context takeover varied: agreed, echoed."""
    url = await websockets_server("echo-deflate", json.dumps(server))
    messages = window_messages()
    async with WebSocket(url, compression=Compression(**client)) as ws:
        assert ws.extensions == agreed
        for _ in range(2):  # the second round runs on the context the first left
            assert await send_and_collect(ws, messages) == messages
    assert ws.close_code == 1000


NODE_CASES = [
    ({}, {}, "permessage-deflate"),
    ({"client_max_window_bits": 9}, {}, "permessage-deflate; client_max_window_bits=9"),
    ({"server_max_window_bits": 10}, {}, "permessage-deflate; server_max_window_bits=10"),
    (_NCT, _NCT, "permessage-deflate; server_no_context_takeover"),
    (_CNCT, {}, "permessage-deflate; client_no_context_takeover"),
    ({}, {"serverMaxWindowBits": 10}, "permessage-deflate; server_max_window_bits=10"),
    ({}, {"clientMaxWindowBits": 10}, "permessage-deflate; client_max_window_bits=10"),
    ({}, {"clientNoContextTakeover": True}, "permessage-deflate; client_no_context_takeover"),
    (
        {"server_max_window_bits": 12},
        {"serverMaxWindowBits": 10},
        "permessage-deflate; server_max_window_bits=10",
    ),
    (
        {"client_max_window_bits": 12},
        {"clientMaxWindowBits": 9},
        "permessage-deflate; client_max_window_bits=9",
    ),
    (
        {"level": 9, "memory_level": 9, "min_size": 0},
        {"zlibDeflateOptions": {"level": 1, "memLevel": 1}},
        "permessage-deflate",
    ),
]


@pytest.mark.parametrize(("client", "server", "agreed"), NODE_CASES)
async def test_compression_interop_node_ws(
    node_server: StartNodeServer,
    client: dict[str, Any],
    server: dict[str, Any],
    agreed: str,
) -> None:
    """Against Node's ws, both sides' windows and context takeover varied: agreed, echoed."""
    flags = ("server_no_context_takeover",) if server is _NCT else ()
    options = {} if server is _NCT else server
    url = await node_server("deflate", *flags, json.dumps(options))
    ws = WebSocket(url, compression=Compression(**client))
    greeting = trio.Event()
    ws.on_message += lambda ws, text: greeting.set()
    messages = window_messages()
    async with ws:
        with trio.fail_after(10):
            await greeting.wait()
        ws.on_message.clear()
        assert ws.extensions == agreed
        for _ in range(2):
            assert await send_and_collect(ws, messages) == messages
    assert ws.close_code == 1000


def test_options_build_checks_once_and_freezes_the_offer() -> None:
    """Options.build derives the extension offer from compression; the result is frozen."""
    common: dict[str, Any] = dict(
        connect_timeout=1,
        close_timeout=None,
        ping_interval=2.5,
        ping_timeout=None,
        max_message_size=None,
        max_fragment_size=100,
        max_buffered_amount=1000,
        logger=None,
        protocols=(),
        headers=None,
        ssl_context=None,
        origin=None,
        user_agent=None,
        proxy=None,
        max_redirects=0,
        handshake_hook=None,
        proxy_ssl_context=None,
        server_hostname=None,
    )
    plain = Options.build("ws://h/", compression=None, **common)
    assert plain.connect.extensions is None
    assert (plain.connect_timeout, plain.ping_interval) == (1.0, 2.5)
    offered = Options.build("ws://h/", compression="deflate", **common)
    assert offered.connect.extensions == offered.compression.offer()  # type: ignore[union-attr]
    assert offered.connect.extensions.startswith("permessage-deflate")  # type: ignore[union-attr]
    with pytest.raises(dataclasses.FrozenInstanceError):
        offered.ping_interval = 1.0  # type: ignore[misc]
