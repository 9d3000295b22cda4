"""Play one server script against a fresh client and record everything both sides saw.

Each case of the suite is a *script* for the raw-frame server (``tests/peers/raw_server.py``)
that returns the frames it read from the client, and assertions on an :class:`Outcome`:
the events the client fired, in order, and its frames on the wire. :func:`play` bounds the
whole exchange with ``trio.fail_after``, so a client that hangs fails the case instead of the
suite, and checks what holds for every case: one terminal event, last; state CLOSED; every
client frame masked; the task gone from the nursery.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

import trio
from conftest import StartRawServer
from peers.raw_server import Frame, Opcode, RawConnection, build_frame, close_payload
from recorder import Recorder

from trio_ws_events import Frame as Piece
from trio_ws_events import MessageTooBig, ProtocolError, State, WebSocket, WebSocketError

__all__ = [
    "LIMIT",
    "Outcome",
    "ServerScript",
    "close_wire",
    "deflate",
    "failed_with",
    "fragments",
    "joined",
    "play",
    "utf8_text",
]

#: The most any case may take, handshake to terminal event, in seconds.
LIMIT = 10.0

#: A script for the raw server that returns the client's frames it read.
ServerScript = Callable[[RawConnection], Awaitable[list[Frame]]]


@dataclasses.dataclass
class Outcome:
    """What one exchange produced.

    Attributes:
        ws: the client, CLOSED.
        rec: every event it fired, in order.
        frames: the client's frames as the server's script read them, in order.
        pieces: what ``on_incomplete_frame`` received, when streaming was on.
    """

    ws: WebSocket
    rec: Recorder
    frames: list[Frame]
    pieces: list[Piece]

    @property
    def events(self) -> list[tuple[Any, ...]]:
        """The events with each error shown as ``("error", type, code)``."""
        return [("error", type(e[1]), e[1].code) if e[0] == "error" else e for e in self.rec.events]

    @property
    def wire(self) -> list[tuple[int, bytes]]:
        """The client's frames as ``(opcode, payload)`` pairs."""
        return [(frame.opcode, frame.payload) for frame in self.frames]

    @property
    def error(self) -> WebSocketError:
        """The error of ``on_error``; fails when the ending was not one."""
        return self.rec.error


async def play(
    raw_server: StartRawServer,
    script: ServerScript,
    *,
    streaming: bool = False,
    setup: Callable[[WebSocket], object] | None = None,
    limit: float = LIMIT,
    **options: Any,
) -> Outcome:
    """Run ``script`` on the raw server and a ``WebSocket(url, **options)`` against it.

    Args:
        streaming: register an ``on_incomplete_frame`` handler (pieces land in ``pieces``).
        setup: called with the client before ``open()``, to add handlers.
        limit: seconds the whole exchange may take.
    """
    frames: list[Frame] = []

    async def wrapped(conn: RawConnection) -> None:
        frames.extend(await script(conn))

    server = await raw_server(wrapped, script_timeout=limit)
    ws = WebSocket(server.url, **options)
    rec = Recorder(ws)
    pieces: list[Piece] = []
    if streaming:
        ws.on_incomplete_frame += lambda ws, piece: pieces.append(piece)
    if setup is not None:
        setup(ws)
    with trio.fail_after(limit):
        async with trio.open_nursery() as nursery:
            ws.open(nursery)
            await ws.wait_closed()
        await server.wait_finished()
    rec.assert_terminal_once()
    assert ws.state is State.CLOSED
    assert ws.close_code is not None
    assert all(frame.masked for frame in frames), frames
    return Outcome(ws, rec, frames, pieces)


def failed_with(
    out: Outcome,
    code: int,
    *,
    events: list[tuple[Any, ...]] | None = None,
    wire: list[tuple[int, bytes]] | None = None,
) -> None:
    """Assert that the client failed the connection with ``code``, at once and exactly.

    It fired ``open``, then ``events`` (none by default), then ``on_error`` with a
    :class:`~trio_ws_events.ProtocolError` (:class:`~trio_ws_events.MessageTooBig` for 1009)
    carrying ``code``; it wrote ``wire`` (nothing by default) and then its close frame with
    ``code``; ``close_code`` is ``code``.
    """
    cls = MessageTooBig if code == 1009 else ProtocolError
    assert out.events == [("open",), *(events or []), ("error", cls, code)]
    assert out.wire[:-1] == (wire or [])
    assert out.frames[-1].opcode == Opcode.CLOSE
    assert out.frames[-1].close_code == code
    assert out.ws.close_code == code
    assert out.error.unsent == out.ws.unsent


def joined(pieces: list[Piece]) -> str | bytes:
    """Streamed pieces put back together: ``str`` for a text message, ``bytes`` otherwise."""
    if pieces and pieces[0].is_text:
        return "".join(p.data for p in pieces if isinstance(p.data, str))
    return b"".join(p.data for p in pieces if isinstance(p.data, bytes))


def close_wire(code: int | None, reason: str = "") -> tuple[int, bytes]:
    """A close frame as :attr:`Outcome.wire` shows it."""
    return (Opcode.CLOSE, close_payload(code, reason))


def utf8_text(size: int) -> bytes:
    """Exactly ``size`` bytes of valid UTF-8 mixing 1- to 4-byte characters."""
    raw = ("aé東😀" * (size // 10 + 1)).encode()[:size]
    valid = raw.decode("utf-8", "ignore").encode()
    return valid + b"a" * (size - len(valid))


def fragments(
    opcode: int, payload: bytes, size: int, *, rsv: int = 0, between: bytes = b""
) -> bytes:
    """``payload`` as a message of ``size``-byte fragments; ``between`` goes between them.

    ``rsv`` is set on the first frame only (RSV1 marks a compressed message).
    """
    pieces = [payload[i : i + size] for i in range(0, len(payload), size)] or [b""]
    wire = []
    for index, piece in enumerate(pieces):
        last = index == len(pieces) - 1
        wire.append(
            build_frame(
                opcode if index == 0 else Opcode.CONTINUATION,
                piece,
                fin=last,
                rsv=rsv if index == 0 else 0,
            )
        )
        if not last:
            wire.append(between)
    return b"".join(wire)


def deflate(data: bytes, compressor: Any = None, wbits: int = 15) -> bytes:
    """``data`` compressed as one permessage-deflate message (RFC 7692 7.2.1).

    Pass the same ``compressor`` (a ``zlib.compressobj``) for context takeover.
    """
    obj = compressor or zlib.compressobj(9, zlib.DEFLATED, -wbits)
    out: bytes = obj.compress(data) + obj.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]
