"""A scriptable WebSocket server for tests: the test decides every move of the server side.

Published as ``trio_ws_events.testing``. The server side of RFC 6455 is written here, on
plain trio streams, so that a test can do what a well-behaved server library would not let it
do: close with any code, never answer a close frame, stop answering pings, drop the TCP
connection without a close frame, or put arbitrary bytes on the wire.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime
import email.utils
import hashlib
import math
import socket
import struct
from collections.abc import AsyncIterator, Sequence
from typing import Final

import trio

from ._sansio.frames import apply_mask

__all__ = [
    "ClientClosed",
    "HandshakeRequest",
    "ProtocolViolation",
    "ScriptedConnection",
    "ScriptedServer",
    "open_scripted_server",
]

#: RFC 6455 section 1.3: appended to ``Sec-WebSocket-Key`` to compute the accept value.
_GUID: Final = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#: A request head larger than this is answered with 431 and dropped.
_MAX_HEAD: Final = 64 * 1024
_READ_SIZE: Final = 64 * 1024

_CONT, _TEXT, _BINARY, _CLOSE, _PING, _PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_CONTROL: Final = frozenset({_CLOSE, _PING, _PONG})
_REASONS: Final = {
    101: "Switching Protocols",
    400: "Bad Request",
    403: "Forbidden",
    429: "Too Many Requests",
    431: "Too Large",
    503: "Service Unavailable",
}


class ClientClosed(Exception):
    """The client ended the connection; raised by reads and writes after the end.

    Attributes:
        code: the code of the client's close frame; 1005 when that frame carried no code,
            1006 when the TCP connection ended without a close frame.
        reason: the reason of the client's close frame ("" when there was none).
    """

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"the client closed the connection: {code} {reason!r}")
        self.code = code
        self.reason = reason


@dataclasses.dataclass(frozen=True)
class HandshakeRequest:
    """The client's HTTP upgrade request, as the server read it.

    Attributes:
        path: the request target, such as ``/chat?room=1``.
        headers: the header fields as ``(name, value)`` pairs, in the order received.
    """

    path: str
    headers: list[tuple[str, str]]

    def header(self, name: str) -> str | None:
        """The value of the first header called ``name`` (any case), or ``None``."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)

    @property
    def subprotocols(self) -> list[str]:
        """The subprotocols the client offered, in its order of preference."""
        offered = [value for key, value in self.headers if key.lower() == "sec-websocket-protocol"]
        return [item.strip() for value in offered for item in value.split(",") if item.strip()]


