"""One WebSocket's HTTP/2 stream as a ``trio.abc.Stream``: flow control both ways, bounded."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import trio

from ._errors import StreamBroken

if TYPE_CHECKING:
    from ._connection import H2Connection

__all__ = ["MAX_SEND_BATCH", "H2WebSocketStream"]

#: How much one step of ``send_all`` hands to the writer before waiting for it: the bound on
#: what a stream queues in memory, whatever window the server grants.
MAX_SEND_BATCH: Final = 64 * 1024


class H2WebSocketStream(trio.abc.Stream):
    """The bytes of one WebSocket, carried by one extended CONNECT stream.

    Built by [`H2Connection.open_websocket`][] (or the pool), not directly. ``send_all``
    sends DATA only within the server's flow-control windows; received DATA is held in a
    buffer of at most the stream's receive window (``STREAM_WINDOW``), and the window is
    reopened (WINDOW_UPDATE) only as ``receive_some`` consumes it, so a reader that stops
    reading stalls only its own stream.

    Attributes:
        stream_id: the HTTP/2 stream id.
        subprotocol: the subprotocol the server chose, or ``None``.
        extensions: the ``sec-websocket-extensions`` the server answered, or ``None``.
        response_headers: the headers of the ``200`` response (no pseudo-headers).
    """

    #: Read by the driver: once the close handshake is done, it closes this stream at once
    #: instead of waiting for the server to end it first, as RFC 6455 7.1.1 asks over TCP.
    awaits_eof: Final = False

    def __init__(self, connection: H2Connection, stream_id: int) -> None:
        self._connection = connection
        self.stream_id = stream_id
        self.subprotocol: str | None = None
        self.extensions: str | None = None
        self.response_headers: list[tuple[str, str]] = []
        self._buffer = bytearray()
        self._response: list[tuple[str, str]] | None = None
        self._remote_ended = False
        self._local_ended = False
        self._closed = False
        self._error: StreamBroken | None = None
        self._data_event = trio.Event()
        self._window_event = trio.Event()
        self._sending = False
        self._receiving = False
        self._uncredited = 0  # bytes read but not yet given back in a WINDOW_UPDATE

    @property
    def connection(self) -> H2Connection:
        """The HTTP/2 connection this stream shares with the others to its origin."""
        return self._connection

    @property
    def transport_stream(self) -> trio.abc.Stream:
        """The TCP (or TLS) stream of the connection this stream rides on, shared with the
        other WebSockets on it; named as ``trio.SSLStream`` names its own, so that the
        socket's addresses can be found under either."""
        return self._connection._transport

    @property
    def buffered(self) -> int:
        """Received bytes not yet taken by ``receive_some`` (at most ``STREAM_WINDOW``)."""
        return len(self._buffer)

    # --- the trio.abc.Stream interface -------------------------------------------------

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Send ``data`` as DATA frames, waiting for WINDOW_UPDATE when a window is shut.

        Raises:
            trio.ClosedResourceError: after ``aclose`` or ``send_eof``.
            trio.BusyResourceError: another task is in ``send_all`` on this stream.
            StreamBroken: the stream or its connection broke (a subclass says how).

        Cancellation: safe; part of ``data`` may have been sent, as with any trio stream. A
        window that never opens waits until the caller's cancel scope ends it.
        """
        await trio.lowlevel.checkpoint()
        if self._sending:
            raise trio.BusyResourceError("another task is sending on this stream")
        self._sending = True
        try:
            view = memoryview(data).cast("B")
            while view:
                self._check_can_send()
                sent = self._connection._send_data(self, view[:MAX_SEND_BATCH])
                if sent == 0:
                    self._window_event = event = trio.Event()
                    await event.wait()
                    continue
                view = view[sent:]
                await self._connection._flush(self)
        finally:
            self._sending = False

    async def wait_send_all_might_not_block(self) -> None:
        """Return once the stream's send window is open (or the stream is closed or broken).

        Cancellation: safe.
        """
        await trio.lowlevel.checkpoint()
        while not self._error and not self._closed and not self._local_ended:
            if self._connection._send_window(self) > 0:
                return
            self._window_event = event = trio.Event()
            await event.wait()

    async def send_eof(self) -> None:
        """End our side of the stream (END_STREAM); receiving goes on. Idempotent.

        Raises:
            trio.ClosedResourceError: after ``aclose``.
            StreamBroken: the stream or its connection broke.

        Cancellation: safe; END_STREAM is queued before the first wait.
        """
        await trio.lowlevel.checkpoint()
        if self._closed:
            raise trio.ClosedResourceError("stream is closed")
        if self._error is not None:
            raise self._error
        if not self._local_ended:
            self._local_ended = True
            self._connection._end_stream(self)
            await self._connection._flush(self)

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        """The next received bytes, ``b""`` once the server ended the stream.

        Args:
            max_bytes: the most to return; ``None`` returns everything buffered.

        Raises:
            TypeError, ValueError: ``max_bytes`` is not a positive int or ``None``.
            trio.ClosedResourceError: after ``aclose``.
            trio.BusyResourceError: another task is in ``receive_some`` on this stream.
            StreamBroken: the stream broke; bytes received before are delivered first.

        Cancellation: safe; nothing is taken from the buffer unless returned.
        """
        if max_bytes is not None:
            if not isinstance(max_bytes, int) or isinstance(max_bytes, bool):
                raise TypeError(f"max_bytes must be an int or None, not {type(max_bytes).__name__}")
            if max_bytes < 1:
                raise ValueError(f"max_bytes must be at least 1, got {max_bytes}")
        await trio.lowlevel.checkpoint()
        if self._receiving:
            raise trio.BusyResourceError("another task is receiving on this stream")
        self._receiving = True
        try:
            while not self._buffer or self._closed:
                if self._closed:
                    raise trio.ClosedResourceError("stream is closed")
                if self._error is not None:
                    raise self._error
                if self._remote_ended:
                    return b""
                self._data_event = event = trio.Event()
                await event.wait()
            return self._take(len(self._buffer) if max_bytes is None else max_bytes)
        finally:
            self._receiving = False

    async def aclose(self) -> None:
        """Close the stream: END_STREAM when the server already ended its side, else
        RST_STREAM(CANCEL) (RFC 8441 section 6: we will read nothing more). Idempotent.

        Cancellation: the stream is closed whatever happens; the frame is queued for the
        connection's writer, which sends it while the connection lives.
        """
        if not self._closed:
            self._closed = True
            self._connection._close_stream(self)
            self._wake()
        await trio.lowlevel.checkpoint()

    # --- called by the connection --------------------------------------------------------

    def _check_can_send(self) -> None:
        if self._closed:
            raise trio.ClosedResourceError("stream is closed")
        if self._error is not None:
            raise self._error
        if self._local_ended:
            raise trio.ClosedResourceError("stream is half-closed: send_eof was called")

    def _take(self, count: int) -> bytes:
        data = bytes(self._buffer[:count])
        del self._buffer[:count]
        self._connection._consumed(self, len(data))
        return data

    def _on_data(self, data: bytes) -> None:
        self._buffer += data
        self._data_event.set()

    def _on_end(self) -> None:
        self._remote_ended = True
        self._wake()

    def _break(self, error: StreamBroken) -> None:
        if self._error is None:
            self._error = error
        self._wake()

    def _wake(self) -> None:
        self._data_event.set()
        self._window_event.set()

    def _window_opened(self) -> None:
        self._window_event.set()
