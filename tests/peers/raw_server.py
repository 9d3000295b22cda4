"""A scriptable, hostile WebSocket server over raw TCP, for tests of abnormal endings.

No WebSocket library is involved: the handshake answer and every frame are built here byte by
byte, so a test can send what a well-behaved library never would (masked server frames,
non-minimal lengths, reserved bits, a truncated message) and read back exactly what the client
put on the wire.

A test starts a server with a *script*, an async function that receives a
:class:`RawConnection` once the client's HTTP upgrade request has been read::

    async def script(conn: RawConnection) -> None:
        await conn.accept_handshake()
        await conn.send_frame(Opcode.TEXT, b"\\xff")  # invalid UTF-8
        frame = await conn.read_frame()
        assert frame.close_code == 1007

    server = await nursery.start(serve_raw, script)
    ...  # connect a client to server.url
    await server.wait_finished()

Each script runs under a deadline (``script_timeout``); a script that raises, or runs out of time,
crashes the nursery the server runs in, which fails the test. The frame codec (``Frame``,
``build_frame``, ``parse_frame``...) lives in ``raw_frames`` and is re-exported here.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Awaitable, Callable, Sequence
from http import HTTPStatus
from typing import Literal, Protocol

import trio

from trio_ws_events._sansio.frames import FrameReader

from .raw_frames import (
    Frame,
    Opcode,
    accept_key,
    build_frame,
    close_payload,
    parse_frame,
    wire_size,
)

__all__ = [
    "RawConnection",
    "RawServer",
    "Frame",
    "Opcode",
    "Script",
    "StartRawServer",
    "accept_key",
    "build_frame",
    "close_payload",
    "parse_frame",
    "serve_raw",
]

#: A larger request head is treated as a broken client rather than read forever.
_MAX_REQUEST_HEAD = 64 * 1024


class RawConnection:
    """One accepted TCP connection, handed to the script after the request head was read.

    Built by :func:`serve_raw`, not by tests. Every method may raise trio's
    ``BrokenResourceError`` when the client has already reset the connection.

    Attributes:
        stream: the TCP stream, for anything the helpers do not cover.
        request_line: the first line of the request, e.g. ``GET /chat HTTP/1.1``.
        headers: the request headers as ``(name, value)`` pairs, in order.
        eof: whether the client has closed its side of the TCP connection.
    """

    def __init__(self, stream: trio.SocketStream, head: bytes, rest: bytes) -> None:
        self.stream = stream
        lines = head.decode("latin-1").split("\r\n")
        self.request_line = lines[0]
        self.headers: list[tuple[str, str]] = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.headers.append((name.strip(), value.strip()))
        self.eof = False
        self._reader = FrameReader(rest)
        self._unread = len(rest)  # bytes fed to the reader and not yet taken as frames

    @property
    def path(self) -> str:
        """The request target, e.g. ``/chat?room=1``."""
        parts = self.request_line.split(" ")
        return parts[1] if len(parts) > 1 else ""

    def header(self, name: str) -> str | None:
        """The value of the first request header called ``name`` (any case), or ``None``."""
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    async def accept_handshake(
        self,
        *,
        subprotocol: str | None = None,
        headers: Sequence[tuple[str, str]] = (),
        accept: str | None = None,
    ) -> None:
        """Answer the upgrade with ``101 Switching Protocols``.

        Args:
            subprotocol: sent as ``Sec-WebSocket-Protocol`` when given.
            headers: extra response headers.
            accept: the ``Sec-WebSocket-Accept`` value to send instead of the correct one,
                to test a client that must refuse it.
        """
        key = self.header("Sec-WebSocket-Key")
        if key is None and accept is None:
            raise AssertionError(f"the client sent no Sec-WebSocket-Key: {self.headers}")
        lines = [
            "HTTP/1.1 101 Switching Protocols",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Accept: {accept if accept is not None else accept_key(key or '')}",
        ]
        if subprotocol is not None:
            lines.append(f"Sec-WebSocket-Protocol: {subprotocol}")
        lines += [f"{name}: {value}" for name, value in headers]
        await self.send_raw(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    async def reject(
        self,
        status: int = 403,
        body: bytes = b"",
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Answer the upgrade with ``status`` and ``body``, then close the TCP connection."""
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Unknown"
        lines = [f"HTTP/1.1 {status} {phrase}", f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in headers]
        await self.send_raw(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        await self.stream.aclose()

    async def never_answer(self) -> None:
        """Send nothing and return once the client gives up and closes the TCP connection."""
        await self.wait_eof()

    async def wait_eof(self) -> bytes:
        """Read until the client closes the TCP connection; return what arrived meanwhile.

        Bytes that arrived before the call and are not yet read as frames are not included.
        """
        received = b""
        while not self.eof:
            received += await self._receive()
        return received

    async def send_raw(self, data: bytes) -> None:
        """Write ``data`` as it is."""
        await self.stream.send_all(data)

    async def send_frame(
        self,
        opcode: int,
        payload: bytes = b"",
        *,
        fin: bool = True,
        rsv: int = 0,
        mask: bool | bytes = False,
        length_form: Literal[7, 16, 64] | None = None,
    ) -> None:
        """Build a frame with :func:`build_frame` and write it."""
        frame = build_frame(opcode, payload, fin=fin, rsv=rsv, mask=mask, length_form=length_form)
        await self.send_raw(frame)

    async def send_text(self, text: str) -> None:
        """Send ``text`` as one text frame."""
        await self.send_frame(Opcode.TEXT, text.encode("utf-8"))

    async def send_binary(self, data: bytes) -> None:
        """Send ``data`` as one binary frame."""
        await self.send_frame(Opcode.BINARY, data)

    async def send_close(self, code: int | None = 1000, reason: str | bytes = "") -> None:
        """Send a close frame; ``code=None`` sends one with an empty payload."""
        await self.send_frame(Opcode.CLOSE, close_payload(code, reason))

    async def read_frame(self) -> Frame:
        """Read and unmask the client's next frame.

        Raises:
            EOFError: the client closed the TCP connection before a whole frame arrived.
        """
        while (raw := self._reader.next_frame()) is None:
            if self.eof:
                raise EOFError(f"the client closed the connection; {self._unread} bytes left")
            data = await self._receive()
            self._reader.feed(data)
            self._unread += len(data)
        self._unread -= wire_size(raw)
        return Frame.from_raw(raw)

    async def read_message(self) -> str | bytes:
        """Read the client's next text or binary message, joining continuation frames.

        Pings and pongs in between are skipped (not answered).

        Raises:
            AssertionError: a close frame, or a frame out of sequence, arrived instead.
        """
        first = await self._read_data_frame()
        if first.opcode not in (Opcode.TEXT, Opcode.BINARY):
            raise AssertionError(f"expected a text or binary frame, got {first}")
        parts = [first.payload]
        last = first
        while not last.fin:
            last = await self._read_data_frame()
            if last.opcode != Opcode.CONTINUATION:
                raise AssertionError(f"expected a continuation frame, got {last}")
            parts.append(last.payload)
        data = b"".join(parts)
        return data.decode("utf-8") if first.opcode == Opcode.TEXT else data

    async def read_close(self) -> tuple[int | None, str]:
        """Read frames until a close frame; return its code (``None`` if empty) and reason.

        Data and control frames before it are discarded.
        """
        while True:
            frame = await self.read_frame()
            if frame.opcode == Opcode.CLOSE:
                return frame.close_code, frame.close_reason

    async def drop(self, *, reset: bool = False) -> None:
        """Close the TCP connection at once, with no close frame.

        Args:
            reset: send a TCP RST (``SO_LINGER`` of zero) instead of an orderly FIN.
        """
        if reset:
            self.stream.socket.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
        await trio.aclose_forcefully(self.stream)

    async def _read_data_frame(self) -> Frame:
        """The next frame that is not a ping or a pong."""
        while True:
            frame = await self.read_frame()
            if frame.opcode == Opcode.CLOSE:
                raise AssertionError(
                    f"expected a message, got close {frame.close_code} {frame.close_reason!r}"
                )
            if frame.opcode not in (Opcode.PING, Opcode.PONG):
                return frame

    async def _receive(self) -> bytes:
        """Read some bytes; a reset counts as an end of stream, like a FIN."""
        try:
            data = await self.stream.receive_some()
        except trio.BrokenResourceError:
            data = b""
        if not data:
            self.eof = True
        return data


#: What :func:`serve_raw` runs for each connection.
Script = Callable[[RawConnection], Awaitable[None]]


class RawServer:
    """What ``nursery.start(serve_raw, script)`` reports: where to connect and what happened.

    Attributes:
        port: the TCP port the server listens on.
        url: ``ws://127.0.0.1:<port>/``.
        connections: every accepted connection whose request head arrived, in order.
        finished: how many scripts have returned.
        script_timeout: the deadline of each script, in seconds.
    """

    def __init__(self, host: str, port: int, script_timeout: float) -> None:
        self.port = port
        self.url = f"ws://{host}:{port}/"
        self.script_timeout = script_timeout
        self.connections: list[RawConnection] = []
        self.finished = 0
        self._changed = trio.Event()

    async def wait_finished(self, count: int = 1) -> None:
        """Wait until ``count`` scripts have returned, for at most ``script_timeout`` seconds.

        Call it before the test ends, so that the script's own assertions have run.

        Raises:
            trio.TooSlowError: the scripts did not finish in time.
        """
        with trio.fail_after(self.script_timeout):
            while self.finished < count:
                await self._changed.wait()

    def _note_finished(self) -> None:
        self.finished += 1
        self._changed.set()
        self._changed = trio.Event()


class StartRawServer(Protocol):
    """The type of the ``raw_server`` fixture: start a server running ``script``."""

    def __call__(self, script: Script, *, script_timeout: float = 10.0) -> Awaitable[RawServer]: ...


async def serve_raw(
    script: Script,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    script_timeout: float = 10.0,
    task_status: trio.TaskStatus[RawServer] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Accept TCP connections until cancelled and run ``script`` on each one.

    The request head (up to the blank line) is read first; a client that closes before sending
    it is dropped without running the script. The connection is closed when the script returns.

    Args:
        script: the async function run with each :class:`RawConnection`.
        host: the address to bind.
        port: the port to bind; 0 picks a free one.
        script_timeout: seconds each connection may take, request head and script together.
        task_status: reports a :class:`RawServer` once the socket listens.

    Raises:
        trio.TooSlowError: a script ran past ``script_timeout``.
    """
    listeners = await trio.open_tcp_listeners(port, host=host)
    listener = listeners[0]
    async with listener, trio.open_nursery() as nursery:
        bound_port = listener.socket.getsockname()[1]
        server = RawServer(host, bound_port, script_timeout)
        task_status.started(server)
        while True:
            stream = await listener.accept()
            nursery.start_soon(_handle, server, script, stream)


async def _handle(server: RawServer, script: Script, stream: trio.SocketStream) -> None:
    """Read one request head, run the script, and close the connection."""
    try:
        with trio.fail_after(server.script_timeout):
            received = await _read_head(stream)
            if received is not None:
                conn = RawConnection(stream, *received)
                server.connections.append(conn)
                await script(conn)
    finally:
        await trio.aclose_forcefully(stream)
    server._note_finished()


async def _read_head(stream: trio.SocketStream) -> tuple[bytes, bytes] | None:
    """Read up to the blank line; return the head and any bytes after it, or ``None`` at EOF."""
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        if len(buffer) > _MAX_REQUEST_HEAD:
            raise AssertionError(f"request head longer than {_MAX_REQUEST_HEAD} bytes")
        try:
            data = await stream.receive_some()
        except trio.BrokenResourceError:
            return None
        if not data:
            return None
        buffer += data
    head, _, rest = buffer.partition(b"\r\n\r\n")
    return head, rest


# ---------------------------------------------------------------- helpers for the hardening suite
# Appended for issue 6 (tests/conformance, tests/faults); nothing above depends on them.

__all__ += ["accepting", "read_all_frames", "read_until_close", "send_pieces", "trickle"]


def accepting(seen: list[RawConnection]) -> Script:
    """A script that records the connection in ``seen``, accepts the upgrade and answers the
    client's close (:func:`read_until_close`)."""

    async def script(conn: RawConnection) -> None:
        seen.append(conn)
        await conn.accept_handshake()
        await read_until_close(conn)

    return script


async def send_pieces(conn: RawConnection, data: bytes, sizes: Sequence[int]) -> None:
    """Write ``data`` in writes of ``sizes`` bytes (the rest in one last write), letting the
    client read each one before the next: on loopback a write lands in the client's socket at
    once, and ``wait_all_tasks_blocked`` returns only after the client has read and handled it.
    """
    from trio.testing import wait_all_tasks_blocked

    offset = 0
    for size in sizes:
        if offset >= len(data):
            return
        await conn.send_raw(data[offset : offset + size])
        offset += size
        await wait_all_tasks_blocked()
    if offset < len(data):
        await conn.send_raw(data[offset:])
        await wait_all_tasks_blocked()


async def trickle(conn: RawConnection, data: bytes, step: int = 1) -> None:
    """Write ``data`` ``step`` bytes at a time, each write read by the client on its own."""
    await send_pieces(conn, data, [step] * -(-len(data) // step))


async def read_until_close(conn: RawConnection, *, answer: bool = True) -> list[Frame]:
    """Read the client's frames up to and including its close frame; return them in order.

    Args:
        answer: send a close frame back with the client's code (an empty one when the client's
            carried none), as a well-behaved server does before closing TCP.

    Raises:
        EOFError: the client closed TCP before sending a close frame.
    """
    frames: list[Frame] = []
    while True:
        frame = await conn.read_frame()
        frames.append(frame)
        if frame.opcode == Opcode.CLOSE:
            break
    if answer:
        await conn.send_frame(Opcode.CLOSE, frame.payload[:2])
    return frames


async def read_all_frames(conn: RawConnection) -> tuple[list[Frame], bytes]:
    """Read until the client closes TCP (FIN or RST): the whole frames, and the bytes left
    over (a frame cut short; only those that arrived during this call)."""
    received = bytearray()
    while not conn.eof:
        data = await conn._receive()
        received += data
        conn._reader.feed(data)
    frames: list[Frame] = []
    left = conn._unread + len(received)
    while (raw := conn._reader.next_frame()) is not None:
        frames.append(Frame.from_raw(raw))
        left -= wire_size(raw)
    conn._unread = 0
    return frames, bytes(received[-left:]) if left else b""