class ScriptedConnection:
    """The server side of one accepted connection, driven by the test.

    Built by [`ScriptedServer.accept`][]; do not construct it directly. A task of the server
    reads the client's frames all along: messages queue up for [`receive`][], pings are
    answered, and a close frame from the client is answered and ends the connection (each of
    these as configured by [`accept`][ScriptedServer.accept]).

    Attributes:
        request: the client's upgrade request.
        subprotocol: the subprotocol the server answered with, if any.
    """

    def __init__(
        self,
        stream: trio.SocketStream,
        request: HandshakeRequest,
        subprotocol: str | None,
        *,
        answer_pings: bool,
        answer_close: bool,
    ) -> None:
        self.request = request
        self.subprotocol = subprotocol
        self._stream = stream
        self._answer_pings = answer_pings
        self._answer_close = answer_close
        self._write_lock = trio.Lock()
        self._inbox_send, self._inbox = trio.open_memory_channel[str | bytes](math.inf)
        self._client_close: tuple[int, str] | None = None
        self._close_sent = False
        self._ended = trio.Event()
        self._pongs: dict[bytes, trio.Event] = {}
        self._end_scopes: list[trio.CancelScope] = []

    # ------------------------------------------------------------------ what the test calls

    async def send(self, data: str | bytes) -> None:
        """Send one message: ``str`` as a text frame, ``bytes`` as a binary frame.

        Raises:
            ClientClosed: the connection has ended.
        """
        opcode = _TEXT if isinstance(data, str) else _BINARY
        await self._write(_frame(opcode, _encode(data)))

    async def send_fragmented(self, pieces: Sequence[str | bytes]) -> None:
        """Send one message as several frames, one per piece (all ``str`` or all ``bytes``).

        Useful to test ``on_incomplete_frame``: all ``str`` pieces make a text message, all
        ``bytes`` pieces a binary one.

        Raises:
            ValueError: ``pieces`` is empty.
            TypeError: ``pieces`` mixes ``str`` and ``bytes``.
            ClientClosed: the connection has ended.
        """
        if not pieces:
            raise ValueError("send_fragmented() needs at least one piece")
        is_text = isinstance(pieces[0], str)
        if any(isinstance(piece, str) != is_text for piece in pieces):
            raise TypeError("send_fragmented() pieces must be all str or all bytes")
        opcode = _TEXT if is_text else _BINARY
        frames = []
        for index, piece in enumerate(pieces):
            final = index == len(pieces) - 1
            frames.append(_frame(opcode if index == 0 else _CONT, _encode(piece), fin=final))
        await self._write(b"".join(frames))

    async def send_raw(self, data: bytes) -> None:
        """Write ``data`` to the socket as it is: for frames no server should send.

        Raises:
            ClientClosed: the connection has ended.
        """
        await self._write(data)

    async def ping(self, payload: bytes = b"") -> None:
        """Send a ping and wait for the client's pong with the same payload.

        Cancellation: safe; a pong arriving later is ignored.

        Raises:
            ClientClosed: the connection ended before the pong.
        """
        answered = self._pongs.setdefault(payload, trio.Event())
        await self._write(_frame(_PING, payload))
        with trio.CancelScope() as scope:
            self._cancel_on_end(scope)
            await answered.wait()
        if not answered.is_set():
            raise self._closed_error()

    async def receive(self) -> str | bytes:
        """The next message from the client: ``str`` for text, ``bytes`` for binary.

        Messages that arrived before the end can still be received after it.

        Raises:
            ClientClosed: the client closed (or the connection ended) and no message is left.
        """
        try:
            return await self._inbox.receive()
        except trio.EndOfChannel:
            raise self._closed_error() from None

    async def close(self, code: int | None = 1000, reason: str = "") -> tuple[int, str]:
        """Start the close handshake: send a close frame, wait for the client's, close TCP.

        Any code is sent as given, even one no endpoint may send; ``code=None`` sends a
        close frame without a code. When the client has already closed, its close frame is
        answered instead (if it was not already).

        Returns:
            The client's close code and reason (1005 for none, 1006 when the TCP connection
            ended without a close frame).

        Cancellation: safe; the close frame may have been sent.
        """
        await self._send_close(code, reason)
        await self._ended.wait()
        await self._stream.aclose()
        assert self._client_close is not None
        return self._client_close

    async def drop(self, *, reset: bool = False) -> None:
        """Close the TCP connection without a close frame (the client sees 1006).

        Args:
            reset: send a TCP reset (RST) instead of an orderly end of stream (FIN).
        """
        if reset:
            with contextlib.suppress(OSError):
                self._stream.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
        await trio.aclose_forcefully(self._stream)
        await self._ended.wait()

    async def wait_closed(self) -> tuple[int, str]:
        """Wait for the client's close frame, or for the end of the TCP connection.

        Messages still unread stay available to [`receive`][].

        Returns:
            The client's close code and reason (1005 for none, 1006 without a close frame).

        Cancellation: safe; it only waits.
        """
        await self._ended.wait()
        assert self._client_close is not None
        return self._client_close

    @property
    def client_close(self) -> tuple[int, str] | None:
        """The client's close code and reason once the connection ended, else ``None``."""
        return self._client_close

    # ------------------------------------------------------------------ internals

    def _closed_error(self) -> ClientClosed:
        code, reason = self._client_close or (1006, "")
        return ClientClosed(code, reason)

    def _cancel_on_end(self, scope: trio.CancelScope) -> None:
        if self._ended.is_set():
            scope.cancel()
        else:
            self._end_scopes.append(scope)

    async def _write(self, data: bytes) -> None:
        try:
            async with self._write_lock:
                await self._stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            raise self._closed_error() from None

    async def _send_close(self, code: int | None, reason: str) -> None:
        if self._close_sent:
            return
        self._close_sent = True
        payload = b"" if code is None else struct.pack("!H", code) + reason.encode("utf-8")
        with contextlib.suppress(ClientClosed):
            await self._write(_frame(_CLOSE, payload))

    async def _serve(self, rest: bytes) -> None:
        """Read frames until the connection ends; run by the server's task for it."""
        reader = _FrameReader(rest)
        try:
            await self._read_frames(reader)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        except ProtocolViolation as exc:
            await self._send_close(exc.code, "")
            raise
        finally:
            if self._client_close is None:
                self._client_close = (1006, "")
            self._ended.set()
            for scope in self._end_scopes:
                scope.cancel()
            self._inbox_send.close()
            await trio.aclose_forcefully(self._stream)

    async def _read_frames(self, reader: _FrameReader) -> None:
        fragments: list[bytes] = []
        fragmented_opcode: int | None = None
        while True:
            frame = reader.next_frame()
            if frame is None:
                data = await self._stream.receive_some(_READ_SIZE)
                if not data:
                    return
                reader.feed(data)
                continue
            opcode, fin, payload = frame
            if opcode in _CONTROL:
                if await self._control(opcode, payload):
                    return
                continue
            if opcode == _CONT:
                if fragmented_opcode is None:
                    raise _violation("continuation frame without a message to continue")
            elif fragmented_opcode is not None:
                raise _violation("new data frame in the middle of a fragmented message")
            else:
                fragmented_opcode = opcode
            fragments.append(payload)
            if fin:
                data = b"".join(fragments)
                fragments = []
                if fragmented_opcode == _TEXT:
                    try:
                        text = data.decode("utf-8")
                    except UnicodeDecodeError:
                        raise _violation("text message is not valid UTF-8", 1007) from None
                    self._inbox_send.send_nowait(text)
                else:
                    self._inbox_send.send_nowait(data)
                fragmented_opcode = None

    async def _control(self, opcode: int, payload: bytes) -> bool:
        """Handle a control frame; True when the connection is over."""
        if opcode == _PING:
            if self._answer_pings and not self._close_sent:
                with contextlib.suppress(ClientClosed):
                    await self._write(_frame(_PONG, payload))
        elif opcode == _PONG:
            answered = self._pongs.pop(payload, None)
            if answered is not None:
                answered.set()
        else:
            self._client_close = _parse_close(payload)
            if self._close_sent:
                return True  # the reply to our close frame: the server closes TCP now
            if self._answer_close:
                code, reason = self._client_close
                await self._send_close(None if code == 1005 else code, reason)
                return True
            self._ended.set()  # close frame received; the connection stays until dropped
            for scope in self._end_scopes:
                scope.cancel()
        return False


