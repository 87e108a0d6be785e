"""Turning results into things people and programs read: tables, JSON, plots, target checks.

Every table is first built as a :class:`Table` of strings, then rendered twice: with ``rich``
for the terminal and as Markdown (``latest.md``, for the README). Every figure in a table is
also in the JSON file, with per-round detail the tables leave out.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from .measure import Row, Scenario
from .scenarios import Progress

MIB = 1024 * 1024


# --- progress ----------------------------------------------------------------------------


class RichProgress(Progress):
    """A progress bar that redraws only between batches: no refresh thread competes with the
    clients for CPU (and for the GIL) while they are being timed."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as RichBar

        self.console = Console(stderr=True)
        self._bar = RichBar(
            TextColumn("[progress.description]{task.description:<60.60}"),
            BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
            console=self.console, auto_refresh=False, transient=True,
        )
        self._task: Any = None
        self._section = ""
        self._started = 0.0
        self._done = 0
        self._total = 0

    def start(self, total: int) -> None:
        self._started = time.monotonic()
        self._total = total
        self._bar.start()
        self._task = self._bar.add_task("starting", total=total)
        self._bar.refresh()

    def step(self, description: str, advance: int = 1) -> None:
        self._done += advance
        self._bar.update(self._task, advance=advance, description=description)
        self._bar.refresh()
        section = description.split(":", 1)[0]
        if section != self._section and not self.console.is_terminal:
            # No live bar in a log: one line as each scenario starts instead.
            self._section = section
            self.console.print(f"[{time.monotonic() - self._started:5.0f} s] {section} "
                               f"({self._done}/{self._total} batches)", highlight=False)

    def log(self, message: str) -> None:
        self._bar.console.print(f"[yellow]{message}[/]", markup=True, highlight=False)
        self._bar.refresh()

    def stop(self) -> None:
        self._bar.stop()


def make_progress() -> Progress:
    try:
        return RichProgress()
    except ImportError:
        return Progress()


# --- formatting ----------------------------------------------------------------------------


def _num(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "\u2013"
    if abs(value) >= 10000:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def _us(ns: float | None) -> str:
    return _num(None if ns is None else ns / 1e3)


def _ratio(value: float | None) -> str:
    return "\u2013" if value is None or math.isnan(value) else f"{value:.2f}\u00d7"


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)  # per row: floor / peer / keepalive / bad
    caption: str = ""


def _status(row: Row) -> str | None:
    """Why a row has no figures; short, since the full text is in the JSON file."""
    text = f"missing: {row.missing}" if row.missing else None
    text = f"error: {row.error}" if row.error else text
    return text if text is None or len(text) <= 90 else text[:87] + "..."


def _blank_row(row: Row, width: int) -> list[str]:
    return [row.name] + ["\u2013"] * (width - 2) + [_status(row) or ""]


def _server_caption(s: Scenario, server_name: str) -> str:
    parts = [f"server: {server_name}"]
    if s.server_cpu_per_request_ns:
        parts.append(f"server CPU {s.server_cpu_per_request_ns / 1e3:.1f} µs/request")
    return "; ".join(parts)


