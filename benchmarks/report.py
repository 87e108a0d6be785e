"""Turning results into things people and programs read: tables, JSON and files.

Every table is first built as a :class:`Table` of strings, then rendered twice: with ``rich``
for the terminal and as Markdown (``latest.md``, ``docs/performance.md``). A table that does
not fit the terminal is continued in parts (the client column repeated) rather than clipped.
Every figure in a table is also in the JSON file, with per-round detail the tables leave out.
Target checks are in :mod:`benchmarks.targets`, plots in :mod:`benchmarks.plots`.
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
from .targets import Target

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


_SUPERSCRIPT = str.maketrans("0123456789", "\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077"
                                           "\u2078\u2079")
DASH = "\u2013"


@dataclass
class Table:
    """A table as strings, rendered for the terminal (rich) and as Markdown.

    Long text never goes in a column: a row's note, a missing library or an error becomes a
    numbered footnote, marked on the row's name, so the columns stay narrow enough for an
    80-column terminal. A header may hold a line break (two lines in the terminal, one in
    Markdown).
    """

    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)  # per row: floor / peer / keepalive / bad
    caption: str = ""
    notes: list[tuple[str, str]] = field(default_factory=list)  # (marker, text)
    scenario: str = ""  # the scenario id the table comes from

    def footnote(self, text: str) -> str:
        """The marker for ``text`` (the same text gets the same number)."""
        for marker, seen in self.notes:
            if seen == text:
                return marker
        marker = str(sum(1 for m, _ in self.notes if m[0] in "\u2070\u00b9\u00b2\u00b3\u2074"
                         "\u2075\u2076\u2077\u2078\u2079") + 1).translate(_SUPERSCRIPT)
        self.notes.append((marker, text))
        return marker

    def symbol(self, symbol: str, text: str) -> str:
        """A footnote with its own symbol (e.g. ``\u2021`` for capped cells)."""
        if (symbol, text) not in self.notes:
            self.notes.append((symbol, text))
        return symbol

    def add(self, cells: list[str], kind: str) -> None:
        self.rows.append(cells)
        self.kinds.append(kind)


def _status(row: Row) -> str | None:
    """Why a row has no figures; the full text goes in a footnote."""
    if row.missing:
        if row.missing.startswith("not available"):
            return row.missing
        return f"not installed: {row.missing}"
    if row.error:
        return f"error: {row.error}"
    return None


def _name(t: Table, row: Row, with_note: bool = True) -> str:
    """The row's name with footnote markers for its note and its status."""
    name = row.name
    if with_note and row.note:
        name += t.footnote(row.note)
    status = _status(row)
    if status:
        name += t.footnote(status)
    return name


def _blank(t: Table, row: Row, cells_before: list[str] | None = None) -> None:
    cells = cells_before or [_name(t, row)]
    t.add(cells + [DASH] * (len(t.columns) - len(cells)), "bad" if _status(row) else row.kind)


def _server_caption(s: Scenario, server_name: str) -> str:
    parts = [f"server: {server_name}"]
    if s.server_cpu_per_request_ns:
        parts.append(f"server CPU {s.server_cpu_per_request_ns / 1e3:.1f} µs/request")
    return "; ".join(parts) + "."


def _floor_ratio(row: Row, floor: Row | None, figure: str) -> str:
    return _ratio(row.ratio_to(floor, figure)) if floor is not None and floor.ok else DASH


# --- tables ----------------------------------------------------------------------------------


