"""A client process of the benchmark runner: it measures one client, one job at a time.

Started by ``run.py`` as ``python -m benchmarks._worker --client KEY --url URL ...``. It
imports only its client, pins itself to a CPU, then prints ``READY <json>`` (or
``UNAVAILABLE <reason>`` when the client cannot be imported) and reads jobs, one JSON
line each, from stdin; for each it prints one ``RESULT <json>`` line. It exits at the end
of stdin. Other lines on stdout are ignored by the runner.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import statistics
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Protocol

from ._common import (
    ClientFailed,
    Job,
    Meter,
    MiB,
    describe_exception,
    dist_version,
    p99,
    pin_to,
    raise_nofile_limit,
)
from ._registry import CLIENTS_BY_KEY


class Driver(Protocol):
    dists: tuple[str, ...]
    settings: str

    def run(self, job: Job, url: str, meter: Meter, timeout: float) -> list[int] | None: ...


def load(key: str, client_loop: str) -> Driver:
    info = CLIENTS_BY_KEY[key]
    module = importlib.import_module(info.module)
    cls = getattr(module, info.cls)
    driver: Driver = cls(use_uvloop=client_loop == "uvloop") if info.loop == "asyncio" else cls()
    return driver


def figures(job: Job, samples: list[int] | None, meter: Meter) -> dict[str, float]:
    """The reported figures of one run, from the samples and the meter."""
    # The client's CPU time per message (or handshake), in us: where its time goes.
    cpu_us = meter.cpu / max(1, job.count) * 1e6
    if job.workload == "w1":
        assert samples
        samples.sort()
        return {
            "median_us": statistics.median(samples) / 1000,
            "p99_us": p99(samples) / 1000,
            "mean_us": statistics.fmean(samples) / 1000,
            "cpu_us_per_msg": cpu_us,
        }
    wall = meter.wall
    if job.workload == "w2":
        return {
            "msgs_per_s": job.count / wall,
            "mib_per_s": job.count * job.size / wall / MiB,
            "cpu_us_per_msg": cpu_us,
        }
    if job.workload == "w3":
        growth_kib = meter.maxrss_after - meter.maxrss_before
        return {
            "seconds": wall,
            "mib_per_s": job.size / wall / MiB,
            "rss_growth_mib": growth_kib / 1024,
            "rss_growth_x": growth_kib * 1024 / job.size,
            # How far the peak before the run was above the RSS at its start: a growth
            # smaller than this could be hidden (it should be near 0 in a fresh process).
            "baseline_gap_mib": (meter.maxrss_before - (meter.rss_before or 0)) / 1024,
        }
    if job.workload == "w4":
        return {
            "us_per_handshake": wall / job.count * 1e6,
            "handshakes_per_s": job.count / wall,
            "cpu_us_per_handshake": cpu_us,
        }
    if job.workload == "w5":
        out = {
            "seconds": wall,
            "kib_per_conn": (meter.maxrss_after - meter.maxrss_before) / job.count,
        }
        if meter.rss_mark is not None and meter.rss_before is not None:
            out["kib_per_conn_open"] = (meter.rss_mark - meter.rss_before) / job.count
        return out
    raise ValueError(f"unknown workload {job.workload!r}")


def _details(exc: BaseException) -> str:
    """The ``details`` of the ClientFailed leaves of ``exc`` (e.g. a hang report)."""
    if isinstance(exc, ClientFailed):
        return exc.details
    leaves = getattr(exc, "exceptions", None)
    if isinstance(leaves, tuple):
        return "\n".join(d for d in (_details(e) for e in leaves) if d)
    return ""


def _exit_with_parent() -> None:
    """Exit when the runner goes away, even while a client is stuck in a job."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(3)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="benchmark client process (see run.py)")
    parser.add_argument("--client", required=True, choices=sorted(CLIENTS_BY_KEY))
    parser.add_argument("--url", required=True)
    parser.add_argument("--server-pid", type=int, default=None)
    parser.add_argument("--cpu", type=int, default=None)
    parser.add_argument("--client-loop", default="asyncio", choices=("asyncio", "uvloop"))
    parser.add_argument("--nofile", type=int, default=4096)
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds per job")
    args = parser.parse_args(argv)

    _exit_with_parent()

    pin_to(args.cpu)
    raise_nofile_limit(args.nofile)
    root = str(Path(__file__).resolve().parent.parent)
    if root not in sys.path:
        sys.path.insert(0, root)
    try:
        driver = load(args.client, args.client_loop)
    except Exception as exc:
        print(f"UNAVAILABLE {describe_exception(exc)}", flush=True)
        return 0
    versions = {d: dist_version(d) for d in driver.dists}
    hello: dict[str, Any] = {
        "versions": versions,
        "settings": driver.settings,
        "python": platform.python_version(),
    }
    print("READY " + json.dumps(hello), flush=True)

    for line in sys.stdin:
        if not line.strip():
            continue
        job = Job.from_json(line)
        meter = Meter(args.server_pid)
        try:
            samples = driver.run(job, args.url, meter, args.timeout)
            out: dict[str, Any] = {
                "ok": True,
                "values": figures(job, samples, meter),
                "meter": meter.as_dict(),
            }
        except Exception as exc:
            details = _details(exc)
            out = {
                "ok": False,
                "error": describe_exception(exc),
                "traceback": (details + "\n" if details else "")
                + "".join(traceback.format_exception(exc)),
            }
        print("RESULT " + json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
