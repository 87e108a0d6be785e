"""Benchmark harness: new vs reused connection latency, beside the clients users would pick.

Theory of operation
-------------------
``python -m benchmarks`` (or ``make bench``) starts a server in its own process (the embedded
asyncio server of :mod:`benchmarks.server`, or nginx via :mod:`benchmarks.nginx`), optionally
puts a delay proxy (:mod:`benchmarks.rttproxy`) in front of it, and then runs each scenario of
:mod:`benchmarks.scenarios` against every client adapter of :mod:`benchmarks.clients`, and
each scenario of :mod:`benchmarks.async_scenarios` against every asyncio adapter of
:mod:`benchmarks.aclients`. A client whose library is missing is reported, never fatal.

Three rules keep the figures honest:

* **Interleaving.** A scenario runs in rounds; in each round every client runs one batch, in an
  order rotated from round to round, so that drift on a shared machine hits all clients alike.
  Every figure is also expressed as a ratio to the raw-socket floor *of the same round*.
* **Verification.** The server counts the TCP connections it accepted (and, for TLS, how many
  handshakes resumed a session) on a control channel that is itself never counted, so that
  "reused" and "resumed" are measured, not assumed.
* **Isolation.** The server (and the proxy) run in their own processes, pinned to one CPU, the
  clients to another, when the machine has at least two. Every CPU figure is the client
  process's own CPU time (all its threads) over the timed window, so the server's is not in it.

:mod:`benchmarks.report` turns the results into tables (rich in the terminal, Markdown in
files) and a JSON file under ``benchmarks/results/``, :mod:`benchmarks.plots` into PNG plots,
:mod:`benchmarks.targets` checks the project's targets as same-run ratios, and
:mod:`benchmarks.publish` writes ``docs/performance.md`` and the README's summary.
``--profile CLIENT:SCENARIO`` (:mod:`benchmarks.profiling`) runs one client in one scenario
under cProfile and pyinstrument instead.
"""
