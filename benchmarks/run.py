"""Issue 8's benchmark: trio_ws_events against every peer, in one run, against one server.

Clients (each in its own process, see ``_worker.py``; the registry is ``_registry.CLIENTS``):
trio_ws_events.WebSocket, raw trio-websocket, websockets' Trio client, websockets' asyncio
client, aiohttp, picows' client, and two references with no WebSocket library, pre-built
frames: the Trio floor (a Trio stream: what Trio itself costs) and a raw socket (the loopback
ceiling). They
all talk to ONE echo server (``echo_server.py``, the fastest installed: picows on uvloop)
in its own process.

Workloads (full-run defaults; ``--quick`` shrinks them):

* W1: 20,000 sequential 16 B text round trips: median and p99 round-trip time;
* W2: pipelined messages of 16 B and 1 KiB (text), 64 KiB and 1 MiB (binary), a sender
  and a receiver running concurrently, at most 1,000 messages or 8 MiB in flight;
* W3: one 64 MiB binary message echoed: time, and the client's peak RSS growth (a fresh
  process per run; ``ru_maxrss`` before and after);
* W4: 2,000 sequential connect + close handshakes: time per handshake;
* W5: 1,000 concurrent connections, 10 round trips each: total time and RSS per
  connection (a fresh process per run).

Every cell runs ``--repeats`` times (at least 3) with the clients interleaved; the
report gives the median, the min-max range and the ratio to raw trio-websocket, where
> 1 always means faster (or less memory) than raw trio-websocket.

Run from the repository root, with ``pip install -e '.[bench]'``::

    python -m benchmarks.run --quick          # under a minute
    python -m benchmarks.run                  # the full run (about 6 minutes here)
    python -m benchmarks.run --docs           # full run, then update docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import _report
from ._common import (
    EchoServer,
    Job,
    KiB,
    MiB,
    cpu_model,
    dist_version,
    machine_cpu_seconds,
    plan_cpus,
    proc_cpu_seconds,
    raise_nofile_limit,
    stop_child,
)
from ._registry import CLIENTS, CLIENTS_BY_KEY

ROOT = Path(__file__).resolve().parent.parent
WINDOW_MESSAGES = 1000
WINDOW_BYTES = 8 * MiB
DEFAULT_OUT = ROOT / "benchmarks" / "results"
DOCS_PAGE = ROOT / "docs" / "benchmarks.md"
DOCS_IMAGE = ROOT / "docs" / "assets" / "benchmarks.png"


# --- cells -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    key: str
    title: str
    job: Job
    fresh: bool  # a fresh worker process per run (W3, W5: clean peak RSS)


def _size_title(size: int) -> str:
    if size >= MiB and size % MiB == 0:
        return f"{size // MiB} MiB"
    if size >= KiB and size % KiB == 0:
        return f"{size // KiB} KiB"
    return f"{size} B"


def make_cells(args: argparse.Namespace) -> list[Cell]:
    quick = args.quick
    w1 = args.w1_count or (1_000 if quick else 20_000)
    w2_counts = {16: 1_500, KiB: 1_500, 64 * KiB: 200, MiB: 20}
    if not quick:
        w2_counts = {16: 20_000, KiB: 20_000, 64 * KiB: 2_000, MiB: 200}
    w3 = (args.w3_mib or (16 if quick else 64)) * MiB
    w4 = args.w4_count or (100 if quick else 2_000)
    w5 = args.w5_conns or (100 if quick else 1_000)
    cells: list[Cell] = []
    wanted = set(args.workloads)
    if "w1" in wanted:
        job = Job("w1", 16, True, w1, warmup=max(1, w1 // 20))
        cells.append(Cell("w1", "W1 16 B round trip", job, fresh=False))
    if "w2" in wanted:
        for size, count in w2_counts.items():
            count = max(10, round(count * args.w2_scale))
            window = max(1, min(WINDOW_MESSAGES, WINDOW_BYTES // size))
            job = Job("w2", size, size <= KiB, count, warmup=max(1, count // 10), window=window)
            name = _size_title(size)
            cells.append(Cell(f"w2_{name.replace(' ', '')}", f"W2 {name} pipelined", job, False))
    if "w3" in wanted:
        job = Job("w3", w3, False, 1)
        cells.append(Cell("w3", f"W3 {_size_title(w3)} echo", job, fresh=True))
    if "w4" in wanted:
        job = Job("w4", 0, True, w4, warmup=max(1, w4 // 40))
        cells.append(Cell("w4", "W4 connect + close", job, fresh=False))
    if "w5" in wanted:
        job = Job("w5", 16, True, w5, rounds=args.w5_rounds)
        title = f"W5 {w5:,} connections x {args.w5_rounds} round trips"
        cells.append(Cell("w5", title, job, fresh=True))
    return cells


# --- worker processes ------------------------------------------------------------------


class WorkerGone(Exception):
    pass


class Worker:
    """One client process (``_worker.py``); jobs go in as JSON lines, results come out."""

    def __init__(self, key: str, url: str, server_pid: int, cpu: int | None, args: Any) -> None:
        cmd = [
            sys.executable,
            "-m",
            "benchmarks._worker",
            "--client",
            key,
            "--url",
            url,
            "--server-pid",
            str(server_pid),
            "--client-loop",
            args.client_loop,
            "--nofile",
            str(args.nofile),
            "--timeout",
            str(args.timeout),
        ]
        if cpu is not None:
            cmd += ["--cpu", str(cpu)]
        self.key = key
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.hello: dict[str, Any] = {}
        self.unavailable: str | None = None
        line = self._next(("READY ", "UNAVAILABLE "), timeout=120)
        if line.startswith("UNAVAILABLE "):
            self.unavailable = line.split(" ", 1)[1].strip()
        else:
            self.hello = json.loads(line.split(" ", 1)[1])

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def _next(self, prefixes: tuple[str, ...], timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                raise TimeoutError from None
            if line is None:
                self.proc.wait()
                raise WorkerGone(f"client process exited with status {self.proc.returncode}")
            if line.startswith(prefixes):
                return line

    def run(self, job: Job, timeout: float) -> dict[str, Any]:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(job.to_json() + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise WorkerGone(f"client process is gone ({exc!r})") from None
        line = self._next(("RESULT ",), timeout)
        result: dict[str, Any] = json.loads(line.split(" ", 1)[1])
        return result

    def close(self) -> None:
        stop_child(self.proc, grace=10)

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)


# --- measuring -------------------------------------------------------------------------


@dataclass
class RunRecord:
    client: str
    cell: str
    rep: int
    values: dict[str, float]
    meter: dict[str, Any]
    attempts: int
    busy: bool  # still above --max-other after the retries


@dataclass
class FailureRecord:
    client: str
    cell: str
    rep: int
    error: str
    details: str = ""


@dataclass
class Results:
    runs: list[RunRecord] = field(default_factory=list)
    failures: list[FailureRecord] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)
    hello: dict[str, dict[str, Any]] = field(default_factory=dict)
    retried: int = 0
    waited_s: float = 0.0
    retry_s: float = 0.0
    server_restarts: list[str] = field(default_factory=list)


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class Runner:
    def __init__(self, args: Any, client_cpu: int | None, server_cpu: int | None) -> None:
        self.args = args
        self.client_cpu = client_cpu
        self.server_cpu = server_cpu
        self.server = EchoServer(args.server, server_cpu, not args.no_uvloop)
        self.workers: dict[str, Worker] = {}
        self.results = Results()

    def restart_server(self) -> None:
        """The echo server died (killed from outside, or crashed): start a new one. The
        client processes know the old port, so they are replaced too."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.server.proc.wait(timeout=5)
        code = self.server.proc.poll()
        what = "stopped accepting connections" if code is None else f"exited with {code}"
        _log(f"    the echo server (pid {self.server.pid}) {what}: restarting it")
        self.results.server_restarts.append(f"pid {self.server.pid} {what}")
        self.close()
        self.server.stop()
        self.server = EchoServer(self.args.server, self.server_cpu, not self.args.no_uvloop)

    # Workers -------------------------------------------------------------------------

    def _spawn(self, key: str) -> Worker:
        worker = Worker(key, self.server.url, self.server.pid, self.client_cpu, self.args)
        if worker.unavailable is not None:
            self.results.unavailable[key] = worker.unavailable
            worker.close()
        else:
            self.results.hello.setdefault(key, worker.hello)
        return worker

    def _persistent(self, key: str) -> Worker:
        worker = self.workers.get(key)
        if worker is None or worker.proc.poll() is not None:
            worker = self.workers[key] = self._spawn(key)
        return worker

    def close(self) -> None:
        for worker in self.workers.values():
            worker.close()
        self.workers.clear()

    def probe(self, keys: list[str]) -> list[str]:
        """Start every client's process once; drop the ones that cannot be imported."""
        available = []
        for key in keys:
            worker = self._persistent(key)
            if worker.unavailable is None:
                available.append(key)
            else:
                del self.workers[key]
                _log(f"  {CLIENTS_BY_KEY[key].label}: not available ({worker.unavailable})")
        return available

    # One run -------------------------------------------------------------------------

    def _once(self, key: str, cell: Cell) -> dict[str, Any]:
        # The worker reports a hang itself after --timeout (with what each task waited
        # for); this is for a worker that cannot even do that.
        timeout = self.args.timeout + 30
        if cell.fresh:
            worker = self._spawn(key)
            if worker.unavailable is not None:
                return {"ok": False, "error": f"not available: {worker.unavailable}"}
            try:
                return worker.run(cell.job, timeout)
            except TimeoutError:
                worker.kill()
                return {"ok": False, "error": f"hung: no result after {timeout:.0f} s"}
            except WorkerGone as exc:
                return {"ok": False, "error": str(exc)}
            finally:
                worker.close()
        worker = self._persistent(key)
        try:
            return worker.run(cell.job, timeout)
        except TimeoutError:
            worker.kill()
            del self.workers[key]
            return {"ok": False, "error": f"hung: no result after {timeout:.0f} s"}
        except WorkerGone as exc:
            del self.workers[key]
            return {"ok": False, "error": str(exc)}

    def _busy(self, meter: dict[str, Any]) -> bool:
        """Did other processes use more than --max-other of a core during the run?
        Two clock ticks of slack: /proc/stat counts in ticks."""
        other = meter.get("other_cpu_pct")
        if other is None:
            return False
        wall = float(meter["wall_s"])
        slack = 2 / os.sysconf("SC_CLK_TCK")
        return bool(other * wall / 100 > self.args.max_other * wall / 100 + slack)

    def wait_until_quiet(self, limit: float) -> None:
        """Wait (at most ``limit`` s) until other processes use at most --max-other."""
        started = time.monotonic()
        while time.monotonic() - started < limit:
            m0, s0, t0 = machine_cpu_seconds(), proc_cpu_seconds(self.server.pid), time.time()
            time.sleep(0.5)
            m1, s1, t1 = machine_cpu_seconds(), proc_cpu_seconds(self.server.pid), time.time()
            if m0 is None or m1 is None:
                return
            others = m1[0] - m0[0] - ((s1 or 0) - (s0 or 0))
            if 100 * others / (t1 - t0) <= self.args.max_other:
                break
        self.results.waited_s += time.monotonic() - started

    def _budget_left(self) -> float:
        return float(self.args.retry_budget) - self.results.retry_s

    def measure(self, key: str, cell: Cell, rep: int) -> None:
        """Run one cell for one client; run it again (after waiting for the machine to
        calm down) while other processes were busy, within --retries and --retry-budget;
        keep the quietest attempt."""
        label = CLIENTS_BY_KEY[key].label
        best: dict[str, Any] | None = None
        attempts = 0
        attempt = 0
        while True:
            began = time.monotonic()
            if attempt:
                self.results.retried += 1
                self.wait_until_quiet(min(self.args.quiet_wait, self._budget_left()))
            attempts += 1
            if self.server.proc.poll() is not None:
                self.restart_server()
            outcome = self._once(key, cell)
            if attempt:
                self.results.retry_s += time.monotonic() - began
            attempt += 1
            more = attempt <= self.args.retries and self._budget_left() > 0
            if not outcome.get("ok") and attempt <= 2 and not self.server.alive():
                continue  # not the client's fault: the next attempt restarts the server
            if not outcome.get("ok"):
                error = str(outcome.get("error", "unknown error"))
                _log(f"    FAILED: {label}, {cell.title}: {error}")
                self.results.failures.append(
                    FailureRecord(key, cell.key, rep, error, str(outcome.get("traceback", "")))
                )
                return
            if best is None or (outcome["meter"].get("other_cpu_pct") or 0) < (
                best["meter"].get("other_cpu_pct") or 0
            ):
                best = outcome
            if not self._busy(outcome["meter"]):
                break
            _log(
                f"    machine busy during the run (other processes "
                f"{outcome['meter']['other_cpu_pct']:.0f}% of a core): "
                + ("running it again" if more else "kept, marked noisy")
            )
            if not more:
                break
        assert best is not None
        self.results.runs.append(
            RunRecord(
                key,
                cell.key,
                rep,
                best["values"],
                best["meter"],
                attempts,
                self._busy(best["meter"]),
            )
        )

    def run_all(self, keys: list[str], cells: list[Cell], repeats: int) -> None:
        for rep in range(repeats):
            for index, cell in enumerate(cells):
                shift = (rep + index) % len(keys)
                order = keys[shift:] + keys[:shift]
                for key in order:
                    if any(f.client == key and f.cell == cell.key for f in self.results.failures):
                        continue  # failed in this cell already: do not wait for it again
                    _log(f"  rep {rep + 1}/{repeats}  {cell.title:<38} {CLIENTS_BY_KEY[key].label}")
                    self.measure(key, cell, rep)