class ScriptedServer:
    """A WebSocket server on 127.0.0.1 whose every move the test makes.

    The socket listens from construction on (so [`url`][] is known at once); connections
    are served while [`serve`][] runs. Clients that connect wait until the test calls
    [`accept`][] or [`reject`][], one call per connection, in the order they arrived.
    Use [`open_scripted_server`][], or the ``ws_server`` pytest fixture, rather than
    building one yourself.

    Args:
        host: the address to listen on (an IP address).
        port: the TCP port; 0 picks a free one.

    Raises:
        OSError: the address could not be bound.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._listener = _listen(family, host, port)
        self._address = (family, host, self._listener.socket.getsockname()[1])
        shown_host = f"[{host}]" if family == socket.AF_INET6 else host
        self.url = f"ws://{shown_host}:{self._address[2]}/"
        """The URL to connect to, such as ``ws://127.0.0.1:53211/``."""
        self._pending_send, self._pending = trio.open_memory_channel[_Pending](math.inf)
        self._up = trio.Event()
        self._up.set()

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve connections until cancelled, then close the socket and every connection.

        Raises:
            ProtocolViolation: a client broke RFC 6455 (the exception is an ``AssertionError``
                so that it fails the test).
        """
        try:
            async with trio.open_nursery() as nursery:
                task_status.started()
                while True:
                    await self._up.wait()
                    try:
                        stream = await self._listener.accept()
                    except trio.ClosedResourceError:
                        continue  # go_down() closed the listener
                    nursery.start_soon(self._handle, stream)
        except BaseExceptionGroup as group:
            violation = _lone_violation(group)
            if violation is None:
                raise
            raise violation from None
        finally:
            await trio.aclose_forcefully(self._listener)

    async def accept(
        self,
        subprotocol: str | None = None,
        *,
        headers: Sequence[tuple[str, str]] = (),
        answer_pings: bool = True,
        answer_close: bool = True,
    ) -> ScriptedConnection:
        """Wait for the next client and complete its handshake (HTTP 101).

        Args:
            subprotocol: the ``Sec-WebSocket-Protocol`` to answer with, sent as given even
                when the client did not offer it.
            headers: extra response headers.
            answer_pings: answer the client's pings with pongs; ``False`` lets a test
                check the client's keepalive timeout.
            answer_close: answer the client's close frame with the same code and reason and
                close TCP, as a server should; ``False`` never answers, so that a test can
                check the client's ``close_timeout``.

        Returns:
            The connection, on which the test sends and receives.

        Cancellation: safe before a client arrives; the client then waits for the next call.
        """
        pending = await self._pending.receive()
        key = pending.request.header("sec-websocket-key") or ""
        lines = [
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Accept", _accept_value(key)),
        ]
        if subprotocol is not None:
            lines.append(("Sec-WebSocket-Protocol", subprotocol))
        await pending.stream.send_all(_response(101, [*lines, *headers]))
        connection = ScriptedConnection(
            pending.stream,
            pending.request,
            subprotocol,
            answer_pings=answer_pings,
            answer_close=answer_close,
        )
        pending.decide(connection)
        return connection

    async def reject(
        self,
        status: int = 403,
        body: bytes = b"",
        *,
        headers: Sequence[tuple[str, str]] = (),
        retry_after: float | datetime.datetime | None = None,
    ) -> HandshakeRequest:
        """Wait for the next client and refuse its handshake with ``status`` and ``body``.

        Args:
            status: the HTTP status, such as 403, 429 or 503.
            body: the response body.
            headers: extra response headers.
            retry_after: adds a ``Retry-After`` header: a number of seconds (sent as a whole
                number), or an aware ``datetime`` (sent as an HTTP date).

        Returns:
            The request that was refused.

        Raises:
            ValueError: ``retry_after`` is negative, or a datetime without a time zone.
        """
        extra = [] if retry_after is None else [("Retry-After", _retry_after(retry_after))]
        pending = await self._pending.receive()
        fields = [*headers, *extra, ("Content-Length", str(len(body))), ("Connection", "close")]
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await pending.stream.send_all(_response(status, fields) + body)
        pending.decide(None)
        return pending.request

    async def go_down(self) -> None:
        """Stop listening: new clients are refused (connection refused) until ``come_back``.

        Connections already accepted go on; drop them with
        ``ScriptedConnection.drop`` to take the server down entirely. Calling it again
        does nothing.
        """
        if self._up.is_set():
            self._up = trio.Event()
            await self._listener.aclose()
        await trio.lowlevel.checkpoint()

    async def come_back(self) -> None:
        """Listen again, on the same address and port as before ``go_down``.

        Calling it while listening does nothing.

        Raises:
            OSError: the port could not be bound again (another program took it).
        """
        if not self._up.is_set():
            self._listener = _listen(*self._address)
            self._up.set()
        await trio.lowlevel.checkpoint()

    async def _handle(self, stream: trio.SocketStream) -> None:
        try:
            head = await _read_head(stream)
            if head is None:
                return
            request, rest = head
            if request is None:
                await stream.send_all(_response(400, [("Content-Length", "0")]))
                return
            pending = _Pending(stream, request)
            self._pending_send.send_nowait(pending)
            connection = await pending.decided()
            if connection is not None:
                await connection._serve(rest)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            await trio.aclose_forcefully(stream)


@contextlib.asynccontextmanager
async def open_scripted_server(
    host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[ScriptedServer]:
    """Run a [`ScriptedServer`][] for the duration of an ``async with`` block.

    Leaving the block closes the listening socket and drops every connection still open.
    An exception raised in the block propagates as itself, not wrapped in a group.

    Args:
        host: the address to listen on (an IP address).
        port: the TCP port; 0 picks a free one.

    Yields:
        The server; connect to ``server.url``.
    """
    server = ScriptedServer(host, port)
    body_error: BaseException | None = None
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(server.serve)
            try:
                yield server
            except BaseException as exc:
                body_error = exc
            finally:
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        violation = _lone_violation(group)
        if violation is None:
            raise
        raise violation from None
    if body_error is not None:
        raise body_error


class ProtocolViolation(AssertionError):
    """The client broke RFC 6455: the server closed with ``code`` and fails the test.

    Attributes:
        code: the close code the server sent, 1002 (protocol error) or 1007 (invalid UTF-8).
    """

    def __init__(self, message: str, code: int = 1002) -> None:
        super().__init__(message)
        self.code = code


# ---------------------------------------------------------------------------- helpers


class _Pending:
    """A client whose handshake waits for the test's accept() or reject()."""

    def __init__(self, stream: trio.SocketStream, request: HandshakeRequest) -> None:
        self.stream = stream
        self.request = request
        self._event = trio.Event()
        self._connection: ScriptedConnection | None = None

    def decide(self, connection: ScriptedConnection | None) -> None:
        self._connection = connection
        self._event.set()

    async def decided(self) -> ScriptedConnection | None:
        await self._event.wait()
        return self._connection