def latency_tables(s: Scenario, server_name: str) -> list[Table]:
    tables = []
    tls_new = s.id.endswith("tls-new") or (s.params.get("scheme") == "https" and not s.params.get(
        "reuse", True))
    for path in s.params.get("paths", ["/small"]):
        rows = [r for r in s.rows if r.params.get("path") == path]
        floor = s.floor(path=path)
        columns = ["client", "p50 µs", "p90 µs", "p99 µs", "req/s", "wall \u00d7floor",
                   "CPU µs/req", "CPU \u00d7floor", "TCP conns", "req/conn"]
        if tls_new:
            columns.append("resumed")
        columns.append("note")
        table = Table(
            f"{s.title} — GET {path}", columns,
            caption=(f"{s.description} Percentiles over {s.params['rounds']} rounds; ratios are "
                     f"the median of per-round ratios to the raw floor of the same round; "
                     f"TCP conns = connections the server accepted (warm-up included). "
                     f"{_server_caption(s, server_name)}."))
        for row in rows:
            table.kinds.append("bad" if _status(row) else row.kind)
            if not row.ok:
                table.rows.append(_blank_row(row, len(columns)))
                continue
            conns = row.connections()
            cells = [
                row.name, _us(row.p(50)), _us(row.p(90)), _us(row.p(99)),
                _num(row.ops_per_s(), 0),
                _ratio(row.ratio_to(floor, "median")) if floor and floor.ok else "\u2013",
                _us(row.cpu_per_op_ns()),
                _ratio(row.ratio_to(floor, "cpu")) if floor and floor.ok else "\u2013",
                str(conns), _num(row.sent() / conns if conns else None, 1),
            ]
            if tls_new:
                handshakes, resumed = row.tls()
                cells.append(f"{resumed}/{handshakes}" if handshakes is not None else "?")
            cells.append(row.note)
            table.rows.append(cells)
        tables.append(table)
    return tables


def throughput_table(s: Scenario, server_name: str) -> Table:
    floor = s.floor(path=s.params["path"])
    size = s.params["bytes"]
    table = Table(
        s.title,
        ["client", "MB/s", "\u00d7floor", "MB per CPU-s", "CPU \u00d7floor", "TCP conns", "note"],
        caption=(f"{s.description} MB = 10⁶ bytes. {s.params['transfers']} transfers \u00d7 "
                 f"{s.params['rounds']} rounds; ratios are the median of per-round ratios to the "
                 f"floor of the same round. On loopback the wall figure depends on how the "
                 f"kernel schedules sender and receiver; MB per CPU-second is the client's own "
                 f"cost. server: {server_name}."))
    for row in s.rows:
        table.kinds.append("bad" if _status(row) else row.kind)
        if not row.ok:
            table.rows.append(_blank_row(row, len(table.columns)))
            continue
        mb_s = row.ops_per_s() * size / 1e6
        mb_cpu = size / row.cpu_per_op_ns() * 1e3 if row.cpu_per_op_ns() else math.nan
        note = row.note
        eff = [b.extra.get("rcvbuf_effective") for b in row.batches if b.extra.get(
            "rcvbuf_effective")]
        if eff:
            note = f"SO_RCVBUF reads back {eff[0] / MIB:.0f} MiB"
        table.rows.append([
            row.name, _num(mb_s, 0),
            _ratio(row.ratio_to(floor, "rate")) if floor and floor.ok else "\u2013",
            _num(mb_cpu, 0),
            _ratio(row.ratio_to(floor, "cpu")) if floor and floor.ok else "\u2013",
            str(row.connections()), note,
        ])
    return table


def concurrency_table(s: Scenario, server_name: str) -> Table:
    threads = s.params["threads"]
    columns = ["client", "sharing"] + [f"{t} thr req/s (conns)" for t in threads] + ["note"]
    table = Table(s.title, columns, caption=(
        f"{s.description} Median of {s.params['rounds']} rounds of {s.params['requests']} "
        f"requests. {_server_caption(s, server_name)}."))
    seen: dict[str, list[Row]] = {}
    for row in s.rows:
        seen.setdefault(row.name, []).append(row)
    for name, rows in seen.items():
        first = rows[0]
        status = next((_status(r) for r in rows if _status(r)), None)
        table.kinds.append("bad" if status else first.kind)
        cells = [name, first.note]
        for t in threads:
            row = next((r for r in rows if r.params.get("threads") == t), None)
            if row is None or not row.ok:
                cells.append("\u2013")
                continue
            conns = max(b.server.connections for b in row.batches)
            cells.append(f"{_num(row.ops_per_s(), 0)} ({conns})")
        cells.append(status or "")
        table.rows.append(cells)
    return table


