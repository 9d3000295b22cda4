"""Helpers shared by the client's tests: an event recorder, running to the end, round trips.

``Recorder`` keeps every event, ``collect`` what one event hands over; ``run_to_end`` opens a
WebSocket and waits for its terminal event (``run_on_open`` also runs a task of the test's once
it is open, ``run_script`` against a raw server's script); ``echo_once`` connects, sends one
message and returns the echo; ``send_and_collect`` sends messages on an open WebSocket and
collects as many replies; ``read_line`` reads one line of a subprocess's output,
``start_port_printer`` starts a peer that prints its port, ``piped_process`` runs a command with
its pipes for a block; ``error_from_thread`` makes a call from a worker thread and returns what
it raised, with ``in_own_run`` for the async methods.
"""

from __future__ import annotations

import subprocess
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, TypeVar

import trio
from peers.raw_server import Script, StartRawServer

from trio_ws_events import ReconnectingWebSocket, WebSocket, WebSocketError
from trio_ws_events._handlers import EventHook

__all__ = [
    "Recorder",
    "collect",
    "echo_once",
    "error_from_thread",
    "in_own_run",
    "piped_process",
    "read_line",
    "run_on_open",
    "run_script",
    "run_to_end",
    "run_to_end_traced",
    "send_and_collect",
    "start_port_printer",
]


T = TypeVar("T")


def collect(hook: EventHook[Callable[[Any, T], object]]) -> tuple[list[T], trio.Event]:
    """Keep what ``hook``'s event hands over (``ws.on_message``: each text); the event is set
    at each one, so a test waits for the first with ``await event.wait()``."""
    got: list[T] = []
    arrived = trio.Event()

    def keep(ws: object, value: T) -> None:
        got.append(value)
        arrived.set()

    hook += keep
    return got, arrived


async def run_to_end(ws: WebSocket, limit: float = 20) -> None:
    """Open ``ws`` in a nursery of its own and wait for the terminal event, within ``limit``."""
    with trio.fail_after(limit):
        async with trio.open_nursery() as nursery:
            ws.open(nursery)
            await ws.wait_closed()


async def run_on_open(
    ws: WebSocket, body: Callable[[WebSocket], Awaitable[object]], limit: float = 20
) -> None:
    """Like ``run_to_end``; once ``ws`` is open, ``body(ws)`` runs beside it in its nursery."""
    with trio.fail_after(limit):
        async with trio.open_nursery() as nursery:
            ws.on_open += lambda ws: nursery.start_soon(body, ws)
            ws.open(nursery)
            await ws.wait_closed()


async def run_script(
    raw_server: StartRawServer, script: Script, **options: Any
) -> tuple[WebSocket, Recorder]:
    """Start a raw server running ``script``, run a recorded WebSocket with ``options`` against
    it to its end (``run_to_end``), then wait for the script, so that its assertions run."""
    server = await raw_server(script)
    ws = WebSocket(server.url, **options)
    rec = Recorder(ws)
    await run_to_end(ws)
    await server.wait_finished()
    return ws, rec


async def run_to_end_traced(ws: WebSocket, limit: float = 20) -> int:
    """``run_to_end``, with tracemalloc on: the peak of traced memory meanwhile, in bytes."""
    tracemalloc.start()
    try:
        await run_to_end(ws, limit)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


async def echo_once(url: str, message: str, **options: object) -> list[str]:
    """Connect to ``url`` with ``options``, send ``message``, return what came back (10 s)."""
    received: list[str] = []
    with trio.fail_after(10):
        async with WebSocket(url, **options) as ws:  # type: ignore[arg-type]
            done = trio.Event()

            @ws.on_message
            def on_message(ws: WebSocket, text: str) -> None:
                received.append(text)
                done.set()

            ws.send(message)
            await done.wait()
    return received


async def send_and_collect(ws: WebSocket, messages: list[str | bytes]) -> list[str | bytes]:
    """Send ``messages`` on the open ``ws`` and return as many replies, within 20 s.

    The handlers it adds to collect them are removed before it returns.
    """
    got: list[str | bytes] = []
    done = trio.Event()

    def collect(ws: WebSocket, data: str | bytes) -> None:
        got.append(data)
        if len(got) == len(messages):
            done.set()

    ws.on_message += collect
    ws.on_binary += collect
    for message in messages:
        ws.send(message)
    with trio.fail_after(20):
        await done.wait()
    ws.on_message -= collect
    ws.on_binary -= collect
    return got


