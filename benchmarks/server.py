"""The embedded benchmark server: a keep-alive HTTP/1.1 server on asyncio, in its own process.

Theory of operation
-------------------
The server must not be what the benchmark measures, so it does as little as a server can:

* Every small response (``/small``, ``/1k``, ``/1m``, ``/404``) is built once, head and body in
  one ``bytes``, in a keep-alive and a ``Connection: close`` variant; answering a request is a
  dictionary look-up and one ``transport.write``.
* Request parsing finds the end of the head (``CRLF CRLF``), takes the target from the request
  line and looks for a ``Connection: close`` field; nothing else. Pipelined requests are
  answered in order. Requests with bodies are not supported (the harness only sends GETs).
* Large bodies (``/100m`` for throughput, ``/1g`` for the memory probe) come from one sparse
  in-memory file (``memfd``) through ``loop.sendfile``: zero-copy ``sendfile(2)`` on plain TCP,
  asyncio's read-and-write fallback under TLS. Holes read as zeros, so a 1 GiB body costs the
  server no memory.

The same routes are served on a plain and a TLS 1.3 listener (the TLS context issues session
tickets, so clients that keep sessions can resume). A third listener, the control channel,
answers one line ``stats`` with a JSON line of counters: TCP connections accepted on the
benchmark listeners, TLS handshakes and how many of them resumed a session, requests, and the
server's own CPU time. Control connections are not counted, so the harness can ask between two
batches without disturbing the figure it is verifying.

Run it as ``python -m benchmarks.server --cert C --key K [--cpu N]``: it prints one JSON line
with its ports on stdout, then serves until it is terminated.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass

SMALL_BODY = b"Hello, World!"  # 13 bytes, the classic.
KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB

#: path -> body size. ``/small`` is the only body that is not zeros.
ROUTES: dict[str, int] = {
    "/small": len(SMALL_BODY),
    "/1k": KIB,
    "/1m": MIB,
    "/100m": 100 * MIB,
    "/1g": GIB,
}
#: Bodies up to this size are prebuilt in memory; larger ones are sent from the sparse file.
PREBUILT_LIMIT = MIB


@dataclass
class Counters:
    connections: int = 0
    tls_handshakes: int = 0
    tls_resumed: int = 0
    requests: int = 0


def _head(size: int, close: bool, status: bytes = b"200 OK") -> bytes:
    head = b"HTTP/1.1 " + status + b"\r\nContent-Type: application/octet-stream\r\n"
    head += b"Content-Length: " + str(size).encode() + b"\r\n"
    if close:
        head += b"Connection: close\r\n"
    return head + b"\r\n"


def _body(path: str, size: int) -> bytes:
    return SMALL_BODY if path == "/small" else b"\0" * size


class Route:
    """One path's answer: prebuilt bytes, or a head plus a byte count to send from the file."""

    __slots__ = ("close_response", "keep_response", "size")

    def __init__(self, path: str, size: int, status: bytes = b"200 OK") -> None:
        self.size = size
        if size <= PREBUILT_LIMIT:
            body = _body(path, size) if status == b"200 OK" else b"not found"
            self.keep_response = _head(len(body), False, status) + body
            self.close_response = _head(len(body), True, status) + body
        else:  # bulk: only the head is prebuilt
            self.keep_response = _head(size, False)
            self.close_response = _head(size, True)

    @property
    def bulk(self) -> bool:
        return self.size > PREBUILT_LIMIT


def _wants_close(head: bytes) -> bool:
    """Does this request head carry ``Connection: close`` (RFC 9112 section 9.6)?"""
    for line in head.lower().split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip() == b"connection" and b"close" in value:
            return True
    return False


class BulkFile:
    """A sparse in-memory file that every large body is cut from (zeros, no memory cost)."""

    def __init__(self, size: int) -> None:
        self.fd = os.memfd_create("keepalive-bench-body")
        os.ftruncate(self.fd, size)

    def open(self) -> object:
        # A new open file description per response: loop.sendfile moves the file position,
        # and two responses in flight must not share one.
        return open(f"/proc/self/fd/{self.fd}", "rb", buffering=0)


