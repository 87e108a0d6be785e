"""ConnectionPool over real loopback sockets: the pool's side of the reuse rules in docs/design.md.

Reuse and pool keys, LIFO order, stale connections and the keep-alive race (scripted so it
happens every time), server hints, expiry, limits under threads, release, fork, statistics
and logging. Time-dependent rules run on an injected clock wherever the pool allows it.
"""

from __future__ import annotations

import gc
import io
import json
import logging
import os
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from conftest import MakeServer
from testserver import App, ReceivedRequest, Reply, ServerSide, TestServer, TLSOrPlain

import keepalive
from keepalive import ConnectionPool, RawResponse

KiB = 1024
MiB = 1024 * KiB


# -- helpers ----------------------------------------------------------------------------------


class FakeClock:
    """An injectable ``clock`` for the pool: time moves only when the test says so."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def get(pool: ConnectionPool, url: str, **kw: Any) -> RawResponse:
    """GET ``url`` and read the body to its end, so the connection goes back to the pool."""
    resp = pool.request("GET", url, **kw)
    resp.read()
    return resp


def consistent_stats(pool: ConnectionPool) -> dict[str, int]:
    """``stats()``, checked for the invariant every pool must keep."""
    stats = pool.stats()
    assert stats["opened"] - stats["closed"] == stats["idle"] + stats["active"], stats
    return stats


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def naming(req: ReceivedRequest) -> bytes:
    """A body that names the request and the server-side connection it came over."""
    return f"{req.method} {req.target} conn={req.connection}".encode()


def echo(req: ReceivedRequest, side: ServerSide) -> Reply:
    if req.method == "HEAD":  # a HEAD response has no body
        return Reply(200, [("X-Named", naming(req).decode())])
    return Reply(200, body=naming(req) + req.body)


def dies_on_reuse(reset: bool = False) -> App:
    """Answers the first request on each connection; on a reused one it reads the request,
    then closes (FIN, or RST with ``reset``) without sending a byte: the keep-alive race
    (server times out the connection just as the client reuses it), every time."""

    def app(req: ReceivedRequest, side: ServerSide) -> Reply | None:
        if req.index_on_connection > 1:
            if reset:
                side.reset()
            else:
                side.close()
            return None
        return echo(req, side)

    return app


def close_after_reply(delay: float) -> App:
    """Answers (keep-alive implied), then closes the idle connection after ``delay``."""

    def app(req: ReceivedRequest, side: ServerSide) -> None:
        side.send_reply(echo(req, side))
        if delay:
            time.sleep(delay)
        side.close()

    return app


def run_threads(target: Callable[[int], None], count: int, timeout: float) -> list[BaseException]:
    """Run ``target(i)`` in ``count`` threads; return what they raised."""
    errors: list[BaseException] = []

    def guarded(i: int) -> None:
        try:
            target(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    stuck = sum(thread.is_alive() for thread in threads)
    assert not stuck, f"{stuck} of {count} threads still running after {timeout} s"
    return errors


class OpenSockets:
    """Counts the client's sockets connected to ``ports`` and still open; keeps the peak.

    Measured at the client, where the pool's limits apply: a server only learns of a
    close when its thread next reads, so its own count may lag behind.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch, ports: set[int]) -> None:
        self.ports = ports
        self.open: set[int] = set()
        self.peak = 0
        self._lock = threading.Lock()
        real_connect = socket.socket.connect
        real_close = socket.socket.close
        counter = self

        def connect(sock: socket.socket, address: Any) -> None:
            real_connect(sock, address)
            if isinstance(address, tuple) and address[1] in counter.ports:
                with counter._lock:
                    counter.open.add(id(sock))
                    counter.peak = max(counter.peak, len(counter.open))

        def close(sock: socket.socket) -> None:
            with counter._lock:  # closed and uncounted in one step
                real_close(sock)
                counter.open.discard(id(sock))

        monkeypatch.setattr(socket.socket, "connect", connect)
        monkeypatch.setattr(socket.socket, "close", close)


@pytest.fixture
def pool() -> Iterator[ConnectionPool]:
    with ConnectionPool() as pool:
        yield pool


# -- rule 2: one connection per pool key -----------------------------------------------------


def test_two_hundred_requests_one_connection(
    no_fd_leak: None, server: TestServer, pool: ConnectionPool
) -> None:
    for i in range(200):
        resp = get(pool, f"{server.url}/n/{i}")
        assert resp.status_code == 200
        assert resp.content == f"GET /n/{i} conn=1".encode()
        assert resp.reused == (i > 0)
    assert server.connections == 1
    stats = consistent_stats(pool)
    assert stats["opened"] == 1 and stats["reused"] == 199 and stats["requests"] == 200
    assert stats["idle"] == 1 and stats["active"] == 0 and stats["retries"] == 0


def test_two_origins_two_connections(make_server: MakeServer, pool: ConnectionPool) -> None:
    a, b = make_server(), make_server()
    ids: dict[str, set[int]] = {"a": set(), "b": set()}
    for i in range(10):
        for name, srv in (("a", a), ("b", b)):
            resp = get(pool, f"{srv.url}/{name}{i}")
            assert resp.content == f"GET /{name}{i} conn=1".encode()
            ids[name].add(resp.connection_id)
    assert a.connections == 1 and b.connections == 1
    assert len(ids["a"]) == 1 and len(ids["b"]) == 1 and ids["a"] != ids["b"]
    stats = consistent_stats(pool)
    assert stats["opened"] == 2 and stats["reused"] == 18 and stats["idle"] == 2


def test_host_names_differing_in_case_share_a_connection(
    server: TestServer, pool: ConnectionPool
) -> None:
    ids = {
        get(pool, f"{scheme}://{host}:{server.port}/").connection_id
        for scheme in ("http", "HTTP")
        for host in ("localhost", "LocalHost", "LOCALHOST")
    }
    assert len(ids) == 1 and server.connections == 1


