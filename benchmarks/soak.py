"""Soak: hundreds of concurrent connections echoing thousands of random messages, checked.

Not part of the test suite. One process runs the clients (trio-ws-events, one nursery); the
echo server runs in another process. Each connection sends ``--messages`` messages of random
size (1 B to 64 KiB, uniform) and random type (text or binary), at most ``--window`` in flight,
and checks every echo against what it sent, in order; it also keeps a SHA-256 checksum over
everything sent and over everything received (type, length, payload, in order) and compares
them at the end. Any message lost, duplicated, reordered or altered, any ending other than a
clean ``on_closed(1000)``, or anything left in ``ws.unsent`` fails the run (exit status 1).

It reports messages/s and MiB/s (payload echoed, one way) and the peak RSS of the client
process and of the server process (``getrusage``)::

    python -m benchmarks.soak                         # 500 connections x 2,000 messages
    python -m benchmarks.soak --quick                 # 50 x 200, a few seconds
    python -m benchmarks.soak --connections 100 --messages 500 --server trio --json out.json

Servers (``--server``): ``websockets`` (the test peer ``tests/peers/websockets_server.py``,
asyncio), ``trio`` (``python -m trio_ws_events serve``: trio-websocket), ``picows`` (the
benchmark server ``benchmarks/echo_server.py --impl picows``, when installed).
``--compression`` turns permessage-deflate on (websockets server only).
"""

from __future__ import annotations

import argparse
import array
import bisect
import collections
import dataclasses
import hashlib
import itertools
import json
import os
import random
import re
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import trio

from trio_ws_events import WebSocket, WebSocketError

ROOT = Path(__file__).resolve().parent.parent
MAX_SIZE = 64 * 1024
#: The random pools messages are cut from: large enough that cuts rarely repeat.
POOL_SIZE = 4 * 2**20
#: Handshakes in progress at once: a burst of 500 SYNs overflows a server's listen backlog.
OPENING_AT_ONCE = 64
SERVER_STARTUP = 30.0


@dataclasses.dataclass
class Result:
    """What one connection saw."""

    index: int
    sent: int = 0
    received: int = 0
    bytes_echoed: int = 0
    problems: list[str] = dataclasses.field(default_factory=list)
    ending: str = ""
    connect_time: float | None = None


