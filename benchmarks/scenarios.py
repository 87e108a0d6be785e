"""The scenarios, and the plans (``--quick``, default, ``--full``) that size them.

Every scenario is a class with ``steps()`` (how many progress steps it will take) and
``run(bench)`` (returns a :class:`~benchmarks.measure.Scenario`). Latency scenarios share one
loop: for each round, for each client in an order rotated by the round number, build the
client, set it up, warm it up, time a batch, close it, and read the server's counters before
and after so that the batch's connections are the server's count, not the client's word.
"""

from __future__ import annotations

import faulthandler
import gc
import json
import os
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .clients import (
    CLIENTS,
    AiohttpClient,
    Client,
    KeepaliveConnectionClient,
    KeepalivePoolClient,
    RawSocketClient,
)
from .measure import Batch, Row, Scenario
from .server import ROUTES, ServerHandle, ServerStats

#: Seconds one batch may take before the harness gives up on the whole run (a hung client
#: must not hang ``make bench``): faulthandler prints every thread's stack and exits.
BATCH_WATCHDOG_S = 300

Variant = tuple[type[Client], dict[str, Any]]


@dataclass
class Plan:
    """How much of everything to run. The three modes differ only in these numbers."""

    name: str
    scenarios: list[str]
    rounds: int = 6
    reused_paths: list[str] = field(default_factory=lambda: ["/small"])
    reused_n: int = 1000
    warmup: int = 20
    new_n: int = 200
    tls_reused_n: int = 500
    tls_new_n: int = 60
    tls_new_rounds: int = 3
    throughput_path: str = "/100m"
    throughput_transfers: int = 2
    throughput_rounds: int = 5
    threads: list[int] = field(default_factory=lambda: [1, 4, 16])
    concurrency_requests: int = 2000
    concurrency_rounds: int = 3
    memory_path: str = "/1g"
    memory_clients: list[str] | None = None  # None: every client
    setup_n: int = 200
    rtt_ms: float = 0.0
    rtt_n: int = 8
    rtt_rounds: int = 2
    # asyncio scenarios (benchmarks.async_scenarios)
    async_rounds: int = 5
    async_n: int = 1000
    async_new_n: int = 200
    async_tasks: list[int] = field(default_factory=lambda: [10, 100, 1000])
    async_limits: list[int] = field(default_factory=lambda: [10, 100])
    async_requests: int = 2000  # per concurrency batch, split between the tasks (>= 1 each)
    async_concurrency_rounds: int = 2
    async_stream_rounds: int = 3
    async_memory: bool = True  # RSS per 1,000 in-flight requests, in fresh interpreters


ASYNC_SCENARIOS = ["async-reused", "async-new", "async-concurrency", "async-stream"]

PLANS: dict[str, Plan] = {
    "quick": Plan(
        name="quick",
        scenarios=["setup", "reused", "new", "tls-new", "throughput", "concurrency", "memory",
                   *ASYNC_SCENARIOS],
        rounds=3, reused_n=200, warmup=10, new_n=40, tls_new_n=12, tls_new_rounds=2,
        throughput_transfers=1, throughput_rounds=1, threads=[1, 16], concurrency_requests=400,
        concurrency_rounds=1, memory_clients=["raw", "keepalive.Session"], setup_n=50,
        async_rounds=3, async_n=200, async_new_n=40, async_tasks=[10, 1000],
        async_limits=[10], async_requests=1000, async_concurrency_rounds=1,
        async_stream_rounds=1, async_memory=False,
    ),
    "default": Plan(
        name="default",
        scenarios=["setup", "reused", "new", "tls-reused", "tls-new", "throughput",
                   "concurrency", "memory", *ASYNC_SCENARIOS],
        # Eight short rounds rather than four long ones: the same requests in all, but the
        # median of per-round ratios has twice the samples to stand on (a shared machine's
        # bursts of load land in one round of one client).
        rounds=8, reused_n=500, new_n=100, tls_reused_n=150, throughput_rounds=4,
        concurrency_requests=1000,
        memory_clients=["raw", "keepalive.Session", "keepalive.ConnectionPool", "requests",
                        "httpx", "urllib3"],
        async_rounds=8, async_n=250, async_new_n=100, async_requests=500,
    ),
    "full": Plan(
        name="full",
        scenarios=["setup", "reused", "new", "tls-reused", "tls-new", "throughput",
                   "concurrency", "memory", *ASYNC_SCENARIOS, "rtt"],
        rounds=8, reused_paths=["/small", "/1k", "/1m"], reused_n=1000, new_n=300,
        tls_reused_n=600, tls_new_n=80, tls_new_rounds=5, throughput_transfers=3,
        throughput_rounds=6, threads=[1, 2, 4, 8, 16, 32], concurrency_requests=3000,
        concurrency_rounds=3, setup_n=500, rtt_ms=20.0, rtt_n=20, rtt_rounds=3,
        async_rounds=6, async_new_n=300, async_requests=3000, async_concurrency_rounds=3,
        async_stream_rounds=5,
    ),
}

