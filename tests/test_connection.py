"""HTTPConnection over real loopback sockets: reuse, framing, TLS, errors, timings."""

from __future__ import annotations

import io
import os
import socket
import ssl
import time

import pytest
from conftest import MakeServer
from testserver import ReceivedRequest, Reply, ServerSide, TestServer

import keepalive
from keepalive import ConnectionState, HTTPConnection

MiB = 1024 * 1024


def conn_for(server: TestServer, **kw: object) -> HTTPConnection:
    return HTTPConnection(server.host, server.port, scheme=server.scheme, **kw)  # type: ignore[arg-type]


def test_hundred_requests_share_one_connection(no_fd_leak: None, server: TestServer) -> None:
    conn = conn_for(server)
    for i in range(100):
        with conn.request("GET", f"/n/{i}") as resp:
            assert resp.status_code == 200
            assert resp.read() == f"GET /n/{i} conn=1".encode()
            assert resp.reused == (i > 0)
            assert resp.connection_id == conn.id
        assert conn.is_reusable
    conn.close()
    assert server.connections == 1
    assert len(server.requests) == 100
    assert conn.request_count == 100


def test_repr_tells_state(server: TestServer) -> None:
    conn = conn_for(server)
    assert "NEW" in repr(conn)
    resp = conn.request("GET", "/")
    assert "ACTIVE" in repr(conn) and conn.state is ConnectionState.ACTIVE
    resp.read()
    assert "IDLE" in repr(conn) and "requests: 1" in repr(conn)
    conn.close()
    assert "CLOSED" in repr(conn)


def test_host_header_added_once(server: TestServer) -> None:
    conn = conn_for(server)
    conn.request("GET", "/").read()
    conn.request("GET", "/", headers=[("host", "example.test")]).read()
    conn.close()
    first, second = server.requests
    assert first.header_list("host") == [f"127.0.0.1:{server.port}"]
    assert second.header_list("host") == ["example.test"]


@pytest.mark.parametrize("size", [0, 1, 64 * 1024, 10 * MiB])
@pytest.mark.parametrize("chunked", [False, True], ids=["length", "chunked"])
def test_bodies_both_directions(make_server: MakeServer, size: int, chunked: bool) -> None:
    payload = os.urandom(size)

    def app(req: ReceivedRequest, side: ServerSide) -> Reply:
        assert req.body == payload
        assert req.chunked == chunked
        pieces = [payload[i : i + 100_000] for i in range(0, len(payload), 100_000)]
        return Reply(200, body=pieces if chunked else payload, chunked=chunked)

    server = make_server(app)
    conn = conn_for(server)
    for _ in range(2):  # twice: the second cycle proves the first left the stream clean
        body: object = payload
        if chunked:
            body = iter([payload[i : i + 65_536] for i in range(0, size, 65_536)])
        with conn.request("POST", "/echo", body=body) as r:  # type: ignore[arg-type]
            assert r.read() == payload
    conn.close()
    assert server.connections == 1


def test_file_body_sent_with_content_length(server: TestServer, tmp_path: object) -> None:
    conn = conn_for(server)
    data = os.urandom(200_000)
    conn.request("PUT", "/f", body=io.BytesIO(data)).read()
    conn.close()
    req = server.requests[0]
    assert req.body == data and req.header("content-length") == str(len(data))
    assert not req.chunked


def test_unknown_length_file_is_chunked(server: TestServer) -> None:
    r, w = os.pipe()
    os.write(w, b"abc" * 1000)
    os.close(w)
    with os.fdopen(r, "rb") as pipe:
        conn = conn_for(server)
        conn.request("POST", "/p", body=pipe).read()
        conn.close()
    assert server.requests[0].chunked and server.requests[0].body == b"abc" * 1000


def test_iter_bytes_with_chunk_size(make_server: MakeServer) -> None:
    payload = os.urandom(100_000)
    server = make_server(lambda req, side: Reply(200, body=payload))
    conn = conn_for(server)
    with conn.request("GET", "/") as resp:
        chunks = list(resp.iter_bytes(chunk_size=4096))
    assert b"".join(chunks) == payload
    assert all(len(c) == 4096 for c in chunks[:-1])
    assert conn.is_reusable
    with pytest.raises(keepalive.StreamConsumed):
        resp.read()
    conn.close()