def memory_table(s: Scenario) -> Table:
    table = Table(s.title, ["client", "interpreter MiB", "baseline MiB", "peak MiB",
                            "above baseline MiB", "MB/s", "note"], caption=s.description)
    for row in s.rows:
        table.kinds.append("bad" if _status(row) else row.kind)
        if _status(row) or not row.extra:
            table.rows.append(_blank_row(row, len(table.columns)))
            continue
        e = row.extra
        table.rows.append([
            row.name, _num(e["interpreter_kib"] / 1024), _num(e["baseline_kib"] / 1024),
            _num(e["peak_kib"] / 1024), _num(e["delta_kib"] / 1024),
            _num(e["bytes"] / e["seconds"] / 1e6, 0), row.note,
        ])
    return table


def setup_table(s: Scenario) -> Table:
    table = Table(s.title, ["client", "p50 µs", "p90 µs", "CPU µs", "note"],
                  caption=(f"{s.description} Up to {s.params['n']} creations each, within "
                           f"{s.params['budget_s']:g} s."))
    for row in s.rows:
        table.kinds.append("bad" if _status(row) else row.kind)
        if not row.ok:
            table.rows.append(_blank_row(row, len(table.columns)))
            continue
        table.rows.append([row.name, _us(row.p(50)), _us(row.p(90)), _us(row.cpu_per_op_ns()),
                           ""])
    return table


def rtt_table(s: Scenario) -> Table:
    cases = list(s.params["model_rtts"].items())
    rtt = s.params["rtt_ms"]
    columns = ["client"] + [f"{case} (model {m * rtt:g} ms)" for case, m in cases] + ["note"]
    table = Table(s.title, columns, caption=(
        f"{s.description} Cells: measured median ms, and in brackets the measured figure as "
        f"a multiple of the RTT. {s.params['n']} requests \u00d7 {s.params['rounds']} rounds."))
    names: dict[str, list[Row]] = {}
    for row in s.rows:
        names.setdefault(row.name, []).append(row)
    for name, rows in names.items():
        status = next((_status(r) for r in rows if _status(r)), None)
        table.kinds.append("bad" if status else rows[0].kind)
        cells = [name]
        for case, _ in cases:
            row = next((r for r in rows if r.params.get("case") == case), None)
            if row is None or not row.ok:
                cells.append("\u2013")
                continue
            ms = row.p(50) / 1e6
            cells.append(f"{ms:.1f} ({ms / rtt:.2f})")
        cells.append(status or "")
        table.rows.append(cells)
    return table


def tables_for(scenarios: list[Scenario], server_name: str) -> list[Table]:
    out: list[Table] = []
    for s in scenarios:
        if s.id == "throughput":
            out.append(throughput_table(s, server_name))
        elif s.id == "concurrency":
            out.append(concurrency_table(s, server_name))
        elif s.id == "memory":
            out.append(memory_table(s))
        elif s.id == "setup":
            out.append(setup_table(s))
        elif s.id == "rtt":
            out.append(rtt_table(s))
        else:
            out += latency_tables(s, server_name)
    return out


# --- targets ---------------------------------------------------------------------------------


@dataclass
class Target:
    goal: str
    measured: str
    ok: bool | None  # None: not measured in this run


def _find(scenarios: list[Scenario], sid: str) -> Scenario | None:
    return next((s for s in scenarios if s.id == sid), None)


def _usable(row: Row | None) -> bool:
    return row is not None and row.ok