SCENARIO_IDS = ["setup", "reused", "new", "tls-reused", "tls-new", "throughput", "concurrency",
                "memory", *ASYNC_SCENARIOS, "rtt"]
#: The order scenarios run in. New TLS connections run before reused ones: keepalive shares
#: TLS contexts (and so saved sessions) between sessions with equal settings, and a session
#: saved by the reused-connection scenario would let the first handshake of every batch
#: resume, hiding whether the new-connection path saves sessions by itself.
RUN_ORDER = ["setup", "reused", "new", "tls-new", "tls-reused", "throughput", "concurrency",
             "memory", *ASYNC_SCENARIOS, "rtt"]


class Progress:
    """What scenarios report to; the report module provides the real (rich) one."""

    def start(self, total: int) -> None: ...

    def step(self, description: str, advance: int = 1) -> None: ...

    def log(self, message: str) -> None:
        print(message, file=sys.stderr)


@dataclass
class Bench:
    """What every scenario needs: the server, the clients chosen, the plan, the progress."""

    server: ServerHandle
    clients: list[type[Client]]
    plan: Plan
    progress: Progress
    rtt_server: ServerHandle | None = None
    aclients: list[Any] = field(default_factory=list)  # asyncio adapters (benchmarks.aclients)

    def variants(self, extra: Sequence[Variant] = ()) -> list[Variant]:
        """The chosen clients in table order, each followed by its chosen extra variants."""
        out: list[Variant] = []
        for cls in self.clients:
            out.append((cls, {}))
            out += [(c, o) for c, o in extra if c is cls]
        return out


def _row_for(cls: Any, options: dict[str, Any], **params: Any) -> Row:
    probe = cls(**options)
    row = Row(key=cls.key, name=probe.name, kind=cls.kind, note=options.get("note", cls.note),
              params={**params, "variant": options.get("variant", "")})
    row.missing = cls.missing()
    caveat = getattr(cls, "caveat", lambda: "")() if row.missing is None else ""
    if caveat:
        row.note = f"{row.note}; {caveat}" if row.note else caveat
    return row


def _rotated(items: list[Any], k: int) -> list[Any]:
    if not items:
        return items
    k %= len(items)
    return items[k:] + items[:k]


def _fatal(exc: BaseException) -> bool:
    """Exceptions that end the run. Everything else a client raises fails only its row: that
    includes BaseException subclasses some libraries raise for their own crashes (pyo3's
    PanicException, when a Rust client panics)."""
    return isinstance(exc, (KeyboardInterrupt, SystemExit))


