"""Helpers of the fault tests: subprocess peers and one bounded run that checks every ending.

:func:`run_case` is where the promises of issue 6 are checked for every case: the connection
ends within ``limit`` seconds with exactly one terminal event, the task is gone from the
nursery, the client's socket is closed (no file descriptor left behind), and every message
handed to ``send()`` is either counted as written or listed in ``ws.unsent``, in order.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import trio
from peers.raw_server import Frame, RawConnection, RawServer, read_all_frames
from recorder import Recorder, read_line, start_port_printer
from trio.testing import wait_all_tasks_blocked

from trio_ws_events import State, WebSocket

__all__ = ["HERE", "DeafServer", "Peer", "open_fds", "run_case", "start_peer", "until_open"]

HERE = Path(__file__).parent
#: How long a subprocess peer may take to start and print its port.
STARTUP_TIMEOUT = 15.0


def open_fds() -> int:
    """How many file descriptors this process has open."""
    return len(os.listdir("/proc/self/fd"))


class Peer:
    """A server running in a subprocess, started by :func:`start_peer`.

    Attributes:
        process: the trio process, to kill.
        url: ``ws://127.0.0.1:<port>/``.
    """

    def __init__(self, process: trio.Process, port: str) -> None:
        self.process = process
        self.url = f"ws://127.0.0.1:{port}/"

    async def read_line(self) -> str:
        """The next line the peer printed (empty at end of output)."""
        assert self.process.stdout is not None
        with trio.fail_after(STARTUP_TIMEOUT):
            return (await read_line(self.process.stdout)).strip()

    async def kill(self) -> None:
        """SIGKILL the peer and reap it."""
        self.process.send_signal(signal.SIGKILL)
        with trio.fail_after(5):
            await self.process.wait()
        assert self.process.returncode == -signal.SIGKILL


async def start_peer(nursery: trio.Nursery, argv: Sequence[str]) -> Peer:
    """Run ``python argv...`` in ``nursery`` (killed when it is cancelled); wait for its port."""
    process, port = await start_port_printer(nursery, [sys.executable, *argv], STARTUP_TIMEOUT)
    return Peer(process, str(port))


async def run_case(
    ws: WebSocket,
    body: Callable[[WebSocket], Awaitable[None]] | None = None,
    *,
    limit: float,
    before_fd_check: Callable[[], Awaitable[None]] | None = None,
) -> Recorder:
    """Open ``ws``, run ``body(ws)`` beside it, and check the ending (see the module docstring).

    Args:
        body: what the test does while the connection runs (sending, killing the peer).
        limit: seconds from ``open()`` to the end of the checks.
        before_fd_check: awaited before file descriptors are counted again, e.g. to let an
            in-process server close its side.
    """
    rec = Recorder(ws)
    fds = open_fds()
    with trio.fail_after(limit):
        async with trio.open_nursery() as nursery:
            ws.open(nursery)
            if body is not None:
                await body(ws)
            await ws.wait_closed()
            await wait_all_tasks_blocked()
            assert not nursery.child_tasks, nursery.child_tasks  # nothing left behind
        if before_fd_check is not None:
            await before_fd_check()
    rec.assert_terminal_once()
    assert ws.state is State.CLOSED
    assert ws.close_code is not None
    if rec.names[-1] == "error":
        assert rec.error.unsent == ws.unsent
    assert open_fds() <= fds, "the client's socket was not closed"
    return rec


async def until_open(ws: WebSocket) -> None:
    """Wait for the next ``on_open`` of ``ws`` (the handler is registered now)."""
    opened = trio.Event()
    ws.on_open += lambda ws: opened.set()
    await opened.wait()


class DeafServer:
    """A raw-server script for a peer that stops reading: it accepts the handshake, runs
    ``then`` (if given), and reads nothing more until the client has ended (``finish``), or
    with ``deaf=False`` reads on at once; either way every frame until EOF goes to ``frames``.

    Use ``raw_server(deaf.script)``, then ``run_case(..., before_fd_check=deaf.finish(server))``.
    """

    def __init__(
        self,
        then: Callable[[RawConnection], Awaitable[None]] | None = None,
        *,
        deaf: bool = True,
    ) -> None:
        self.client_done = trio.Event()
        self.frames: list[Frame] = []
        self._then = then
        self._deaf = deaf

    async def script(self, conn: RawConnection) -> None:
        """The script, run on the server's connection."""
        await conn.accept_handshake()
        if self._then is not None:
            await self._then(conn)
        if self._deaf:
            await self.client_done.wait()  # not a byte read until the client has ended
        got, _partial = await read_all_frames(conn)  # what TCP buffers held, until EOF
        self.frames.extend(got)

    def finish(self, server: RawServer) -> Callable[[], Awaitable[None]]:
        """What ``run_case`` awaits once the client ended: the server reads, then finishes."""

        async def finish() -> None:
            self.client_done.set()
            await server.wait_finished()

        return finish

    @property
    def payloads(self) -> list[bytes]:
        """The payloads of the frames read, in order."""
        return [frame.payload for frame in self.frames]
