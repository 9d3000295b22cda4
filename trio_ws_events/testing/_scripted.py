"""The server side of one scripted connection: the test decides every move of the server.

The server side of RFC 6455 is written here, on plain trio streams, so that a test can do
what a well-behaved server library would not let it do: close with any code, never answer a
close frame, stop answering pings, drop the TCP connection without a close frame, or put
arbitrary bytes on the wire. ``_scripted_server`` accepts the connections; both are published
as ``trio_ws_events.testing``.
"""

from __future__ import annotations

import contextlib
import math
import socket
import struct
from collections.abc import Sequence
from typing import Final

import trio

from .._sansio.frames import (
    MAX_CONTROL_PAYLOAD,
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    FrameError,
    FrameReader,
    RawFrame,
    decode_close,
    encode_frame,
)
from ._http import READ_SIZE, UpgradeRequest

__all__ = ["ClientClosed", "ProtocolViolation", "ScriptedConnection"]

_CONTROL: Final = frozenset({OP_CLOSE, OP_PING, OP_PONG})
_DATA: Final = frozenset({OP_CONT, OP_TEXT, OP_BINARY})


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
        request: UpgradeRequest,
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
        opcode = OP_TEXT if isinstance(data, str) else OP_BINARY
        await self._write(encode_frame(opcode, _encode(data)))

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
        opcode = OP_TEXT if is_text else OP_BINARY
        frames = []
        for index, piece in enumerate(pieces):
            final = index == len(pieces) - 1
            first = opcode if index == 0 else OP_CONT
            frames.append(encode_frame(first, _encode(piece), fin=final))
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
        await self._write(encode_frame(OP_PING, payload))
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
        # Not encode_close(): the test may send any code as given, 1005 among them.
        payload = b"" if code is None else struct.pack("!H", code) + reason.encode("utf-8")
        with contextlib.suppress(ClientClosed):
            await self._write(encode_frame(OP_CLOSE, payload))

    async def _serve(self, rest: bytes) -> None:
        """Read frames until the connection ends; run by the server's task for it."""
        reader = FrameReader(rest)
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

    async def _read_frames(self, reader: FrameReader) -> None:
        fragments: list[bytes] = []
        fragmented_opcode: int | None = None
        while True:
            frame = _next_frame(reader)
            if frame is None:
                data = await self._stream.receive_some(READ_SIZE)
                if not data:
                    return
                reader.feed(data)
                continue
            opcode, fin, payload = frame.opcode, frame.fin, frame.payload
            if opcode in _CONTROL:
                if await self._control(opcode, payload):
                    return
                continue
            if opcode == OP_CONT:
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
                if fragmented_opcode == OP_TEXT:
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
        if opcode == OP_PING:
            if self._answer_pings and not self._close_sent:
                with contextlib.suppress(ClientClosed):
                    await self._write(encode_frame(OP_PONG, payload))
        elif opcode == OP_PONG:
            answered = self._pongs.pop(payload, None)
            if answered is not None:
                answered.set()
        else:
            self._client_close = _decode_close(payload)
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


class ProtocolViolation(AssertionError):
    """The client broke RFC 6455: the server closed with ``code`` and fails the test.

    Attributes:
        code: the close code the server sent, 1002 (protocol error) or 1007 (invalid UTF-8).
    """

    def __init__(self, message: str, code: int = 1002) -> None:
        super().__init__(message)
        self.code = code


# ---------------------------------------------------------------------------- helpers


def _next_frame(reader: FrameReader) -> RawFrame | None:
    """The client's next whole frame, or ``None`` for more data.

    Raises:
        ProtocolViolation: the frame breaks a rule of RFC 6455 for client frames.
    """
    try:
        frame = reader.next_frame()
    except FrameError as exc:
        raise _violation(exc.reason, exc.code) from None
    if frame is None:
        return None
    if frame.rsv:
        raise _violation("reserved bits set without a negotiated extension")
    if not frame.masked:
        raise _violation("client frame is not masked")
    if frame.opcode not in _CONTROL and frame.opcode not in _DATA:
        raise _violation(f"reserved opcode {frame.opcode:#x}")
    if frame.opcode in _CONTROL and (len(frame.payload) > MAX_CONTROL_PAYLOAD or not frame.fin):
        raise _violation("control frame is fragmented or longer than 125 bytes")
    return frame


def _decode_close(payload: bytes) -> tuple[int, str]:
    """The client's close code and reason; 1005 for an empty payload."""
    try:
        code, reason = decode_close(payload)
    except FrameError as exc:
        raise _violation(exc.reason, exc.code) from None
    return int(code), reason


def _violation(what: str, code: int = 1002) -> ProtocolViolation:
    return ProtocolViolation(f"the client broke RFC 6455: {what}", code)


def _encode(data: str | bytes) -> bytes:
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)
