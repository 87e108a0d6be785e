"""Shared fixtures: the in-process test server (plain and TLS), a trustme CA, fd counting."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import certs
import pytest
import thirdparty
import trustme
from testserver import App, TestServer, assert_no_fd_leak, default_app, settled_fds


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return certs.new_ca()


@pytest.fixture(scope="session")
def ca_path(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    return certs.write_ca(ca, tmp_path_factory.mktemp("ca") / "ca.pem")


@pytest.fixture(scope="session")
def server_ssl_context(ca: trustme.CA) -> ssl.SSLContext:
    """A server certificate for localhost, 127.0.0.1 and ::1 from the test CA."""
    return certs.server_context(ca, *certs.LOOPBACK_NAMES)


@pytest.fixture
def client_ssl_context(ca: trustme.CA) -> ssl.SSLContext:
    """A verifying client context trusting only the test CA (never the system store)."""
    return certs.client_context(ca, alpn=["http/1.1"])


MakeServer = Callable[..., TestServer]


@pytest.fixture
def make_server(server_ssl_context: ssl.SSLContext) -> Iterator[MakeServer]:
    """Factory: ``make_server(app, tls=False)``; every server is stopped at teardown."""
    servers: list[TestServer] = []

    def make(app: App = default_app, *, tls: bool = False, **kw: object) -> TestServer:
        server = TestServer(app, ssl_context=server_ssl_context if tls else None, **kw)  # type: ignore[arg-type]
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def server(make_server: MakeServer) -> TestServer:
    return make_server()


@pytest.fixture
def tls_server(make_server: MakeServer) -> TestServer:
    return make_server(tls=True)


@pytest.fixture
def no_fd_leak() -> Iterator[None]:
    """Fails the test when it leaves more file descriptors open than it found (after the
    grace a server thread may need to close its side of the last connection)."""
    before = settled_fds()
    yield
    assert_no_fd_leak(before)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture(scope="session")
def httpbin() -> Iterator[thirdparty.Server]:
    """httpbin under gunicorn (gthread, keep-alive 5 s) on loopback, once per test run."""
    with thirdparty.httpbin_server(tls=False, keep_alive=5) as server:
        yield server


@pytest.fixture(scope="session")
def httpbin_tls() -> Iterator[thirdparty.Server]:
    """The same over HTTPS with a trustme certificate (``.ca_path``)."""
    with thirdparty.httpbin_server(tls=True, keep_alive=5) as server:
        yield server
