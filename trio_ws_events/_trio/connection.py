"""The running connection behind a ``WebSocket``: its tasks and ending.

One task (``_run``) owns the connection: it connects, then runs a small nursery with the
sender task, while it reads frames itself, ticks the keepalive when its timer expires, and
dispatches events straight to the handlers: there is no queue between the socket and the
handlers, so a slow handler stops the reading (receive backpressure), and events fire in
arrival order.

The sender task is ``writer.Sender``, the keepalive timer ``pinger.Pinger``, the handler calls
``dispatch.Dispatcher``. Every path out of ``_run`` (a close handshake, a failure,
cancellation) ends in ``ending.finish``, which settles the state, lists unsent messages, and
fires exactly one terminal event.
"""

from __future__ import annotations

import logging
import threading
from typing import ClassVar, Final

import trio

from .._errors import (
    CloseTimeout,
    ConnectError,
    ConnectionLost,
    ConnectTimeout,
    MessageTooBig,
    ProtocolError,
    WebSocketError,
)
from .._events import Stats
from .._options import Options
from .._sansio.closing import CloseHandshake, truncate_reason
from .._sansio.events import Buffer, Failure
from .._sansio.frames import CHUNK_SIZE
from .._sansio.keepalive import Keepalive
from .._sansio.outbox import Outbox
from .._sansio.protocol import ClientProtocol
from .._sansio.state import State, check_transition
from .._typing import Address, LoggerLike
from .connect import Opened, make_protocol, open_connection
from .crowd import in_crowd
from .dispatch import Dispatcher
from .ending import SET, LazyEvent, abort, finish, fire, release
from .engine import Owner
from .iterate import Feed
from .net import stream_addresses
from .pinger import Pinger
from .reading import Reads
from .socket_writes import Writer
from .stats import connection_stats
from .wakeup import Wakeup
from .writer import Sender

__all__ = ["Connection"]

logger = logging.getLogger("trio_ws_events")

#: After a completed close handshake, how long to wait for the server to close TCP first
#: (RFC 6455 7.1.1 asks the client to let the server close), capped by ``close_timeout``.
EOF_GRACE: Final = 2.0
#: The bound on the shielded cleanup after cancellation when ``close_timeout`` is None.
CANCEL_CLEANUP_TIMEOUT: Final = 10.0
#: Failing the connection (a protocol violation, a keepalive timeout) waits at most this long,
#: or ``close_timeout`` if shorter, for the close frame to be written and the server's EOF:
#: a peer that broke the protocol, or stopped answering, is not waited on (issue 11, item 11).
FAIL_TIMEOUT: Final = 1.0