def _error_text(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 300 else text[:297] + "..."


class _Watchdog:
    """Dump every stack and exit if a batch hangs (faulthandler, so it works in any thread)."""

    def __enter__(self) -> None:
        faulthandler.dump_traceback_later(BATCH_WATCHDOG_S, exit=True)

    def __exit__(self, *exc: object) -> None:
        faulthandler.cancel_dump_traceback_later()


def _server_cpu_per_request(batches: list[Batch]) -> float | None:
    cpu = [b.server.cpu_ns for b in batches]
    if not batches or any(c is None for c in cpu):
        return None
    requests = sum(b.server.requests for b in batches)
    return sum(c or 0 for c in cpu) / requests if requests else None


# --- latency: sequential GETs, reused or new connections -------------------------------------


class LatencyScenario:
    def __init__(self, id: str, title: str, description: str, *, scheme: str, reuse: bool,
                 paths: list[str], n: int, warmup: int, rounds: int,
                 extra: Sequence[Variant] = (), server: str = "main") -> None:
        self.id, self.title, self.description = id, title, description
        self.scheme, self.reuse, self.paths = scheme, reuse, paths
        self.n, self.warmup, self.rounds = n, warmup, rounds
        self.extra = extra
        self.server = server

    def variants(self, bench: Bench) -> list[Variant]:
        return bench.variants(self.extra)

    def steps(self, bench: Bench) -> int:
        runnable = [v for v in self.variants(bench) if v[0].missing() is None]
        return self.rounds * len(runnable) * len(self.paths)

    def sized(self, path: str) -> tuple[int, int]:
        """(n, warm-up) for a path: large bodies get fewer requests, ~64 MiB per batch."""
        size = ROUTES[path]
        if size <= 64 * 1024:
            return self.n, self.warmup
        return min(self.n, max(10, (64 << 20) // size)), min(self.warmup, 3)

    def run(self, bench: Bench) -> Scenario:
        server = bench.rtt_server if self.server == "rtt" else bench.server
        assert server is not None
        scenario = Scenario(self.id, self.title, self.description, params={
            "scheme": self.scheme, "reuse": self.reuse, "paths": self.paths, "n": self.n,
            "warmup": self.warmup, "rounds": self.rounds})
        started = time.perf_counter()
        variants = self.variants(bench)
        for path in self.paths:
            rows = [_row_for(cls, opts, path=path) for cls, opts in variants]
            scenario.rows += rows
            pairs = [(row, v) for row, v in zip(rows, variants, strict=True) if not row.missing]
            for round_no in range(self.rounds):
                for row, (cls, options) in _rotated(pairs, round_no):
                    if row.error is None:
                        self._batch(bench, server, row, cls, options, path, round_no)
                    bench.progress.step(f"{self.title}: {row.name}")
        scenario.server_cpu_per_request_ns = _server_cpu_per_request(
            [b for r in scenario.rows for b in r.batches])
        scenario.seconds = time.perf_counter() - started
        return scenario

    def _batch(self, bench: Bench, server: ServerHandle, row: Row, cls: type[Client],
               options: dict[str, Any], path: str, round_no: int) -> None:
        client = cls(**options)
        n, warmup = self.sized(path)
        gc.collect()
        before = server.stats()
        try:
            with _Watchdog():
                client.setup(server.url(self.scheme), server.ca_path, reuse=self.reuse)
                try:
                    client.prepare(warmup + n)
                    for _ in range(warmup):
                        body = client.get(path)
                    if warmup and len(body) != ROUTES[path]:
                        raise AssertionError(f"{path}: got {len(body)} bytes, "
                                             f"expected {ROUTES[path]}")
                    walls, cpu = client.run(path, n)
                    pool_stats = client.pool_stats()
                finally:
                    client.close()
        except BaseException as exc:
            if _fatal(exc):
                raise
            row.error = _error_text(exc)
            bench.progress.log(f"{row.name} failed in {self.title}: {row.error}")
            row.extra["traceback"] = traceback.format_exc()
            return
        after = server.stats()
        row.batches.append(Batch(
            round=round_no, n=n, walls_ns=walls, cpu_ns=cpu, server=after - before,
            sent=warmup + n, tls_handshakes=client.tls_handshakes,
            tls_resumed=client.resumed_handshakes, pool_stats=pool_stats))


# --- throughput: a large body over a reused connection ---------------------------------------


class ThroughputScenario:
    id = "throughput"
    title = "Throughput"

    def __init__(self, plan: Plan) -> None:
        self.path = plan.throughput_path
        self.transfers = plan.throughput_transfers
        self.rounds = plan.throughput_rounds
        rcvbuf = 4 * 1024 * 1024
        self.extra: list[Variant] = [
            (RawSocketClient, {"rcvbuf": rcvbuf, "variant": "SO_RCVBUF 4 MiB"}),
            (RawSocketClient, {
                "lowat": False, "variant": "no low-water mark",
                "note": "the floor's reads, but woken whenever any data arrives: what the "
                        "low-water mark saves in wake-ups"}),
            (KeepalivePoolClient, {"rcvbuf": rcvbuf, "variant": "SO_RCVBUF 4 MiB"}),
        ]

    def steps(self, bench: Bench) -> int:
        return self.rounds * len([v for v in bench.variants(self.extra) if v[0].missing() is None])

    def run(self, bench: Bench) -> Scenario:
        size = ROUTES[self.path]
        scenario = Scenario(
            self.id, f"{self.title}: {size >> 20} MiB body over a reused connection",
            "Each transfer streams the body in chunks and keeps none of it. MB/s is the median "
            "over rounds; MB per CPU-second is what the client process spent.",
            params={"path": self.path, "bytes": size, "transfers": self.transfers,
                    "rounds": self.rounds})
        started = time.perf_counter()
        variants = bench.variants(self.extra)
        rows = [_row_for(cls, opts, path=self.path) for cls, opts in variants]
        scenario.rows = rows
        pairs = [(row, v) for row, v in zip(rows, variants, strict=True) if not row.missing]
        for round_no in range(self.rounds):
            for row, (cls, options) in _rotated(pairs, round_no):
                if row.error is None:
                    self._batch(bench, row, cls, options, size, round_no)
                bench.progress.step(f"throughput: {row.name}")
        scenario.server_cpu_per_request_ns = None
        scenario.seconds = time.perf_counter() - started
        return scenario

    def _batch(self, bench: Bench, row: Row, cls: type[Client], options: dict[str, Any],
               size: int, round_no: int) -> None:
        server = bench.server
        client = cls(**options)
        gc.collect()
        before = server.stats()
        walls: list[int] = []
        cpu = 0
        try:
            with _Watchdog():
                client.setup(server.url("http"), server.ca_path, reuse=True)
                try:
                    if client.stream("/1m") != ROUTES["/1m"]:  # warm-up: connect, check framing
                        raise AssertionError("/1m: wrong byte count")
                    for _ in range(self.transfers):
                        t0, c0 = time.perf_counter_ns(), time.process_time_ns()
                        got = client.stream(self.path)
                        walls.append(time.perf_counter_ns() - t0)
                        cpu += time.process_time_ns() - c0
                        if got != size:
                            raise AssertionError(f"{self.path}: got {got} bytes, expected {size}")
                    rcvbuf = getattr(client, "rcvbuf_effective", lambda: None)()
                    stalls = getattr(client, "stream_stalls", 0)
                finally:
                    client.close()
        except TypeError as exc:
            if options.get("rcvbuf") and "receive_buffer_size" in str(exc):
                row.missing = "no receive_buffer_size argument in this keepalive"
            else:
                row.error = _error_text(exc)
            return
        except BaseException as exc:
            if _fatal(exc):
                raise
            row.error = _error_text(exc)
            row.extra["traceback"] = traceback.format_exc()
            bench.progress.log(f"{row.name} failed in throughput: {row.error}")
            return
        after = server.stats()
        batch = Batch(round=round_no, n=self.transfers, walls_ns=walls, cpu_ns=cpu,
                      server=after - before, sent=1 + self.transfers, bytes_per_op=size)
        if rcvbuf:
            batch.extra["rcvbuf_effective"] = rcvbuf
        if stalls:
            batch.extra["low_water_stalls"] = stalls
        row.batches.append(batch)


# --- concurrency: threads sharing one session or pool ----------------------------------------


class ConcurrencyScenario:
    id = "concurrency"
    title = "Concurrency"

    def __init__(self, plan: Plan) -> None:
        self.threads = plan.threads
        self.total = plan.concurrency_requests
        self.rounds = plan.concurrency_rounds
        self.path = "/small"

    def _variants(self, bench: Bench) -> list[Variant]:
        return [v for v in bench.variants() if v[0] is not AiohttpClient]

    def steps(self, bench: Bench) -> int:
        runnable = [v for v in self._variants(bench) if v[0].missing() is None]
        return self.rounds * len(runnable) * len(self.threads)

    def run(self, bench: Bench) -> Scenario:
        scenario = Scenario(
            self.id, f"Concurrency: threads sharing one client, GET {self.path}",
            "Total requests per second with T threads. Thread-safe clients (urllib3, requests, "
            "niquests, httpx, pyreqwest, httpr, keepalive's Session and ConnectionPool) share "
            "one instance with default settings; the others get one instance per thread. "
            "Connections are the server's count, warm-up included. aiohttp is left out here: "
            "its concurrency is tasks (see the async scenarios).",
            params={"threads": self.threads, "requests": self.total, "rounds": self.rounds,
                    "path": self.path})
        started = time.perf_counter()
        for cls, options in self._variants(bench):
            limit = None
            if cls.thread_safe and not cls.missing():
                try:
                    limit = cls.connection_limit()
                except Exception:  # a library that moved its defaults: no mark, not an error
                    limit = None
            for threads in self.threads:
                row = _row_for(cls, options, threads=threads)
                row.note = "shared" if cls.thread_safe else "one per thread"
                if limit is not None:
                    row.extra["connection_limit"] = {"per_host": limit[0], "beyond": limit[1]}
                scenario.rows.append(row)
        runnable = [r for r in scenario.rows if not r.missing]
        by_key = {cls.key: (cls, opts) for cls, opts in self._variants(bench)}
        for round_no in range(self.rounds):
            for row in _rotated(runnable, round_no * len(self.threads)):
                if row.error is None:
                    cls, options = by_key[row.key]
                    self._batch(bench, row, cls, options, row.params["threads"], round_no)
                bench.progress.step(f"concurrency: {row.name} \u00d7 {row.params['threads']}")
        scenario.server_cpu_per_request_ns = _server_cpu_per_request(
            [b for r in scenario.rows for b in r.batches])
        scenario.seconds = time.perf_counter() - started
        return scenario

    def _batch(self, bench: Bench, row: Row, cls: type[Client], options: dict[str, Any],
               threads: int, round_no: int) -> None:
        server = bench.server
        url = server.url("http")
        per_thread = max(1, self.total // threads)
        barrier = threading.Barrier(threads + 1)
        errors: list[BaseException] = []
        shared = cls(**options) if cls.thread_safe else None
        clients: list[Client] = []
        gc.collect()
        before = server.stats()

        def worker() -> None:
            client = shared
            try:
                if client is None:
                    client = cls(**options)
                    client.setup(url, server.ca_path, reuse=True)
                    clients.append(client)
                client.get(self.path)  # warm-up: this thread's connection
            except BaseException as exc:
                errors.append(exc)
            barrier.wait()
            if errors:
                return
            try:
                get = client.get  # type: ignore[union-attr]
                for _ in range(per_thread):
                    get(self.path)
            except BaseException as exc:
                errors.append(exc)

        try:
            with _Watchdog():
                if shared is not None:
                    shared.setup(url, server.ca_path, reuse=True)
                    clients.append(shared)
                workers = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
                for w in workers:
                    w.start()
                barrier.wait()
                t0, c0 = time.perf_counter_ns(), time.process_time_ns()
                for w in workers:
                    w.join()
                wall, cpu = time.perf_counter_ns() - t0, time.process_time_ns() - c0
                pool_stats = shared.pool_stats() if shared is not None else None
                for client in clients:
                    client.close()
        except BaseException as exc:
            if _fatal(exc):
                raise
            errors.append(exc)
        if errors:
            row.error = _error_text(errors[0])
            bench.progress.log(f"{row.name} failed with {threads} threads: {row.error}")
            return
        after = server.stats()
        n = per_thread * threads
        row.batches.append(Batch(
            round=round_no, n=n, walls_ns=[wall], cpu_ns=cpu, server=after - before,
            sent=n + threads, pool_stats=pool_stats))


# --- memory: peak RSS while streaming a large body, in a fresh process -----------------------


class MemoryScenario:
    id = "memory"
    title = "Memory"

    def __init__(self, plan: Plan) -> None:
        self.path = plan.memory_path
        self.keys = plan.memory_clients

    def _variants(self, bench: Bench) -> list[Variant]:
        return [(c, o) for c, o in bench.variants() if self.keys is None or c.key in self.keys]

    def steps(self, bench: Bench) -> int:
        return len([v for v in self._variants(bench) if v[0].missing() is None])

    def run(self, bench: Bench) -> Scenario:
        size = ROUTES[self.path]
        scenario = Scenario(
            self.id, f"Memory: peak RSS while streaming {size >> 30} GiB",
            "Each client runs in a fresh interpreter (python -m benchmarks.memprobe). Interpreter "
            "= peak RSS before imports; baseline = peak RSS after imports and client setup; "
            "peak = peak RSS after the stream (VmHWM). Chunks are read and dropped.",
            params={"path": self.path, "bytes": size})
        started = time.perf_counter()
        for cls, options in self._variants(bench):
            row = _row_for(cls, options, path=self.path)
            scenario.rows.append(row)
            if row.missing:
                continue
            cmd = [sys.executable, "-m", "benchmarks.memprobe", "--client", cls.key,
                   "--url", bench.server.url("http"), "--path", self.path]
            package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
            try:
                done = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                                      cwd=package_parent)
                if done.returncode != 0:
                    raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr
                                       else f"exit {done.returncode}")
                result = json.loads(done.stdout.strip().splitlines()[-1])
                if result["bytes"] != size:
                    raise AssertionError(f"got {result['bytes']} bytes, expected {size}")
                row.extra.update(result)
            except Exception as exc:
                row.error = _error_text(exc)
                bench.progress.log(f"{row.name} failed in memory: {row.error}")
            bench.progress.step(f"memory: {row.name}")
        scenario.seconds = time.perf_counter() - started
        return scenario


# --- setup cost: creating the client object -------------------------------------------------


class SetupScenario:
    id = "setup"
    title = "Setup cost"

    def __init__(self, plan: Plan) -> None:
        self.n = plan.setup_n
        self.budget_s = 0.3

    def _variants(self, bench: Bench) -> list[Variant]:
        return [(c, o) for c, o in bench.variants() if c.kind != "floor"]

    def steps(self, bench: Bench) -> int:
        return len([v for v in self._variants(bench)
                    if v[0].missing() is None and v[0].constructor() is not None])

    def run(self, bench: Bench) -> Scenario:
        scenario = Scenario(
            self.id, "Setup cost: create and close a client object (default settings)",
            "No request is sent. A client that builds its TLS context eagerly pays for it here; "
            "keepalive builds it lazily, on the first https request.",
            params={"n": self.n, "budget_s": self.budget_s})
        started = time.perf_counter()
        for cls, options in self._variants(bench):
            row = _row_for(cls, options)
            make = None if row.missing else cls.constructor()
            if make is None and not row.missing:
                continue  # no client object to create (the floors; aiohttp needs a loop)
            scenario.rows.append(row)
            if make is None:
                continue
            try:
                for _ in range(3):
                    make()
                gc.collect()
                walls: list[int] = []
                cpu0 = time.process_time_ns()
                deadline = time.perf_counter_ns() + int(self.budget_s * 1e9)
                # n creations, but no more than the time budget (some take ~20 ms each)
                while len(walls) < self.n and (len(walls) < 10 or
                                               time.perf_counter_ns() < deadline):
                    t0 = time.perf_counter_ns()
                    make()
                    walls.append(time.perf_counter_ns() - t0)
                cpu = time.process_time_ns() - cpu0
                row.batches.append(Batch(round=0, n=len(walls), walls_ns=walls, cpu_ns=cpu,
                                         server=ServerStats(0, 0), sent=0))
            except BaseException as exc:
                if _fatal(exc):
                    raise
                row.error = _error_text(exc)
            bench.progress.step(f"setup: {row.name}")
        scenario.seconds = time.perf_counter() - started
        return scenario


# --- RTT: the cost a real network adds ------------------------------------------------------


class RttScenario:
    """Reused and new, HTTP and HTTPS, through the delay proxy; printed beside the model."""

    id = "rtt"
    CASES = (  # (case, scheme, reuse, model in RTTs)
        ("reused http", "http", True, 1),
        ("new http", "http", False, 2),
        ("reused https", "https", True, 1),
        ("new https", "https", False, 3),
    )

    def __init__(self, plan: Plan) -> None:
        self.rtt_ms = plan.rtt_ms
        self.n = plan.rtt_n
        self.rounds = plan.rtt_rounds
        self.cases = [
            LatencyScenario(f"rtt-{case}", f"RTT {case}", "", scheme=scheme, reuse=reuse,
                            paths=["/small"], n=self.n, warmup=2, rounds=self.rounds,
                            server="rtt")
            for case, scheme, reuse, _ in self.CASES
        ]

    def steps(self, bench: Bench) -> int:
        return sum(c.steps(bench) for c in self.cases)

    def run(self, bench: Bench) -> Scenario:
        scenario = Scenario(
            self.id, f"Round-trip time: {self.rtt_ms:g} ms through the delay proxy",
            "Median per request. Model: reused = 1 RTT, new http = 2 RTT (handshake + request), "
            "new https = 3 RTT (TLS 1.3 adds one round trip, resumed or not).",
            params={"rtt_ms": self.rtt_ms, "n": self.n, "rounds": self.rounds,
                    "model_rtts": {c[0]: c[3] for c in self.CASES}})
        started = time.perf_counter()
        for case, sub in zip(self.CASES, self.cases, strict=True):
            result = sub.run(bench)
            for row in result.rows:
                row.params["case"] = case[0]
                row.params["model_ms"] = case[3] * self.rtt_ms
            scenario.rows += result.rows
        scenario.seconds = time.perf_counter() - started
        return scenario


def build(plan: Plan, selected: list[str]) -> list[Any]:
    """The scenario objects for the chosen ids, in the order they run (``RUN_ORDER``)."""
    out: list[Any] = []
    for sid in [s for s in RUN_ORDER if s in selected]:
        if sid == "setup":
            out.append(SetupScenario(plan))
        elif sid == "reused":
            out.append(LatencyScenario(
                "reused", "Reused connection, HTTP",
                f"{plan.reused_n} sequential GETs over one kept-alive connection after "
                f"{plan.warmup} warm-up requests, per round.",
                scheme="http", reuse=True, paths=plan.reused_paths, n=plan.reused_n,
                warmup=plan.warmup, rounds=plan.rounds))
        elif sid == "new":
            out.append(LatencyScenario(
                "new", "New connection per request, HTTP",
                f"{plan.new_n} sequential GETs per round, each on a new TCP connection.",
                scheme="http", reuse=False, paths=["/small"], n=plan.new_n,
                warmup=max(2, plan.warmup // 4), rounds=plan.rounds))
        elif sid == "tls-reused":
            out.append(LatencyScenario(
                "tls-reused", "Reused connection, HTTPS (TLS 1.3)",
                f"{plan.tls_reused_n} sequential GETs over one kept-alive TLS connection.",
                scheme="https", reuse=True, paths=["/small"], n=plan.tls_reused_n,
                warmup=plan.warmup, rounds=plan.rounds))
        elif sid == "tls-new":
            out.append(LatencyScenario(
                "tls-new", "New connection per request, HTTPS (TLS 1.3)",
                f"{plan.tls_new_n} sequential GETs per round, each on a new TLS connection. "
                "Resumed = handshakes that resumed a session, as the server counted them.",
                scheme="https", reuse=False, paths=["/small"], n=plan.tls_new_n,
                warmup=2, rounds=plan.tls_new_rounds,
                extra=[
                    (RawSocketClient, {"resume": True, "variant": "TLS resumption"}),
                    (KeepaliveConnectionClient,
                     {"fresh_context": True, "variant": "no resumption: SSLContext per conn"}),
                ]))
        elif sid == "throughput":
            out.append(ThroughputScenario(plan))
        elif sid == "concurrency":
            out.append(ConcurrencyScenario(plan))
        elif sid == "memory":
            out.append(MemoryScenario(plan))
        elif sid == "rtt":
            out.append(RttScenario(plan))
        elif sid in ASYNC_SCENARIOS:
            from .async_scenarios import build_async

            out.append(build_async(sid, plan))
    return out


def environment_probe() -> dict[str, Any]:
    """Versions of everything measured (None: not installed), for the JSON file."""
    from .aclients import ASYNC_CLIENTS

    versions: dict[str, Any] = {}
    every: list[Any] = [*CLIENTS, *ASYNC_CLIENTS]
    for cls in every:
        reason = cls.missing()
        if reason:
            versions[cls.key] = None
            continue
        try:
            versions[cls.key] = cls.version()
        except Exception as exc:
            versions[cls.key] = f"? ({type(exc).__name__})"
    return versions

