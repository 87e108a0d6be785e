"""The connection's limits and edge cases over real loopback sockets: head size, interim
responses, bounded drain, an early final response to an upload, a CONNECT deadline, readiness
above descriptor 1023, and waking a blocked reader."""

from __future__ import annotations

import resource
import socket
import threading
import time

import pytest
from conftest import MakeServer
from testserver import ReceivedRequest, Reply, ServerSide, TestServer

import keepalive
from keepalive import HTTPConnection

KiB = 1024
MiB = 1024 * KiB


def conn_for(server: TestServer, **kw: object) -> HTTPConnection:
    return HTTPConnection(server.host, server.port, scheme=server.scheme, **kw)  # type: ignore[arg-type]


def raw_app(payload: bytes) -> object:
    def app(request: ReceivedRequest, side: ServerSide) -> None:
        side.send_raw(payload)
        return None

    return app


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 200 " + b"x" * (120 * KiB) + b"\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: a" + b" " * (120 * KiB) + b"b\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n" + b"X-Many: yes\r\n" * 6000 + b"Content-Length: 0\r\n\r\n",
    ],
    ids=["long reason", "whitespace in a field", "many fields"],
)
def test_every_byte_of_the_head_counts_against_64_kib(
    make_server: MakeServer, head: bytes
) -> None:
    server = make_server(raw_app(head))  # type: ignore[arg-type]
    conn = conn_for(server)
    with pytest.raises(keepalive.RemoteProtocolError, match="64 KiB"):
        conn.request("GET", "/")
    assert conn.is_closed


def test_a_head_just_under_the_limit_is_accepted(make_server: MakeServer) -> None:
    head = b"HTTP/1.1 200 OK\r\nX: " + b"v" * (60 * KiB) + b"\r\nContent-Length: 2\r\n\r\nok"
    server = make_server(raw_app(head))  # type: ignore[arg-type]
    conn = conn_for(server)
    with conn.request("GET", "/") as resp:
        assert resp.read() == b"ok"
        assert len(resp.headers["x"]) == 60 * KiB
    conn.close()


def test_endless_interim_responses_are_refused(make_server: MakeServer) -> None:
    def app(request: ReceivedRequest, side: ServerSide) -> None:
        side.send_raw(b"HTTP/1.1 103 Early Hints\r\n\r\n" * 10_000)
        return None

    conn = conn_for(make_server(app))
    with pytest.raises(keepalive.RemoteProtocolError, match="interim"):
        conn.request("GET", "/")
    assert conn.is_closed


def test_a_few_interim_responses_are_skipped(make_server: MakeServer) -> None:
    server = make_server(lambda req, side: Reply(200, body=b"done", interim=[103, 103, 102]))
    conn = conn_for(server)
    with conn.request("GET", "/") as resp:
        assert resp.status_code == 200 and resp.read() == b"done"
    assert conn.is_reusable
    conn.close()


def dripping_app(body_size: int, step: float) -> object:
    """Announces ``body_size`` bytes and sends one byte every ``step`` seconds."""

    def app(request: ReceivedRequest, side: ServerSide) -> None:
        side.send_raw(f"HTTP/1.1 200 OK\r\nContent-Length: {body_size}\r\n\r\n".encode())
        for _ in range(body_size):
            if side.closed:
                return None
            side.send_raw(b"x")
            time.sleep(step)
        return None

    return app


def test_early_close_drains_for_at_most_a_second_in_all(make_server: MakeServer) -> None:
    # 100 bytes, one every 0.2 s: each read is quick, but the whole remainder takes 20 s.
    server = make_server(dripping_app(100, 0.2))  # type: ignore[arg-type]
    conn = conn_for(server)
    resp = conn.request("GET", "/")
    started = time.monotonic()
    resp.close()
    assert time.monotonic() - started < 3.0, "the drain is bounded by one second in all"
    assert conn.is_closed and "error or timeout" in conn.close_reason


