"""``python -m benchmarks``: run the benchmark and print, save and plot the results.

    python -m benchmarks                  # default plan, 2 to 4 minutes (more when busy)
    python -m benchmarks --quick          # about 40 seconds
    python -m benchmarks --full           # everything, with a 20 ms RTT run
    python -m benchmarks --server nginx   # against nginx instead of the embedded server
    python -m benchmarks --rtt 20         # add the delay-proxy scenario at 20 ms RTT
    python -m benchmarks --clients keepalive,requests --scenarios reused,new
    python -m benchmarks --scenarios async-reused,async-concurrency
    python -m benchmarks --publish        # also write docs/performance.md and the README summary
    python -m benchmarks --profile keepalive.Session:reused   # cProfile (+ pyinstrument)
    python -m benchmarks --breakdown      # bytecodes per request: h11 vs keepalive, by module
"""

from __future__ import annotations

import argparse
import copy
import datetime
import logging
import os
import sys
import time
from typing import Any

from . import aclients as aclients_module
from . import clients as clients_module
from .environment import CpuPlan, clear_proxy_environment, describe, machine_line
from .report import make_progress, print_tables, tables_for, targets_table, write_outputs
from .scenarios import ASYNC_SCENARIOS, PLANS, SCENARIO_IDS, Bench, build, environment_probe
from .server import EmbeddedServer, ServerHandle
from .targets import evaluate_targets

DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="keepalive benchmark: new vs reused connection latency beside the clients "
                    "users would pick, against a local server.")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="a short run (about 40 s)")
    mode.add_argument("--full", action="store_true", help="everything, more rounds")
    parser.add_argument("--server", choices=["embedded", "nginx"], default="embedded",
                        help="the embedded asyncio server (default) or nginx, if installed")
    parser.add_argument("--rtt", type=float, metavar="MS", default=None,
                        help="also run through a delay proxy with this round-trip time")
    parser.add_argument("--clients", metavar="A,B,C",
                        help="clients to run (keys or prefixes; the raw floors are always run): "
                             + ", ".join([*clients_module.BY_KEY, *aclients_module.ASYNC_BY_KEY]))
    parser.add_argument("--scenarios", metavar="A,B,C",
                        help="scenarios to run: " + ", ".join(SCENARIO_IDS))
    parser.add_argument("--rounds", type=int, help="override the plan's number of rounds")
    parser.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                        help="where JSON, Markdown and PNG files go (default: %(default)s)")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.add_argument("--no-pin", action="store_true", help="do not pin server and clients")
    parser.add_argument("--publish", action="store_true",
                        help="also write docs/performance.md (every table and plot), the short "
                             "summary in README.md and benchmarks/img/*.png from this run")
    parser.add_argument("--list", action="store_true", help="list clients and exit")
    parser.add_argument("--breakdown", action="store_true",
                        help="count the bytecodes a reused GET runs in h11, in each keepalive "
                             "module and elsewhere (h11 loop, HTTPConnection, pool, Session) "
                             "instead of benchmarking: where the time goes, repeatably")
    parser.add_argument("--profile", metavar="CLIENT:SCENARIO",
                        help="profile one client in one scenario with cProfile (and "
                             "pyinstrument when installed) instead of benchmarking; scenarios: "
                             "reused, new, tls-reused, tls-new, throughput, async-reused, "
                             "async-new, async-concurrency, async-stream")
    parser.add_argument("--profile-n", type=int, metavar="N",
                        help="requests (or transfers) to profile (default: the plan's)")
    parser.add_argument("--profile-clock", choices=["cpu", "wall"], default="cpu",
                        help="cProfile's clock: process CPU time (default: the client's own "
                             "cost) or wall time (waiting included)")
    parser.add_argument("--tasks", type=int, default=100,
                        help="with --profile ...:async-concurrency: concurrent tasks")
    parser.add_argument("--limit", type=int, default=10,
                        help="with --profile ...:async-concurrency: connections per host")
    return parser.parse_args(argv)


def list_clients() -> None:
    every: list[Any] = [*clients_module.CLIENTS, *aclients_module.ASYNC_CLIENTS]
    for cls in every:
        reason = cls.missing()
        if reason:
            status = reason if reason.startswith("not available") else f"not installed: {reason}"
        else:
            version = cls.version()
            status = f"ok ({version})" if version else "ok"
        print(f"{cls.key:32} {'async' if aclients_module.is_async(cls) else 'sync ':5} {status}")


def select_clients(spec: str | None) -> tuple[list[Any], list[Any]]:
    """``--clients``: (blocking, asyncio) adapters; a word that matches neither is an error."""
    blocking, unmatched = clients_module.matching(spec, clients_module.CLIENTS)
    asynchronous, unmatched_async = aclients_module.select(spec)
    unknown = [w for w in unmatched if w in unmatched_async]
    if unknown:
        known = [*clients_module.BY_KEY, *aclients_module.ASYNC_BY_KEY]
        raise SystemExit(f"unknown client(s) {unknown}; known: {', '.join(known)}")
    return blocking, asynchronous


