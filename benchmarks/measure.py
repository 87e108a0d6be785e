"""Results and their statistics: what one batch measured, and how rounds are summarised.

A *row* is one client (or client variant) in one scenario; it holds one :class:`Batch` per
round. Summaries pool the per-request samples of all rounds for percentiles, and take the
median over rounds for everything that is a per-round figure (CPU per request, requests per
second, ratios). A ratio is always computed inside one round (client figure / floor figure
of the same round) before the median over rounds, so drift between rounds cancels.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from .server import ServerStats

#: The raw floors (blocking and asyncio) that every ratio in a scenario is taken against.
FLOOR_KEYS = ("raw", "raw.asyncio")


def percentile(sorted_values: list[int] | list[float], q: float) -> float:
    """Linear-interpolated percentile of already sorted values (q in 0..100)."""
    if not sorted_values:
        return math.nan
    pos = (len(sorted_values) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def median(values: list[float]) -> float:
    values = [v for v in values if not math.isnan(v)]
    return statistics.median(values) if values else math.nan


@dataclass
class Batch:
    """One client's work in one round of one scenario."""

    round: int
    n: int  # timed operations (requests or transfers)
    walls_ns: list[int]  # one per timed operation
    cpu_ns: int  # process CPU over the timed operations
    server: ServerStats  # server-side difference over the whole batch (setup and warm-up too)
    sent: int  # requests sent in the batch, warm-up included
    bytes_per_op: int = 0
    tls_handshakes: int = 0  # client-side counts, where the client can tell
    tls_resumed: int = 0
    pool_stats: dict[str, int] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: The batch's own wall time when operations overlap (concurrent tasks or threads); the
    #: per-operation ``walls_ns`` then give latency, and this gives the rate.
    batch_wall_ns: int | None = None

    @property
    def wall_ns(self) -> int:
        return self.batch_wall_ns if self.batch_wall_ns is not None else sum(self.walls_ns)

    @property
    def median_ns(self) -> float:
        return percentile(sorted(self.walls_ns), 50)

    @property
    def cpu_per_op_ns(self) -> float:
        return self.cpu_ns / self.n if self.n else math.nan

    @property
    def ops_per_s(self) -> float:
        return self.n / (self.wall_ns / 1e9) if self.wall_ns else math.nan

    def to_json(self) -> dict[str, Any]:
        walls = sorted(self.walls_ns)
        out: dict[str, Any] = {
            "round": self.round,
            "n": self.n,
            "sent": self.sent,
            "wall_us": {q: percentile(walls, p) / 1e3 for q, p in
                        (("min", 0), ("p50", 50), ("p90", 90), ("p99", 99), ("max", 100))},
            "wall_total_ms": self.wall_ns / 1e6,
            "concurrent": self.batch_wall_ns is not None,
            "cpu_per_op_us": self.cpu_per_op_ns / 1e3,
            "ops_per_s": self.ops_per_s,
            "server": vars(self.server),
            "client_tls_handshakes": self.tls_handshakes,
            "client_tls_resumed": self.tls_resumed,
        }
        if self.bytes_per_op:
            out["bytes_per_op"] = self.bytes_per_op
        if self.pool_stats is not None:
            out["pool_stats"] = self.pool_stats
        out.update(self.extra)
        return out