def test_drain_uses_the_requests_read_timeout(make_server: MakeServer) -> None:
    def stall(request: ReceivedRequest, side: ServerSide) -> None:
        side.send_raw(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab")
        time.sleep(3)
        return None

    conn = conn_for(make_server(stall), timeout=keepalive.Timeout(30.0))
    resp = conn.request("GET", "/", timeout=keepalive.Timeout(read=0.2))
    started = time.monotonic()
    resp.close()
    assert time.monotonic() - started < 0.9, "the request's 0.2 s read timeout, not 1 s"
    assert conn.is_closed


def test_an_early_final_response_to_an_upload_is_returned(make_server: MakeServer) -> None:
    """A server that answers 413 and closes while a large upload is still going out: the
    caller gets the 413 (as with requests and httpx), not the write error."""

    def refuse(side: ServerSide) -> bool:
        side.sock.settimeout(5)
        side.sock.recv(1024)  # a little of the head, then the verdict
        side.send_raw(
            b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 3\r\n"
            b"Connection: close\r\n\r\nbig"
        )
        side.close()
        return False

    server = make_server(on_connect=refuse)
    conn = conn_for(server)
    with conn.request("POST", "/upload", body=b"x" * (20 * MiB)) as resp:
        assert resp.status_code == 413
        assert resp.read() == b"big"
    assert conn.is_closed


def test_connect_tunnel_answer_is_bounded_by_the_connect_timeout() -> None:
    """A proxy that drips its CONNECT answer a byte at a time cannot stretch the connect
    timeout (each read used to get the whole timeout afresh)."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def proxy() -> None:
        sock, _ = listener.accept()
        with sock:
            sock.recv(4096)
            for byte in b"HTTP/1.1 200 Connection established\r\n\r\n":
                if stop.wait(0.2):
                    return
                try:
                    sock.sendall(bytes([byte]))
                except OSError:
                    return

    thread = threading.Thread(target=proxy, daemon=True)
    thread.start()
    conn = HTTPConnection(
        "origin.test", 443, scheme="https",
        proxy=keepalive.Proxy("127.0.0.1", port),
        timeout=keepalive.Timeout(connect=1.0, read=5, write=5, pool=5),
    )  # fmt: skip
    started = time.monotonic()
    try:
        with pytest.raises(keepalive.ConnectTimeout):
            conn.request("GET", "/")
        assert time.monotonic() - started < 3.0
    finally:
        stop.set()
        conn.close()
        thread.join(5)
        listener.close()


def test_expect_continue_works_above_descriptor_1023(make_server: MakeServer) -> None:
    """``select`` fails for descriptors above 1023; readiness uses ``poll``."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 1200
    if soft < need:
        assert hard == resource.RLIM_INFINITY or hard >= need, (
            f"this test needs RLIMIT_NOFILE >= {need} (hard limit is {hard}): raise it"
        )
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    server = make_server(lambda req, side: Reply(200, body=req.body, interim=[100]))
    fillers = []
    try:
        probe = socket.socket()
        fillers.append(probe)
        while probe.fileno() < 1030:
            probe = socket.socket()
            fillers.append(probe)
        conn = conn_for(server)
        body = b"y" * (100 * KiB)
        with conn.request(
            "PUT", "/", headers=[("Expect", "100-continue")], body=body
        ) as resp:
            assert conn._stream is not None
            assert resp.read() == body
        conn.close()
    finally:
        for sock in fillers:
            sock.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_pool_close_wakes_a_reader_blocked_in_another_thread(make_server: MakeServer) -> None:
    release = threading.Event()

    def stall(request: ReceivedRequest, side: ServerSide) -> None:
        side.send_raw(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nab")
        release.wait(10)
        return None

    server = make_server(stall)
    pool = keepalive.ConnectionPool(timeout=keepalive.Timeout(30.0))
    resp = pool.request("GET", server.url)
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            resp.read()
        except BaseException as exc:  # recorded for the assertion
            errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    time.sleep(0.2)  # the reader is now blocked in recv
    pool.close()
    thread.join(5)
    release.set()
    assert not thread.is_alive(), "close() from another thread must wake the blocked reader"
    assert len(errors) == 1 and isinstance(errors[0], keepalive.TransportError)
    assert pool.stats()["active"] == 0


def test_a_refused_request_keeps_the_idle_connection(server: TestServer) -> None:
    conn = conn_for(server)
    conn.request("GET", "/").read()
    with pytest.raises(keepalive.LocalProtocolError):
        conn.request("GET", "/", headers=[("X-Bad", "a\r\nInjected: yes")])
    assert conn.is_reusable
    with conn.request("GET", "/again") as resp:
        assert resp.reused and resp.read().startswith(b"GET /again")
    conn.close()
    assert server.connections == 1


def test_server_disconnected_is_exported_and_says_what_was_sent(make_server: MakeServer) -> None:
    def close_at_second(request: ReceivedRequest, side: ServerSide) -> Reply | None:
        if request.index_on_connection == 2:
            side.close()
            return None
        return Reply(200, body=b"one")

    conn = conn_for(make_server(close_at_second))
    conn.request("GET", "/").read()
    with pytest.raises(keepalive.ServerDisconnected) as info:
        conn.request("POST", "/", body=b"data")
    assert info.value.reused and info.value.request_sent
    assert info.value.may_have_been_processed
    assert isinstance(info.value, keepalive.RemoteProtocolError)


@pytest.mark.parametrize(
    "headers",
    [[(5, "v")], [("X", 5)], [("X", None)], [("X-A", "1", "2")], [("Content-Length", 1)]],
    ids=["int name", "int value", "None value", "triple", "int content-length"],
)
def test_a_wrongly_typed_header_keeps_the_pool_slot(
    server: TestServer, headers: list[tuple[object, ...]]
) -> None:
    with keepalive.ConnectionPool(
        max_connections_per_host=1, timeout=keepalive.Timeout(5, pool=0.5)
    ) as pool:
        with pytest.raises(keepalive.InvalidArgumentType):
            pool.request("POST", server.url, headers=headers, body=b"x")  # type: ignore[arg-type]
        assert pool.stats()["active"] == 0
        with pool.request("GET", server.url) as resp:  # no PoolTimeout: the slot is free
            assert resp.read().startswith(b"GET /")


def test_a_body_read_whole_keeps_the_read_timeouts_meaning(make_server: MakeServer) -> None:
    """Reading a large body whole asks the kernel to gather big pieces (SO_RCVLOWAT); a
    server that trickles slower than that but faster than the read timeout must still be
    read to the end, never timed out."""
    body = bytes(range(256)) * (2400)  # 600 KiB: past the direct-read threshold

    def trickle(request: ReceivedRequest, side: ServerSide) -> None:
        side.send_raw(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body))
        side.send_raw(body[: 300 * KiB])
        pos = 300 * KiB
        for _ in range(8):  # 1 KiB every 0.15 s: far below any low-water mark
            side.send_raw(body[pos : pos + KiB])
            pos += KiB
            time.sleep(0.15)
        side.send_raw(body[pos:])
        return None

    conn = conn_for(make_server(trickle), timeout=keepalive.Timeout(5, read=0.5))
    with conn.request("GET", "/") as resp:
        assert resp.read() == body
    assert conn.is_reusable
    conn.close()


def test_a_streamed_large_body_is_not_held_back(make_server: MakeServer) -> None:
    """Gathering big reads must not delay a stream: what arrived is handed over within
    moments, not after the read timeout."""
    body = b"z" * (600 * KiB)
    got_first_part = threading.Event()
    in_time: list[bool] = []

    def halves(request: ReceivedRequest, side: ServerSide) -> None:
        side.send_raw(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body))
        side.send_raw(body[: 300 * KiB])
        in_time.append(got_first_part.wait(3))  # the client must see it without the rest
        side.send_raw(body[300 * KiB :])
        return None

    conn = conn_for(make_server(halves), timeout=keepalive.Timeout(10))
    received = 0
    with conn.request("GET", "/") as resp:
        for chunk in resp.iter_bytes():
            received += len(chunk)
            if received >= 300 * KiB:
                got_first_part.set()
    conn.close()
    assert received == len(body) and in_time == [True]
