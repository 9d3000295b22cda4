"""What a caller sees when it uses the API in the wrong order (issue 16, items 13 and 14)."""

from __future__ import annotations

import logging

import pytest
import trio
from recorder import Recorder, run_to_end

from trio_ws_events import InvalidStateError, State, WebSocket


async def test_wait_closed_right_after_open_waits_and_before_open_says_what_to_do(
    echo_url: str,
) -> None:
    """wait_closed() before open() says to call open() first; right after open() it works."""
    ws = WebSocket(echo_url)
    with pytest.raises(InvalidStateError) as info:
        await ws.wait_closed()
    assert "open() was never called" in str(info.value)
    assert "call open(nursery) first" in str(info.value)
    assert "on_open" not in str(info.value)
    ws.on_open += lambda ws: ws.close()
    await run_to_end(ws, 10)
    assert ws.close_code == 1000


async def test_send_right_after_open_raises_and_logs_no_advice_about_on_error(
    echo_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """send() right after open() raises InvalidStateError saying to send from on_open; the
    cancelled attempt that follows logs no warning pointing at on_error."""
    caplog.set_level(logging.DEBUG, logger="trio_ws_events")
    ws = WebSocket(echo_url)
    with pytest.RaisesGroup(InvalidStateError) as info:
        async with trio.open_nursery() as nursery:
            ws.open(nursery)
            ws.send("too early")
    error = info.value.exceptions[0]
    assert "not open yet (CONNECTING)" in str(error)
    assert "from an on_open handler" in str(error)
    assert ws.state is State.CLOSED
    records = [r for r in caplog.records if r.name == "trio_ws_events"]
    assert not [r for r in records if r.levelno >= logging.WARNING]
    assert not [r for r in records if "register on_error" in r.getMessage()]
    assert [r for r in records if "cancelled from outside" in r.getMessage()]


async def test_second_open_raises_synchronously_before_any_task_starts(echo_url: str) -> None:
    """A second open() raises InvalidStateError at the call, starts no task and changes
    nothing, so a try/except in the nursery's body catches it bare."""
    ws = WebSocket(echo_url)
    rec = Recorder(ws)
    ws.on_open += lambda ws: ws.close()
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            ws.open(nursery)
            tasks = len(nursery.child_tasks)
            with pytest.raises(InvalidStateError, match="cannot be reused"):
                ws.open(nursery)
            assert len(nursery.child_tasks) == tasks
            assert ws.state is State.CONNECTING
            await ws.wait_closed()
    assert rec.names == ["open", "closed"]


async def test_second_open_left_uncaught_leaves_the_nursery_in_an_exception_group(
    echo_url: str,
) -> None:
    """Uncaught in the nursery's body, that InvalidStateError leaves the nursery wrapped in an
    ExceptionGroup (trio's rule for a nursery's body), and the first connection still ends."""
    ws = WebSocket(echo_url)
    rec = Recorder(ws)
    with trio.fail_after(10), pytest.RaisesGroup(InvalidStateError):
        async with trio.open_nursery() as nursery:
            ws.open(nursery)
            ws.open(nursery)
    assert ws.state is State.CLOSED
    rec.assert_terminal_once()


async def test_async_with_a_second_time_raises_bare(echo_url: str) -> None:
    """Entering ``async with ws`` again raises InvalidStateError itself, not a group: it is
    raised before any nursery opens."""
    ws = WebSocket(echo_url)
    with trio.fail_after(10):
        async with ws:
            pass
        with pytest.raises(InvalidStateError, match="cannot be reused"):
            async with ws:
                pass
