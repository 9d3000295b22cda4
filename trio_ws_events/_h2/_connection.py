"""One HTTP/2 connection to an origin: a reader task, a serialised writer, the streams on it."""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Callable, Sequence
from typing import Final, Literal

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import trio

from .._errors import ConnectError
from ._dispatch import dispatch
from ._errors import ConnectionBroken, Http2Unavailable, StreamBroken
from ._opening import await_acceptance
from ._stream import H2WebSocketStream

__all__ = ["CONNECTION_WINDOW", "STREAM_WINDOW", "H2Connection"]

#: The receive window of each stream, and so the bound on its receive buffer: the server
#: may not send more than this before the reader consumes some (RFC 9113 6.9).
STREAM_WINDOW: Final = 256 * 1024
#: The connection-level receive window. It is reopened as DATA arrives, not as it is read:
#: the per-stream windows bound memory, and a shut connection window would let one slow
#: reader stall every stream.
CONNECTION_WINDOW: Final = 16 * 1024 * 1024
#: The most streams the server may open to us (none: no push), and the largest header list.
_MAX_HEADER_LIST: Final = 64 * 1024
_READ_SIZE: Final = 64 * 1024
_DEFAULT_WINDOW: Final = 65535

Reason = Literal["lost", "protocol", "ping", "goaway", "closed"]


def _new_h2() -> h2.connection.H2Connection:
    config = h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
    conn = h2.connection.H2Connection(config=config)
    conn.local_settings = h2.settings.Settings(
        client=True,
        initial_values={
            h2.settings.SettingCodes.ENABLE_PUSH: 0,
            h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 0,
            h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: STREAM_WINDOW,
            h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: _MAX_HEADER_LIST,
        },
    )
    return conn


