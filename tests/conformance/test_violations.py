"""Protocol violations by the server: the client fails at once with the right close code.

Autobahn 3.x (reserved bits), 4.x (reserved opcodes), 5.x (fragmentation), 6.x (UTF-8),
plus a masked server frame (RFC 6455 5.1). Frames that arrived before the violation fire
their events first, and what their handlers send goes out before the failing close frame,
however the bytes were chopped (the shapes of 3.2, 3.3, 4.1.3, 4.1.4, 4.2.3, 4.2.4, 5.15).
"""

from __future__ import annotations

from typing import Any

import pytest
import trio
from conftest import StartRawServer
from peers.raw_server import (
    Frame,
    Opcode,
    RawConnection,
    build_frame,
    read_until_close,
    trickle,
)

from conformance.harness import ServerScript, close_wire, failed_with, fragments, play, utf8_text
from trio_ws_events import WebSocket


def _script(wire: bytes) -> ServerScript:
    async def script(conn: RawConnection) -> list[Frame]:
        await conn.accept_handshake()
        await conn.send_raw(wire)
        return await read_until_close(conn)

    return script


# ---------------------------------------------------------------- reserved bits (Autobahn 3.x)

_RSV_FRAMES = {
    "text": build_frame(Opcode.TEXT, b"hi", rsv=0),
    "binary": build_frame(Opcode.BINARY, b"\x00\xff", rsv=0),
    "empty-text": build_frame(Opcode.TEXT, b"", rsv=0),
    "first-fragment": build_frame(Opcode.TEXT, b"frag", fin=False),
    "ping": build_frame(Opcode.PING, b"ping"),
    "pong": build_frame(Opcode.PONG, b"pong"),
    "close": build_frame(Opcode.CLOSE, b"\x03\xe8"),
}


def _with_rsv(frame: bytes, rsv: int) -> bytes:
    return bytes([frame[0] | rsv << 4]) + frame[1:]


@pytest.mark.parametrize("rsv", range(1, 8))
@pytest.mark.parametrize("kind", [*_RSV_FRAMES, "continuation"])
async def test_reserved_bits_without_extension_are_1002(
    raw_server: StartRawServer, kind: str, rsv: int
) -> None:
    """Any of RSV1-3 set, with no extension negotiated, on any kind of frame: 1002."""
    if kind == "continuation":
        wire = build_frame(Opcode.TEXT, b"ab", fin=False)
        wire += _with_rsv(build_frame(Opcode.CONTINUATION, b"cd"), rsv)
    else:
        wire = _with_rsv(_RSV_FRAMES[kind], rsv)
    out = await play(raw_server, _script(wire))
    failed_with(out, 1002)
    assert out.ws.extensions is None


# ---------------------------------------------------------------- reserved opcodes (4.x)

_RESERVED_OPCODES = [3, 4, 5, 6, 7, 11, 12, 13, 14, 15]


@pytest.mark.parametrize("opcode", _RESERVED_OPCODES)
@pytest.mark.parametrize(
    ("fin", "payload", "inside"),
    [(True, b"", False), (True, b"reserved", False), (False, b"r", False), (True, b"", True)],
    ids=["empty", "payload", "no-fin", "inside-fragmented"],
)
async def test_reserved_opcode_is_1002(
    raw_server: StartRawServer, opcode: int, fin: bool, payload: bytes, inside: bool
) -> None:
    """Opcodes 3-7 and 11-15, alone or between fragments of a message: 1002 (4.1.x, 4.2.x)."""
    wire = build_frame(opcode, payload, fin=fin)
    if inside:
        wire = build_frame(Opcode.TEXT, b"a", fin=False) + wire + build_frame(0, b"b")
    failed_with(await play(raw_server, _script(wire)), 1002)


# ---------------------------------------------------------------- masking (RFC 6455 5.1)


@pytest.mark.parametrize(
    "frame",
    [
        build_frame(Opcode.TEXT, b"masked", mask=True),
        build_frame(Opcode.BINARY, b"\x01\x02", mask=True),
        build_frame(Opcode.TEXT, b"", mask=b"\x00\x00\x00\x00"),
        build_frame(Opcode.PING, b"p", mask=True),
        build_frame(Opcode.PONG, b"p", mask=True),
        build_frame(Opcode.CLOSE, b"\x03\xe8", mask=True),
        build_frame(Opcode.TEXT, b"a", fin=False) + build_frame(0, b"b", mask=True),
        build_frame(Opcode.BINARY, bytes(70000), mask=True),
    ],
    ids=["text", "binary", "zero-key", "ping", "pong", "close", "continuation", "64bit"],
)
async def test_masked_server_frame_is_1002(raw_server: StartRawServer, frame: bytes) -> None:
    """A server must not mask its frames: any masked frame fails with 1002."""
    failed_with(await play(raw_server, _script(frame)), 1002)


# ---------------------------------------------------------------- fragmentation (5.x)


