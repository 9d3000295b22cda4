"""Where ``connect`` reads its lines: a pipe or a file, or prompt_toolkit's prompt."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import trio

from .._errors import SendBufferFull, WebSocketError
from ._session import Session

__all__ = ["LineReader", "Prompt", "PromptReader", "Reader"]


class Reader:
    async def run(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        """Called from the Trio thread once the connection is over."""


class LineReader(Reader):
    """Lines from a pipe or a file; at the end of input, wait for replies, then close.

    Typed lines (a terminal without prompt_toolkit) close at once at Ctrl-D instead.
    """

    def __init__(self, session: Session, wait: float, idle: float, *, typed: bool) -> None:
        self.session = session
        self.wait = wait
        self.idle = idle
        self.typed = typed

    async def run(self) -> None:
        session, ws = self.session, self.session.ws
        await session.opened.wait()
        async for raw in _stdin_lines():
            if not session.alive:
                break
            message = self._decode(raw)
            if message is None:
                continue
            await ws.drain()  # backpressure: a large input waits for the network
            if not session.alive:
                break
            try:
                ws.send(message)
            except SendBufferFull:  # larger than the room left: wait for more room
                try:
                    await ws.send_wait(message)
                except WebSocketError:
                    return  # the connection ended meanwhile: the terminal event says how
            # Printed at once, so that "> line" always comes before the reply's "< line".
            session.sent(message)
        if session.alive:
            if not self.typed:
                await self._await_replies()
            session.close(1000)

    async def _await_replies(self) -> None:
        """Wait until each line had its reply, or none came for ``idle`` s, or ``wait`` s."""
        session = self.session
        idle = False
        with trio.move_on_after(self.wait):
            while session.outstanding and not idle:
                with trio.move_on_after(self.idle) as quiet:
                    await session.arrived.wait()
                idle = quiet.cancelled_caught
        if session.outstanding and session.ws.is_open:
            why = f"none for {self.idle:g} s" if idle else f"--wait {self.wait:g} s ran out"
            plural = "y" if session.outstanding == 1 else "ies"
            session.printer.status(f"{session.outstanding} repl{plural} outstanding ({why})")

    def _decode(self, raw: bytes) -> str | bytes | None:
        line = raw.removesuffix(b"\n").removesuffix(b"\r")
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            self.session.printer.error(f"not sent: line is not valid UTF-8: {line!r}")
            self.session.outcome.bad_lines += 1
            return None
        return self.session.send_line(text)


async def _stdin_lines() -> AsyncIterator[bytes]:
    """The lines of stdin, each with its newline (the last one may lack it)."""
    # A descriptor of our own: a read abandoned on cancellation (its thread may start after we
    # returned) then reads the file it was given, never whatever file reused stdin's number
    # once the caller closed it (the tests run many commands in one process).
    fd = os.dup(sys.stdin.fileno())
    reading = False
    try:
        pending = b""
        while True:
            # os.read, not sys.stdin.buffer: a thread abandoned in a buffered read would hold
            # the buffer's lock, and the interpreter aborts at exit when a daemon thread holds one.
            reading = True
            chunk = await trio.to_thread.run_sync(os.read, fd, 65536, abandon_on_cancel=True)
            reading = False
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                yield line + b"\n"
        if pending:
            yield pending
    finally:
        # An abandoned thread may still read it: closing it then could hand its number to
        # another file under that thread's feet, so it is left open (the process is ending).
        if not reading:
            os.close(fd)


class PromptReader(Reader):
    """Lines typed at the prompt; Ctrl-D closes with 1000, Ctrl-C with 1001."""

    def __init__(self, session: Session, prompt: Prompt) -> None:
        self.session = session
        self.prompt = prompt

    async def run(self) -> None:
        session, ws = self.session, self.session.ws
        await session.opened.wait()
        if session.alive:
            session.printer.status(
                "type a line to send it; Ctrl-D closes with 1000, Ctrl-C with 1001"
            )
        while session.alive:
            # Not abandoned on cancel: stop() ends the prompt, and the terminal must be
            # restored before the command goes on.
            line = await trio.to_thread.run_sync(self.prompt.read)
            if not session.alive:
                break
            if line is _EOF:
                session.close(1000)
            elif line is _INTERRUPT:
                session.close(1001)
            else:
                assert isinstance(line, str)
                message = session.send_line(line)
                if message is not None:
                    ws.send(message)
                    session.sent(message)

    def stop(self) -> None:
        self.prompt.stop()


_EOF = object()
_INTERRUPT = object()


class Prompt:
    """A prompt_toolkit session whose ``read`` runs in a worker thread and can be stopped."""

    def __init__(self, session: Any, patch_stdout: Callable[..., Any]) -> None:
        self._session = session
        self._patch_stdout = patch_stdout
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped = False

    @classmethod
    def create(cls) -> Prompt | None:
        """A prompt, or ``None`` when prompt_toolkit is not installed (plain lines then)."""
        try:
            from prompt_toolkit import PromptSession
            from prompt_toolkit.patch_stdout import patch_stdout
        except ImportError:
            print(
                "trio-ws-events connect: install trio-ws-events[cli] (prompt_toolkit) for the "
                "interactive prompt; reading plain lines instead",
                file=sys.stderr,
            )
            return None
        # erase_when_done: the typed line is replaced by its timestamped "> " record.
        return cls(PromptSession(erase_when_done=True), patch_stdout)

    def patched_stdout(self) -> Any:
        """Context manager: while it is active, prints appear above the prompt."""
        return self._patch_stdout(raw=True)

    def read(self) -> object:
        """One line, ``_EOF`` (Ctrl-D, or stopped) or ``_INTERRUPT`` (Ctrl-C); in a thread."""
        with self._lock:
            if self._stopped:
                return _EOF
        try:
            line: str = self._session.prompt("> ", pre_run=self._started)
        except EOFError:
            return _EOF
        except KeyboardInterrupt:
            return _INTERRUPT
        finally:
            with self._lock:
                self._loop = None
        return line

    def stop(self) -> None:
        """End the current and every later ``read``; from any thread."""
        with self._lock:
            self._stopped = True
            loop = self._loop
            if loop is not None:
                # RuntimeError: the loop has closed, so read() is returning anyway.
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(self._exit)

    def _started(self) -> None:
        # In the prompt's own event loop, once the application runs.
        with self._lock:
            self._loop = asyncio.get_running_loop()
            if self._stopped:
                self._exit()

    def _exit(self) -> None:
        app = self._session.app
        if app.is_running and not app.is_done:
            app.exit(exception=EOFError)
