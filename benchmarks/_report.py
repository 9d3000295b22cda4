"""Summaries, the Markdown report, the JSON data, the PNG chart and the docs section."""

from __future__ import annotations

import importlib.util
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._common import MiB
from ._registry import CLIENTS_BY_KEY, REFERENCE

if TYPE_CHECKING:
    from .run import Cell, Results

OURS = "ours"
WS_TRIO = "websockets-trio"
SERVER_NEAR_FULL = 85.0
"""Echo server CPU (% of a core) from which a cell is flagged as possibly server-bound."""

DOCS_BEGIN = "<!-- benchmarks:begin -->"
DOCS_END = "<!-- benchmarks:end -->"

CONVENTION = (
    "Ratio = this client against raw trio-websocket in the same run, from the medians: "
    "client/raw for throughput, raw/client for times and memory, so **> 1 always means "
    "faster (or less memory) than raw trio-websocket**."
)


@dataclass(frozen=True)
class Metric:
    key: str
    title: str
    higher_is_better: bool
    in_table: bool = True
    floor: float = 0.0  # below this the figure is within measurement noise: no ratio


def metrics_for(cell_key: str) -> list[Metric]:
    if cell_key == "w1":
        return [
            Metric("median_us", "median round trip, us", False),
            Metric("p99_us", "p99 round trip, us", False),
            Metric("cpu_us_per_msg", "client CPU per round trip, us", False, in_table=False),
        ]
    if cell_key.startswith("w2_"):
        small = cell_key in ("w2_16B", "w2_1KiB")
        return [
            Metric("msgs_per_s", "msgs/s", True, in_table=small),
            Metric("mib_per_s", "MiB/s", True, in_table=not small),
            Metric("cpu_us_per_msg", "client CPU per message, us", False, in_table=False),
        ]
    if cell_key == "w3":
        return [
            Metric("seconds", "time, s", False),
            Metric("rss_growth_mib", "peak RSS growth, MiB", False, floor=0.5),
            Metric("rss_growth_x", "peak RSS growth, x the message", False),
        ]
    if cell_key == "w4":
        return [
            Metric("us_per_handshake", "time per handshake, us", False),
            Metric("cpu_us_per_handshake", "client CPU per handshake, us", False, in_table=False),
        ]
    if cell_key == "w5":
        return [
            Metric("seconds", "total time, s", False),
            Metric("kib_per_conn", "peak RSS per connection, KiB", False, floor=0.5),
            Metric(
                "kib_per_conn_open", "RSS per connection once all are open, KiB", False, floor=0.5
            ),
        ]
    raise ValueError(cell_key)


@dataclass(frozen=True)
class Target:
    title: str
    cell: str
    metric: str
    kind: str  # "ratio": ratio to raw >= must; "max": our own figure <= must
    must: float
    aim: float
    unit: str = ""


TARGETS = (
    Target("W1 16 B round trip (median)", "w1", "median_us", "ratio", 1.2, 1.4),
    Target("W2 16 B pipelined", "w2_16B", "msgs_per_s", "ratio", 3.0, 6.7),
    Target("W2 1 KiB pipelined", "w2_1KiB", "msgs_per_s", "ratio", 3.0, 6.7),
    Target("W2 64 KiB pipelined", "w2_64KiB", "mib_per_s", "ratio", 3.5, 4.7),
    Target("W2 1 MiB pipelined", "w2_1MiB", "mib_per_s", "ratio", 3.5, 4.7),
    Target("W3 echo, time", "w3", "seconds", "ratio", 3.0, 3.5),
    Target("W3 peak RSS growth", "w3", "rss_growth_x", "max", 2.5, 2.0, "x the message"),
    Target("W4 handshakes", "w4", "us_per_handshake", "ratio", 1.0, 1.4),
    Target("W5 time", "w5", "seconds", "ratio", 1.5, 3.0),
    Target("W5 RSS per connection", "w5", "kib_per_conn", "max", 25.0, 16.0, "KiB"),
)


def label(key: str) -> str:
    return CLIENTS_BY_KEY[key].label


def fmt(v: float) -> str:
    """About three significant digits, with thousands separators."""
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def speed_ratio(value: float, reference: float, higher_is_better: bool) -> float | None:
    if value <= 0 or reference <= 0:
        return None
    return value / reference if higher_is_better else reference / value


# --- building the report ---------------------------------------------------------------


