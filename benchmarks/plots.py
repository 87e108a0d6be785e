"""PNG plots of one run (matplotlib, Agg backend).

Every plot says on its value axis whether lower or higher is better, has a legend for its
colours or lines, and carries the machine line and the date of the run as a subtitle, so a
picture copied out of context still says where it came from. Each function takes the run's
scenarios, the path to write and the subtitle, and returns False when the run has nothing for
it to show.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable
from typing import Any

from .measure import Row, Scenario

COLOURS = {"keepalive": "#2a9d8f", "floor": "#b0b0b0", "peer": "#e9c46a"}
KIND_LABELS = {"keepalive": "keepalive", "peer": "other clients", "floor": "floors"}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _find(scenarios: list[Scenario], sid: str) -> Scenario | None:
    return next((s for s in scenarios if s.id == sid), None)


def _titles(fig: Any, title: str, subtitle: str) -> None:
    """Title, then the machine line and the date in small type under it, wrapped to the
    figure's width; ``_finish`` keeps the plots below both."""
    height = fig.get_figheight()
    lines = textwrap.wrap(subtitle, max(40, int(fig.get_figwidth() * 16)))
    fig.suptitle(title, fontsize=12, fontweight="bold", y=1 - 0.08 / height, va="top")
    fig.text(0.5, 1 - 0.34 / height, "\n".join(lines), ha="center", va="top", fontsize=7,
             color="#555555")
    fig._bench_header_inches = 0.45 + 0.13 * len(lines)  # read by _finish


def _finish(fig: Any, path: str) -> None:
    header = getattr(fig, "_bench_header_inches", 0.6)
    fig.tight_layout(rect=(0, 0, 1, 1 - header / fig.get_figheight()))
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)


def _kind_legend(ax: Any, kinds: set[str], loc: str = "lower right") -> None:
    from matplotlib.patches import Patch

    handles = [Patch(facecolor=COLOURS[k], edgecolor="black", linewidth=0.5,
                     label=KIND_LABELS[k]) for k in ("keepalive", "peer", "floor") if k in kinds]
    ax.legend(handles=handles, fontsize=7, loc=loc, framealpha=0.9)


def _log_axis(axis: Any) -> None:
    import matplotlib.ticker as ticker

    axis.set_major_locator(ticker.LogLocator(base=10, subs=(1, 2, 5)))
    axis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else
                                                  f"{v:g}"))
    axis.set_minor_formatter(ticker.NullFormatter())


def plot_latency(scenarios: list[Scenario], path: str, subtitle: str) -> bool:
    """Box plots of per-request latency per client: reused vs new, HTTP and HTTPS."""
    panels = [s for s in scenarios if s.id in ("reused", "new", "tls-reused", "tls-new",
                                                  "async-reused", "async-new")]
    panels = [s for s in panels if any(r.ok for r in s.rows)]
    if not panels:
        return False
    plt = _pyplot()
    cols = 2 if len(panels) > 1 else 1
    nrows = math.ceil(len(panels) / cols)
    height = max(len([r for r in s.rows if r.ok]) for s in panels) * 0.32 + 1.6
    fig, axes = plt.subplots(nrows, cols, figsize=(7.5 * cols, height * nrows + 0.8),
                             squeeze=False)
    for ax, s in zip(axes.flat, panels, strict=False):
        rows = [r for r in s.rows if r.ok and r.params.get("path", "/small") == "/small"]
        box = ax.boxplot([[w / 1e3 for w in r.samples_ns()] for r in rows], vert=False,
                         whis=(5, 95), showfliers=False, patch_artist=True,
                         medianprops={"color": "black"})
        ax.set_yticks(range(1, len(rows) + 1), [r.name for r in rows], fontsize=7)
        for patch, r in zip(box["boxes"], rows, strict=True):
            patch.set_facecolor(COLOURS.get(r.kind, COLOURS["peer"]))
        ax.set_xscale("log")
        ax.invert_yaxis()
        ax.set_xlabel("µs per request, log scale (lower is better); "
                      "box p25\u2013p75, whiskers p5\u2013p95", fontsize=8)
        _log_axis(ax.xaxis)
        ax.set_title(f"{s.title} \u2014 GET /small", fontsize=9)
        ax.grid(axis="x", which="both", alpha=0.3)
        _kind_legend(ax, {r.kind for r in rows})
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    _titles(fig, "Latency per request", subtitle)
    _finish(fig, path)
    return True


