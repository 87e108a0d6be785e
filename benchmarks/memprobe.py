"""Peak memory of one client streaming a large body, measured in a fresh interpreter.

``python -m benchmarks.memprobe --client KEY --url http://127.0.0.1:PORT --path /1g`` prints
one JSON line: the interpreter's resident peak at start, after imports and client setup (the
baseline), and after streaming the body (the peak). The peak is ``VmHWM`` from
``/proc/self/status``, the high-water mark of this process's own memory. (Not
``getrusage().ru_maxrss``: on Linux that survives fork and exec, so a child started by a big
parent reports the parent's peak.)
"""

from __future__ import annotations


def peak_rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


START_KIB = peak_rss_kib()  # before anything else is imported

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

from .clients import BY_KEY  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--client", required=True, choices=sorted(BY_KEY))
    parser.add_argument("--url", required=True, help="base URL, e.g. http://127.0.0.1:8080")
    parser.add_argument("--path", default="/1g")
    parser.add_argument("--ca", default=None)
    args = parser.parse_args(argv)
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