def build(
    env: dict[str, Any], cells: Sequence[Cell], keys: list[str], results: Results
) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    for cell in cells:
        for metric in metrics_for(cell.key):
            row: dict[str, Any] = {
                "cell": cell.key,
                "cell_title": cell.title,
                "metric": metric.key,
                "metric_title": metric.title,
                "higher_is_better": metric.higher_is_better,
                "in_table": metric.in_table,
                "stats": {},
                "ratio": {},
                "paired_ratios": {},
                "noisy": {},
            }
            for key in keys:
                runs = [r for r in results.runs if r.client == key and r.cell == cell.key]
                values = [r.values[metric.key] for r in runs if metric.key in r.values]
                if not values:
                    continue
                row["stats"][key] = {
                    "median": statistics.median(values),
                    "min": min(values),
                    "max": max(values),
                    "runs": values,
                }
                row["noisy"][key] = sum(r.busy for r in runs)
            row["floor"] = metric.floor
            ref = row["stats"].get(REFERENCE)
            for key, stats in row["stats"].items():
                if ref is None or stats["median"] < metric.floor or ref["median"] < metric.floor:
                    continue
                row["ratio"][key] = speed_ratio(
                    stats["median"], ref["median"], metric.higher_is_better
                )
                ref_by_rep = {
                    r.rep: r.values.get(metric.key)
                    for r in results.runs
                    if r.client == REFERENCE and r.cell == cell.key
                }
                pairs = []
                for r in results.runs:
                    if r.client == key and r.cell == cell.key and ref_by_rep.get(r.rep):
                        pair = speed_ratio(
                            r.values[metric.key], ref_by_rep[r.rep] or 0, metric.higher_is_better
                        )
                        if pair is not None:
                            pairs.append(pair)
                row["paired_ratios"][key] = pairs
            rows.append(row)

    targets = []
    for target in TARGETS:
        found: dict[str, Any] | None = next(
            (r for r in rows if r["cell"] == target.cell and r["metric"] == target.metric), None
        )
        entry: dict[str, Any] = {**asdict(target), "figure": None, "holds": None}
        if found is not None and OURS in found["stats"]:
            if target.kind == "ratio":
                entry["figure"] = found["ratio"].get(OURS)
            else:
                entry["figure"] = found["stats"][OURS]["median"]
            if entry["figure"] is not None:
                if target.kind == "ratio":
                    entry["holds"] = entry["figure"] >= target.must
                    entry["aim_met"] = entry["figure"] >= target.aim
                else:
                    entry["holds"] = entry["figure"] <= target.must
                    entry["aim_met"] = entry["figure"] <= target.aim
            wst = found["stats"].get(WS_TRIO)
            if wst is not None:
                vs = speed_ratio(
                    found["stats"][OURS]["median"], wst["median"], found["higher_is_better"]
                )
                entry["vs_websockets_trio"] = vs
                entry["ahead_of_websockets_trio"] = None if vs is None else vs > 1
        targets.append(entry)

    server_cpu: dict[str, dict[str, dict[str, float]]] = {}
    other: dict[str, dict[str, float]] = {}
    for cell in cells:
        server_cpu[cell.key] = {}
        others = []
        for key in keys:
            runs = [r for r in results.runs if r.client == key and r.cell == cell.key]
            pcts = [
                r.meter["server_cpu_pct"] for r in runs if r.meter.get("server_cpu_pct") is not None
            ]
            if pcts:
                server_cpu[cell.key][key] = {"median": statistics.median(pcts), "max": max(pcts)}
            others += [
                r.meter["other_cpu_pct"] for r in runs if r.meter.get("other_cpu_pct") is not None
            ]
        if others:
            other[cell.key] = {"median": statistics.median(others), "max": max(others)}

    return {
        "environment": env,
        "convention": CONVENTION,
        "reference": REFERENCE,
        "clients": [{"key": k, "label": label(k)} for k in keys],
        "cells": [
            {"key": c.key, "title": c.title, "fresh_process": c.fresh, "job": asdict(c.job)}
            for c in cells
        ],
        "rows": rows,
        "targets": targets,
        "server_cpu_pct": server_cpu,
        "other_cpu_pct": other,
        "runs": [asdict(r) for r in results.runs],
        "failures": [asdict(f) for f in results.failures],
        "unavailable": results.unavailable,
    }


# --- Markdown --------------------------------------------------------------------------


def _table(head: list[str], lines: list[list[str]]) -> str:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(line) + " |" for line in lines]
    return "\n".join(out)