def test_same_host_and_port_over_http_and_https(
    make_server: MakeServer, server_ssl_context: ssl.SSLContext, ca_path: str
) -> None:
    # One port that speaks both: only the scheme tells the two origins apart.
    sniff = TLSOrPlain(server_ssl_context)
    srv = make_server(on_connect=sniff)
    with ConnectionPool(verify=ca_path) as pool:
        for i in range(3):
            plain = get(pool, f"http://127.0.0.1:{srv.port}/p{i}")
            secure = get(pool, f"https://127.0.0.1:{srv.port}/s{i}")
            assert plain.content == f"GET /p{i} conn=1".encode()
            assert secure.content == f"GET /s{i} conn=2".encode()
            assert plain.timings.tls == 0
            assert (secure.timings.tls > 0) == (i == 0)  # a handshake only on the first
        assert plain.connection_id != secure.connection_id
        assert consistent_stats(pool)["opened"] == 2
    assert srv.connections == 2 and sniff.schemes == ["http", "https"]


def test_separate_http_and_https_servers(
    server: TestServer, tls_server: TestServer, ca_path: str
) -> None:
    with ConnectionPool(verify=ca_path) as pool:
        for _ in range(3):
            assert get(pool, server.url).content == b"GET / conn=1"
            assert get(pool, tls_server.url).content == b"GET / conn=1"
        assert consistent_stats(pool)["opened"] == 2
    assert server.connections == 1 and tls_server.connections == 1


def test_verify_false_connection_never_serves_a_verifying_request(
    tls_server: TestServer, pool: ConnectionPool
) -> None:
    # The pool verifies against the system store, which does not trust the test CA.
    insecure = get(pool, f"{tls_server.url}/insecure", verify=False)
    assert insecure.status_code == 200 and insecure.content == b"GET /insecure conn=1"
    with pytest.raises(keepalive.TLSError, match="certificate verify failed"):
        pool.request("GET", f"{tls_server.url}/default")
    with pytest.raises(keepalive.TLSError, match="certificate verify failed"):
        pool.request("GET", f"{tls_server.url}/explicit", verify=True)
    # Both verifying attempts made their own TCP connection and got no further.
    assert tls_server.connections == 3
    assert [r.target for r in tls_server.requests] == ["/insecure"]
    again = get(pool, f"{tls_server.url}/again", verify=False)
    assert again.reused and again.connection_id == insecure.connection_id
    stats = consistent_stats(pool)
    assert stats["opened"] == 1 and stats["idle"] == 1 and stats["active"] == 0


def test_ca_bundle_and_context_get_their_own_connections(
    tls_server: TestServer,
    pool: ConnectionPool,
    ca_path: str,
    client_ssl_context: ssl.SSLContext,
) -> None:
    url = tls_server.url
    insecure = get(pool, url, verify=False)
    bundle = get(pool, url, verify=ca_path)
    context = get(pool, url, verify=client_ssl_context)
    ids = {insecure.connection_id, bundle.connection_id, context.connection_id}
    assert len(ids) == 3
    assert not bundle.reused and not context.reused
    # each setting keeps getting its own connection back
    assert get(pool, url, verify=ca_path).connection_id == bundle.connection_id
    assert get(pool, url, verify=client_ssl_context).connection_id == context.connection_id
    assert get(pool, url, verify=False).connection_id == insecure.connection_id
    assert get(pool, url, verify=Path(ca_path)).connection_id == bundle.connection_id
    stats = consistent_stats(pool)
    assert stats["opened"] == 3 and stats["reused"] == 4
    assert tls_server.connections == 3


def test_client_certificate_joins_the_pool_key(
    ca: trustme.CA, ca_path: str, tmp_path: Path
) -> None:
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(server_ctx)
    ca.configure_trust(server_ctx)
    server_ctx.verify_mode = ssl.CERT_OPTIONAL  # ask for a client certificate, accept none

    def app(req: ReceivedRequest, side: ServerSide) -> Reply:
        peer = side.sock.getpeercert() if isinstance(side.sock, ssl.SSLSocket) else None
        subject = dict(pair[0] for pair in peer["subject"]) if peer else {}
        return Reply(200, body=f"cert={subject.get('commonName', 'none')}".encode())

    one, two = tmp_path / "one.pem", tmp_path / "two.pem"
    ca.issue_cert(
        "one.test", common_name="client-one"
    ).private_key_and_cert_chain_pem.write_to_path(str(one))
    ca.issue_cert(
        "two.test", common_name="client-two"
    ).private_key_and_cert_chain_pem.write_to_path(str(two))
    with TestServer(app, ssl_context=server_ctx) as srv, ConnectionPool(verify=ca_path) as pool:
        anonymous = get(pool, srv.url)
        first = get(pool, srv.url, cert=str(one))
        second = get(pool, srv.url, cert=str(two))
        assert anonymous.content == b"cert=none"
        assert first.content == b"cert=client-one"
        assert second.content == b"cert=client-two"
        assert len({anonymous.connection_id, first.connection_id, second.connection_id}) == 3
        for _ in range(2):
            assert get(pool, srv.url).connection_id == anonymous.connection_id
            assert get(pool, srv.url, cert=str(one)).connection_id == first.connection_id
            assert get(pool, srv.url, cert=str(two)).connection_id == second.connection_id
        assert consistent_stats(pool)["opened"] == 3
        assert srv.connections == 3


def test_new_tls_connections_resume_the_session(tls_server: TestServer, ca_path: str) -> None:
    with ConnectionPool(verify=ca_path) as pool:
        get(pool, tls_server.url)  # the session is saved once this first response is read
        held = pool.request("GET", tls_server.url)  # keeps the first connection busy
        second = get(pool, tls_server.url)  # so this one needs a new connection
        held.read()
        assert second.connection_id != held.connection_id
        assert second.timings.tls_resumed and second.timings.tls > 0
    assert len(tls_server.tls_resumed) == 2 and tls_server.tls_resumed[1] is True


# -- rule 3: LIFO ------------------------------------------------------------------------------


def test_most_recently_released_connection_goes_out_first(
    server: TestServer, pool: ConnectionPool
) -> None:
    first = pool.request("GET", server.url)
    second = pool.request("GET", server.url)  # the first is busy: a second connection
    c1, c2 = first.connection_id, second.connection_id
    assert c1 != c2
    first.read()
    second.read()  # c2 released last
    assert get(pool, server.url).connection_id == c2
    # now release in the other order: c1 last
    third = pool.request("GET", server.url)
    fourth = pool.request("GET", server.url)
    assert (third.connection_id, fourth.connection_id) == (c2, c1)
    third.read()
    fourth.read()
    assert get(pool, server.url).connection_id == c1
    assert consistent_stats(pool)["opened"] == 2 and server.connections == 2