class BenchServerProtocol(asyncio.Protocol):
    """One benchmark connection: answer each request with its prebuilt route."""

    def __init__(self, server: BenchServer) -> None:
        self._server = server
        self._transport: asyncio.Transport | None = None
        self._pending = b""
        self._busy = False  # a bulk body is being sent; later requests wait in _pending
        self._bulk_task: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        counters = self._server.counters
        counters.connections += 1
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            counters.tls_handshakes += 1
            if ssl_object.session_reused:
                counters.tls_resumed += 1

    def data_received(self, data: bytes) -> None:
        if self._pending:
            data = self._pending + data
            self._pending = b""
        if self._busy:
            self._pending = data
            return
        self._answer(data)

    def _answer(self, data: bytes) -> None:
        transport = self._transport
        assert transport is not None
        routes = self._server.routes
        counters = self._server.counters
        start = 0
        while True:
            end = data.find(b"\r\n\r\n", start)
            if end < 0:
                self._pending = data[start:]
                return
            line_end = data.find(b"\r\n", start)
            target_start = data.find(b" ", start, line_end) + 1
            target_end = data.find(b" ", target_start, line_end)
            route = routes.get(data[target_start:target_end]) or self._server.not_found
            # Cheap pre-check: only heads that mention "lose" are parsed for Connection: close.
            close = data.find(b"lose", start, end) >= 0 and _wants_close(data[start:end])
            counters.requests += 1
            start = end + 4
            if route.bulk:
                self._pending = data[start:]
                self._busy = True
                transport.pause_reading()
                # Keep a reference: the loop holds tasks only weakly.
                self._bulk_task = asyncio.get_running_loop().create_task(
                    self._send_bulk(route, close))
                return
            transport.write(route.close_response if close else route.keep_response)
            if close:
                transport.close()
                return

    async def _send_bulk(self, route: Route, close: bool) -> None:
        transport = self._transport
        assert transport is not None
        transport.write(route.close_response if close else route.keep_response)
        file = self._server.bulk_file.open()
        try:
            await asyncio.get_running_loop().sendfile(transport, file, 0, route.size)  # type: ignore[arg-type]
        except (ConnectionError, OSError, RuntimeError):
            transport.abort()
            return
        finally:
            file.close()  # type: ignore[attr-defined]
        if close or transport.is_closing():
            transport.close()
            return
        self._busy = False
        transport.resume_reading()
        if self._pending:
            data, self._pending = self._pending, b""
            self._answer(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None


class ControlProtocol(asyncio.Protocol):
    """The control channel: ``stats\\n`` -> one JSON line. Its connections are not counted."""

    def __init__(self, server: BenchServer) -> None:
        self._server = server
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        assert self._transport is not None
        self._buffer += data
        while b"\n" in self._buffer:
            line, _, self._buffer = self._buffer.partition(b"\n")
            if line.strip() == b"stats":
                reply = self._server.snapshot()
            else:
                reply = {"error": f"unknown command {line!r}"}
            self._transport.write(json.dumps(reply).encode() + b"\n")


class BenchServer:
    """The three listeners and their shared counters."""

    def __init__(self, ssl_context: ssl.SSLContext | None) -> None:
        self.counters = Counters()
        self.routes = {path.encode(): Route(path, size) for path, size in ROUTES.items()}
        self.not_found = Route("/404", 0, b"404 Not Found")
        self.bulk_file = BulkFile(max(ROUTES.values()))
        self.ssl_context = ssl_context

    def snapshot(self) -> dict[str, int]:
        return {**asdict(self.counters), "cpu_ns": time.process_time_ns(), "pid": os.getpid()}

    async def serve(self, host: str, ready: asyncio.Future[dict[str, int]] | None = None) -> None:
        loop = asyncio.get_running_loop()
        servers = [
            await loop.create_server(lambda: BenchServerProtocol(self), host, 0, backlog=4096)
        ]
        if self.ssl_context is not None:
            servers.append(
                await loop.create_server(
                    lambda: BenchServerProtocol(self), host, 0, ssl=self.ssl_context, backlog=4096
                )
            )
        control = await loop.create_server(lambda: ControlProtocol(self), host, 0)
        ports = {
            "http_port": servers[0].sockets[0].getsockname()[1],
            "https_port": servers[1].sockets[0].getsockname()[1] if len(servers) > 1 else 0,
            "control_port": control.sockets[0].getsockname()[1],
            "pid": os.getpid(),
        }
        if ready is not None:
            ready.set_result(ports)
        else:
            print(json.dumps(ports), flush=True)
        await asyncio.Event().wait()


def make_server_ssl_context(cert: str, key: str) -> ssl.SSLContext:
    """TLS 1.3 only, ALPN http/1.1, session tickets on (OpenSSL's default of two per handshake)."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


# --- the harness's side: start the server process and read its counters --------------------


def die_with_parent() -> None:
    """``preexec_fn`` for helper processes: SIGTERM them if the harness dies first.

    The harness can end abruptly (its hang watchdog exits the process); a server left
    running would hold CPU and ports. Linux only (prctl PR_SET_PDEATHSIG); a no-op elsewhere.
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


@dataclass
class ServerStats:
    """Counters read from a server; differences of two snapshots describe one batch."""

    connections: int
    requests: int
    tls_handshakes: int | None = None  # None: this server cannot tell
    tls_resumed: int | None = None
    cpu_ns: int | None = None

    def __sub__(self, other: ServerStats) -> ServerStats:
        def diff(a: int | None, b: int | None) -> int | None:
            return None if a is None or b is None else a - b

        return ServerStats(
            self.connections - other.connections,
            self.requests - other.requests,
            diff(self.tls_handshakes, other.tls_handshakes),
            diff(self.tls_resumed, other.tls_resumed),
            diff(self.cpu_ns, other.cpu_ns),
        )


class Certificates:
    """A throw-away CA and a certificate for 127.0.0.1 and localhost, made with trustme."""

    def __init__(self, directory: str) -> None:
        import trustme

        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        self.ca_path = os.path.join(directory, "ca.pem")
        self.cert_path = os.path.join(directory, "server.pem")
        self.key_path = os.path.join(directory, "server.key")
        ca.cert_pem.write_to_path(self.ca_path)
        cert.cert_chain_pems[0].write_to_path(self.cert_path)
        for pem in cert.cert_chain_pems[1:]:
            pem.write_to_path(self.cert_path, append=True)
        cert.private_key_pem.write_to_path(self.key_path)


class ServerHandle:
    """What the harness needs from any server: URLs, a CA, counters, and a way to stop it."""

    name = "server"
    host = "127.0.0.1"
    http_port = 0
    https_port = 0
    ca_path = ""
    pids: tuple[int, ...] = ()

    def url(self, scheme: str) -> str:
        return f"{scheme}://{self.host}:{self.http_port if scheme == 'http' else self.https_port}"

    def stats(self) -> ServerStats:
        raise NotImplementedError

    def describe(self) -> dict[str, object]:
        return {"name": self.name}

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EmbeddedServer(ServerHandle):
    """Runs ``python -m benchmarks.server`` pinned to ``cpu`` and talks to its control port."""

    name = "embedded (asyncio)"

    def __init__(self, cpu: int | None = None) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="keepalive-bench-")
        certs = Certificates(self._tmp.name)
        self.ca_path = certs.ca_path
        cmd = [sys.executable, "-m", "benchmarks.server", "--host", self.host,
               "--cert", certs.cert_path, "--key", certs.key_path]
        if cpu is not None:
            cmd += ["--cpu", str(cpu)]
        package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        self._process = subprocess.Popen(cmd, stdout=subprocess.PIPE, cwd=package_parent,
                                         text=True, preexec_fn=die_with_parent)
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError("the embedded benchmark server did not start")
        ports = json.loads(line)
        self.http_port, self.https_port = ports["http_port"], ports["https_port"]
        self.pids = (self._process.pid,)
        self._control = socket.create_connection((self.host, ports["control_port"]))
        self._control_file = self._control.makefile("rb")

    def stats(self) -> ServerStats:
        self._control.sendall(b"stats\n")
        raw = json.loads(self._control_file.readline())
        return ServerStats(raw["connections"], raw["requests"], raw["tls_handshakes"],
                           raw["tls_resumed"], raw["cpu_ns"])

    def describe(self) -> dict[str, object]:
        return {"name": self.name, "implementation": "asyncio.Protocol, prebuilt responses, "
                "sendfile for large bodies", "python": sys.version.split()[0]}

    def close(self) -> None:
        self._control_file.close()
        self._control.close()
        self._process.terminate()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()
        self._tmp.cleanup()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--cert", help="PEM certificate chain for the TLS listener")
    parser.add_argument("--key", help="PEM private key for the TLS listener")
    parser.add_argument("--cpu", type=int, default=None, help="pin the server to this CPU")
    args = parser.parse_args(argv)
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    ctx = make_server_ssl_context(args.cert, args.key) if args.cert else None
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        asyncio.run(BenchServer(ctx).serve(args.host))
    except (KeyboardInterrupt, SystemExit):
        pass


if __name__ == "__main__":
    main()
