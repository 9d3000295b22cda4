"""The close handshake decided without I/O: who closes, what is echoed, which ending wins."""

from __future__ import annotations

import pytest

from trio_ws_events._sansio.closing import CloseHandshake, truncate_reason
from trio_ws_events._sansio.events import CloseReceived
from trio_ws_events._sansio.frames import (
    MAX_CLOSE_REASON,
    OP_CLOSE,
    FrameReader,
    decode_close,
    encode_frame,
)
from trio_ws_events._sansio.protocol import ClientProtocol


def _sent_close(protocol: ClientProtocol, code: int, reason: str) -> bytes:
    """The payload of the close frame ``protocol`` builds for ``(code, reason)``."""
    wire = protocol.close(code, reason)
    assert len(wire) == 1, "a control frame is one piece of bytes"
    reader = FrameReader(wire[0])
    frame = reader.next_frame()
    assert frame is not None
    assert frame.opcode == OP_CLOSE
    return frame.payload


def test_closing_own_close_waits_for_the_queue() -> None:
    """Our own close frame is framed only once the queue is empty, then counts as sent."""
    closing = CloseHandshake()
    assert closing.ask(1000, "bye")
    assert closing.close_due(queue_empty=False) is None
    assert closing.sends_data
    assert closing.close_due(queue_empty=True) == (1000, "bye")
    assert closing.sent == (1000, "bye")
    assert closing.close_due(queue_empty=True) is None
    assert not closing.ask(4000, "again"), "a second close asks for nothing"
    assert not closing.owes_pongs
    assert not closing.sends_data


def test_closing_peer_close_is_echoed_before_the_queue() -> None:
    """The peer's close is answered with its code and reason at once: the queue stays."""
    closing = CloseHandshake()
    assert closing.received(4001, "going")
    assert closing.by_server
    assert not closing.sends_data, "no message after the peer's close"
    assert closing.owes_pongs, "pings before its close are still answered"
    assert closing.close_due(queue_empty=False) == (4001, "going")
    assert closing.close_written(), "then only the end of the stream is left"


def test_closing_peer_close_without_code_is_answered_with_an_empty_frame() -> None:
    """A close frame with no code is reported as 1005 and answered with no code either."""
    protocol = ClientProtocol()
    (event,) = protocol.receive(encode_frame(OP_CLOSE, b""))
    assert event == CloseReceived(1005, "")
    closing = CloseHandshake()
    assert closing.received(event.code, event.reason)
    code, reason = closing.close_due(queue_empty=True) or (0, "")
    assert code == 1005
    assert _sent_close(ClientProtocol(), code, reason) == b""
    assert decode_close(b"") == (1005, "")


def test_closing_peer_reply_after_our_close_completes_the_handshake() -> None:
    """After our close, the peer's close asks for nothing more: the client closed first."""
    closing = CloseHandshake()
    closing.ask(1000, "")
    closing.close_due(queue_empty=True)
    assert not closing.close_written(), "our close is out: wait for the peer's"
    assert not closing.received(1000, "")
    assert not closing.by_server
    assert closing.reported() == (1000, "")


def test_closing_failure_skips_a_large_queue_and_is_the_ending_once() -> None:
    """Failing without a flush frames the close next; the first ending wins."""
    closing = CloseHandshake()
    assert closing.fail(1002, drop_queue=True)
    assert closing.failing
    assert not closing.owes_pongs
    assert not closing.sends_data
    closing.ask(1002, "bad frame")
    assert closing.close_due(queue_empty=False) == (1002, "bad frame")
    assert not closing.fail(1011, drop_queue=False), "a second failure changes nothing"
    assert closing.fail_code == 1002
    assert not closing.claim_failure(), "a lost socket after it is not the ending either"
    assert closing.close_written()
    assert closing.reported() == (1002, "bad frame")
    assert closing.failure_note() == "; closed with 1002"


def test_closing_failure_after_the_peer_close_is_not_the_ending() -> None:
    """Once the peer's close arrived, a failure or a loss does not replace the handshake."""
    closing = CloseHandshake()
    closing.received(1000, "")
    assert not closing.fail(1011, drop_queue=False)
    assert not closing.claim_failure()
    assert closing.fail_code is None


def test_closing_unwritten_close_reports_1006() -> None:
    """A close frame framed but never written reports 1006, and the note says so."""
    closing = CloseHandshake()
    closing.fail(1011, drop_queue=False)
    closing.ask(1011, "")
    closing.close_due(queue_empty=True)
    assert closing.reported() == (1006, "")
    assert "could not be written in time" in closing.failure_note()
    assert "1011" in closing.failure_note()


def test_closing_going_away_keeps_an_earlier_request() -> None:
    """Cancellation asks for 1001 only when no close was asked for before."""
    fresh = CloseHandshake()
    fresh.going_away()
    assert fresh.request == (1001, "")
    asked = CloseHandshake()
    asked.ask(4000, "mine")
    asked.going_away()
    assert asked.request == (4000, "mine")


def test_closing_keepalive_stops_once_either_side_closes() -> None:
    """``closing`` is true after our request or the peer's close, not before."""
    closing = CloseHandshake()
    assert not closing.closing
    closing.received(1000, "")
    assert closing.closing


@pytest.mark.parametrize(
    ("reason", "size"),
    [("x" * 200, MAX_CLOSE_REASON), ("é" * 62, 122), ("short", 5)],
)
def test_truncate_reason_fits_a_close_frame_without_splitting_a_character(
    reason: str, size: int
) -> None:
    """A reason is cut to 123 UTF-8 bytes at most, at a character boundary."""
    cut = truncate_reason(reason)
    assert len(cut.encode("utf-8")) == size
    assert reason.startswith(cut)
