"""Proxies in the network layer: SOCKS5 (RFC 1928/1929) and HTTPS proxies (TLS inside TLS).

Three tiers. The sans-I/O SOCKS5 client is tested with bytes alone: every reply code, every
address type, every malformed or cut reply (always ``ProxyError``, never an ``IndexError``).
Then both network backends, blocking and asyncio, run the same scenarios over real loopback
sockets through the proxies of ``tests/proxy_servers.py`` (a SOCKS5 server and a TLS
forward proxy): open_tcp → proxy handshake → start_tls → HTTP/1.1 requests framed with h11,
several on one tunnelled connection, TLS resumption through the tunnel, the idle probe, and
every failure. The asyncio backend is driven from the test by its own event loop
(``RunSync``), so one test body covers both.
"""

from __future__ import annotations

import asyncio
import inspect
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import h11
import pytest
import trustme
from conftest import MakeServer
from proxy_servers import HTTPSProxy, Socks5Server
from testserver import ReceivedRequest, Reply, ServerSide, TestServer

import keepalive
from keepalive import _async_network, _network
from keepalive._socks import REPLY_MEANINGS, Socks5Handshake
from keepalive._state import Proxy

WHERE = "SOCKS5 proxy proxy.test:1080"
TIMEOUT = 5.0
MiB = 1024 * 1024


# -- the sans-I/O SOCKS5 client --------------------------------------------------------------


def drive(shake: Socks5Handshake, replies: bytes, step: int | None = None) -> list[bytes]:
    """Feed the proxy's bytes as a reader bounded by ``bytes_needed`` would (``step``: at
    most that many at a time); returns everything the client sent."""
    sent = [shake.greeting()]
    pos = 0
    for _ in range(len(replies) + 1):
        if shake.done:
            break
        n = shake.bytes_needed if step is None else min(step, shake.bytes_needed)
        assert n > 0
        chunk = replies[pos : pos + n]
        pos += len(chunk)
        out = shake.receive_data(chunk)
        if out:
            sent.append(out)
    assert shake.done
    assert pos == len(replies), "the handshake read past its last reply"
    return sent


OK_IPV4 = b"\x05\x00\x00\x01\x7f\x00\x00\x01\x04\x38"


def test_greeting_offers_username_password_only_with_credentials() -> None:
    assert Socks5Handshake(WHERE, "example.org", 443).greeting() == b"\x05\x01\x00"
    shake = Socks5Handshake(WHERE, "example.org", 443, "alice", "s3cret")
    assert shake.greeting() == b"\x05\x02\x00\x02"


@pytest.mark.parametrize(
    ("host", "request_bytes"),
    [
        ("example.org", b"\x05\x01\x00\x03\x0bexample.org\x01\xbb"),
        ("192.0.2.7", b"\x05\x01\x00\x01\xc0\x00\x02\x07\x01\xbb"),
        ("2001:db8::1", b"\x05\x01\x00\x04" + socket.inet_pton(socket.AF_INET6, "2001:db8::1")
         + b"\x01\xbb"),
        ("[::1]", b"\x05\x01\x00\x04" + bytes(15) + b"\x01\x01\xbb"),
    ],
)  # fmt: skip
def test_connect_request_per_address_type(host: str, request_bytes: bytes) -> None:
    shake = Socks5Handshake(WHERE, host, 443)
    assert drive(shake, b"\x05\x00" + OK_IPV4) == [b"\x05\x01\x00", request_bytes]
    assert shake.bound_address == ("127.0.0.1", 1080)


def test_username_password_subnegotiation() -> None:
    shake = Socks5Handshake(WHERE, "example.org", 80, "alice", "s3cret")
    sent = drive(shake, b"\x05\x02" + b"\x01\x00" + OK_IPV4)
    assert sent[1] == b"\x01\x05alice\x06s3cret"
    assert sent[2] == b"\x05\x01\x00\x03\x0bexample.org\x00\x50"


def test_auth_answer_with_the_socks_version_is_accepted() -> None:
    # RFC 1929 says 0x01; some servers answer 0x05.
    shake = Socks5Handshake(WHERE, "example.org", 80, "alice", "")
    sent = drive(shake, b"\x05\x02\x05\x00" + OK_IPV4)
    assert sent[1] == b"\x01\x05alice\x00"