@pytest.mark.parametrize(("method", "status"), [("HEAD", 200), ("GET", 204), ("GET", 304)])
def test_responses_without_body(make_server: MakeServer, method: str, status: int) -> None:
    def app(req: ReceivedRequest, side: ServerSide) -> Reply:
        if status == 200:
            return Reply(200, headers=[("Content-Length", "1000")])
        return Reply(status)

    server = make_server(app)
    conn = conn_for(server)
    for _ in range(3):
        with conn.request(method, "/") as resp:
            assert resp.status_code == status
            assert resp.read() == b""
        assert conn.is_reusable
    conn.close()
    assert server.connections == 1


def test_interim_100_is_skipped(make_server: MakeServer) -> None:
    server = make_server(lambda req, side: Reply(201, body=b"made", interim=[100, 103]))
    conn = conn_for(server)
    with conn.request("POST", "/", body=b"x") as resp:
        assert resp.status_code == 201 and resp.read() == b"made"
    assert conn.is_reusable
    conn.close()


def test_expect_continue_waits_for_100(make_server: MakeServer) -> None:
    def app(req: ReceivedRequest, side: ServerSide) -> Reply:
        return Reply(200, body=req.body)

    server = make_server(app)
    conn = conn_for(server)
    body = os.urandom(100_000)
    with conn.request("PUT", "/", headers=[("Expect", "100-continue")], body=body) as resp:
        assert resp.read() == body
    conn.close()


def test_101_is_an_error(make_server: MakeServer, no_fd_leak: None) -> None:
    def app(req: ReceivedRequest, side: ServerSide) -> None:
        side.send_raw(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n"
        )

    server = make_server(app)
    conn = conn_for(server)
    with pytest.raises(keepalive.RemoteProtocolError):
        conn.request("GET", "/")
    assert conn.is_closed
    server.stop()


def test_connection_close_response_retires(make_server: MakeServer) -> None:
    server = make_server(lambda req, side: Reply(200, body=b"bye", close=True))
    conn = conn_for(server)
    with conn.request("GET", "/") as resp:
        assert resp.read() == b"bye"
    assert not conn.is_reusable and conn.is_closed


def test_connection_close_request_retires(server: TestServer) -> None:
    conn = conn_for(server)
    conn.request("GET", "/", headers=[("Connection", "close")]).read()
    assert not conn.is_reusable