# -- rules 4 and 6: stale connections, the keep-alive race, safe retry -------------------------


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
@pytest.mark.parametrize("delay", [0.0, 0.2], ids=["at-once", "after-delay"])
def test_server_closing_idle_connection(
    make_server: MakeServer,
    ca_path: str,
    caplog: pytest.LogCaptureFixture,
    delay: float,
    tls: bool,
) -> None:
    caplog.set_level(logging.DEBUG, logger="keepalive")
    srv = make_server(close_after_reply(delay), tls=tls)
    with ConnectionPool(verify=ca_path) as pool:
        first = get(pool, f"{srv.url}/1")
        if delay:
            time.sleep(delay + 0.2)  # the close is certainly in by now
        second = get(pool, f"{srv.url}/2")
        assert first.content == b"GET /1 conn=1"
        assert second.status_code == 200 and second.content == b"GET /2 conn=2"
        assert second.connection_id != first.connection_id
        stats = consistent_stats(pool)
    caught_idle = any("closed by the server while idle" in r.getMessage() for r in caplog.records)
    # Either the stale check caught the close, or the request met it and was retried once.
    assert (stats["retries"] == 0 and caught_idle) or (stats["retries"] == 1 and not caught_idle)
    if delay:
        assert stats["retries"] == 0, "a close that arrived long ago must be caught by the check"
    assert stats["opened"] == 2 and stats["requests"] == 2
    assert [r.target for r in srv.requests] == ["/1", "/2"]  # each served once


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
@pytest.mark.parametrize("reset", [False, True], ids=["fin", "rst"])
def test_get_meeting_the_race_is_retried_once(
    make_server: MakeServer, ca_path: str, reset: bool, tls: bool
) -> None:
    srv = make_server(dies_on_reuse(reset), tls=tls)
    with ConnectionPool(verify=ca_path) as pool:
        first = get(pool, f"{srv.url}/a")
        second = get(pool, f"{srv.url}/b")
        stats = consistent_stats(pool)
    assert second.status_code == 200 and second.content == b"GET /b conn=2"
    assert not second.reused and second.connection_id != first.connection_id
    assert stats["retries"] == 1 and stats["opened"] == 2 and stats["requests"] == 2
    assert [(r.target, r.connection) for r in srv.requests] == [("/a", 1), ("/b", 1), ("/b", 2)]


@pytest.mark.parametrize("method", ["HEAD", "OPTIONS", "PUT", "DELETE"])
def test_other_idempotent_methods_are_retried(
    make_server: MakeServer, pool: ConnectionPool, method: str
) -> None:
    srv = make_server(dies_on_reuse())
    get(pool, f"{srv.url}/a")
    with pool.request(method, f"{srv.url}/m", body=b"data" if method == "PUT" else None) as resp:
        assert resp.status_code == 200
        resp.read()
    assert pool.stats()["retries"] == 1
    assert [(r.method, r.connection) for r in srv.requests[1:]] == [(method, 1), (method, 2)]


@pytest.mark.parametrize("reset", [False, True], ids=["fin", "rst"])
def test_post_meeting_the_race_raises(
    make_server: MakeServer, pool: ConnectionPool, reset: bool
) -> None:
    srv = make_server(dies_on_reuse(reset))
    get(pool, f"{srv.url}/a")
    with pytest.raises(keepalive.TransportError) as info:
        pool.request("POST", f"{srv.url}/p", body=b"payload")
    assert f"127.0.0.1:{srv.port}" in str(info.value)
    assert [r.method for r in srv.requests].count("POST") == 1  # the server saw it once
    assert srv.connections == 1
    stats = consistent_stats(pool)
    assert stats["retries"] == 0 and stats["active"] == 0 and stats["idle"] == 0


@pytest.mark.parametrize(
    "headers",
    [
        [("Idempotency-Key", "k-1")],
        {"idempotency-key": "k-1"},
        keepalive.Headers({"IDEMPOTENCY-KEY": "k-1"}),
    ],
    ids=["pairs", "dict", "Headers"],
)
def test_post_with_idempotency_key_is_retried(
    make_server: MakeServer, pool: ConnectionPool, headers: Any
) -> None:
    srv = make_server(dies_on_reuse())
    get(pool, f"{srv.url}/a")
    resp = pool.request("POST", f"{srv.url}/p", headers=headers, body=b"payload")
    assert resp.read() == b"POST /p conn=2payload"
    posts = [r for r in srv.requests if r.method == "POST"]
    assert [(r.connection, r.body, r.header("idempotency-key")) for r in posts] == [
        (1, b"payload", "k-1"),
        (2, b"payload", "k-1"),
    ]
    assert pool.stats()["retries"] == 1


def test_generator_body_is_not_retried(make_server: MakeServer, pool: ConnectionPool) -> None:
    srv = make_server(dies_on_reuse())
    get(pool, f"{srv.url}/a")
    body = (piece for piece in [b"one", b"two"])
    with pytest.raises(keepalive.TransportError):
        pool.request("GET", f"{srv.url}/gen", body=body)
    gens = [r for r in srv.requests if r.target == "/gen"]
    assert len(gens) == 1 and gens[0].body == b"onetwo"
    assert pool.stats()["retries"] == 0


def test_file_body_is_replayed_whole_on_retry(
    make_server: MakeServer, pool: ConnectionPool
) -> None:
    srv = make_server(dies_on_reuse())
    get(pool, f"{srv.url}/a")
    payload = os.urandom(100 * KiB)
    resp = pool.request("PUT", f"{srv.url}/f", body=io.BytesIO(payload))
    assert resp.read() == b"PUT /f conn=2" + payload
    puts = [r for r in srv.requests if r.method == "PUT"]
    assert [r.connection for r in puts] == [1, 2]
    assert puts[0].body == payload
    assert len(puts[1].body) == len(payload) and puts[1].body == payload, (
        f"the retry sent {len(puts[1].body)} of {len(payload)} body bytes"
    )
    assert puts[1].header("content-length") == str(len(payload))
    assert pool.stats()["retries"] == 1


