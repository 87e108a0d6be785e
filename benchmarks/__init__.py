"""Benchmark harness: new vs reused connection latency, beside the clients users would pick.

Theory of operation
-------------------
``python -m benchmarks`` (or ``make bench``) starts a server in its own process (the embedded
asyncio server of :mod:`benchmarks.server`, or nginx via :mod:`benchmarks.nginx`), optionally
puts a delay proxy (:mod:`benchmarks.rttproxy`) in front of it, and then runs each scenario of
:mod:`benchmarks.scenarios` against every client adapter of :mod:`benchmarks.clients`.

Three rules keep the figures honest:

* **Interleaving.** A scenario runs in rounds; in each round every client runs one batch, in an
  order rotated from round to round, so that drift on a shared machine hits all clients alike.
  Every figure is also expressed as a ratio to the raw-socket floor *of the same round*.
* **Verification.** The server counts the TCP connections it accepted (and, for TLS, how many
  handshakes resumed a session) on a control channel that is itself never counted, so that
  "reused" and "resumed" are measured, not assumed.
* **Isolation.** The server (and the proxy) run pinned to one CPU, the clients to another,
  when the machine has at least two.

:mod:`benchmarks.report` turns the results into rich tables, a JSON file and PNG plots under
``benchmarks/results/``.
"""
