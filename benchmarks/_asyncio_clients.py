"""The asyncio clients: websockets' asyncio client and aiohttp's ``ws_connect``.

Same workloads and the same order of operations as the task-style Trio clients in
``_trio_clients.py`` (asyncio.Semaphore, asyncio.Event and asyncio.TaskGroup instead of
their Trio counterparts), driven through the library's bound methods. They run on the
standard asyncio event loop unless the runner is given ``--client-loop uvloop``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from ._common import (
    CLIENT_MAX_MESSAGE,
    ClientFailed,
    Job,
    Meter,
    check_echo,
    frame_chain,
    make_payload,
)

Send = Callable[[Any], Awaitable[Any]]
Recv = Callable[[], Awaitable[Any]]
Connect = Callable[[str], AbstractAsyncContextManager[Any]]
Methods = Callable[[Any, bool], tuple[Send, Recv]]

W3_WARMUP = make_payload(64 * 1024, text=False)


async def _w1(connect: Connect, methods: Methods, job: Job, url: str, meter: Meter) -> list[int]:
    payload = make_payload(job.size, job.text)
    clock = time.perf_counter_ns
    samples = [0] * job.count
    async with connect(url) as ws:
        send, recv = methods(ws, job.text)
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


async def _w2(connect: Connect, methods: Methods, job: Job, url: str, meter: Meter) -> None:
    payload = make_payload(job.size, job.text)
    async with connect(url) as ws:
        send, recv = methods(ws, job.text)
        for timed, n in ((False, job.warmup), (True, job.count)):
            window = asyncio.Semaphore(job.window)

            async def sender(n: int = n, window: asyncio.Semaphore = window) -> None:
                for _ in range(n):
                    await window.acquire()
                    await send(payload)

            reply = None
            if timed:
                meter.start()
            async with asyncio.TaskGroup() as group:
                group.create_task(sender())
                for _ in range(n):
                    reply = await recv()
                    window.release()
            if timed:
                meter.stop()
            if n:
                check_echo(reply, payload)


async def _w3(connect: Connect, methods: Methods, job: Job, url: str, meter: Meter) -> None:
    payload = make_payload(job.size, job.text)
    async with connect(url) as ws:
        send, recv = methods(ws, job.text)
        await send(W3_WARMUP)
        check_echo(await recv(), W3_WARMUP)
        meter.start()
        await send(payload)
        reply = await recv()
        meter.stop()
        check_echo(reply, payload)
        del reply


async def _w4(connect: Connect, methods: Methods, job: Job, url: str, meter: Meter) -> None:
    for timed, n in ((False, job.warmup), (True, job.count)):
        if timed:
            meter.start()
        for _ in range(n):
            async with connect(url):
                pass
        if timed:
            meter.stop()


async def _w5(connect: Connect, methods: Methods, job: Job, url: str, meter: Meter) -> None:
    payload = make_payload(job.size, job.text)
    opened = 0

    async def one(count: int, barrier: asyncio.Event) -> None:
        nonlocal opened
        async with connect(url) as ws:
            send, recv = methods(ws, job.text)
            opened += 1
            if opened == count:
                barrier.set()
            await barrier.wait()
            for _ in range(job.rounds):
                await send(payload)
                check_echo(await recv(), payload)

    await one(1, asyncio.Event())  # warm-up
    opened = 0
    all_open = asyncio.Event()
    meter.start()
    async with asyncio.TaskGroup() as group:
        for _ in range(job.count):
            group.create_task(one(job.count, all_open))
        await all_open.wait()
        meter.mark_rss()
    meter.stop()


_WORKLOADS: dict[str, Callable[[Connect, Methods, Job, str, Meter], Awaitable[Any]]] = {
    "w1": _w1,
    "w2": _w2,
    "w3": _w3,
    "w4": _w4,
    "w5": _w5,
}


def _run_loop(main: Awaitable[Any], use_uvloop: bool, timeout: float) -> Any:
    """Run ``main``; after ``timeout`` seconds, raise ClientFailed with every task's
    chain of awaits instead of waiting for ever."""

    async def wrapper() -> Any:
        task = asyncio.ensure_future(main)
        done, _ = await asyncio.wait({task}, timeout=timeout)
        if not done:
            me = asyncio.current_task()
            details = "\n".join(
                f"{t.get_name()}: {frame_chain(t.get_coro())}"
                for t in list(asyncio.all_tasks())[:60]
                if t is not me
            )
            task.cancel()
            await asyncio.wait({task}, timeout=5)
            raise ClientFailed(f"hung: no result after {timeout:.0f} s", details)
        return task.result()

    if use_uvloop:
        import uvloop  # type: ignore[import-not-found,unused-ignore]

        return uvloop.run(wrapper())
    return asyncio.run(wrapper())


class WebsocketsAsyncio:
    """``websockets.asyncio.client.connect``: send / recv."""

    key = "websockets-asyncio"
    dists = ("websockets",)
    settings = "connect(url, compression=None, max_size=128 MiB, proxy=None)"

    def __init__(self, use_uvloop: bool = False) -> None:
        from websockets.asyncio.client import connect

        self._connect_fn = connect
        self.use_uvloop = use_uvloop

    def _connect(self, url: str) -> AbstractAsyncContextManager[Any]:
        return self._connect_fn(url, compression=None, max_size=CLIENT_MAX_MESSAGE, proxy=None)

    @staticmethod
    def _methods(ws: Any, text: bool) -> tuple[Send, Recv]:
        return ws.send, ws.recv

    def run(self, job: Job, url: str, meter: Meter, timeout: float) -> list[int] | None:
        main = _WORKLOADS[job.workload](self._connect, self._methods, job, url, meter)
        result: list[int] | None = _run_loop(main, self.use_uvloop, timeout)
        return result


class Aiohttp:
    """aiohttp ``ClientSession.ws_connect``: send_str / send_bytes, receive_str /
    receive_bytes; one session per run, with no limit on its connections (W5 opens
    1,000; the default connector would queue those past 100)."""

    key = "aiohttp"
    dists = ("aiohttp",)
    settings = (
        "ClientSession(connector=TCPConnector(limit=0)).ws_connect(url, compress=0, "
        "max_msg_size=128 MiB)"
    )

    def __init__(self, use_uvloop: bool = False) -> None:
        import aiohttp  # type: ignore[import-not-found,unused-ignore]

        self._aiohttp: Any = aiohttp
        self.use_uvloop = use_uvloop

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[Connect]:
        aiohttp = self._aiohttp
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

            def connect(url: str) -> AbstractAsyncContextManager[Any]:
                ws_connect: Callable[..., AbstractAsyncContextManager[Any]] = session.ws_connect
                return ws_connect(url, compress=0, max_msg_size=CLIENT_MAX_MESSAGE)

            yield connect

    @staticmethod
    def _methods(ws: Any, text: bool) -> tuple[Send, Recv]:
        if text:
            return ws.send_str, ws.receive_str
        return ws.send_bytes, ws.receive_bytes

    def run(self, job: Job, url: str, meter: Meter, timeout: float) -> list[int] | None:
        async def main() -> Any:
            async with self._session() as connect:
                return await _WORKLOADS[job.workload](connect, self._methods, job, url, meter)

        result: list[int] | None = _run_loop(main(), self.use_uvloop, timeout)
        return result