class Pools:
    """Random binary and text to cut messages from; text cut on UTF-8 byte counts."""

    def __init__(self, seed: int) -> None:
        rng = random.Random(seed)
        self.binary = rng.randbytes(POOL_SIZE)
        # Mostly ASCII, with 2-, 3- and 4-byte characters so that pieces end mid-character:
        # random bytes mapped onto 64 ASCII symbols, three of which then become wider.
        symbols = bytes(range(0x30, 0x70))  # "0" to "o"
        table = bytes(symbols[i % 64] for i in range(256))
        ascii_text = rng.randbytes(POOL_SIZE // 2).translate(table).decode("ascii")
        self.text = ascii_text.replace("m", "é").replace("n", "東").replace("o", "😀")
        alphabet = set(self.text)
        widths = {char: len(char.encode()) for char in alphabet}
        self.offsets = array.array(
            "Q", itertools.accumulate(map(widths.__getitem__, self.text), initial=0)
        )

    def message(self, rng: random.Random, max_size: int) -> str | bytes:
        """A message of 1 to ``max_size`` bytes (UTF-8 bytes for text), text or binary."""
        size = rng.randint(1, max_size)
        if rng.random() < 0.5:
            start = rng.randrange(len(self.binary) - size)
            return self.binary[start : start + size]
        first = rng.randrange(len(self.text) - size)
        limit = self.offsets[first] + size
        last = bisect.bisect_right(self.offsets, limit, lo=first) - 1
        return self.text[first:last] if last > first else "a"


def _tagged(message: str | bytes) -> tuple[bytes, bytes]:
    """The checksum input for one message: a header (type, length) and the payload bytes."""
    payload = message.encode() if isinstance(message, str) else message
    tag = b"T" if isinstance(message, str) else b"B"
    return tag + len(payload).to_bytes(4, "big"), payload


class Checker:
    """Expected echoes in order, and the running checksums of one connection."""

    def __init__(self, result: Result, total: int, window: int) -> None:
        self.result = result
        self.total = total
        self.expected: collections.deque[str | bytes] = collections.deque()
        self.sent_hash = hashlib.sha256()
        self.received_hash = hashlib.sha256()
        self.window = trio.Semaphore(window)
        self.done = trio.Event()

    def sending(self, message: str | bytes) -> None:
        head, payload = _tagged(message)
        self.sent_hash.update(head)
        self.sent_hash.update(payload)
        self.expected.append(message)
        self.result.sent += 1

    def on_echo(self, ws: WebSocket, message: str | bytes) -> None:
        head, payload = _tagged(message)
        self.received_hash.update(head)
        self.received_hash.update(payload)
        result = self.result
        result.received += 1
        result.bytes_echoed += len(payload)
        if not self.expected:
            result.problems.append(f"echo #{result.received} was never sent (duplicate?)")
        elif self.expected.popleft() != message:
            result.problems.append(f"echo #{result.received} differs from what was sent")
        self.window.release()
        if result.received >= self.total:
            self.done.set()


async def run_connection(
    index: int, url: str, args: argparse.Namespace, pools: Pools, opening: trio.CapacityLimiter
) -> Result:
    """One connection: open, echo ``args.messages`` messages, close with 1000, check."""
    result = Result(index)
    rng = random.Random(args.seed * 1_000_003 + index)
    checker = Checker(result, args.messages, args.window)
    ws = WebSocket(
        url,
        compression="deflate" if args.compression else None,
        max_message_size=None,
        connect_timeout=60,
        close_timeout=60,
    )
    opened = trio.Event()
    ws.on_open += lambda ws: opened.set()
    ws.on_message += checker.on_echo
    ws.on_binary += checker.on_echo

    def on_end(ws: WebSocket, *details: Any) -> None:
        result.ending = " ".join(str(d) for d in details)
        opened.set()
        checker.done.set()

    ws.on_closed += on_end
    ws.on_error += lambda ws, error: on_end(ws, type(error).__name__, error)
    async with trio.open_nursery() as nursery:
        async with opening:
            ws.open(nursery)
            await opened.wait()
        for _ in range(args.messages):
            await checker.window.acquire()
            if not ws.is_open:
                break
            message = pools.message(rng, args.max_size)
            checker.sending(message)
            ws.send(message)
        await checker.done.wait()
        if ws.is_open:
            ws.close(1000, "soak done")
        await ws.wait_closed()
    _verdict(ws, checker)
    return result


def _verdict(ws: WebSocket, checker: Checker) -> None:
    result = checker.result
    result.connect_time = ws.stats.connect_time
    if result.ending != "1000 soak done":
        result.problems.append(f"ended with {result.ending!r}")
    if result.sent != result.received or checker.expected:
        result.problems.append(f"sent {result.sent}, received {result.received}")
    if checker.sent_hash.digest() != checker.received_hash.digest():
        result.problems.append("checksums differ")
    if ws.unsent:
        result.problems.append(f"{len(ws.unsent)} messages unsent")


# ---------------------------------------------------------------- the server process


def server_command(name: str, compression: bool) -> list[str]:
    """The command that starts echo server ``name`` on a free port."""
    if name == "websockets":
        script = ROOT / "tests" / "peers" / "websockets_server.py"
        return [sys.executable, str(script), "echo" if compression else "echo-plain"]
    if compression:
        raise SystemExit("--compression needs --server websockets")
    if name == "trio":
        return [sys.executable, "-m", "trio_ws_events", "serve", "--port", "0"]
    if name == "picows":
        script = ROOT / "benchmarks" / "echo_server.py"
        return [sys.executable, str(script), "--impl", "picows", "--port", "0"]
    raise SystemExit(f"unknown server {name!r}")


async def start_server(nursery: trio.Nursery, command: list[str]) -> tuple[trio.Process, str]:
    """Start the server; return it and its URL, read from the first line it prints."""
    process: trio.Process = await nursery.start(
        lambda task_status: trio.run_process(  # noqa: ASYNC105 - nursery.start awaits it
            command,
            stdin=subprocess.PIPE,  # the picows server stops when its stdin closes
            stdout=subprocess.PIPE,
            check=False,
            task_status=task_status,
        )
    )
    assert process.stdout is not None
    line = b""
    with trio.fail_after(SERVER_STARTUP):
        while not line.endswith(b"\n"):
            chunk = await process.stdout.receive_some(1)
            if not chunk:
                raise SystemExit(f"{command} exited before printing its address")
            line += chunk
    text = line.decode()
    match = re.search(r"ws://[\w.:]+/", text) or re.search(r"\b(\d{2,5})\b", text)
    if match is None:
        raise SystemExit(f"cannot find a port in {text!r}")
    url = match.group(0) if match.group(0).startswith("ws") else f"ws://127.0.0.1:{match[1]}/"
    return process, url


# ---------------------------------------------------------------- the run


def raise_file_limit(needed: int) -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE towards ``needed`` (up to the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    if soft < needed:
        raise SystemExit(f"need {needed} file descriptors, the hard limit is {hard}")
    return soft, hard


async def soak(args: argparse.Namespace) -> dict[str, Any]:
    """Run every connection against a fresh server process; return the figures."""
    pools = Pools(args.seed)
    opening = trio.CapacityLimiter(OPENING_AT_ONCE)
    results: list[Result] = []
    async with trio.open_nursery() as outer:
        process, url = await start_server(outer, server_command(args.server, args.compression))
        start = time.perf_counter()
        cpu = time.process_time()
        with trio.fail_after(args.timeout):
            async with trio.open_nursery() as nursery:

                async def one(index: int) -> None:
                    results.append(await run_connection(index, url, args, pools, opening))

                for index in range(args.connections):
                    nursery.start_soon(one, index)
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu
        outer.cancel_scope.cancel()  # terminates the server
    with trio.CancelScope(shield=True), trio.fail_after(10):
        await process.wait()
    return _figures(args, results, elapsed, cpu)


def _figures(
    args: argparse.Namespace, results: list[Result], elapsed: float, cpu: float
) -> dict[str, Any]:
    messages = sum(r.received for r in results)
    payload = sum(r.bytes_echoed for r in results)
    problems = [f"connection {r.index}: {p}" for r in results for p in r.problems]
    connects = sorted(r.connect_time for r in results if r.connect_time is not None)
    return {
        "connections": args.connections,
        "messages_per_connection": args.messages,
        "server": args.server,
        "compression": bool(args.compression),
        "window": args.window,
        "seed": args.seed,
        "messages_echoed": messages,
        "messages_expected": args.connections * args.messages,
        "payload_mib_one_way": payload / 2**20,
        "seconds": elapsed,
        "messages_per_second": messages / elapsed,
        "mib_per_second": payload / 2**20 / elapsed,
        "client_cpu_percent": 100 * cpu / elapsed,
        "connect_time_median_ms": 1000 * connects[len(connects) // 2] if connects else None,
        "client_peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "server_peak_rss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "problems": problems,
    }


def report(figures: dict[str, Any]) -> str:
    """The figures as a Markdown table."""
    rows = [
        (
            "connections x messages",
            f"{figures['connections']} x {figures['messages_per_connection']}",
        ),
        (
            "server",
            f"{figures['server']} (compression {'on' if figures['compression'] else 'off'})",
        ),
        ("messages echoed", f"{figures['messages_echoed']:,} of {figures['messages_expected']:,}"),
        ("payload (one way)", f"{figures['payload_mib_one_way']:,.0f} MiB"),
        ("time", f"{figures['seconds']:.1f} s"),
        ("messages/s", f"{figures['messages_per_second']:,.0f}"),
        ("MiB/s (one way)", f"{figures['mib_per_second']:,.1f}"),
        ("client CPU", f"{figures['client_cpu_percent']:.0f}% of a core"),
        ("median connect time", f"{figures['connect_time_median_ms'] or 0:.1f} ms"),
        ("client peak RSS", f"{figures['client_peak_rss_mib']:,.0f} MiB"),
        ("server peak RSS", f"{figures['server_peak_rss_mib']:,.0f} MiB"),
        (
            "lost / duplicated / reordered / altered",
            "none" if not figures["problems"] else "SEE BELOW",
        ),
    ]
    lines = ["| figure | value |", "|---|---|", *(f"| {a} | {b} |" for a, b in rows)]
    lines += [f"- {p}" for p in figures["problems"][:50]]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--connections", type=int, default=500)
    parser.add_argument("--messages", type=int, default=2000, help="per connection")
    parser.add_argument("--quick", action="store_true", help="50 connections x 200 messages")
    parser.add_argument("--max-size", type=int, default=MAX_SIZE, help="largest message, bytes")
    parser.add_argument("--window", type=int, default=4, help="messages in flight per connection")
    parser.add_argument("--server", default="websockets", choices=("websockets", "trio", "picows"))
    parser.add_argument("--compression", action="store_true", help="permessage-deflate on")
    parser.add_argument("--seed", type=int, default=6455)
    parser.add_argument("--timeout", type=float, default=3600, help="seconds for the whole run")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.quick:
        args.connections, args.messages = 50, 200
    if args.connections < 1 or args.messages < 1 or not 1 <= args.max_size <= 2**20:
        parser.error("--connections and --messages must be positive, --max-size 1 B to 1 MiB")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the soak; exit status 0 when every message came back intact, 1 otherwise."""
    args = parse_args(argv)
    raise_file_limit(2 * args.connections + 256)
    print(
        f"soak: {args.connections} connections x {args.messages} messages against "
        f"{args.server} (pid {os.getpid()})",
        file=sys.stderr,
    )
    try:
        figures = trio.run(soak, args)
    except WebSocketError as exc:  # pragma: no cover - reported, not expected
        print(f"soak failed: {exc}", file=sys.stderr)
        return 1
    print(report(figures))
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return (
        1
        if figures["problems"] or figures["messages_echoed"] != figures["messages_expected"]
        else 0
    )


if __name__ == "__main__":
    sys.exit(main())