def evaluate_targets(scenarios: list[Scenario]) -> list[Target]:
    """The issue's goals for keepalive, checked against this run's figures (same-run ratios)."""
    targets: list[Target] = []

    def na(goal: str, why: str = "not measured in this run") -> None:
        targets.append(Target(goal, why, None))

    reused = _find(scenarios, "reused")
    h11 = reused.row("h11", path="/small") if reused else None
    floor = reused.floor(path="/small") if reused else None
    for key in ("keepalive.HTTPConnection", "keepalive.ConnectionPool"):
        goal = f"{key} reused GET ≤ 1.15\u00d7 h11 loop (wall and CPU)"
        row = reused.row(key, path="/small") if reused else None
        if not (_usable(row) and _usable(h11)):
            na(goal, _status(row) if row is not None and _status(row) else "not measured")
            continue
        assert row is not None and h11 is not None
        wall, cpu = row.ratio_to(h11, "median"), row.ratio_to(h11, "cpu")
        targets.append(Target(goal, f"wall {wall:.2f}\u00d7, CPU {cpu:.2f}\u00d7",
                              wall <= 1.15 and cpu <= 1.15))
    session = reused.row("keepalive.Session", path="/small") if reused else None
    goal = "Session.get reused GET ≤ 2.0\u00d7 raw floor wall, ≤ 100 µs CPU/request"
    if _usable(session) and _usable(floor):
        assert session is not None and floor is not None
        wall, cpu = session.ratio_to(floor, "median"), session.cpu_per_op_ns() / 1e3
        targets.append(Target(goal, f"wall {wall:.2f}\u00d7, CPU {cpu:.0f} µs",
                              wall <= 2.0 and cpu <= 100))
        peers = [reused.row(k, path="/small") for k in ("aiohttp", "urllib3", "httpx",
                                                        "requests")] if reused else []
        present = [p for p in peers if p is not None and p.ok]
        if present:
            ratios = {p.key: session.ratio_to(p, "median") for p in present}
            targets.append(Target(
                "Session.get reused GET ahead of aiohttp, urllib3, httpx, requests (wall)",
                ", ".join(f"{k} {v:.2f}\u00d7" for k, v in ratios.items()),
                all(v < 1 for v in ratios.values())))
    else:
        na(goal)

    new = _find(scenarios, "new")
    h11_new = new.row("h11", path="/small") if new else None
    for key in ("keepalive.HTTPConnection", "keepalive.ConnectionPool", "keepalive.Session"):
        goal = f"{key} new connection (HTTP) ≤ 1.2\u00d7 h11 loop"
        row = new.row(key, path="/small") if new else None
        if not (_usable(row) and _usable(h11_new)):
            na(goal)
            continue
        assert row is not None and h11_new is not None
        wall = row.ratio_to(h11_new, "median")
        cpu = row.ratio_to(h11_new, "cpu")
        targets.append(Target(goal, f"wall {wall:.2f}\u00d7, CPU {cpu:.2f}\u00d7", wall <= 1.2))

    setup = _find(scenarios, "setup")
    row = setup.row("keepalive.Session") if setup else None
    goal = "creating a Session costs microseconds (< 1 ms)"
    if _usable(row):
        assert row is not None
        targets.append(Target(goal, f"{row.p(50) / 1e3:.0f} µs", row.p(50) < 1e6))
    else:
        na(goal)

    tls_new = _find(scenarios, "tls-new")
    for key in ("keepalive.Session", "keepalive.ConnectionPool", "keepalive.HTTPConnection"):
        goal = f"{key} new HTTPS connections resume after the first"
        row = tls_new.row(key, variant="") if tls_new else None
        if not _usable(row):
            na(goal)
            continue
        assert row is not None
        handshakes, resumed = row.tls()
        if handshakes is None:
            na(goal, "resumption not observable")
            continue
        batches = len(row.batches)
        targets.append(Target(goal, f"{resumed} of {handshakes} handshakes resumed",
                              (resumed or 0) >= handshakes - batches))

    tput = _find(scenarios, "throughput")
    tfloor = tput.floor(path=tput.params["path"]) if tput else None
    for key in ("keepalive.Session", "keepalive.ConnectionPool", "keepalive.HTTPConnection"):
        goal = f"{key} throughput ≥ 95% of raw floor"
        row = tput.row(key, variant="") if tput else None
        if not (_usable(row) and _usable(tfloor)):
            na(goal)
            continue
        assert row is not None and tfloor is not None and tput is not None
        ratio = row.ratio_to(tfloor, "rate")
        per_cpu = tput.params["bytes"] / row.cpu_per_op_ns()  # GB per CPU-second
        targets.append(Target(goal, f"{ratio:.0%} of floor, {per_cpu:.1f} GB per CPU-s",
                              ratio >= 0.95))

    conc = _find(scenarios, "concurrency")
    goal = "16 threads on one Session: req/s ≥ requests and httpx, conns ≤ per-host limit (10)"
    if conc and 16 in conc.params["threads"]:
        row = conc.row("keepalive.Session", threads=16)
        if _usable(row):
            assert row is not None
            others = {k: conc.row(k, threads=16) for k in ("requests", "httpx")}
            ratios = {k: row.ratio_to(r, "rate") for k, r in others.items() if _usable(r)}
            conns = max(b.server.connections for b in row.batches)
            ok = all(v >= 1 for v in ratios.values()) and conns <= 10
            measured = ", ".join(f"{v:.2f}\u00d7 {k}" for k, v in ratios.items())
            targets.append(Target(goal, f"{measured}; {conns} conns", ok))
        else:
            na(goal)
    else:
        na(goal)

    mem = _find(scenarios, "memory")
    row = mem.row("keepalive.Session") if mem else None
    goal = "streaming 1 GiB with Session: < 50 MiB above baseline"
    if row is not None and row.extra and not _status(row):
        delta = row.extra["delta_kib"] / 1024
        targets.append(Target(goal, f"{delta:.1f} MiB", delta < 50))
    else:
        na(goal)
    return targets