def test_http10_response_retires(make_server: MakeServer) -> None:
    def app(req: ReceivedRequest, side: ServerSide) -> None:
        side.send_raw(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")

    server = make_server(app)
    conn = conn_for(server)
    with conn.request("GET", "/") as resp:
        assert resp.http_version == "HTTP/1.0" and resp.read() == b"ok"
    assert not conn.is_reusable


def test_close_delimited_body_retires(make_server: MakeServer) -> None:
    def app(req: ReceivedRequest, side: ServerSide) -> None:
        side.send_raw(b"HTTP/1.1 200 OK\r\n\r\nuntil the end")
        side.close()

    server = make_server(app)
    conn = conn_for(server)
    with conn.request("GET", "/") as resp:
        assert resp.read() == b"until the end"
    assert not conn.is_reusable


def test_keepalive_hint_max_zero_retires(make_server: MakeServer) -> None:
    server = make_server(lambda req, side: Reply(200, [("Keep-Alive", "timeout=5, max=0")], b"x"))
    conn = conn_for(server)
    conn.request("GET", "/").read()
    assert not conn.is_reusable


def test_keepalive_hint_short_timeout_retires(make_server: MakeServer) -> None:
    server = make_server(lambda req, side: Reply(200, [("Keep-Alive", "timeout=1")], b"x"))
    conn = conn_for(server)
    conn.request("GET", "/").read()
    assert not conn.is_reusable


def test_keepalive_hint_recorded(make_server: MakeServer) -> None:
    server = make_server(lambda req, side: Reply(200, [("Keep-Alive", "timeout=7, max=3")], b"x"))
    conn = conn_for(server)
    conn.request("GET", "/").read()
    assert conn.is_reusable and conn.idle_timeout_hint == 7.0
    conn.close()


def test_small_unread_remainder_is_drained(make_server: MakeServer) -> None:
    server = make_server(lambda req, side: Reply(200, body=b"x" * 10_000))
    conn = conn_for(server)
    with conn.request("GET", "/") as resp:
        next(resp.iter_bytes(chunk_size=10))
    assert conn.is_reusable
    conn.request("GET", "/").read()
    conn.close()
    assert server.connections == 1


def test_large_unread_remainder_closes(make_server: MakeServer, no_fd_leak: None) -> None:
    server = make_server(lambda req, side: Reply(200, body=b"x" * (5 * MiB)))
    conn = conn_for(server)
    with conn.request("GET", "/") as resp:
        assert resp.status_code == 200
    assert conn.is_closed
    with pytest.raises(keepalive.ResponseClosed):
        resp.read()
    server.stop()


def test_busy_connection_refuses_second_request(server: TestServer) -> None:
    conn = conn_for(server)
    resp = conn.request("GET", "/")
    with pytest.raises(keepalive.LocalProtocolError, match="still carrying"):
        conn.request("GET", "/")
    resp.read()
    conn.close()


def test_timings(server: TestServer) -> None:
    conn = conn_for(server)
    with conn.request("GET", "/") as first:
        first.read()
    with conn.request("GET", "/") as second:
        second.read()
    conn.close()
    t1, t2 = first.timings, second.timings
    assert t1.dns == 0.0  # an IP literal needs no lookup
    assert t1.connect > 0.0 and t1.tls == 0.0 and not t1.tls_resumed
    assert t2.connect == 0.0 and t2.dns == 0.0
    for t in (t1, t2):
        assert t.send > 0 and t.wait > 0 and t.total >= t.send + t.wait


def test_timings_dns_measured_for_names(make_server: MakeServer) -> None:
    server = make_server()
    conn = HTTPConnection("localhost", server.port)
    with conn.request("GET", "/") as resp:
        resp.read()
    conn.close()
    assert resp.timings.dns > 0.0


def test_connection_ids_unique() -> None:
    ids = {HTTPConnection("127.0.0.1", 1).id for _ in range(1000)}
    assert len(ids) == 1000


# -- TLS -----------------------------------------------------------------------------------


def test_tls_verifies_with_ca_and_resumes(
    tls_server: TestServer, client_ssl_context: ssl.SSLContext
) -> None:
    first = conn_for(tls_server, ssl_context=client_ssl_context)
    with first.request("GET", "/") as resp:
        assert resp.read().startswith(b"GET /")
        assert resp.timings.tls > 0 and not resp.timings.tls_resumed
    first.close()
    second = conn_for(tls_server, ssl_context=client_ssl_context)
    with second.request("GET", "/") as resp:
        resp.read()
        assert resp.timings.tls_resumed, "second new connection should resume the TLS session"
    second.close()
    assert tls_server.tls_resumed == [False, True]


def test_tls_fails_without_ca(tls_server: TestServer, no_fd_leak: None) -> None:
    conn = conn_for(tls_server)  # default context: the system store, which lacks the test CA
    with pytest.raises(keepalive.TLSError, match="certificate verify failed") as info:
        conn.request("GET", "/")
    assert isinstance(info.value.__cause__, ssl.SSLError)
    assert conn.is_closed


def test_tls_hostname_mismatch(tls_server: TestServer, ca: object) -> None:
    ctx = ssl.create_default_context(cadata=ca.cert_pem.bytes().decode())  # type: ignore[attr-defined]
    conn = HTTPConnection(
        "127.0.0.1",
        tls_server.port,
        scheme="https",
        ssl_context=ctx,
        server_hostname="not-the-host.test",
    )
    with pytest.raises(keepalive.TLSError):
        conn.request("GET", "/")


# -- bad input and failures: the named error, quickly, no fd leaked --------------------------


def test_header_with_crlf_raises_before_writing(server: TestServer, no_fd_leak: None) -> None:
    conn = conn_for(server)
    with pytest.raises(keepalive.LocalProtocolError):
        conn.request("GET", "/", headers=[("X-Evil", "a\r\nInjected: yes")])
    with pytest.raises(keepalive.LocalProtocolError):
        conn.request("GET", "/", headers=[("Bad Name", "v")])
    with pytest.raises(keepalive.LocalProtocolError):
        conn.request("GET /x", "/")
    assert server.connections == 0  # validation happened before connecting


def test_bad_body_type(server: TestServer) -> None:
    conn = conn_for(server)
    with pytest.raises(keepalive.LocalProtocolError, match="int"):
        conn.request("POST", "/", body=42)  # type: ignore[arg-type]


def test_content_length_mismatch_raises_before_writing(server: TestServer) -> None:
    conn = conn_for(server)
    with pytest.raises(keepalive.LocalProtocolError, match="Content-Length"):
        conn.request("POST", "/", headers=[("Content-Length", "5")], body=b"abc")
    assert server.connections == 0


@pytest.mark.parametrize("port", [0, 70000, -1])
def test_bad_port(port: int) -> None:
    with pytest.raises(keepalive.InvalidURL):
        HTTPConnection("127.0.0.1", port)


def test_bad_scheme() -> None:
    with pytest.raises(keepalive.InvalidURL, match="ftp"):
        HTTPConnection("127.0.0.1", 21, scheme="ftp")


def test_connection_refused(no_fd_leak: None) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    conn = HTTPConnection("127.0.0.1", port)
    with pytest.raises(keepalive.ConnectError, match=f"127.0.0.1:{port}") as info:
        conn.request("GET", "/")
    assert isinstance(info.value.__cause__, ConnectionRefusedError)


def test_dns_failure() -> None:
    conn = HTTPConnection("no-such-host.invalid", 80)
    with pytest.raises(keepalive.ConnectError, match=r"no-such-host\.invalid"):
        conn.request("GET", "/")


def test_read_timeout_closes(make_server: MakeServer, no_fd_leak: None) -> None:
    def app(req: ReceivedRequest, side: ServerSide) -> None:
        time.sleep(1.0)

    server = make_server(app)
    conn = conn_for(server, timeout=keepalive.Timeout(read=0.2))
    started = time.monotonic()
    with pytest.raises(keepalive.ReadTimeout) as info:
        conn.request("GET", "/")
    assert time.monotonic() - started < 0.9
    assert isinstance(info.value, TimeoutError)  # also the built-in
    assert conn.is_closed
    server.stop()


def test_read_timeout_mid_body(make_server: MakeServer) -> None:
    def app(req: ReceivedRequest, side: ServerSide) -> None:
        side.send_raw(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
        time.sleep(1.0)

    server = make_server(app)
    conn = conn_for(server, timeout=keepalive.Timeout(read=0.2))
    resp = conn.request("GET", "/")
    with pytest.raises(keepalive.ReadTimeout):
        resp.read()
    assert conn.is_closed


def test_connect_timeout() -> None:
    # A listener with a full backlog and no accept(): SYNs go unanswered.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    try:
        for _ in range(8):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(listener.getsockname())
            fillers.append(s)
        conn = HTTPConnection(
            "127.0.0.1", listener.getsockname()[1], timeout=keepalive.Timeout(connect=0.3)
        )
        started = time.monotonic()
        with pytest.raises((keepalive.ConnectTimeout, keepalive.ConnectError)):
            conn.request("GET", "/")
        assert time.monotonic() - started < 2.0
    finally:
        for s in fillers:
            s.close()
        listener.close()


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab",  # closed mid-body
        b"NOT HTTP AT ALL\r\n\r\n",  # malformed status line
        b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",  # bad framing
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",  # bad chunk
        b"HTTP/1.1 200 OK\r\nContent-Le",  # closed mid-head
    ],
)
def test_remote_protocol_errors(make_server: MakeServer, no_fd_leak: None, raw: bytes) -> None:
    def app(req: ReceivedRequest, side: ServerSide) -> None:
        side.send_raw(raw)
        side.close()

    server = make_server(app)
    conn = conn_for(server)
    with pytest.raises(keepalive.RemoteProtocolError):
        conn.request("GET", "/").read()
    assert conn.is_closed
    server.stop()


