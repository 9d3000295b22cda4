"""W1-W5, written once, for every task-style client (Trio or asyncio).

A task-style client has an async context manager that connects, and an awaitable send
and receive (trio-websocket, websockets' Trio and asyncio clients, aiohttp, the Trio
floor). Its adapter (a ``TaskClient`` subclass) says how to connect and which bound
methods to call; a ``Concurrency`` says which event loop runs the workload and gives its
primitives (``trio.Semaphore`` or ``asyncio.Semaphore``, a nursery or a task group).
Nothing here imports trio or asyncio, so a worker imports only its own client's loop.

In the hot loops the workloads call the library's bound methods directly (no wrapper):
``send(message)`` then ``await recv()``. trio_ws_events is event-driven, not a receive
loop, and has workloads of its own (``_ours.py``); the raw-socket reference has no event
loop at all (``_raw_client.py``).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, NamedTuple, Protocol

from ._common import W3_WARMUP, Job, Meter, check_echo, make_payload

__all__ = ["Channel", "Concurrency", "TaskClient", "WORKLOADS"]

Send = Callable[[Any], Awaitable[object]]
Recv = Callable[[], Awaitable[object]]
Connect = Callable[[str], AbstractAsyncContextManager[Any]]


class Channel(NamedTuple):
    """How a workload sends one payload on a connection and what it gets back.

    ``await send(message)`` sends it; ``await recv()`` returns the next echo, which
    equals ``echo``. For a WebSocket library ``message`` and ``echo`` are the payload
    itself; a reference client may send pre-built frames and compare raw bytes.
    """

    send: Send
    recv: Recv
    message: object
    echo: str | bytes | bytearray


class Semaphore(Protocol):
    def acquire(self) -> Awaitable[object]: ...
    def release(self) -> None: ...


class Event(Protocol):
    def set(self) -> None: ...
    def wait(self) -> Awaitable[object]: ...


class Concurrency(Protocol):
    """The event loop of a client and the three primitives the workloads use."""

    def semaphore(self, value: int) -> Semaphore: ...
    def event(self) -> Event: ...

    def group(self) -> AbstractAsyncContextManager[Any]:
        """A nursery (or task group) whose value has ``start_soon(fn, *args)``."""
        ...

    def run(
        self, main: Callable[..., Awaitable[Any]], args: tuple[Any, ...], timeout: float
    ) -> Any:
        """Run ``main(*args)`` to completion in a new event loop; after ``timeout``
        seconds raise ClientFailed, with every task's chain of awaits, instead."""
        ...


class TaskClient:
    """The adapter of a task-style client: subclass it, give ``dists``, ``settings``,
    ``concurrency`` (set in ``__init__``), ``connect`` and, when the client's methods
    are not ``send`` and ``recv``, ``channel``."""

    dists: tuple[str, ...] = ()
    settings = ""
    concurrency: Concurrency

    def connect(self, url: str) -> AbstractAsyncContextManager[Any]:
        """An async context manager: the open connection, closed at its exit."""
        raise NotImplementedError

    def channel(self, ws: Any, payload: str | bytes) -> Channel:
        """The bound methods that send ``payload`` on ``ws`` and receive its echo."""
        return Channel(ws.send, ws.recv, payload, payload)

    @asynccontextmanager
    async def connector(self) -> AsyncIterator[Connect]:
        """What connects during one run (a client may share a session per run)."""
        yield self.connect

    def run(self, job: Job, url: str, meter: Meter, timeout: float) -> list[int] | None:
        result: list[int] | None = self.concurrency.run(self._main, (job, url, meter), timeout)
        return result

    async def _main(self, job: Job, url: str, meter: Meter) -> list[int] | None:
        async with self.connector() as connect:
            workload = WORKLOADS[job.workload]
            result: list[int] | None = await workload(self, connect, job, url, meter)
            return result


Workload = Callable[[TaskClient, Connect, Job, str, Meter], Awaitable[Any]]


async def _trips(
    client: TaskClient,
    ws: Any,
    meter: Meter,
    warm: str | bytes,
    warmups: int,
    payload: str | bytes,
    count: int,
) -> list[int]:
    """Sequential round trips on ``ws``: ``warmups`` of ``warm`` untimed, then ``count``
    of ``payload`` timed (W1: many small ones; W3: one large one)."""
    clock = time.perf_counter_ns
    samples = [0] * count
    send, recv, message, echo = client.channel(ws, warm)
    reply = None
    for _ in range(warmups):
        await send(message)
        reply = await recv()
    if warmups:
        check_echo(reply, echo)
    send, recv, message, echo = client.channel(ws, payload)
    reply = None
    meter.start()
    for i in range(count):
        start = clock()
        await send(message)
        reply = await recv()
        samples[i] = clock() - start
    meter.stop()
    check_echo(reply, echo)
    del reply
    return samples


async def _w1(client: TaskClient, connect: Connect, job: Job, url: str, meter: Meter) -> list[int]:
    payload = make_payload(job.size, job.text)
    async with connect(url) as ws:
        return await _trips(client, ws, meter, payload, job.warmup, payload, job.count)


async def _w3(client: TaskClient, connect: Connect, job: Job, url: str, meter: Meter) -> None:
    payload = make_payload(job.size, job.text)
    async with connect(url) as ws:
        await _trips(client, ws, meter, W3_WARMUP, 1, payload, 1)


async def _w2(client: TaskClient, connect: Connect, job: Job, url: str, meter: Meter) -> None:
    payload = make_payload(job.size, job.text)
    kit = client.concurrency
    async with connect(url) as ws:
        send, recv, message, echo = client.channel(ws, payload)
        for timed, n in ((False, job.warmup), (True, job.count)):
            window = kit.semaphore(job.window)

            async def sender(n: int = n, window: Semaphore = window) -> None:
                for _ in range(n):
                    await window.acquire()
                    await send(message)

            reply = None
            if timed:
                meter.start()
            async with kit.group() as group:
                group.start_soon(sender)
                for _ in range(n):
                    reply = await recv()
                    window.release()
            if timed:
                meter.stop()
            if n:
                check_echo(reply, echo)


async def _w4(client: TaskClient, connect: Connect, job: Job, url: str, meter: Meter) -> None:
    for timed, n in ((False, job.warmup), (True, job.count)):
        if timed:
            meter.start()
        for _ in range(n):
            async with connect(url):
                pass
        if timed:
            meter.stop()


async def _w5(client: TaskClient, connect: Connect, job: Job, url: str, meter: Meter) -> None:
    payload = make_payload(job.size, job.text)
    opened = 0

    async def one(count: int, barrier: Event) -> None:
        nonlocal opened
        async with connect(url) as ws:
            send, recv, message, echo = client.channel(ws, payload)
            opened += 1
            if opened == count:
                barrier.set()
            await barrier.wait()
            for _ in range(job.rounds):
                await send(message)
                check_echo(await recv(), echo)

    # Warm-up: one connection, so that lazy imports and caches are not measured.
    await one(1, client.concurrency.event())
    opened = 0
    all_open = client.concurrency.event()
    meter.start()
    async with client.concurrency.group() as group:
        for _ in range(job.count):
            group.start_soon(one, job.count, all_open)
        await all_open.wait()
        meter.mark_rss()
    meter.stop()


WORKLOADS: dict[str, Workload] = {"w1": _w1, "w2": _w2, "w3": _w3, "w4": _w4, "w5": _w5}
