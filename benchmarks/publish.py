"""``--publish``: the full results to ``docs/performance.md``, a short summary to the README.

``docs/performance.md`` is rewritten whole: how the figures are taken and how to read them,
how to reproduce them, the bytecode breakdown of a reused GET (counted at publishing), then
every table and plot of the run. The README keeps only a short
summary (a few same-run ratios, the targets met, one plot and a link), written between its
``<!-- performance:start -->`` and ``<!-- performance:end -->`` markers; nothing outside the
markers is touched. The run's plots are copied to ``benchmarks/img/``, which both link to.
Only figures measured in the run go in; the prose claims nothing absolute.
"""

from __future__ import annotations

import math
import os
import shutil
from typing import Any

from .measure import Scenario
from .plots import PLOTS
from .report import Table, markdown
from .targets import Target

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
README_PATH = os.path.join(ROOT, "README.md")
DOC_PATH = os.path.join(ROOT, "docs", "performance.md")
START, END = "<!-- performance:start -->", "<!-- performance:end -->"
IMG_DIR = os.path.join(HERE, "img")

#: After which scenario's tables each plot goes in docs/performance.md.
PLOT_AFTER = {"cpu": "reused", "latency": "tls-new", "throughput": "async-stream",
              "concurrency": "concurrency", "async": "async-concurrency"}
PLOT_CAPTIONS = {
    "cpu": "Client CPU per request over a kept-alive connection",
    "latency": "Latency per request, new vs reused connections",
    "throughput": "Streaming: MB per client CPU-second",
    "concurrency": "Requests per second against threads",
    "async": "asyncio clients: requests per second and CPU per request against tasks",
}

INTRO = """\
# Performance

`keepalive` exists to make the second request cheaper than the first. The benchmark harness in
[`benchmarks/`](../benchmarks/) measures exactly that, side by side with the clients people
would otherwise pick, against a local server, and checks the project's targets in the same run.
This page is written by `make bench BENCH_ARGS=--publish`; the README has a short summary.

## What is measured

* **Reused connection** (HTTP and HTTPS): sequential GETs over one kept-alive connection after
  a warm-up.
* **New connection** (HTTP and HTTPS): a new TCP (and TLS) connection for every request; for
  HTTPS, with and without TLS session resumption.
* **Throughput**: a 100 MiB body streamed over a reused connection; MB/s and MB per CPU-second.
* **Concurrency**: threads sharing one session or pool; requests/s and how many connections
  the server saw. A cell marked ‡ is set by the client's own default connection limit
  (urllib3, for one, keeps a single connection per host unless told otherwise).
* **Memory**: peak RSS above baseline while streaming 1 GiB, in a fresh interpreter.
* **Setup**: the cost of creating a client object.
* **Async** (`asyncio`, no uvloop): `keepalive.AsyncSession` and `AsyncConnectionPool` beside
  aiohttp and `httpx.AsyncClient`: sequential reused GETs in one task (with the blocking
  `Session` in the same rounds for reference), a new connection per request, 10, 100 and 1,000
  tasks sharing one client limited to 10 and 100 connections per host (with RSS per 1,000
  in-flight requests, from a fresh interpreter), and a 100 MiB stream.
* **RTT** (`--rtt MS`): the same through a delay proxy, beside a simple round-trip model.

## How to read it

* Every figure is also given as a ratio to a **raw floor** measured in the same round: a raw
  socket with prebuilt request bytes and a minimal Content-Length read (for async, the same
  over an `asyncio.Protocol`), the limit of Python on the machine. The **minimal h11 loop** is
  the limit of any h11-based client. For streaming, the floor reads into one reused 256 KiB
  buffer (the read size every client is asked for) with `recv_into` and `MSG_WAITALL`, so no
  client can read with fewer system calls or less copying.
* Clients run interleaved, round-robin, in an order rotated each round, so that drift on the
  machine hits all alike; every ratio is the median over rounds of a ratio taken within one
  round. **Targets are ratios only**, never absolute times.
* On loopback, wall time is mostly the server and the kernel; **CPU per request** (the client
  process's CPU time over the timed window, divided by requests; the server is another process
  on another CPU) is the sharper measure of a client's own cost.
* **conns** is the number of connections the *server* accepted, so "reused" is verified, not
  assumed; **resumed** counts the TLS handshakes the server saw resume a session.
* Notes, missing libraries ("not installed: ...") and errors are footnotes under each table.
* The machine these figures come from is shared and noisy (long tails in p99, absolute figures
  that move from run to run); compare ratios within one run rather than figures across runs.

## Where the time goes

`make bench BENCH_ARGS=--breakdown` counts the Python bytecodes one reused GET runs, split into
h11, each keepalive module, and the rest, for the minimal h11 loop, `HTTPConnection`,
`ConnectionPool` and `Session`. Unlike CPU time, the count is the same on every run, so it shows
what a change saved and which layer a missed CPU target is spent in: the h11 column is work
every h11-based client does (a `Session` sends four more header fields than the loop, which
h11 frames and scans), the keepalive columns are what this library adds on top. Counted when
this page was published, with what each reused-GET target leaves for it:

## Reproduce

```sh
make bench                                  # default plan, 2 to 4 minutes (more when busy)
make bench BENCH_ARGS=--quick               # about 40 seconds
make bench BENCH_ARGS=--full                # everything, more rounds, and a 20 ms RTT run
make bench BENCH_ARGS="--server nginx"      # against nginx (apt-get install -y nginx)
make bench BENCH_ARGS="--rtt 20"            # add the delay-proxy scenario
make bench BENCH_ARGS="--clients keepalive,httpx --scenarios reused,new"
make bench BENCH_ARGS="--scenarios async-reused,async-concurrency"
make bench BENCH_ARGS="--profile keepalive.Session:reused"   # cProfile + pyinstrument
make bench BENCH_ARGS=--breakdown           # bytecodes per request, h11 vs keepalive by module
make bench BENCH_ARGS=--publish             # also rewrite this page, the README summary, plots
```

Each run prints one table per scenario and writes `benchmarks/results/latest.json` (every
figure, per round, with the environment: versions, CPU, Python, OpenSSL, load average),
`latest.md` and `latest-*.png`. `python -m benchmarks --help` lists the options. Peers that are
not installed are reported as such and skipped: niquests, pyreqwest and httpr are optional.
"""


