"""Send each line of standard input as a message and print what the server sends.

``python examples/stdin_lines.py [URL]``: the end of input (Ctrl-D, or the end of a pipe)
waits a second for late replies, then closes with 1000; Ctrl-C (or SIGTERM) closes with 1001,
and a second one stops waiting for the server. No traceback, no hang.
"""

import os
import signal
import sys
from collections.abc import AsyncIterator

import trio

from trio_ws_events import WebSocket, WebSocketError

URL = sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:8765/"
#: After the end of input, how long replies still in flight may take.
LATE_REPLIES = 1.0


# --8<-- [start:program]
async def stdin_lines() -> AsyncIterator[str]:
    """The lines of standard input, read in a worker thread so the connection keeps running."""
    pending = b""
    while True:
        # abandon_on_cancel: Ctrl-C must not wait for a read that may never return.
        read = trio.to_thread.run_sync(os.read, sys.stdin.fileno(), 65536, abandon_on_cancel=True)
        chunk = await read
        if not chunk:  # end of input
            break
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            yield line.decode("utf-8", errors="replace")
    if pending:
        yield pending.decode("utf-8", errors="replace")


async def send_lines(ws: WebSocket, opened: trio.Event) -> None:
    await opened.wait()
    async for line in stdin_lines():
        if not ws.is_open:
            return
        await ws.send_wait(line)  # waits while the send buffer is full
    with trio.move_on_after(LATE_REPLIES):
        await ws.wait_closed()  # the server may close first
    ws.close(1000)  # harmless if already closed


async def stop_on_signal(ws: WebSocket, everything: trio.CancelScope) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            if ws.is_open:
                ws.close(1001)  # first Ctrl-C: close properly
            else:
                everything.cancel()  # still connecting, or a second Ctrl-C: stop waiting


async def main() -> None:
    ws = WebSocket(URL)
    opened = trio.Event()
    ws.on_open += lambda ws: opened.set()
    ws.on_message += lambda ws, message: print("<", message, flush=True)
    ws.on_closed += lambda ws, code, reason: print(f"closed: {code} {reason!r}", flush=True)

    @ws.on_error
    def on_error(ws: WebSocket, error: WebSocketError) -> None:
        print(f"error: {error}", file=sys.stderr, flush=True)

    async with trio.open_nursery() as nursery:
        ws.open(nursery)
        nursery.start_soon(send_lines, ws, opened)
        nursery.start_soon(stop_on_signal, ws, nursery.cancel_scope)
        await ws.wait_closed()
        nursery.cancel_scope.cancel()  # the reader and the signal watcher are done too


trio.run(main)
# --8<-- [end:program]
