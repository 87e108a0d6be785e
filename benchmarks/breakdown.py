"""``--breakdown``: where a reused GET spends its work, counted in bytecodes, by package.

CPU time on a shared machine moves from run to run; the number of Python bytecodes a request
executes does not. This runs each client over one kept-alive connection to the embedded
server, traces a fixed number of requests with ``sys.settrace`` opcode events, and reports,
per request, how many bytecodes ran in h11, in each keepalive module and elsewhere. The h11
column is the part no h11-based client can avoid; what keepalive adds on top is the rest.
Bytecodes are not equally expensive, so this explains the CPU ratios rather than replacing
them: read it beside the "Reused connection" table of the same run.
"""

from __future__ import annotations

import collections
import sys
from types import FrameType
from typing import Any

from .clients import BY_KEY
from .server import EmbeddedServer

CLIENTS = ["h11", "keepalive.HTTPConnection", "keepalive.ConnectionPool", "keepalive.Session"]
REQUESTS = 200
WARMUP = 50


def _package(filename: str) -> str:
    """``h11``, ``keepalive/<module>``, ``benchmarks`` or ``other`` for a code object's file."""
    parts = filename.replace("\\", "/").split("/")
    for i, part in enumerate(parts[:-1]):
        if part == "h11":
            return "h11"
        if part == "keepalive" and i + 1 < len(parts) and parts[i + 1] != "benchmarks":
            return "keepalive/" + parts[-1].removesuffix(".py")
        if part == "benchmarks":
            return "benchmarks"
    return "other"


def count(key: str, base_url: str, n: int = REQUESTS) -> collections.Counter[str]:
    """Bytecodes per package over ``n`` reused GETs of /small by client ``key``."""
    client = BY_KEY[key]()
    client.setup(base_url, None, True)
    try:
        for _ in range(WARMUP):
            client.get("/small")
        counts: collections.Counter[str] = collections.Counter()
        packages: dict[Any, str] = {}

        def on_call(frame: FrameType, event: str, arg: Any) -> Any:
            frame.f_trace_opcodes = True
            code = frame.f_code
            package = packages.get(code)
            if package is None:
                package = packages[code] = _package(code.co_filename)

            def on_opcode(frame: FrameType, event: str, arg: Any) -> Any:
                if event == "opcode":
                    counts[package] += 1
                return on_opcode

            return on_opcode

        sys.settrace(on_call)
        try:
            for _ in range(n):
                client.get("/small")
        finally:
            sys.settrace(None)
    finally:
        client.close()
    return counts


def measure(n: int = REQUESTS) -> dict[str, collections.Counter[str]]:
    """Bytecodes of ``n`` reused GETs for every client, by package."""
    with EmbeddedServer() as server:
        base_url = f"http://{server.host}:{server.http_port}"
        return {key: count(key, base_url, n) for key in CLIENTS}


def run(n: int = REQUESTS) -> str:
    """Count every client; return a Markdown table (bytecodes per request)."""
    return table(measure(n), n)


def table(results: dict[str, collections.Counter[str]], n: int) -> str:
    """The Markdown table of ``measure``'s counts, per request."""
    columns = ["h11", "keepalive", "other"]
    modules: collections.Counter[str] = collections.Counter()
    for counts in results.values():
        for package, value in counts.items():
            if package.startswith("keepalive/"):
                modules[package] += value
    top = [m for m, _ in modules.most_common(6)]
    h11_total = sum(results["h11"].values()) / n
    lines = [
        f"Bytecodes per reused GET /small ({n} requests traced after {WARMUP} warm-up; "
        "'other' is the standard library and the benchmark adapter)",
        "",
        "| client | total | \u00d7 h11 loop | " + " | ".join(columns) + " | "
        + " | ".join(m.removeprefix("keepalive/") for m in top) + " |",
        "|---" * (3 + len(columns) + len(top)) + "|",
    ]
    for key, counts in results.items():
        total = sum(counts.values()) / n
        ours = sum(v for p, v in counts.items() if p.startswith("keepalive/")) / n
        row = [key, f"{total:,.0f}", f"{total / h11_total:.2f}\u00d7",
               f"{counts['h11'] / n:,.0f}", f"{ours:,.0f}",
               f"{(counts['other'] + counts['benchmarks']) / n:,.0f}"]
        row += [f"{counts[m] / n:,.0f}" for m in top]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def budgets(results: dict[str, collections.Counter[str]], n: int,
            limits: dict[str, float]) -> str:
    """What the reused-GET targets leave each layer, beside what it runs (Markdown).

    A target of ``x`` times the h11 loop leaves ``(x - 1)`` of the loop's count for all that a
    client does beyond the loop; the h11 loop itself is nearly all h11.
    """
    loop = sum(results["h11"].values()) / n
    in_h11 = results["h11"]["h11"] / n
    lines = [
        f"The minimal h11 loop runs {loop:,.0f} bytecodes per reused GET, {in_h11:,.0f} of them "
        f"({in_h11 / loop:.0%}) in h11. A target of x times the loop's CPU leaves (x - 1) of "
        "that for everything a client adds:",
        "",
        "| client | target | room above the loop | measured above the loop | of which in h11 |",
        "|---|---|---|---|---|",
    ]
    for key, limit in limits.items():
        counts = results.get(key)
        if counts is None:
            continue
        total = sum(counts.values()) / n
        lines.append(
            f"| {key} | \u2264 {limit:.2f}\u00d7 | {(limit - 1) * loop:,.0f} | "
            f"{total - loop:+,.0f} | {counts['h11'] / n - in_h11:+,.0f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(run())