def _copy_plots(out_dir: str) -> list[str]:
    os.makedirs(IMG_DIR, exist_ok=True)
    images = []
    for name in PLOTS:
        source = os.path.join(out_dir, f"latest-{name}.png")
        if os.path.exists(source):
            shutil.copyfile(source, os.path.join(IMG_DIR, f"{name}.png"))
            images.append(name)
    return images


def _run_line(data: dict[str, Any], header_line: str) -> str:
    env = data["environment"]
    keepalive_version = next((v for k, v in env["versions"].items()
                              if k.startswith("keepalive.") and v), "not installed")
    commit = (env.get("git_commit") or "unknown")[:10]
    load = env["load_average_at_start"][0], env["load_average_at_end"][0]
    return (f"Taken {env['date_utc']} with `{' '.join(['make bench', *_args(data)])}` "
            f"({data['seconds']:.0f} s; plan `{data['plan']['name']}`, server "
            f"{data['server']['name']}). keepalive {keepalive_version} at commit `{commit}`"
            f"{' with local changes' if env.get('git_dirty') else ''}. Machine: {header_line}; "
            f"load average {load[0]:.2f} at the start, {load[1]:.2f} at the end.")


def _versions(data: dict[str, Any]) -> str:
    env = data["environment"]
    shown = []
    for key, version in env["versions"].items():
        if key.startswith("keepalive.") or key.startswith("raw") or key.endswith("Client") \
                or key.endswith("ClientSession"):
            continue
        shown.append(f"{key} {version}" if version else f"{key} (not installed)")
    return ", ".join(shown)


def _breakdown() -> str:
    """The bytecode breakdown and the target budgets, measured now (a few seconds)."""
    from .breakdown import REQUESTS, budgets, measure, table
    from .targets import REUSED_CPU_X_H11

    results = measure(REQUESTS)
    return table(results, REQUESTS) + "\n" + budgets(results, REQUESTS, REUSED_CPU_X_H11)


def write_doc(data: dict[str, Any], tables: list[Table], images: list[str],
              header_line: str, breakdown: str = "") -> str:
    """Rewrite docs/performance.md with every table and plot of this run."""
    head, sep, tail = INTRO.partition("## Reproduce")
    intro = head + (breakdown + "\n" if breakdown else "") + sep + tail
    lines = [intro, "## Latest results\n", _run_line(data, header_line) + "\n",
             f"Peers: {_versions(data)}.\n"]
    targets = [t for t in tables if t.scenario == "targets"]
    if targets:
        lines.append(markdown(targets, heading="###"))
    placed: set[str] = set()
    rest = [t for t in tables if t.scenario != "targets"]
    for i, table in enumerate(rest):
        lines.append(markdown([table], heading="###"))
        last_of_scenario = i + 1 == len(rest) or rest[i + 1].scenario != table.scenario
        if not last_of_scenario:
            continue
        for name, after in PLOT_AFTER.items():
            if after == table.scenario and name in images:
                lines.append(f"![{PLOT_CAPTIONS[name]}](../benchmarks/img/{name}.png)\n")
                placed.add(name)
    for name in images:  # a plot whose scenario table came out in another order
        if name not in placed:
            lines.append(f"![{PLOT_CAPTIONS[name]}](../benchmarks/img/{name}.png)\n")
    os.makedirs(os.path.dirname(DOC_PATH), exist_ok=True)
    with open(DOC_PATH, "w") as f:
        f.write("\n".join(lines).rstrip() + "\n")
    return DOC_PATH