@dataclass
class Row:
    """One client (or variant) in one scenario."""

    key: str  # the client's command-line key
    name: str  # shown in tables
    kind: str  # "floor", "peer" or "keepalive"
    params: dict[str, Any] = field(default_factory=dict)
    batches: list[Batch] = field(default_factory=list)
    missing: str | None = None
    error: str | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # figures that are not batches

    @property
    def ok(self) -> bool:
        return bool(self.batches) and self.missing is None and self.error is None

    def samples_ns(self) -> list[int]:
        return sorted(w for b in self.batches for w in b.walls_ns)

    def by_round(self) -> dict[int, Batch]:
        return {b.round: b for b in self.batches}

    # -- figures ---------------------------------------------------------------------------

    def p(self, q: float) -> float:
        return percentile(self.samples_ns(), q)

    def cpu_per_op_ns(self) -> float:
        return median([b.cpu_per_op_ns for b in self.batches])

    def ops_per_s(self) -> float:
        return median([b.ops_per_s for b in self.batches])

    def ratio_to(self, other: Row, figure: str = "median") -> float:
        """Median over rounds of (this row's figure / the other row's figure, same round).

        ``figure`` is "median" (wall latency), "cpu" (CPU per op), "rate" (ops/s) or
        "per_cpu" (ops per CPU-second: the other row's CPU per op over this row's).
        """
        theirs = other.by_round()
        ratios = []
        for r, mine in self.by_round().items():
            base = theirs.get(r)
            if base is None:
                continue
            a, b = _figure(mine, figure), _figure(base, figure)
            if b and not math.isnan(a) and not math.isnan(b):
                ratios.append(a / b)
        return median(ratios)

    def connections(self) -> int:
        return sum(b.server.connections for b in self.batches)

    def server_requests(self) -> int:
        return sum(b.server.requests for b in self.batches)

    def sent(self) -> int:
        return sum(b.sent for b in self.batches)

    def tls(self) -> tuple[int | None, int | None]:
        """(handshakes, resumed) as the server counted them, else as the client did."""
        handshakes = [b.server.tls_handshakes for b in self.batches]
        resumed = [b.server.tls_resumed for b in self.batches]
        if all(h is not None for h in handshakes) and any(handshakes):
            return sum(h or 0 for h in handshakes), sum(r or 0 for r in resumed)
        client_handshakes = sum(b.tls_handshakes for b in self.batches)
        if client_handshakes:
            return client_handshakes, sum(b.tls_resumed for b in self.batches)
        return None, None

    def to_json(self, floor: Row | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.key, "name": self.name, "kind": self.kind,
                               "params": self.params, "note": self.note}
        if self.missing:
            out["missing"] = self.missing
            out["status"] = (self.missing if self.missing.startswith("not available")
                             else f"not installed: {self.missing}")
        if self.error:
            out["error"] = self.error
        if self.batches:
            handshakes, resumed = self.tls()
            out["summary"] = {
                "wall_us": {"p50": self.p(50) / 1e3, "p90": self.p(90) / 1e3,
                            "p99": self.p(99) / 1e3},
                "cpu_per_op_us": self.cpu_per_op_ns() / 1e3,
                "ops_per_s": self.ops_per_s(),
                "connections_accepted": self.connections(),
                "requests_sent": self.sent(),
                "requests_served": self.server_requests(),
                "tls_handshakes": handshakes,
                "tls_resumed": resumed,
            }
            if floor is not None and floor.ok:
                out["summary"]["wall_x_floor"] = self.ratio_to(floor, "median")
                out["summary"]["cpu_x_floor"] = self.ratio_to(floor, "cpu")
                out["summary"]["rate_x_floor"] = self.ratio_to(floor, "rate")
            out["rounds"] = [b.to_json() for b in self.batches]
        if self.extra:
            out["extra"] = self.extra
        return _finite(out)


def _figure(batch: Batch, figure: str) -> float:
    if figure == "median":
        return batch.median_ns
    if figure == "cpu":
        return batch.cpu_per_op_ns
    if figure == "rate":
        return batch.ops_per_s
    if figure == "per_cpu":
        return 1e9 / batch.cpu_per_op_ns if batch.cpu_per_op_ns else math.nan
    raise ValueError(figure)


def _finite(value: Any) -> Any:
    """JSON has no NaN: turn it into null, recursively."""
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


@dataclass
class Scenario:
    """One scenario's rows and the facts needed to read them."""

    id: str
    title: str
    description: str
    params: dict[str, Any] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    server_cpu_per_request_ns: float | None = None
    seconds: float = 0.0

    def row(self, key: str, **params: Any) -> Row | None:
        for row in self.rows:
            if row.key == key and all(row.params.get(k) == v for k, v in params.items()):
                return row
        return None

    def floor(self, **params: Any) -> Row | None:
        for row in self.rows:
            if (row.kind == "floor" and row.key in FLOOR_KEYS and not row.params.get("variant")
                    and all(row.params.get(k) == v for k, v in params.items())):
                return row
        return None

    def to_json(self) -> dict[str, Any]:
        rows = []
        for row in self.rows:
            group = {k: v for k, v in row.params.items() if k != "variant"}
            rows.append(row.to_json(self.floor(**group)))
        return _finite({
            "id": self.id, "title": self.title, "description": self.description,
            "params": self.params, "seconds": self.seconds,
            "server_cpu_per_request_us": (self.server_cpu_per_request_ns or math.nan) / 1e3,
            "rows": rows,
        })
