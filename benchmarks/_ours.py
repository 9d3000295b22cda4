"""trio_ws_events.WebSocket, driven the event-driven way its users write.

``ws.open(nursery)``, ``ws.send()`` returns at once, replies arrive in ``on_message`` /
``on_binary``. That shape is what is measured, so this client has workloads of its own
instead of the receive loops of ``_workloads.py``: a round trip waits for an event that
the handler sets, the pipelined sender queues while the window has room, and W5 sends
the next message from the handler.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import trio

from ._common import PROBES, W3_WARMUP, ClientFailed, Job, Meter, check_echo, make_payload
from ._trio_clients import run_guarded

if TYPE_CHECKING:
    from trio_ws_events import WebSocket

__all__ = ["OURS_OPTIONS", "Ours"]

OURS_OPTIONS: dict[str, Any] = {"compression": None, "max_message_size": None, "proxy": None}
"""Options given to every trio_ws_events.WebSocket (the rest are the defaults)."""


def _new(
    url: str,
    on_open: Callable[[WebSocket], None],
    on_closed: Callable[[WebSocket, int, str], None],
    on_error: Callable[[WebSocket, Exception], None],
    on_message: Callable[[WebSocket, str], None] | None = None,
    on_binary: Callable[[WebSocket, bytes], None] | None = None,
) -> WebSocket:
    """A WebSocket with ``OURS_OPTIONS`` and these handlers registered."""
    from trio_ws_events import WebSocket

    ws = WebSocket(url, **OURS_OPTIONS)
    ws.on_open += on_open
    ws.on_closed += on_closed
    ws.on_error += on_error
    if on_message is not None:
        ws.on_message += on_message
    if on_binary is not None:
        ws.on_binary += on_binary
    return ws


def _ours_probe(ws: WebSocket) -> Callable[[], str]:
    def probe() -> str:
        return (
            f"trio_ws_events.WebSocket: state {ws.state!r}, buffered_amount "
            f"{ws.buffered_amount}, stats {ws.stats!r}"
        )

    return probe


def _many_probe(sockets: list[WebSocket], replies: dict[WebSocket, int], rounds: int) -> str:
    states = Counter(ws.state.name for ws in sockets)
    done = Counter(replies.get(ws, 0) for ws in sockets)
    unfinished = [ws for ws in sockets if replies.get(ws, 0) < rounds]
    lines = [f"{len(sockets)} connections; states {dict(states)}; replies {dict(done)}"]
    lines += [_ours_probe(ws)() for ws in unfinished[:5]]
    return "\n".join(lines)


@asynccontextmanager
async def _open_ours(
    url: str,
    on_message: Callable[[WebSocket, str], None],
    on_binary: Callable[[WebSocket, bytes], None],
) -> AsyncIterator[WebSocket]:
    """One WebSocket opened the event-driven way; an ending the benchmark did not ask
    for (on_error, an early on_closed) cancels the body and raises ClientFailed."""
    failure: list[str] = []
    closing = False
    opened = trio.Event()
    scope = trio.CancelScope()

    def fail(what: str) -> None:
        failure.append(what)
        scope.cancel()
        opened.set()

    def on_open(ws: WebSocket) -> None:
        opened.set()

    def on_closed(ws: WebSocket, code: int, reason: str) -> None:
        if not closing:
            fail(f"on_closed({code}, {reason!r}) before the benchmark closed")
        elif code != 1000:
            failure.append(f"closed with {code} {reason!r}, expected 1000")

    def on_error(ws: WebSocket, error: Exception) -> None:
        if not closing:
            fail(f"on_error({error!r})")
        else:
            failure.append(f"on_error while closing: {error!r}")

    async with trio.open_nursery() as nursery:
        ws = _new(url, on_open, on_closed, on_error, on_message, on_binary)
        ws.open(nursery)
        probe = _ours_probe(ws)
        PROBES.append(probe)
        try:
            with scope:
                await opened.wait()
                if not failure:
                    yield ws
        finally:
            PROBES.remove(probe)
        if failure:
            raise ClientFailed(f"{failure[0]} (state {ws.state!r})")
        closing = True
        ws.close(1000, "")
        await ws.wait_closed()
    if failure:
        raise ClientFailed(failure[0])


async def _ours_trips(
    url: str, meter: Meter, warm: str | bytes, warmups: int, payload: str | bytes, count: int
) -> list[int]:
    """Sequential round trips on one connection: ``warmups`` of ``warm`` untimed, then
    ``count`` of ``payload`` timed (W1: many small ones; W3: one large one)."""
    clock = time.perf_counter_ns
    samples = [0] * count
    arrived = trio.Event()
    reply: list[object] = [None]

    def on_reply(ws: WebSocket, message: str | bytes) -> None:
        reply[0] = message
        arrived.set()

    async with _open_ours(url, on_reply, on_reply) as ws:
        send = ws.send
        for _ in range(warmups):
            arrived = trio.Event()
            send(warm)
            await arrived.wait()
        if warmups:
            check_echo(reply[0], warm)
        reply[0] = None
        meter.start()
        for i in range(count):
            arrived = trio.Event()
            start = clock()
            send(payload)
            await arrived.wait()
            samples[i] = clock() - start
        meter.stop()
        check_echo(reply[0], payload)
        reply[0] = None
    return samples


async def _ours_w1(job: Job, url: str, meter: Meter) -> list[int]:
    payload = make_payload(job.size, job.text)
    return await _ours_trips(url, meter, payload, job.warmup, payload, job.count)


async def _ours_w3(job: Job, url: str, meter: Meter) -> None:
    await _ours_trips(url, meter, W3_WARMUP, 1, make_payload(job.size, job.text), 1)


async def _ours_w2(job: Job, url: str, meter: Meter) -> None:
    payload = make_payload(job.size, job.text)
    window = trio.Semaphore(job.window)
    done = trio.Event()
    target = 0
    received = 0
    reply: list[object] = [None]

    def on_reply(ws: WebSocket, message: str | bytes) -> None:
        nonlocal received
        received += 1
        window.release()
        if received == target:
            reply[0] = message
            done.set()

    async with _open_ours(url, on_reply, on_reply) as ws:
        send = ws.send
        for timed, n in ((False, job.warmup), (True, job.count)):
            if not n:
                continue
            target, received, done = n, 0, trio.Event()
            window = trio.Semaphore(job.window)
            if timed:
                meter.start()
            for _ in range(n):
                # send() never blocks: queue while the window has room and wait only when it
                # is full, as a producer on this API would. The clients whose send is a
                # coroutine await (and so checkpoint) once per message instead.
                try:
                    window.acquire_nowait()
                except trio.WouldBlock:
                    await window.acquire()
                send(payload)
            await done.wait()
            if timed:
                meter.stop()
            check_echo(reply[0], payload)


async def _ours_w4(job: Job, url: str, meter: Meter) -> None:
    opened = trio.Event()
    failure: list[str] = []

    def on_open(ws: WebSocket) -> None:
        opened.set()

    def on_closed(ws: WebSocket, code: int, reason: str) -> None:
        if code != 1000:
            failure.append(f"on_closed({code}, {reason!r}), expected 1000")
        opened.set()

    def on_error(ws: WebSocket, error: Exception) -> None:
        failure.append(f"on_error({error!r})")
        opened.set()

    async with trio.open_nursery() as nursery:
        for timed, n in ((False, job.warmup), (True, job.count)):
            if timed:
                meter.start()
            for _ in range(n):
                opened = trio.Event()
                ws = _new(url, on_open, on_closed, on_error)
                ws.open(nursery)
                PROBES[:] = [_ours_probe(ws)]
                await opened.wait()
                ws.close()
                await ws.wait_closed()
                if failure:
                    raise ClientFailed(failure[0])
            if timed:
                meter.stop()


async def _ours_w5(job: Job, url: str, meter: Meter) -> None:
    payload = make_payload(job.size, job.text)
    rounds = job.rounds
    failure: list[str] = []
    scope = trio.CancelScope()  # a fresh one per phase: a scope is entered once
    target = 0
    opened = 0
    closed = 0
    all_open = trio.Event()
    all_closed = trio.Event()
    replies: dict[WebSocket, int] = {}

    def fail(what: str) -> None:
        failure.append(what)
        scope.cancel()

    def on_open(ws: WebSocket) -> None:
        nonlocal opened
        opened += 1
        if opened == target:
            all_open.set()

    def on_message(ws: WebSocket, message: str) -> None:
        if message != payload:
            fail(f"echo mismatch: got {message[:40]!r}")
        count = replies[ws] + 1
        replies[ws] = count
        if count < rounds:
            ws.send(payload)
        else:
            ws.close()

    def on_binary(ws: WebSocket, data: bytes) -> None:
        fail(f"unexpected binary message of {len(data)} bytes")

    def on_closed(ws: WebSocket, code: int, reason: str) -> None:
        nonlocal closed
        if replies.get(ws) != rounds:
            fail(f"on_closed({code}, {reason!r}) after {replies.get(ws)} of {rounds} replies")
        closed += 1
        if closed == target:
            all_closed.set()

    def on_error(ws: WebSocket, error: Exception) -> None:
        fail(f"on_error({error!r}) in state {ws.state!r}")

    async def phase(n: int) -> None:
        nonlocal target, opened, closed, all_open, all_closed, scope
        target, opened, closed = n, 0, 0
        scope = trio.CancelScope()
        all_open, all_closed = trio.Event(), trio.Event()
        replies.clear()
        sockets = []
        async with trio.open_nursery() as nursery:
            for _ in range(n):
                ws = _new(url, on_open, on_closed, on_error, on_message, on_binary)
                replies[ws] = 0
                sockets.append(ws)
                ws.open(nursery)
            PROBES[:] = [lambda: _many_probe(sockets, replies, rounds)]
            with scope:
                await all_open.wait()
                if n == job.count:
                    meter.mark_rss()
                for ws in sockets:
                    ws.send(payload)
                await all_closed.wait()
            if failure:
                nursery.cancel_scope.cancel()

    await phase(1)  # warm-up
    if not failure:
        meter.start()
        await phase(job.count)
        meter.stop()
    if failure:
        raise ClientFailed(f"{failure[0]} ({len(failure)} failure(s))")


_OURS_WORKLOADS: dict[str, Callable[[Job, str, Meter], Awaitable[Any]]] = {
    "w1": _ours_w1,
    "w2": _ours_w2,
    "w3": _ours_w3,
    "w4": _ours_w4,
    "w5": _ours_w5,
}


class Ours:
    """trio_ws_events.WebSocket, event-driven."""

    key = "ours"
    dists = ("trio-ws-events", "trio")
    settings = "WebSocket(url, compression=None, max_message_size=None, proxy=None)"

    def __init__(self) -> None:
        from trio_ws_events import WebSocket

        del WebSocket

    def run(self, job: Job, url: str, meter: Meter, timeout: float) -> list[int] | None:
        args = (job, url, meter)
        result: list[int] | None = run_guarded(_OURS_WORKLOADS[job.workload], args, timeout)
        return result
