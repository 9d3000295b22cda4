"""The sans-I/O pieces: state transitions and the outgoing queue's accounting."""

from __future__ import annotations

import pytest

from trio_ws_events import State
from trio_ws_events._sansio.outbox import Outbox, payload_size
from trio_ws_events._sansio.state import check_transition


def test_lifecycle_moves() -> None:
    """Only the documented moves are legal; CLOSED is final."""
    check_transition(State.INITIAL, State.CONNECTING)
    check_transition(State.CONNECTING, State.CLOSED)
    check_transition(State.OPEN, State.CLOSING)
    for target in State:
        with pytest.raises(AssertionError):
            check_transition(State.CLOSED, target)
    with pytest.raises(AssertionError, match="INITIAL -> OPEN"):
        check_transition(State.INITIAL, State.OPEN)


def test_payload_size_counts_utf8_bytes() -> None:
    """Text counts its UTF-8 bytes, not its characters."""
    assert payload_size("abc") == 3
    assert payload_size("é€😀") == 2 + 3 + 4
    assert payload_size(b"\x00" * 7) == 7


def test_outbox_batches_and_accounts() -> None:
    """take() moves at least one message; written() releases the bytes; unsent() keeps order."""
    box = Outbox()
    messages: list[str | bytes] = ["a" * 10, b"b" * 10, "c" * 10]
    for message in messages:
        box.put(message)
    assert box.buffered_amount == 30
    batch = box.take(15)
    assert batch == ["a" * 10, b"b" * 10]
    # Taken but not confirmed: still buffered and still reported as unsent.
    assert box.buffered_amount == 30
    assert box.unsent() == ("a" * 10, b"b" * 10, "c" * 10)
    box.written()
    assert box.buffered_amount == 10
    assert box.unsent() == ("c" * 10,)
    assert box.take(1) == ["c" * 10]
    box.written()
    assert box.buffered_amount == 0
    assert not box
    assert box.take(100) == []


def test_outbox_large_message_goes_alone() -> None:
    """A message bigger than the batch limit still moves, alone."""
    box = Outbox()
    box.put(b"x" * 1000)
    box.put(b"y")
    assert box.take(10) == [b"x" * 1000]


def test_outbox_in_flight_and_queued_bytes_tell_the_batch_from_the_queue() -> None:
    """in_flight says a batch awaits confirmation; queued_bytes counts only what was not taken
    (what failing the connection may still flush), buffered_amount counts both."""
    box = Outbox()
    box.put(b"x" * 100)
    box.put("y" * 50)
    assert not box.in_flight
    assert box.queued_bytes == 150
    box.take(10)
    assert box.in_flight
    assert box.queued_bytes == 50
    assert box.buffered_amount == 150
    box.written()
    assert not box.in_flight
    assert box.queued_bytes == box.buffered_amount == 50