class _FrameReader:
    """Incremental parser of client frames: unmasks them and checks the framing rules."""

    def __init__(self, data: bytes = b"") -> None:
        self._buffer = bytearray(data)

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def next_frame(self) -> tuple[int, bool, bytes] | None:
        """The next whole frame as ``(opcode, fin, payload)``, or ``None`` for more data."""
        buffer = self._buffer
        if len(buffer) < 2:
            return None
        b0, b1 = buffer[0], buffer[1]
        fin, opcode, length = bool(b0 & 0x80), b0 & 0x0F, b1 & 0x7F
        offset = 2
        if length == 126:
            if len(buffer) < 4:
                return None
            length, offset = struct.unpack_from("!H", buffer, 2)[0], 4
        elif length == 127:
            if len(buffer) < 10:
                return None
            length, offset = struct.unpack_from("!Q", buffer, 2)[0], 10
        # The header alone shows these violations: no need to wait for the payload.
        if b0 & 0x70:
            raise _violation("reserved bits set without a negotiated extension")
        if not b1 & 0x80:
            raise _violation("client frame is not masked")
        if opcode not in (_CONT, _TEXT, _BINARY, *_CONTROL):
            raise _violation(f"reserved opcode {opcode:#x}")
        if opcode in _CONTROL and (length > 125 or not fin):
            raise _violation("control frame is fragmented or longer than 125 bytes")
        if len(buffer) < offset + 4 + length:
            return None
        mask = bytes(buffer[offset : offset + 4])
        payload = apply_mask(bytes(buffer[offset + 4 : offset + 4 + length]), mask)
        del buffer[: offset + 4 + length]
        return opcode, fin, payload


