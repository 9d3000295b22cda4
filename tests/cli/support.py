"""Helpers shared by the command line's tests: the subprocess environment, running the command,
and a listener that accepts connections and never answers their handshake."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import trio
from recorder import piped_process

ROOT = Path(__file__).resolve().parents[2]
#: Starting a Python subprocess is slow on a loaded CI machine; the work itself takes ms.
SUBPROCESS_TIMEOUT = 60.0


def cli_env(**extra: str) -> dict[str, str]:
    """The environment for a subprocess: this checkout first on the import path, no NO_COLOR."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.pop("NO_COLOR", None)
    env.update(extra)
    return env


async def run_cli(*argv: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    """Run ``python -m trio_ws_events ARGV`` with ``stdin`` to its end (``SUBPROCESS_TIMEOUT``);
    its output is captured and its status is not checked."""
    with trio.fail_after(SUBPROCESS_TIMEOUT):
        return await trio.run_process(
            [sys.executable, "-m", "trio_ws_events", *argv],
            stdin=stdin,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            env=cli_env(),
        )


def cli_process(*argv: str) -> AbstractAsyncContextManager[trio.Process]:
    """``python -m trio_ws_events ARGV`` running for the block (``piped_process``)."""
    return piped_process([sys.executable, "-m", "trio_ws_events", *argv], env=cli_env())


class Unanswered:
    """A listener on 127.0.0.1 that accepts connections and never answers them."""

    def __init__(self, listener: trio.SocketListener) -> None:
        self.listener = listener
        self.url = f"ws://127.0.0.1:{listener.socket.getsockname()[1]}/"
        self.streams: list[trio.SocketStream] = []

    async def handshake_started(self) -> None:
        """Accept one client and read the start of its handshake request: it is connecting."""
        stream = await self.listener.accept()
        self.streams.append(stream)
        await stream.receive_some()


@asynccontextmanager
async def unanswered_listener() -> AsyncIterator[Unanswered]:
    """An :class:`Unanswered` listener for the block; leaving it closes what it accepted."""
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    unanswered = Unanswered(listener)
    try:
        yield unanswered
    finally:
        with trio.CancelScope(shield=True):
            for stream in unanswered.streams:
                await stream.aclose()
            await listener.aclose()
