"""Proxies through the Session: socks5/socks5h and https:// proxies from ``proxies=`` (per
session and per request) and the environment, credentials from the proxy URL, one pool key
per origin through one proxy, and ``ProxyError`` for a proxy that cannot be reached."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import trustme
from conftest import MakeServer
from proxy_servers import HTTPSProxy, Socks5Server
from testserver import ReceivedRequest, Reply, ServerSide

import keepalive


def echo(req: ReceivedRequest, side: ServerSide) -> Reply:
    return Reply(200, body=f"{req.method} {req.target} conn={req.connection}".encode())


@pytest.fixture
def make_socks() -> Iterator[Callable[..., Socks5Server]]:
    servers: list[Socks5Server] = []

    def make(**kw: Any) -> Socks5Server:
        servers.append(Socks5Server(**kw))
        return servers[-1]

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def https_proxy(ca: trustme.CA) -> Iterator[HTTPSProxy]:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
    proxy = HTTPSProxy(ctx)
    yield proxy
    proxy.stop()


def test_socks5h_with_credentials_and_one_key_per_origin(
    no_fd_leak: None, make_socks: Callable[..., Socks5Server], make_server: MakeServer
) -> None:
    socks = make_socks(users={"alice": "s3cret"})
    one, two = make_server(echo), make_server(echo)
    proxies = {"http": f"socks5h://alice:s3cret@{socks.host}:{socks.port}"}
    with keepalive.Session(proxies=proxies, trust_env=False) as s:
        got = [s.get(f"http://localhost:{srv.port}/{i}") for i in range(2) for srv in (one, two)]
        assert all(r.status_code == 200 for r in got)
        assert [r.reused for r in got] == [False, False, True, True]
        assert got[0].connection_id == got[2].connection_id != got[1].connection_id
        assert s.pool.stats()["opened"] == 2
    assert {r.host for r in socks.requests} == {"localhost"}  # the proxy resolved the name
    assert one.requests[0].target == "/0"  # origin form through SOCKS


def test_https_proxy_per_request_to_an_https_origin(
    https_proxy: HTTPSProxy, make_server: MakeServer, ca_path: str
) -> None:
    origin = make_server(echo, tls=True)
    proxy_url = f"https://{https_proxy.host}:{https_proxy.port}"
    with keepalive.Session(verify=ca_path, trust_env=False) as s:
        direct = s.get(origin.url + "/direct")
        via = [s.get(origin.url + f"/via{i}", proxies={"https": proxy_url}) for i in range(3)]
    assert direct.status_code == 200 and all(r.status_code == 200 for r in via)
    assert via[0].connection_id != direct.connection_id, "another pool key: the proxy"
    assert via[2].reused and via[1].connection_id == via[2].connection_id
    assert [r.method for r in https_proxy.requests] == ["CONNECT"]


def test_proxy_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, make_socks: Callable[..., Socks5Server],
    make_server: MakeServer,
) -> None:  # fmt: skip
    socks = make_socks()
    origin = make_server(echo)
    monkeypatch.setenv("HTTP_PROXY", f"socks5://{socks.host}:{socks.port}")
    monkeypatch.setenv("NO_PROXY", "")
    with keepalive.Session() as s:
        assert s.get(f"http://localhost:{origin.port}/env").status_code == 200
    assert socks.requests and socks.requests[0].host == "127.0.0.1"  # resolved here


@pytest.mark.parametrize("scheme", ["http", "https", "socks5", "socks5h"])
def test_unreachable_proxy_is_a_proxy_error(no_fd_leak: None, scheme: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proxies = {"http": f"{scheme}://127.0.0.1:{port}"}
    with (
        keepalive.Session(proxies=proxies, trust_env=False, timeout=5.0) as s,
        pytest.raises(keepalive.ProxyError, match=str(port)),
    ):
        s.get("http://origin.test/")


def test_bad_proxy_urls_are_invalid_urls() -> None:
    with (
        keepalive.Session(proxies={"http": "ftp://proxy:21"}, trust_env=False) as s,
        pytest.raises(keepalive.InvalidURL, match="scheme"),
    ):
        s.get("http://origin.test/")