def test_closed_without_response(make_server: MakeServer) -> None:
    server = make_server(lambda req, side: side.close())
    conn = conn_for(server)
    with pytest.raises(keepalive.RemoteProtocolError, match="without sending a response"):
        conn.request("GET", "/")


def test_head_over_64k_refused(make_server: MakeServer, no_fd_leak: None) -> None:
    def app(req: ReceivedRequest, side: ServerSide) -> None:
        side.send_raw(b"HTTP/1.1 200 OK\r\n" + b"X-Big: " + b"a" * 70_000 + b"\r\n\r\n")

    server = make_server(app)
    conn = conn_for(server)
    with pytest.raises(keepalive.RemoteProtocolError):
        conn.request("GET", "/")
    server.stop()


def test_reset_reported_as_transport_error(make_server: MakeServer) -> None:
    server = make_server(lambda req, side: side.reset())
    conn = conn_for(server)
    with pytest.raises(keepalive.TransportError):
        conn.request("GET", "/")
    assert conn.is_closed


def test_closed_connection_refuses_requests(server: TestServer) -> None:
    conn = conn_for(server)
    conn.close()
    with pytest.raises(keepalive.LocalProtocolError, match="closed"):
        conn.request("GET", "/")


def test_has_peer_closed(make_server: MakeServer) -> None:
    sides: list[ServerSide] = []

    def app(req: ReceivedRequest, side: ServerSide) -> Reply:
        sides.append(side)
        return Reply(200, body=b"x")

    server = make_server(app)
    conn = conn_for(server)
    conn.request("GET", "/").read()
    assert not conn.has_peer_closed()
    sides[0].close()
    deadline = time.monotonic() + 2
    while not conn.has_peer_closed() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert conn.has_peer_closed()
    conn.close()


