"""Peak memory of one client, measured in a fresh interpreter.

``python -m benchmarks.memprobe --client KEY --url http://127.0.0.1:PORT --path /1g`` prints
one JSON line: the interpreter's resident peak at start, after imports and client setup (the
baseline), and after streaming the body (the peak). The peak is ``VmHWM`` from
``/proc/self/status``, the high-water mark of this process's own memory. (Not
``getrusage().ru_maxrss``: on Linux that survives fork and exec, so a child started by a big
parent reports the parent's peak.)

``--async-client KEY --tasks 1000 --limit 100 --path /small`` measures an asyncio client
instead: after setup and one warm-up request, the high-water mark is reset (``5`` written to
``/proc/self/clear_refs``, Linux 4.0 and later) and ``--tasks`` requests are started at once;
the JSON line gives the peak above the resident size before them, the most requests that were
in flight together, and that peak scaled to 1,000 in-flight requests.
"""

from __future__ import annotations


def peak_rss_kib(field: str = "VmHWM") -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


START_KIB = peak_rss_kib()  # before anything else is imported

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

from .clients import BY_KEY  # noqa: E402


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS; False where the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


async def in_flight(key: str, url: str, path: str, tasks: int, limit: int) -> dict[str, Any]:
    from .aclients import ASYNC_BY_KEY

    client = ASYNC_BY_KEY[key]()
    await client.setup(url, None, reuse=True, limit=limit)
    try:
        await client.get(path)
        baseline = peak_rss_kib()
        reset = _reset_peak()
        before = peak_rss_kib("VmRSS")
        now = max_now = 0

        async def one() -> int:
            nonlocal now, max_now
            now += 1
            max_now = max(max_now, now)
            try:
                return len(await client.get(path))
            finally:
                now -= 1

        t0 = time.perf_counter()
        sizes = await asyncio.gather(*(one() for _ in range(tasks)))
        seconds = time.perf_counter() - t0
        peak = peak_rss_kib()
    finally:
        await client.aclose()
    delta = max(0, peak - before)
    return {
        "client": key, "tasks": tasks, "limit": limit, "bytes": sum(sizes),
        "interpreter_kib": START_KIB, "baseline_kib": baseline, "rss_before_kib": before,
        "peak_kib": peak, "delta_kib": delta, "peak_reset": reset, "max_in_flight": max_now,
        "kib_per_1000_in_flight": delta * 1000 / max_now if max_now else None,
        "seconds": seconds,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--client", choices=sorted(BY_KEY))
    mode.add_argument("--async-client", metavar="KEY", help="an asyncio client's key")
    parser.add_argument("--url", required=True, help="base URL, e.g. http://127.0.0.1:8080")
    parser.add_argument("--path", default="/1g")
    parser.add_argument("--ca", default=None)
    parser.add_argument("--tasks", type=int, default=1000, help="with --async-client")
    parser.add_argument("--limit", type=int, default=100, help="with --async-client")
    args = parser.parse_args(argv)
    if args.async_client:
        print(json.dumps(asyncio.run(in_flight(args.async_client, args.url, args.path,
                                               args.tasks, args.limit))))
        return
    client = BY_KEY[args.client]()
    client.setup(args.url, args.ca, reuse=True)
    baseline = peak_rss_kib()
    t0, c0 = time.perf_counter(), time.process_time()
    nbytes = client.stream(args.path)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = peak_rss_kib()
    client.close()
    print(json.dumps({
        "bytes": nbytes, "interpreter_kib": START_KIB, "baseline_kib": baseline,
        "peak_kib": peak, "delta_kib": peak - baseline, "seconds": seconds, "cpu_seconds": cpu,
    }))


if __name__ == "__main__":
    main()
