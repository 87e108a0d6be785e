"""A delay proxy that makes loopback behave like a network with a round-trip time (``--rtt MS``).

Theory of operation
-------------------
On loopback a TCP handshake is free, so "new connection" and "reused connection" differ only
by CPU. On a real network every new connection costs at least one extra round trip before the
first request byte can leave, and TLS costs another. This proxy puts that cost back:

* A new client connection is held for one RTT before anything is forwarded; this stands in for
  the TCP handshake (SYN, SYN-ACK) that loopback completes instantly.
* After that, every chunk is delivered RTT/2 after it arrived, in each direction, in order;
  closing (EOF) travels the same way.

So, in this model, a request over a reused connection costs 1 RTT, a request over a new plain
connection 2 RTT, and over a new TLS 1.3 connection 3 RTT (one more round trip for the
handshake, resumed or not: TLS 1.3 resumption saves CPU, not round trips, unless 0-RTT is
used). The harness prints the measured figures beside that model.

Timers are asyncio's, which wake with about a millisecond of granularity; the error is
reported, not hidden, as the gap between the measured and the model figure.

Run it as ``python -m benchmarks.rttproxy --rtt 20 --forward 127.0.0.1:8080 ...``; it prints
one JSON line with the listening ports (in the order of ``--forward``) and serves until it is
terminated.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import subprocess
import sys
from typing import Any

from .server import ServerHandle, ServerStats, die_with_parent


class DelayedPipe:
    """One direction of a proxied connection: delivers each chunk at ``arrival + delay``.

    A single timer walks a FIFO queue, so chunks with the same due time keep their order
    (asyncio's timer heap would not guarantee that).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, delay: float) -> None:
        self._loop = loop
        self._delay = delay
        self._queue: collections.deque[tuple[float, bytes | None]] = collections.deque()
        self._timer: asyncio.TimerHandle | None = None
        self._not_before = 0.0  # nothing is delivered before the emulated handshake is over
        self.target: asyncio.Transport | None = None  # set when the far side is connected

    def hold_until(self, when: float) -> None:
        self._not_before = when

    def push(self, data: bytes | None) -> None:
        """Queue ``data`` (``None`` means EOF: close the far side after what came before)."""
        due = max(self._loop.time() + self._delay, self._not_before)
        self._queue.append((due, data))
        if self._timer is None:
            self._schedule()

    def _schedule(self) -> None:
        if self._queue and self.target is not None:
            self._timer = self._loop.call_at(self._queue[0][0], self._flush)
        else:
            self._timer = None

    def start(self, target: asyncio.Transport) -> None:
        self.target = target
        if self._timer is None:
            self._schedule()

    def _flush(self) -> None:
        now = self._loop.time()
        target = self.target
        assert target is not None
        while self._queue and self._queue[0][0] <= now:
            _, data = self._queue.popleft()
            if data is None:
                target.close()
                self._queue.clear()
                break
            if not target.is_closing():
                target.write(data)
        self._schedule()


class _Side(asyncio.Protocol):
    """One socket of a proxied connection; whatever it receives goes into ``outgoing``."""

    def __init__(self, outgoing: DelayedPipe) -> None:
        self.outgoing = outgoing
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.outgoing.push(data)

    def eof_received(self) -> bool | None:
        self.outgoing.push(None)
        return True  # keep our side open until the EOF has been delivered

    def connection_lost(self, exc: Exception | None) -> None:
        self.outgoing.push(None)


class RttProxyServer:
    """Accepts on a local port and forwards to ``upstream`` with the RTT model above."""

    def __init__(self, rtt: float, upstream: tuple[str, int]) -> None:
        self.rtt = rtt
        self.upstream = upstream
        self.accepted = 0
        self._tasks: set[asyncio.Task[None]] = set()  # strong references until done

    def client_side(self) -> _Side:
        loop = asyncio.get_running_loop()
        self.accepted += 1
        to_server = DelayedPipe(loop, self.rtt / 2)
        to_client = DelayedPipe(loop, self.rtt / 2)
        # The emulated handshake: nothing reaches the server before one RTT has passed.
        to_server.hold_until(loop.time() + self.rtt + self.rtt / 2)
        client = _Side(to_server)
        task = loop.create_task(self._connect(client, to_server, to_client))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return client

    async def _connect(self, client: _Side, to_server: DelayedPipe, to_client: DelayedPipe) -> None:
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.create_connection(lambda: _Side(to_client), *self.upstream)
        except OSError:
            if client.transport is not None:
                client.transport.close()
            return
        assert isinstance(transport, asyncio.Transport)
        to_server.start(transport)
        while client.transport is None:  # connection_made runs before our task, but be sure
            await asyncio.sleep(0)
        to_client.start(client.transport)


async def _serve(rtt: float, forwards: list[tuple[str, int]], host: str) -> None:
    loop = asyncio.get_running_loop()
    ports = []
    for upstream in forwards:
        proxy = RttProxyServer(rtt, upstream)
        server = await loop.create_server(proxy.client_side, host, 0, backlog=4096)
        ports.append(server.sockets[0].getsockname()[1])
    print(json.dumps({"ports": ports, "pid": os.getpid()}), flush=True)
    await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rtt", type=float, required=True, help="round-trip time in ms")
    parser.add_argument("--forward", action="append", required=True, help="upstream host:port")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--cpu", type=int, default=None)
    args = parser.parse_args(argv)
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    forwards = [(h, int(p)) for h, _, p in (f.rpartition(":") for f in args.forward)]
    try:
        asyncio.run(_serve(args.rtt / 1000, forwards, args.host))
    except KeyboardInterrupt:
        pass


class RttProxy(ServerHandle):
    """The harness's handle: the wrapped server's counters, the proxy's URLs."""

    def __init__(self, inner: ServerHandle, rtt_ms: float, cpu: int | None = None) -> None:
        self.inner = inner
        self.rtt_ms = rtt_ms
        self.name = f"{inner.name} behind a {rtt_ms:g} ms RTT proxy"
        self.ca_path = inner.ca_path
        cmd = [sys.executable, "-m", "benchmarks.rttproxy", "--rtt", str(rtt_ms),
               "--forward", f"{inner.host}:{inner.http_port}",
               "--forward", f"{inner.host}:{inner.https_port}"]
        if cpu is not None:
            cmd += ["--cpu", str(cpu)]
        package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        self._process = subprocess.Popen(cmd, stdout=subprocess.PIPE, cwd=package_parent,
                                         text=True, preexec_fn=die_with_parent)
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError("the RTT proxy did not start")
        info: dict[str, Any] = json.loads(line)
        self.http_port, self.https_port = info["ports"]
        self.pids = (self._process.pid, *inner.pids)

    def stats(self) -> ServerStats:
        return self.inner.stats()

    def describe(self) -> dict[str, object]:
        return {**self.inner.describe(), "rtt_proxy_ms": self.rtt_ms}

    def close(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()


if __name__ == "__main__":
    main()
