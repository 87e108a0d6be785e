"""Real proxies on loopback for the proxy tests: a SOCKS5 server and an HTTPS (or HTTP) proxy.

Both are small threaded servers written for the tests, on the loopback server base of
``testserver.py`` (listener, acceptor, TLS handshake, stop), so every byte they see can be
recorded and every refusal scripted:

* ``Socks5Server``: RFC 1928 CONNECT with optional username/password (RFC 1929). It records
  each request (address type, address, port, user) and can refuse with any reply code, or
  reply with a bound address of any type.
* ``HTTPSProxy``: a TLS listener (plain TCP without a context) speaking HTTP to its client:
  ``CONNECT host:port`` opens a tunnel; an absolute-form request (``GET http://...``) is
  relayed to its origin with the connection, which carries that origin's later requests
  too (RFC 9112 section 3.2.2: a server accepts the absolute form). It records each request
  head and can demand ``Proxy-Authorization`` (407) or refuse with a status.

Relaying is one thread per connection, a ``select`` loop over the two sockets with a short
timeout so ``stop()`` ends it; ``stop()`` closes every socket and joins every thread.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import select
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass

from testserver import LoopbackServer

RELAY_TICK = 0.1  # seconds between checks of the stop flag while relaying
IO_TIMEOUT = 10.0  # no test waits longer on one socket operation


class _ThreadedServer(LoopbackServer):
    """A proxy on the tests' one loopback server base: each connection runs ``handle(sock)``
    in its own thread, and ``relay`` copies a tunnel's bytes until ``stop()``."""

    def __init__(self, host: str = "127.0.0.1", ssl_context: ssl.SSLContext | None = None) -> None:
        self.connections = 0
        super().__init__(host=host, ssl_context=ssl_context, backlog=64)

    def _admit(self, sock: socket.socket, address: tuple[object, ...]) -> Callable[[], None]:
        sock.settimeout(IO_TIMEOUT)
        self.connections += 1
        return functools.partial(self._serve, sock)

    def _serve(self, sock: socket.socket) -> None:
        try:
            self.handle(sock)
        except (OSError, ValueError):
            pass  # the client went away, or stop() closed the socket under us
        finally:
            with contextlib.suppress(OSError):
                sock.close()

    def handle(self, sock: socket.socket) -> None:
        raise NotImplementedError

    def relay(self, a: socket.socket, b: socket.socket) -> None:
        """Copy bytes both ways until either side ends or the server stops."""
        sockets = [a, b]
        while not self._stopping.is_set():
            ready: list[socket.socket] = [
                s for s in sockets if isinstance(s, ssl.SSLSocket) and s.pending()
            ]
            if not ready:
                ready, _, _ = select.select(sockets, [], [], RELAY_TICK)
            for source in ready:
                data = source.recv(65536)
                if not data:
                    return
                (b if source is a else a).sendall(data)


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("the client closed in the middle of the SOCKS5 handshake")
        data += chunk
    return data


@dataclass
class SocksRequest:
    """One CONNECT request as the SOCKS5 server received it."""

    atyp: int  # 1 IPv4, 3 domain name, 4 IPv6 (RFC 1928 section 4)
    host: str
    port: int
    username: str | None  # the user that authenticated, if any
    methods: bytes  # the authentication methods the client offered