@pytest.mark.parametrize(
    ("bound", "expected"),
    [
        (b"\x01\x0a\x00\x00\x05\x1f\x90", ("10.0.0.5", 8080)),
        (b"\x04" + socket.inet_pton(socket.AF_INET6, "2001:db8::5") + b"\x1f\x90",
         ("2001:db8::5", 8080)),
        (b"\x03\x0dproxy.example\x1f\x90", ("proxy.example", 8080)),
        (b"\x03\x00\x1f\x90", ("", 8080)),
    ],
)  # fmt: skip
def test_reply_bound_address_of_every_length(bound: bytes, expected: tuple[str, int]) -> None:
    for step in (None, 1, 3):  # whole replies, byte by byte, and in odd pieces
        shake = Socks5Handshake(WHERE, "example.org", 443)
        drive(shake, b"\x05\x00\x05\x00\x00" + bound, step)
        assert shake.bound_address == expected


def test_replies_arriving_together_are_parsed_in_order() -> None:
    shake = Socks5Handshake(WHERE, "example.org", 443)
    shake.greeting()
    assert shake.receive_data(b"\x05\x00" + OK_IPV4) == b"\x05\x01\x00\x03\x0bexample.org\x01\xbb"
    assert shake.done and shake.bytes_needed == 0


@pytest.mark.parametrize("code", [*REPLY_MEANINGS, 0x09, 0xFF])
def test_every_reply_code_is_a_proxy_error_naming_its_meaning(code: int) -> None:
    meaning = REPLY_MEANINGS.get(code, "unassigned reply code")
    # A full reply, and the two bytes a refusing server may send before closing.
    for reply in (bytes((5, code, 0, 1)) + bytes(6), bytes((5, code))):
        shake = Socks5Handshake(WHERE, "example.org", 443)
        shake.greeting()
        shake.receive_data(b"\x05\x00")
        with pytest.raises(keepalive.ProxyError) as info:
            shake.receive_data(reply)
        message = str(info.value)
        assert WHERE in message and meaning in message and f"0x{code:02x}" in message


@pytest.mark.parametrize(
    ("replies", "expected"),
    [
        (b"HTTP/1.1 400 Bad Request\r\n\r\n", "not a SOCKS5 proxy"),
        (b"\x04\x5a", "not a SOCKS5 proxy"),
        (b"\x05\xff", "accepts none"),
        (b"\x05\x02", "username/password, which was not offered"),
        (b"\x05\x01", "GSSAPI, which was not offered"),
        (b"\x05\x80", "method 0x80, which was not offered"),
        (b"\x05\x00\x04\x00\x00\x01", "not a SOCKS5 proxy"),
        (b"\x05\x00\x05\x00\x00\x09\x00", "unknown address type 0x09"),
        (b"\x05\x00" + OK_IPV4 + b"x", "sent bytes after its SOCKS5 reply"),
    ],
)
def test_malformed_replies_are_proxy_errors(replies: bytes, expected: str) -> None:
    shake = Socks5Handshake(WHERE, "example.org", 443)
    shake.greeting()
    with pytest.raises(keepalive.ProxyError, match=expected) as info:
        shake.receive_data(replies)
    assert WHERE in str(info.value)


def test_auth_rejected_is_a_proxy_error() -> None:
    shake = Socks5Handshake(WHERE, "example.org", 443, "alice", "wrong")
    shake.greeting()
    with pytest.raises(keepalive.ProxyError, match=r"rejected the SOCKS5 username/password"):
        shake.receive_data(b"\x05\x02\x01\x01")


@pytest.mark.parametrize("cut", range(0, 14))
def test_a_close_at_any_point_is_a_proxy_error(cut: int) -> None:
    replies = b"\x05\x02\x01\x00" + OK_IPV4
    shake = Socks5Handshake(WHERE, "example.org", 443, "alice", "s3cret")
    shake.greeting()
    if cut:
        shake.receive_data(replies[:cut])
    with pytest.raises(keepalive.ProxyError, match="closed the connection"):
        shake.receive_data(b"")


def test_random_replies_never_raise_anything_but_proxy_error() -> None:
    rng = random.Random(1928)
    outcomes = {"done": 0, "error": 0, "waiting": 0}
    for _ in range(3000):
        shake = Socks5Handshake(WHERE, "example.org", 443, "alice", "s3cret")
        shake.greeting()
        prefix = rng.choice(
            [b"", b"\x05\x00", b"\x05\x02", b"\x05\x02\x01\x00", b"\x05\x00\x05\x00"]
        )
        data = prefix + bytes(rng.randrange(256) for _ in range(rng.randrange(24)))
        try:
            for piece in (data[:5], data[5:11], data[11:]):
                if piece:
                    shake.receive_data(piece)
            shake.bytes_needed  # noqa: B018 - must not raise either
        except keepalive.ProxyError:
            outcomes["error"] += 1
        else:
            outcomes["done" if shake.done else "waiting"] += 1
    assert all(outcomes.values()), outcomes


