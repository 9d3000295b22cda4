"""Property tests (hypothesis): the frame protocol under any split or any bytes, and the public
API under any sequence of calls.

The protocol properties feed :class:`ClientProtocol` directly, without I/O. The API properties
drive a real :class:`WebSocket` against the embedded echo server: each example is one
``trio.run`` (hypothesis and pytest-trio do not share an event loop), so the test functions
are synchronous.
"""

from __future__ import annotations

import dataclasses
import itertools
import random
import zlib
from typing import Any

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import event as note
from hypothesis import strategies as st
from peers.raw_server import Opcode, build_frame, close_payload
from recorder import Recorder

from trio_ws_events import (
    InvalidStateError,
    SendBufferFull,
    State,
    WebSocket,
)
from trio_ws_events._events import Frame
from trio_ws_events._sansio.deflate import DeflateParams, Inflater
from trio_ws_events._sansio.events import (
    BinaryMessage,
    CloseReceived,
    Failure,
    Ping,
    Pong,
    ProtocolEvent,
    TextMessage,
)
from trio_ws_events._sansio.protocol import ClientProtocol
from trio_ws_events.testing import serve_echo

PROTOCOL_SETTINGS = settings(max_examples=200, deadline=None, database=None)
API_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# ---------------------------------------------------------------- valid frame streams


@dataclasses.dataclass
class Stream:
    """Server bytes and the events they must produce (reassembly mode)."""

    wire: bytes
    events: list[ProtocolEvent]
    compressed: bool

    @property
    def messages(self) -> list[str | bytes]:
        return [e.data for e in self.events if isinstance(e, TextMessage | BinaryMessage)]

    @property
    def controls(self) -> list[ProtocolEvent]:
        return [e for e in self.events if isinstance(e, Ping | Pong | CloseReceived)]


_SIZES = st.one_of(st.integers(0, 300), st.sampled_from([125, 126, 127, 65535, 65536, 70000]))
_CONTROL_PAYLOADS = st.binary(max_size=125)


