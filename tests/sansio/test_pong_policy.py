"""The pong policy of the sans-I/O protocol: pongs owed, bounded, none after our close."""

from __future__ import annotations

import tracemalloc

from trio_ws_events._sansio.events import MAX_PENDING_PONGS, PendingPongs, Ping
from trio_ws_events._sansio.frames import OP_PING, OP_PONG, FrameReader, encode_frame
from trio_ws_events._sansio.protocol import ClientProtocol


def _pong_payloads(protocol: ClientProtocol) -> list[bytes]:
    """The payloads of the pong frames the protocol writes now, read back as a server would."""
    reader = FrameReader(b"".join(wire[0] for wire in protocol.pong_frames()))
    payloads = []
    while (frame := reader.next_frame()) is not None:
        assert frame.opcode == OP_PONG
        assert frame.masked
        payloads.append(frame.payload)
    return payloads


def test_protocol_owes_a_pong_per_ping_and_reports_the_ping() -> None:
    """Each ping is an event and a pong owed; pong_frames answers them in order, once."""
    protocol = ClientProtocol()
    events = protocol.receive(encode_frame(OP_PING, b"a") + encode_frame(OP_PING, b"b"))
    assert events == [Ping(b"a"), Ping(b"b")]
    assert len(protocol.pongs) == 2
    assert _pong_payloads(protocol) == [b"a", b"b"]
    assert not protocol.pongs
    assert protocol.pong_frames() == []


def test_protocol_pongs_owed_are_bounded_newest_kept() -> None:
    """A ping flood leaves at most MAX_PENDING_PONGS owed, the most recent ones."""
    protocol = ClientProtocol()
    flood = b"".join(encode_frame(OP_PING, str(i).encode()) for i in range(1000))
    events = protocol.receive(flood)
    assert len(events) == 1000
    assert len(protocol.pongs) == MAX_PENDING_PONGS
    assert _pong_payloads(protocol) == [
        str(i).encode() for i in range(1000 - MAX_PENDING_PONGS, 1000)
    ]


def test_protocol_owes_no_pong_once_our_close_frame_is_built() -> None:
    """After close(), earlier pongs are dropped and later pings are reported, not owed."""
    protocol = ClientProtocol()
    protocol.receive(encode_frame(OP_PING, b"early"))
    protocol.close(1000)
    assert not protocol.pongs
    assert protocol.receive(encode_frame(OP_PING, b"late")) == [Ping(b"late")]
    assert not protocol.pongs


def test_pending_pongs_allocate_nothing_until_a_ping() -> None:
    """Owing no pong costs no deque (W5 counts the memory of idle connections); the first
    ping makes one, and taking the pongs leaves the count at zero."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        pongs = [PendingPongs() for _ in range(100)]
        per_object = (tracemalloc.get_traced_memory()[0] - before) / 100
    finally:
        tracemalloc.stop()
    assert per_object < 200
    first = pongs[0]
    assert not first
    assert len(first) == 0
    assert first.take() == []
    first.add(b"p")
    assert len(first) == 1
    assert first.take() == [b"p"]
    assert not first