@pytest.mark.parametrize("reset", [False, True], ids=["fin", "rst"])
def test_failure_on_a_new_connection_is_never_retried(
    make_server: MakeServer, pool: ConnectionPool, reset: bool
) -> None:
    def app(req: ReceivedRequest, side: ServerSide) -> None:
        if reset:
            side.reset()
        else:
            side.close()

    srv = make_server(app)
    with pytest.raises(keepalive.TransportError):
        pool.request("GET", f"{srv.url}/x")
    assert len(srv.requests) == 1 and srv.connections == 1
    stats = consistent_stats(pool)
    assert stats["retries"] == 0 and stats["active"] == 0


def test_retries_zero_never_retries(make_server: MakeServer) -> None:
    srv = make_server(dies_on_reuse())
    with ConnectionPool(retries=0) as pool:
        get(pool, f"{srv.url}/a")
        with pytest.raises(keepalive.TransportError):
            pool.request("GET", f"{srv.url}/b")
        assert [(r.target, r.connection) for r in srv.requests] == [("/a", 1), ("/b", 1)]
        assert consistent_stats(pool)["retries"] == 0
        # the pool is fine afterwards: the next request gets a new connection
        assert get(pool, f"{srv.url}/c").content == b"GET /c conn=2"


@pytest.mark.parametrize("delay", [0.0, 0.2], ids=["same-write", "later"])
def test_stray_bytes_after_a_response_retire_the_connection(
    make_server: MakeServer, pool: ConnectionPool, delay: float
) -> None:
    # A server must send nothing between cycles (RFC 9112 section 9.3); bytes after the end
    # of a response must never be taken for the answer to the next request.
    bogus = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nbogus"

    def app(req: ReceivedRequest, side: ServerSide) -> None:
        body = naming(req)
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        if delay:
            side.send_raw(head + body)
            time.sleep(delay)
            side.send_raw(bogus)
        else:
            side.send_raw(head + body + bogus)
        # anything sent on this connection from now on ends it (the server's h11 is PAUSED)

    srv = make_server(app)
    first = get(pool, f"{srv.url}/1")
    assert first.content == b"GET /1 conn=1"
    time.sleep(delay + 0.2)
    second = get(pool, f"{srv.url}/2")
    assert second.content == b"GET /2 conn=2", f"got {second.content!r} for the second request"
    assert second.connection_id != first.connection_id
    stats = consistent_stats(pool)
    assert stats["retries"] == 0 and stats["opened"] == 2


# -- rule 5: server hints ------------------------------------------------------------------------


def test_keepalive_max_countdown_is_honoured(make_server: MakeServer, pool: ConnectionPool) -> None:
    def app(req: ReceivedRequest, side: ServerSide) -> Reply | None:
        n = req.index_on_connection
        if n > 3:  # only a client that ignored max=0 gets here
            side.close()
            return None
        return Reply(200, [("Keep-Alive", f"timeout=5, max={3 - n}")], naming(req))

    srv = make_server(app)
    ids = [get(pool, f"{srv.url}/{i}").connection_id for i in (1, 2, 3)]
    assert len(set(ids)) == 1
    stats = consistent_stats(pool)
    assert stats["closed"] == 1 and stats["idle"] == 0  # retired on max=0, before any reuse
    fourth = get(pool, f"{srv.url}/4")
    assert fourth.content == b"GET /4 conn=2" and fourth.connection_id != ids[0]
    assert not fourth.reused
    assert all(r.index_on_connection <= 3 for r in srv.requests)
    stats = consistent_stats(pool)
    assert stats["retries"] == 0 and stats["opened"] == 2 and stats["reused"] == 2


def test_keepalive_timeout_hint_retires_a_second_early(make_server: MakeServer) -> None:
    srv = make_server(lambda req, side: Reply(200, [("Keep-Alive", "timeout=2")], naming(req)))
    clock = FakeClock()
    with ConnectionPool(clock=clock) as pool:
        first = get(pool, f"{srv.url}/1")
        clock.advance(0.9)  # within the hint less a second: still good
        second = get(pool, f"{srv.url}/2")
        assert second.reused and second.connection_id == first.connection_id
        clock.advance(1.0)  # the server would drop it at 2 s; we retire it at 1 s
        third = get(pool, f"{srv.url}/3")
        assert not third.reused and third.connection_id != first.connection_id
        assert third.content == b"GET /3 conn=2"
        stats = consistent_stats(pool)
        assert stats["retries"] == 0 and stats["closed"] == 1 and stats["opened"] == 2


@pytest.mark.timeout(10)
def test_keepalive_timeout_hint_on_the_real_clock(make_server: MakeServer) -> None:
    srv = make_server(lambda req, side: Reply(200, [("Keep-Alive", "timeout=2")], naming(req)))
    with ConnectionPool() as pool:
        first = get(pool, f"{srv.url}/1")
        time.sleep(1.1)
        second = get(pool, f"{srv.url}/2")
        assert second.connection_id != first.connection_id and not second.reused
        stats = consistent_stats(pool)
        assert stats["retries"] == 0 and stats["closed"] == 1


def test_keepalive_timeout_hint_of_one_second_is_not_kept(
    make_server: MakeServer, pool: ConnectionPool
) -> None:
    srv = make_server(
        lambda req, side: Reply(200, [("Keep-Alive", "timeout=1, max=50")], naming(req))
    )
    ids = {get(pool, f"{srv.url}/{i}").connection_id for i in range(3)}
    assert len(ids) == 3 and srv.connections == 3
    stats = consistent_stats(pool)
    assert stats["retries"] == 0 and stats["reused"] == 0 and stats["idle"] == 0


def test_keepalive_expiry_wins_when_sooner_than_the_hint(make_server: MakeServer) -> None:
    srv = make_server(lambda req, side: Reply(200, [("Keep-Alive", "timeout=30")], naming(req)))
    clock = FakeClock()
    with ConnectionPool(keepalive_expiry=2.0, clock=clock) as pool:
        first = get(pool, srv.url)
        clock.advance(1.5)
        assert get(pool, srv.url).connection_id == first.connection_id
        clock.advance(2.5)
        assert get(pool, srv.url).connection_id != first.connection_id


# -- rule 4: keepalive_expiry, for every origin ---------------------------------------------------