def targets_table(targets: list[Target]) -> Table:
    table = Table("Targets for keepalive (ratios from this run)", ["goal", "measured", "result"])
    skipped = [t for t in targets if t.ok is None and t.measured.startswith("not measured")]
    if skipped:
        table.caption = f"{len(skipped)} goal(s) need scenarios this run did not include."
    for t in targets:
        if t in skipped:
            continue
        table.rows.append([t.goal, t.measured,
                           "met" if t.ok else ("missed" if t.ok is False else "\u2013")])
        table.kinds.append("keepalive" if t.ok else ("bad" if t.ok is False else "peer"))
    return table


# --- rendering -------------------------------------------------------------------------------

_STYLES = {"floor": "dim", "keepalive": "bold cyan", "bad": "red", "peer": ""}
_WRAPPING = ("note", "goal", "measured")  # text columns that may wrap


def _numeric(index: int, column: str) -> bool:
    return index > 0 and column not in _WRAPPING and column not in ("sharing", "result")


def print_tables(tables: list[Table], header: str) -> None:
    try:
        from rich.console import Console
        from rich.table import Table as RichTable
    except ImportError:
        print(header)
        print(markdown(tables))
        return
    console = Console(width=max(shutil.get_terminal_size((160, 40)).columns, 120))
    console.print(header, highlight=False)
    for t in tables:
        rt = RichTable(title=t.title, caption=t.caption, caption_justify="left",
                       title_justify="left", title_style="bold")
        for i, col in enumerate(t.columns):
            wraps = col in _WRAPPING
            rt.add_column(col, justify="right" if _numeric(i, col) else "left", no_wrap=not wraps,
                          overflow="fold", ratio=1 if wraps else None,
                          min_width=20 if wraps else None)
        for cells, kind in zip(t.rows, t.kinds, strict=False):
            rt.add_row(*cells, style=_STYLES.get(kind, ""))
        console.print(rt)
        console.print()


def markdown(tables: list[Table]) -> str:
    out = []
    for t in tables:
        out.append(f"#### {t.title}\n")
        out.append("| " + " | ".join(t.columns) + " |")
        out.append("|" + "|".join("--:" if _numeric(i, c) else "---"
                                  for i, c in enumerate(t.columns)) + "|")
        for cells, kind in zip(t.rows, t.kinds, strict=False):
            shown = [c.replace("|", "\\|") for c in cells]
            if kind == "keepalive":
                shown[0] = f"**{shown[0]}**"
            out.append("| " + " | ".join(shown) + " |")
        if t.caption:
            out.append(f"\n{t.caption}")
        out.append("")
    return "\n".join(out)