# --- main ------------------------------------------------------------------------------


def _environment(
    args: Any, server: EchoServer, pin_note: str, results: Results, keys: list[str]
) -> dict[str, Any]:
    versions: dict[str, dict[str, str | None]] = {}
    for key in keys:
        hello = results.hello.get(key, {})
        versions[key] = hello.get("versions", {})
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "nproc": os.cpu_count(),
        "server": server.description,
        "server_cpus": server.affinity(),
        "pinning": pin_note,
        "client_loop": args.client_loop,
        "versions": versions,
        "settings": {k: results.hello.get(k, {}).get("settings") for k in keys},
        "trio": dist_version("trio"),
        "matplotlib": dist_version("matplotlib"),
        "mode": "quick" if args.quick else "full",
        "command": " ".join(["python -m benchmarks.run", *args.argv]),
        "custom_counts": any(
            v is not None for v in (args.w1_count, args.w3_mib, args.w4_count, args.w5_conns)
        )
        or args.w2_scale != 1.0
        or args.w5_rounds != 10,
        "repeats": args.repeats,
        "max_other_pct": args.max_other,
        "retries": args.retries,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="Issue 8's benchmark: trio_ws_events against raw trio-websocket, "
        "websockets (Trio and asyncio), aiohttp, picows, the Trio floor and a raw socket, against "
        "one echo server.",
    )
    parser.add_argument("--quick", action="store_true", help="small counts: under a minute")
    parser.add_argument("--repeats", type=int, default=3, help="runs per cell (>= 3)")
    parser.add_argument(
        "--clients",
        default=",".join(c.key for c in CLIENTS),
        help="comma-separated subset of " + ", ".join(c.key for c in CLIENTS),
    )
    parser.add_argument(
        "--workloads", default="w1,w2,w3,w4,w5", help="comma-separated subset of w1..w5"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results directory")
    parser.add_argument(
        "--docs",
        action="store_true",
        help="also update docs/benchmarks.md and docs/assets/benchmarks.png",
    )
    parser.add_argument(
        "--server", default="auto", choices=("auto", "picows", "aiohttp", "websockets")
    )
    parser.add_argument("--no-uvloop", action="store_true", help="echo server on plain asyncio")
    parser.add_argument(
        "--client-loop",
        default="asyncio",
        choices=("asyncio", "uvloop"),
        help="event loop of the asyncio clients (default: the standard one)",
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds before a run hangs")
    parser.add_argument(
        "--max-other",
        type=float,
        default=25.0,
        help="%% of a core other processes may use during a run before it is run again",
    )
    parser.add_argument("--retries", type=int, default=2, help="re-runs of a busy run")
    parser.add_argument(
        "--retry-budget",
        type=float,
        default=None,
        help="seconds all re-runs may take together (default 180; --quick: 10)",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=10.0,
        help="seconds to wait at most for other processes to calm down before a re-run",
    )
    parser.add_argument("--w1-count", type=int, default=None, help="W1 round trips")
    parser.add_argument("--w2-scale", type=float, default=1.0, help="multiply the W2 counts")
    parser.add_argument("--w3-mib", type=int, default=None, help="W3 message size in MiB")
    parser.add_argument("--w4-count", type=int, default=None, help="W4 handshakes")
    parser.add_argument("--w5-conns", type=int, default=None, help="W5 connections")
    parser.add_argument("--w5-rounds", type=int, default=10, help="W5 round trips each")
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.repeats < 3:
        parser.error("--repeats must be at least 3")
    args.clients = [c.strip() for c in args.clients.split(",") if c.strip()]
    unknown = [c for c in args.clients if c not in CLIENTS_BY_KEY]
    if unknown or not args.clients or len(set(args.clients)) != len(args.clients):
        parser.error(f"--clients: unknown or repeated {unknown or args.clients}")
    args.workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    if not args.workloads or any(w not in ("w1", "w2", "w3", "w4", "w5") for w in args.workloads):
        parser.error("--workloads takes a comma-separated subset of w1,w2,w3,w4,w5")
    if args.docs:
        if args.quick:
            parser.error("--docs wants a full run: the docs quote the full figures")
        if set(args.clients) != set(CLIENTS_BY_KEY) or len(args.workloads) != 5:
            parser.error("--docs wants every client and every workload")
        if not _report.have_matplotlib():
            parser.error("--docs needs matplotlib for the chart: pip install -e '.[bench]'")
        if _report.DOCS_BEGIN not in DOCS_PAGE.read_text(encoding="utf-8"):
            parser.error(f"{DOCS_PAGE} has no {_report.DOCS_BEGIN!r} marker")
    if args.retry_budget is None:
        args.retry_budget = 10.0 if args.quick else 180.0
    args.nofile = (args.w5_conns or (100 if args.quick else 1_000)) + 256
    return args


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # runs the finally blocks: workers and server stop


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    cells = make_cells(args)
    client_cpu, server_cpu, pin_note = plan_cpus(not args.no_pin)
    if client_cpu is not None:
        os.sched_setaffinity(0, {client_cpu})
    # The echo server and the client processes inherit the limit.
    soft, _hard = raise_nofile_limit(args.nofile)
    if soft != -1 and soft < args.nofile:
        _log(f"warning: RLIMIT_NOFILE is {soft}, W5 needs about {args.nofile} descriptors")

    started = time.perf_counter()
    machine0 = machine_cpu_seconds()
    runner = Runner(args, client_cpu, server_cpu)
    try:
        server = runner.server
        _log(
            f"echo server: {server.description}, pid {server.pid}, CPUs {server.affinity()}; "
            f"{pin_note}"
        )
        keys = runner.probe(args.clients)
        if not keys:
            _log("no client could be imported")
            return 2
        runner.run_all(keys, cells, args.repeats)
        server = runner.server
        server_alive = server.alive()
    finally:
        runner.close()
        runner.server.stop()
    duration = time.perf_counter() - started
    machine1 = machine_cpu_seconds()

    results = runner.results
    env = _environment(args, server, pin_note, results, args.clients)
    env["duration_s"] = round(duration, 1)
    env["retried_runs"] = results.retried
    env["retry_s"] = round(results.retry_s, 1)
    env["retry_budget_s"] = args.retry_budget
    env["waited_for_quiet_s"] = round(results.waited_s, 1)
    if machine0 is not None and machine1 is not None:
        env["machine_busy_pct"] = round(100 * (machine1[0] - machine0[0]) / duration, 1)
    env["server_restarts"] = results.server_restarts
    if not server_alive:
        results.failures.append(FailureRecord("-", "-", 0, "the echo server died during the run"))

    report = _report.build(env, cells, args.clients, results)
    markdown = _report.markdown(report, image=None)
    print(markdown)

    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"bench-{env['mode']}"
    Path(f"{stem}.md").write_text(markdown + "\n", encoding="utf-8")
    Path(f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    written = [f"{stem}.md", f"{stem}.json"]
    if _report.have_matplotlib():
        _report.chart(report, Path(f"{stem}.png"))
        written.append(f"{stem}.png")
    else:
        _log("matplotlib is not installed: no chart (pip install -e '.[bench]')")
    if args.docs:
        DOCS_IMAGE.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f"{stem}.png", DOCS_IMAGE)
        section = _report.markdown(report, image=DOCS_IMAGE.relative_to(DOCS_PAGE.parent))
        _report.update_docs(DOCS_PAGE, section)
        written += [str(DOCS_PAGE), str(DOCS_IMAGE)]
    _log("wrote " + ", ".join(written))
    return 2 if results.failures else 0


if __name__ == "__main__":
    sys.exit(main())