class Connection:
    """The default engine: runs one connection over a stream it opens, for its owner.

    Built by ``WebSocket`` (its owner), which keeps the handlers and the public methods; this
    object keeps the state and the tasks, and dispatches events to the owner's hooks. It
    satisfies ``Engine`` (``engine.py``), the interface ``WebSocket`` uses.
    """

    # Slots, not a dict: W5 measures the memory of 1,000 open connections. Written as one
    # string: the formatter would give each of the 44 names a line of its own.
    __slots__ = tuple(
        """
        _abandoned _busy_poll _close_timeout _compression _connect_options _connect_scope
        _connect_timeout _dispatcher _done _entered _logger _max_fragment_size
        _max_message_size _nursery _ping_timeout _protocol _ready _recv_scope _sender _url
        _written _ws
        addresses close_code close_reason closed_at closing drained error extensions feed
        keepalive low_water max_buffered open_at opened opened_at outbox pinger shown_url state
        thread token unsent wake
        """.split()  # noqa: SIM905
    )
    #: False in an engine whose ``_receive_loop`` does not tick: ``Pinger.run`` ticks then.
    reader_ticks: ClassVar[bool] = True
    # Made at their first read (``ending.LazyEvent``); ``ending.fire`` sets them.
    ready = LazyEvent()  # OPEN reached, or the attempt is over
    done = LazyEvent()  # the terminal event has run
    entered = LazyEvent()  # `async with` has handed the instance to its body
    written = LazyEvent()  # a batch reached the socket (a fresh one after each)

    def __init__(self, owner: Owner, options: Options) -> None:
        self._ws = owner
        self._url = options.url
        self.shown_url = str(options.url)
        self._connect_options = options.connect
        self._connect_timeout = options.connect_timeout
        self._close_timeout = options.close_timeout
        self._max_message_size = options.max_message_size
        self._max_fragment_size = options.max_fragment_size
        self._compression = options.compression
        self._ping_timeout = options.ping_timeout
        self._busy_poll = options.busy_poll
        self.max_buffered = options.max_buffered_amount
        self.low_water = options.max_buffered_amount // 4
        #: This connection's records go here: the ``trio_ws_events`` logger or the user's own.
        self._logger: LoggerLike = options.logger
        self.thread: int | None = None  # the Trio thread, known from open() on
        self.token: trio.lowlevel.TrioToken | None = None  # its run, for send_threadsafe
        self.state = State.INITIAL
        self.outbox = Outbox()
        self.opened: Opened | None = None
        self._protocol: ClientProtocol | None = None
        self.extensions: str | None = None
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self.unsent: tuple[str | bytes, ...] = ()
        self._ready: trio.Event | None = None
        self._done: trio.Event | None = None
        self._connect_scope: trio.CancelScope | None = None
        self._abandoned = False
        # From OPEN on, the session nursery's scope: it bounds the reading (close_timeout,
        # the EOF grace, a broken write), and the sender ends with it.
        self._recv_scope = trio.CancelScope()
        self.wake = Wakeup()  # wakes the sender
        # buffered_amount fell to the low-water mark; SET until send() first passes it.
        self.drained = SET
        self._written: trio.Event | None = None
        self.keepalive = Keepalive(options.ping_interval, options.ping_timeout)
        self.pinger = Pinger(self, self.keepalive, options.ping_timeout)
        self.closing = CloseHandshake()  # who sent which close frame; the ending
        self._sender: Sender | None = None  # from OPEN on
        self._nursery: trio.Nursery | None = None  # the session's, while it runs
        self._dispatcher = Dispatcher(self)
        self.error: WebSocketError | None = None  # the ending, when it is an error
        self.opened_at: float | None = None  # open() called
        self.open_at: float | None = None  # OPEN reached
        self.closed_at: float | None = None
        self.feed: Feed | None = None  # to the live `async for` iterator, if any
        self._entered: trio.Event | None = None
        self.addresses: tuple[Address, Address] | None = None  # local, remote; from OPEN

    # ------------------------------------------------------------------ the Engine interface

    @property
    def subprotocol(self) -> str | None:
        return self.opened.subprotocol if self.opened is not None else None

    @property
    def response_headers(self) -> list[tuple[str, str]]:
        return list(self.opened.headers) if self.opened is not None else []

    @property
    def latency(self) -> float | None:
        return self.keepalive.latency

    @property
    def last_message_received(self) -> float | None:
        return self.keepalive.last_received

    def stats(self) -> Stats:
        args = (self._protocol, self.opened_at, self.open_at, self.closed_at)
        return connection_stats(self.outbox, *args)

    def start(self, nursery: trio.Nursery) -> None:
        token = trio.lowlevel.current_trio_token()
        # Before any state changes: a nursery closed to new arrivals leaves us INITIAL.
        nursery.start_soon(self._run, name=f"trio_ws_events {self.shown_url}")
        # The task runs only at the next checkpoint, so nothing sees the state before this.
        self.token = token
        self.thread = threading.get_ident()
        self._set_state(State.CONNECTING)

    def close(self, code: int, reason: str) -> None:
        state = self.state
        if state is State.INITIAL or state is State.CONNECTING:
            self._abandoned = True
            if self._connect_scope is not None:
                self._connect_scope.cancel()
        elif state is State.OPEN:
            self._set_state(State.CLOSING)
            # As in the browser, messages that still arrive are not delivered: a handler
            # answering them could only meet InvalidStateError from send().
            self._dispatcher.active = False
            self._request_close(code, reason)

    def write_now(self) -> bool:
        sender = self._sender
        return sender is not None and sender.write_now()

    def frame_due(self) -> None:
        """A control frame is due (our close, a pong): written at once when the sender is
        idle, as ``send()``'s message is (``Sender.write_now``), else by the sender task."""
        if not self.write_now():
            self.wake.set()

    def awaiting(self, payload: bytes) -> bool:
        return self.keepalive.awaiting(payload)

    async def ping(self, payload: bytes) -> float:
        return await self.pinger.ping(payload)

    async def drain(self) -> None:
        await trio.lowlevel.checkpoint()
        if self.outbox.buffered_amount > self.low_water and not self.done.is_set():
            await self.drained.wait()

    # ------------------------------------------------------------------ the task

    async def _run(self) -> None:
        self.opened_at = trio.current_time()
        completed = False
        try:
            opened = await self._connect()
            if opened is not None:
                await self._session(opened)
            completed = True
        finally:
            if completed:
                await self._finish()
            elif not self.done.is_set():
                # Cancelled (or a bug): the end is still reported, each step within
                # close_timeout and shielded from the cancellation that brought us here.
                with self._shielded() as scope:
                    await self._abort()
                if scope.cancelled_caught:
                    self._note_close_timeout()
                with self._shielded():
                    await self._finish()
        reraise = self._dispatcher.reraise
        release(self)
        if reraise is not None:
            raise reraise

    def _shielded(self) -> trio.CancelScope:
        # close_timeout=None cannot mean "forever" here: the nursery is being cancelled.
        budget = CANCEL_CLEANUP_TIMEOUT if self._close_timeout is None else self._close_timeout
        return trio.CancelScope(shield=True, deadline=trio.current_time() + budget)

    def _set_state(self, new: State) -> None:
        check_transition(self.state, new)
        self.state = new

    async def _connect(self) -> Opened | None:
        try:
            with trio.CancelScope() as self._connect_scope:
                if self._connect_timeout is not None:
                    self._connect_scope.deadline = trio.current_time() + self._connect_timeout
                if self._abandoned:  # close() came first
                    self._connect_scope.cancel()
                opened = await self._open()
                if self._abandoned:
                    # close() came after the handshake's last read, with no checkpoint
                    # left to deliver the cancellation: deliver it here (the scope ends it).
                    await trio.aclose_forcefully(opened.stream)
                    await trio.lowlevel.checkpoint()
                try:
                    self._protocol, self.extensions = make_protocol(
                        opened,
                        self._compression,
                        self._max_message_size,
                        self._max_fragment_size,
                        self.shown_url,
                    )
                except ConnectError:
                    await trio.aclose_forcefully(opened.stream)
                    raise
                return opened
        except WebSocketError as exc:
            self.error = exc
            return None
        finally:
            self._connect_scope = None
        # The scope swallowed its own cancellation: close() or connect_timeout.
        if self._abandoned:
            self.error = ConnectError(
                f"connection attempt to {self.shown_url} abandoned: close() was called "
                "before the connection opened",
                url=self.shown_url,
            )
        else:
            self.error = ConnectTimeout(
                f"connecting to {self.shown_url} timed out after {self._connect_timeout}s",
                url=self.shown_url,
            )
        return None

    async def _open(self) -> Opened:
        """TCP or a tunnel, TLS and the handshake (another engine opens its own way)."""
        return await open_connection(self._url, self._connect_options)

    def _make_sender(self, opened: Opened) -> Sender:
        """The sender task's object (another engine writes its own way)."""
        assert self._protocol is not None
        return Sender(self, Writer(opened.stream, self._busy_poll), self._protocol)

    async def _abort(self) -> None:
        """The cleanup after cancellation (``ending.abort``; another engine's may differ)."""
        await abort(self)

    async def _finish(self) -> None:
        """The end (``ending.finish``)."""
        await finish(self)

    async def _session(self, opened: Opened) -> None:
        self.opened = opened
        self.addresses = stream_addresses(opened.stream)
        assert self._protocol is not None
        self._sender = self._make_sender(opened)
        if opened.trailing:  # a close among them must leave on_open's sends unsent
            self._sender.no_direct_write()
        self._set_state(State.OPEN)
        self.open_at = trio.current_time()
        self.pinger.start(self.keepalive.start(self.open_at))
        self._logger.info("connected to %s", self._url.for_log)
        try:
            async with trio.open_nursery() as nursery:
                self._recv_scope = nursery.cancel_scope  # one scope less per connection
                # The sender task starts at the first frame the reader or send() could
                # not write directly: a connection that never needs it never starts it.
                self._nursery = nursery
                self.wake.starter = self._start_sender
                if not self.reader_ticks:
                    nursery.start_soon(self.pinger.run)
                await self._dispatcher.dispatch(self._ws.on_open, ())
                self._ready = fire(self._ready)
                if self._ws._nursery_cm is not None:
                    # `async with` returns the instance before anything more is read, so
                    # that `async for` in its body misses no message (a server's greeting).
                    await self.entered.wait()
                await self._receive_loop(opened)
                if nursery.child_tasks:  # a nursery that runs none ends quicker uncancelled
                    nursery.cancel_scope.cancel()  # the reading is over: so is the sender's
                return
        finally:
            self.wake.starter = None  # the nursery is closed: abort() writes by itself
            self._nursery = None
        self._note_close_timeout()  # only the scope's own cancellation gets here

    def _start_sender(self) -> None:
        """``wake.starter``: the sender task, in the session's nursery, at the first need."""
        assert self._nursery is not None
        assert self._sender is not None
        self._nursery.start_soon(self._sender.run)

    # ------------------------------------------------------------------ receiving

    async def _receive_loop(self, opened: Opened) -> None:
        """Read until the end; each time the keepalive timer expires, tick and go on."""
        pinger = self.pinger
        pending = opened.trailing  # frames in the handshake answer's read
        assert self._sender is not None
        reads = Reads(opened.stream, self._sender.exchange, self._busy_poll)
        while True:
            with pinger.timer():
                first, pending = pending, b""  # a tick may interrupt _read: `first` is handled
                rest = await self._read(reads, first)
                if rest is None:
                    return
                pending = rest
            pinger.tick()

    async def _read(self, reads: Reads, first: bytes) -> bytes | None:
        """Handle ``first`` (and a backlog a tick interrupted), then read and handle until the
        end (``None``) or until the tick is due as bytes come in (the bytes, not handled: an
        async handler's wait must not meet the timer's expiry)."""
        protocol = self._protocol
        assert protocol is not None
        pinger = self.pinger
        if (first and not protocol.closed) or protocol.backlog:
            await self._received(protocol, first)
        while True:
            if pinger.held:
                pinger.rearm()
            try:
                data = await reads.receive(
                    protocol.keeps_reads, protocol.read_size, protocol.reads_whole
                )
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                self._lost(f"the connection broke: {exc.__cause__ or exc}")
                return None
            if not data:
                self._lost("the server closed the TCP connection without a close frame")
                return None
            if protocol.closed:
                continue  # after a close frame or a violation: only waiting for EOF
            if (now := trio.current_time()) >= pinger.next_tick:  # expired or about to: tick first
                return bytes(data)  # a view of the read buffer is valid until the next read
            await self._received(protocol, data, now)

    async def _received(
        self, protocol: ClientProtocol, data: Buffer, now: float | None = None
    ) -> None:
        """Dispatch the events of ``data``, batch by batch (see ``ClientProtocol.backlog``).

        Between batches the reader checkpoints, so that keepalive and the sender run even
        while one read of tiny frames is processed; each batch's events are dropped before
        the next is parsed, so what one read inflates is held one batch at a time.
        """
        self.keepalive.received(trio.current_time() if now is None else now)
        sender = self._sender
        assert sender is not None
        sender.reading()  # a handler's send() waits for the rest of the read (handled)
        protocol.streaming = bool(self._ws.on_incomplete_frame)
        await self._dispatcher.handle(protocol.receive(data))
        while protocol.backlog:
            handling = sender.pause()
            await trio.lowlevel.checkpoint()
            sender.resume(handling)
            protocol.streaming = bool(self._ws.on_incomplete_frame)
            await self._dispatcher.handle(protocol.receive(b""))
        if in_crowd(self) and sender.deferred():
            # Others receive in this pass too: their writes and this one leave together
            # at the start of the next (``crowd.py``). Shielded: the cancellation, if
            # any, comes at the next read, after what the handlers sent is written.
            await trio.lowlevel.cancel_shielded_checkpoint()
        sender.handled()

    def _on_close_frame(self, code: int, reason: str) -> None:
        if self.state is State.OPEN:
            self._set_state(State.CLOSING)
        self._logger.debug("close frame from %s: %d %r", self._url.for_log, code, reason)
        if self.closing.received(code, reason):
            self.frame_due()  # our close frame echoes it (CloseHandshake.received)
            self._arm_close_timeout(None)
        else:
            self._await_eof()

    def _on_failure(self, failure: Failure) -> None:
        cls = MessageTooBig if failure.code == 1009 else ProtocolError
        error = cls(f"{failure.reason} ({self.shown_url})", url=self.shown_url)
        self.fail(error, failure.code, truncate_reason(failure.reason))

    def _lost(self, what: str) -> None:
        # After the server's close frame, the end of TCP is the expected last step.
        if self.closing.claim_failure():
            self.error = ConnectionLost(f"{what} ({self.shown_url})", url=self.shown_url)

    # ------------------------------------------------------------------ closing

    def _request_close(self, code: int, reason: str, limit: float | None = None) -> None:
        """Ask the sender for a close frame; arm ``close_timeout`` (or ``limit`` if shorter)."""
        if self.closing.ask(code, reason):
            self.frame_due()
        self._arm_close_timeout(limit)

    def _arm_close_timeout(self, limit: float | None) -> None:
        timeout = self._close_timeout
        if limit is not None:
            timeout = limit if timeout is None else min(timeout, limit)
        if timeout is not None:
            deadline = trio.current_time() + timeout
            self._recv_scope.deadline = min(self._recv_scope.deadline, deadline)

    def fail(self, error: WebSocketError, code: int, reason: str = "", flush: bool = False) -> None:
        """A local decision to end the connection: stop delivering, close with ``code``.

        Without ``flush`` (the peer broke the protocol or stopped answering), the queue goes
        ahead of the close frame only when it is small (``CHUNK_SIZE``), and the
        whole attempt is bounded by ``FAIL_TIMEOUT``. The error's message gets what
        happened to the close frame at the end (``_finish``).
        """
        drop_queue = not flush and self.outbox.queued_bytes > CHUNK_SIZE
        if self.closing.fail(code, drop_queue=drop_queue):
            self.error = error
        self._dispatcher.active = False
        if self.state is State.OPEN:
            self._set_state(State.CLOSING)
        self._request_close(code, reason, None if flush else FAIL_TIMEOUT)

    def _await_eof(self) -> None:
        grace = EOF_GRACE if self._close_timeout is None else min(EOF_GRACE, self._close_timeout)
        if self.opened is not None and not getattr(self.opened.stream, "awaits_eof", True):
            # An HTTP/2 stream (H2WebSocketStream.awaits_eof) leaves no TIME_WAIT to hand to
            # the server, and some servers never end theirs: close it now (RFC 8441 6).
            grace = 0.0
        deadline = trio.current_time() + grace
        self._recv_scope.deadline = min(self._recv_scope.deadline, deadline)

    def _note_close_timeout(self) -> None:
        if not self.closing.claim_failure():
            return  # the handshake completed; only the wait for the server's EOF ran out
        sent = self.closing.sent
        after = f" after sending close {sent[0]}" if sent else ""
        self.error = CloseTimeout(
            f"close handshake with {self.shown_url} timed out{after} "
            f"(close_timeout={self._close_timeout}s)",
            url=self.shown_url,
        )
