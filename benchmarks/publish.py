"""``--publish``: write the README's "Performance" section from this run.

It replaces the README's Performance section (between the ``performance:start`` and
``performance:end`` markers) and copies the two plots to ``benchmarks/img/``, which the
section links to. Only figures measured in the run go in; the prose around them says how to
read them and claims nothing absolute.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

from .report import Table, markdown

HERE = os.path.dirname(os.path.abspath(__file__))
README_PATH = os.path.join(os.path.dirname(HERE), "README.md")
START, END = "<!-- performance:start -->", "<!-- performance:end -->"
IMG_DIR = os.path.join(HERE, "img")

INTRO = """\
## Performance

`keepalive` exists to make the second request cheaper than the first. The benchmark harness in
[`benchmarks/`](benchmarks/) measures exactly that, side by side with the clients people
would otherwise pick, against a local server, and checks the project's targets in the same run.

What it measures:

* **Reused connection**: sequential GETs over one kept-alive connection after a warm-up.
* **New connection**: a new TCP (and TLS) connection for every request; for HTTPS, keepalive
  with and without TLS session resumption.
* **Throughput**: a 100 MiB body streamed over a reused connection; MB/s and MB per CPU-second.
* **Concurrency**: 1, 4 and 16 threads sharing one session or pool; requests/s and how many
  connections the server saw.
* **Memory**: peak RSS above baseline while streaming 1 GiB, in a fresh interpreter.
* **Setup**: the cost of creating a client object.
* **RTT** (`--rtt MS`): the same through a delay proxy, beside a simple round-trip model.

How to read it:

* Every latency is also given as a ratio to a **raw-socket floor** measured in the same round
  (prebuilt request bytes and a minimal Content-Length read: the limit of Python on the
  machine), and beside a **minimal h11 loop** (the limit of any h11-based client). Clients run
  interleaved round-robin over several rounds, so that drift on the machine hits all alike.
* On loopback, wall time is mostly the server and the kernel; **CPU per request** is the
  sharper measure of a client's own cost.
* **TCP conns** is the number of connections the *server* accepted, so "reused" is verified,
  not assumed; **resumed** counts the TLS handshakes the server saw resume a session.
* The machine these figures come from is shared and noisy (long tails in p99); compare
  ratios within one run rather than absolute figures across runs.
"""

REPRODUCE = """\
### Reproduce

```sh
make bench                                  # default plan, about two minutes
make bench BENCH_ARGS=--quick               # about 20 seconds
make bench BENCH_ARGS=--full                # everything, more rounds, and a 20 ms RTT run
make bench BENCH_ARGS="--server nginx"      # against nginx (apt-get install -y nginx)
make bench BENCH_ARGS="--rtt 20"            # add the delay-proxy scenario
make bench BENCH_ARGS="--clients keepalive,httpx --scenarios reused,new"
make bench BENCH_ARGS=--publish             # also rewrite this section and its plots
```

Each run prints one table per scenario and writes `benchmarks/results/latest.json` (every
figure, per round, with the environment: versions, CPU, Python, OpenSSL), `latest.md` and
`latest-latency.png` / `latest-concurrency.png`. `python -m benchmarks --help` lists the options.
"""


def write_section(data: dict[str, Any], tables: list[Table], out_dir: str,
                  header_line: str) -> list[str]:
    """Rewrite the README's Performance section; copy the run's plots into benchmarks/img/."""
    os.makedirs(IMG_DIR, exist_ok=True)
    images = []
    for name in ("latency", "concurrency"):
        source = os.path.join(out_dir, f"latest-{name}.png")
        if os.path.exists(source):
            shutil.copyfile(source, os.path.join(IMG_DIR, f"{name}.png"))
            images.append(name)
    env = data["environment"]
    versions = ", ".join(f"{k} {v}" for k, v in env["versions"].items()
                         if v and not k.startswith("keepalive.") and k != "raw")
    keepalive_version = next((v for k, v in env["versions"].items()
                              if k.startswith("keepalive.") and v), "not installed")
    commit = (env.get("git_commit") or "unknown")[:10]
    lines = [INTRO, REPRODUCE, "### Latest results\n"]
    lines.append(
        f"Taken {env['date_utc']} with `{' '.join(['make bench', *_args(data)])}` "
        f"({data['seconds']:.0f} s; plan `{data['plan']['name']}`, server "
        f"{data['server']['name']}). keepalive {keepalive_version} at commit `{commit}`"
        f"{' with local changes' if env.get('git_dirty') else ''}.\n")
    lines.append(f"Machine: {header_line}. Peers: {versions}.\n")
    if "latency" in images:
        lines.append("![Latency per request, new vs reused connections]"
                     "(benchmarks/img/latency.png)\n")
    lines.append(markdown(tables))
    if "concurrency" in images:
        lines.append("![Requests per second against threads](benchmarks/img/concurrency.png)\n")
    with open(README_PATH) as f:
        readme = f.read()
    if START not in readme or END not in readme:
        raise RuntimeError(f"README.md lacks the {START} ... {END} markers")
    head, rest = readme.split(START, 1)
    tail = rest.split(END, 1)[1]
    section = "\n".join(lines).rstrip()
    with open(README_PATH, "w") as f:
        f.write(f"{head}{START}\n{section}\n{END}{tail}")
    return [README_PATH] + [os.path.join(IMG_DIR, f"{n}.png") for n in images]


def _args(data: dict[str, Any]) -> list[str]:
    args = data["args"]
    out = []
    if args.get("quick"):
        out.append("--quick")
    if args.get("full"):
        out.append("--full")
    if args.get("server") != "embedded":
        out.append(f"--server {args['server']}")
    if args.get("rtt") is not None:
        out.append(f"--rtt {args['rtt']:g}")
    if args.get("clients"):
        out.append(f"--clients {args['clients']}")
    if args.get("scenarios"):
        out.append(f"--scenarios {args['scenarios']}")
    if not out:
        return []
    return [f'BENCH_ARGS="{" ".join(out)}"']