@st.composite
def streams(draw: st.DrawFn, compression: bool = False) -> Stream:
    """A valid stream: data messages (whole or fragmented, some compressed), pings and pongs
    between and inside them, and perhaps a close frame at the end."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    wire: list[bytes] = []
    events: list[ProtocolEvent] = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["text", "binary", "ping", "pong"]))
        if kind in ("ping", "pong"):
            payload = draw(_CONTROL_PAYLOADS)
            wire.append(build_frame(Opcode.PING if kind == "ping" else Opcode.PONG, payload))
            events.append(Ping(payload) if kind == "ping" else Pong(payload))
            continue
        size = draw(_SIZES)
        rng = random.Random(draw(st.integers(0, 2**32)))
        if kind == "text":
            text = draw(st.text(max_size=60)) * (1 + size // 60)
            body = text.encode()
            opcode = Opcode.TEXT
            message: ProtocolEvent = TextMessage(text)
        else:
            body = rng.randbytes(size)
            opcode = Opcode.BINARY
            message = BinaryMessage(body)
        compress = compression and draw(st.booleans())
        if compress:
            out = compressor.compress(body) + compressor.flush(zlib.Z_SYNC_FLUSH)
            body = out[:-4]
        _fragmented(draw, opcode, body, 4 if compress else 0, wire, events)
        events.append(message)
    if draw(st.booleans()):
        code = draw(st.sampled_from([1000, 1001, 1011, 3000, 4999]))
        reason = draw(st.text(max_size=20))
        wire.append(build_frame(Opcode.CLOSE, close_payload(code, reason)))
        events.append(CloseReceived(code, reason))
    return Stream(b"".join(wire), events, compression)


def _fragmented(
    draw: st.DrawFn,
    opcode: int,
    body: bytes,
    rsv: int,
    wire: list[bytes],
    events: list[ProtocolEvent],
) -> None:
    """Append ``body`` to ``wire`` as a message cut at drawn points, perhaps with pings between
    its fragments (their events go to ``events``); ``rsv`` is set on the first frame only."""
    cuts = sorted(set(draw(st.lists(st.integers(0, len(body)), max_size=4))))
    bounds = [0, *cuts, len(body)]
    pieces = [body[a:b] for a, b in itertools.pairwise(bounds)]
    for index, piece in enumerate(pieces):
        first, last = index == 0, index == len(pieces) - 1
        opcode_here = opcode if first else Opcode.CONTINUATION
        wire.append(build_frame(opcode_here, piece, fin=last, rsv=rsv if first else 0))
        if not last and draw(st.booleans()):
            ping = draw(_CONTROL_PAYLOADS)
            wire.append(build_frame(Opcode.PING, ping))
            events.append(Ping(ping))


def split(data: bytes, sizes: list[int]) -> list[bytes]:
    """``data`` cut in chunks of ``sizes`` (cycled), the last one what remains."""
    chunks = []
    pos = 0
    index = 0
    while pos < len(data):
        size = sizes[index % len(sizes)] if sizes else len(data)
        chunks.append(data[pos : pos + size])
        pos += size
        index += 1
    return chunks


_SPLITS = st.lists(st.integers(1, 400), max_size=8)


def protocol(compressed: bool, streaming: bool = False, **options: Any) -> ClientProtocol:
    inflater = Inflater(DeflateParams()) if compressed else None
    proto = ClientProtocol(max_message_size=None, inflater=inflater, **options)
    proto.streaming = streaming
    return proto


def feed(proto: ClientProtocol, chunks: list[bytes]) -> list[ProtocolEvent]:
    events: list[ProtocolEvent] = []
    for chunk in chunks:
        events += proto.receive(chunk)
        while proto.backlog:  # a batch ended early: the rest before the next read
            events += proto.receive(b"")
    return events


@PROTOCOL_SETTINGS
@given(stream=st.booleans().flatmap(streams), sizes=_SPLITS)
def test_protocol_any_split_gives_the_same_events(stream: Stream, sizes: list[int]) -> None:
    """However a valid stream is cut into reads, reassembly yields exactly the same events."""
    proto = protocol(stream.compressed)
    assert feed(proto, split(stream.wire, sizes)) == stream.events


@PROTOCOL_SETTINGS
@given(stream=st.booleans().flatmap(streams), sizes=_SPLITS)
def test_protocol_streaming_any_split_gives_the_same_messages(
    stream: Stream, sizes: list[int]
) -> None:
    """Streaming: whole messages and joined pieces are the same messages, in order, with the
    control frames in the same order; each streamed message ends with one final piece."""
    events = feed(protocol(stream.compressed, streaming=True), split(stream.wire, sizes))
    messages: list[str | bytes] = []
    pending: list[Frame] = []
    for event in events:
        if isinstance(event, TextMessage | BinaryMessage):
            assert not pending, "a whole message inside a streamed one"
            messages.append(event.data)
        elif isinstance(event, Frame):
            assert not pending or pending[0].is_text == event.is_text
            pending.append(event)
            if event.final:
                messages.append(joined(pending))
                pending = []
    assert not pending
    assert messages == stream.messages
    assert [e for e in events if isinstance(e, Ping | Pong | CloseReceived)] == stream.controls


def joined(pieces: list[Frame]) -> str | bytes:
    """The pieces of one streamed message put back together."""
    if pieces[0].is_text:
        return "".join(p.data for p in pieces if isinstance(p.data, str))
    return b"".join(p.data for p in pieces if isinstance(p.data, bytes))


def _check_ending(events: list[ProtocolEvent], proto: ClientProtocol) -> None:
    ends = [i for i, e in enumerate(events) if isinstance(e, Failure | CloseReceived)]
    assert len(ends) <= 1, events
    if ends:
        assert ends[0] == len(events) - 1, "an event after the end"
        assert proto.closed
        ending = events[-1]
        if isinstance(ending, Failure):
            assert ending.code in (1002, 1007, 1009)
    for event in events:
        assert isinstance(
            event, TextMessage | BinaryMessage | Frame | Ping | Pong | CloseReceived | Failure
        )


_MAX_SIZES = st.sampled_from([None, 1, 100, 2**20])


@PROTOCOL_SETTINGS
@given(
    data=st.binary(max_size=2000),
    sizes=_SPLITS,
    compressed=st.booleans(),
    streaming=st.booleans(),
    max_size=_MAX_SIZES,
)
def test_protocol_random_bytes_never_raise(
    data: bytes, sizes: list[int], compressed: bool, streaming: bool, max_size: int | None
) -> None:
    """Random bytes produce events and at most one Failure (1002/1007/1009), last; never an
    exception; nothing after a close frame or a failure, even when more bytes come."""
    proto = ClientProtocol(
        max_message_size=max_size, inflater=Inflater(DeflateParams()) if compressed else None
    )
    proto.streaming = streaming
    events = feed(proto, split(data, sizes))
    _check_ending(events, proto)
    if proto.closed:
        assert proto.receive(data or b"\x81\x00") == []


@PROTOCOL_SETTINGS
@given(
    stream=st.booleans().flatmap(streams),
    mutations=st.lists(st.tuples(st.integers(0, 2**31), st.integers(0, 255)), max_size=4),
    sizes=_SPLITS,
    streaming=st.booleans(),
)
def test_protocol_corrupted_stream_never_raises(
    stream: Stream, mutations: list[tuple[int, int]], sizes: list[int], streaming: bool
) -> None:
    """A valid stream with a few bytes overwritten: events, perhaps one Failure, no exception;
    what the bytes before the first change produce comes first, unchanged."""
    wire = bytearray(stream.wire)
    for position, value in mutations:
        if wire:
            wire[position % len(wire)] = value
    proto = protocol(stream.compressed, streaming)
    events = feed(proto, split(bytes(wire), sizes))
    _check_ending(events, proto)
    if not streaming:
        changed = [i for i, (a, b) in enumerate(zip(wire, stream.wire, strict=True)) if a != b]
        intact = stream.wire[: changed[0]] if changed else stream.wire
        before = feed(protocol(stream.compressed), [intact])
        assert events[: len(before)] == before


# ---------------------------------------------------------------- the public API


_SURROGATES = st.text(alphabet=st.characters(codec=None, categories=["Cs"]), min_size=1)
_WRONG_TYPES = st.sampled_from([None, 1, 2.5, True, ["x"], {"a": 1}, ("b",), object()])
_PAYLOADS = st.one_of(
    st.text(max_size=200),
    st.binary(max_size=2000),
    st.binary(max_size=200).map(bytearray),
    st.binary(max_size=200).map(lambda b: memoryview(b)),
    st.builds(lambda s, t: s + t, st.text(max_size=5), _SURROGATES),
    _WRONG_TYPES,
)
_CODES = st.one_of(
    st.sampled_from([1000, 1001, 1002, 1003, 1007, 1011, 1014, 3000, 4000, 4999]),
    st.integers(-5, 70_000),
    st.sampled_from([1004, 1005, 1006, 1015, 2999, 5000, True, 1000.0, None, "1000"]),
)
_REASONS = st.one_of(
    st.text(max_size=40),
    st.text(min_size=100, max_size=200),
    st.text(alphabet="é東😀", min_size=30, max_size=50),  # past 123 bytes once encoded
    _SURROGATES,
    st.sampled_from([None, b"bytes", 1]),
)
_START = st.sampled_from([[], [("open",)], [("open",), ("wait-open",)]])
_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("open")),
        st.tuples(st.just("open-bad")),
        st.tuples(st.just("send"), _PAYLOADS),
        st.tuples(st.just("close"), _CODES, _REASONS),
        st.tuples(st.just("sleep"), st.sampled_from([0, 0.001, 0.01])),
        st.tuples(st.just("wait-open")),
        st.tuples(st.just("drain")),
        st.tuples(st.just("wait-echoes")),
    ),
    max_size=14,
)

_ORDER = [State.INITIAL, State.CONNECTING, State.OPEN, State.CLOSING, State.CLOSED]
_SENDABLE = set(range(1000, 1004)) | set(range(1007, 1015)) | set(range(3000, 5000))


def _expected_send_error(ws: WebSocket, data: object, limit: int) -> type[Exception] | None:
    """What ``send(data)`` must raise now, per its documentation."""
    if not isinstance(data, str | bytes | bytearray | memoryview):
        return TypeError
    if ws.state is not State.OPEN:
        return InvalidStateError
    if isinstance(data, str):
        try:
            size = len(data.encode())
        except UnicodeEncodeError:
            return ValueError
    else:
        size = len(bytes(data))
    if ws.buffered_amount and ws.buffered_amount + size > limit:
        return SendBufferFull
    return None


def _expected_close_error(code: object, reason: object) -> type[Exception] | None:
    """What ``close(code, reason)`` must raise, per its documentation (in any state)."""
    if not isinstance(code, int) or isinstance(code, bool):
        return TypeError
    if code not in _SENDABLE:
        return ValueError
    if not isinstance(reason, str):
        return TypeError
    try:
        encoded = reason.encode()
    except UnicodeEncodeError:
        return ValueError
    return ValueError if len(encoded) > 123 else None


def _check_invariants(ws: WebSocket, rec: Recorder, states: list[State]) -> None:
    state = ws.state
    assert _ORDER.index(state) >= _ORDER.index(states[-1]), (states, state)
    states.append(state)
    assert ws.is_open == (state is State.OPEN)
    assert (ws.close_code is None) == (state is not State.CLOSED)
    assert (ws.close_reason is None) == (state is not State.CLOSED)
    terminal = [name for name in rec.names if name in ("closed", "error")]
    assert len(terminal) <= 1, rec.events
    if terminal:
        assert rec.names[-1] == terminal[0]
        assert state is State.CLOSED
    if ws.unsent:
        assert terminal, "unsent filled in before the terminal event"
    if "open" in rec.names:
        assert rec.names.index("open") == 0
        assert rec.names.count("open") == 1
    assert ws.buffered_amount >= 0


@dataclasses.dataclass
class _Session:
    """One WebSocket driven by a list of operations, and what the checks need to know."""

    ws: WebSocket
    rec: Recorder
    nursery: trio.Nursery
    limit: int
    opened: trio.Event = dataclasses.field(default_factory=trio.Event)
    accepted: list[str | bytes] = dataclasses.field(default_factory=list)
    expected: type[Exception] | None = None

    async def apply(self, op: tuple[Any, ...]) -> tuple[type[Exception] | None, Exception | None]:
        """Run ``op``; return the error it must raise per the documentation (or None) and the
        documented error it raised (anything else propagates and fails the example)."""
        self.expected = None
        try:
            await self._call(op)
        except (TypeError, ValueError, InvalidStateError, SendBufferFull) as exc:
            return self.expected, exc
        return self.expected, None

    async def _call(self, op: tuple[Any, ...]) -> None:
        """Run ``op``, setting ``expected`` before the call that may raise."""
        ws, name = self.ws, op[0]
        if name in ("open", "open-bad"):
            initial = ws.state is State.INITIAL
            self.expected = None if initial else InvalidStateError
            if name == "open-bad" and initial:
                self.expected = TypeError
            ws.open(self.nursery if name == "open" else None)  # type: ignore[arg-type]
        elif name == "send":
            self.expected = _expected_send_error(ws, op[1], self.limit)
            ws.send(op[1])
            self.accepted.append(op[1] if isinstance(op[1], str) else bytes(op[1]))
        elif name == "close":
            self.expected = _expected_close_error(op[1], op[2])
            ws.close(op[1], op[2])
        else:
            with trio.fail_after(10):
                await self._wait(op)

    async def _wait(self, op: tuple[Any, ...]) -> None:
        ws = self.ws
        if op[0] == "sleep":
            await trio.sleep(op[1])
        elif op[0] == "wait-open" and ws.state is not State.INITIAL:
            while not self.opened.is_set() and ws.state is not State.CLOSED:
                await trio.sleep(0.001)
        elif op[0] == "wait-echoes":
            while ws.is_open and len(self.rec.messages) < len(self.accepted):
                await trio.sleep(0.001)
        elif op[0] == "drain":
            await ws.drain()


async def _run_ops(url: str, ops: list[tuple[Any, ...]], limit: int) -> None:
    ws = WebSocket(url, max_buffered_amount=limit, close_timeout=2)
    rec = Recorder(ws)
    states = [ws.state]
    async with trio.open_nursery() as nursery:
        session = _Session(ws, rec, nursery, limit)
        ws.on_open += lambda ws: session.opened.set()
        for op in ops:
            expected, raised = await session.apply(op)
            assert type(raised) is (expected or type(None)), f"{op!r}: {raised!r}, not {expected}"
            if isinstance(raised, InvalidStateError | SendBufferFull):
                assert raised.code is None  # misuse ends nothing
                assert ws.url in str(raised)
            _check_invariants(ws, rec, states)
        if ws.state is State.INITIAL:
            assert rec.events == []
            assert ws.unsent == ()
            return
        ws.close()
        with trio.fail_after(10):
            await ws.wait_closed()
        _check_invariants(ws, rec, states)
    _check_accepted(ws, rec, session.accepted)


def _check_accepted(ws: WebSocket, rec: Recorder, accepted: list[str | bytes]) -> None:
    """One terminal event; every accepted message was written or is listed in unsent, in
    order; the echoes that came back are the first ones sent."""
    rec.assert_terminal_once()
    assert ws.state is State.CLOSED
    note(f"ended with {rec.names[-1]}, {'opened' if 'open' in rec.names else 'never opened'}")
    note(f"accepted {min(len(accepted), 3)}+ messages, {len(rec.messages) > 0} echoed")
    written = ws.stats.messages_sent
    assert list(ws.unsent) == accepted[written:]
    assert rec.messages == accepted[: len(rec.messages)]
    if rec.names[-1] == "error":
        assert rec.error.unsent == ws.unsent


@API_SETTINGS
@given(
    ops=st.tuples(_START, _OPS).map(lambda pair: pair[0] + pair[1]),
    limit=st.sampled_from([512, 4096, 2**20]),
)
def test_api_any_call_sequence_keeps_the_contract(ops: list[tuple[Any, ...]], limit: int) -> None:
    """Any sequence of open / send / close / waits, with any payload, code and reason: only
    the documented errors, state and events always consistent, one terminal event, and every
    accepted message written or in ``unsent``."""

    async def main() -> None:
        async with trio.open_nursery() as server:
            url: str = await server.start(serve_echo)
            await _run_ops(url, ops, limit)
            server.cancel_scope.cancel()

    trio.run(main)


async def test_send_text_with_lone_surrogate_is_value_error(echo_url: str) -> None:
    """A str that UTF-8 cannot encode is refused with a plain ValueError naming the problem,
    and nothing is queued (found by the property test above)."""
    async with WebSocket(echo_url) as ws:
        for bad in ("\ud800", "ok \udfff"):
            with pytest.raises(ValueError, match="surrogate") as info:
                ws.send(bad)
            assert type(info.value) is ValueError
            assert ws.buffered_amount == 0
        ws.send("fine")