def latency_tables(s: Scenario, server_name: str) -> list[Table]:
    tables = []
    tls_new = s.params.get("scheme") == "https" and not s.params.get("reuse", True)
    for path in s.params.get("paths", ["/small"]):
        rows = [r for r in s.rows if r.params.get("path") == path]
        floor = s.floor(path=path)
        columns = ["client", "p50\nµs", "p99\nµs", "req/s", "wall\n\u00d7floor", "CPU\nµs/req",
                   "CPU\n\u00d7floor", "conns"]
        if tls_new:
            columns.append("resumed")
        table = Table(
            f"{s.title} — GET {path}", columns, scenario=s.id,
            caption=(f"{s.description} Percentiles over {s.params['rounds']} rounds (p90 and "
                     f"per-round figures in the JSON file); ratios are the median of per-round "
                     f"ratios to the floor of the same round; conns = TCP connections the "
                     f"server accepted, warm-up included. {_server_caption(s, server_name)}"))
        for row in rows:
            if not row.ok:
                _blank(table, row)
                continue
            cells = [
                _name(table, row), _us(row.p(50)), _us(row.p(99)), _num(row.ops_per_s(), 0),
                _floor_ratio(row, floor, "median"), _us(row.cpu_per_op_ns()),
                _floor_ratio(row, floor, "cpu"), str(row.connections()),
            ]
            if tls_new:
                handshakes, resumed = row.tls()
                cells.append(f"{resumed}/{handshakes}" if handshakes is not None else "?")
            table.add(cells, row.kind)
        tables.append(table)
    return tables


def throughput_table(s: Scenario, server_name: str) -> Table:
    floor = s.floor(path=s.params["path"])
    size = s.params["bytes"]
    table = Table(
        s.title, ["client", "MB/s", "MB/s\n\u00d7floor", "MB per\nCPU-s", "MB/CPU-s\n\u00d7floor",
                  "conns"], scenario=s.id,
        caption=(f"{s.description} MB = 10⁶ bytes. {s.params['transfers']} transfers \u00d7 "
                 f"{s.params['rounds']} rounds; ratios are the median of per-round ratios to the "
                 f"floor of the same round (higher is better in every column). On loopback the "
                 f"wall figure depends on how the kernel schedules sender and receiver; MB per "
                 f"CPU-second is the client's own cost. server: {server_name}."))
    for row in s.rows:
        if not row.ok:
            _blank(table, row)
            continue
        name = _name(table, row)
        eff = [b.extra["rcvbuf_effective"] for b in row.batches
               if b.extra.get("rcvbuf_effective")]
        if eff and row.params.get("variant"):
            name += table.footnote(f"SO_RCVBUF reads back {eff[0] / MIB:.0f} MiB")
        stalls = sum(b.extra.get("low_water_stalls", 0) for b in row.batches)
        if stalls:
            name += table.footnote(f"{stalls} wait(s) for a full buffer timed out and went on "
                                   f"with a low-water mark of one byte")
        cpu = row.cpu_per_op_ns()
        table.add([
            name, _num(row.ops_per_s() * size / 1e6, 0), _floor_ratio(row, floor, "rate"),
            _num(size / cpu * 1e3 if cpu else None, 0), _floor_ratio(row, floor, "per_cpu"),
            str(row.connections()),
        ], row.kind)
    return table


def _capped_note(name: str, limit: dict[str, Any]) -> str:
    per_host, beyond = limit["per_host"], limit["beyond"]
    what = ("threads beyond that wait for one" if beyond == "wait" else
            "when more threads need one, it opens more and closes the extra ones after use, "
            "so they are not reused")
    return (f"{name}: capped by its own default connection limit, not by the machine: it keeps "
            f"at most {per_host} connection{'s' if per_host != 1 else ''} per host; {what}.")


def concurrency_table(s: Scenario, server_name: str) -> Table:
    threads = s.params["threads"]
    columns = ["client", "sharing"] + [f"{t} thr\nreq/s (conns)" for t in threads]
    table = Table(s.title, columns, scenario=s.id, caption=(
        f"{s.description} Median of {s.params['rounds']} rounds of {s.params['requests']} "
        f"requests. \u2021 marks a figure set by the client's own default connection limit. "
        f"{_server_caption(s, server_name)}"))
    groups: dict[str, list[Row]] = {}
    for row in s.rows:
        groups.setdefault(row.name, []).append(row)
    for rows in groups.values():
        first = rows[0]
        bad = next((r for r in rows if _status(r)), None)
        cells = [_name(table, bad or first, with_note=False), first.note]
        for t in threads:
            cell_row = next((r for r in rows if r.params.get("threads") == t), None)
            if cell_row is None or not cell_row.ok:
                cells.append(DASH)
                continue
            conns = max(b.server.connections for b in cell_row.batches)
            cell = f"{_num(cell_row.ops_per_s(), 0)} ({conns})"
            limit = cell_row.extra.get("connection_limit")
            if limit and t > limit["per_host"]:
                cell += table.symbol("\u2021", _capped_note(cell_row.name, limit))
            cells.append(cell)
        table.add(cells, "bad" if bad else first.kind)
    return table


