"""Readers that receive in one scheduler pass write their handlers' replies after it, together
(``_trio/crowd.py``); a lone reader writes at once."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Callable

import pytest
import trio
import trio.testing
from conftest import StartWebSocketsServer

from trio_ws_events import WebSocket
from trio_ws_events._sansio.events import Buffer
from trio_ws_events._trio import socket_writes
from trio_ws_events._trio.crowd import WINDOW, in_crowd


def test_a_crowd_is_another_readers_read_within_the_window() -> None:
    """Another connection's read less than WINDOW before is a crowd; the same connection's,
    or one longer ago, is not; each thread (each Trio run) has its own."""
    a, b = object(), object()
    in_crowd(a, 0.0)  # the state another test left
    assert not in_crowd(a, 1000.0)
    assert not in_crowd(a, 1000.0 + WINDOW / 10)  # the same reader again
    assert in_crowd(b, 1000.0 + WINDOW / 5)
    assert in_crowd(a, 1000.0 + WINDOW / 2)
    assert not in_crowd(b, 1000.0 + 3 * WINDOW)  # long after: alone
    seen: list[bool] = []
    thread = threading.Thread(target=lambda: seen.append(in_crowd(a, 1000.0 + 3 * WINDOW)))
    thread.start()
    thread.join()
    assert seen == [False]  # b's read was in the other thread


class StepLog(trio.abc.Instrument):
    """Numbers the task steps, so that a test can tell what ran in the same step."""

    def __init__(self) -> None:
        self.step = 0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self.step += 1


@pytest.fixture
async def steps() -> AsyncIterator[StepLog]:
    log = StepLog()
    trio.lowlevel.add_instrument(log)
    yield log
    trio.lowlevel.remove_instrument(log)


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch, steps: StepLog) -> list[int]:
    """The step of every direct write to a plain socket (``Writer.write_some``)."""
    done: list[int] = []
    real = socket_writes.Writer.write_some

    def write_some(self: socket_writes.Writer, buffers: list[Buffer]) -> int:
        done.append(steps.step)
        return real(self, buffers)

    monkeypatch.setattr(socket_writes.Writer, "write_some", write_some)
    return done


def replier(
    handled: list[int], steps: StepLog, replies: int
) -> tuple[Callable[[WebSocket, str], None], trio.Event]:
    """An on_message handler that answers each echo until ``replies`` were answered."""
    done = trio.Event()
    answered = 0

    def on_message(ws: WebSocket, message: str) -> None:
        nonlocal answered
        if answered == replies:
            done.set()
            return
        handled.append(steps.step)
        answered += 1
        ws.send(message)

    return on_message, done


async def test_readers_of_one_pass_write_after_it(
    websockets_server: StartWebSocketsServer, steps: StepLog, writes: list[int]
) -> None:
    """Three connections whose echoes arrive in one pass: the replies of the second and the
    third reader are written after the last handler ran (the first reader cannot know that
    others follow it; readers that wrote at once would write between the handlers)."""
    url = await websockets_server()
    handled: list[int] = []
    repliers = [replier(handled, steps, 1) for _ in range(3)]
    async with (
        WebSocket(url, busy_poll=0) as a,
        WebSocket(url, busy_poll=0) as b,
        WebSocket(url, busy_poll=0) as c,
    ):
        for ws, (on_message, _) in zip((a, b, c), repliers, strict=True):
            ws.on_message += on_message
        await trio.testing.wait_all_tasks_blocked()  # every reader waits in epoll
        for ws in (a, b, c):
            ws.send("m")
        # The run blocked on purpose: all echoes are there at its next epoll_wait.
        time.sleep(0.2)  # noqa: ASYNC251
        del writes[:]
        with trio.fail_after(5):
            for _, done in repliers:
                await done.wait()
        assert len(handled) == 3
        assert len(writes) == 3
        assert sum(step < max(handled) for step in writes) <= 1


async def test_a_lone_reader_writes_in_the_step_it_handled_the_read(
    websockets_server: StartWebSocketsServer, steps: StepLog, writes: list[int]
) -> None:
    """One connection's reply is written in the step that ran its handler: no pass waited."""
    url = await websockets_server()
    handled: list[int] = []
    on_message, done = replier(handled, steps, 3)
    async with WebSocket(url, busy_poll=0) as ws:
        ws.on_message += on_message
        del writes[:]
        ws.send("x")
        with trio.fail_after(5):
            await done.wait()
        assert len(handled) == 3
        assert writes[1:] == handled  # writes[0] is send("x") from this task