def _lone_violation(group: BaseExceptionGroup[BaseException]) -> ProtocolViolation | None:
    """The first [`ProtocolViolation`][] in ``group`` if all else is cancellation."""
    violations, rest = group.split(ProtocolViolation)
    if violations is None or (rest is not None and rest.split(trio.Cancelled)[1] is not None):
        return None
    leaf: BaseException = violations
    while isinstance(leaf, BaseExceptionGroup):
        leaf = leaf.exceptions[0]
    assert isinstance(leaf, ProtocolViolation)
    return leaf


def _violation(what: str, code: int = 1002) -> ProtocolViolation:
    return ProtocolViolation(f"the client broke RFC 6455: {what}", code)


def _encode(data: str | bytes) -> bytes:
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


def _frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    """One unmasked server frame."""
    first = (0x80 if fin else 0) | opcode
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", first, length)
    elif length < 2**16:
        header = struct.pack("!BBH", first, 126, length)
    else:
        header = struct.pack("!BBQ", first, 127, length)
    return header + payload


def _parse_close(payload: bytes) -> tuple[int, str]:
    if len(payload) < 2:
        return 1005, ""
    code = struct.unpack_from("!H", payload)[0]
    return code, payload[2:].decode("utf-8", "replace")


def _accept_value(key: str) -> str:
    # SHA-1 because RFC 6455 says so; it protects nothing.
    digest = hashlib.sha1(key.encode("ascii", "replace") + _GUID).digest()
    return base64.b64encode(digest).decode("ascii")


def _listen(family: socket.AddressFamily, host: str, port: int) -> trio.SocketListener:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # SO_REUSEADDR lets come_back() bind the port while old connections are in TIME_WAIT.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen()
    except OSError:
        sock.close()
        raise
    return trio.SocketListener(trio.socket.from_stdlib_socket(sock))


def _retry_after(value: float | datetime.datetime) -> str:
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            raise ValueError("retry_after must be an aware datetime (with a time zone)")
        return email.utils.format_datetime(value.astimezone(datetime.UTC), usegmt=True)
    if value < 0:
        raise ValueError(f"retry_after must be 0 or more seconds, got {value!r}")
    return str(math.ceil(value))


def _response(status: int, headers: Sequence[tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _read_head(stream: trio.SocketStream) -> tuple[HandshakeRequest | None, bytes] | None:
    """Read the request head; ``None`` at EOF, ``(None, b"")`` for a malformed one."""
    data = b""
    while b"\r\n\r\n" not in data:
        if len(data) > _MAX_HEAD:
            return None, b""
        chunk = await stream.receive_some(_READ_SIZE)
        if not chunk:
            return None
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or parts[0] != "GET":
        return None, b""
    headers = []
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon:
            return None, b""
        headers.append((name.strip(), value.strip()))
    request = HandshakeRequest(parts[1], headers)
    if request.header("sec-websocket-key") is None:
        return None, b""
    return request, rest
