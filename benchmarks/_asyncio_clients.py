"""The asyncio clients: websockets' asyncio client and aiohttp's ``ws_connect``.

Small adapters over the workloads of ``_workloads.py`` (the same ones the Trio
task-style clients run), with asyncio's primitives: ``asyncio.Semaphore``,
``asyncio.Event`` and ``asyncio.TaskGroup``. They run on the standard asyncio event loop
unless the runner is given ``--client-loop uvloop``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from ._common import CLIENT_MAX_MESSAGE, ClientFailed, frame_chain
from ._workloads import Channel, Connect, TaskClient

__all__ = ["Aiohttp", "AsyncioConcurrency", "WebsocketsAsyncio"]


class _TaskGroup:
    """``asyncio.TaskGroup`` with the ``start_soon(fn, *args)`` of a Trio nursery."""

    def __init__(self, group: asyncio.TaskGroup) -> None:
        self._group = group

    def start_soon(self, fn: Callable[..., Coroutine[Any, Any, object]], *args: Any) -> None:
        self._group.create_task(fn(*args))


@asynccontextmanager
async def _open_group() -> AsyncIterator[_TaskGroup]:
    async with asyncio.TaskGroup() as group:
        yield _TaskGroup(group)


async def _guarded(main: Awaitable[Any], seconds: float) -> Any:
    """Await ``main``; after ``seconds``, raise ClientFailed with every task's chain of
    awaits instead of waiting for ever."""
    task = asyncio.ensure_future(main)
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if not done:
        me = asyncio.current_task()
        details = "\n".join(
            f"{t.get_name()}: {frame_chain(t.get_coro())}"
            for t in list(asyncio.all_tasks())[:60]
            if t is not me
        )
        task.cancel()
        await asyncio.wait({task}, timeout=5)
        raise ClientFailed(f"hung: no result after {seconds:.0f} s", details)
    return task.result()


class AsyncioConcurrency:
    """asyncio's primitives for the generic workloads; the standard loop or uvloop."""

    def __init__(self, use_uvloop: bool) -> None:
        self.use_uvloop = use_uvloop

    def semaphore(self, value: int) -> asyncio.Semaphore:
        return asyncio.Semaphore(value)

    def event(self) -> asyncio.Event:
        return asyncio.Event()

    def group(self) -> AbstractAsyncContextManager[_TaskGroup]:
        return _open_group()

    def run(
        self, main: Callable[..., Awaitable[Any]], args: tuple[Any, ...], timeout: float
    ) -> Any:
        if self.use_uvloop:
            import uvloop  # type: ignore[import-not-found,unused-ignore]

            return uvloop.run(_guarded(main(*args), timeout))
        return asyncio.run(_guarded(main(*args), timeout))


class WebsocketsAsyncio(TaskClient):
    """``websockets.asyncio.client.connect``: send / recv."""

    dists = ("websockets",)
    settings = "connect(url, compression=None, max_size=128 MiB, proxy=None)"

    def __init__(self, use_uvloop: bool = False) -> None:
        from websockets.asyncio.client import connect

        self._connect = connect
        self.concurrency = AsyncioConcurrency(use_uvloop)

    def connect(self, url: str) -> AbstractAsyncContextManager[Any]:
        return self._connect(url, compression=None, max_size=CLIENT_MAX_MESSAGE, proxy=None)


class Aiohttp(TaskClient):
    """aiohttp ``ClientSession.ws_connect``: send_str / send_bytes, receive_str /
    receive_bytes; one session per run, with no limit on its connections (W5 opens
    1,000; the default connector would queue those past 100)."""

    dists = ("aiohttp",)
    settings = (
        "ClientSession(connector=TCPConnector(limit=0)).ws_connect(url, compress=0, "
        "max_msg_size=128 MiB)"
    )

    def __init__(self, use_uvloop: bool = False) -> None:
        import aiohttp  # type: ignore[import-not-found,unused-ignore]

        self._aiohttp: Any = aiohttp
        self.concurrency = AsyncioConcurrency(use_uvloop)

    @asynccontextmanager
    async def connector(self) -> AsyncIterator[Connect]:
        aiohttp = self._aiohttp
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

            def connect(url: str) -> AbstractAsyncContextManager[Any]:
                ws_connect: Callable[..., AbstractAsyncContextManager[Any]] = session.ws_connect
                return ws_connect(url, compress=0, max_msg_size=CLIENT_MAX_MESSAGE)

            yield connect

    def channel(self, ws: Any, payload: str | bytes) -> Channel:
        if isinstance(payload, str):
            return Channel(ws.send_str, ws.receive_str, payload, payload)
        return Channel(ws.send_bytes, ws.receive_bytes, payload, payload)
