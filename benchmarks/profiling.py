"""``--profile CLIENT:SCENARIO``: where one client spends its time in one scenario.

The same server, client adapter and warm-up as the benchmark, then the timed part runs under
``cProfile``; the top 25 functions by cumulative and by own ("total") time are printed, and
the raw profile is saved for ``snakeviz`` or ``pstats``. cProfile is given the process CPU
clock (``--profile-clock cpu``, the default), so time spent waiting for the server counts for
nothing and the ranking is the client's own cost; ``--profile-clock wall`` counts waiting too.
When ``pyinstrument`` is installed, the timed part runs a second time under it (a statistical
profiler of wall time: lower overhead, and asyncio-aware), and its call tree is printed and
saved as HTML.

cProfile adds a fixed cost to every Python call, so it inflates call-heavy code more than
C-heavy code: read the ranking, not the absolute times.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import time
from collections.abc import Awaitable, Callable
from typing import Any

from .aclients import ASYNC_BY_KEY
from .clients import BY_KEY, CHUNK
from .environment import CpuPlan, clear_proxy_environment
from .scenarios import PLANS
from .server import ROUTES, EmbeddedServer, ServerHandle

TOP = 25
SYNC_SCENARIOS = {  # scenario -> (scheme, reuse, path)
    "reused": ("http", True, "/small"),
    "new": ("http", False, "/small"),
    "tls-reused": ("https", True, "/small"),
    "tls-new": ("https", False, "/small"),
    "throughput": ("http", True, "/100m"),
}
ASYNC_SCENARIOS = {
    "async-reused": (True, "/small"),
    "async-new": (False, "/small"),
    "async-concurrency": (True, "/small"),
    "async-stream": (True, "/100m"),
}


def _default_n(scenario: str) -> int:
    plan = PLANS["default"]
    return {
        "reused": plan.reused_n, "new": plan.new_n, "tls-reused": plan.tls_reused_n,
        "tls-new": plan.tls_new_n, "throughput": plan.throughput_transfers,
        "async-reused": plan.async_n, "async-new": plan.async_new_n,
        "async-concurrency": plan.async_requests, "async-stream": plan.throughput_transfers,
    }[scenario]


def _resolve(spec: str) -> tuple[str, str, bool]:
    """``CLIENT:SCENARIO`` -> (client key, scenario, is it an async client)."""
    client, _, scenario = spec.partition(":")
    scenario = scenario or "reused"
    if scenario in SYNC_SCENARIOS and client in BY_KEY:
        return client, scenario, False
    if scenario in ASYNC_SCENARIOS and client in ASYNC_BY_KEY:
        return client, scenario, True
    if scenario in SYNC_SCENARIOS or scenario in ASYNC_SCENARIOS:
        known = BY_KEY if scenario in SYNC_SCENARIOS else ASYNC_BY_KEY
        raise SystemExit(f"--profile: {client!r} is not a client of {scenario!r}; "
                         f"known: {', '.join(known)}")
    raise SystemExit(f"--profile: unknown scenario {scenario!r}; known: "
                     f"{', '.join([*SYNC_SCENARIOS, *ASYNC_SCENARIOS])} (the threads "
                     f"scenario is not profiled: cProfile sees one thread)")


def _cprofile(clock: str) -> cProfile.Profile:
    return cProfile.Profile(time.process_time if clock == "cpu" else time.perf_counter)


def _print_stats(profiler: cProfile.Profile, title: str) -> None:
    for order, label in (("cumulative", "cumulative time"), ("tottime", "total (own) time")):
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.strip_dirs().sort_stats(order).print_stats(TOP)
        print(f"\n=== {title}: top {TOP} by {label} ===")
        text = out.getvalue()
        start = text.find("   ncalls")
        print(text[start if start >= 0 else 0:].rstrip())


def _sync_work(server: ServerHandle, key: str, scenario: str, n: int
               ) -> tuple[Callable[[], None], Callable[[], None]]:
    """Set up and warm up the client; return (the timed work, the clean-up)."""
    scheme, reuse, path = SYNC_SCENARIOS[scenario]
    client = BY_KEY[key]()
    client.setup(server.url(scheme), server.ca_path, reuse=reuse)
    client.prepare(n + 20)
    if scenario == "throughput":
        client.stream("/1m")

        def work() -> None:
            for _ in range(n):
                if client.stream(path) != ROUTES[path]:
                    raise AssertionError("wrong byte count")
    else:
        for _ in range(20):
            client.get(path)

        def work() -> None:
            client.run(path, n)

    return work, client.close


def _async_work(server: ServerHandle, key: str, scenario: str, n: int, tasks: int,
                limit: int) -> tuple[Callable[[], Awaitable[None]], Any]:
    reuse, path = ASYNC_SCENARIOS[scenario]
    client = ASYNC_BY_KEY[key]()

    async def prepare() -> None:
        await client.setup(server.url("http"), server.ca_path, reuse=reuse, limit=limit)
        if scenario == "async-stream":
            await client.stream("/1m")
        else:
            await asyncio.gather(*(client.get(path) for _ in range(max(20, min(tasks, limit)))))

    async def work() -> None:
        if scenario == "async-stream":
            for _ in range(n):
                await client.stream(path)
        elif scenario == "async-concurrency":
            per_task = max(1, n // tasks)

            async def worker() -> None:
                for _ in range(per_task):
                    await client.get(path)

            await asyncio.gather(*(worker() for _ in range(tasks)))
        else:
            await client.run(path, n)

    return work, (prepare, client.aclose)


def profile(args: argparse.Namespace) -> int:
    key, scenario, is_async = _resolve(args.profile)
    cls: Any = ASYNC_BY_KEY[key] if is_async else BY_KEY[key]
    reason = cls.missing()
    if reason:
        raise SystemExit(f"--profile: {key} cannot run here: {reason}")
    n = args.profile_n or _default_n(scenario)
    clear_proxy_environment()
    cpus = CpuPlan.choose(pin=not args.no_pin)
    server = EmbeddedServer(cpu=cpus.server)
    cpus.pin_clients()
    os.makedirs(args.out, exist_ok=True)
    stem = os.path.join(args.out, f"profile-{key}-{scenario}".replace("/", "_"))
    streams = scenario in ("throughput", "async-stream")
    what = f"{key} in {scenario}, {n} {'transfers' if streams else 'requests'}"
    if streams:
        what += f" of {ROUTES[SYNC_SCENARIOS['throughput'][2]] >> 20} MiB, {CHUNK >> 10} KiB reads"
    if scenario == "async-concurrency":
        what += f", {args.tasks} tasks, at most {args.limit} connections per host"
    clock = f"cProfile, {args.profile_clock} time"
    try:
        for run in ("cProfile", "pyinstrument"):
            if run == "pyinstrument":
                try:
                    from pyinstrument import Profiler
                except ImportError:
                    print("\npyinstrument is not installed: its call tree is skipped "
                          "(pip install pyinstrument)")
                    break
            if is_async:
                work, (prepare, aclose) = _async_work(server, key, scenario, n, args.tasks,
                                                      args.limit)

                async def main(work: Any = work, prepare: Any = prepare,
                               aclose: Any = aclose, run: str = run) -> None:
                    await prepare()
                    try:
                        if run == "cProfile":
                            profiler = _cprofile(args.profile_clock)
                            profiler.enable()
                            await work()
                            profiler.disable()
                            _print_stats(profiler, f"{what} ({clock})")
                            profiler.dump_stats(stem + ".prof")
                        else:
                            p = Profiler(async_mode="enabled")
                            p.start()
                            await work()
                            p.stop()
                            _print_pyinstrument(p, what, stem)
                    finally:
                        await aclose()

                asyncio.run(main())
            else:
                work_sync, close = _sync_work(server, key, scenario, n)
                try:
                    if run == "cProfile":
                        profiler = _cprofile(args.profile_clock)
                        profiler.runcall(work_sync)
                        _print_stats(profiler, f"{what} ({clock})")
                        profiler.dump_stats(stem + ".prof")
                    else:
                        p = Profiler()
                        p.start()
                        work_sync()
                        p.stop()
                        _print_pyinstrument(p, what, stem)
                finally:
                    close()
    finally:
        server.close()
    print(f"\nwrote {os.path.relpath(stem)}.prof (python -m pstats, snakeviz)"
          + (f", {os.path.relpath(stem)}.html" if os.path.exists(stem + ".html") else ""))
    return 0


def _print_pyinstrument(profiler: Any, what: str, stem: str) -> None:
    print(f"\n=== {what} (pyinstrument, wall time): call tree ===")
    print(profiler.output_text(unicode=True, color=False, show_all=False))
    with open(stem + ".html", "w") as f:
        f.write(profiler.output_html())
