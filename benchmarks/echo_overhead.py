"""What the event layer costs: trio_ws_events.WebSocket against raw trio-websocket.

Both clients talk, in the same run, to ONE echo server running in its own process
(see ``echo_server.py``; the fastest installed implementation is used). Cells:

* ``round trip 16 B text``: sequential round trips, median and p99 latency in us;
* ``pipelined 16 B text`` and ``pipelined 64 KiB binary``: a sender and a receiver
  run concurrently with at most 1,000 messages or 8 MiB in flight; msgs/s and MiB/s
  (MiB/s counts the payload echoed, one way).

Each cell runs ``--repeats`` times (at least 3), alternating which client goes first,
each run on a fresh connection after a short untimed warm-up on that connection.
Figures are the median over the runs with the min-max range.

The *speed ratio* is always "how much faster is ours": ours/raw for throughput and
raw/ours for latency, so that > 1 means trio_ws_events is faster and < 1 slower.
The budget of issue 2 is that ours is at most 5% slower: speed ratio >= 0.95 in every
checked cell (median round trip, msgs/s of each pipelined cell); ``--check`` exits
with status 1 when a cell misses it. A client that fails or hangs exits with status 2.

Run from the repository root::

    python -m benchmarks.echo_overhead            # full run, about a minute
    python -m benchmarks.echo_overhead --quick    # a few seconds
    python -m benchmarks.echo_overhead --check --json results.json
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import trio
import trio_websocket

if TYPE_CHECKING:
    from trio_ws_events import WebSocket

MiB = 1024 * 1024
KiB = 1024
MAX_MESSAGE_SIZE = 64 * MiB
"""Message size limit given to raw trio-websocket (the echo server's limit too)."""
WINDOW_MESSAGES = 1000
WINDOW_BYTES = 8 * MiB
BUDGET = 0.95
"""Smallest acceptable speed ratio (ours at most 5% slower than raw)."""

HERE = Path(__file__).resolve().parent
SERVER_SCRIPT = HERE / "echo_server.py"

TEXT_16 = "0123456789abcdef"
BINARY_64K = bytes(range(256)) * (64 * KiB // 256)


# --- workloads -------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    key: str
    title: str
    kind: str  # "rtt" or "pipe"
    payload: str | bytes
    count: int
    warmup: int

    @property
    def size(self) -> int:
        return len(self.payload)

    @property
    def window(self) -> int:
        return max(1, min(WINDOW_MESSAGES, WINDOW_BYTES // self.size))


def make_cells(quick: bool) -> list[Cell]:
    if quick:
        rtt, small, large = 1_000, 5_000, 600
    else:
        rtt, small, large = 5_000, 20_000, 4_000
    return [
        Cell("rtt_16B_text", "round trip 16 B text", "rtt", TEXT_16, rtt, rtt // 10),
        Cell("pipe_16B_text", "pipelined 16 B text", "pipe", TEXT_16, small, small // 10),
        Cell(
            "pipe_64KiB_binary", "pipelined 64 KiB binary", "pipe", BINARY_64K, large, large // 10
        ),
    ]


class Progress:
    """What a run got through, reported when a client hangs or fails."""

    def __init__(self) -> None:
        self.phase = "connecting"
        self.sent = 0
        self.received = 0
        self.detail: Callable[[], str] | None = None

    def describe(self) -> str:
        text = f"phase {self.phase}, {self.sent} sent, {self.received} received"
        if self.detail is not None:
            try:
                text += f", {self.detail()}"
            except Exception as exc:
                text += f", (state unavailable: {exc!r})"
        return text


class Client(Protocol):
    key: str
    label: str

    async def round_trips(
        self, url: str, payload: str, count: int, warmup: int, progress: Progress
    ) -> list[int]:
        """Nanoseconds per round trip of the ``count`` timed trips."""

    async def pipelined(
        self,
        url: str,
        payload: str | bytes,
        count: int,
        warmup: int,
        window: int,
        progress: Progress,
    ) -> float:
        """Seconds from the first send to the last receive of ``count`` messages."""


class ClientFailed(Exception):
    """The client under test ended the connection in a way the benchmark did not ask for."""


# --- raw trio-websocket ----------------------------------------------------------------


class RawTrioWebsocket:
    key = "raw"
    label = "raw trio-websocket"

    async def round_trips(
        self, url: str, payload: str, count: int, warmup: int, progress: Progress
    ) -> list[int]:
        clock = time.perf_counter_ns
        samples: list[int] = []
        async with trio_websocket.open_websocket_url(url, max_message_size=MAX_MESSAGE_SIZE) as ws:
            for phase, n in (("warm-up", warmup), ("timed", count)):
                progress.phase = phase
                for _ in range(n):
                    start = clock()
                    await ws.send_message(payload)
                    progress.sent += 1
                    reply = await ws.get_message()
                    end = clock()
                    progress.received += 1
                    if phase == "timed":
                        samples.append(end - start)
                _check_echo(reply, payload)
            progress.phase = "closing"
        return samples

    async def pipelined(
        self,
        url: str,
        payload: str | bytes,
        count: int,
        warmup: int,
        window: int,
        progress: Progress,
    ) -> float:
        elapsed = 0.0
        async with trio_websocket.open_websocket_url(url, max_message_size=MAX_MESSAGE_SIZE) as ws:
            for phase, n in (("warm-up", warmup), ("timed", count)):
                progress.phase = phase
                in_flight = trio.Semaphore(window)

                async def sender(n: int = n, in_flight: trio.Semaphore = in_flight) -> None:
                    for _ in range(n):
                        await in_flight.acquire()
                        await ws.send_message(payload)
                        progress.sent += 1

                reply: str | bytes = b""
                start = time.perf_counter()
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(sender)
                    for _ in range(n):
                        reply = await ws.get_message()
                        in_flight.release()
                        progress.received += 1
                elapsed = time.perf_counter() - start
                _check_echo(reply, payload)
            progress.phase = "closing"
        return elapsed


# --- trio_ws_events.WebSocket ----------------------------------------------------------


class _Watch:
    """Turns an ending the benchmark did not ask for into a ClientFailed."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.closing = False
        self.failure: str | None = None
        self.scope = trio.CancelScope()

    def fail(self, what: str) -> None:
        if self.failure is None:
            self.failure = what
        self.scope.cancel()

    def check(self) -> None:
        if self.failure is not None:
            raise ClientFailed(self.failure)


async def _with_ours(
    url: str,
    progress: Progress,
    on_message: Callable[[WebSocket, str], None],
    on_binary: Callable[[WebSocket, bytes], None],
    body: Callable[[WebSocket, _Watch], Awaitable[None]],
) -> None:
    """Open one WebSocket the event-driven way, run ``body`` once it is open, close it."""
    from trio_ws_events import WebSocket

    watch = _Watch(url)
    opened = trio.Event()

    def on_open(ws: WebSocket) -> None:
        opened.set()

    def on_closed(ws: WebSocket, code: int, reason: str) -> None:
        if not watch.closing:
            watch.fail(f"on_closed({code}, {reason!r}) fired before the benchmark closed")
        opened.set()

    def on_error(ws: WebSocket, error: Exception) -> None:
        if not watch.closing:
            watch.fail(f"on_error({error!r})")
        else:
            watch.failure = watch.failure or f"on_error while closing: {error!r}"
        opened.set()

    async with trio.open_nursery() as nursery:
        ws = WebSocket(url, max_message_size=None)
        progress.detail = lambda: f"ws.state={ws.state!r}, ws.buffered_amount={ws.buffered_amount}"
        ws.on_open += on_open
        ws.on_message += on_message
        ws.on_binary += on_binary
        ws.on_closed += on_closed
        ws.on_error += on_error
        ws.open(nursery)
        with watch.scope:
            await opened.wait()
            if watch.failure is None:
                await body(ws, watch)
        watch.check()
        progress.phase = "closing"
        watch.closing = True
        ws.close(1000, "")
        await ws.wait_closed()
    watch.check()


class OursWebSocket:
    key = "ours"
    label = "trio-ws-events"

    def __init__(self) -> None:
        # Fail early, with a clear message, when the client cannot be imported.
        from trio_ws_events import WebSocket

        del WebSocket

    async def round_trips(
        self, url: str, payload: str, count: int, warmup: int, progress: Progress
    ) -> list[int]:
        clock = time.perf_counter_ns
        samples: list[int] = []
        arrived = trio.Event()
        reply: list[str | bytes] = [""]

        def on_message(ws: WebSocket, message: str) -> None:
            reply[0] = message
            progress.received += 1
            arrived.set()

        def on_binary(ws: WebSocket, data: bytes) -> None:
            reply[0] = data
            progress.received += 1
            arrived.set()

        async def body(ws: WebSocket, watch: _Watch) -> None:
            nonlocal arrived
            for phase, n in (("warm-up", warmup), ("timed", count)):
                progress.phase = phase
                for _ in range(n):
                    arrived = trio.Event()
                    start = clock()
                    ws.send(payload)
                    progress.sent += 1
                    await arrived.wait()
                    end = clock()
                    if phase == "timed":
                        samples.append(end - start)
                _check_echo(reply[0], payload)

        await _with_ours(url, progress, on_message, on_binary, body)
        return samples

    async def pipelined(
        self,
        url: str,
        payload: str | bytes,
        count: int,
        warmup: int,
        window: int,
        progress: Progress,
    ) -> float:
        in_flight = trio.Semaphore(window)
        done = trio.Event()
        target = 0
        received = 0
        reply: list[str | bytes] = [""]

        def on_message(ws: WebSocket, message: str) -> None:
            nonlocal received
            reply[0] = message
            received += 1
            progress.received += 1
            in_flight.release()
            if received == target:
                done.set()

        def on_binary(ws: WebSocket, data: bytes) -> None:
            nonlocal received
            reply[0] = data
            received += 1
            progress.received += 1
            in_flight.release()
            if received == target:
                done.set()

        elapsed = 0.0

        async def body(ws: WebSocket, watch: _Watch) -> None:
            nonlocal target, received, done, in_flight, elapsed
            for phase, n in (("warm-up", warmup), ("timed", count)):
                progress.phase = phase
                target, received, done = n, 0, trio.Event()
                in_flight = trio.Semaphore(window)
                start = time.perf_counter()
                for _ in range(n):
                    # send() never blocks: wait only when the window is full (see run.py).
                    try:
                        in_flight.acquire_nowait()
                    except trio.WouldBlock:
                        await in_flight.acquire()
                    ws.send(payload)
                    progress.sent += 1
                await done.wait()
                elapsed = time.perf_counter() - start
                _check_echo(reply[0], payload)

        await _with_ours(url, progress, on_message, on_binary, body)
        return elapsed


def _check_echo(reply: str | bytes, payload: str | bytes) -> None:
    if type(reply) is not type(payload) or reply != payload:
        shown = reply[:40] if isinstance(reply, str | bytes) else reply
        raise ClientFailed(
            f"echo mismatch: sent {type(payload).__name__} of {len(payload)}, "
            f"got {type(reply).__name__} {shown!r}..."
        )


# --- the echo server process -----------------------------------------------------------


def _proc_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of another process (Linux /proc), or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class EchoServer:
    def __init__(self, impl: str, cpu: int | None, uvloop: bool) -> None:
        cmd = [sys.executable, str(SERVER_SCRIPT), "--impl", impl, "--port", "0"]
        if cpu is not None:
            cmd += ["--cpu", str(cpu)]
        if not uvloop:
            cmd.append("--no-uvloop")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split(maxsplit=3)
        if len(line) < 4 or line[0] != "READY":
            self.stop()
            raise RuntimeError(f"echo server did not start (said {line!r})")
        self.impl = line[1]
        self.port = int(line[2])
        self.description = line[3].strip()
        self.url = f"ws://127.0.0.1:{self.port}/echo"

    def cpu_seconds(self) -> float | None:
        return _proc_cpu_seconds(self.proc.pid)

    def affinity(self) -> list[int] | None:
        try:
            return sorted(os.sched_getaffinity(self.proc.pid))
        except (AttributeError, OSError):
            return None

    def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# --- running and summarising -----------------------------------------------------------


@dataclass
class Run:
    client: str
    rep: int
    values: dict[str, float]
    elapsed_s: float
    client_cpu_pct: float
    server_cpu_pct: float | None
    other_cpu_pct: float | None


@dataclass
class Failure:
    client: str
    cell: str
    rep: int
    what: str
    details: str


@dataclass
class CellResult:
    cell: Cell
    runs: dict[str, list[Run]] = field(default_factory=dict)


def _p99(sorted_values: Sequence[int]) -> int:
    return sorted_values[max(0, math.ceil(0.99 * len(sorted_values)) - 1)]


async def run_one(
    client: Client, cell: Cell, server: EchoServer, rep: int, hang_after: float
) -> Run | Failure:
    progress = Progress()
    gc.collect()
    machine0 = _machine_cpu_seconds()
    cpu0 = time.process_time()
    srv0 = server.cpu_seconds()
    wall0 = time.perf_counter()
    values: dict[str, float] = {}
    try:
        with trio.move_on_after(hang_after) as scope:
            if cell.kind == "rtt":
                assert isinstance(cell.payload, str)
                samples = await client.round_trips(
                    server.url, cell.payload, cell.count, cell.warmup, progress
                )
                samples.sort()
                values = {
                    "median_us": statistics.median(samples) / 1000,
                    "p99_us": _p99(samples) / 1000,
                }
            else:
                seconds = await client.pipelined(
                    server.url, cell.payload, cell.count, cell.warmup, cell.window, progress
                )
                values = {
                    "msgs_per_s": cell.count / seconds,
                    "mib_per_s": cell.count * cell.size / seconds / MiB,
                }
    except Exception as exc:
        return Failure(
            client.key,
            cell.key,
            rep,
            f"{_describe_exception(exc)} ({progress.describe()})",
            "".join(traceback.format_exception(exc)),
        )
    if scope.cancelled_caught:
        return Failure(
            client.key,
            cell.key,
            rep,
            f"hung: no result after {hang_after:.0f} s ({progress.describe()})",
            "",
        )
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    srv1 = server.cpu_seconds()
    machine1 = _machine_cpu_seconds()
    server_pct = None if srv0 is None or srv1 is None else 100 * (srv1 - srv0) / wall
    other_pct = None
    if machine0 is not None and machine1 is not None and server_pct is not None:
        others = machine1[0] - machine0[0] - cpu - (wall * server_pct / 100)
        other_pct = max(0.0, 100 * others / wall)
    return Run(client.key, rep, values, wall, 100 * cpu / wall, server_pct, other_pct)


def _describe_exception(exc: BaseException) -> str:
    """One line naming the leaf exceptions (nurseries wrap them in groups)."""
    # (BaseExceptionGroup is not a builtin on Python 3.10: look for the attribute.)
    leaves = getattr(exc, "exceptions", None)
    if isinstance(leaves, tuple) and leaves:
        return "; ".join(_describe_exception(e) for e in leaves)
    text = f"{type(exc).__name__}: {exc}" if str(exc) else repr(exc)
    if exc.__cause__ is not None:
        text += f" (caused by {_describe_exception(exc.__cause__)})"
    return text


@dataclass(frozen=True)
class Metric:
    key: str
    title: str
    higher_is_better: bool
    checked: bool
    fmt: Callable[[float], str]


def _fmt_us(v: float) -> str:
    return f"{v:,.1f}"


def _fmt_rate(v: float) -> str:
    return f"{v:,.0f}"


def _fmt_mib(v: float) -> str:
    return f"{v:,.2f}" if v < 10 else f"{v:,.1f}"


METRICS = {
    "rtt": [
        Metric("median_us", "median latency, us", False, True, _fmt_us),
        Metric("p99_us", "p99 latency, us", False, False, _fmt_us),
    ],
    "pipe": [
        Metric("msgs_per_s", "msgs/s", True, True, _fmt_rate),
        Metric("mib_per_s", "MiB/s", True, False, _fmt_mib),
    ],
}


def _stats(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def _speed_ratio(ours: float, raw: float, higher_is_better: bool) -> float:
    return ours / raw if higher_is_better else raw / ours


def summarise(results: list[CellResult], clients: list[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for result in results:
        for metric in METRICS[result.cell.kind]:
            row: dict[str, Any] = {
                "cell": result.cell.key,
                "title": result.cell.title,
                "metric": metric.key,
                "metric_title": metric.title,
                "higher_is_better": metric.higher_is_better,
                "checked": metric.checked,
            }
            for key in clients:
                runs = result.runs.get(key, [])
                values = [r.values[metric.key] for r in runs]
                row[key] = {"runs": values, **_stats(values)} if values else None
            raw, ours = row.get("raw"), row.get("ours")
            if raw and ours:
                row["speed_ratio"] = _speed_ratio(
                    ours["median"], raw["median"], metric.higher_is_better
                )
                pairs = [
                    _speed_ratio(o, r, metric.higher_is_better)
                    for r, o in zip(raw["runs"], ours["runs"], strict=False)
                ]
                row["paired_ratios"] = pairs
                row["within_budget"] = row["speed_ratio"] >= BUDGET
            rows.append(row)
    return rows


def _cell_range(stats: dict[str, Any] | None, fmt: Callable[[float], str]) -> str:
    if not stats:
        return "failed"
    return f"{fmt(stats['median'])} ({fmt(stats['min'])}-{fmt(stats['max'])})"


def markdown_table(rows: list[dict[str, Any]], clients: list[str]) -> str:
    labels = {"raw": RawTrioWebsocket.label, "ours": OursWebSocket.label}
    both = "raw" in clients and "ours" in clients
    head = ["cell", "metric", *(f"{labels[c]} median (min-max)" for c in clients)]
    if both:
        head += ["speed ratio ours vs raw (per-run range)", "budget >= 0.95"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        metric = next(m for m in METRICS["rtt"] + METRICS["pipe"] if m.key == row["metric"])
        cells = [row["title"], row["metric_title"]]
        cells += [_cell_range(row[c], metric.fmt) for c in clients]
        if both:
            if "speed_ratio" in row:
                pairs = row["paired_ratios"]
                cells.append(f"{row['speed_ratio']:.3f}x ({min(pairs):.3f}-{max(pairs):.3f})")
                if row["checked"]:
                    cells.append("ok" if row["within_budget"] else "**MISSED**")
                else:
                    cells.append("(not checked)")
            else:
                cells += ["n/a", "n/a"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _median_max(values: list[float | None]) -> str:
    known = [v for v in values if v is not None]
    if not known:
        return "n/a"
    return f"{statistics.median(known):.0f} ({max(known):.0f})"


def cpu_table(results: list[CellResult], clients: list[str]) -> str:
    labels = {"raw": RawTrioWebsocket.label, "ours": OursWebSocket.label}
    head = [
        "cell",
        "client",
        "client CPU % (median)",
        "server CPU % (median, max)",
        "other processes CPU % (median, max)",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for result in results:
        for key in clients:
            runs = result.runs.get(key, [])
            if not runs:
                continue
            client_cpu = statistics.median(r.client_cpu_pct for r in runs)
            server = _median_max([r.server_cpu_pct for r in runs])
            others = _median_max([r.other_cpu_pct for r in runs])
            lines.append(
                f"| {result.cell.title} | {labels[key]} | {client_cpu:.0f} | {server} | {others} |"
            )
    return "\n".join(lines)


def _versions() -> dict[str, str]:
    out = {}
    for dist in ("trio", "trio-websocket", "wsproto", "trio-ws-events"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = "not installed (imported from the source tree)"
    return out


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _machine_cpu_seconds() -> tuple[float, float] | None:
    """(busy, steal) CPU seconds of the whole machine since boot, from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, _irq, _softirq, steal = fields
    tick = os.sysconf("SC_CLK_TCK")
    # irq and softirq time is left out: the loopback traffic of the benchmark itself is
    # processed there, and it is not charged to any process.
    return (user + nice + system) / tick, steal / tick


def _others_note(
    machine0: tuple[float, float] | None,
    machine1: tuple[float, float] | None,
    own: float,
    server0: float | None,
    server1: float | None,
    wall: float,
) -> tuple[str, float | None]:
    """How busy the machine was with anything but this benchmark (a noise indicator)."""
    if machine0 is None or machine1 is None or server0 is None or server1 is None:
        return "other activity on the machine: unknown", None
    busy = machine1[0] - machine0[0]
    steal = machine1[1] - machine0[1]
    others = max(0.0, busy - own - (server1 - server0))
    pct = 100 * others / wall
    return (
        f"other activity on the machine during the run: {pct:.0f}% of a core, "
        f"hypervisor steal {100 * steal / wall:.0f}% (both should be near 0 for stable figures)"
    ), pct


def plan_cpus(pin: bool) -> tuple[int | None, int | None, str]:
    """(client CPU, server CPU, sentence saying what was done)."""
    if not pin:
        return None, None, "CPU pinning: off (--no-pin)"
    if not hasattr(os, "sched_setaffinity"):
        return None, None, "CPU pinning: not available on this platform"
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, None, f"CPU pinning: off, only {len(cpus)} CPU available"
    client, server = cpus[0], cpus[1]
    return client, server, f"CPU pinning: client on CPU {client}, echo server on CPU {server}"


async def run_all(
    clients: list[Client],
    cells: list[Cell],
    server: EchoServer,
    repeats: int,
    hang_after: float,
    failures: list[Failure],
) -> list[CellResult]:
    results = [CellResult(cell) for cell in cells]
    for rep in range(repeats):
        order = clients if rep % 2 == 0 else clients[::-1]
        for result in results:
            for client in order:
                if any(f.client == client.key and f.cell == result.cell.key for f in failures):
                    continue
                print(
                    f"  rep {rep + 1}/{repeats}  {result.cell.title:<26} {client.label}",
                    file=sys.stderr,
                    flush=True,
                )
                outcome = await run_one(client, result.cell, server, rep, hang_after)
                if isinstance(outcome, Failure):
                    print(f"  FAILED: {outcome.what}", file=sys.stderr, flush=True)
                    failures.append(outcome)
                else:
                    result.runs.setdefault(client.key, []).append(outcome)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Measure trio_ws_events.WebSocket against raw trio-websocket "
        "(same echo server, same run).",
    )
    parser.add_argument("--quick", action="store_true", help="small counts, 3 repeats")
    parser.add_argument("--repeats", type=int, default=None, help="runs per cell (>= 3)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit 1 if ours is more than 5%% slower than raw in a checked cell",
    )
    parser.add_argument(
        "--clients",
        default="raw,ours",
        help="comma-separated subset of raw,ours (default: both)",
    )
    parser.add_argument(
        "--server",
        default="auto",
        choices=("auto", "picows", "aiohttp", "websockets"),
        help="echo server implementation (auto: fastest installed)",
    )
    parser.add_argument("--no-uvloop", action="store_true", help="server on plain asyncio")
    parser.add_argument("--no-pin", action="store_true", help="do not pin CPUs")
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds before a run counts as hung"
    )
    args = parser.parse_args(argv)

    repeats = args.repeats if args.repeats is not None else (3 if args.quick else 5)
    if repeats < 3:
        parser.error("--repeats must be at least 3")
    keys = [k.strip() for k in args.clients.split(",") if k.strip()]
    if not keys or any(k not in ("raw", "ours") for k in keys) or len(set(keys)) != len(keys):
        parser.error("--clients takes raw, ours or raw,ours")
    if args.check and set(keys) != {"raw", "ours"}:
        parser.error("--check needs both clients")

    # Make the source tree importable when run as a script (python benchmarks/...).
    root = str(HERE.parent)
    if root not in sys.path:
        sys.path.insert(0, root)

    clients: list[Client] = []
    for key in keys:
        if key == "raw":
            clients.append(RawTrioWebsocket())
        else:
            try:
                clients.append(OursWebSocket())
            except ImportError as exc:
                print(
                    f"cannot import trio_ws_events.WebSocket: {exc}\n"
                    "(use --clients raw to measure trio-websocket alone)",
                    file=sys.stderr,
                )
                return 2

    client_cpu, server_cpu, pin_note = plan_cpus(not args.no_pin)
    if client_cpu is not None:
        os.sched_setaffinity(0, {client_cpu})
    cells = make_cells(args.quick)
    server = EchoServer(args.server, server_cpu, not args.no_uvloop)
    failures: list[Failure] = []
    machine0 = _machine_cpu_seconds()
    own0 = time.process_time()
    server0 = server.cpu_seconds()
    started = time.perf_counter()
    try:
        print(
            f"echo server: {server.description} on port {server.port}, "
            f"pid {server.proc.pid}, CPUs {server.affinity()}; {pin_note}",
            file=sys.stderr,
            flush=True,
        )
        results = trio.run(run_all, clients, cells, server, repeats, args.timeout, failures)
        duration = time.perf_counter() - started
        others, other_busy_pct = _others_note(
            machine0,
            _machine_cpu_seconds(),
            time.process_time() - own0,
            server0,
            server.cpu_seconds(),
            duration,
        )
    finally:
        server.stop()

    rows = summarise(results, keys)
    environment: dict[str, Any] = {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "versions": _versions(),
        "server": server.description,
        "pinning": pin_note,
        "mode": "quick" if args.quick else "full",
        "repeats": repeats,
        "duration_s": round(duration, 1),
        "other_activity": others,
        "other_busy_pct": other_busy_pct,
    }
    print(f"# echo overhead: {' vs '.join(c.label for c in clients)}\n")
    print(
        f"- echo server: {server.description}, in its own process\n"
        f"- {pin_note}\n"
        f"- {environment['python']} on {environment['platform']}; "
        f"{environment['cpu']} ({environment['cpu_count']} CPUs)\n"
        f"- versions: "
        + ", ".join(f"{k} {v}" for k, v in environment["versions"].items())
        + f"\n- {environment['mode']} mode: {repeats} runs per cell, clients alternating; "
        f"counts: "
        + ", ".join(f"{c.title} x{c.count:,} (+{c.warmup:,} warm-up)" for c in cells)
        + f"; in-flight window {WINDOW_MESSAGES:,} msgs or {WINDOW_BYTES // MiB} MiB"
        + f"\n- took {duration:.1f} s; {others}\n"
    )
    if len(clients) == 2:
        print(
            "Speed ratio: ours/raw for throughput, raw/ours for latency, ratio of the "
            "medians; > 1 means trio-ws-events is faster. Budget (issue 2): >= 0.95 in "
            "every checked cell.\n"
        )
    print(markdown_table(rows, keys))
    print("\nCPU use while measuring (100% = one core busy):\n")
    print(cpu_table(results, keys))
    busy = [
        r.server_cpu_pct
        for res in results
        for runs in res.runs.values()
        for r in runs
        if r.server_cpu_pct is not None
    ]
    if busy and max(busy) > 70:
        print(
            f"\nWARNING: the echo server reached {max(busy):.0f}% of a core: it may be "
            "the bottleneck, the ratios understate differences."
        )

    if other_busy_pct is not None and other_busy_pct > 10:
        print(
            f"\nWARNING: other processes kept {other_busy_pct:.0f}% of a core busy during "
            "the run: the figures are noisy, run again on a quiet machine."
        )

    exit_code = 0
    if failures:
        print("\n## Failures\n")
        for f in failures:
            print(f"- {f.client}, {f.cell}, run {f.rep + 1}: {f.what}")
            if f.details:
                print("\n```\n" + f.details.rstrip() + "\n```\n")
        exit_code = 2

    missed = [r for r in rows if r["checked"] and "within_budget" in r and not r["within_budget"]]
    if args.check:
        for r in missed:
            print(
                f"CHECK FAILED: {r['title']} ({r['metric_title']}): speed ratio "
                f"{r['speed_ratio']:.3f} < {BUDGET}, trio-ws-events is "
                f"{(1 - r['speed_ratio']) * 100:.1f}% slower than raw trio-websocket",
                file=sys.stderr,
            )
        if not missed and not failures:
            print("CHECK OK: every checked cell within the 5% budget", file=sys.stderr)
        if missed and exit_code == 0:
            exit_code = 1

    if args.json:
        data = {
            "environment": environment,
            "convention": "speed_ratio = ours/raw (throughput) or raw/ours (latency); "
            "> 1 means trio-ws-events is faster",
            "budget": BUDGET,
            "cells": [
                {
                    "key": c.key,
                    "title": c.title,
                    "kind": c.kind,
                    "size": c.size,
                    "type": "text" if isinstance(c.payload, str) else "binary",
                    "count": c.count,
                    "warmup": c.warmup,
                    "window": c.window,
                }
                for c in cells
            ],
            "rows": rows,
            "runs": [
                {
                    "cell": res.cell.key,
                    "client": r.client,
                    "rep": r.rep,
                    **r.values,
                    "elapsed_s": r.elapsed_s,
                    "client_cpu_pct": r.client_cpu_pct,
                    "server_cpu_pct": r.server_cpu_pct,
                    "other_cpu_pct": r.other_cpu_pct,
                }
                for res in results
                for runs in res.runs.values()
                for r in runs
            ],
            "failures": [f.__dict__ for f in failures],
            "check": {"missed": [r["cell"] + ":" + r["metric"] for r in missed]},
        }
        Path(args.json).write_text(json.dumps(data, indent=2) + "\n")
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
