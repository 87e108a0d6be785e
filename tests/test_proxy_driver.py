"""Proxies through the connection driver and the pool: SOCKS5, socks5h and HTTPS proxies.

The backends' proxy handshakes are tested in ``test_proxies.py``; here the same real
loopback proxies (``tests/proxy_servers.py``) carry ``HTTPConnection``,
``AsyncHTTPConnection`` and ``ConnectionPool`` requests: several requests on one tunnelled
connection, TLS resumption with the origin through the tunnel, origin form through SOCKS and
absolute form through HTTP(S) proxies, and every way a proxy fails as ``ProxyError``.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import trustme
from conftest import MakeServer
from proxy_servers import HTTPSProxy, Socks5Server
from testserver import ReceivedRequest, Reply, ServerSide, TestServer

import keepalive
from keepalive import AsyncHTTPConnection, ConnectionPool, HTTPConnection, Proxy

TIMEOUT = keepalive.Timeout(5.0)


def echo(req: ReceivedRequest, side: ServerSide) -> Reply:
    return Reply(200, body=f"{req.method} {req.target} conn={req.connection}".encode())


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def make_socks() -> Iterator[Callable[..., Socks5Server]]:
    servers: list[Socks5Server] = []

    def make(**kw: Any) -> Socks5Server:
        server = Socks5Server(**kw)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def proxy_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def proxy_context(proxy_ca: trustme.CA) -> ssl.SSLContext:
    return ssl.create_default_context(cadata=proxy_ca.cert_pem.bytes().decode())


@pytest.fixture
def make_https_proxy(proxy_ca: trustme.CA) -> Iterator[Callable[..., HTTPSProxy]]:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    proxy_ca.issue_cert("localhost", "127.0.0.1").configure_cert(ctx)
    servers: list[HTTPSProxy] = []

    def make(**kw: Any) -> HTTPSProxy:
        server = HTTPSProxy(ctx, **kw)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# -- through SOCKS5 ----------------------------------------------------------------------------


def test_socks5h_connection_carries_many_requests_in_origin_form(
    no_fd_leak: None, make_socks: Callable[..., Socks5Server], make_server: MakeServer
) -> None:
    origin = make_server(echo)
    socks = make_socks()
    proxy = Proxy(socks.host, socks.port, scheme="socks5h")
    with ConnectionPool(timeout=TIMEOUT) as pool:
        seen = []
        for path in ("/a", "/b", "/c"):
            with pool.request("GET", f"http://localhost:{origin.port}{path}", proxy=proxy) as r:
                seen.append((r.read(), r.reused, r.connection_id))
        assert pool.stats()["opened"] == 1
    assert [body for body, _, _ in seen] == [f"GET /{p} conn=1".encode() for p in "abc"]
    assert [reused for _, reused, _ in seen] == [False, True, True]
    assert len({cid for _, _, cid in seen}) == 1
    assert [(r.atyp, r.host) for r in socks.requests] == [(3, "localhost")]
    assert [r.target for r in origin.requests] == ["/a", "/b", "/c"]


def test_socks5_resolves_here_and_authenticates(
    no_fd_leak: None, make_socks: Callable[..., Socks5Server], make_server: MakeServer
) -> None:
    family, _, _, _, address = socket.getaddrinfo("localhost", 0, type=socket.SOCK_STREAM)[0]
    origin = make_server(echo, host=address[0])
    socks = make_socks(users={"alice": "s3cret"})
    proxy = Proxy(socks.host, socks.port, scheme="socks5", username="alice", password="s3cret")
    conn = HTTPConnection("localhost", origin.port, proxy=proxy, timeout=TIMEOUT)
    try:
        with conn.request("GET", "/x") as resp:
            assert resp.read() == b"GET /x conn=1"
        assert conn.is_reusable
    finally:
        conn.close()
    [request] = socks.requests
    assert (request.host, request.username) == (address[0], "alice")
    assert request.atyp == (1 if family == socket.AF_INET else 4)


def test_socks5_to_https_origin_resumes_tls(
    no_fd_leak: None, make_socks: Callable[..., Socks5Server], tls_server: TestServer,
    client_ssl_context: ssl.SSLContext,
) -> None:  # fmt: skip
    socks = make_socks()
    proxy = Proxy(socks.host, socks.port, scheme="socks5h")
    resumed = []
    for _ in range(2):
        conn = HTTPConnection("localhost", tls_server.port, scheme="https", proxy=proxy,
                              ssl_context=client_ssl_context, timeout=TIMEOUT)  # fmt: skip
        try:
            with conn.request("GET", "/") as resp:
                resp.read()
                resumed.append(resp.timings.tls_resumed)
                assert resp.timings.tls > 0
        finally:
            conn.close()
    assert resumed == [False, True]
    assert tls_server.tls_resumed == [False, True]


# -- through an HTTPS proxy --------------------------------------------------------------------


def test_https_proxy_to_https_origin_many_requests_and_resumption(
    no_fd_leak: None, make_https_proxy: Callable[..., HTTPSProxy], make_server: MakeServer,
    proxy_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext,
) -> None:  # fmt: skip
    origin = make_server(echo, tls=True)
    https_proxy = make_https_proxy(auth=basic("p", "q"))
    proxy = Proxy("localhost", https_proxy.port, (("Proxy-Authorization", basic("p", "q")),),
                  scheme="https", ssl_context=proxy_context)  # fmt: skip
    url = f"https://localhost:{origin.port}"
    with ConnectionPool(timeout=TIMEOUT, verify=client_ssl_context) as pool:
        bodies = []
        for i in range(3):
            with pool.request("GET", f"{url}/{i}", proxy=proxy) as resp:
                bodies.append(resp.read())
                assert resp.reused is (i > 0)
            time.sleep(0.05)  # the idle probe runs between requests: tickets are not data
        assert pool.stats()["opened"] == 1
    assert bodies == [f"GET /{i} conn=1".encode() for i in range(3)]
    [connect] = https_proxy.requests
    assert connect.method == "CONNECT" and connect.target == f"localhost:{origin.port}"
    assert connect.header("Proxy-Authorization") == basic("p", "q")
    # A second connection resumes the origin's TLS inside a new tunnel.
    conn = HTTPConnection("localhost", origin.port, scheme="https", proxy=proxy,
                          ssl_context=client_ssl_context, timeout=TIMEOUT)  # fmt: skip
    try:
        with conn.request("GET", "/again") as resp:
            assert resp.read() == b"GET /again conn=2"
            assert resp.timings.tls_resumed
    finally:
        conn.close()
    assert origin.tls_resumed == [False, True]


def test_https_proxy_to_http_origin_sends_absolute_form(
    no_fd_leak: None, make_https_proxy: Callable[..., HTTPSProxy], make_server: MakeServer,
    proxy_context: ssl.SSLContext,
) -> None:  # fmt: skip
    origin = make_server(echo)
    https_proxy = make_https_proxy()
    proxy = Proxy("127.0.0.1", https_proxy.port, scheme="https", ssl_context=proxy_context)
    url = f"http://127.0.0.1:{origin.port}"
    with ConnectionPool(timeout=TIMEOUT) as pool:
        for path in ("/a", "/b"):
            with pool.request("GET", url + path, proxy=proxy) as resp:
                assert resp.read() == f"GET {url}{path} conn=1".encode()
                assert resp.timings.tls > 0 or resp.reused
        assert pool.stats()["opened"] == 1
    assert [r.target for r in origin.requests] == [f"{url}/a", f"{url}/b"]
    assert https_proxy.tls_resumed == [False]


def test_async_connection_through_both_kinds_of_proxy(
    no_fd_leak: None, make_https_proxy: Callable[..., HTTPSProxy],
    make_socks: Callable[..., Socks5Server], make_server: MakeServer,
    proxy_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext,
) -> None:  # fmt: skip
    origin = make_server(echo, tls=True)
    socks = make_socks()
    https_proxy = make_https_proxy()
    proxies = [
        Proxy(socks.host, socks.port, scheme="socks5h"),
        Proxy("localhost", https_proxy.port, scheme="https", ssl_context=proxy_context),
    ]

    async def main() -> list[tuple[bytes, bool, bool]]:
        out = []
        for proxy in proxies:
            conn = AsyncHTTPConnection("localhost", origin.port, scheme="https", proxy=proxy,
                                       ssl_context=client_ssl_context, timeout=TIMEOUT)  # fmt: skip
            try:
                for path in ("/1", "/2"):
                    resp = await conn.request("GET", path)
                    out.append((await resp.aread(), resp.reused, resp.timings.tls_resumed))
                    await asyncio.sleep(0.05)
                    assert not conn.has_peer_closed()
            finally:
                await conn.aclose()
            await asyncio.sleep(0.01)  # let the transport close its socket
        return out

    results = asyncio.run(asyncio.wait_for(main(), 30))
    assert [body for body, _, _ in results] == [
        b"GET /1 conn=1", b"GET /2 conn=1", b"GET /1 conn=2", b"GET /2 conn=2"
    ]  # fmt: skip
    assert [reused for _, reused, _ in results] == [False, True, False, True]
    assert results[2][2] is True  # the second connection resumed, through the other proxy
    assert [r.method for r in https_proxy.requests] == ["CONNECT"]


# -- every way a proxy fails is a ProxyError ---------------------------------------------------


@pytest.mark.parametrize("scheme", ["http", "https", "socks5", "socks5h"])
def test_unreachable_proxy_is_proxy_error(no_fd_leak: None, scheme: str) -> None:
    proxy = Proxy("127.0.0.1", closed_port(), scheme=scheme)
    conn = HTTPConnection("origin.test", 443, scheme="https", proxy=proxy, timeout=TIMEOUT)
    with pytest.raises(keepalive.ProxyError, match=rf"cannot reach proxy {scheme}://127\.0\.0\.1"):
        conn.request("GET", "/")
    assert conn.is_closed


def test_async_unreachable_proxy_is_proxy_error(no_fd_leak: None) -> None:
    async def main() -> None:
        proxy = Proxy("127.0.0.1", closed_port(), scheme="socks5h")
        conn = AsyncHTTPConnection("origin.test", 80, proxy=proxy, timeout=TIMEOUT)
        with pytest.raises(keepalive.ProxyError, match="cannot reach proxy socks5h://"):
            await conn.request("GET", "/")

    asyncio.run(asyncio.wait_for(main(), 30))


@pytest.mark.parametrize(
    ("options", "username", "password", "expected"),
    [
        ({"users": {"alice": "s3cret"}}, "alice", "nope", "rejected the SOCKS5 username/password"),
        ({"users": {"alice": "s3cret"}}, None, None, "accepts none of the SOCKS5"),
        ({"reply_code": 2}, None, None, "connection not allowed by ruleset"),
        ({}, None, None, "connection refused by the destination host"),
    ],
)
def test_socks_failures_are_proxy_errors(
    no_fd_leak: None, make_socks: Callable[..., Socks5Server], options: dict[str, Any],
    username: str | None, password: str | None, expected: str,
) -> None:  # fmt: skip
    socks = make_socks(**options)
    proxy = Proxy(socks.host, socks.port, scheme="socks5h", username=username, password=password)
    conn = HTTPConnection("127.0.0.1", closed_port(), proxy=proxy, timeout=TIMEOUT)
    with pytest.raises(keepalive.ProxyError, match=expected):
        conn.request("GET", "/")
    assert conn.is_closed


@pytest.mark.parametrize(
    ("options", "status"),
    [({"auth": basic("p", "q")}, 407), ({"refuse": 403}, 403), ({"refuse": 502}, 502)],
)
def test_https_proxy_refusing_connect_is_proxy_error(
    no_fd_leak: None, make_https_proxy: Callable[..., HTTPSProxy],
    proxy_context: ssl.SSLContext, options: dict[str, Any], status: int,
) -> None:  # fmt: skip
    https_proxy = make_https_proxy(**options)
    proxy = Proxy("localhost", https_proxy.port, scheme="https", ssl_context=proxy_context)
    conn = HTTPConnection("origin.test", 443, scheme="https", proxy=proxy, timeout=TIMEOUT)
    with pytest.raises(keepalive.ProxyError, match=f"refused CONNECT to origin.test:443: {status}"):
        conn.request("GET", "/")
    assert conn.is_closed


def test_https_proxy_answering_502_for_a_dead_origin(
    no_fd_leak: None, make_https_proxy: Callable[..., HTTPSProxy], proxy_context: ssl.SSLContext
) -> None:
    https_proxy = make_https_proxy()
    proxy = Proxy("localhost", https_proxy.port, scheme="https", ssl_context=proxy_context)
    conn = HTTPConnection("127.0.0.1", closed_port(), scheme="https", proxy=proxy,
                          timeout=TIMEOUT)  # fmt: skip
    with pytest.raises(keepalive.ProxyError, match="502 Bad Gateway"):
        conn.request("GET", "/")


def test_untrusted_https_proxy_is_proxy_error(
    no_fd_leak: None, make_https_proxy: Callable[..., HTTPSProxy],
    client_ssl_context: ssl.SSLContext,
) -> None:  # fmt: skip
    https_proxy = make_https_proxy()
    # The origin's CA does not vouch for the proxy.
    proxy = Proxy("localhost", https_proxy.port, scheme="https", ssl_context=client_ssl_context)
    conn = HTTPConnection("origin.test", 80, proxy=proxy, timeout=TIMEOUT)
    with pytest.raises(keepalive.ProxyError, match="certificate verify failed") as info:
        conn.request("GET", "/")
    assert isinstance(info.value.__cause__, keepalive.TLSError)
    assert https_proxy.requests == []


def test_407_for_a_plain_http_request_is_a_response(
    no_fd_leak: None, make_https_proxy: Callable[..., HTTPSProxy], proxy_context: ssl.SSLContext
) -> None:
    """Without a tunnel the proxy's answer is the request's answer (as with http proxies)."""
    https_proxy = make_https_proxy(auth=basic("p", "q"))
    proxy = Proxy("localhost", https_proxy.port, scheme="https", ssl_context=proxy_context)
    with ConnectionPool(timeout=TIMEOUT) as pool, pool.request(
        "GET", "http://origin.test/", proxy=proxy
    ) as resp:
        assert resp.status_code == 407
        resp.read()
