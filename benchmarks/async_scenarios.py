"""The asyncio scenarios: the async clients of :mod:`benchmarks.aclients`, side by side.

They follow the rules of :mod:`benchmarks.scenarios`: rounds, an order rotated from round to
round, the server's own count of connections, and process CPU time over the timed window.
The server is a separate process (pinned to its own CPU when there are two), so the client
process's CPU time is the client's alone. Every batch runs in a fresh event loop
(``asyncio.run``), so no client inherits another's loop state.

* ``async-reused``: sequential GETs in one task over one kept-alive connection; the blocking
  ``keepalive.Session`` runs in the same rounds as a reference, so the async layer's cost over
  the blocking one is a same-round ratio.
* ``async-new``: sequential GETs, each on a new connection (``Connection: close``).
* ``async-concurrency``: T tasks sharing one client whose per-host limit is L; every request's
  latency counts from the call to the end of its body, waiting for a connection included. RSS
  per 1,000 in-flight requests comes from fresh interpreters (``benchmarks.memprobe``).
* ``async-stream``: a 100 MiB body streamed in chunks over a reused connection.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import subprocess
import sys
import time
import traceback
from typing import Any

from .aclients import AsyncClient, is_async
from .clients import KeepaliveSessionClient
from .measure import Batch, Row, Scenario
from .scenarios import (
    Bench,
    LatencyScenario,
    Plan,
    Variant,
    _error_text,
    _fatal,
    _rotated,
    _row_for,
    _server_cpu_per_request,
    _Watchdog,
)
from .server import ROUTES

PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SYNC_REFERENCE = {"variant": "blocking, reference"}


def _async_variants(bench: Bench) -> list[Variant]:
    return [(cls, {}) for cls in bench.aclients]


class AsyncLatencyScenario(LatencyScenario):
    """Sequential GETs in one task; the blocking Session joins as a same-round reference."""

    def __init__(self, *args: Any, reference: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reference = reference

    def variants(self, bench: Bench) -> list[Variant]:
        out = _async_variants(bench)
        if self.reference and KeepaliveSessionClient in bench.clients:
            out.append((KeepaliveSessionClient, dict(SYNC_REFERENCE)))
        return out

    def _batch(self, bench: Bench, server: Any, row: Row, cls: Any,
               options: dict[str, Any], path: str, round_no: int) -> None:
        if not is_async(cls):
            super()._batch(bench, server, row, cls, options, path, round_no)
            return
        client: AsyncClient = cls(**options)
        n, warmup = self.sized(path)

        async def body() -> tuple[list[int], int, dict[str, int] | None]:
            await client.setup(server.url(self.scheme), server.ca_path, reuse=self.reuse)
            try:
                got = b""
                for _ in range(warmup):
                    got = await client.get(path)
                if warmup and len(got) != ROUTES[path]:
                    raise AssertionError(f"{path}: got {len(got)} bytes, "
                                         f"expected {ROUTES[path]}")
                walls, cpu = await client.run(path, n)
                return walls, cpu, client.pool_stats()
            finally:
                await client.aclose()

        gc.collect()
        before = server.stats()
        try:
            with _Watchdog():
                walls, cpu, pool_stats = asyncio.run(body())
        except BaseException as exc:
            if _fatal(exc):
                raise
            _failed(bench, row, self.title, exc)
            return
        row.batches.append(Batch(
            round=round_no, n=n, walls_ns=walls, cpu_ns=cpu, server=server.stats() - before,
            sent=warmup + n, pool_stats=pool_stats))


def _failed(bench: Bench, row: Row, where: str, exc: BaseException) -> None:
    row.error = _error_text(exc)
    row.extra["traceback"] = "".join(traceback.format_exception(exc))
    bench.progress.log(f"{row.name} failed in {where}: {row.error}")


class AsyncConcurrencyScenario:
    """T tasks sharing one client with a per-host limit of L, for every (L, T) of the plan."""

    id = "async-concurrency"
    title = "Async concurrency"

    def __init__(self, plan: Plan) -> None:
        self.tasks = plan.async_tasks
        self.limits = plan.async_limits
        self.total = plan.async_requests
        self.rounds = plan.async_concurrency_rounds
        self.memory = plan.async_memory
        self.path = "/small"

    def _cells(self) -> list[tuple[int, int]]:
        return [(limit, tasks) for limit in self.limits for tasks in self.tasks]

    def steps(self, bench: Bench) -> int:
        runnable = [c for c in bench.aclients if c.missing() is None]
        memory = len(runnable) * len(self.limits) if self.memory else 0
        return self.rounds * len(runnable) * len(self._cells()) + memory

    def run(self, bench: Bench) -> Scenario:
        scenario = Scenario(
            self.id, f"Async concurrency: tasks sharing one client, GET {self.path}",
            f"T tasks share one client whose per-host connection limit is L; each task sends "
            f"its share of {self.total} requests (at least one) back to back. Latency counts "
            f"from the call to the end of the body, waiting for a connection included. "
            f"Connections are the server's count, warm-up included (the warm-up opens "
            f"min(T, L)). RSS per 1,000 in flight: peak RSS above the baseline while "
            f"{max(self.tasks)} tasks are in flight, in a fresh interpreter, scaled to 1,000.",
            params={"tasks": self.tasks, "limits": self.limits, "requests": self.total,
                    "rounds": self.rounds, "path": self.path})
        started = time.perf_counter()
        for cls, options in _async_variants(bench):
            for limit, tasks in self._cells():
                scenario.rows.append(_row_for(cls, options, limit=limit, tasks=tasks))
        runnable = [r for r in scenario.rows if not r.missing]
        by_key = {cls.key: cls for cls in bench.aclients}
        for round_no in range(self.rounds):
            for row in _rotated(runnable, round_no * len(self._cells())):
                if row.error is None:
                    self._batch(bench, row, by_key[row.key], row.params["limit"],
                                row.params["tasks"], round_no)
                bench.progress.step(f"async concurrency: {row.name} "
                                    f"L{row.params['limit']} \u00d7 {row.params['tasks']}")
        if self.memory:
            for cls in bench.aclients:
                if cls.missing():
                    continue
                for limit in self.limits:
                    row = scenario.row(cls.key, limit=limit, tasks=max(self.tasks))
                    assert row is not None
                    self._memory(bench, row, cls, limit, max(self.tasks))
                    bench.progress.step(f"async concurrency: RSS {row.name} L{limit}")
        scenario.server_cpu_per_request_ns = _server_cpu_per_request(
            [b for r in scenario.rows for b in r.batches])
        scenario.seconds = time.perf_counter() - started
        return scenario

    def _batch(self, bench: Bench, row: Row, cls: type[AsyncClient], limit: int, tasks: int,
               round_no: int) -> None:
        server = bench.server
        client = cls()
        path = self.path
        per_task = max(1, self.total // tasks)
        warm = min(tasks, limit)

        async def body() -> tuple[list[int], int, int, dict[str, int] | None]:
            await client.setup(server.url("http"), server.ca_path, reuse=True, limit=limit)
            try:
                got = await asyncio.gather(*(client.get(path) for _ in range(warm)))
                if any(len(b) != ROUTES[path] for b in got):
                    raise AssertionError(f"{path}: wrong byte count in the warm-up")
                latencies: list[int] = []
                record = latencies.append
                get = client.get
                clock = time.perf_counter_ns

                async def worker() -> None:
                    for _ in range(per_task):
                        t0 = clock()
                        await get(path)
                        record(clock() - t0)

                t0, c0 = clock(), time.process_time_ns()
                await asyncio.gather(*(worker() for _ in range(tasks)))
                wall, cpu = clock() - t0, time.process_time_ns() - c0
                return latencies, wall, cpu, client.pool_stats()
            finally:
                await client.aclose()

        gc.collect()
        before = server.stats()
        try:
            with _Watchdog():
                latencies, wall, cpu, pool_stats = asyncio.run(body())
        except BaseException as exc:
            if _fatal(exc):
                raise
            _failed(bench, row, f"async concurrency L{limit} \u00d7 {tasks}", exc)
            return
        n = per_task * tasks
        row.batches.append(Batch(
            round=round_no, n=n, walls_ns=latencies, cpu_ns=cpu, batch_wall_ns=wall,
            server=server.stats() - before, sent=n + warm, pool_stats=pool_stats))

    def _memory(self, bench: Bench, row: Row, cls: type[AsyncClient], limit: int,
                tasks: int) -> None:
        """RSS per 1,000 in-flight requests, from ``benchmarks.memprobe`` in a new process."""
        cmd = [sys.executable, "-m", "benchmarks.memprobe", "--async-client", cls.key,
               "--url", bench.server.url("http"), "--path", self.path,
               "--tasks", str(tasks), "--limit", str(limit)]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                                  cwd=PACKAGE_PARENT)
            if done.returncode != 0:
                raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr
                                   else f"exit {done.returncode}")
            row.extra["memory"] = json.loads(done.stdout.strip().splitlines()[-1])
        except Exception as exc:
            row.extra["memory_error"] = _error_text(exc)
            bench.progress.log(f"{row.name}: RSS probe failed: {row.extra['memory_error']}")


class AsyncStreamScenario:
    """A 100 MiB body streamed in chunks by each async client over a reused connection."""

    id = "async-stream"
    title = "Async stream"

    def __init__(self, plan: Plan) -> None:
        self.path = plan.throughput_path
        self.transfers = plan.throughput_transfers
        self.rounds = plan.async_stream_rounds

    def steps(self, bench: Bench) -> int:
        return self.rounds * len([c for c in bench.aclients if c.missing() is None])

    def run(self, bench: Bench) -> Scenario:
        size = ROUTES[self.path]
        scenario = Scenario(
            self.id, f"Async stream: {size >> 20} MiB body over a reused connection",
            "Each transfer streams the body in chunks and keeps none of it. MB/s is the median "
            "over rounds; MB per CPU-second is what the client process spent.",
            params={"path": self.path, "bytes": size, "transfers": self.transfers,
                    "rounds": self.rounds})
        started = time.perf_counter()
        variants = _async_variants(bench)
        rows = [_row_for(cls, opts, path=self.path) for cls, opts in variants]
        scenario.rows = rows
        pairs = [(row, cls) for row, (cls, _) in zip(rows, variants, strict=True)
                 if not row.missing]
        for round_no in range(self.rounds):
            for row, cls in _rotated(pairs, round_no):
                if row.error is None:
                    self._batch(bench, row, cls, size, round_no)
                bench.progress.step(f"async stream: {row.name}")
        scenario.seconds = time.perf_counter() - started
        return scenario

    def _batch(self, bench: Bench, row: Row, cls: type[AsyncClient], size: int,
               round_no: int) -> None:
        server = bench.server
        client = cls()

        async def body() -> tuple[list[int], int, int]:
            await client.setup(server.url("http"), server.ca_path, reuse=True)
            try:
                if await client.stream("/1m") != ROUTES["/1m"]:
                    raise AssertionError("/1m: wrong byte count")
                walls: list[int] = []
                cpu = 0
                for _ in range(self.transfers):
                    t0, c0 = time.perf_counter_ns(), time.process_time_ns()
                    got = await client.stream(self.path)
                    walls.append(time.perf_counter_ns() - t0)
                    cpu += time.process_time_ns() - c0
                    if got != size:
                        raise AssertionError(f"{self.path}: got {got} bytes, expected {size}")
                return walls, cpu, getattr(client, "stream_stalls", 0)
            finally:
                await client.aclose()

        gc.collect()
        before = server.stats()
        try:
            with _Watchdog():
                walls, cpu, stalls = asyncio.run(body())
        except BaseException as exc:
            if _fatal(exc):
                raise
            _failed(bench, row, "async stream", exc)
            return
        batch = Batch(round=round_no, n=self.transfers, walls_ns=walls, cpu_ns=cpu,
                      server=server.stats() - before, sent=1 + self.transfers, bytes_per_op=size)
        if stalls:
            batch.extra["low_water_stalls"] = stalls
        row.batches.append(batch)


def build_async(sid: str, plan: Plan) -> Any:
    """The scenario object for one of the async ids."""
    if sid == "async-reused":
        return AsyncLatencyScenario(
            "async-reused", "Async reused connection, one task",
            f"{plan.async_n} sequential GETs in one task over one kept-alive connection after "
            f"{plan.warmup} warm-up requests, per round. The blocking keepalive.Session runs in "
            f"the same rounds for reference.",
            scheme="http", reuse=True, paths=["/small"], n=plan.async_n, warmup=plan.warmup,
            rounds=plan.async_rounds, reference=True)
    if sid == "async-new":
        return AsyncLatencyScenario(
            "async-new", "Async new connection per request, one task",
            f"{plan.async_new_n} sequential GETs per round in one task, each on a new TCP "
            f"connection (Connection: close).",
            scheme="http", reuse=False, paths=["/small"], n=plan.async_new_n,
            warmup=max(2, plan.warmup // 4), rounds=plan.async_rounds)
    if sid == "async-concurrency":
        return AsyncConcurrencyScenario(plan)
    if sid == "async-stream":
        return AsyncStreamScenario(plan)
    raise ValueError(f"not an async scenario: {sid}")
