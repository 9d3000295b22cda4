"""The Trio clients: trio_ws_events.WebSocket, raw trio-websocket, websockets' Trio client.

Each client class has ``run(job, url, meter)``, which runs one workload under
``trio.run`` and returns the per-trip samples (W1) or None; the figures come from the
:class:`~benchmarks._common.Meter` that brackets the timed part.

trio-websocket and websockets' Trio client have the same task-style API (an async
context manager, ``await send()``, ``await recv()``), so one set of workload functions
drives both with the library's bound methods (no wrapper in the hot path).
trio_ws_events is driven the event-driven way, as its users would: ``ws.open(nursery)``,
``ws.send()`` returns at once, replies arrive in ``on_message`` / ``on_binary``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any

import trio

from ._common import (
    CLIENT_MAX_MESSAGE,
    PROBES,
    ClientFailed,
    Job,
    Meter,
    check_echo,
    frame_chain,
    make_payload,
    probe_report,
)

if TYPE_CHECKING:
    from trio_ws_events import WebSocket

Send = Callable[[Any], Awaitable[None]]
Recv = Callable[[], Awaitable[Any]]
Connect = Callable[[str], AbstractAsyncContextManager[Any]]

W3_WARMUP = make_payload(64 * 1024, text=False)


def _task_tree() -> str:
    """Every Trio task and the chain of awaits it is suspended in (for hang reports)."""
    lines: list[str] = []

    def walk(task: trio.lowlevel.Task, depth: int) -> None:
        if len(lines) >= 60:
            return
        lines.append(f"{'  ' * depth}{task.name}: {frame_chain(task.coro)}")
        for nursery in task.child_nurseries:
            for child in nursery.child_tasks:
                walk(child, depth + 1)

    root = trio.lowlevel.current_root_task()
    if root is not None:
        walk(root, 0)
    return "\n".join(lines)


def run_guarded(
    workload: Callable[..., Awaitable[Any]], args: tuple[Any, ...], timeout: float
) -> Any:
    """``trio.run(workload, *args)``; after ``timeout`` seconds, raise ClientFailed with
    the task tree and the connections' state instead of waiting for ever."""

    async def main() -> Any:
        result: list[Any] = []
        async with trio.open_nursery() as nursery:

            async def watchdog() -> None:
                await trio.sleep(timeout)
                details = _task_tree() + "\n" + probe_report()
                raise ClientFailed(f"hung: no result after {timeout:.0f} s", details)

            nursery.start_soon(watchdog)
            result.append(await workload(*args))
            nursery.cancel_scope.cancel()
        return result[0]

    return trio.run(main)


# --- task-style clients ----------------------------------------------------------------


async def _task_w1(connect: Connect, methods: Any, job: Job, url: str, meter: Meter) -> list[int]:
    payload = make_payload(job.size, job.text)
    clock = time.perf_counter_ns
    samples = [0] * job.count
    async with connect(url) as ws:
        send, recv = methods(ws)
        reply = None
        for _ in range(job.warmup):
            await send(payload)
            reply = await recv()
        meter.start()
        for i in range(job.count):
            start = clock()
            await send(payload)
            reply = await recv()
            samples[i] = clock() - start
        meter.stop()
        check_echo(reply, payload)
    return samples


async def _task_w2(connect: Connect, methods: Any, job: Job, url: str, meter: Meter) -> None:
    payload = make_payload(job.size, job.text)
    async with connect(url) as ws:
        send, recv = methods(ws)
        for timed, n in ((False, job.warmup), (True, job.count)):
            window = trio.Semaphore(job.window)

            async def sender(n: int = n, window: trio.Semaphore = window) -> None:
                for _ in range(n):
                    await window.acquire()
                    await send(payload)

            reply = None
            if timed:
                meter.start()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(sender)
                for _ in range(n):
                    reply = await recv()
                    window.release()
            if timed:
                meter.stop()
            if n:
                check_echo(reply, payload)


async def _task_w3(connect: Connect, methods: Any, job: Job, url: str, meter: Meter) -> None:
    payload = make_payload(job.size, job.text)
    async with connect(url) as ws:
        send, recv = methods(ws)
        await send(W3_WARMUP)
        check_echo(await recv(), W3_WARMUP)
        meter.start()
        await send(payload)
        reply = await recv()
        meter.stop()
        check_echo(reply, payload)
        del reply


async def _task_w4(connect: Connect, methods: Any, job: Job, url: str, meter: Meter) -> None:
    for timed, n in ((False, job.warmup), (True, job.count)):
        if timed:
            meter.start()
        for _ in range(n):
            async with connect(url):
                pass
        if timed:
            meter.stop()


async def _task_w5(connect: Connect, methods: Any, job: Job, url: str, meter: Meter) -> None:
    payload = make_payload(job.size, job.text)
    opened = 0
    all_open = trio.Event()

    async def one(count: int, barrier: trio.Event) -> None:
        nonlocal opened
        async with connect(url) as ws:
            send, recv = methods(ws)
            opened += 1
            if opened == count:
                barrier.set()
            await barrier.wait()
            for _ in range(job.rounds):
                await send(payload)
                check_echo(await recv(), payload)

    # Warm-up: one connection, so that lazy imports and caches are not measured.
    await one(1, trio.Event())
    opened = 0
    meter.start()
    async with trio.open_nursery() as nursery:
        for _ in range(job.count):
            nursery.start_soon(one, job.count, all_open)
        await all_open.wait()
        meter.mark_rss()
    meter.stop()


