"""The Trio task-style clients: raw trio-websocket, websockets' Trio client, the Trio floor.

Each is a small adapter over the workloads of ``_workloads.py``, run by ``TRIO``: the
``Concurrency`` of Trio, whose ``run`` also reports what every task was waiting for when a
run hangs. The Trio floor is no WebSocket library: a ``trio.SocketStream`` writing
pre-built frames, what Trio itself costs per message and per handshake.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import trio

from ._common import CLIENT_MAX_MESSAGE, ClientFailed, frame_chain, probe_report
from ._wire import (
    CLOSE_1000,
    CLOSE_REPLY,
    address,
    check_101,
    check_close_reply,
    frames_for,
    request,
)
from ._workloads import Channel, TaskClient

__all__ = ["TRIO", "RawTrioWebsocket", "TrioFloor", "WebsocketsTrio", "run_guarded"]


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


# --- the Trio floor ----------------------------------------------------------------------

FLOOR_READ = 256 * 1024
"""Bytes asked of each ``receive_some`` (trio-ws-events reads up to 256 KiB too)."""


class _FloorConnection:
    __slots__ = ("buffer", "stream")

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buffer = bytearray()  # received bytes not yet handed out

    async def fill(self, size: int) -> None:
        """Receive until ``size`` bytes are buffered."""
        while len(self.buffer) < size:
            data = await self.stream.receive_some(FLOOR_READ)
            if not data:
                raise ClientFailed("connection closed by the server")
            self.buffer += data

    def take(self, size: int) -> bytearray:
        """The first ``size`` buffered bytes, removed from the buffer."""
        if len(self.buffer) == size:  # the usual case: no copy
            out, self.buffer = self.buffer, bytearray()
            return out
        out = self.buffer[:size]
        del self.buffer[:size]
        return out


class TrioFloor(_TrioClient):
    """What Trio itself costs: ``trio.open_tcp_stream``, a pre-built upgrade request
    (the answer checked for ``101`` only), pre-built masked frames, one ``send_all``
    per message and ``receive_some`` until the echoed frame is complete (one call for a
    small message), the echoed frame compared as bytes. No WebSocket library: nothing a
    real client must do (UTF-8, close codes, fragments, pings) is done."""

    dists = ("trio",)
    settings = "open_tcp_stream + send_all / receive_some(256 KiB), pre-built frames"

    def connect(self, url: str) -> AbstractAsyncContextManager[Any]:
        return _open_floor(url)

    def channel(self, ws: Any, payload: str | bytes) -> Channel:
        conn: _FloorConnection = ws
        frames = frames_for(payload, copy_frame=False)
        echo = frames.echo()
        size = len(echo)
        receive_some, take = conn.stream.receive_some, conn.take

        # The round trip's path, written out: no call but receive_some until the frame
        # is complete (conn.fill, the same loop, is for the handshake and the close).
        async def recv() -> bytearray:
            buffer = conn.buffer
            while len(buffer) < size:
                data = await receive_some(FLOOR_READ)
                if not data:
                    raise ClientFailed("connection closed by the server")
                buffer += data
            return take(size)

        return Channel(conn.stream.send_all, recv, frames.frame, echo)


@asynccontextmanager
async def _open_floor(url: str) -> AsyncIterator[_FloorConnection]:
    host, port, _path = address(url)
    stream = await trio.open_tcp_stream(host, port)
    async with stream:
        conn = _FloorConnection(stream)
        await stream.send_all(request(url))
        while b"\r\n\r\n" not in conn.buffer:
            await conn.fill(len(conn.buffer) + 1)
        check_101(conn.take(len(conn.buffer)))
        yield conn
        await stream.send_all(CLOSE_1000)
        await conn.fill(len(CLOSE_REPLY))
        check_close_reply(conn.take(len(CLOSE_REPLY)))