class H2Connection:
    """A client HTTP/2 connection over a connected transport (TLS with ALPN ``h2``, or h2c).

    Built by the pool (or a test) around a connected ``trio.abc.Stream`` and run with
    ``await nursery.start(connection.serve)``: that returns once the server's first SETTINGS
    arrived; the reader, writer and keepalive tasks then live in the caller's nursery until
    the connection ends.

    Attributes:
        alpn: the ALPN protocol TLS chose (``"h2"``), or ``None`` for h2c.
    """

    def __init__(
        self,
        transport: trio.abc.Stream,
        *,
        alpn: str | None,
        ping_interval: float | None = None,
        ping_timeout: float = 20.0,
        on_change: Callable[[], None] = lambda: None,
        max_streams: int | None = None,
    ) -> None:
        self._transport = transport
        self.alpn = alpn
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._on_change = on_change
        self._h2 = _new_h2()
        self._streams: dict[int, H2WebSocketStream] = {}
        self._failure: tuple[Reason, str] | None = None
        self._goaway: int | None = None
        self._settings = trio.Event()
        self._ended = trio.Event()
        self._wakeup = trio.Event()
        self._flush_event = trio.Event()
        self._queued = self._flushed = 0
        self._conn_unacked = 0
        self._pings: dict[bytes, trio.Event] = {}
        self._ping_count = 0
        self._started = False
        self._closing = False  # aclose() has begun: every ending from now on is ours
        self._max_streams = max_streams  # streams in this connection's life; None: no limit
        self._streams_started = 0

    # --- state ------------------------------------------------------------------------

    @property
    def extended_connect(self) -> bool:
        """Whether the server's SETTINGS carried ENABLE_CONNECT_PROTOCOL=1 (RFC 8441 3)."""
        return bool(self._settings.is_set() and self._h2.remote_settings.enable_connect_protocol)

    @property
    def max_concurrent_streams(self) -> int:
        """The server's SETTINGS_MAX_CONCURRENT_STREAMS (2**31 - 1 when it set none)."""
        return int(self._h2.remote_settings.max_concurrent_streams)

    @property
    def open_streams(self) -> int:
        """How many of our streams are open (or opening) on this connection."""
        return len(self._streams)

    @property
    def is_retired(self) -> bool:
        """Whether this connection has started its ``max_streams`` streams: it takes no new
        one, and is closed once its last stream ends."""
        return self._max_streams is not None and self._streams_started >= self._max_streams

    @property
    def is_usable(self) -> bool:
        """Whether a new WebSocket may be opened here now (alive, no GOAWAY, room left)."""
        return (
            self._failure is None
            and self._goaway is None
            and not self.is_retired
            and self.extended_connect
            and self.open_streams < self.max_concurrent_streams
        )

    @property
    def is_ended(self) -> bool:
        """Whether the connection is gone (lost, failed or closed)."""
        return self._failure is not None

    # --- running --------------------------------------------------------------------

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the connection: started once the server's SETTINGS arrived, returns at its end.

        Raises:
            ConnectError: the connection ended before the server's SETTINGS arrived.

        Cancellation: ends the connection and closes the transport; every stream breaks.
        """
        self._h2.initiate_connection()
        self._h2.increment_flow_control_window(CONNECTION_WINDOW - _DEFAULT_WINDOW)
        self._kick()
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._write_loop)
                nursery.start_soon(self._read_loop)
                await self._settings.wait()
                if self._failure is None:
                    if self._ping_interval is not None:
                        nursery.start_soon(self._keepalive, self._ping_interval)
                    task_status.started()
                    self._started = True
                    await self._ended.wait()
                nursery.cancel_scope.cancel()
        finally:
            failure = self._failure
            self._fail("closed", "the HTTP/2 connection was closed")
            await trio.aclose_forcefully(self._transport)
        if failure is not None and not self._started:
            # Raised outside the nursery, so that the caller of start() sees it bare.
            raise ConnectError(f"HTTP/2 connection failed: {failure[1]}")

    async def aclose(self) -> None:
        """Send GOAWAY and close the connection; every open stream breaks. Idempotent.

        Cancellation: the connection is closed whatever happens (GOAWAY is best-effort).
        """
        if self._failure is None:
            self._closing = True
            self._h2.close_connection()
            with trio.move_on_after(1):
                await self._flush_or_fail()
            self._fail("closed", "the HTTP/2 connection was closed")
        await trio.lowlevel.checkpoint()

    async def ping(self) -> None:
        """Send an HTTP/2 PING and return when its ACK arrives.

        Raises:
            ConnectionBroken: the connection ended first.

        Cancellation: safe; a late ACK is ignored.
        """
        self._ping_count += 1
        opaque = struct.pack("!Q", self._ping_count)
        self._pings[opaque] = acked = trio.Event()
        try:
            self._check_alive(None)
            self._h2.ping(opaque)
            self._kick()
            await acked.wait()
            self._check_alive(None)
        finally:
            del self._pings[opaque]

    async def _keepalive(self, interval: float) -> None:
        while True:
            await trio.sleep(interval)
            with trio.move_on_after(self._ping_timeout) as scope:
                try:
                    await self.ping()
                except ConnectionBroken:
                    # The connection ended while the PING waited (lost, GOAWAY, closed): its
                    # streams already have their errors; raising here would end the pool.
                    return
            if scope.cancelled_caught:
                self._fail("ping", f"no PING ACK within {self._ping_timeout} s")
                return

    async def _read_loop(self) -> None:
        while True:
            try:
                data = await self._transport.receive_some(_READ_SIZE)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                self._fail("lost", f"the TCP connection failed: {exc!r}")
                return
            if not data:
                self._fail("lost", "the server closed the TCP connection")
                return
            try:
                events = self._h2.receive_data(data)
            except h2.exceptions.ProtocolError as exc:
                self._kick()  # h2 queued a GOAWAY saying why
                self._fail("protocol", f"the server broke HTTP/2: {exc}")
                return
            for event in events:
                dispatch(self, event)
            self._kick()

    async def _write_loop(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup = trio.Event()
            target = self._queued
            data = self._h2.data_to_send()
            if data:
                try:
                    await self._transport.send_all(data)
                except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                    self._fail("lost", f"writing to the TCP connection failed: {exc!r}")
                    return
            self._flushed = target
            done, self._flush_event = self._flush_event, trio.Event()
            done.set()

    def _kick(self) -> None:
        self._wakeup.set()

    async def _flush(self, stream: H2WebSocketStream | None = None) -> None:
        """Wait until the writer has handed to the transport everything queued so far."""
        self._queued += 1
        target = self._queued
        self._kick()
        while self._flushed < target:
            self._check_alive(stream)
            await self._flush_event.wait()

    async def _flush_or_fail(self) -> None:
        with contextlib.suppress(StreamBroken):
            await self._flush()

    def _check_alive(self, stream: H2WebSocketStream | None) -> None:
        if stream is not None and stream._error is not None:
            raise stream._error  # its own error, the one receive_some raises too
        if self._failure is not None:
            reason, message = self._failure
            sid = None if stream is None else stream.stream_id
            raise ConnectionBroken(message, stream_id=sid, reason=reason)
        if self._closing:
            # aclose() sent GOAWAY and waits for it to be written: h2 takes no more frames
            # (a keepalive PING due meanwhile raised h2's ProtocolError out of the pool).
            sid = None if stream is None else stream.stream_id
            raise ConnectionBroken(
                "the HTTP/2 connection was closed", stream_id=sid, reason="closed"
            )

    def _fail(self, reason: Reason, message: str, *, error_code: int | None = None) -> None:
        if self._failure is not None:
            return
        if self._closing:
            # Whatever the server does after our GOAWAY (its own GOAWAY, a hang-up), we did it.
            reason, message, error_code = "closed", "the HTTP/2 connection was closed", None
        self._failure = (reason, message)
        streams, self._streams = self._streams, {}
        for sid, stream in streams.items():
            error = ConnectionBroken(message, stream_id=sid, reason=reason, error_code=error_code)
            stream._break(error)
        for event in (self._settings, self._ended, self._flush_event, *self._pings.values()):
            event.set()
        self._on_change()

    # --- flow control ------------------------------------------------------------------

    def _credit_connection(self, length: int) -> None:
        self._conn_unacked += length
        if self._conn_unacked >= CONNECTION_WINDOW // 2:
            self._h2.increment_flow_control_window(self._conn_unacked)
            self._conn_unacked = 0

    def _credit_stream(self, stream: H2WebSocketStream, length: int) -> None:
        # Batched by the stream: one WINDOW_UPDATE per half window read, not per read.
        stream._uncredited += length
        if stream._uncredited < STREAM_WINDOW // 2 or stream._remote_ended:
            return
        if stream.stream_id in self._streams:
            try:
                self._h2.increment_flow_control_window(stream._uncredited, stream.stream_id)
            except h2.exceptions.StreamClosedError:
                return
            stream._uncredited = 0
            self._kick()

    def _consumed(self, stream: H2WebSocketStream, length: int) -> None:
        self._credit_stream(stream, length)

    def _send_window(self, stream: H2WebSocketStream) -> int:
        try:
            return int(self._h2.local_flow_control_window(stream.stream_id))
        except h2.exceptions.StreamClosedError:
            return 0

    def _send_data(self, stream: H2WebSocketStream, data: memoryview) -> int:
        """Queue as much of ``data`` as the windows allow, in frames; return how much."""
        window = min(self._send_window(stream), len(data))
        frame = int(self._h2.max_outbound_frame_size)
        sent = 0
        while sent < window:
            size = min(frame, window - sent)
            self._h2.send_data(stream.stream_id, bytes(data[sent : sent + size]))
            sent += size
        return sent

    def _end_stream(self, stream: H2WebSocketStream) -> None:
        if stream.stream_id in self._streams:
            self._h2.end_stream(stream.stream_id)
            self._forget_if_done(stream)

    def _close_stream(self, stream: H2WebSocketStream, *, abort: bool = False) -> None:
        if self._streams.pop(stream.stream_id, None) is None or self._failure is not None:
            return
        try:
            if abort:
                self._h2.reset_stream(stream.stream_id, h2.errors.ErrorCodes.CANCEL)
            elif stream._remote_ended and not stream._local_ended:
                self._h2.end_stream(stream.stream_id)
            elif not stream._remote_ended:
                self._h2.reset_stream(stream.stream_id, h2.errors.ErrorCodes.CANCEL)
        except h2.exceptions.StreamClosedError:
            pass
        self._kick()
        self._on_change()

    def _forget_if_done(self, stream: H2WebSocketStream) -> None:
        if stream._remote_ended and stream._local_ended:
            self._streams.pop(stream.stream_id, None)
            self._on_change()

    # --- opening a WebSocket ------------------------------------------------------------

    async def open_websocket(
        self, request: list[tuple[str, str]], subprotocols: Sequence[str] = ()
    ) -> H2WebSocketStream:
        """Open a WebSocket as an extended CONNECT stream (RFC 8441 section 4 and 5).

        Args:
            request: the header block, built and checked by ``connect_headers``.
            subprotocols: the ones ``request`` offers, in order of preference.

        Returns:
            The stream, ``subprotocol``/``extensions``/``response_headers`` filled in.

        Raises:
            Http2Unavailable: the server did not enable extended CONNECT.
            HandshakeRejected: the server answered another status than 200.
            ConnectError: the stream or connection broke before the response, or the
                response chose a subprotocol never offered.

        Cancellation: safe; a stream cancelled while opening is reset (CANCEL).
        """
        if self._settings.is_set() and not self.extended_connect and self._failure is None:
            raise Http2Unavailable(
                "the server did not send SETTINGS_ENABLE_CONNECT_PROTOCOL=1 (RFC 8441)",
                reason="settings",
                alpn=self.alpn,
            )
        return await await_acceptance(self, self._start_stream(request), list(subprotocols))

    def _start_stream(self, request: list[tuple[str, str]]) -> H2WebSocketStream:
        self._check_alive(None)
        if self._goaway is not None:
            raise ConnectError("the server sent GOAWAY: this connection takes no new stream")
        stream_id = self._h2.get_next_available_stream_id()
        self._streams_started += 1
        stream = H2WebSocketStream(self, stream_id)
        self._streams[stream_id] = stream
        self._h2.send_headers(stream_id, request, end_stream=False)
        self._kick()
        return stream