def test_expired_idle_connections_of_every_origin_close_on_touch(make_server: MakeServer) -> None:
    a, b = make_server(), make_server()
    clock = FakeClock()
    with ConnectionPool(keepalive_expiry=5.0, clock=clock) as pool:
        get(pool, a.url)  # idle until t=5
        clock.advance(1.0)
        on_b = get(pool, b.url)  # idle until t=6
        clock.advance(4.5)  # t=5.5: a's connection expired, b's not
        again_b = get(pool, b.url)
        assert again_b.reused and again_b.connection_id == on_b.connection_id
        stats = consistent_stats(pool)
        assert stats["closed"] == 1 and stats["idle"] == 1
        assert wait_until(lambda: a.open_connections == 0), "a's expired socket was not closed"
        assert b.open_connections == 1
        clock.advance(10.0)  # b expired too; touching a must close it
        fresh_a = get(pool, a.url)
        assert not fresh_a.reused
        stats = consistent_stats(pool)
        assert stats["closed"] == 2 and stats["idle"] == 1 and stats["opened"] == 3
        assert wait_until(lambda: b.open_connections == 0), "b's expired socket was not closed"


def test_keepalive_expiry_zero_keeps_nothing(server: TestServer) -> None:
    with ConnectionPool(keepalive_expiry=0) as pool:
        ids = {get(pool, server.url).connection_id for _ in range(3)}
        assert len(ids) == 3
        stats = consistent_stats(pool)
        assert stats["idle"] == 0 and stats["closed"] == 3 and stats["reused"] == 0


# -- rule 7: limits ----------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_threads_respect_the_per_host_limit(
    no_fd_leak: None, server: TestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    sockets = OpenSockets(monkeypatch, {server.port})
    wrong: list[str] = []
    with ConnectionPool(max_connections_per_host=4) as pool:

        def work(t: int) -> None:
            for i in range(50):
                with pool.request("GET", f"{server.url}/t{t}/{i}") as resp:
                    body = resp.read()
                if resp.status_code != 200 or not body.startswith(f"GET /t{t}/{i} conn=".encode()):
                    wrong.append(f"/t{t}/{i} got {resp.status_code} {body!r}")

        errors = run_threads(work, 32, timeout=50)
        assert not errors, errors[:3]
        assert not wrong, wrong[:3]
        assert server.max_open_connections <= 4
        assert sockets.peak <= 4
        assert len(server.requests) == 32 * 50
        stats = consistent_stats(pool)
        assert stats["requests"] == 1600 and stats["opened"] <= 4
        assert stats["reused"] == 1600 - stats["opened"] and stats["active"] == 0