# --- files -----------------------------------------------------------------------------------


def write_json(path: str, data: dict[str, Any]) -> None:
    with open(path, "w") as f:
        json.dump(data, f, indent=1, sort_keys=False, allow_nan=False)
        f.write("\n")


def plot_latency(scenarios: list[Scenario], path: str) -> bool:
    """Box plots of per-request latency per client: reused vs new, HTTP and HTTPS."""
    panels = [s for s in scenarios if s.id in ("reused", "new", "tls-reused", "tls-new")]
    if not panels:
        return False
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 2 if len(panels) > 1 else 1
    nrows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(7.5 * cols, 0.45 * 14 * nrows + 1),
                             squeeze=False)
    for ax, s in zip(axes.flat, panels, strict=False):
        path_shown = "/small"
        rows = [r for r in s.rows if r.ok and r.params.get("path") == path_shown]
        data = [[w / 1e3 for w in r.samples_ns()] for r in rows]
        labels = [r.name for r in rows]
        box = ax.boxplot(data, vert=False, whis=(5, 95), showfliers=False, patch_artist=True,
                         medianprops={"color": "black"})
        ax.set_yticks(range(1, len(labels) + 1), labels, fontsize=8)
        for patch, r in zip(box["boxes"], rows, strict=True):
            patch.set_facecolor({"keepalive": "#2a9d8f", "floor": "#cccccc"}.get(r.kind,
                                                                                  "#e9c46a"))
        ax.set_xscale("log")
        ax.invert_yaxis()
        ax.set_xlabel("latency per request, µs (box: p25\u2013p75, whiskers: p5\u2013p95)")
        ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(base=10, subs=(1, 2, 5)))
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_title(f"{s.title} — GET {path_shown}", fontsize=10)
        ax.grid(axis="x", which="both", alpha=0.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def plot_concurrency(scenarios: list[Scenario], path: str) -> bool:
    s = _find(scenarios, "concurrency")
    if s is None or not any(r.ok for r in s.rows):
        return False
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    names: dict[str, list[Row]] = {}
    for row in s.rows:
        if row.ok:
            names.setdefault(row.name, []).append(row)
    for name, rows in names.items():
        rows.sort(key=lambda r: r.params["threads"])
        kind = rows[0].kind
        ax.plot([r.params["threads"] for r in rows], [r.ops_per_s() for r in rows],
                marker="o", label=name + ("" if rows[0].note == "shared" else " (per thread)"),
                linewidth=2.5 if kind == "keepalive" else 1.2,
                linestyle=":" if kind == "floor" else "-")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(s.params["threads"], [str(t) for t in s.params["threads"]])
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_xlabel("threads")
    ax.set_ylabel("requests/s (total, log scale)")
    ax.set_title(s.title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write_outputs(out_dir: str, stem: str, data: dict[str, Any], scenarios: list[Scenario],
                  tables: list[Table], header: str, plots: bool = True) -> list[str]:
    """Write JSON, Markdown and PNGs as ``<stem>.*`` and copy each to ``latest.*``."""
    os.makedirs(out_dir, exist_ok=True)
    written = []
    json_path = os.path.join(out_dir, f"{stem}.json")
    write_json(json_path, data)
    written.append(json_path)
    md_path = os.path.join(out_dir, f"{stem}.md")
    with open(md_path, "w") as f:
        f.write(f"{header}\n\n{markdown(tables)}")
    written.append(md_path)
    if plots:
        try:
            for name, fn in (("latency", plot_latency), ("concurrency", plot_concurrency)):
                png = os.path.join(out_dir, f"{stem}-{name}.png")
                if fn(scenarios, png):
                    written.append(png)
        except ImportError as exc:
            print(f"plots skipped: {exc} (pip install matplotlib)", file=sys.stderr)
    for path in list(written):
        suffix = os.path.basename(path)[len(stem):]
        shutil.copyfile(path, os.path.join(out_dir, f"latest{suffix}"))
    return written