def _ms(ns: float | None) -> str:
    return _num(None if ns is None else ns / 1e6, 2)


def async_concurrency_tables(s: Scenario, server_name: str) -> list[Table]:
    tables = []
    tasks_list = s.params["tasks"]
    for limit in s.params["limits"]:
        table = Table(
            f"{s.title} — at most {limit} connections per host",
            ["client", "tasks", "req/s", "req/s\n\u00d7floor", "CPU\nµs/req", "CPU\n\u00d7floor",
             "p50\nms", "p99\nms", "conns", "RSS MiB\n/1k tasks"], scenario=s.id,
            caption=(f"{s.description} Median of {s.params['rounds']} rounds; ratios are the "
                     f"median of per-round ratios to the asyncio floor with the same tasks and "
                     f"limit. {_server_caption(s, server_name)}"))
        names: dict[str, list[Row]] = {}
        for row in s.rows:
            if row.params.get("limit") == limit:
                names.setdefault(row.key, []).append(row)
        for rows in names.values():
            rows.sort(key=lambda r: r.params["tasks"])
            if not any(r.ok for r in rows):  # one line says why for the whole client
                bad = next((r for r in rows if _status(r)), rows[0])
                _blank(table, bad, [_name(table, bad), DASH])
                continue
            for i, row in enumerate(rows):
                tasks = row.params["tasks"]
                name = _name(table, row) if i == 0 else ""
                if not row.ok:
                    _blank(table, row, [name + table.footnote(_status(row) or "no figures"),
                                        str(tasks)])
                    continue
                floor = s.floor(limit=limit, tasks=tasks)
                conns = max(b.server.connections for b in row.batches)
                conns_cell = str(conns)
                if conns > limit:
                    conns_cell += table.symbol(
                        "\u2020", "more connections than the limit: the client closed some "
                                  "and opened new ones.")
                memory = row.extra.get("memory") or {}
                per_1k = memory.get("kib_per_1000_in_flight")
                rss = _num(per_1k / 1024 if per_1k is not None else None)
                if row.extra.get("memory_error"):
                    rss += table.footnote(f"RSS probe: {row.extra['memory_error']}")
                table.add([
                    name, str(tasks), _num(row.ops_per_s(), 0), _floor_ratio(row, floor, "rate"),
                    _us(row.cpu_per_op_ns()), _floor_ratio(row, floor, "cpu"),
                    _ms(row.p(50)), _ms(row.p(99)), conns_cell,
                    rss if tasks == max(tasks_list) else "",
                ], row.kind)
        tables.append(table)
    return tables


def memory_table(s: Scenario) -> Table:
    table = Table(s.title, ["client", "interpreter\nMiB", "baseline\nMiB", "peak\nMiB",
                            "above\nbaseline MiB", "MB/s"], caption=s.description,
                  scenario=s.id)
    for row in s.rows:
        if _status(row) or not row.extra:
            _blank(table, row)
            continue
        e = row.extra
        table.add([
            _name(table, row), _num(e["interpreter_kib"] / 1024), _num(e["baseline_kib"] / 1024),
            _num(e["peak_kib"] / 1024), _num(e["delta_kib"] / 1024),
            _num(e["bytes"] / e["seconds"] / 1e6, 0),
        ], row.kind)
    return table


def setup_table(s: Scenario) -> Table:
    table = Table(s.title, ["client", "p50 µs", "p90 µs", "CPU µs"], scenario=s.id,
                  caption=(f"{s.description} Up to {s.params['n']} creations each, within "
                           f"{s.params['budget_s']:g} s."))
    for row in s.rows:
        if not row.ok:
            _blank(table, row)
            continue
        table.add([_name(table, row, with_note=False), _us(row.p(50)), _us(row.p(90)),
                   _us(row.cpu_per_op_ns())], row.kind)
    return table


