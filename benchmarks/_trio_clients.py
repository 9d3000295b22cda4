"""The Trio task-style clients: raw trio-websocket and websockets' Trio client.

Each is a small adapter over the workloads of ``_workloads.py``, run by ``TRIO``: the
``Concurrency`` of Trio, whose ``run`` also reports what every task was waiting for when a
run hangs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import trio

from ._common import CLIENT_MAX_MESSAGE, ClientFailed, frame_chain, probe_report
from ._workloads import Channel, TaskClient

__all__ = ["TRIO", "RawTrioWebsocket", "WebsocketsTrio", "run_guarded"]


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


class TrioConcurrency:
    """Trio's primitives for the generic workloads, and ``run_guarded``."""

    def semaphore(self, value: int) -> trio.Semaphore:
        return trio.Semaphore(value)

    def event(self) -> trio.Event:
        return trio.Event()

    def group(self) -> AbstractAsyncContextManager[trio.Nursery]:
        return trio.open_nursery()

    def run(
        self, main: Callable[..., Awaitable[Any]], args: tuple[Any, ...], timeout: float
    ) -> Any:
        return run_guarded(main, args, timeout)


TRIO = TrioConcurrency()


class _TrioClient(TaskClient):
    concurrency = TRIO


class RawTrioWebsocket(_TrioClient):
    """``trio_websocket.open_websocket_url``: send_message / get_message, defaults
    otherwise (4 KiB reads, message queue of 1); it never offers compression."""

    dists = ("trio-websocket", "wsproto", "trio")
    settings = "open_websocket_url(url, max_message_size=128 MiB); never offers compression"

    def __init__(self) -> None:
        import trio_websocket

        self._open = trio_websocket.open_websocket_url

    def connect(self, url: str) -> AbstractAsyncContextManager[Any]:
        return self._open(url, max_message_size=CLIENT_MAX_MESSAGE)

    def channel(self, ws: Any, payload: str | bytes) -> Channel:
        return Channel(ws.send_message, ws.get_message, payload, payload)


class WebsocketsTrio(_TrioClient):
    """``websockets.trio.client.connect`` (websockets >= 16): send / recv."""

    dists = ("websockets", "trio")
    settings = "connect(url, compression=None, max_size=128 MiB, proxy=None)"

    def __init__(self) -> None:
        from websockets.trio.client import connect

        self._connect = connect

    def connect(self, url: str) -> AbstractAsyncContextManager[Any]:
        return self._connect(url, compression=None, max_size=CLIENT_MAX_MESSAGE, proxy=None)