def start_server(kind: str, cpus: CpuPlan) -> ServerHandle:
    if kind == "nginx":
        from .nginx import NginxNotInstalled, NginxServer

        try:
            return NginxServer(cpu=cpus.server)
        except NginxNotInstalled as exc:
            raise SystemExit(f"error: {exc}") from None
    return EmbeddedServer(cpu=cpus.server)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        list_clients()
        return 0
    if args.breakdown:
        from .breakdown import run

        print(run())
        return 0
    if args.profile:
        from .profiling import profile

        return profile(args)
    plan = copy.deepcopy(PLANS["quick" if args.quick else "full" if args.full else "default"])
    if args.scenarios:
        chosen = [s.strip() for s in args.scenarios.split(",") if s.strip()]
        unknown = [s for s in chosen if s not in SCENARIO_IDS]
        if unknown:
            raise SystemExit(f"unknown scenario(s) {unknown}; known: {', '.join(SCENARIO_IDS)}")
        plan.scenarios = chosen
    if args.rtt is not None:
        plan.rtt_ms = args.rtt
        if "rtt" not in plan.scenarios:
            plan.scenarios.append("rtt")
    if "rtt" in plan.scenarios and not plan.rtt_ms:
        plan.rtt_ms = 20.0
    if args.rounds:
        plan.rounds = plan.tls_new_rounds = plan.throughput_rounds = args.rounds
        plan.concurrency_rounds = plan.rtt_rounds = args.rounds
        plan.async_rounds = plan.async_concurrency_rounds = plan.async_stream_rounds = args.rounds
    chosen_clients, chosen_async = select_clients(args.clients)
    if args.clients and not args.scenarios:
        # Only the floors on one side: its scenarios would measure nothing asked for.
        sync_asked = any(c.kind != "floor" for c in chosen_clients)
        async_asked = any(c.kind != "floor" for c in chosen_async)
        plan.scenarios = [s for s in plan.scenarios
                          if (s in ASYNC_SCENARIOS and async_asked)
                          or (s not in ASYNC_SCENARIOS and sync_asked)]

    removed = clear_proxy_environment()
    # urllib3 warns on every connection it discards from a full pool; under 16 threads that
    # would flood the terminal. The count of connections is reported instead.
    logging.getLogger("urllib3").setLevel(logging.ERROR)

    cpus = CpuPlan.choose(pin=not args.no_pin)
    load_at_start = os.getloadavg()
    started = time.perf_counter()
    server = start_server(args.server, cpus)
    cpus.pin_clients()
    rtt_server = None
    progress = make_progress()
    try:
        if "rtt" in plan.scenarios:
            from .rttproxy import RttProxy

            rtt_server = RttProxy(server, plan.rtt_ms, cpu=cpus.server)
        bench = Bench(server, chosen_clients, plan, progress, rtt_server, chosen_async)
        scenarios_to_run = build(plan, plan.scenarios)
        progress.start(sum(s.steps(bench) for s in scenarios_to_run))
        results = []
        try:
            for scenario in scenarios_to_run:
                results.append(scenario.run(bench))
        finally:
            stop = getattr(progress, "stop", None)
            if stop:
                stop()
        server_info = server.describe()
    finally:
        if rtt_server is not None:
            rtt_server.close()
        server.close()
    seconds = time.perf_counter() - started

    env = describe(cpus, environment_probe(), load_at_start)
    env["proxy_variables_cleared"] = removed
    results.sort(key=lambda s: SCENARIO_IDS.index(s.id))  # display order
    targets = evaluate_targets(results)
    tables = tables_for(results, str(server_info["name"]))
    if any(c.kind == "keepalive" for c in [*chosen_clients, *chosen_async]):
        tables.append(targets_table(targets))
    load = env["load_average_at_start"][0], env["load_average_at_end"][0]
    header = (f"keepalive benchmark — plan {plan.name}, server {server_info['name']}, "
              f"{seconds:.0f} s, {env['date_utc']}\nmachine: {machine_line(env)}\n"
              f"load average {load[0]:.2f} at the start, {load[1]:.2f} at the end "
              f"(other work on the machine shows in the tails and in the absolute figures; "
              f"compare ratios within a run)")
    print_tables(tables, header)

    data: dict[str, Any] = {
        "schema": 1,
        "plan": vars(plan),
        "args": vars(args),
        "seconds": seconds,
        "environment": env,
        "server": server_info,
        "scenarios": [s.to_json() for s in results],
        "targets": [vars(t) for t in targets],
    }
    stem = "bench-" + datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    subtitle = f"{machine_line(env)} — {env['date_utc']}"
    written = write_outputs(args.out, stem, data, results, tables, header, subtitle,
                            plots=not args.no_plots)
    if args.publish:
        from .publish import publish

        written += publish(data, tables, targets, args.out, machine_line(env), results)
    print("wrote " + ", ".join(os.path.relpath(p) for p in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