def _entry(report: dict[str, Any], row: dict[str, Any], key: str) -> str:
    stats = row["stats"].get(key)
    if stats is None:
        if key in report["unavailable"]:
            return "not installed"
        failed = any(f["client"] == key and f["cell"] == row["cell"] for f in report["failures"])
        return "failed" if failed else "n/a"
    if stats["median"] < row.get("floor", 0.0):
        text = f"< {row['floor']:g}"
    else:
        text = f"{fmt(stats['median'])} ({fmt(stats['min'])}-{fmt(stats['max'])})"
    if row["noisy"].get(key):
        text += "*"
    ratio = row["ratio"].get(key)
    if key == report["reference"]:
        text += ", ref."
    elif ratio is not None:
        text += f", **{ratio:.2f}x**" if key == OURS else f", {ratio:.2f}x"
    return text


def _counts(report: dict[str, Any]) -> str:
    parts = []
    for cell in report["cells"]:
        job = cell["job"]
        if job["workload"] == "w1":
            parts.append(f"W1 {job['count']:,} trips (+{job['warmup']:,} warm-up)")
        elif job["workload"] == "w2":
            parts.append(
                f"{cell['title'].removesuffix(' pipelined')} x{job['count']:,} "
                f"(+{job['warmup']:,}, window {job['window']:,})"
            )
        elif job["workload"] == "w3":
            parts.append(f"W3 one {job['size'] // MiB} MiB message")
        elif job["workload"] == "w4":
            parts.append(f"W4 {job['count']:,} handshakes (+{job['warmup']:,})")
        elif job["workload"] == "w5":
            parts.append(f"W5 {job['count']:,} connections x {job['rounds']} round trips")
    return "; ".join(parts)


def _version_text(versions: dict[str, str | None]) -> str:
    return ", ".join(f"{d} {v or '?'}" for d, v in versions.items()) or "-"


