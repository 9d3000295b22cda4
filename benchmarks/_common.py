"""Helpers shared by the benchmark runner (``run.py``) and its worker processes.

Everything here is standard library only, so that a worker imports nothing but the
client it measures.
"""

from __future__ import annotations

import contextlib
import gc
import importlib.metadata
import json
import math
import os
import platform
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

KiB = 1024
MiB = 1024 * 1024

HERE = Path(__file__).resolve().parent
SERVER_SCRIPT = HERE / "echo_server.py"

CLIENT_MAX_MESSAGE = 128 * MiB
"""Message size limit given to every client that has one (W3 echoes 64 MiB)."""


# --- the workload description sent to a worker -----------------------------------------


@dataclass(frozen=True)
class Job:
    """One measured run of one workload, as sent (in JSON) to a worker process."""

    workload: str  # "w1" ... "w5"
    size: int  # payload bytes
    text: bool  # text message (str) or binary (bytes)
    count: int  # W1/W2 messages, W4 handshakes, W5 connections
    warmup: int = 0
    window: int = 1  # W2: most messages in flight
    rounds: int = 0  # W5: round trips per connection

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, line: str) -> Job:
        return cls(**json.loads(line))


def make_payload(size: int, text: bool) -> str | bytes:
    """The message of ``size`` bytes (ASCII text, or bytes 0..255 repeating)."""
    if text:
        unit = "0123456789abcdef"
        return (unit * (size // len(unit) + 1))[:size]
    unit_b = bytes(range(256))
    # One multiplication: no temporary copy of a large payload (W3 measures peak RSS).
    return unit_b * (size // 256) + unit_b[: size % 256]


W3_WARMUP = make_payload(64 * 1024, text=False)
"""The message W3 echoes once, untimed, before the large one."""


class ClientFailed(Exception):
    """A client ended a connection the benchmark did not ask to end, echoed wrong data,
    or hung; ``details`` says more (for a hang: what every task was waiting for)."""

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.details = details


PROBES: list[Callable[[], str]] = []
"""State reporters of the connections in progress (e.g. ``ws.state``), read only when a
run hangs, so that a hang report says where each connection was."""


def probe_report() -> str:
    lines = []
    for probe in list(PROBES)[:20]:
        try:
            lines.append(probe())
        except Exception as exc:
            lines.append(f"(probe failed: {exc!r})")
    if len(PROBES) > 20:
        lines.append(f"... and {len(PROBES) - 20} more connections")
    return "\n".join(lines)


def frame_chain(coro: Any, limit: int = 6) -> str:
    """Where a suspended coroutine is waiting: its chain of awaits, innermost last,
    without the frames of trio's and asyncio's own machinery."""
    frames: list[str] = []
    while coro is not None and len(frames) < 50:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is not None:
            name = frame.f_code.co_filename
            if "/trio/_core/" not in name and "/asyncio/" not in name:
                short = "/".join(Path(name).parts[-2:])
                frames.append(f"{short}:{frame.f_lineno} {frame.f_code.co_name}")
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return " -> ".join(frames[-limit:]) or "(no frames)"


def check_echo(reply: object, payload: str | bytes | bytearray) -> None:
    """Raise ClientFailed unless ``reply`` is ``payload``, of the same type."""
    if type(reply) is not type(payload) or reply != payload:
        shown = reply[:40] if isinstance(reply, str | bytes | bytearray) else reply
        size = len(reply) if isinstance(reply, str | bytes | bytearray) else "?"
        raise ClientFailed(
            f"echo mismatch: sent {type(payload).__name__} of {len(payload)}, "
            f"got {type(reply).__name__} of {size}: {shown!r}..."
        )


# --- CPU and memory --------------------------------------------------------------------


def proc_cpu_seconds(pid: int) -> float | None:
    """CPU seconds used by a process (all its threads), or None.

    From ``/proc/PID/task/*/schedstat`` (nanoseconds) when the kernel has it, else from
    ``/proc/PID/stat`` (clock ticks, too coarse for runs of a few tens of ms)."""
    try:
        total = 0
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
        if total:
            return total / 1e9
    except (OSError, ValueError, IndexError):
        pass
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu_seconds() -> tuple[float, float] | None:
    """(busy, steal) CPU seconds of the whole machine since boot, from /proc/stat.

    irq and softirq time is left out: the loopback traffic of the benchmark itself is
    processed there, and it is not charged to any process.
    """
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, _irq, _softirq, steal = fields
    tick = os.sysconf("SC_CLK_TCK")
    return (user + nice + system) / tick, steal / tick


def max_rss_kib() -> int:
    """Peak resident set size of this process so far (``ru_maxrss``, KiB on Linux)."""
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def current_rss_kib() -> int | None:
    """Resident set size of this process now (Linux /proc/self/statm), or None."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") // KiB


def raise_nofile_limit(needed: int) -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE to at least ``needed`` (capped by the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        new = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def pin_to(cpu: int | None) -> None:
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})


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
    return (
        client,
        server,
        f"CPU pinning: client processes (and the runner) on CPU {client}, "
        f"echo server on CPU {server}",
    )


class Meter:
    """Brackets the timed part of a run: wall time, CPU of this process, of the echo
    server and of everything else on the machine, and this process's memory.

    ``start()`` reads its counters first and the clock last; ``stop()`` the clock first,
    so the reads of /proc are outside the timed interval.
    """

    def __init__(self, server_pid: int | None) -> None:
        self.server_pid = server_pid
        self.wall = 0.0
        self.cpu = 0.0
        self.server_cpu: float | None = None
        self.other_cpu: float | None = None
        self.steal: float | None = None
        self.maxrss_before = 0
        self.rss_before: int | None = None
        self.maxrss_after = 0
        self.rss_mark: int | None = None
        self._started = False

    def start(self) -> None:
        gc.collect()
        self.maxrss_before = max_rss_kib()
        self.rss_before = current_rss_kib()
        self._machine0 = machine_cpu_seconds()
        self._server0 = None if self.server_pid is None else proc_cpu_seconds(self.server_pid)
        self._cpu0 = time.process_time()
        self._started = True
        self._wall0 = time.perf_counter()

    def mark_rss(self) -> None:
        """Record the current RSS (W5: when every connection is open)."""
        self.rss_mark = current_rss_kib()

    def stop(self) -> None:
        wall1 = time.perf_counter()
        cpu1 = time.process_time()
        if not self._started:
            raise RuntimeError("Meter.stop() without start()")
        self.wall = wall1 - self._wall0
        self.cpu = cpu1 - self._cpu0
        server1 = None if self.server_pid is None else proc_cpu_seconds(self.server_pid)
        machine1 = machine_cpu_seconds()
        self.maxrss_after = max_rss_kib()
        if self._server0 is not None and server1 is not None:
            self.server_cpu = server1 - self._server0
        if self._machine0 is not None and machine1 is not None:
            busy = machine1[0] - self._machine0[0]
            self.steal = machine1[1] - self._machine0[1]
            self.other_cpu = max(0.0, busy - self.cpu - (self.server_cpu or 0.0))

    def as_dict(self) -> dict[str, Any]:
        def pct(v: float | None) -> float | None:
            return None if v is None or self.wall <= 0 else round(100 * v / self.wall, 1)

        return {
            "wall_s": self.wall,
            "client_cpu_pct": pct(self.cpu),
            "server_cpu_pct": pct(self.server_cpu),
            "other_cpu_pct": pct(self.other_cpu),
            "steal_pct": pct(self.steal),
            "maxrss_before_kib": self.maxrss_before,
            "rss_before_kib": self.rss_before,
            "maxrss_after_kib": self.maxrss_after,
            "rss_mark_kib": self.rss_mark,
        }


def p99(sorted_values: Sequence[int]) -> int:
    return sorted_values[max(0, math.ceil(0.99 * len(sorted_values)) - 1)]


def describe_exception(exc: BaseException) -> str:
    """One line naming the leaf exceptions (nurseries and task groups wrap them)."""
    leaves = getattr(exc, "exceptions", None)
    if isinstance(leaves, tuple) and leaves:
        return "; ".join(describe_exception(e) for e in leaves)
    text = f"{type(exc).__name__}: {exc}" if str(exc) else repr(exc)
    if exc.__cause__ is not None:
        text += f" (caused by {describe_exception(exc.__cause__)})"
    return text


# --- the machine -----------------------------------------------------------------------


def dist_version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


# --- the echo server process -----------------------------------------------------------


class EchoServer:
    """``echo_server.py`` in a subprocess; it stops when its stdin closes."""

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

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        """Running and accepting connections (a server stopping has closed its socket
        before its process exits)."""
        if self.proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2):
                return True
        except OSError:
            return False

    def affinity(self) -> list[int] | None:
        try:
            return sorted(os.sched_getaffinity(self.proc.pid))
        except (AttributeError, OSError):
            return None

    def stop(self) -> None:
        stop_child(self.proc, grace=5)


def stop_child(proc: subprocess.Popen[str], grace: float) -> None:
    """Close the stdin of a child that stops at the end of its stdin; wait ``grace``
    seconds for it, then terminate it, then kill it."""
    if proc.stdin is not None:
        with contextlib.suppress(OSError):
            proc.stdin.close()
    for end in (None, proc.terminate, proc.kill):
        if end is not None:
            with contextlib.suppress(OSError):
                end()
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue
    proc.wait()