def test_tls_idle_check_tolerates_session_tickets(
    tls_server: TestServer, client_ssl_context: ssl.SSLContext
) -> None:
    conn = conn_for(tls_server, ssl_context=client_ssl_context)
    for _ in range(3):
        conn.request("GET", "/").read()
        time.sleep(0.05)
        assert not conn.has_peer_closed()
    conn.close()


def test_closed_connection_stays_closed_with_a_buffered_body(server: TestServer) -> None:
    conn = conn_for(server)
    resp = conn.request("GET", "/")  # the small body is already in h11's buffer
    conn.close()
    with pytest.raises(keepalive.TransportError, match="was closed"):
        resp.read()
    assert conn.is_closed and not conn.is_reusable


def test_retirement_names_its_reason(make_server: MakeServer) -> None:
    server = make_server(lambda req, side: Reply(200, [("Keep-Alive", "timeout=5, max=0")], b"x"))
    conn = conn_for(server)
    conn.request("GET", "/").read()
    assert conn.is_closed and "max" in conn.close_reason


def test_tls_session_saved_when_the_server_closes(
    make_server: MakeServer, client_ssl_context: ssl.SSLContext
) -> None:
    server = make_server(lambda req, side: Reply(200, body=b"bye", close=True), tls=True)
    first = conn_for(server, ssl_context=client_ssl_context)
    first.request("GET", "/").read()
    assert first.is_closed
    second = conn_for(server, ssl_context=client_ssl_context)
    with second.request("GET", "/") as resp:
        resp.read()
    assert resp.timings.tls_resumed


# -- large Content-Length bodies are read past h11's buffer; the decisions must not change --


def test_large_body_with_connection_close_retires(make_server: MakeServer) -> None:
    payload = os.urandom(2 * MiB)
    server = make_server(lambda req, side: Reply(200, body=payload, close=True))
    conn = conn_for(server)
    assert conn.request("GET", "/").read() == payload
    assert conn.is_closed and "asked to close" in conn.close_reason