def test_bad_credentials_and_hosts_are_caller_errors() -> None:
    with pytest.raises(keepalive.InvalidArgument, match="username must be 1 to 255") as info:
        Socks5Handshake(WHERE, "example.org", 443, "u" * 256, "p")
    assert isinstance(info.value, ValueError)
    with pytest.raises(keepalive.InvalidArgument, match="username"):
        Socks5Handshake(WHERE, "example.org", 443, "", "p")
    with pytest.raises(keepalive.InvalidArgument, match="password must be at most 255"):
        Socks5Handshake(WHERE, "example.org", 443, "alice", "p" * 256)
    with pytest.raises(keepalive.InvalidURL, match="cannot be sent to a SOCKS5 proxy"):
        Socks5Handshake(WHERE, "a" * 256, 443)
    with pytest.raises(keepalive.InvalidURL, match="not ASCII"):
        Socks5Handshake(WHERE, "bücher.example", 443)
    with pytest.raises(keepalive.InvalidURL, match="bad port"):
        Socks5Handshake(WHERE, "example.org", 0)


def test_proxy_value_hides_its_password() -> None:
    proxy = Proxy("127.0.0.1", 1080, scheme="socks5h", username="alice", password="s3cret")
    assert "s3cret" not in repr(proxy) and "alice" in repr(proxy)
    assert proxy.is_socks and proxy.remote_dns
    assert not Proxy("h", 1, scheme="socks5").remote_dns
    assert not Proxy("h", 1, scheme="https").is_socks
    assert Proxy("::1", 3128).where == "http://[::1]:3128"


# -- both backends over real sockets ---------------------------------------------------------