def rtt_table(s: Scenario) -> Table:
    cases = list(s.params["model_rtts"].items())
    rtt = s.params["rtt_ms"]
    columns = ["client"] + [f"{case}\n(model {m * rtt:g} ms)" for case, m in cases]
    table = Table(s.title, columns, scenario=s.id, caption=(
        f"{s.description} Cells: measured median ms, and in brackets the measured figure as "
        f"a multiple of the RTT. {s.params['n']} requests \u00d7 {s.params['rounds']} rounds."))
    names: dict[str, list[Row]] = {}
    for row in s.rows:
        names.setdefault(row.name, []).append(row)
    for rows in names.values():
        bad = next((r for r in rows if _status(r)), None)
        cells = [_name(table, bad or rows[0], with_note=False)]
        for case, _ in cases:
            cell_row = next((r for r in rows if r.params.get("case") == case), None)
            if cell_row is None or not cell_row.ok:
                cells.append(DASH)
                continue
            ms = cell_row.p(50) / 1e6
            cells.append(f"{ms:.1f} ({ms / rtt:.2f})")
        table.add(cells, "bad" if bad else rows[0].kind)
    return table


def tables_for(scenarios: list[Scenario], server_name: str) -> list[Table]:
    out: list[Table] = []
    for s in scenarios:
        if s.id in ("throughput", "async-stream"):
            out.append(throughput_table(s, server_name))
        elif s.id == "concurrency":
            out.append(concurrency_table(s, server_name))
        elif s.id == "async-concurrency":
            out += async_concurrency_tables(s, server_name)
        elif s.id == "memory":
            out.append(memory_table(s))
        elif s.id == "setup":
            out.append(setup_table(s))
        elif s.id == "rtt":
            out.append(rtt_table(s))
        else:
            out += latency_tables(s, server_name)
    return out


def targets_table(targets: list[Target]) -> Table:
    table = Table("Targets for keepalive (same-run ratios)", ["goal", "measured", "result"],
                  scenario="targets")
    shown = [t for t in targets if t.ok is not None or not t.measured.startswith("not measured")]
    skipped = len(targets) - len(shown)
    met = sum(1 for t in shown if t.ok)
    table.caption = (f"{met} of {len(shown)} met. Every goal is a ratio between two figures of "
                     f"this run (medians over rounds of per-round ratios).")
    if skipped:
        table.caption += f" {skipped} goal(s) need scenarios this run did not include."
    for t in shown:
        table.add([t.goal, t.measured, "met" if t.ok else ("missed" if t.ok is False else DASH)],
                  "keepalive" if t.ok else ("bad" if t.ok is False else "peer"))
    return table


# --- rendering -------------------------------------------------------------------------------

_STYLES = {"floor": "dim", "keepalive": "bold cyan", "bad": "red", "peer": ""}
_TEXT = ("client", "goal", "measured", "sharing")  # columns that may wrap


def _numeric(index: int, column: str) -> bool:
    return index > 0 and column not in _TEXT and column != "result"


def _console_width() -> int:
    """The terminal's width (``COLUMNS`` when set; 100 when not a terminal), at least 60."""
    return max(60, shutil.get_terminal_size((100, 40)).columns)


def _rich_table(t: Table, columns: list[int], title: str) -> Any:
    from rich import box
    from rich.table import Table as RichTable

    rt = RichTable(title=title, title_justify="left", title_style="bold", box=box.SIMPLE_HEAD,
                   pad_edge=False, show_edge=False, collapse_padding=True)
    for i in columns:
        col = t.columns[i]
        if _numeric(i, col):
            rt.add_column(col, justify="right", no_wrap=True)
        else:
            # Wrap between words, never inside one (a client's name stays whole).
            longest = max((len(word) for cells in t.rows for word in cells[i].split()),
                          default=0)
            rt.add_column(col, justify="left", overflow="fold",
                          min_width=max(min(longest, 32), 16 if col in ("goal", "measured")
                                        else 0) or None)
    for cells, kind in zip(t.rows, t.kinds, strict=False):
        rt.add_row(*(cells[i] for i in columns), style=_STYLES.get(kind, ""))
    return rt


