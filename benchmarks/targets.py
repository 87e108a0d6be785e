"""The project's performance targets, checked against one run's figures.

Every target is a ratio between two figures of the same run (the median over rounds of the
per-round ratio), never an absolute time: absolute figures move with the machine, ratios
taken side by side in the same rounds much less. A target whose scenario did not run is
reported as not measured and left out of the table; one whose client could not run says why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .clients import PURE_PYTHON_PEERS
from .measure import Row, Scenario

#: reused GET, CPU per request, as a multiple of the minimal h11 loop's (same rounds)
REUSED_CPU_X_H11 = {"keepalive.HTTPConnection": 1.05, "keepalive.ConnectionPool": 1.10,
                    "keepalive.Session": 1.15}
SESSION_WALL_X_FLOOR = 2.0  # reused GET wall time, Session over the raw floor
NEW_CPU_X_H11 = 1.2  # new connection per request, CPU per request over the h11 loop
STREAM_PER_CPU_OF_FLOOR = 0.90  # MB per CPU-second, as a fraction of the floor's
ASYNC_CPU_X_SYNC = 1.15  # AsyncSession over the blocking Session, sequential, CPU per request
MEMORY_OF_BODY = 0.05  # peak RSS above baseline while streaming, as a fraction of the body
CONCURRENCY_THREADS = 16


@dataclass
class Target:
    goal: str
    measured: str
    ok: bool | None  # None: not measured in this run (or not measurable)


def _find(scenarios: list[Scenario], sid: str) -> Scenario | None:
    return next((s for s in scenarios if s.id == sid), None)


def _usable(row: Row | None) -> bool:
    return row is not None and row.ok


def _why(row: Row | None) -> str:
    """Why a target could not be checked: the row's own reason, else "not measured"."""
    if row is not None and row.missing:
        return row.missing if row.missing.startswith("not available") else (
            f"not installed: {row.missing}")
    if row is not None and row.error:
        return f"error: {row.error}"
    return "not measured in this run"


def _x(value: float) -> str:
    return "\u2013" if math.isnan(value) else f"{value:.2f}\u00d7"