def _ratio_text(value: float) -> str:
    return "\u2013" if math.isnan(value) else f"{value:.2f}\u00d7"


def summary(scenarios: list[Scenario], targets: list[Target], data: dict[str, Any],
            images: list[str], header_line: str) -> str:
    """The README's section: a few same-run ratios, the targets met, one plot, a link."""
    env = data["environment"]
    out = [
        "## Performance\n",
        "The benchmark harness in [`benchmarks/`](benchmarks/) (`make bench`) measures "
        "keepalive side by side with the clients people would otherwise pick, blocking and "
        "asyncio, against a local server, and checks the project's targets as same-run ratios. "
        "**[docs/performance.md](docs/performance.md)** has every table and plot, how the "
        "figures are taken and how to read them, and how to reproduce them.\n",
        f"Latest run: {env['date_utc']}, plan `{data['plan']['name']}`, on {header_line}. The "
        f"machine is shared and noisy: compare ratios within the run, not absolute figures.\n",
    ]
    bullets = []
    reused = next((s for s in scenarios if s.id == "reused"), None)
    session = reused.row("keepalive.Session", path="/small", variant="") if reused else None
    if reused is not None and session is not None and session.ok:
        h11 = reused.row("h11", path="/small", variant="")
        peers = [reused.row(k, path="/small", variant="") for k in
                 ("requests", "httpx", "urllib3", "aiohttp", "niquests", "pycurl")]
        parts = [f"{p.name} {_ratio_text(p.ratio_to(session, 'cpu'))}" for p in peers
                 if p is not None and p.ok]
        text = "* Reused connection, client CPU per request"
        if h11 is not None and h11.ok:
            text += (f": `keepalive.Session` {_ratio_text(session.ratio_to(h11, 'cpu'))} the "
                     f"minimal h11 loop's")
        if parts:
            text += "; other clients, as a multiple of the Session's: " + ", ".join(parts)
        bullets.append(text + ".")
    areused = next((s for s in scenarios if s.id == "async-reused"), None)
    asession = areused.row("keepalive.AsyncSession", path="/small", variant="") if areused \
        else None
    if areused is not None and asession is not None and asession.ok:
        parts = [f"{p.name} {_ratio_text(p.ratio_to(asession, 'cpu'))}" for p in
                 (areused.row(k, path="/small", variant="") for k in
                  ("aiohttp.ClientSession", "httpx.AsyncClient")) if p is not None and p.ok]
        if parts:
            bullets.append("* asyncio, one task, client CPU per request as a multiple of "
                           "`keepalive.AsyncSession`'s: " + ", ".join(parts) + ".")
    shown = [t for t in targets if t.ok is not None]
    if shown:
        bullets.append(f"* Targets (same-run ratios): {sum(1 for t in shown if t.ok)} of "
                       f"{len(shown)} met; the table, with every figure, is in "
                       f"[docs/performance.md](docs/performance.md).")
    if bullets:
        out.append("\n".join(bullets) + "\n")
    if "cpu" in images:
        out.append(f"![{PLOT_CAPTIONS['cpu']}](benchmarks/img/cpu.png)")
    return "\n".join(out).rstrip()


def write_readme(section: str) -> str:
    with open(README_PATH) as f:
        readme = f.read()
    if START not in readme or END not in readme:
        raise RuntimeError(f"README.md lacks the {START} ... {END} markers")
    head, rest = readme.split(START, 1)
    tail = rest.split(END, 1)[1]
    with open(README_PATH, "w") as f:
        f.write(f"{head}{START}\n{section}\n{END}{tail}")
    return README_PATH


def publish(data: dict[str, Any], tables: list[Table], targets: list[Target],
            out_dir: str, header_line: str, scenarios: list[Scenario] | None = None
            ) -> list[str]:
    """Write docs/performance.md and the README summary; copy the plots. Returns the paths."""
    images = _copy_plots(out_dir)
    doc = write_doc(data, tables, images, header_line, _breakdown())
    readme = write_readme(summary(scenarios or [], targets, data, images, header_line))
    return [doc, readme] + [os.path.join(IMG_DIR, f"{n}.png") for n in images]


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
    if args.get("rounds"):
        out.append(f"--rounds {args['rounds']}")
    out.append("--publish")
    return [f'BENCH_ARGS="{" ".join(out)}"']