def _bars(ax: Any, rows: list[Row], values: list[float], label: str) -> None:
    ys = range(len(rows))
    ax.barh(ys, values, color=[COLOURS.get(r.kind, COLOURS["peer"]) for r in rows],
            edgecolor="black", linewidth=0.4)
    ax.set_yticks(ys, [r.name for r in rows], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel(label, fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    top = max(values) if values else 1
    for y, v in zip(ys, values, strict=True):
        ax.text(v + top * 0.01, y, f"{v:,.0f}" if v >= 10 else f"{v:.1f}", va="center",
                fontsize=6)
    ax.set_xlim(0, top * 1.15)
    _kind_legend(ax, {r.kind for r in rows})


def plot_cpu(scenarios: list[Scenario], path: str, subtitle: str) -> bool:
    """The summary: client CPU per reused GET, blocking and asyncio clients side by side."""
    panels = []
    for sid, title in (("reused", "blocking clients"), ("async-reused", "asyncio clients")):
        s = _find(scenarios, sid)
        rows = [r for r in s.rows if r.ok and r.params.get("path") == "/small"] if s else []
        if rows:
            panels.append((title, rows))
    if not panels:
        return False
    plt = _pyplot()
    height = max(len(rows) for _, rows in panels) * 0.3 + 1.8
    fig, axes = plt.subplots(1, len(panels), figsize=(6.2 * len(panels), height), squeeze=False)
    for ax, (title, rows) in zip(axes.flat, panels, strict=True):
        _bars(ax, rows, [r.cpu_per_op_ns() / 1e3 for r in rows],
              "client CPU µs per request (lower is better)")
        ax.set_title(f"Reused connection, GET /small: {title}", fontsize=9)
    _titles(fig, "Client CPU per request over a kept-alive connection", subtitle)
    _finish(fig, path)
    return True


def plot_throughput(scenarios: list[Scenario], path: str, subtitle: str) -> bool:
    panels = []
    for sid, title in (("throughput", "blocking clients"), ("async-stream", "asyncio clients")):
        s = _find(scenarios, sid)
        rows = [r for r in s.rows if r.ok] if s else []
        if s and rows:
            panels.append((title, s.params["bytes"], rows))
    if not panels:
        return False
    plt = _pyplot()
    height = max(len(rows) for *_, rows in panels) * 0.3 + 1.8
    fig, axes = plt.subplots(1, len(panels), figsize=(6.2 * len(panels), height), squeeze=False)
    for ax, (title, size, rows) in zip(axes.flat, panels, strict=True):
        _bars(ax, rows, [size / r.cpu_per_op_ns() * 1e3 for r in rows],
              "MB per client CPU-second (higher is better)")
        ax.set_title(f"Streaming {size >> 20} MiB: {title}", fontsize=9)
    _titles(fig, "Streaming cost: bytes per CPU-second", subtitle)
    _finish(fig, path)
    return True


def _lines(ax: Any, groups: dict[str, list[Row]], x: str, y: Callable[[Row], float]) -> None:
    """One line per client; colours from a 20-colour map so that no two lines share one."""
    colours = _pyplot().get_cmap("tab20").colors
    for i, (name, rows) in enumerate(groups.items()):
        rows = sorted(rows, key=lambda r: r.params[x])
        kind = rows[0].kind
        ax.plot([r.params[x] for r in rows], [y(r) for r in rows], marker="o", label=name,
                color=colours[(2 * i) % 20 if i < 10 else (2 * i + 1) % 20],
                linewidth=2.6 if kind == "keepalive" else 1.2,
                linestyle=":" if kind == "floor" else "-")


def _log_y(ax: Any) -> None:
    import matplotlib.ticker as ticker

    ax.set_yscale("log")
    ax.yaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1, 2, 5)))
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.yaxis.set_minor_formatter(ticker.NullFormatter())


def plot_concurrency(scenarios: list[Scenario], path: str, subtitle: str) -> bool:
    s = _find(scenarios, "concurrency")
    if s is None or not any(r.ok for r in s.rows):
        return False
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10.5, 5.6))
    groups: dict[str, list[Row]] = {}
    for row in s.rows:
        if row.ok:
            label = row.name + ("" if row.note == "shared" else " (one per thread)")
            groups.setdefault(label, []).append(row)
    _lines(ax, groups, "threads", lambda r: r.ops_per_s())
    ax.set_xscale("log", base=2)
    _log_y(ax)
    ax.set_xticks(s.params["threads"], [str(t) for t in s.params["threads"]])
    ax.set_xlabel("threads")
    ax.set_ylabel("requests/s, total, log scale (higher is better)")
    ax.set_title(s.title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    _titles(fig, "Threads sharing one client", subtitle)
    _finish(fig, path)
    return True


def plot_async(scenarios: list[Scenario], path: str, subtitle: str) -> bool:
    s = _find(scenarios, "async-concurrency")
    if s is None or not any(r.ok for r in s.rows):
        return False
    import matplotlib.ticker as ticker

    plt = _pyplot()
    limits = s.params["limits"]
    fig, axes = plt.subplots(2, len(limits), figsize=(max(9.0, 6.5 * len(limits)), 8.5),
                             squeeze=False)
    for col, limit in enumerate(limits):
        groups: dict[str, list[Row]] = {}
        for row in s.rows:
            if row.ok and row.params["limit"] == limit:
                groups.setdefault(row.name, []).append(row)
        for ax, (y, label) in zip(axes[:, col], (
                (lambda r: r.ops_per_s(), "requests/s, log scale (higher is better)"),
                (lambda r: r.cpu_per_op_ns() / 1e3,
                 "client CPU µs per request, log scale (lower is better)")), strict=True):
            _lines(ax, groups, "tasks", y)
            ax.set_xscale("log")
            _log_y(ax)
            ax.set_xticks(s.params["tasks"], [str(t) for t in s.params["tasks"]])
            ax.xaxis.set_minor_formatter(ticker.NullFormatter())
            ax.set_xlabel("concurrent tasks")
            ax.set_ylabel(label, fontsize=8)
            ax.set_title(f"at most {limit} connections per host", fontsize=9)
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize=7, loc="best")
    _titles(fig, "asyncio clients: tasks sharing one client, GET /small", subtitle)
    _finish(fig, path)
    return True


#: file name suffix -> plot function, in the order they are written
PLOTS: dict[str, Callable[[list[Scenario], str, str], bool]] = {
    "cpu": plot_cpu,
    "latency": plot_latency,
    "throughput": plot_throughput,
    "concurrency": plot_concurrency,
    "async": plot_async,
}