def markdown(report: dict[str, Any], image: Path | None) -> str:
    env = report["environment"]
    keys = [c["key"] for c in report["clients"]]
    minutes = env["duration_s"] / 60
    noisy = sum(r["busy"] for r in report["runs"])
    out: list[str] = []
    mode = env["mode"] + (" with custom counts" if env.get("custom_counts") else "")
    out.append(
        f"- **Run**: {mode} (`{env['command']}`), {env['repeats']} runs per cell with the "
        f"clients interleaved (the order rotates from run to run), {env['date']}, took "
        f"{minutes:.1f} min."
    )
    out.append(
        f"- **Machine**: {env['nproc']} CPUs ({env['cpu']}), {env['platform']}, {env['python']}."
    )
    out.append(
        f"- **Echo server**: {env['server']}, in its own process; "
        f"{env['pinning']}. Every client runs in a process of its own (W3 and W5: a fresh "
        "one per run)."
    )
    out.append(f"- **Counts**: {_counts(report)}.")
    busy = env.get("machine_busy_pct")
    out.append(
        "- **Other activity**: "
        + (
            f"the whole machine was busy {busy:.0f}% of a core on average (this run included); "
            if busy is not None
            else ""
        )
        + f"a run during which other processes used more than {env['max_other_pct']:.0f}% of "
        f"a core was run again (up to {env['retries']} times, within "
        f"{env['retry_budget_s']:.0f} s of re-runs in all) and the quietest attempt kept: "
        f"{env['retried_runs']} re-runs ({env['retry_s']:.0f} s)"
        + (f", {noisy} run(s) still noisy, marked *" if noisy else ", none left noisy")
        + "."
    )
    out.append("")
    out.append(
        _table(
            ["client", "versions", "settings"],
            [
                [
                    label(k),
                    _version_text(env["versions"].get(k) or {}),
                    f"`{env['settings'].get(k) or '-'}`",
                ]
                for k in keys
            ],
        )
    )
    loop = "uvloop" if env["client_loop"] == "uvloop" else "the standard asyncio event loop"
    out.append(
        f"\nThe asyncio clients run on {loop}. The two references use no WebSocket library: "
        "pre-built masked frames, the echo only counted or compared as bytes. The trio floor "
        "is a Trio stream (`open_tcp_stream`, one `send_all` and `receive_some` per small "
        "round trip, a hand-written upgrade and close): what Trio itself costs. The raw "
        "socket is a plain socket with `selectors`: the ceiling of the machine and the server."
    )
    out.append("")
    out.append(CONVENTION + " Each entry: median (min-max) over the runs, ratio.")
    out.append("")
    out.append("### Results\n")
    lines = []
    for row in report["rows"]:
        if not row["in_table"]:
            continue
        lines.append(
            [f"{row['cell_title']}: {row['metric_title']}"] + [_entry(report, row, k) for k in keys]
        )
    out.append(_table(["cell"] + [label(k) for k in keys], lines))
    if image is not None:
        out.append(
            "\n![Ratio of each client to raw trio-websocket per cell, log scale]"
            f"({image.as_posix()})"
        )

    out.append("\n### Targets of issue 8 (trio-ws-events)\n")
    tlines = []
    for t in report["targets"]:
        if t["kind"] == "ratio":
            must, aim = f">= {t['must']:g}x", f"{t['aim']:g}x"
            figure = "n/a" if t["figure"] is None else f"{t['figure']:.2f}x"
        else:
            must, aim = f"<= {t['must']:g} {t['unit']}", f"{t['aim']:g} {t['unit']}"
            figure = "n/a" if t["figure"] is None else f"{fmt(t['figure'])} {t['unit']}"
        holds = {True: "yes", False: "**no**", None: "n/a"}[t["holds"]]
        if t["holds"] and t.get("aim_met"):
            holds += " (aim too)"
        vs = t.get("vs_websockets_trio")
        ahead = {True: "yes", False: "**no**", None: "n/a"}[t.get("ahead_of_websockets_trio")]
        tlines.append(
            [t["title"], must, aim, figure, holds, "n/a" if vs is None else f"{vs:.2f}x", ahead]
        )
    out.append(
        _table(
            [
                "target",
                "must reach",
                "aim",
                "trio-ws-events",
                "holds",
                "vs websockets (Trio)",
                "ahead",
            ],
            tlines,
        )
    )
    out.append(
        "\nRatios as above (to raw trio-websocket); the RSS targets are our own figures. "
        '"vs websockets (Trio)" is the same kind of ratio against websockets\' Trio client '
        "(> 1: trio-ws-events is ahead)."
    )

    cpu_rows = [r for r in report["rows"] if r["metric"].startswith("cpu_us") and r["stats"]]
    if cpu_rows:
        out.append("\n### Client CPU\n")
        out.append(
            _table(
                ["cell"] + [label(k) for k in keys],
                [
                    [f"{r['cell_title']}: {r['metric_title']}"]
                    + [fmt(r["stats"][k]["median"]) if k in r["stats"] else "-" for k in keys]
                    for r in cpu_rows
                ],
            )
        )
        out.append(
            "\nCPU time of the client process per message (or handshake) while measured, "
            "median over the runs: where each client's time goes, independent of waiting."
        )

    out.append("\n### Echo server CPU\n")
    slines = []
    hot: list[str] = []
    for cell in report["cells"]:
        per = report["server_cpu_pct"].get(cell["key"], {})
        line = [cell["title"]]
        for k in keys:
            s = per.get(k)
            line.append("-" if s is None else f"{s['median']:.0f} ({s['max']:.0f})")
            if s is not None and s["max"] >= SERVER_NEAR_FULL:
                hot.append(f"{cell['title']} with {label(k)} ({s['max']:.0f}%)")
        o = report["other_cpu_pct"].get(cell["key"])
        line.append("-" if o is None else f"{o['median']:.0f} ({o['max']:.0f})")
        slines.append(line)
    out.append(_table(["cell"] + [label(k) for k in keys] + ["other processes"], slines))
    out.append(
        "\nCPU of the echo server while each client was measured, % of one core, median "
        "(max) over the runs; the last column is what every other process on the machine "
        "used meanwhile."
    )
    if hot:
        out.append(
            f"\n**The echo server was near a full core (>= {SERVER_NEAR_FULL:.0f}%)** in: "
            + "; ".join(hot)
            + ". There the server, not the client, may set the pace: those figures are a "
            "lower bound for that client."
        )
    else:
        out.append(
            f"\nThe echo server stayed below {SERVER_NEAR_FULL:.0f}% of a core in every cell: "
            "it was never the bottleneck."
        )
    gaps = [
        r
        for r in report["runs"]
        if r["cell"] == "w3" and r["values"].get("baseline_gap_mib", 0) > 2
    ]
    if gaps:
        out.append(
            f"\nW3: in {len(gaps)} run(s) the peak RSS before the run was more than 2 MiB above "
            "the RSS at its start, so a smaller growth could be hidden."
        )
    if env.get("server_restarts"):
        out.append(
            "\nThe echo server died during the run and was restarted: "
            + "; ".join(env["server_restarts"])
            + " (the run in progress was repeated)."
        )
    if report["unavailable"]:
        out.append("\n### Clients not measured\n")
        for k, why in report["unavailable"].items():
            out.append(f"- {label(k)}: {why}")
    if report["failures"]:
        out.append("\n### Failures\n")
        for f in report["failures"]:
            who = label(f["client"]) if f["client"] in CLIENTS_BY_KEY else f["client"]
            out.append(f"- {who}, {f['cell']}, run {f['rep'] + 1}: {f['error']}")
    return "\n".join(out)


