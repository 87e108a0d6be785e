"""An in-process HTTP/1.1 test server on loopback for exact protocol control.

Each accepted connection runs in its own thread. By default it parses requests with h11 in
server role and answers with whatever ``app(request, side)`` returns; the app may instead
script raw bytes, close, reset or stall through ``side`` and return None. The server
records every request and counts connections (total, and the most open at once).
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import h11


@dataclass
class ReceivedRequest:
    method: str
    target: str
    headers: list[tuple[str, str]]  # as received, names in their original case
    body: bytes
    connection: int  # index of the server-side connection (1, 2, ...)
    index_on_connection: int  # 1 for the first request on that connection
    chunked: bool = False

    def header(self, name: str) -> str | None:
        for n, v in self.headers:
            if n.lower() == name.lower():
                return v
        return None

    def header_list(self, name: str) -> list[str]:
        return [v for n, v in self.headers if n.lower() == name.lower()]


@dataclass
class Reply:
    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | Iterable[bytes] = b""
    chunked: bool = False  # frame with Transfer-Encoding: chunked instead of Content-Length
    close: bool = False  # close the connection after this response
    reason: bytes = b""
    interim: list[int] = field(default_factory=list)  # e.g. [100] sent before the response


App = Callable[[ReceivedRequest, "ServerSide"], "Reply | None"]


class ServerSide:
    """The server's end of one connection, for apps that script their behaviour."""

    def __init__(self, sock: socket.socket, index: int) -> None:
        self.sock = sock
        self.index = index
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=1024 * 1024)
        self.count = 0
        self.closed = False

    def read_request(self, timeout: float = 10.0) -> ReceivedRequest | None:
        """The next request with its whole body, or None when the client closed."""
        self.sock.settimeout(timeout)
        if self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE:
            self.h11.start_next_cycle()
        head: h11.Request | None = None
        body = bytearray()
        while True:
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError:
                return None
            if event is h11.NEED_DATA:
                try:
                    data = self.sock.recv(65536)
                except OSError:
                    return None
                self.h11.receive_data(data)
                if not data and head is None and not self.h11._receive_buffer:
                    return None
                continue
            if isinstance(event, h11.Request):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed | h11.PAUSED.__class__):
                return None
            else:
                return None
        assert head is not None
        self.count += 1
        chunked = any(n == b"transfer-encoding" for n, _ in head.headers)
        return ReceivedRequest(
            method=head.method.decode(),
            target=head.target.decode(),
            headers=[
                (n.decode("latin-1"), v.decode("latin-1")) for n, v in head.headers.raw_items()
            ],
            body=bytes(body),
            connection=self.index,
            index_on_connection=self.count,
            chunked=chunked,
        )

    def send_reply(self, reply: Reply) -> None:
        headers = list(reply.headers)
        names = {n.lower() for n, _ in headers}
        body = reply.body
        if reply.chunked:
            if "transfer-encoding" not in names:
                headers.append(("Transfer-Encoding", "chunked"))
        elif isinstance(body, bytes | bytearray) and "content-length" not in names:
            headers.append(("Content-Length", str(len(body))))
        if reply.close and "connection" not in names:
            headers.append(("Connection", "close"))
        out = bytearray()
        for status in reply.interim:
            out += self.h11.send(h11.InformationalResponse(status_code=status, headers=[])) or b""
        out += (
            self.h11.send(
                h11.Response(status_code=reply.status, headers=headers, reason=reply.reason)
            )
            or b""
        )
        pieces = [body] if isinstance(body, bytes | bytearray) else body
        for piece in pieces:
            if piece:
                out += self.h11.send(h11.Data(data=piece)) or b""
                if len(out) > 1 << 20:
                    self.send_raw(bytes(out))
                    out.clear()
        out += self.h11.send(h11.EndOfMessage()) or b""
        self.send_raw(bytes(out))
        if reply.close or self.h11.our_state is h11.MUST_CLOSE:
            self.close()

    def send_raw(
        self, data: bytes, segments: Iterable[int] | None = None, delay: float = 0.0
    ) -> None:
        """Write ``data``; when ``segments`` are given, cut it at those sizes (with a delay)."""
        try:
            if segments is None:
                self.sock.sendall(data)
                return
            pos = 0
            for size in segments:
                if pos >= len(data):
                    break
                self.sock.sendall(data[pos : pos + size])
                pos += size
                if delay:
                    time.sleep(delay)
            if pos < len(data):
                self.sock.sendall(data[pos:])
        except OSError:
            self.closed = True

    def close(self) -> None:
        """Close with FIN."""
        if not self.closed:
            self.closed = True
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)
            self.sock.close()

    def reset(self) -> None:
        """Close with RST (SO_LINGER 0)."""
        if not self.closed:
            self.closed = True
            with contextlib.suppress(OSError):
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.sock.close()


