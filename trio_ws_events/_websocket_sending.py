"""The send family of a [`WebSocket`][] beside ``send()``: from other threads, waiting for
room, in pieces, draining, and pings."""

from __future__ import annotations

from concurrent.futures import Future
from typing import TYPE_CHECKING

import trio

from ._calls import as_message, send_when_room, unencodable
from ._errors import InvalidStateError, WebSocketError
from ._sansio.entropy import random_bytes
from ._sansio.state import State
from ._trio.send_stream import piece_source, send_pieces
from ._websocket_readout import WebSocketReadout

if TYPE_CHECKING:
    from ._typing import PieceSource

__all__ = ["WebSocketSending"]


class WebSocketSending(WebSocketReadout):
    """The sending methods of [`WebSocket`][] other than ``send()`` (a base of that class only)."""

    _stream_lock: trio.Lock | None  # made by the first send_stream() (W5 makes a thousand)

    if TYPE_CHECKING:
        # Defined by WebSocket itself: the hot path stays in one place.
        def send(self, data: str | bytes | bytearray | memoryview) -> None: ...

    def send_threadsafe(self, data: str | bytes | bytearray | memoryview) -> Future[None]:
        """Queue one message from any thread, as [`send`][WebSocket.send] would in the Trio thread.

        It returns at once. The argument is checked (and a bytes-like one copied) in the
        calling thread; the message is then handed to [`send`][WebSocket.send] in the Trio
        thread, in the order of the calls (so, per calling thread, in that thread's order).

        Returns:
            A ``concurrent.futures.Future``: its result is ``None`` once
                [`send`][WebSocket.send] queued the message (from then on it is written or
                listed in [`unsent`][WebSocket.unsent]); its exception is what
                [`send`][WebSocket.send] raised instead ([`InvalidStateError`][] when the
                connection is not OPEN or has ended, [`SendBufferFull`][]), so a message is
                never dropped silently. Cancelling the future before the Trio thread reached
                it keeps the message from being queued.

        Raises:
            TypeError, ValueError: as [`send`][WebSocket.send]; nothing was scheduled.
            InvalidStateError: [`open`][WebSocket.open] was never called, so there is no Trio
                thread to send from.
        """
        message = as_message(data)
        if type(message) is str and not message.isascii():
            try:
                message.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise unencodable(exc) from None
        token = self._engine.token
        if token is None:
            raise InvalidStateError(self._not_open("send_threadsafe"), url=self._shown_url)
        future: Future[None] = Future()
        try:
            token.run_sync_soon(self._send_scheduled, message, future)
        except trio.RunFinishedError:
            future.set_exception(
                InvalidStateError(
                    f"cannot send: connection to {self._shown_url} has ended and its Trio "
                    "run is over",
                    url=self._shown_url,
                )
            )
        return future

    def _send_scheduled(self, message: str | bytes, future: Future[None]) -> None:
        """The Trio-thread half of [`send_threadsafe`][]."""
        if not future.set_running_or_notify_cancel():
            return  # cancelled by its caller before we got here: not queued
        try:
            self.send(message)
        except WebSocketError as exc:
            future.set_exception(exc)
        else:
            future.set_result(None)

    async def drain(self) -> None:
        """Wait until [`buffered_amount`][WebSocket.buffered_amount] is at most the low-water
        mark or the end.

        The low-water mark is a quarter of ``max_buffered_amount``. It returns at once
        (after a checkpoint) when the buffer is already that low, and when the connection
        has ended: check [`unsent`][WebSocket.unsent] then. Cancellation: safe; it only waits.

        Raises:
            RuntimeError: called from a thread other than the one running Trio.
        """
        self._check_thread("drain")
        await self._engine.drain()

    async def send_wait(self, data: str | bytes | bytearray | memoryview) -> None:
        """Queue one message, waiting for room first, then wait for the buffer to drain.

        The natural call for producers: it never raises [`SendBufferFull`][].
        Cancellation: if cancelled while waiting for room, nothing was queued; once queued,
        the message will be written (or listed in [`unsent`][WebSocket.unsent]) whatever happens.

        Raises:
            TypeError, ValueError: as [`send`][WebSocket.send].
            InvalidStateError: the connection is not OPEN, or ended while waiting.
            RuntimeError: called from a thread other than the one running Trio.
        """
        message = as_message(data)
        self._check_thread("send_wait")
        # Wake at each write: room for this message may come before the low-water mark (or
        # only once the buffer is empty, for a message above the limit). The engine makes a
        # fresh event after each write, so it is looked up at each wait.
        await send_when_room(self.send, message, lambda: self._engine.written.wait())
        await self.drain()

    async def send_stream(self, pieces: PieceSource) -> None:
        """Send one message made of ``pieces``, each written as a frame as soon as it comes.

        ``pieces`` is an iterable or an async iterable of ``str`` (a text message; each piece
        is encoded whole, so no character is split between frames) or of bytes-like objects
        (a binary message); the first piece decides, and empty pieces are skipped. An
        iterable with no non-empty piece sends nothing. Pings, pongs and close frames may go
        out between pieces; other messages given to ``send`` meanwhile are held and
        written after this one, in order; a second ``send_stream`` waits for this one.

        Memory stays bounded: before queuing a piece it waits until the piece fits within
        ``max_buffered_amount`` (a piece larger than that waits for an empty buffer). It
        returns once the whole message has been written to the socket.

        A message sent in pieces is never listed in ``unsent``: if the connection ends
        before its last frame is written, this call raises instead. If the pieces raise (or a
        piece is refused, or this call is cancelled) after part of the message was queued,
        the peer is left inside a message that cannot be completed: the connection is closed
        with 1011, ``on_error`` receives a [`HandlerError`][] whose ``__cause__`` is the
        exception, and the exception propagates from here.

        Raises:
            TypeError: ``pieces`` is not an (async) iterable of ``str`` or bytes-like, or
                mixes the two.
            ValueError: a ``str`` piece has a lone surrogate.
            InvalidStateError: the connection is not OPEN, or it ended before the whole
                message was written.
            RuntimeError: called from a thread other than the one running Trio; nothing
                was sent.

        Cancellation: before the first piece is queued nothing was sent; after it, the
        connection is closed with 1011 as above.
        """
        self._check_thread("send_stream")
        next_piece = piece_source(pieces)
        if self._engine.state is not State.OPEN:
            raise InvalidStateError(self._not_open("send_stream"), url=self._shown_url)
        if self._stream_lock is None:
            self._stream_lock = trio.Lock()  # no await since the check: made once
        async with self._stream_lock:
            await send_pieces(self._engine, next_piece)

    async def ping(self, payload: bytes | None = None) -> float:
        """Send a ping now and return its round-trip time in seconds when the pong arrives.

        Args:
            payload: at most 125 bytes; by default 4 random bytes.

        Raises:
            InvalidStateError: the connection is not OPEN, or ended before the pong.
            ValueError: the payload is longer than 125 bytes, or already awaiting a pong.
            RuntimeError: called from a thread other than the one running Trio.

        Cancellation: safe; a pong arriving later is ignored.
        """
        if payload is None:
            payload = random_bytes(4)
        elif not isinstance(payload, bytes | bytearray | memoryview):
            raise TypeError(f"ping payload must be bytes, got {type(payload).__name__}")
        size = memoryview(payload).nbytes  # before copying: a huge payload costs nothing
        if size > 125:
            raise ValueError(f"ping payload is {size} bytes; at most 125 are allowed")
        payload = bytes(memoryview(payload))
        self._check_thread("ping")
        engine = self._engine
        if engine.state is not State.OPEN:
            raise InvalidStateError(self._not_open("ping"), url=self._shown_url)
        if engine.awaiting(payload):
            raise ValueError("a ping with this payload is already awaiting its pong")
        return await engine.ping(payload)