async def read_line(stream: trio.abc.ReceiveStream) -> str:
    """Read one line, without its newline; stop early at the end of the stream."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = await stream.receive_some(1)
        if not chunk:
            break
        data += chunk
    return data.decode().rstrip("\n")


def _call_catching(call: Callable[[], object]) -> BaseException | None:
    try:
        call()
    except BaseException as exc:  # the test inspects whatever came out
        return exc
    return None


async def error_from_thread(call: Callable[[], object]) -> BaseException | None:
    """Make ``call()`` in a worker thread; return what it raised, or ``None``."""
    return await trio.to_thread.run_sync(_call_catching, call)


def in_own_run(method: Callable[..., Awaitable[object]], *args: object) -> Callable[[], object]:
    """A call for a worker thread: ``await method(*args)`` in a trio run of that thread,
    bounded to 2 s (a thread cannot be cancelled from outside; a regression must not hang)."""

    async def bounded() -> object:
        with trio.fail_after(2):
            return await method(*args)

    return lambda: trio.run(bounded)


async def start_port_printer(
    nursery: trio.Nursery, command: list[str], limit: float = 15.0
) -> tuple[trio.Process, int]:
    """Run ``command`` in ``nursery`` (terminated when it is cancelled) and read the port it
    prints on its first line, within ``limit`` seconds; return the process and the port.

    Raises:
        RuntimeError: the process printed something else, or exited first.
    """
    process: trio.Process = await nursery.start(
        partial(trio.run_process, command, stdout=subprocess.PIPE, check=False)
    )
    assert process.stdout is not None
    with trio.fail_after(limit):
        port = await read_line(process.stdout)
    if not port.isdigit():
        raise RuntimeError(f"{command} exited before printing its port (got {port!r})")
    return process, int(port)


@asynccontextmanager
async def piped_process(
    command: list[str], env: dict[str, str] | None = None
) -> AsyncIterator[trio.Process]:
    """``command`` running for the block, its stdin, stdout and stderr piped.

    Leaving the block kills the process if it is still running, waits for it (shielded, so a
    failed test leaves nothing behind) and closes the pipes.
    """
    pipe = subprocess.PIPE
    process = await trio.lowlevel.open_process(
        command, stdin=pipe, stdout=pipe, stderr=pipe, env=env
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
        with trio.CancelScope(shield=True):
            await process.wait()
            for stream in (process.stdin, process.stdout, process.stderr):
                if stream is not None:
                    await stream.aclose()


class Recorder:
    """Registers one handler per event on ``ws`` and keeps ``(name, *args)`` tuples in order.

    On a :class:`ReconnectingWebSocket` it also records ``("reconnecting", attempt, delay,
    why)``.
    """

    def __init__(self, ws: WebSocket | ReconnectingWebSocket) -> None:
        self.ws = ws
        self.events: list[tuple[Any, ...]] = []
        # Each hook is typed with its own class; these handlers serve either class.
        hooks: Any = ws
        hooks.on_open += lambda ws: self.events.append(("open",))
        hooks.on_message += lambda ws, m: self.events.append(("message", m))
        hooks.on_binary += lambda ws, d: self.events.append(("binary", d))
        hooks.on_closed += lambda ws, c, r: self.events.append(("closed", c, r))
        hooks.on_error += lambda ws, e: self.events.append(("error", e))
        if isinstance(ws, ReconnectingWebSocket):
            ws.on_reconnecting += lambda ws, n, d, why: self.events.append(
                ("reconnecting", n, d, why)
            )

    @property
    def names(self) -> list[str]:
        """Just the event names, in order."""
        return [event[0] for event in self.events]

    @property
    def error(self) -> WebSocketError:
        """The error handed to ``on_error``; fails the test when there was none."""
        last = self.events[-1]
        assert last[0] == "error", f"expected on_error last, got {self.events}"
        error: WebSocketError = last[1]
        return error

    @property
    def messages(self) -> list[Any]:
        """The payloads of ``on_message`` and ``on_binary``, in order."""
        return [event[1] for event in self.events if event[0] in ("message", "binary")]

    def assert_terminal_once(self) -> None:
        """Exactly one terminal event, and it is the last; at most one on_open, first."""
        terminal = [n for n in self.names if n in ("closed", "error")]
        assert len(terminal) == 1, self.events
        assert self.names[-1] in ("closed", "error"), self.events
        if "open" in self.names:
            assert self.names.count("open") == 1
            assert self.names[0] == "open"
