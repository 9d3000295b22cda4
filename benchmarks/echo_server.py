"""A fast WebSocket echo server for the benchmarks, meant to run in its own process.

It echoes every text message as text and every binary message as binary, accepts
messages up to 64 MiB, never compresses, and answers a close frame with the same
code and reason. Several implementations are available; ``auto`` picks the fastest
one that is installed:

1. ``picows`` (C-accelerated frames on asyncio, with uvloop when installed);
2. ``aiohttp`` (with uvloop when installed);
3. ``websockets`` (asyncio implementation, ``compression=None``; always available
   because the test extras install it).

Run alone::

    python benchmarks/echo_server.py --impl auto --port 8765 [--cpu 1]

It prints one line ``READY <impl> <port> <description>`` on stdout once it listens,
then serves until SIGTERM or SIGINT arrives or its standard input reaches end of file
(so it never outlives a parent that started it with a pipe on stdin).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import importlib.util
import logging
import os
import signal
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import Any

MAX_MESSAGE_SIZE = 64 * 1024 * 1024
"""Largest message (and frame) the server accepts, in bytes."""

IMPLEMENTATIONS = ("picows", "aiohttp", "websockets")

BACKLOG = 2048
"""Listen backlog: large enough for the benchmark's 1,000 simultaneous connects (with
the asyncio default of 100, connects beyond the accept queue wait for a SYN retry, 1 s
on Linux, and the figures would measure that)."""

Starter = Callable[[str, int], Awaitable[tuple[int, Callable[[], Awaitable[None]]]]]


def _have(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def pick_implementation(requested: str) -> str:
    """Resolve ``auto`` to the fastest installed implementation."""
    if requested != "auto":
        if requested not in IMPLEMENTATIONS:
            raise ValueError(f"unknown echo server implementation {requested!r}")
        if not _have(requested):
            raise ValueError(f"echo server implementation {requested!r} is not installed")
        return requested
    for name in IMPLEMENTATIONS:
        if _have(name):
            return name
    raise ValueError("no echo server implementation is installed")


# --- picows ----------------------------------------------------------------------------


async def _start_picows(host: str, port: int) -> tuple[int, Callable[[], Awaitable[None]]]:
    import picows  # type: ignore[import-not-found,unused-ignore]

    # picows logs a warning each time the socket's write buffer fills up, which is
    # expected while echoing large messages: keep stderr quiet.
    logging.getLogger("picows").setLevel(logging.ERROR)

    text = picows.WSMsgType.TEXT
    binary = picows.WSMsgType.BINARY
    continuation = picows.WSMsgType.CONTINUATION
    close = picows.WSMsgType.CLOSE

    class EchoListener(picows.WSListener):  # type: ignore[misc,unused-ignore]
        # Frames are echoed one by one with their opcode and FIN bit, so a fragmented
        # message comes back as the same fragmented message of the same type.
        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            msg_type = frame.msg_type
            if msg_type is text or msg_type is binary or msg_type is continuation:
                transport.send(msg_type, frame.get_payload_as_memoryview(), frame.fin)
            elif msg_type is close:
                transport.send_close(frame.get_close_code(), frame.get_close_message())
                transport.disconnect()

    def factory(request: Any) -> Any:
        return EchoListener()

    server = await picows.ws_create_server(
        factory,
        host,
        port,
        max_frame_size=MAX_MESSAGE_SIZE,
        websocket_handshake_timeout=10,
        backlog=BACKLOG,
    )
    bound = int(server.sockets[0].getsockname()[1])

    async def stop() -> None:
        server.close()
        await server.wait_closed()

    return bound, stop


# --- aiohttp ---------------------------------------------------------------------------


async def _start_aiohttp(host: str, port: int) -> tuple[int, Callable[[], Awaitable[None]]]:
    from aiohttp import WSMsgType, web  # type: ignore[import-not-found,unused-ignore]

    async def handler(request: Any) -> Any:
        # aiohttp rejects a message whose size is >= max_msg_size, hence the + 1.
        ws = web.WebSocketResponse(
            max_msg_size=MAX_MESSAGE_SIZE + 1, compress=False, autoclose=False
        )
        await ws.prepare(request)
        while True:
            msg = await ws.receive()
            if msg.type is WSMsgType.TEXT:
                await ws.send_str(msg.data)
            elif msg.type is WSMsgType.BINARY:
                await ws.send_bytes(msg.data)
            elif msg.type is WSMsgType.CLOSE:
                # Echo the peer's code and reason (aiohttp would answer 1000 by itself).
                await ws.close(code=msg.data, message=(msg.extra or "").encode())
                return ws
            elif msg.type in (WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                return ws

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=BACKLOG)
    await site.start()
    bound = int(runner.addresses[0][1])

    async def stop() -> None:
        await runner.cleanup()

    return bound, stop


# --- websockets ------------------------------------------------------------------------


async def _start_websockets(host: str, port: int) -> tuple[int, Callable[[], Awaitable[None]]]:
    from websockets.asyncio.server import ServerConnection, serve
    from websockets.exceptions import ConnectionClosed

    async def handler(ws: ServerConnection) -> None:
        # websockets returns str for text frames and bytes for binary frames, so
        # sending back what was received keeps the type.
        with contextlib.suppress(ConnectionClosed):
            async for message in ws:
                await ws.send(message)

    server = await serve(
        handler,
        host,
        port,
        compression=None,
        max_size=MAX_MESSAGE_SIZE,
        max_queue=None,
        ping_interval=None,
        backlog=BACKLOG,
    )
    bound = next(iter(server.sockets)).getsockname()[1]

    async def stop() -> None:
        server.close()
        await server.wait_closed()

    return int(bound), stop


_STARTERS: dict[str, Starter] = {
    "picows": _start_picows,
    "aiohttp": _start_aiohttp,
    "websockets": _start_websockets,
}


def describe(impl: str, use_uvloop: bool) -> str:
    loop = f"uvloop {_version('uvloop')}" if use_uvloop else "asyncio"
    return f"{impl} {_version(impl)} on {loop}"


def _sender(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()[:200]
    except OSError:
        return "?"


async def _serve(impl: str, host: str, port: int, description: str) -> None:
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    signals = {signal.SIGTERM, signal.SIGINT}
    if hasattr(signal, "sigwaitinfo"):
        # Take the stop signals in a thread of their own, to say who sent them: a server
        # stopped in the middle of a benchmark run should not stay a mystery.
        signal.pthread_sigmask(signal.SIG_BLOCK, signals)

        def watch_signals() -> None:
            info = signal.sigwaitinfo(signals)
            name = signal.Signals(info.si_signo).name
            print(
                f"echo_server: stopping on {name} from pid {info.si_pid} ({_sender(info.si_pid)})",
                file=sys.stderr,
                flush=True,
            )
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stopping.set)

        threading.Thread(target=watch_signals, name="signal-watch", daemon=True).start()
    else:
        for sig in signals:
            loop.add_signal_handler(sig, stopping.set)

    def watch_stdin() -> None:
        # End of file on stdin means the parent went away (or asked us to stop).
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except (OSError, ValueError) as exc:
            print(f"echo_server: stopping, stdin failed: {exc!r}", file=sys.stderr, flush=True)
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(stopping.set)

    if not sys.stdin.isatty():
        threading.Thread(target=watch_stdin, name="stdin-watch", daemon=True).start()

    bound, stop = await _STARTERS[impl](host, port)
    print(f"READY {impl} {bound} {description}", flush=True)
    await stopping.wait()
    await stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--impl", default="auto", choices=("auto", *IMPLEMENTATIONS))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--cpu", type=int, default=None, help="pin this process to one CPU")
    parser.add_argument("--no-uvloop", action="store_true", help="use the default asyncio loop")
    args = parser.parse_args(argv)

    try:
        impl = pick_implementation(args.impl)
    except ValueError as exc:
        print(f"echo_server: {exc}", file=sys.stderr)
        return 2
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    use_uvloop = not args.no_uvloop and _have("uvloop")
    description = describe(impl, use_uvloop)
    coro = _serve(impl, args.host, args.port, description)
    if use_uvloop:
        import uvloop  # type: ignore[import-not-found,unused-ignore]

        uvloop.run(coro)
    else:
        asyncio.run(coro)
    return 0


if __name__ == "__main__":
    status = main()
    # os._exit: the stdin-watching thread may still be blocked in a read (stopped by a
    # signal), and interpreter shutdown would then abort with a fatal error.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
