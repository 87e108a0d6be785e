"""Peak memory of one client streaming a large body, measured in a fresh interpreter.

``python -m benchmarks.memprobe --client KEY --url http://127.0.0.1:PORT --path /1g`` prints
one JSON line: the interpreter's resident peak at start, after imports and client setup (the
baseline), and after streaming the body (the peak), all from ``getrusage(RUSAGE_SELF)``, whose
``ru_maxrss`` is a high-water mark: the difference is what streaming added at its worst.
"""

from __future__ import annotations

import resource

START_KIB = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # before anything else

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
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0, c0 = time.perf_counter(), time.process_time()
    nbytes = client.stream(args.path)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    client.close()
    print(json.dumps({
        "bytes": nbytes, "interpreter_kib": START_KIB, "baseline_kib": baseline,
        "peak_kib": peak, "delta_kib": peak - baseline, "seconds": seconds, "cpu_seconds": cpu,
    }))


if __name__ == "__main__":
    main()