def update_docs(page: Path, section: str) -> None:
    text = page.read_text(encoding="utf-8")
    begin = text.index(DOCS_BEGIN) + len(DOCS_BEGIN)
    end = text.index(DOCS_END, begin)
    page.write_text(text[:begin] + "\n\n" + section + "\n\n" + text[end:], encoding="utf-8")


# --- the chart -------------------------------------------------------------------------


def have_matplotlib() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


CHART_SKIP = {"p99_us", "rss_growth_mib", "kib_per_conn_open"}
"""Metrics left out of the chart (noisy, or the same ratio as another row)."""
CHART_MAX = 30.0
"""Ratios above this are drawn clipped, with their value written at the edge."""


def chart(report: dict[str, Any], path: Path) -> None:
    import matplotlib  # type: ignore[import-not-found,unused-ignore]

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # type: ignore[import-not-found,unused-ignore]

    keys = [c["key"] for c in report["clients"] if c["key"] != report["reference"]]
    rows = [r for r in report["rows"] if r["in_table"] and r["metric"] not in CHART_SKIP]
    musts = {(t["cell"], t["metric"]): t["must"] for t in report["targets"] if t["kind"] == "ratio"}
    colors = {
        "ours": "#d62728",
        "websockets-trio": "#1f77b4",
        "websockets-asyncio": "#9ecae1",
        "aiohttp": "#2ca02c",
        "picows": "#ff7f0e",
        "trio-floor": "#c5b0d5",
        "raw-socket": "#9a9a9a",
    }
    height = 0.84 / max(1, len(keys))
    fig, ax = plt.subplots(figsize=(10, 0.62 * len(rows) + 2.2))

    def y_of(j: int, key: str) -> float:
        return j + (keys.index(key) - (len(keys) - 1) / 2) * height

    for key in keys:
        ys, xs = [], []
        for j, row in enumerate(rows):
            ratio = row["ratio"].get(key)
            if ratio:
                ys.append(y_of(j, key))
                xs.append(min(ratio, CHART_MAX))
                if ratio > CHART_MAX:
                    ax.text(
                        CHART_MAX * 0.97,
                        y_of(j, key),
                        f"{ratio:.0f}x",
                        ha="right",
                        va="center",
                        fontsize=6,
                        color="white",
                    )
        ax.barh(ys, xs, height=height * 0.92, label=label(key), color=colors.get(key))
    for j, row in enumerate(rows):
        must = musts.get((row["cell"], row["metric"]))
        if OURS not in keys:
            continue
        y = y_of(j, OURS)
        if must is not None:
            ax.plot([must, must], [y - height * 0.6, y + height * 0.6], color="black", lw=2)
        ratio = row["ratio"].get(OURS)
        if ratio:
            x = max(min(ratio, CHART_MAX), must or 0) * 1.06
            ax.text(x, y, f"{ratio:.2f}x", va="center", fontsize=7, fontweight="bold")
    ax.plot([], [], color="black", lw=2, label="must reach (trio-ws-events, issue 8)")
    ax.axvline(1.0, color="black", lw=0.8)
    ax.set_xscale("log")
    plotted = [r["ratio"][k] for r in rows for k in keys if r["ratio"].get(k)]
    ax.set_xlim(min([0.5, *plotted]) * 0.8, CHART_MAX * 1.6)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([f"{r['cell_title']}\n{r['metric_title']}" for r in rows], fontsize=8)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlabel("ratio to raw trio-websocket, same run (log scale; > 1 = faster or less memory)")
    env = report["environment"]
    ax.set_title(
        f"trio-ws-events and its peers, {env['mode']} run of {env['date']}\n"
        f"{env['nproc']} CPUs ({env['cpu']}), {env['python']}, echo server {env['server']}",
        fontsize=9,
    )
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=3)
    ax.grid(axis="x", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