def test_large_http10_body_retires(make_server: MakeServer) -> None:
    payload = os.urandom(MiB)

    def app(req: ReceivedRequest, side: ServerSide) -> None:
        side.send_raw(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n" % len(payload) + payload)

    server = make_server(app)
    conn = conn_for(server)
    assert conn.request("GET", "/").read() == payload
    assert conn.is_closed


def test_large_body_cut_short_is_an_error(make_server: MakeServer, no_fd_leak: None) -> None:
    def app(req: ReceivedRequest, side: ServerSide) -> None:
        side.send_raw(b"HTTP/1.1 200 OK\r\nContent-Length: 3000000\r\n\r\n" + b"x" * 1_000_000)
        side.close()

    server = make_server(app)
    conn = conn_for(server)
    with pytest.raises(keepalive.RemoteProtocolError, match="before the end of the body"):
        conn.request("GET", "/").read()
    assert conn.is_closed
    server.stop()


def test_large_body_small_remainder_drained_and_reused(make_server: MakeServer) -> None:
    payload = os.urandom(MiB)
    server = make_server(lambda req, side: Reply(200, body=payload))
    conn = conn_for(server)
    with conn.request("GET", "/") as resp:
        got = bytearray()
        for chunk in resp.iter_bytes(chunk_size=8192):
            got += chunk
            if len(got) >= len(payload) - 20_000:
                break
    assert conn.is_reusable
    assert conn.request("GET", "/").read() == payload
    conn.close()
    assert server.connections == 1


def test_large_chunked_body_stays_on_h11(make_server: MakeServer) -> None:
    payload = os.urandom(3 * MiB)
    pieces = [payload[i : i + 300_000] for i in range(0, len(payload), 300_000)]
    server = make_server(lambda req, side: Reply(200, body=pieces, chunked=True))
    conn = conn_for(server)
    for _ in range(2):
        assert conn.request("GET", "/").read() == payload
    conn.close()
    assert server.connections == 1


def test_device_file_is_chunked_not_zero_length(server: TestServer) -> None:
    with open("/dev/zero", "rb") as zero:
        limited = iter([zero.read(1000)])
        conn = conn_for(server)
        with open("/dev/null", "rb") as null:  # a device: size unknown, must not be "0"
            conn.request("POST", "/", body=null).read()
        conn.request("POST", "/", body=limited).read()
        conn.close()
    assert server.requests[0].chunked and server.requests[0].body == b""
    assert server.requests[1].body == b"\0" * 1000


def test_head_with_large_content_length_is_done_at_the_head(make_server: MakeServer) -> None:
    server = make_server(lambda req, side: Reply(200, [("Content-Length", "500000")]))
    conn = conn_for(server)
    resp = conn.request("HEAD", "/")
    assert resp.is_complete and conn.is_reusable  # free before anyone reads the empty body
    resp.close()
    assert conn.request("HEAD", "/").read() == b""
    conn.close()
    assert server.connections == 1


def test_empty_body_frees_the_connection_at_the_head(make_server: MakeServer) -> None:
    server = make_server(lambda req, side: Reply(204 if req.target == "/204" else 200))
    conn = conn_for(server)
    for path in ("/204", "/empty"):
        resp = conn.request("GET", path)
        assert resp.is_complete and conn.is_reusable
    conn.close()


def test_max_countdown_continues_under_timeout_only_hints(make_server: MakeServer) -> None:
    def app(req: ReceivedRequest, side: ServerSide) -> Reply:
        hint = "timeout=30, max=2" if req.index_on_connection == 1 else "timeout=30"
        return Reply(200, [("Keep-Alive", hint)], b"x")

    server = make_server(app)
    conn = conn_for(server)
    conn.request("GET", "/").read()  # max=2: two more
    conn.request("GET", "/").read()  # one more
    assert conn.is_reusable
    conn.request("GET", "/").read()  # none left
    assert conn.is_closed and "max" in conn.close_reason


def test_host_names_resolve_as_ascii_and_non_ascii_fails_clearly(make_server: MakeServer) -> None:
    """ASCII names go to getaddrinfo as bytes (no per-call IDNA codec); a name that is not
    ASCII still fails as a keepalive error naming the host, never a UnicodeError."""
    server = make_server()
    for host in ("localhost", "LOCALHOST", "127.0.0.1"):
        conn = HTTPConnection(host, server.port)
        with conn.request("GET", "/") as resp:
            assert resp.status_code == 200 and resp.read().startswith(b"GET /")
        conn.close()
    conn = HTTPConnection("bücher.invalid", server.port, timeout=5)
    with pytest.raises(keepalive.ConnectError, match=r"bücher\.invalid"):
        conn.request("GET", "/")
    conn.close()