def _min_width(console: Any, t: Table, columns: list[int]) -> int:
    """The narrowest the table can be drawn without wrapping a number or a word (measured
    unconstrained: rich clamps a measurement to the width it is given)."""
    wide = console.options.update_width(100_000)
    return int(console.measure(_rich_table(t, columns, t.title), options=wide).minimum)


def _column_groups(console: Any, t: Table) -> list[list[int]]:
    """Split the columns (the first repeated in each part) so that every part fits the
    console without wrapping a number: a table is never clipped, only continued."""
    everything = list(range(len(t.columns)))
    if _min_width(console, t, everything) <= console.width:
        return [everything]
    groups: list[list[int]] = []
    current = [0]
    for i in everything[1:]:
        if len(current) > 1 and _min_width(console, t, [*current, i]) > console.width:
            groups.append(current)
            current = [0, i]
        else:
            current = [*current, i]
    groups.append(current)
    return groups


def print_tables(tables: list[Table], header: str) -> None:
    try:
        from rich.console import Console
        from rich.text import Text
    except ImportError:
        print(header)
        print(markdown(tables))
        return
    console = Console(width=_console_width(), highlight=False)
    console.print(header)
    console.print()
    for t in tables:
        groups = _column_groups(console, t)
        for n, columns in enumerate(groups):
            title = t.title if n == 0 else f"{t.title} (continued)"
            console.print(_rich_table(t, columns, title))
        if t.caption:
            console.print(Text(t.caption, style="dim"))
        for marker, text in t.notes:
            console.print(Text(f"{marker} {text}", style="dim"))
        console.print()


def markdown(tables: list[Table], heading: str = "####") -> str:
    out = []
    for t in tables:
        out.append(f"{heading} {t.title}\n")
        out.append("| " + " | ".join(c.replace("\n", " ") for c in t.columns) + " |")
        out.append("|" + "|".join("--:" if _numeric(i, c) else "---"
                                  for i, c in enumerate(t.columns)) + "|")
        for cells, kind in zip(t.rows, t.kinds, strict=False):
            shown = [c.replace("|", "\\|") for c in cells]
            if kind == "keepalive" and shown[0] and t.scenario != "targets":
                name, marks = _split_marks(shown[0])
                shown[0] = f"**{name}**{marks}"
            out.append("| " + " | ".join(shown) + " |")
        if t.caption:
            out.append(f"\n{t.caption}")
        if t.notes:
            out.append("")
            out += [f"* {marker} {text}" for marker, text in t.notes]
        out.append("")
    return "\n".join(out)


def _split_marks(cell: str) -> tuple[str, str]:
    """``name¹²`` -> (``name``, ``¹²``): footnote markers stay outside the bold."""
    i = len(cell)
    while i > 0 and cell[i - 1] in "\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078" \
            "\u2079\u2020\u2021":
        i -= 1
    return cell[:i], cell[i:]


# --- files -----------------------------------------------------------------------------------


def write_json(path: str, data: dict[str, Any]) -> None:
    with open(path, "w") as f:
        json.dump(data, f, indent=1, sort_keys=False, allow_nan=False)
        f.write("\n")


def write_outputs(out_dir: str, stem: str, data: dict[str, Any], scenarios: list[Scenario],
                  tables: list[Table], header: str, subtitle: str,
                  plots: bool = True) -> list[str]:
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
    for stale in os.listdir(out_dir):  # plots of an earlier run that this one did not make
        if stale.startswith("latest-") and stale.endswith(".png"):
            os.remove(os.path.join(out_dir, stale))
    if plots:
        try:
            from .plots import PLOTS

            for name, fn in PLOTS.items():
                png = os.path.join(out_dir, f"{stem}-{name}.png")
                if fn(scenarios, png, subtitle):
                    written.append(png)
        except ImportError as exc:
            print(f"plots skipped: {exc} (pip install matplotlib)", file=sys.stderr)
    for path in list(written):
        suffix = os.path.basename(path)[len(stem):]
        shutil.copyfile(path, os.path.join(out_dir, f"latest{suffix}"))
    return written