def default_app(request: ReceivedRequest, side: ServerSide) -> Reply:
    """Echo: the body names the connection and request, plus the request body."""
    body = f"{request.method} {request.target} conn={request.connection}".encode()
    return Reply(200, [("Content-Type", "text/plain")], body + request.body)


class TestServer:
    """A threaded loopback server; use as a context manager or call ``stop()``."""

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        app: App = default_app,
        *,
        ssl_context: ssl.SSLContext | None = None,
        host: str = "127.0.0.1",
        on_connect: Callable[[ServerSide], bool] | None = None,
    ) -> None:
        self.app = app
        self.ssl_context = ssl_context
        self.on_connect = on_connect  # return False to have the connection handled no further
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.listener = socket.socket(family, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((host, 0))
        self.listener.listen(128)
        self.host = host
        self.port: int = self.listener.getsockname()[1]
        self.requests: list[ReceivedRequest] = []
        self.sides: list[ServerSide] = []
        self.connections = 0
        self.open_connections = 0
        self.max_open_connections = 0
        self.tls_resumed: list[bool] = []
        self._lock = threading.Lock()
        self._stopping = False
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)
        self._acceptor.start()

    @property
    def scheme(self) -> str:
        return "https" if self.ssl_context else "http"

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def __enter__(self) -> TestServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        while not self._stopping:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            if self._stopping:
                sock.close()
                return
            with self._lock:
                self.connections += 1
                index = self.connections
            thread = threading.Thread(target=self._serve, args=(sock, index), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, sock: socket.socket, index: int) -> None:
        with self._lock:
            self.open_connections += 1
            self.max_open_connections = max(self.max_open_connections, self.open_connections)
        try:
            if self.ssl_context is not None:
                try:
                    sock.settimeout(10)
                    sock = self.ssl_context.wrap_socket(sock, server_side=True)
                except (OSError, ssl.SSLError):
                    sock.close()
                    return
                self.tls_resumed.append(sock.session_reused)
            side = ServerSide(sock, index)
            with self._lock:
                self.sides.append(side)
            if self.on_connect is not None and not self.on_connect(side):
                return
            while not side.closed and not self._stopping:
                request = side.read_request()
                if request is None:
                    break
                with self._lock:
                    self.requests.append(request)
                reply = self.app(request, side)
                if reply is not None and not side.closed:
                    side.send_reply(reply)
            side.close()
        except Exception:  # a scripted misbehaviour may break the socket; that is the point
            with contextlib.suppress(OSError):
                sock.close()
        finally:
            with self._lock:
                self.open_connections -= 1

    def stop(self) -> None:
        self._stopping = True
        with contextlib.suppress(OSError):
            self.listener.close()
        # unblock accept()
        with contextlib.suppress(OSError):
            socket.create_connection((self.host, self.port), timeout=0.5).close()
        for side in list(self.sides):
            with contextlib.suppress(OSError):
                side.sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                side.sock.close()
        self._acceptor.join(timeout=5)
        for thread in self._threads:
            thread.join(timeout=5)


def serve(app: App = default_app, **kw: object) -> Iterator[TestServer]:
    """Generator for fixtures: yields a running server and stops it afterwards."""
    server = TestServer(app, **kw)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()


def open_fds() -> int:
    import os

    return len(os.listdir("/proc/self/fd"))


class TLSOrPlain:
    """``on_connect`` for a server that speaks both http and https on one port.

    It peeks at the first byte of each connection: a TLS record starts with 0x16 (a
    handshake), an HTTP request with a letter. TLS connections are wrapped in place, the
    rest stay plain; ``schemes`` records what each connection spoke, in order. Use it as
    ``TestServer(on_connect=TLSOrPlain(server_ctx))`` (with no ``ssl_context`` of its own).
    """

    def __init__(self, ssl_context: ssl.SSLContext) -> None:
        self.ssl_context = ssl_context
        self.schemes: list[str] = []

    def __call__(self, side: ServerSide) -> bool:
        side.sock.settimeout(10)
        try:
            first = side.sock.recv(1, socket.MSG_PEEK)
        except OSError:
            side.close()
            return False
        if first != b"\x16":
            self.schemes.append("http")
            return True
        try:
            side.sock = self.ssl_context.wrap_socket(side.sock, server_side=True)
        except (OSError, ssl.SSLError):
            side.close()
            return False
        self.schemes.append("https")
        return True