class Socks5Server(_ThreadedServer):
    """A SOCKS5 server (RFC 1928) with optional username/password auth (RFC 1929).

    ``users`` (name → password) makes authentication mandatory. ``reply_code`` other than 0
    refuses every CONNECT with that code; otherwise the target is connected to (a refused
    target gives reply 0x05) and the bytes relayed. ``bound`` is the BND.ADDR sent back:
    an IP literal or a domain name, to exercise each address type. ``script`` replaces the
    whole exchange with a function of the client socket (for malformed replies).
    """

    def __init__(
        self,
        *,
        users: dict[str, str] | None = None,
        reply_code: int = 0,
        bound: str = "127.0.0.1",
        script: Callable[[socket.socket], None] | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.users = users
        self.reply_code = reply_code
        self.bound = bound
        self.script = script
        self.requests: list[SocksRequest] = []
        super().__init__(host)

    @property
    def scheme(self) -> str:
        return "socks5"

    def handle(self, sock: socket.socket) -> None:
        if self.script is not None:
            self.script(sock)
            return
        version, count = _recv_exactly(sock, 2)
        if version != 5:
            return
        methods = _recv_exactly(sock, count)
        username = None
        if self.users is None:
            if 0x00 not in methods:
                sock.sendall(b"\x05\xff")
                return
            sock.sendall(b"\x05\x00")
        else:
            if 0x02 not in methods:
                sock.sendall(b"\x05\xff")
                return
            sock.sendall(b"\x05\x02")
            _, ulen = _recv_exactly(sock, 2)
            name = _recv_exactly(sock, ulen).decode()
            (plen,) = _recv_exactly(sock, 1)
            password = _recv_exactly(sock, plen).decode()
            if self.users.get(name) != password:
                sock.sendall(b"\x01\x01")
                return
            sock.sendall(b"\x01\x00")
            username = name
        version, command, _, atyp = _recv_exactly(sock, 4)
        if atyp == 1:
            host = str(ipaddress.IPv4Address(_recv_exactly(sock, 4)))
        elif atyp == 4:
            host = str(ipaddress.IPv6Address(_recv_exactly(sock, 16)))
        elif atyp == 3:
            (length,) = _recv_exactly(sock, 1)
            host = _recv_exactly(sock, length).decode()
        else:
            sock.sendall(b"\x05\x08\x00\x01" + bytes(6))
            return
        port = int.from_bytes(_recv_exactly(sock, 2), "big")
        with self._lock:
            self.requests.append(SocksRequest(atyp, host, port, username, methods))
        if command != 1:
            sock.sendall(b"\x05\x07\x00\x01" + bytes(6))
            return
        if self.reply_code:
            sock.sendall(bytes((5, self.reply_code, 0, 1)) + bytes(6))
            return
        try:
            upstream = self.track(socket.create_connection((host, port), timeout=IO_TIMEOUT))
        except OSError:
            sock.sendall(b"\x05\x05\x00\x01" + bytes(6))
            return
        with upstream:
            sock.sendall(b"\x05\x00\x00" + _socks_address(self.bound) + b"\x04\x38")
            self.relay(sock, upstream)


def _socks_address(host: str) -> bytes:
    """ATYP and BND.ADDR for ``host``."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        name = host.encode()
        return bytes((3, len(name))) + name
    return bytes((1 if address.version == 4 else 4,)) + address.packed


@dataclass
class ProxyRequest:
    """One request head as the HTTP(S) proxy received it."""

    method: str
    target: str
    headers: list[tuple[str, str]]

    def header(self, name: str) -> str | None:
        for n, v in self.headers:
            if n.lower() == name.lower():
                return v
        return None


class HTTPSProxy(_ThreadedServer):
    """A forward proxy over TLS (plain HTTP when ``ssl_context`` is None).

    ``auth`` is the exact ``Proxy-Authorization`` value required (else 407); ``refuse``
    answers every request with that status instead (e.g. 403, 502).
    """

    def __init__(
        self,
        ssl_context: ssl.SSLContext | None,
        *,
        auth: str | None = None,
        refuse: int | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.auth = auth
        self.refuse = refuse
        self.requests: list[ProxyRequest] = []
        self.tls_resumed: list[bool] = []
        super().__init__(host, ssl_context)

    def handle(self, sock: socket.socket) -> None:
        client: socket.socket = sock
        if self.ssl_context is not None:
            tls = self.wrap_tls(sock, self.ssl_context)
            if tls is None:
                return
            client = tls
            with self._lock:
                self.tls_resumed.append(bool(tls.session_reused))
        with client:
            head, rest = self._read_head(client)
            if head is None:
                return
            request = _parse_head(head)
            with self._lock:
                self.requests.append(request)
            if self.auth is not None and request.header("Proxy-Authorization") != self.auth:
                client.sendall(
                    b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                    b'Proxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n\r\n'
                )
                return
            if self.refuse is not None:
                client.sendall(
                    f"HTTP/1.1 {self.refuse} Refused\r\nContent-Length: 7\r\n\r\nrefused".encode()
                )
                return
            if request.method == "CONNECT":
                host, _, port = request.target.rpartition(":")
                origin = (host.strip("[]"), int(port))
            else:
                rest = head + rest  # the origin gets the request as it came
                origin = _origin_of(request.target)
            try:
                upstream = self.track(socket.create_connection(origin, timeout=IO_TIMEOUT))
            except OSError:
                client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                return
            with upstream:
                if request.method == "CONNECT":
                    client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                if rest:
                    upstream.sendall(rest)
                self.relay(client, upstream)

    @staticmethod
    def _read_head(sock: socket.socket) -> tuple[bytes | None, bytes]:
        data = b""
        while b"\r\n\r\n" not in data:
            if len(data) > 65536:
                return None, b""
            chunk = sock.recv(65536)
            if not chunk:
                return None, b""
            data += chunk
        end = data.index(b"\r\n\r\n") + 4
        return data[:end], data[end:]


def _parse_head(head: bytes) -> ProxyRequest:
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = []
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
    return ProxyRequest(method, target, headers)


def _origin_of(url: str) -> tuple[str, int]:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    assert parts.hostname is not None, url
    return parts.hostname, parts.port or 80