def evaluate_targets(scenarios: list[Scenario]) -> list[Target]:
    """The goals for keepalive, each checked as a same-run ratio."""
    targets: list[Target] = []

    def add(goal: str, measured: str, ok: bool | None) -> None:
        targets.append(Target(goal, measured, ok))

    # -- reused GET: CPU per request against the minimal h11 loop ----------------------------
    reused = _find(scenarios, "reused")
    floor = reused.floor(path="/small") if reused else None
    targets += _h11_ratios(reused, REUSED_CPU_X_H11, "reused GET", "")

    session = reused.row("keepalive.Session", path="/small", variant="") if reused else None
    goal = f"Session: reused GET wall \u2264 {SESSION_WALL_X_FLOOR:.1f}\u00d7 the raw floor's"
    if _usable(session) and _usable(floor):
        assert session is not None and floor is not None
        wall = session.ratio_to(floor, "median")
        add(goal, f"wall {_x(wall)} (CPU {_x(session.ratio_to(floor, 'cpu'))})",
            wall <= SESSION_WALL_X_FLOOR)
    else:
        add(goal, _why(session), None)

    goal = ("Session: reused GET ahead of every pure-Python peer (" +
            ", ".join(PURE_PYTHON_PEERS) + "): lower wall and CPU per request")
    peers = [reused.row(k, path="/small", variant="") for k in PURE_PYTHON_PEERS] if reused \
        else []
    present = [p for p in peers if _usable(p)]
    if _usable(session) and present:
        assert session is not None
        parts, ok = [], True
        for peer in present:
            assert peer is not None
            wall, cpu = session.ratio_to(peer, "median"), session.ratio_to(peer, "cpu")
            ok = ok and wall < 1 and cpu < 1
            parts.append(f"{peer.key} wall {_x(wall)} CPU {_x(cpu)}")
        absent = [k for k, p in zip(PURE_PYTHON_PEERS, peers, strict=True) if not _usable(p)]
        if absent:
            parts.append("not run: " + ", ".join(absent))
        add(goal, "; ".join(parts), ok)
    else:
        add(goal, _why(session), None)

    # -- new connection per request ----------------------------------------------------------
    new_limits = dict.fromkeys(
        ("keepalive.Session", "keepalive.ConnectionPool", "keepalive.HTTPConnection"),
        NEW_CPU_X_H11)
    targets += _h11_ratios(_find(scenarios, "new"), new_limits, "new connection (HTTP)", "")

    # -- HTTPS: the same ratios over TLS (the h11 loop over the same TLS context) -------------
    targets += _h11_ratios(_find(scenarios, "tls-reused"), REUSED_CPU_X_H11, "reused GET (HTTPS)",
                           "")
    # keepalive resumes TLS sessions here and the loop does not: the ratio counts that saving.
    targets += _h11_ratios(
        _find(scenarios, "tls-new"), new_limits, "new connection (HTTPS, resuming)", ""
    )

    # -- TLS resumption (a count, not a time) ------------------------------------------------
    tls_new = _find(scenarios, "tls-new")
    for key in ("keepalive.Session", "keepalive.ConnectionPool", "keepalive.HTTPConnection"):
        goal = f"{key}: new HTTPS connections resume the TLS session after the first"
        row = tls_new.row(key, variant="") if tls_new else None
        if not _usable(row):
            add(goal, _why(row), None)
            continue
        assert row is not None
        handshakes, resumed = row.tls()
        if handshakes is None:
            add(goal, "resumption not observable with this server", None)
            continue
        add(goal, f"{resumed} of {handshakes} handshakes resumed",
            (resumed or 0) >= handshakes - len(row.batches))

    # -- streaming: MB per CPU-second against the floor --------------------------------------
    tput = _find(scenarios, "throughput")
    tfloor = tput.floor(path=tput.params["path"]) if tput else None
    for key in ("keepalive.Session", "keepalive.ConnectionPool", "keepalive.HTTPConnection"):
        goal = (f"{key}: streaming 100 MiB \u2265 {STREAM_PER_CPU_OF_FLOOR:.0%} of the floor's "
                f"MB per CPU-second")
        row = tput.row(key, variant="") if tput else None
        if not (_usable(row) and _usable(tfloor)):
            add(goal, _why(row if not _usable(row) else tfloor), None)
            continue
        assert row is not None and tfloor is not None
        eff = row.ratio_to(tfloor, "per_cpu")
        rate = row.ratio_to(tfloor, "rate")
        add(goal, f"{eff:.0%} of the floor's MB per CPU-s (MB/s: {rate:.0%})",
            eff >= STREAM_PER_CPU_OF_FLOOR)

    # -- threads sharing one Session ---------------------------------------------------------
    conc = _find(scenarios, "concurrency")
    goal = (f"{CONCURRENCY_THREADS} threads on one Session: req/s \u2265 requests' and httpx's, "
            f"connections \u2264 its per-host limit")
    row = conc.row("keepalive.Session", threads=CONCURRENCY_THREADS) if conc else None
    if _usable(row):
        assert row is not None and conc is not None
        others = {k: conc.row(k, threads=CONCURRENCY_THREADS) for k in ("requests", "httpx")}
        ratios = {k: row.ratio_to(r, "rate") for k, r in others.items() if _usable(r) and r}
        conns = max(b.server.connections for b in row.batches)
        limit = (row.extra.get("connection_limit") or {}).get("per_host", 10)
        measured = ", ".join(f"{_x(v)} {k}" for k, v in ratios.items())
        add(goal, f"{measured}; {conns} connections (limit {limit})",
            all(v >= 1 for v in ratios.values()) and conns <= limit)
    else:
        add(goal, _why(row), None)

    # -- memory and setup, as ratios ---------------------------------------------------------
    mem = _find(scenarios, "memory")
    row = mem.row("keepalive.Session") if mem else None
    goal = (f"Session: streaming 1 GiB adds \u2264 {MEMORY_OF_BODY:.0%} of the body to peak RSS")
    if row is not None and row.extra and not row.missing and not row.error and mem is not None:
        delta = row.extra["delta_kib"] * 1024 / mem.params["bytes"]
        add(goal, f"{delta:.2%} of the body ({row.extra['delta_kib'] / 1024:.1f} MiB)",
            delta <= MEMORY_OF_BODY)
    else:
        add(goal, _why(row), None)

    setup = _find(scenarios, "setup")
    row = setup.row("keepalive.Session") if setup else None
    goal = "creating and closing a Session costs less CPU than one reused GET through it"
    if _usable(row) and _usable(session):
        assert row is not None and session is not None
        ratio = row.cpu_per_op_ns() / session.cpu_per_op_ns()
        add(goal, f"{_x(ratio)} one reused GET", ratio < 1)
    else:
        add(goal, _why(row if not _usable(row) else session), None)

    targets += _async_targets(scenarios)
    return targets