_TASK_WORKLOADS: dict[str, Callable[[Connect, Any, Job, str, Meter], Awaitable[Any]]] = {
    "w1": _task_w1,
    "w2": _task_w2,
    "w3": _task_w3,
    "w4": _task_w4,
    "w5": _task_w5,
}


class RawTrioWebsocket:
    """``trio_websocket.open_websocket_url``: send_message / get_message, defaults
    otherwise (4 KiB reads, message queue of 1); it never offers compression."""

    key = "trio-websocket"
    dists = ("trio-websocket", "wsproto", "trio")
    settings = "open_websocket_url(url, max_message_size=128 MiB); never offers compression"

    def __init__(self) -> None:
        import trio_websocket

        self._open = trio_websocket.open_websocket_url

    def _connect(self, url: str) -> AbstractAsyncContextManager[Any]:
        return self._open(url, max_message_size=CLIENT_MAX_MESSAGE)

    @staticmethod
    def _methods(ws: Any) -> tuple[Send, Recv]:
        return ws.send_message, ws.get_message

    def run(self, job: Job, url: str, meter: Meter, timeout: float) -> list[int] | None:
        args = (self._connect, self._methods, job, url, meter)
        result: list[int] | None = run_guarded(_TASK_WORKLOADS[job.workload], args, timeout)
        return result


class WebsocketsTrio:
    """``websockets.trio.client.connect`` (websockets >= 16): send / recv."""

    key = "websockets-trio"
    dists = ("websockets", "trio")
    settings = "connect(url, compression=None, max_size=128 MiB, proxy=None)"

    def __init__(self) -> None:
        from websockets.trio.client import connect

        self._connect_fn = connect

    def _connect(self, url: str) -> AbstractAsyncContextManager[Any]:
        return self._connect_fn(url, compression=None, max_size=CLIENT_MAX_MESSAGE, proxy=None)

    @staticmethod
    def _methods(ws: Any) -> tuple[Send, Recv]:
        return ws.send, ws.recv

    def run(self, job: Job, url: str, meter: Meter, timeout: float) -> list[int] | None:
        args = (self._connect, self._methods, job, url, meter)
        result: list[int] | None = run_guarded(_TASK_WORKLOADS[job.workload], args, timeout)
        return result


# --- trio_ws_events.WebSocket ----------------------------------------------------------

OURS_OPTIONS: dict[str, Any] = {"compression": None, "max_message_size": None, "proxy": None}
"""Options given to every trio_ws_events.WebSocket (the rest are the defaults)."""


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
    from trio_ws_events import WebSocket

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
        ws = WebSocket(url, **OURS_OPTIONS)
        ws.on_open += on_open
        ws.on_message += on_message
        ws.on_binary += on_binary
        ws.on_closed += on_closed
        ws.on_error += on_error
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


async def _ours_w1(job: Job, url: str, meter: Meter) -> list[int]:
    payload = make_payload(job.size, job.text)
    clock = time.perf_counter_ns
    samples = [0] * job.count
    arrived = trio.Event()
    reply: list[object] = [None]

    def on_reply(ws: WebSocket, message: str | bytes) -> None:
        reply[0] = message
        arrived.set()

    async with _open_ours(url, on_reply, on_reply) as ws:
        send = ws.send
        for _ in range(job.warmup):
            arrived = trio.Event()
            send(payload)
            await arrived.wait()
        meter.start()
        for i in range(job.count):
            arrived = trio.Event()
            start = clock()
            send(payload)
            await arrived.wait()
            samples[i] = clock() - start
        meter.stop()
        check_echo(reply[0], payload)
    return samples


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


async def _ours_w3(job: Job, url: str, meter: Meter) -> None:
    payload = make_payload(job.size, job.text)
    arrived = trio.Event()
    reply: list[object] = [None]

    def on_reply(ws: WebSocket, message: str | bytes) -> None:
        reply[0] = message
        arrived.set()

    async with _open_ours(url, on_reply, on_reply) as ws:
        ws.send(W3_WARMUP)
        await arrived.wait()
        check_echo(reply[0], W3_WARMUP)
        reply[0] = None
        arrived = trio.Event()
        meter.start()
        ws.send(payload)
        await arrived.wait()
        meter.stop()
        check_echo(reply[0], payload)
        reply[0] = None


async def _ours_w4(job: Job, url: str, meter: Meter) -> None:
    from trio_ws_events import WebSocket

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
                ws = WebSocket(url, **OURS_OPTIONS)
                ws.on_open += on_open
                ws.on_closed += on_closed
                ws.on_error += on_error
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
    from trio_ws_events import WebSocket

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
                ws = WebSocket(url, **OURS_OPTIONS)
                ws.on_open += on_open
                ws.on_message += on_message
                ws.on_binary += on_binary
                ws.on_closed += on_closed
                ws.on_error += on_error
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