@pytest.mark.parametrize(
    "wire",
    [
        build_frame(Opcode.CONTINUATION, b"nothing"),
        build_frame(Opcode.CONTINUATION, b""),
        build_frame(Opcode.CONTINUATION, b"fragment", fin=False),
        build_frame(Opcode.CONTINUATION, b"a", fin=False) + build_frame(0, b"b"),
    ],
    ids=["fin", "empty", "no-fin", "two"],
)
async def test_continuation_with_nothing_to_continue_is_1002(
    raw_server: StartRawServer, wire: bytes
) -> None:
    """A continuation frame first, with FIN or without (Autobahn 5.9-5.14): 1002."""
    failed_with(await play(raw_server, _script(wire)), 1002)


async def test_continuation_after_a_finished_message_is_1002(raw_server: StartRawServer) -> None:
    """A whole message, then a continuation: the message fires, then 1002."""
    wire = build_frame(Opcode.TEXT, b"done") + build_frame(Opcode.CONTINUATION, b"more")
    out = await play(raw_server, _script(wire))
    failed_with(out, 1002, events=[("message", "done")])


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (Opcode.TEXT, Opcode.TEXT),
        (Opcode.TEXT, Opcode.BINARY),
        (Opcode.BINARY, Opcode.TEXT),
        (Opcode.BINARY, Opcode.BINARY),
    ],
    ids=["text-text", "text-binary", "binary-text", "binary-binary"],
)
@pytest.mark.parametrize("second_fin", [True, False], ids=["fin", "no-fin"])
async def test_new_data_frame_inside_fragmented_message_is_1002(
    raw_server: StartRawServer, first: Opcode, second: Opcode, second_fin: bool
) -> None:
    """A text or binary frame while a fragmented message is open: 1002, nothing delivered."""
    wire = build_frame(first, b"start", fin=False) + build_frame(second, b"new", fin=second_fin)
    wire += build_frame(Opcode.CONTINUATION, b"end")
    failed_with(await play(raw_server, _script(wire)), 1002)


# ---------------------------------------------------------------- UTF-8 (6.x)

_INVALID_UTF8 = {
    "ff": b"\xff",
    "lone-continuation": b"\x80",
    "overlong-slash": b"\xc0\xaf",
    "overlong-3": b"\xe0\x80\xaf",
    "surrogate": b"\xed\xa0\x80",
    "above-10ffff": b"\xf4\x90\x80\x80",
    "five-byte": b"\xf8\x88\x80\x80\x80",
    "truncated-at-end": b"\xce",
    "autobahn-6.3.1": bytes.fromhex("cebae1bdb9cf83cebcceb5eda080656469746564"),
}
_UTF8_IDS = list(_INVALID_UTF8)


@pytest.mark.parametrize("bad", _INVALID_UTF8.values(), ids=_UTF8_IDS)
@pytest.mark.parametrize(
    "shape", ["whole", "1-byte-fragments", "streamed-1-byte-fragments", "split-in-reads"]
)
async def test_invalid_utf8_in_text_message_is_1007(
    raw_server: StartRawServer, bad: bytes, shape: str
) -> None:
    """Invalid UTF-8 anywhere in a text message, whole or fragmented: 1007, nothing fired."""
    payload = "κόσμε ".encode() + bad + b" tail"
    streaming = shape.startswith("streamed")
    if shape == "whole" or shape == "split-in-reads":
        wire = build_frame(Opcode.TEXT, payload)
    else:
        wire = fragments(Opcode.TEXT, payload, 1)

    async def script(conn: RawConnection) -> list[Frame]:
        await conn.accept_handshake()
        if shape == "split-in-reads":
            await trickle(conn, wire, 3)
        else:
            await conn.send_raw(wire)
        return await read_until_close(conn)

    out = await play(raw_server, script, streaming=streaming)
    failed_with(out, 1007)
    # Streaming hands over nothing past the last character that decoded cleanly.
    clean = payload.decode("utf-8", "replace").split("\ufffd")[0]
    assert clean.startswith("".join(p.data for p in out.pieces if isinstance(p.data, str)))


@pytest.mark.parametrize("size", [1, 2, 3, 4, 7])
async def test_valid_utf8_split_at_every_byte_is_delivered(
    raw_server: StartRawServer, size: int
) -> None:
    """Valid multi-byte text in fragments cutting through characters arrives intact (6.2.x)."""
    payload = utf8_text(97)
    wire = fragments(Opcode.TEXT, payload, size)

    async def script(conn: RawConnection) -> list[Frame]:
        await conn.accept_handshake()
        await conn.send_raw(wire + build_frame(Opcode.CLOSE, b"\x03\xe8"))
        return await read_until_close(conn, answer=False)

    out = await play(raw_server, script)
    assert out.events == [("open",), ("message", payload.decode()), ("closed", 1000, "")]