def _h11_ratios(
    scenario: Scenario | None, limits: dict[str, float], what: str, variant: str
) -> list[Target]:
    """CPU per request of each keepalive layer over the minimal h11 loop's, same rounds."""
    out: list[Target] = []
    h11 = scenario.row("h11", path="/small", variant=variant) if scenario else None
    for key, limit in limits.items():
        goal = f"{key}: {what} CPU/request \u2264 {limit:.2f}\u00d7 the h11 loop's"
        row = scenario.row(key, path="/small", variant=variant) if scenario else None
        if not (_usable(row) and _usable(h11)):
            out.append(Target(goal, _why(row if not _usable(row) else h11), None))
            continue
        assert row is not None and h11 is not None
        cpu = row.ratio_to(h11, "cpu")
        out.append(Target(goal, f"CPU {_x(cpu)} (wall {_x(row.ratio_to(h11, 'median'))})",
                          cpu <= limit))
    return out


def _async_targets(scenarios: list[Scenario]) -> list[Target]:
    targets: list[Target] = []
    key = "keepalive.AsyncSession"

    seq = _find(scenarios, "async-reused")
    asession = seq.row(key, path="/small", variant="") if seq else None
    sync = seq.row("keepalive.Session", path="/small", variant="blocking, reference") \
        if seq else None
    goal = (f"AsyncSession: sequential reused GET CPU/request \u2264 {ASYNC_CPU_X_SYNC:.2f}\u00d7 "
            f"the blocking Session's")
    if _usable(asession) and _usable(sync):
        assert asession is not None and sync is not None
        cpu = asession.ratio_to(sync, "cpu")
        targets.append(Target(goal, f"CPU {_x(cpu)} (wall {_x(asession.ratio_to(sync, 'median'))})",
                              cpu <= ASYNC_CPU_X_SYNC))
    elif seq is not None:
        targets.append(Target(goal, _why(asession if not _usable(asession) else sync), None))
    else:
        targets.append(Target(goal, "not measured in this run", None))

    # "Every concurrency": one task (async-reused) and every (limit, tasks) cell.
    goal = "AsyncSession ahead of aiohttp in req/s and CPU/request at every concurrency"
    cells: list[tuple[str, Row | None, Row | None]] = []
    if seq is not None:
        cells.append(("1 task", asession, seq.row("aiohttp.ClientSession", path="/small")))
    conc = _find(scenarios, "async-concurrency")
    if conc is not None:
        for limit in conc.params["limits"]:
            for tasks in conc.params["tasks"]:
                cells.append((f"L{limit}\u00d7{tasks}", conc.row(key, limit=limit, tasks=tasks),
                              conc.row("aiohttp.ClientSession", limit=limit, tasks=tasks)))
    if not cells:
        targets.append(Target(goal, "not measured in this run", None))
        return targets
    usable = [(c, a, b) for c, a, b in cells if _usable(a) and _usable(b)]
    if not usable:
        first = cells[0]
        targets.append(Target(goal, _why(first[1] if not _usable(first[1]) else first[2]), None))
        return targets
    behind = []
    rates, cpus = [], []
    for cell, mine, theirs in usable:
        assert mine is not None and theirs is not None
        rate, cpu = mine.ratio_to(theirs, "rate"), mine.ratio_to(theirs, "cpu")
        rates.append(rate)
        cpus.append(cpu)
        if not (rate > 1 and cpu < 1):
            behind.append(f"{cell} (req/s {_x(rate)}, CPU {_x(cpu)})")
    measured = (f"{len(usable)} cells: req/s {min(rates):.2f}\u2013{max(rates):.2f}\u00d7, CPU "
                f"{min(cpus):.2f}\u2013{max(cpus):.2f}\u00d7 aiohttp's")
    if behind:
        measured += "; behind at " + ", ".join(behind)
    targets.append(Target(goal, measured, not behind and len(usable) == len(cells)))
    return targets