@pytest.mark.timeout(60)
def test_threads_respect_the_total_limit_across_origins(
    no_fd_leak: None, make_server: MakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Connections move between the origins all the time (an idle one of one origin is
    # closed to make room for the other), so only the client's own count is exact here:
    # the server threads notice a close a little after the next connection is accepted.
    a, b = make_server(), make_server()
    sockets = OpenSockets(monkeypatch, {a.port, b.port})
    wrong: list[str] = []
    with ConnectionPool(max_connections=3, max_connections_per_host=3) as pool:

        def work(t: int) -> None:
            for i in range(30):
                srv, name = (a, "a") if (t + i) % 2 else (b, "b")
                with pool.request("GET", f"{srv.url}/{name}/{t}/{i}") as resp:
                    body = resp.read()
                if not body.startswith(f"GET /{name}/{t}/{i} conn=".encode()):
                    wrong.append(f"/{name}/{t}/{i} got {body!r}")

        errors = run_threads(work, 16, timeout=50)
        assert not errors, errors[:3]
        assert not wrong, wrong[:3]
        assert sockets.peak <= 3, f"{sockets.peak} sockets open at once, limit 3"
        assert len(a.requests) + len(b.requests) == 16 * 30
        stats = consistent_stats(pool)
        assert stats["idle"] <= 3 and stats["active"] == 0 and stats["requests"] == 16 * 30
        assert stats["opened"] > 3  # origins really did take connections from each other


def test_pool_timeout_when_a_stream_holds_the_only_slot(server: TestServer) -> None:
    with ConnectionPool(max_connections_per_host=1, timeout=keepalive.Timeout(pool=0.2)) as pool:
        held = pool.request("GET", f"{server.url}/held")
        started = time.monotonic()
        with pytest.raises(keepalive.PoolTimeout) as info:
            pool.request("GET", f"{server.url}/blocked")
        waited = time.monotonic() - started
        assert 0.15 <= waited < 0.6, waited
        assert isinstance(info.value, TimeoutError) and str(server.port) in str(info.value)
        assert [r.target for r in server.requests] == ["/held"]
        held.read()
        after = get(pool, f"{server.url}/after")
        assert after.reused and after.connection_id == held.connection_id


@pytest.mark.timeout(10)
def test_pool_timeout_is_real_time_even_with_an_injected_clock(server: TestServer) -> None:
    # The clock drives idle expiry; a caller's pool timeout is still wall-clock seconds.
    clock = FakeClock()
    pool = ConnectionPool(
        max_connections_per_host=1, timeout=keepalive.Timeout(pool=0.2), clock=clock
    )
    held = pool.request("GET", server.url)
    outcome: list[BaseException | RawResponse] = []

    def blocked() -> None:
        try:
            outcome.append(get(pool, server.url))
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=blocked, daemon=True)
    thread.start()
    thread.join(2.0)
    timed_out = not thread.is_alive()
    held.read()  # frees the slot, so a still-waiting thread can finish
    thread.join(5.0)
    pool.close()
    assert timed_out, "a 0.2 s pool timeout did not fire within 2 s"
    assert len(outcome) == 1 and isinstance(outcome[0], keepalive.PoolTimeout)


def test_waiter_gets_a_connection_once_the_total_limit_frees(make_server: MakeServer) -> None:
    a, b = make_server(), make_server()
    with ConnectionPool(
        max_connections=2, max_connections_per_host=2, timeout=keepalive.Timeout(pool=5)
    ) as pool:
        r1 = pool.request("GET", f"{a.url}/1")
        r2 = pool.request("GET", f"{a.url}/2")
        got: list[RawResponse] = []
        waiter = threading.Thread(target=lambda: got.append(get(pool, f"{b.url}/b")), daemon=True)
        waiter.start()
        time.sleep(0.3)
        assert waiter.is_alive() and b.connections == 0  # the total limit holds it back
        r1.read()  # a connection goes idle; the waiter closes it to make room
        waiter.join(5)
        assert not waiter.is_alive() and got and got[0].content == b"GET /b conn=1"
        r2.read()
        stats = consistent_stats(pool)
        assert stats["opened"] == 3 and stats["closed"] == 1 and stats["idle"] == 2
        assert wait_until(lambda: a.open_connections == 1)


def test_total_limit_closes_the_oldest_idle_connection_instead_of_waiting(
    make_server: MakeServer,
) -> None:
    a, b, c = make_server(), make_server(), make_server()
    with ConnectionPool(max_connections=2, timeout=keepalive.Timeout(pool=2)) as pool:
        get(pool, a.url)
        on_b = get(pool, b.url)  # a's connection is now the oldest idle one
        started = time.monotonic()
        on_c = get(pool, c.url)
        assert time.monotonic() - started < 1.0, "waited instead of closing an idle connection"
        assert on_c.content == b"GET / conn=1"
        stats = consistent_stats(pool)
        assert stats["opened"] == 3 and stats["closed"] == 1 and stats["idle"] == 2
        assert wait_until(lambda: a.open_connections == 0), "the oldest (a) was not closed"
        assert b.open_connections == 1
        again_b = get(pool, b.url)
        assert again_b.reused and again_b.connection_id == on_b.connection_id


@pytest.mark.parametrize(
    ("size", "kept"), [(1 * KiB, True), (1 * MiB, False)], ids=["kept", "retired"]
)
def test_closing_a_held_response_wakes_a_waiter(
    make_server: MakeServer, size: int, kept: bool
) -> None:
    srv = make_server(lambda req, side: Reply(200, body=naming(req).ljust(size, b".")))
    with ConnectionPool(max_connections_per_host=1, timeout=keepalive.Timeout(pool=5)) as pool:
        held = pool.request("GET", f"{srv.url}/held")
        got: list[RawResponse] = []
        waiter = threading.Thread(target=lambda: got.append(get(pool, f"{srv.url}/w")), daemon=True)
        waiter.start()
        time.sleep(0.2)
        assert waiter.is_alive() and len(srv.requests) == 1
        started = time.monotonic()
        held.close()  # unread: a small body is drained and kept, a large one retires
        waiter.join(5)
        assert not waiter.is_alive() and time.monotonic() - started < 1.0
        assert got and got[0].content.startswith(b"GET /w conn=")
        assert (got[0].connection_id == held.connection_id) == kept
        assert got[0].reused == kept
        stats = consistent_stats(pool)
        assert stats["opened"] == (1 if kept else 2) and stats["active"] == 0


# -- failures free their slot --------------------------------------------------------------------


def test_connect_failure_frees_the_slot() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens here now
    with ConnectionPool(max_connections_per_host=1, timeout=keepalive.Timeout(pool=0.2)) as pool:
        for _ in range(3):  # a lost slot would turn the later attempts into PoolTimeout
            with pytest.raises(keepalive.ConnectError) as info:
                pool.request("GET", f"http://127.0.0.1:{port}/")
            assert not isinstance(info.value, keepalive.PoolTimeout)
        stats = consistent_stats(pool)
        assert stats == {**stats, "opened": 0, "closed": 0, "active": 0, "idle": 0, "retries": 0}


def test_tls_failure_frees_the_slot(tls_server: TestServer) -> None:
    with ConnectionPool(max_connections_per_host=1, timeout=keepalive.Timeout(pool=0.2)) as pool:
        for _ in range(3):
            with pytest.raises(keepalive.TLSError):
                pool.request("GET", tls_server.url)  # the system store lacks the test CA
        assert get(pool, tls_server.url, verify=False).status_code == 200
        assert consistent_stats(pool)["active"] == 0


@pytest.mark.parametrize("failure", ["closed-mid-body", "read-timeout"])
def test_failure_while_reading_frees_the_slot(make_server: MakeServer, failure: str) -> None:
    def app(req: ReceivedRequest, side: ServerSide) -> Reply | None:
        if req.target == "/ok":
            return echo(req, side)
        side.send_raw(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
        if failure == "closed-mid-body":
            side.close()
        else:
            time.sleep(0.6)
        return None

    srv = make_server(app)
    with ConnectionPool(
        max_connections_per_host=1, timeout=keepalive.Timeout(read=0.2, pool=0.5)
    ) as pool:
        resp = pool.request("GET", f"{srv.url}/bad")
        expected = (
            keepalive.RemoteProtocolError if failure == "closed-mid-body" else keepalive.ReadTimeout
        )
        with pytest.raises(expected):
            resp.read()
        stats = consistent_stats(pool)
        assert stats["active"] == 0 and stats["idle"] == 0 and stats["closed"] == 1
        after = get(pool, f"{srv.url}/ok")
        assert after.content == b"GET /ok conn=2" and not after.reused


# -- rule 8: release ---------------------------------------------------------------------------


@pytest.mark.parametrize("chunked", [False, True], ids=["length", "chunked"])
@pytest.mark.parametrize(
    ("size", "consume", "kept"),
    [(10 * KiB, 100, True), (100 * KiB, 60 * KiB, True), (5 * MiB, 100, False)],
    ids=["small", "small-remainder-of-large", "large-remainder"],
)
def test_closing_a_partly_read_response(
    make_server: MakeServer,
    pool: ConnectionPool,
    size: int,
    consume: int,
    kept: bool,
    chunked: bool,
) -> None:
    payload = os.urandom(size)
    pieces = [payload[i : i + 16 * KiB] for i in range(0, size, 16 * KiB)]
    srv = make_server(
        lambda req, side: Reply(200, body=pieces if chunked else payload, chunked=chunked)
    )
    with pool.request("GET", srv.url) as resp:
        got = b""
        for chunk in resp.iter_bytes(chunk_size=100):
            got += chunk
            if len(got) >= consume:
                break
        assert payload.startswith(got)
    stats = consistent_stats(pool)
    assert stats["active"] == 0
    assert stats["idle"] == (1 if kept else 0) and stats["closed"] == (0 if kept else 1)
    after = get(pool, srv.url)
    assert after.content == payload
    assert after.reused == kept and (after.connection_id == resp.connection_id) == kept


@pytest.mark.parametrize(("size", "kept"), [(10 * KiB, True), (5 * MiB, False)])
def test_exception_inside_with_block_releases_the_connection(
    make_server: MakeServer, pool: ConnectionPool, size: int, kept: bool
) -> None:
    srv = make_server(lambda req, side: Reply(200, body=b"x" * size))
    with pytest.raises(RuntimeError, match="user code"), pool.request("GET", srv.url) as resp:
        next(resp.iter_bytes(chunk_size=10))
        raise RuntimeError("user code failed")
    stats = consistent_stats(pool)
    assert stats["active"] == 0 and stats["idle"] == (1 if kept else 0)
    assert get(pool, srv.url).reused == kept


def test_dropped_unread_response_does_not_hold_its_slot(server: TestServer) -> None:
    with ConnectionPool(max_connections_per_host=1, timeout=keepalive.Timeout(pool=1.0)) as pool:
        resp = pool.request("GET", f"{server.url}/dropped")
        dropped_id = resp.connection_id
        del resp  # never read, never closed
        gc.collect()
        after = get(pool, f"{server.url}/after")
        assert after.content == b"GET /after conn=2" and after.connection_id != dropped_id
        stats = consistent_stats(pool)
        assert stats["active"] == 0 and stats["idle"] == 1


def test_pool_close_leaks_no_descriptor(
    no_fd_leak: None, make_server: MakeServer, ca_path: str
) -> None:
    plain = make_server(lambda req, side: Reply(200, body=b"x" * MiB))
    secure = make_server(tls=True)
    pool = ConnectionPool(verify=ca_path)
    for _ in range(3):
        get(pool, plain.url)
        get(pool, secure.url)
    held = pool.request("GET", plain.url)  # still streaming when the pool closes
    held_too = pool.request("GET", plain.url)
    pool.close()
    with pytest.raises(keepalive.TransportError):
        held.read()
    with pytest.raises(keepalive.TransportError):
        held_too.read()
    stats = pool.stats()
    assert stats["idle"] == 0 and stats["active"] == 0 and stats["opened"] == stats["closed"]


# -- rule 9: fork ------------------------------------------------------------------------------


@pytest.mark.timeout(20)
def test_child_after_fork_opens_its_own_connection(server: TestServer) -> None:
    pool = ConnectionPool(timeout=5.0)
    before = get(pool, f"{server.url}/parent")
    opened_before_fork = pool.stats()["opened"]
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report through the pipe, never return into pytest
        code = 1
        try:
            os.close(read_end)
            resp = get(pool, f"{server.url}/child")
            report = {
                "id": resp.connection_id,
                "reused": resp.reused,
                "body": resp.content.decode(),
                "stats": pool.stats(),
            }
            os.write(write_end, json.dumps(report).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    data = b""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        ready, _, _ = select.select([read_end], [], [], 0.1)
        if ready:
            piece = os.read(read_end, 65536)
            if not piece:
                break
            data += piece
    os.close(read_end)
    status = None
    while time.monotonic() < deadline + 5:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.01)
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    assert status == 0, f"child exited with status {status}"
    child = json.loads(data)
    assert child["id"] != before.connection_id and not child["reused"]
    assert child["body"] == "GET /child conn=2"
    child_stats = child["stats"]
    # counts since creation carry over; the inherited connection must not stay counted
    assert child_stats["opened"] == opened_before_fork + 1
    assert child_stats["idle"] == 1 and child_stats["active"] == 0
    assert child_stats["opened"] - child_stats["closed"] == 1, child_stats
    # the parent's socket survived the child closing its inherited copy
    after = get(pool, f"{server.url}/parent-again")
    assert after.reused and after.connection_id == before.connection_id
    assert after.content == b"GET /parent-again conn=1"
    assert server.connections == 2
    pool.close()


# -- statistics and closing -------------------------------------------------------------------


def test_stats_add_up_after_a_mixed_sequence(make_server: MakeServer, pool: ConnectionPool) -> None:
    def app(req: ReceivedRequest, side: ServerSide) -> Reply:
        if req.target == "/close":
            return Reply(200, body=b"bye", close=True)
        if req.target == "/big":
            return Reply(200, body=b"x" * MiB)
        if req.target == "/max0":
            return Reply(200, [("Keep-Alive", "timeout=5, max=0")], b"last")
        return Reply(200, body=b"ok")

    a, b = make_server(app), make_server(app)
    get(pool, a.url)  # A1 opened, idle
    consistent_stats(pool)
    get(pool, f"{a.url}/close")  # A1 reused, then retired
    consistent_stats(pool)
    held = pool.request("GET", a.url)  # A2 opened, active
    assert consistent_stats(pool)["active"] == 1
    pool.request("GET", f"{a.url}/big").close()  # A3 opened, closed with 1 MiB unread
    consistent_stats(pool)
    get(pool, f"{b.url}/max0")  # B1 opened, retired on max=0
    consistent_stats(pool)
    get(pool, b.url)  # B2 opened, idle
    with pytest.raises(keepalive.LocalProtocolError):
        pool.request("GET", b.url, headers=[("X-Bad", "a\r\nInjected: 1")])
    consistent_stats(pool)
    held.read()  # A2 idle
    stats = consistent_stats(pool)
    assert stats == {
        "opened": 5,
        "closed": 3,
        "reused": 1,
        "requests": 6,
        "retries": 0,
        "idle": 2,
        "active": 0,
    }
    assert get(pool, b.url).reused  # the refused request left B2 usable


def test_closed_pool_raises_pool_closed(server: TestServer) -> None:
    pool = ConnectionPool()
    get(pool, server.url)
    pool.close()
    with pytest.raises(keepalive.PoolClosed):
        pool.request("GET", server.url)
    assert isinstance(keepalive.PoolClosed("x"), keepalive.KeepaliveError)
    stats = consistent_stats(pool)
    assert stats["idle"] == 0 and stats["closed"] == stats["opened"] == 1
    pool.close()  # closing twice is harmless
    assert wait_until(lambda: server.open_connections == 0)


def test_closing_the_pool_wakes_waiters(server: TestServer) -> None:
    pool = ConnectionPool(max_connections_per_host=1, timeout=keepalive.Timeout(pool=5))
    held = pool.request("GET", server.url)
    raised: list[BaseException] = []

    def wait_for_slot() -> None:
        try:
            pool.request("GET", server.url)
        except BaseException as exc:
            raised.append(exc)

    waiter = threading.Thread(target=wait_for_slot, daemon=True)
    waiter.start()
    time.sleep(0.2)
    started = time.monotonic()
    pool.close()
    waiter.join(3)
    assert not waiter.is_alive() and time.monotonic() - started < 1.0
    assert len(raised) == 1 and isinstance(raised[0], keepalive.PoolClosed)
    del held


# -- logging -----------------------------------------------------------------------------------


def test_logging_tells_the_story_at_debug(
    make_server: MakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="keepalive")
    srv = make_server()
    clock = FakeClock()
    with ConnectionPool(keepalive_expiry=5.0, clock=clock) as pool:
        get(pool, srv.url)
        get(pool, srv.url)
        clock.advance(6.0)
        get(pool, srv.url)  # the idle one expired: retired, then a new one opened
    records = [r for r in caplog.records if r.name.startswith("keepalive")]
    messages = [r.getMessage() for r in records]
    assert sum("opened" in m for m in messages) == 2, messages
    assert any("reused" in m for m in messages), messages
    retired = [m for m in messages if "retired" in m]
    assert retired and any("expir" in m for m in retired), messages
    loud = [(r.levelname, r.getMessage()) for r in records if r.levelno >= logging.INFO]
    assert not loud, f"the normal path logged at INFO or above: {loud}"

    caplog.clear()
    racy = make_server(dies_on_reuse())
    with ConnectionPool() as pool:
        get(pool, racy.url)
        get(pool, racy.url)
    retries = [r for r in caplog.records if "retrying" in r.getMessage()]
    assert len(retries) == 1 and retries[0].levelno == logging.DEBUG
    assert racy.url.split("//")[1] in retries[0].getMessage()


# -- the core split's regressions and the learned idle timeout -------------------------------


def test_keepalive_hint_counts_from_the_responses_arrival(make_server: MakeServer) -> None:
    """A streamed body read late: the server's idle deadline started when it answered, not
    when the caller finished reading (a Node server with timeout=5 was reused 5.5 s after
    its response)."""
    srv = make_server(lambda req, side: Reply(200, [("Keep-Alive", "timeout=2")], naming(req)))
    with ConnectionPool() as pool:
        first = pool.request("GET", f"{srv.url}/1")
        time.sleep(1.2)  # the hint allows 2 - 1 = 1 s from the response's arrival
        first.read()
        second = get(pool, f"{srv.url}/2")
        assert not second.reused and second.connection_id != first.connection_id
        stats = consistent_stats(pool)
        assert stats["closed"] == 1 and stats["retries"] == 0


def test_idempotency_key_given_as_bytes_is_seen(
    make_server: MakeServer, pool: ConnectionPool
) -> None:
    srv = make_server(dies_on_reuse())
    get(pool, f"{srv.url}/a")
    resp = pool.request(
        "POST", f"{srv.url}/p", headers=[(b"Idempotency-Key", b"k-2")], body=b"payload"
    )
    assert resp.read() == b"POST /p conn=2payload"
    assert pool.stats()["retries"] == 1


def test_the_race_raises_server_disconnected_for_a_post(
    make_server: MakeServer, pool: ConnectionPool
) -> None:
    srv = make_server(dies_on_reuse(reset=True))
    get(pool, f"{srv.url}/a")
    with pytest.raises(keepalive.ServerDisconnected) as info:
        pool.request("POST", f"{srv.url}/p", body=b"payload")
    assert info.value.reused and info.value.may_have_been_processed


class IdleTimeoutApp:
    """A server that silently closes connections idle for ``timeout`` or more on the test's
    fake clock, discovered only when the next request arrives (the keep-alive race, every
    time it applies); no Keep-Alive hint, like most servers."""

    def __init__(self, clock: FakeClock, timeout: float) -> None:
        self.clock = clock
        self.timeout = timeout
        self.last_answer: dict[int, float] = {}

    def __call__(self, req: ReceivedRequest, side: ServerSide) -> Reply | None:
        last = self.last_answer.get(req.connection)
        if last is not None and self.clock.now - last >= self.timeout:
            side.close()
            return None
        self.last_answer[req.connection] = self.clock.now
        return Reply(200, body=naming(req) + req.body)


def test_the_pool_learns_an_origins_idle_timeout(make_server: MakeServer) -> None:
    clock = FakeClock()
    app = IdleTimeoutApp(clock, timeout=4.5)
    srv = make_server(app)
    with ConnectionPool(clock=clock, keepalive_expiry=None) as pool:
        get(pool, f"{srv.url}/a")
        clock.advance(5.0)
        with pytest.raises(keepalive.ServerDisconnected):  # the first race: nothing known
            pool.request("POST", f"{srv.url}/p", body=b"1")
        assert pool.idle_timeouts() == {f"http://127.0.0.1:{srv.port}": 5.0}
        failures = 0
        for step in [4.6, 3.0, 4.0, 5.5, 3.7, 4.4, 6.0, 1.0, 4.49, 3.76]:
            get(pool, f"{srv.url}/g")
            clock.advance(step)
            try:
                resp = pool.request("POST", f"{srv.url}/p", body=b"2")
                assert resp.read().endswith(b"2")
            except keepalive.ServerDisconnected:
                failures += 1
        assert failures == 0, "no POST may meet the race once the timeout was learned"
        # Connections idle below the learned limit (5 - 1.25 s) are still reused.
        get(pool, f"{srv.url}/g")
        clock.advance(3.0)
        assert get(pool, f"{srv.url}/r").reused
        consistent_stats(pool)


def test_a_close_contradicted_by_a_longer_survival_is_not_learned(
    make_server: MakeServer,
) -> None:
    clock = FakeClock()
    closes = {"next": False}

    def app(req: ReceivedRequest, side: ServerSide) -> Reply | None:
        if closes["next"] and req.index_on_connection > 1:
            closes["next"] = False
            side.close()  # a close for some other reason than idleness
            return None
        return Reply(200, body=naming(req))

    srv = make_server(app)
    with ConnectionPool(clock=clock, keepalive_expiry=None) as pool:
        get(pool, f"{srv.url}/a")
        clock.advance(10.0)
        assert get(pool, f"{srv.url}/b").reused  # survived 10 s idle
        clock.advance(2.0)
        closes["next"] = True
        get(pool, f"{srv.url}/c")  # the race at 2 s: retried, and not learned
        assert pool.idle_timeouts() == {}
        assert pool.stats()["retries"] == 1