class RunSync:
    """An asyncio stream driven from synchronous test code by the test's own event loop."""

    def __init__(self, target: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._target = target
        self._loop = loop

    @property
    def target(self) -> Any:
        return self._target

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if not callable(value):
            return value

        def call(*args: Any, **kw: Any) -> Any:
            result = value(*args, **kw)
            if inspect.isawaitable(result):
                result = self._loop.run_until_complete(result)
            elif name in ("close", "abort"):
                # A running program's loop would close the socket next; so does the test.
                self._loop.run_until_complete(asyncio.sleep(0))
            if isinstance(result, _async_network.SocketStream):
                return RunSync(result, self._loop)
            return result

        return call


class Backend:
    """One network backend, called the same way whichever it is."""

    def __init__(self, module: Any, loop: asyncio.AbstractEventLoop | None) -> None:
        self.module = module
        self.loop = loop

    def _run(self, value: Any) -> Any:
        if self.loop is not None and inspect.isawaitable(value):
            return self.loop.run_until_complete(value)
        return value

    def wrap(self, stream: Any) -> Any:
        return stream if self.loop is None else RunSync(stream, self.loop)

    def open_tcp(self, host: str, port: int, timeout: float = TIMEOUT) -> Any:
        stream, _, _ = self._run(self.module.open_tcp(host, port, time.monotonic() + timeout))
        return self.wrap(stream)

    def socks5(
        self, stream: Any, proxy: Proxy, host: str, port: int, timeout: float = TIMEOUT
    ) -> None:
        raw = stream.target if isinstance(stream, RunSync) else stream
        self._run(self.module.socks5_handshake(raw, proxy, host, port, time.monotonic() + timeout))

    def nested_type(self) -> type:
        return self.module.NestedTLSStream  # type: ignore[no-any-return]


@pytest.fixture(params=["blocking", "asyncio"])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    if request.param == "blocking":
        yield Backend(_network, None)
        return
    loop = asyncio.new_event_loop()
    try:
        yield Backend(_async_network, loop)
    finally:
        loop.run_until_complete(asyncio.sleep(0.01))  # let aborted transports close their sockets
        loop.close()


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
    """The proxy's own CA, distinct from the origin's: each side is checked with its context."""
    return trustme.CA()


@pytest.fixture(scope="module")
def proxy_server_context(proxy_ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    proxy_ca.issue_cert("localhost", "127.0.0.1").configure_cert(ctx)
    return ctx


@pytest.fixture
def proxy_context(proxy_ca: trustme.CA) -> ssl.SSLContext:
    """Trusts only the proxy's CA (the environment's SSL_CERT_FILE is not consulted)."""
    return ssl.create_default_context(cadata=proxy_ca.cert_pem.bytes().decode())


@pytest.fixture
def make_https_proxy(
    proxy_server_context: ssl.SSLContext,
) -> Iterator[Callable[..., HTTPSProxy]]:
    servers: list[HTTPSProxy] = []

    def make(*, tls: bool = True, **kw: Any) -> HTTPSProxy:
        server = HTTPSProxy(proxy_server_context if tls else None, **kw)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


def exchange(
    stream: Any,
    host_header: str,
    targets: list[str],
    *,
    body: bytes = b"",
    extra: list[tuple[str, str]] | None = None,
) -> list[tuple[int, bytes]]:
    """Send each request on one connection with h11 and read each response whole."""
    conn = h11.Connection(h11.CLIENT)
    results = []
    for target in targets:
        headers = [("Host", host_header), ("Content-Length", str(len(body))), *(extra or [])]
        method = "POST" if body else "GET"
        data = conn.send(h11.Request(method=method, target=target, headers=headers))
        stream.write(data + (conn.send(h11.Data(data=body)) if body else b"")
                     + conn.send(h11.EndOfMessage()), TIMEOUT)  # fmt: skip
        status, received = 0, bytearray()
        for _ in range(10_000):
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(stream.read(256 * 1024, TIMEOUT))
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                received += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
        else:
            raise AssertionError("the response did not end")
        results.append((status, bytes(received)))
        if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
            conn.start_next_cycle()
    return results


def connect_tunnel(stream: Any, target: str) -> None:
    """The driver's CONNECT (RFC 9110 section 9.3.6), done by hand for the backend tests."""
    stream.write(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode(), TIMEOUT)
    head = b""
    for _ in range(100):
        if b"\r\n\r\n" in head:
            break
        head += stream.read(1, TIMEOUT)  # byte by byte: nothing after the head is taken
    assert head.startswith(b"HTTP/1.1 200"), head


def echo(req: ReceivedRequest, side: ServerSide) -> Reply:
    return Reply(200, body=f"{req.method} {req.target} conn={req.connection}".encode() + req.body)


def settle(backend: Backend, seconds: float = 0.2) -> None:
    """Let in-flight bytes arrive (and the event loop deliver them, for asyncio)."""
    if backend.loop is not None:
        backend.loop.run_until_complete(asyncio.sleep(seconds))
    else:
        time.sleep(seconds)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- SOCKS5 through both backends -------------------------------------------------------------


def test_socks5h_sends_the_name_and_carries_many_requests(
    no_fd_leak: None, backend: Backend, make_socks: Callable[..., Socks5Server],
    make_server: MakeServer,
) -> None:  # fmt: skip
    origin = make_server(echo)
    socks = make_socks()
    stream = backend.open_tcp(socks.host, socks.port)
    try:
        backend.socks5(stream, Proxy(socks.host, socks.port, scheme="socks5h"), "localhost",
                       origin.port)  # fmt: skip
        results = exchange(stream, f"localhost:{origin.port}", ["/a", "/b", "/c"])
    finally:
        stream.close()
    assert results == [(200, f"GET /{p} conn=1".encode()) for p in "abc"]
    [request] = socks.requests
    assert (request.atyp, request.host, request.port) == (3, "localhost", origin.port)
    assert request.methods == b"\x00" and request.username is None
    assert origin.connections == 1
    assert [r.index_on_connection for r in origin.requests] == [1, 2, 3]


def test_socks5_resolves_the_name_here_and_sends_an_address(
    no_fd_leak: None, backend: Backend, make_socks: Callable[..., Socks5Server],
    make_server: MakeServer,
) -> None:  # fmt: skip
    family, _, _, _, address = socket.getaddrinfo("localhost", 0, type=socket.SOCK_STREAM)[0]
    origin = make_server(echo, host=address[0])  # where "localhost" resolves first, here
    socks = make_socks()
    stream = backend.open_tcp(socks.host, socks.port)
    try:
        backend.socks5(stream, Proxy(socks.host, socks.port, scheme="socks5"), "localhost",
                       origin.port)  # fmt: skip
        assert exchange(stream, f"localhost:{origin.port}", ["/x"]) == [(200, b"GET /x conn=1")]
    finally:
        stream.close()
    [request] = socks.requests
    assert request.atyp == (1 if family == socket.AF_INET else 4)
    assert request.host == address[0]


def test_socks5_username_password(
    no_fd_leak: None, backend: Backend, make_socks: Callable[..., Socks5Server],
    server: TestServer,
) -> None:  # fmt: skip
    socks = make_socks(users={"alice": "s3cret"})
    proxy = Proxy(socks.host, socks.port, scheme="socks5h", username="alice", password="s3cret")
    stream = backend.open_tcp(socks.host, socks.port)
    try:
        backend.socks5(stream, proxy, server.host, server.port)
        assert exchange(stream, "origin", ["/auth"])[0][0] == 200
    finally:
        stream.close()
    [request] = socks.requests
    assert request.username == "alice" and request.methods == b"\x00\x02"
    assert (request.atyp, request.host) == (1, server.host)  # an IP literal goes as one


@pytest.mark.parametrize(
    ("users", "username", "password", "expected"),
    [
        ({"alice": "s3cret"}, "alice", "wrong", "rejected the SOCKS5 username/password"),
        ({"alice": "s3cret"}, None, None, "accepts none of the SOCKS5 authentication methods"),
    ],
)
def test_socks5_authentication_failures(
    no_fd_leak: None, backend: Backend, make_socks: Callable[..., Socks5Server],
    server: TestServer, users: dict[str, str], username: str | None, password: str | None,
    expected: str,
) -> None:  # fmt: skip
    socks = make_socks(users=users)
    proxy = Proxy(socks.host, socks.port, scheme="socks5h", username=username, password=password)
    stream = backend.open_tcp(socks.host, socks.port)
    try:
        with pytest.raises(keepalive.ProxyError, match=expected) as info:
            backend.socks5(stream, proxy, server.host, server.port)
    finally:
        stream.close()
    assert f"{socks.host}:{socks.port}" in str(info.value)
    assert socks.requests == []  # never got as far as CONNECT


def test_socks5_connect_refused_by_the_target(
    no_fd_leak: None, backend: Backend, make_socks: Callable[..., Socks5Server]
) -> None:
    socks = make_socks()
    port = closed_port()
    stream = backend.open_tcp(socks.host, socks.port)
    try:
        with pytest.raises(keepalive.ProxyError) as info:
            backend.socks5(stream, Proxy(socks.host, socks.port, scheme="socks5h"), "127.0.0.1",
                           port)  # fmt: skip
    finally:
        stream.close()
    assert "connection refused by the destination host (reply 0x05)" in str(info.value)
    assert socks.requests[0].port == port


@pytest.mark.parametrize("code", [0x01, 0x02, 0x04, 0x08])
def test_socks5_refusals_name_the_reply_code(
    no_fd_leak: None, backend: Backend, make_socks: Callable[..., Socks5Server], code: int
) -> None:
    socks = make_socks(reply_code=code)
    stream = backend.open_tcp(socks.host, socks.port)
    try:
        with pytest.raises(keepalive.ProxyError, match=REPLY_MEANINGS[code]):
            backend.socks5(stream, Proxy(socks.host, socks.port, scheme="socks5h"), "origin.test",
                           80)  # fmt: skip
    finally:
        stream.close()


@pytest.mark.parametrize("bound", ["::1", "proxy.internal.example", "10.9.8.7"])
def test_socks5_bound_address_of_any_type_leaves_the_stream_exact(
    no_fd_leak: None, backend: Backend, make_socks: Callable[..., Socks5Server],
    server: TestServer, bound: str,
) -> None:  # fmt: skip
    """The reply's length depends on its address type; reading one byte too many would
    eat the response that follows."""
    socks = make_socks(bound=bound)
    stream = backend.open_tcp(socks.host, socks.port)
    try:
        backend.socks5(stream, Proxy(socks.host, socks.port, scheme="socks5h"), server.host,
                       server.port)  # fmt: skip
        assert exchange(stream, "origin", ["/1", "/2"]) == [
            (200, b"GET /1 conn=1"), (200, b"GET /2 conn=1")
        ]  # fmt: skip
    finally:
        stream.close()


def _scripted(method: bytes, reply: bytes | None) -> Callable[[socket.socket], None]:
    """A SOCKS5 server that answers the greeting with ``method`` and the CONNECT with
    ``reply`` (None: closes instead), then waits for the client to close (no reset)."""

    def script(sock: socket.socket) -> None:
        sock.recv(64)
        sock.sendall(method)
        if reply is not None:
            sock.recv(512)
            sock.sendall(reply)
        sock.shutdown(socket.SHUT_WR)
        for _ in range(100):
            if not sock.recv(512):
                return

    return script


@pytest.mark.parametrize(
    ("method", "reply", "expected"),
    [
        (b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", None, "not a SOCKS5 proxy"),
        (b"", None, "closed the connection while the method choice"),
        (b"\x05\x00", b"\x05\x00\x00\x07\x00", "unknown address type 0x07"),
        (b"\x05\x00", b"\x05\x00\x00\x03\x20abc", "closed the connection while the CONNECT reply"),
    ],
)
def test_socks5_malformed_or_cut_replies_over_a_socket(
    no_fd_leak: None, backend: Backend, make_socks: Callable[..., Socks5Server],
    method: bytes, reply: bytes | None, expected: str,
) -> None:  # fmt: skip
    socks = make_socks(script=_scripted(method, reply))
    stream = backend.open_tcp(socks.host, socks.port)
    try:
        with pytest.raises(keepalive.ProxyError, match=expected):
            backend.socks5(stream, Proxy(socks.host, socks.port, scheme="socks5h"), "origin.test",
                           443)  # fmt: skip
    finally:
        stream.close()


def test_socks5_leaves_what_follows_the_reply_on_the_stream(
    no_fd_leak: None, backend: Backend, make_socks: Callable[..., Socks5Server]
) -> None:
    """Bytes right behind the reply belong to the tunnel (a server that speaks first)."""
    reply = b"\x05\x00\x00\x03\x04host\x04\x38" + b"220 hello"
    socks = make_socks(script=_scripted(b"\x05\x00", reply))
    stream = backend.open_tcp(socks.host, socks.port)
    try:
        backend.socks5(stream, Proxy(socks.host, socks.port, scheme="socks5h"), "origin.test", 25)
        data = b""
        for _ in range(20):
            if data == b"220 hello":
                break
            data += stream.read(64, TIMEOUT)
    finally:
        stream.close()
    assert data == b"220 hello"


def test_socks5_handshake_is_bounded_by_the_connect_deadline(
    no_fd_leak: None, backend: Backend, make_socks: Callable[..., Socks5Server]
) -> None:
    def silent(sock: socket.socket) -> None:
        sock.recv(64)
        sock.recv(64)  # until the client gives up (or stop() closes it)

    socks = make_socks(script=silent)
    stream = backend.open_tcp(socks.host, socks.port)
    started = time.monotonic()
    try:
        with pytest.raises(keepalive.ConnectTimeout, match="SOCKS5"):
            backend.socks5(stream, Proxy(socks.host, socks.port, scheme="socks5h"), "origin.test",
                           443, timeout=0.5)  # fmt: skip
    finally:
        stream.close()
    assert time.monotonic() - started < 3.0


def test_socks5_local_resolution_failure_is_a_connect_error(
    no_fd_leak: None, backend: Backend, make_socks: Callable[..., Socks5Server]
) -> None:
    socks = make_socks()
    stream = backend.open_tcp(socks.host, socks.port)
    try:
        with pytest.raises(keepalive.ConnectError, match=r"cannot resolve no-such-host\.invalid"):
            backend.socks5(stream, Proxy(socks.host, socks.port, scheme="socks5"),
                           "no-such-host.invalid", 80)  # fmt: skip
    finally:
        stream.close()
    assert socks.requests == []  # nothing was asked of the proxy


def test_socks5_to_an_https_origin_resumes_tls(
    no_fd_leak: None, backend: Backend, make_socks: Callable[..., Socks5Server],
    tls_server: TestServer, client_ssl_context: ssl.SSLContext,
) -> None:  # fmt: skip
    socks = make_socks()
    proxy = Proxy(socks.host, socks.port, scheme="socks5h")
    session = None
    resumed = []
    for _ in range(2):
        stream = backend.open_tcp(socks.host, socks.port)
        try:
            backend.socks5(stream, proxy, "localhost", tls_server.port)
            stream = stream.start_tls(client_ssl_context, "localhost", session,
                                      time.monotonic() + TIMEOUT)  # fmt: skip
            assert exchange(stream, "localhost", ["/s"]) == [(200, b"GET /s conn=%d" % (
                len(resumed) + 1))]  # fmt: skip
            resumed.append(stream.tls_resumed)
            session = stream.tls_session()
            assert session is not None
        finally:
            stream.close()
    assert resumed == [False, True]
    assert tls_server.tls_resumed == [False, True]
    assert [r.host for r in socks.requests] == ["localhost", "localhost"]


# -- HTTPS proxies: TLS to the proxy, TLS to the origin inside it ----------------------------


def open_https_proxy_tunnel(
    backend: Backend, proxy: HTTPSProxy, proxy_context: ssl.SSLContext, target: str
) -> Any:
    stream = backend.open_tcp(proxy.host, proxy.port)
    try:
        stream = stream.start_tls(proxy_context, "localhost", None, time.monotonic() + TIMEOUT)
        connect_tunnel(stream, target)
    except BaseException:
        stream.close()
        raise
    return stream


def test_https_proxy_tunnel_to_an_https_origin(
    no_fd_leak: None, backend: Backend, make_https_proxy: Callable[..., HTTPSProxy],
    make_server: MakeServer, proxy_context: ssl.SSLContext,
    client_ssl_context: ssl.SSLContext,
) -> None:  # fmt: skip
    origin = make_server(echo, tls=True)
    proxy = make_https_proxy()
    stream = open_https_proxy_tunnel(backend, proxy, proxy_context, f"localhost:{origin.port}")
    try:
        stream = stream.start_tls(client_ssl_context, "localhost", None,
                                  time.monotonic() + TIMEOUT)  # fmt: skip
        assert isinstance(stream.target if isinstance(stream, RunSync) else stream,
                          backend.nested_type())  # fmt: skip
        body = bytes(range(256)) * (4 * 1024)  # 1 MiB each way, many TLS records deep
        results = exchange(stream, "localhost", ["/1", "/2", "/3"], body=body)
    finally:
        stream.close()
    assert [status for status, _ in results] == [200, 200, 200]
    assert [data for _, data in results] == [f"POST /{i} conn=1".encode() + body for i in (1, 2, 3)]
    assert [(r.method, r.target) for r in proxy.requests] == [
        ("CONNECT", f"localhost:{origin.port}")
    ]  # fmt: skip
    assert proxy.connections == 1 and origin.connections == 1
    assert [r.index_on_connection for r in origin.requests] == [1, 2, 3]


def test_https_proxy_absolute_form_to_an_http_origin(
    no_fd_leak: None, backend: Backend, make_https_proxy: Callable[..., HTTPSProxy],
    make_server: MakeServer, proxy_context: ssl.SSLContext,
) -> None:  # fmt: skip
    origin = make_server(echo)
    proxy = make_https_proxy()
    stream = backend.open_tcp(proxy.host, proxy.port)
    url = f"http://127.0.0.1:{origin.port}"
    try:
        stream = stream.start_tls(proxy_context, "localhost", None, time.monotonic() + TIMEOUT)
        results = exchange(stream, f"127.0.0.1:{origin.port}", [f"{url}/a", f"{url}/b"],
                           extra=[("Proxy-Authorization", "Basic cDpx")])  # fmt: skip
    finally:
        stream.close()
    assert results == [(200, f"GET {url}/{p} conn=1".encode()) for p in "ab"]
    [request] = proxy.requests  # one head seen; the connection then relays
    assert (request.method, request.target) == ("GET", f"{url}/a")
    assert request.header("Proxy-Authorization") == "Basic cDpx"
    assert [r.target for r in origin.requests] == [f"{url}/a", f"{url}/b"]


def test_tls_resumption_inside_the_tunnel(
    no_fd_leak: None, backend: Backend, make_https_proxy: Callable[..., HTTPSProxy],
    make_server: MakeServer, proxy_context: ssl.SSLContext,
    client_ssl_context: ssl.SSLContext,
) -> None:  # fmt: skip
    origin = make_server(echo, tls=True)
    proxy = make_https_proxy()
    session = None
    resumed = []
    for _ in range(2):
        stream = open_https_proxy_tunnel(backend, proxy, proxy_context, f"localhost:{origin.port}")
        try:
            stream = stream.start_tls(client_ssl_context, "localhost", session,
                                      time.monotonic() + TIMEOUT)  # fmt: skip
            assert exchange(stream, "localhost", ["/r"])[0][0] == 200
            resumed.append(stream.tls_resumed)
            session = stream.tls_session()  # the ticket came with (or before) the response
            assert session is not None and session.has_ticket
        finally:
            stream.close()
    assert resumed == [False, True]
    assert origin.tls_resumed == [False, True]
    assert proxy.connections == 2


def test_idle_probe_through_the_tunnel(
    no_fd_leak: None, backend: Backend, make_https_proxy: Callable[..., HTTPSProxy],
    make_server: MakeServer, proxy_context: ssl.SSLContext,
    client_ssl_context: ssl.SSLContext,
) -> None:  # fmt: skip
    """A TLS 1.3 ticket from the origin is outer application data: the probe must hand it
    to the inner TLS (not call it stray bytes, nor eat it), and still see a close."""

    def app(req: ReceivedRequest, side: ServerSide) -> Reply:
        return Reply(200, body=b"bye", close=req.target == "/last")

    origin = make_server(app, tls=True)
    proxy = make_https_proxy()
    stream = open_https_proxy_tunnel(backend, proxy, proxy_context, f"localhost:{origin.port}")
    try:
        stream = stream.start_tls(client_ssl_context, "localhost", None,
                                  time.monotonic() + TIMEOUT)  # fmt: skip
        # The server sends its tickets after the client's Finished: they arrive while the
        # new connection sits idle, as records inside the outer TLS.
        settle(backend)
        assert stream.tls_session() is None  # not read yet
        assert stream.has_peer_closed() is False
        session = stream.tls_session()
        assert session is not None and session.has_ticket  # the probe fed them to the TLS
        assert exchange(stream, "localhost", ["/1"]) == [(200, b"bye")]
        settle(backend)
        assert stream.has_peer_closed() is False
        assert stream.has_peer_closed() is False
        assert exchange(stream, "localhost", ["/2", "/last"]) == [(200, b"bye")] * 2
        closed = False
        for _ in range(40):  # up to two seconds for the close to travel through the proxy
            settle(backend, 0.05)
            closed = stream.has_peer_closed()
            if closed:
                break
        assert closed
    finally:
        stream.close()
    assert stream.is_closed


def test_stray_bytes_through_the_tunnel_are_seen_by_the_probe(
    no_fd_leak: None, backend: Backend, make_https_proxy: Callable[..., HTTPSProxy],
    make_server: MakeServer, proxy_context: ssl.SSLContext,
    client_ssl_context: ssl.SSLContext,
) -> None:  # fmt: skip
    def app(req: ReceivedRequest, side: ServerSide) -> Reply | None:
        side.send_reply(Reply(200, body=b"ok"))
        side.send_raw(b"HTTP/1.1 200 OK\r\n")  # a response nobody asked for
        return None

    origin = make_server(app, tls=True)
    proxy = make_https_proxy()
    stream = open_https_proxy_tunnel(backend, proxy, proxy_context, f"localhost:{origin.port}")
    try:
        stream = stream.start_tls(client_ssl_context, "localhost", None,
                                  time.monotonic() + TIMEOUT)  # fmt: skip
        conn = h11.Connection(h11.CLIENT)
        stream.write(conn.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
                     + conn.send(h11.EndOfMessage()), TIMEOUT)  # fmt: skip
        head = b""
        for _ in range(200):
            if head.endswith(b"ok"):
                break
            head += stream.read(1, TIMEOUT)
        seen = False
        for _ in range(40):
            settle(backend, 0.05)
            seen = stream.has_peer_closed()
            if seen:
                break
        assert seen
    finally:
        stream.close()


def test_each_tls_layer_is_verified_with_its_own_context(
    no_fd_leak: None, backend: Backend, make_https_proxy: Callable[..., HTTPSProxy],
    make_server: MakeServer, proxy_context: ssl.SSLContext,
    client_ssl_context: ssl.SSLContext,
) -> None:  # fmt: skip
    origin = make_server(echo, tls=True)
    proxy = make_https_proxy()
    # The origin's CA does not vouch for the proxy...
    stream = backend.open_tcp(proxy.host, proxy.port)
    try:
        with pytest.raises(keepalive.TLSError, match="certificate verify failed"):
            stream.start_tls(client_ssl_context, "localhost", None, time.monotonic() + TIMEOUT)
    finally:
        stream.close()
    # ...nor the proxy's CA for the origin inside the tunnel.
    stream = open_https_proxy_tunnel(backend, proxy, proxy_context, f"localhost:{origin.port}")
    try:
        with pytest.raises(keepalive.TLSError, match=r"certificate verify failed .*through"):
            stream.start_tls(proxy_context, "localhost", None, time.monotonic() + TIMEOUT)
    finally:
        stream.close()


def test_inner_tls_handshake_is_bounded_by_the_connect_deadline(
    no_fd_leak: None, backend: Backend, make_https_proxy: Callable[..., HTTPSProxy],
    proxy_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext,
) -> None:  # fmt: skip
    """An origin that accepts the tunnel but never answers the ClientHello."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()
    accepted: list[socket.socket] = []

    def mute() -> None:
        try:
            sock, _ = listener.accept()
        except OSError:
            return
        accepted.append(sock)
        stop.wait(10)

    thread = threading.Thread(target=mute, daemon=True)
    thread.start()
    proxy = make_https_proxy()
    try:
        stream = open_https_proxy_tunnel(backend, proxy, proxy_context,
                                         f"127.0.0.1:{listener.getsockname()[1]}")  # fmt: skip
        started = time.monotonic()
        try:
            with pytest.raises(keepalive.ConnectTimeout, match="through"):
                stream.start_tls(client_ssl_context, "localhost", None, time.monotonic() + 0.5)
        finally:
            stream.close()
        assert time.monotonic() - started < 3.0
    finally:
        stop.set()
        listener.close()
        thread.join(5)
        for sock in accepted:
            sock.close()


def test_a_proxy_closing_mid_handshake_is_a_connect_error(
    no_fd_leak: None, backend: Backend, make_https_proxy: Callable[..., HTTPSProxy],
    proxy_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext,
) -> None:  # fmt: skip
    """The tunnel's far end closes at once: the inner handshake meets the end of the stream."""
    listener = socket.create_server(("127.0.0.1", 0))

    def close_at_once() -> None:
        try:
            sock, _ = listener.accept()
        except OSError:
            return
        sock.close()

    thread = threading.Thread(target=close_at_once, daemon=True)
    thread.start()
    proxy = make_https_proxy()
    try:
        stream = open_https_proxy_tunnel(backend, proxy, proxy_context,
                                         f"127.0.0.1:{listener.getsockname()[1]}")  # fmt: skip
        try:
            with pytest.raises(keepalive.ConnectError) as info:
                stream.start_tls(client_ssl_context, "localhost", None, time.monotonic() + TIMEOUT)
        finally:
            stream.close()
        assert not isinstance(info.value, keepalive.ConnectTimeout)
        assert "through" in str(info.value)
    finally:
        listener.close()
        thread.join(5)