@pytest.mark.parametrize("streaming", [False, True], ids=["reassembled", "streamed"])
async def test_invalid_utf8_fails_fast_before_message_ends(
    raw_server: StartRawServer, streaming: bool
) -> None:
    """An invalid first fragment fails at once, without waiting for the rest (6.4.1-6.4.4)."""

    async def script(conn: RawConnection) -> list[Frame]:
        await conn.accept_handshake()
        await conn.send_frame(Opcode.TEXT, "κόσμε".encode() + b"\xf4\x90\x80\x80", fin=False)
        # The rest never comes: a client that only checks whole messages waits forever.
        return await read_until_close(conn)

    failed_with(await play(raw_server, script, streaming=streaming, limit=5), 1007)


@pytest.mark.parametrize("bad", _INVALID_UTF8.values(), ids=_UTF8_IDS)
async def test_invalid_utf8_in_close_reason_is_1007(raw_server: StartRawServer, bad: bytes) -> None:
    """A close frame whose reason is not UTF-8: 1007 instead of the echo (7.5.1)."""
    wire = build_frame(Opcode.CLOSE, b"\x03\xe8" + bad)
    failed_with(await play(raw_server, _script(wire)), 1007)


# ---------------------------------------------------------------- order around a violation

_PING = build_frame(Opcode.PING, b"after")
_ORDER_CASES = {
    "3.2-rsv2": build_frame(Opcode.TEXT, b"Hello", rsv=2),
    "3.3-rsv3": build_frame(Opcode.TEXT, b"Hello", rsv=3),
    "3.4-rsv4": build_frame(Opcode.TEXT, b"Hello", rsv=4),
    "4.1.3-opcode5": build_frame(5, b""),
    "4.1.4-opcode6": build_frame(6, b"payload"),
    "4.2.3-opcode13": build_frame(13, b""),
    "4.2.4-opcode14": build_frame(14, b"payload"),
    "5.15-continuation": (
        build_frame(Opcode.TEXT, b"frag3", fin=False)
        + build_frame(Opcode.CONTINUATION, b"frag4", fin=True)
        + build_frame(Opcode.CONTINUATION, b"frag5", fin=False)
        + build_frame(Opcode.TEXT, b"whole")
    ),
    "utf8": build_frame(Opcode.TEXT, b"\xc3"),
    "oversized-ping": build_frame(Opcode.PING, b"p" * 126),
}


@pytest.mark.parametrize("handler", ["sync", "async"])
@pytest.mark.parametrize("chop", ["one-write", "frame-wise", "octet-wise"])
@pytest.mark.parametrize("case", list(_ORDER_CASES))
async def test_events_and_their_sends_before_a_violation_go_first(
    raw_server: StartRawServer, case: str, chop: str, handler: str
) -> None:
    """Messages before the violation fire, their echoes and pongs precede the failing close."""
    bad = _ORDER_CASES[case]
    code = 1007 if case == "utf8" else 1002
    before = [
        build_frame(Opcode.TEXT, b"Hello, world!"),
        build_frame(Opcode.PING, b"before"),
        fragments(Opcode.BINARY, b"frag1frag2", 5),
    ]
    if case.startswith("5.15"):
        frames = [*before, bad, _PING]
    else:
        frames = [*before, bad, _PING, build_frame(Opcode.TEXT, b"never")]

    async def script(conn: RawConnection) -> list[Frame]:
        await conn.accept_handshake()
        if chop == "one-write":
            await conn.send_raw(b"".join(frames))
        elif chop == "frame-wise":
            for frame in frames:
                await trickle(conn, frame, len(frame))
        else:
            await trickle(conn, b"".join(frames), 1)
        return await read_until_close(conn)

    def echo(ws: WebSocket, data: str | bytes) -> None:
        ws.send(data)

    async def echo_later(ws: WebSocket, data: str | bytes) -> None:
        await trio.sleep(0.001)  # the reading waits for the handler
        ws.send(data)

    chosen = echo if handler == "sync" else echo_later
    out = await play(
        raw_server, script, setup=lambda ws: (ws.on_message(chosen), ws.on_binary(chosen))
    )
    messages: list[tuple[Any, ...]] = [("message", "Hello, world!"), ("binary", b"frag1frag2")]
    echoes = [(Opcode.TEXT, b"Hello, world!"), (Opcode.BINARY, b"frag1frag2")]
    if case.startswith("5.15"):
        messages.append(("message", "frag3frag4"))
        echoes.append((Opcode.TEXT, b"frag3frag4"))
    # The pong for "before" may go out before or after the first echo, never after the close.
    assert sorted(out.wire[:-1]) == sorted([*echoes, (Opcode.PONG, b"before")])
    assert [w for w in out.wire if w[0] != Opcode.PONG][:-1] == echoes
    failed_with(out, code, events=messages, wire=out.wire[:-1])
    assert out.wire[-1] != close_wire(1000)
