"""Measure how each third-party server handles persistent connections (not a test).

Run ``PYTHONPATH=tests .venv/bin/python -m interop.probe_servers [--defaults] [--only NAME]``
from the repository root. For every server it starts (through ``tests/thirdparty.py``) it measures
with raw sockets, not with ``keepalive``:

- ``Keep-Alive`` / ``Connection`` headers on an ordinary HTTP/1.1 response;
- the idle timeout: seconds from the end of a response until the server closes, and whether
  that close is a FIN (``recv`` returns ``b""``) or a RST (``ECONNRESET``); over TLS also
  whether a ``close_notify`` alert came first;
- the per-connection request limit: requests are sent one after another on one socket until
  the server closes (or ``--max-probe`` requests); reports the announced ``max=`` values and
  whether the last response said ``Connection: close`` before the close;
- whether ``Expect: 100-continue`` gets an interim ``100 Continue`` before the body is sent;
- over TLS 1.3 and 1.2: whether the server issues a session ticket and whether a second
  connection offering the saved session is resumed.

``--defaults`` starts the servers with their default timeouts and limits (slow: waitress's
default idle close takes up to 150 s; all servers are probed in parallel). Without it the
servers run with the interop suite's settings.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

import thirdparty
from thirdparty import Server

Launcher = Callable[[bool], Server]

SUITE: dict[str, tuple[Launcher, bool]] = {
    "uvicorn-h11": (lambda tls: thirdparty.uvicorn_server(http="h11", tls=tls), True),
    "uvicorn-httptools": (lambda tls: thirdparty.uvicorn_server(http="httptools", tls=tls),
                          True),
    "hypercorn": (lambda tls: thirdparty.hypercorn_server(tls=tls, max_requests=5), True),
    "gunicorn": (lambda tls: thirdparty.gunicorn_server(tls=tls), True),
    "waitress": (lambda tls: thirdparty.waitress_server(), False),
    "nginx": (lambda tls: thirdparty.nginx_server(tls=tls), True),
    "apache2": (lambda tls: thirdparty.apache_server(tls=tls), True),
}

DEFAULTS: dict[str, tuple[Launcher, bool]] = {
    "uvicorn-h11": (lambda tls: thirdparty.uvicorn_server(http="h11", tls=tls,
                                                          keep_alive=None), True),
    "uvicorn-httptools": (lambda tls: thirdparty.uvicorn_server(
        http="httptools", tls=tls, keep_alive=None), True),
    "hypercorn": (lambda tls: thirdparty.hypercorn_server(tls=tls, keep_alive=None), True),
    "gunicorn": (lambda tls: thirdparty.gunicorn_server(tls=tls, keep_alive=None), True),
    "waitress": (lambda tls: thirdparty.waitress_server(channel_timeout=None,
                                                        cleanup_interval=None), False),
    "nginx": (lambda tls: thirdparty.nginx_server(
        tls=tls, keepalive_timeout=None, keepalive_header_timeout=None,
        keepalive_requests=None), True),
    "apache2": (lambda tls: thirdparty.apache_server(
        tls=tls, keepalive_timeout=None, max_keepalive_requests=None), True),
}


class Conn:
    """One raw client connection with a minimal HTTP/1.1 response reader."""

    def __init__(self, server: Server, *, context: ssl.SSLContext | None = None,
                 session: ssl.SSLSession | None = None) -> None:
        raw = socket.create_connection((server.host, server.port), timeout=10)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock: socket.socket = raw
        if server.scheme == "https":
            context = context or server.ssl_context()
            self.sock = context.wrap_socket(raw, server_hostname="127.0.0.1",
                                            suppress_ragged_eofs=False, session=session)
        self.reader = self.sock.makefile("rb")

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def request(self, method: str, path: str, headers: dict[str, str] | None = None,
                body: bytes = b"") -> None:
        lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if body or method in ("POST", "PUT"):
            lines.append(f"Content-Length: {len(body)}")
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode() + body)

    def read_head(self) -> tuple[int, dict[str, str]]:
        status_line = self.reader.readline()
        if not status_line:
            raise EOFError("connection closed before a response")
        status = int(status_line.split()[1])
        headers: dict[str, str] = {}
        while True:
            line = self.reader.readline().decode("latin-1").rstrip("\r\n")
            if not line:
                return status, headers
            name, _, value = line.partition(":")
            key = name.strip().lower()
            headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()

    def response(self, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
        status, headers = self.read_head()
        while 100 <= status < 200:
            status, headers = self.read_head()
        if method == "HEAD" or status in (204, 304):
            return status, headers, b""
        if "chunked" in headers.get("transfer-encoding", ""):
            body = bytearray()
            while True:
                size = int(self.reader.readline().split(b";")[0], 16)
                if size == 0:
                    while self.reader.readline() not in (b"\r\n", b""):
                        pass
                    return status, headers, bytes(body)
                body += self.reader.read(size)
                self.reader.readline()
        if "content-length" in headers:
            return status, headers, self.reader.read(int(headers["content-length"]))
        return status, headers, self.reader.read()

    def wait_close(self, limit: float) -> tuple[str, float]:
        """Block until the server closes; returns (how, seconds waited)."""
        start = time.monotonic()
        self.sock.settimeout(limit)
        try:
            data = self.reader.read1(1) if self.reader.peek(1) else b""
        except ssl.SSLEOFError:
            return "FIN (no close_notify)", time.monotonic() - start
        except ConnectionResetError:
            return "RST", time.monotonic() - start
        except TimeoutError:
            return f"still open after {limit:.0f} s", time.monotonic() - start
        if data:
            return f"stray bytes {data!r}", time.monotonic() - start
        how = "close_notify + FIN" if isinstance(self.sock, ssl.SSLSocket) else "FIN"
        return how, time.monotonic() - start

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.reader.close()
            self.sock.close()


def _one(server: Server, method: str, path: str,
         headers: dict[str, str] | None = None) -> dict[str, str]:
    """The response headers of one request on a fresh connection."""
    conn = Conn(server)
    try:
        conn.request(method, path, headers)
        return conn.response(method)[1]
    finally:
        conn.close()


def probe_headers(server: Server) -> dict[str, Any]:
    plain = _one(server, "GET", "/conn")
    asked = _one(server, "GET", "/conn", {"Connection": "keep-alive"})
    head = _one(server, "HEAD", "/big")
    text = _one(server, "GET", "/text", {"Accept-Encoding": "gzip"})
    return {"server_header": plain.get("server"), "connection": plain.get("connection"),
            "keep_alive": plain.get("keep-alive"), "asked_connection": asked.get("connection"),
            "asked_keep_alive": asked.get("keep-alive"),
            "head_content_length": head.get("content-length"),
            "gzip": text.get("content-encoding")}


def probe_idle(server: Server, limit: float, samples: int = 8) -> dict[str, Any]:
    """Idle close: ``samples`` connections go idle at staggered moments, each waits for close."""
    outcomes: list[tuple[str, float]] = []

    def one(delay: float) -> None:
        time.sleep(delay)
        conn = Conn(server)
        try:
            conn.request("GET", "/conn")
            conn.response()
            outcomes.append(conn.wait_close(limit))
        finally:
            conn.close()

    threads = [threading.Thread(target=one, args=(i * 0.137,)) for i in range(samples)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    waits = sorted(waited for _, waited in outcomes)
    return {"idle_close": sorted({how for how, _ in outcomes}),
            "idle_seconds_min": round(waits[0], 3), "idle_seconds_max": round(waits[-1], 3)}


def probe_max(server: Server, limit: int, ask: bool) -> dict[str, Any]:
    """Requests on one socket until the server closes; ``ask`` sends Connection: keep-alive."""
    conn = Conn(server)
    extra = {"Connection": "keep-alive"} if ask else {}
    hints: list[str] = []
    last_connection = None
    served = 0
    try:
        for _ in range(limit):
            try:
                conn.request("GET", "/conn", extra)
                _, headers, _ = conn.response()
            except (EOFError, OSError):
                break
            served += 1
            hints.append(headers.get("keep-alive", ""))
            last_connection = headers.get("connection")
            if last_connection and "close" in last_connection.lower():
                break
        closed = conn.wait_close(3.0) if served < limit else ("not reached", 0.0)
    finally:
        conn.close()
    prefix = "asked_max" if ask else "max"
    return {f"{prefix}_served": served, f"{prefix}_last_connection": last_connection,
            f"{prefix}_close": closed[0], f"{prefix}_hints": _summarise(hints)}


def _summarise(hints: list[str]) -> list[str]:
    if len(hints) <= 6:
        return hints
    return [*hints[:3], "...", *hints[-3:]]


def probe_expect(server: Server) -> dict[str, Any]:
    conn = Conn(server)
    try:
        conn.send(b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n"
                  b"Expect: 100-continue\r\n\r\n")
        conn.sock.settimeout(1.0)
        try:
            first = conn.reader.peek(12)[:12]
        except TimeoutError:
            first = b""
        conn.sock.settimeout(10)
        interim = first.startswith(b"HTTP/1.1 100")
        conn.send(b"hello")
        status, _, body = conn.response("POST")
    finally:
        conn.close()
    return {"expect_100": interim, "expect_status": status, "expect_echo": body == b"hello"}


def probe_tls(server: Server, version: ssl.TLSVersion) -> dict[str, Any]:
    name = "tls13" if version == ssl.TLSVersion.TLSv1_3 else "tls12"
    context = server.ssl_context()
    context.minimum_version = context.maximum_version = version
    first = Conn(server, context=context)
    try:
        first.request("GET", "/conn")
        first.response()
        assert isinstance(first.sock, ssl.SSLSocket)
        session = first.sock.session
    finally:
        first.close()
    if session is None:
        return {f"{name}_ticket": False, f"{name}_resumed": False}
    second = Conn(server, context=context, session=session)
    try:
        second.request("GET", "/conn")
        second.response()
        assert isinstance(second.sock, ssl.SSLSocket)
        resumed = second.sock.session_reused
    finally:
        second.close()
    return {f"{name}_ticket": session.has_ticket, f"{name}_resumed": resumed}


def probe(name: str, launcher: Launcher, tls_capable: bool, idle_limit: float,
          max_limit: int) -> dict[str, Any]:
    result: dict[str, Any] = {"server": name}
    with launcher(False) as server:
        result.update(probe_headers(server))
        result["server_header"] = _one(server, "HEAD", "/big").get("server")
        result.update(probe_expect(server))
        result.update(probe_max(server, max_limit, ask=False))
        result.update(probe_max(server, max_limit, ask=True))
        result.update(probe_idle(server, idle_limit))
    if tls_capable:
        with launcher(True) as server:
            tls_idle = probe_idle(server, idle_limit)
            result["tls_idle_close"] = tls_idle["idle_close"]
            result["tls_idle_seconds_max"] = tls_idle["idle_seconds_max"]
            result.update(probe_tls(server, ssl.TLSVersion.TLSv1_3))
            result.update(probe_tls(server, ssl.TLSVersion.TLSv1_2))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--defaults", action="store_true",
                        help="probe the servers' default settings (slow)")
    parser.add_argument("--only", action="append", help="probe only this server")
    parser.add_argument("--max-probe", type=int, default=1100,
                        help="stop counting requests per connection here")
    args = parser.parse_args()
    table = DEFAULTS if args.defaults else SUITE
    idle_limit = 200.0 if args.defaults else 10.0
    names = args.only or list(table)
    results: dict[str, dict[str, Any]] = {}

    def run(name: str) -> None:
        launcher, tls_capable = table[name]
        try:
            results[name] = probe(name, launcher, tls_capable, idle_limit, args.max_probe)
        except Exception as exc:
            results[name] = {"server": name, "error": repr(exc)}

    threads = [threading.Thread(target=run, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for name in names:
        print(json.dumps(results[name]))


if __name__ == "__main__":
    main()
