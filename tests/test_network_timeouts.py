"""Timeouts enforced by the blocking backend, plain and TLS.

On Linux a timed read or write is a blocking socket with the kernel's SO_RCVTIMEO and
SO_SNDTIMEO (one syscall instead of poll plus recv; docs/design.md, theory of operation).
These tests pin what that must keep: every phase times out, a changed timeout applies to
the next call, and a non-blocking probe in between never leaves a read non-blocking.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator

import pytest
from conftest import MakeServer
from testserver import ReceivedRequest, Reply, ServerSide

import keepalive
from keepalive import ConnectionPool, HTTPConnection, Timeout

MiB = 1024 * 1024


class _Sink:
    """Accepts connections (TLS optional, handshake done) and never reads from them."""

    def __init__(self, context: ssl.SSLContext | None = None) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(10)
        self.port = self._listener.getsockname()[1]
        self._context = context
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            sock, _ = self._listener.accept()
        except OSError:
            return
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        if self._context is not None:
            try:
                sock = self._context.wrap_socket(sock, server_side=True)
            except (OSError, ssl.SSLError):
                sock.close()
                return
        self._held.append(sock)
        self._stop.wait(20)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for sock in self._held:
            sock.close()
        self._listener.close()


@pytest.fixture
def sink() -> Iterator[_Sink]:
    s = _Sink()
    yield s
    s.close()


@pytest.fixture
def tls_sink(server_ssl_context: ssl.SSLContext) -> Iterator[_Sink]:
    s = _Sink(server_ssl_context)
    yield s
    s.close()


@pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls"])
def test_write_timeout_when_the_server_stops_reading(
    tls: bool, sink: _Sink, tls_sink: _Sink, client_ssl_context: ssl.SSLContext
) -> None:
    target = tls_sink if tls else sink
    kw: dict[str, object] = {"ssl_context": client_ssl_context} if tls else {}
    conn = HTTPConnection(
        "127.0.0.1", target.port, scheme="https" if tls else "http",
        timeout=Timeout(connect=5, read=5, write=0.3), **kw,  # type: ignore[arg-type]
    )  # fmt: skip
    started = time.monotonic()
    with pytest.raises(keepalive.WriteTimeout, match="write timed out") as info:
        conn.request("POST", "/upload", body=b"x" * (64 * MiB))
    assert time.monotonic() - started < 4.0
    assert isinstance(info.value, TimeoutError)
    assert conn.is_closed


def _slow_or_ok(req: ReceivedRequest, side: ServerSide) -> Reply:
    """``ok``; for /slow, after 0.6 s."""
    if req.target == "/slow":
        time.sleep(0.6)
    return Reply(body=b"ok")


@pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls"])
def test_a_changed_read_timeout_applies_to_the_next_request(
    tls: bool, make_server: MakeServer, client_ssl_context: ssl.SSLContext
) -> None:
    server = make_server(_slow_or_ok, tls=tls)
    kw: dict[str, object] = {"ssl_context": client_ssl_context} if tls else {}
    conn = HTTPConnection(server.host, server.port, scheme=server.scheme, **kw)  # type: ignore[arg-type]
    with conn.request("GET", "/slow", timeout=Timeout(read=5)) as r:
        assert r.read() == b"ok"  # a long read timeout waits the 0.6 s
    started = time.monotonic()
    with pytest.raises(keepalive.ReadTimeout):
        conn.request("GET", "/slow", timeout=Timeout(read=0.15))
    assert time.monotonic() - started < 0.55, "the shorter timeout was not applied"
    conn2 = HTTPConnection(server.host, server.port, scheme=server.scheme, **kw)  # type: ignore[arg-type]
    with conn2.request("GET", "/fast", timeout=Timeout(read=0.15)) as r:
        assert r.read() == b"ok"
    with conn2.request("GET", "/slow", timeout=Timeout(read=5)) as r:
        assert r.read() == b"ok", "a longer timeout after a short one was not applied"
    conn2.close()


@pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls"])
def test_reads_block_again_after_the_idle_probe(
    tls: bool, make_server: MakeServer, client_ssl_context: ssl.SSLContext
) -> None:
    """The stale probe (and, over TLS 1.3, reading a session ticket without blocking) must
    leave the socket blocking: a slow answer on the reused connection is waited for."""

    def app(req: ReceivedRequest, side: ServerSide) -> Reply:
        if req.target == "/slow":
            time.sleep(0.3)
        return Reply(body=req.target.encode())

    server = make_server(app, tls=tls)
    verify: object = client_ssl_context if tls else True
    with ConnectionPool(verify=verify, timeout=Timeout(read=5)) as pool:  # type: ignore[arg-type]
        for path in ("/a", "/slow", "/b", "/slow"):
            time.sleep(0.05)  # lets a TLS 1.3 ticket arrive, so the probe finds it readable
            with pool.request("GET", server.url + path) as r:
                assert r.read() == path.encode()
        stats = pool.stats()
    assert stats["opened"] == 1 and stats["reused"] == 3


# -- the asyncio backend: one timer per stream, moved lazily ---------------------------------


@pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls"])
def test_async_timeouts_follow_each_wait(
    tls: bool, make_server: MakeServer, client_ssl_context: ssl.SSLContext
) -> None:
    """The stream keeps one timer across waits: a shorter timeout must still cut the next
    wait short, a longer one must not fail early, and a closed stream leaves no timer."""
    import asyncio

    from keepalive import AsyncHTTPConnection

    server = make_server(_slow_or_ok, tls=tls)
    kw: dict[str, object] = {"ssl_context": client_ssl_context} if tls else {}

    async def main() -> None:
        conn = AsyncHTTPConnection(server.host, server.port, scheme=server.scheme, **kw)  # type: ignore[arg-type]
        for _ in range(20):  # many timed reads under a long timeout: one timer serves them
            r = await conn.request("GET", "/fast", timeout=Timeout(read=30))
            assert await r.aread() == b"ok"
        started = time.monotonic()
        with pytest.raises(keepalive.ReadTimeout):
            await conn.request("GET", "/slow", timeout=Timeout(read=0.15))
        assert time.monotonic() - started < 0.55, "the shorter timeout was not applied"
        conn2 = AsyncHTTPConnection(server.host, server.port, scheme=server.scheme, **kw)  # type: ignore[arg-type]
        r = await conn2.request("GET", "/fast", timeout=Timeout(read=0.15))
        assert await r.aread() == b"ok"
        r = await conn2.request("GET", "/slow", timeout=Timeout(read=5))
        assert await r.aread() == b"ok", "a longer timeout after a short one failed early"
        await conn2.aclose()
        loop = asyncio.get_running_loop()
        live = [
            h
            for h in loop._scheduled  # type: ignore[attr-defined]
            if not h.cancelled() and getattr(h._callback, "__name__", "") == "_on_timer"
        ]
        assert live == [], f"timers left after the streams closed: {live}"

    asyncio.run(asyncio.wait_for(main(), 30))


def test_the_idle_probe_sees_a_stray_byte_after_a_gathering_read() -> None:
    """A large body is read with a raised SO_RCVLOWAT (one wake-up per buffer); poll() then
    reports readability only once that many bytes wait. The idle probe must still see a
    single stray byte (reuse rule 4), so it lowers the mark first."""
    from keepalive._network import SocketStream

    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname()[:2], timeout=5)
    server, _ = listener.accept()
    stream = SocketStream(client, "test")
    try:
        client.settimeout(None)
        body = b"b" * (3 * 256 * 1024)
        sender = threading.Thread(target=server.sendall, args=(body,))
        sender.start()
        got = 0
        for _ in range(1000):
            if got == len(body):
                break
            got += len(stream.read(min(len(body) - got, 256 * 1024), 5.0, gather=True))
        sender.join(5)
        assert got == len(body)
        assert not stream.has_peer_closed()  # nothing more has been sent yet
        server.sendall(b"X")
        deadline = time.monotonic() + 5
        while not stream.has_peer_closed():
            assert time.monotonic() < deadline, "the idle probe never saw the stray byte"
            time.sleep(0.01)
        assert stream.wait_readable(0)
    finally:
        stream.close()
        server.close()
        listener.close()
