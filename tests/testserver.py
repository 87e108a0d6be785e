"""The in-process loopback servers the tests talk to, for exact protocol control.

One base, :class:`LoopbackServer`, owns what every test server does alike: a listener on
loopback, one acceptor thread, one thread per accepted connection, the server side of a
TLS handshake, and one ``stop()`` that wakes every connection, joins every thread and closes
every socket. What a connection does is the subclass's ``_admit``, called under the lock as
the connection is accepted (so it sees the server as it was at that moment):

* :class:`TestServer` parses requests with h11 in server role and answers with whatever
  ``app(request, side)`` returns; the app may instead script raw bytes, close, reset or
  stall through ``side`` (a :class:`ServerSide`) and return None. It records every request
  and counts connections (total, and the most open at once).
* :class:`ScriptedServer` hands each connection to a ``handler(peer)`` (a :class:`Peer`)
  that scripts it byte by byte. The property tests keep one for a whole module, since a
  server per hypothesis example would cost more than the example: each example swaps the
  handler (``serve``) and ends with ``finish()``, which leaves no server socket open.

The proxies in ``proxy_servers.py`` are built on the same base. ``open_fds`` and friends count
this process's file descriptors, for the tests that check nothing leaks.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import os
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

import h11

HANDSHAKE_TIMEOUT = 10.0  # seconds a TLS handshake may take before the server gives up
JOIN_TIMEOUT = 5.0  # seconds stop() waits for each thread

_Server = TypeVar("_Server", bound="LoopbackServer")
_Socket = TypeVar("_Socket", bound=socket.socket)


# ----------------------------------------------------------------------- requests and replies


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


def _received(
    head: h11.Request, body: bytes, connection: int, index: int
) -> ReceivedRequest:
    """A parsed request head and its whole body as the tests see them."""
    return ReceivedRequest(
        method=head.method.decode("ascii"),
        target=head.target.decode("latin-1"),
        headers=[
            (n.decode("latin-1"), v.decode("latin-1"))
            for n, v in head.headers.raw_items()
        ],
        body=body,
        connection=connection,
        index_on_connection=index,
        chunked=any(n == b"transfer-encoding" for n, _ in head.headers),
    )


@dataclass
class Reply:
    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | Iterable[bytes] = b""
    chunked: bool = (
        False  # frame with Transfer-Encoding: chunked instead of Content-Length
    )
    close: bool = False  # close the connection after this response
    reason: bytes = b""
    interim: list[int] = field(
        default_factory=list
    )  # e.g. [100] sent before the response


@dataclass
class Segmenting:
    """How one write is cut: ``sizes`` of the first segments (the rest goes in one piece),
    and a pause of ``delay`` seconds after each of the first ``delayed`` segments."""

    sizes: tuple[int, ...] = ()
    delay: float = 0.0
    delayed: int = 0


WHOLE = Segmenting()


# ----------------------------------------------------------------------- one connection


def _handshake(
    sock: socket.socket,
    context: ssl.SSLContext,
    track: Callable[[ssl.SSLSocket], object] | None,
) -> ssl.SSLSocket | None:
    """The server side of a TLS handshake on ``sock``: the wrapped socket, or None (and the
    socket closed) when it failed. ``track`` sees the wrapped socket before the handshake:
    wrapping detaches ``sock``, and a stop() must be able to wake a handshake the client
    abandoned."""
    try:
        sock.settimeout(HANDSHAKE_TIMEOUT)
        tls = context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
    except OSError:
        sock.close()
        return None
    if track is not None:
        track(tls)
    try:
        tls.do_handshake()
    except OSError:  # ssl.SSLError included
        tls.close()
        return None
    return tls


class _ServerEnd:
    """The server's end of one accepted connection, and the two ways to end it."""

    def __init__(self, sock: socket.socket, index: int) -> None:
        self.sock = sock
        self.index = index
        self.closed = False

    def close(self) -> None:
        """Close with FIN (after everything written so far)."""
        if not self.closed:
            self.closed = True
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)
            self.sock.close()

    def reset(self) -> None:
        """Close with RST: SO_LINGER with a zero timeout discards what is unsent."""
        if not self.closed:
            self.closed = True
            with contextlib.suppress(OSError):
                self.sock.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
            self.sock.close()


class ServerSide(_ServerEnd):
    """The server's end of one :class:`TestServer` connection, for apps that script their
    behaviour. One h11 connection parses every request and frames every reply on it."""

    def __init__(
        self, sock: socket.socket, index: int, server: LoopbackServer | None = None
    ) -> None:
        super().__init__(sock, index)
        self.server = server
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=1024 * 1024)
        self.count = 0

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
            else:  # ConnectionClosed, PAUSED, ...
                return None
        assert head is not None
        self.count += 1
        return _received(head, bytes(body), self.index, self.count)

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
            out += (
                self.h11.send(h11.InformationalResponse(status_code=status, headers=[]))
                or b""
            )
        out += (
            self.h11.send(
                h11.Response(
                    status_code=reply.status, headers=headers, reason=reply.reason
                )
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

    def start_tls(self, context: ssl.SSLContext) -> bool:
        """Turn this connection into TLS in place (the server's side of the handshake);
        False, with the connection closed, when the handshake failed."""
        tls = _handshake(self.sock, context, self.server.track if self.server else None)
        if tls is None:
            self.closed = True
            return False
        self.sock = tls
        return True


class Peer(_ServerEnd):
    """The server's end of one :class:`ScriptedServer` connection, scripted by a handler:
    read requests (parsed by a real h11 server), write exact bytes in exact segments, close
    with FIN or reset with RST; another thread may hang up an idle connection."""

    def __init__(self, server: ScriptedServer, sock: socket.socket, index: int) -> None:
        super().__init__(sock, index)
        self.server = server
        self.requests_served = 0
        self.end_with_reset = False  # set by hang_up(reset=True)
        self.done = (
            threading.Event()
        )  # the handler has returned and the socket is closed
        self._pending = bytearray()  # bytes received past the last parsed request

    def read_request(self, timeout: float = 30.0) -> ReceivedRequest | None:
        """The next whole request, or None when the client closed (or sent garbage)."""
        parser = h11.Connection(h11.SERVER, max_incomplete_event_size=1 << 20)
        if self._pending:
            parser.receive_data(bytes(self._pending))
            self._pending.clear()
        head: h11.Request | None = None
        body = bytearray()
        try:
            self.sock.settimeout(timeout)
        except OSError:
            return None
        while True:
            try:
                event = parser.next_event()
            except h11.RemoteProtocolError:
                return None
            if event is h11.NEED_DATA:
                try:
                    data = self.sock.recv(1 << 16)
                except OSError:
                    return None
                if not data:
                    return None
                parser.receive_data(data)
                continue
            if isinstance(event, h11.Request):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
            else:
                return None
        assert head is not None
        self._pending += parser.trailing_data[0]
        self.requests_served += 1
        request = _received(head, bytes(body), self.index, self.requests_served)
        self.server._record(request)
        return request

    def send(self, data: bytes, how: Segmenting = WHOLE) -> bool:
        """Write ``data`` cut as ``how`` says; False when the client has gone away."""
        view = memoryview(data)
        pos = 0
        try:
            for n, size in enumerate(how.sizes):
                if pos >= len(view):
                    break
                self.sock.sendall(view[pos : pos + size])
                pos += size
                if how.delay and n < how.delayed:
                    time.sleep(how.delay)
            if pos < len(view):
                self.sock.sendall(view[pos:])
        except OSError:
            return False
        return True

    def hang_up(self, reset: bool = False) -> None:
        """From another thread: end this (idle) connection with FIN, or RST, and wait until
        the socket is closed. The handler blocked in ``read_request`` wakes up and returns;
        for a reset it is that thread which closes, as a close() racing a blocked recv()
        would send nothing until the recv() returned."""
        self.end_with_reset = reset
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RD if reset else socket.SHUT_RDWR)
        assert self.done.wait(5.0), "the handler did not notice the hang-up"


App = Callable[[ReceivedRequest, ServerSide], "Reply | None"]
Handler = Callable[[Peer], None]


# ----------------------------------------------------------------------- the base


class LoopbackServer:
    """A listener on loopback, one acceptor thread, one thread per connection, one stop.

    A subclass sets its own state, then calls ``__init__`` (which starts accepting), and
    says in ``_admit`` what an accepted connection's thread runs. Use as a context manager
    or call ``stop()``.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        ssl_context: ssl.SSLContext | None = None,
        backlog: int = 128,
    ) -> None:
        self.ssl_context = ssl_context
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.listener = socket.socket(family, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((host, 0))
        self.listener.listen(backlog)
        self.host = host
        self.port: int = self.listener.getsockname()[1]
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._sockets: list[socket.socket] = []  # every socket stop() must close
        self._threads: list[threading.Thread] = []  # every connection's thread
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)
        self._acceptor.start()

    @property
    def scheme(self) -> str:
        return "https" if self.ssl_context else "http"

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def __enter__(self: _Server) -> _Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _admit(
        self, sock: socket.socket, address: tuple[object, ...]
    ) -> Callable[[], None] | None:
        """Under the lock, as ``sock`` is accepted: what its thread runs, or None to close it
        unserved."""
        raise NotImplementedError

    def track(self, sock: _Socket) -> _Socket:
        """Register a socket for ``stop()`` to close too (one a handler opened, a TLS wrap)."""
        with self._lock:
            self._sockets.append(sock)
        return sock

    def wrap_tls(
        self, sock: socket.socket, context: ssl.SSLContext
    ) -> ssl.SSLSocket | None:
        """The server side of a TLS handshake on an accepted socket: the wrapped socket, or
        None (and the socket closed) when the handshake failed."""
        return _handshake(sock, context, self.track)

    def _accept_loop(self) -> None:
        while True:
            try:
                sock, address = self.listener.accept()
            except OSError:
                return  # the listener is closed
            if self._stopping.is_set():
                sock.close()
                return
            with self._lock:
                work = self._admit(sock, address)
                if work is not None:
                    # Started under the lock, so that whoever next takes the lock to join
                    # the threads never finds one that has not started.
                    thread = threading.Thread(target=work, daemon=True)
                    self._sockets.append(sock)
                    self._threads.append(thread)
                    thread.start()
            if work is None:
                sock.close()

    def _end_connections(self, timeout: float) -> list[threading.Thread]:
        """Wake every connection (shut its sockets down), join its thread, close its sockets;
        returns the threads still running after ``timeout`` seconds each."""
        with self._lock:
            sockets, self._sockets = self._sockets, []
            threads, self._threads = self._threads, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(timeout)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.close()
        return [thread for thread in threads if thread.is_alive()]

    def stop(self) -> None:
        """Stop accepting, then end every connection: nothing of the server stays open."""
        self._stopping.set()
        with contextlib.suppress(OSError):  # wake accept(), which then sees the flag
            socket.create_connection((self.host, self.port), timeout=1.0).close()
        self._acceptor.join(JOIN_TIMEOUT)
        with contextlib.suppress(OSError):
            self.listener.close()
        self._end_connections(JOIN_TIMEOUT)


# ----------------------------------------------------------------------- app-based


def default_app(request: ReceivedRequest, side: ServerSide) -> Reply:
    """Echo: the body names the connection and request, plus the request body."""
    body = f"{request.method} {request.target} conn={request.connection}".encode()
    return Reply(200, [("Content-Type", "text/plain")], body + request.body)


def json_echo_app(request: ReceivedRequest, side: ServerSide) -> Reply:
    """Answers with what it received: method, target, headers and body as JSON."""
    body = json.dumps(
        {
            "method": request.method,
            "target": request.target,
            "headers": {n.lower(): v for n, v in request.headers},
            "body": request.body.decode("latin-1"),
        }
    ).encode()
    return Reply(200, [("Content-Type", "application/json")], body)


class TestServer(LoopbackServer):
    """A threaded loopback server answering with ``app``; use as a context manager or call
    ``stop()``."""

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
        self.on_connect = (
            on_connect  # return False to have the connection handled no further
        )
        self.requests: list[ReceivedRequest] = []
        self.sides: list[ServerSide] = []
        self.connections = 0
        self.open_connections = 0
        self.max_open_connections = 0
        self.tls_resumed: list[bool] = []
        super().__init__(host=host, ssl_context=ssl_context)

    def _admit(
        self, sock: socket.socket, address: tuple[object, ...]
    ) -> Callable[[], None]:
        self.connections += 1
        # As a real server does: a small reply must not wait for the client's ACK (Nagle),
        # or the client's timings would show the server's delay as its own.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return functools.partial(self._serve, sock, self.connections)

    def _serve(self, sock: socket.socket, index: int) -> None:
        with self._lock:
            self.open_connections += 1
            self.max_open_connections = max(
                self.max_open_connections, self.open_connections
            )
        try:
            if self.ssl_context is not None:
                tls = self.wrap_tls(sock, self.ssl_context)
                if tls is None:
                    return
                sock = tls
                self.tls_resumed.append(bool(tls.session_reused))
            side = ServerSide(sock, index, self)
            with self._lock:
                self.sides.append(side)
            if self.on_connect is not None and not self.on_connect(side):
                return
            while not side.closed and not self._stopping.is_set():
                request = side.read_request()
                if request is None:
                    break
                with self._lock:
                    self.requests.append(request)
                reply = self.app(request, side)
                if reply is not None and not side.closed:
                    side.send_reply(reply)
            side.close()
        except (
            Exception
        ):  # a scripted misbehaviour may break the socket; that is the point
            with contextlib.suppress(OSError):
                sock.close()
        finally:
            with self._lock:
                self.open_connections -= 1


def serve(app: App = default_app, **kw: object) -> Iterator[TestServer]:
    """Generator for fixtures: yields a running server and stops it afterwards."""
    server = TestServer(app, **kw)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()


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
        side.sock.settimeout(HANDSHAKE_TIMEOUT)
        try:
            first = side.sock.recv(1, socket.MSG_PEEK)
        except OSError:
            side.close()
            return False
        if first != b"\x16":
            self.schemes.append("http")
            return True
        if not side.start_tls(self.ssl_context):
            return False
        self.schemes.append("https")
        return True


# ----------------------------------------------------------------------- handler-scripted


class ScriptedServer(LoopbackServer):
    """A loopback server whose connections run the current ``handler``; one serves many
    hypothesis examples.

    ``finish()`` is what makes per-example accounting exact: it first makes sure every
    connection the client opened has been accepted (a marker connection goes through the
    same FIFO backlog), then shuts every server socket down and joins the handler threads,
    so an example ends with no server-side descriptor open.
    """

    def __init__(self, *, host: str = "127.0.0.1") -> None:
        self._handler: Handler = _hang_up
        self._peers: list[Peer] = []
        self._marker: tuple[object, ...] | None = None
        self._marker_seen = threading.Event()
        self.accepted = 0
        self.requests: list[ReceivedRequest] = []
        super().__init__(host=host)

    # -- per example ----------------------------------------------------------------------

    def serve(self, handler: Handler) -> None:
        """Start an example: new connections run ``handler``; counters start from zero."""
        with self._lock:
            self._handler = handler
            self.accepted = 0
            self.requests = []

    @property
    def peers(self) -> list[Peer]:
        with self._lock:
            return list(self._peers)

    def peer(self, index: int) -> Peer:
        with self._lock:
            for p in self._peers:
                if p.index == index:
                    return p
        raise KeyError(index)

    def finish(self) -> None:
        """End an example: all connections accepted, every handler done, every socket closed."""
        self._sync_backlog()
        stuck = self._end_connections(10.0)
        with self._lock:
            self._peers = []
            self._handler = _hang_up
        assert not stuck, "a server handler did not finish"

    def stop(self) -> None:
        self.finish()
        super().stop()

    # -- internals ------------------------------------------------------------------------

    def _record(self, request: ReceivedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _sync_backlog(self) -> None:
        # The backlog is FIFO: once a marker connected now is accepted, every connection
        # the client opened earlier has been accepted too, and so is counted.
        marker = socket.socket(self.listener.family, socket.SOCK_STREAM)
        try:
            marker.bind((self.host, 0))  # known address before the acceptor can see it
            with self._lock:
                self._marker_seen.clear()
                self._marker = marker.getsockname()
            marker.settimeout(5.0)
            marker.connect((self.host, self.port))
            assert self._marker_seen.wait(5.0), "the acceptor is stuck"
        finally:
            marker.close()
            with self._lock:
                self._marker = None

    def _admit(
        self, sock: socket.socket, address: tuple[object, ...]
    ) -> Callable[[], None] | None:
        if self._marker is not None and address == self._marker:
            self._marker_seen.set()
            return None
        self.accepted += 1
        peer = Peer(self, sock, self.accepted)
        self._peers.append(peer)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return functools.partial(self._run, peer, self._handler)

    def _run(self, peer: Peer, handler: Handler) -> None:
        try:
            handler(peer)
        except OSError:
            pass  # the client went away mid-script: that is often the point
        finally:
            if peer.end_with_reset:
                peer.reset()
            else:
                peer.close()
            peer.done.set()


def _hang_up(peer: Peer) -> None:
    peer.close()


# ----------------------------------------------------------------------- descriptors


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def settled_fds() -> int:
    """Descriptors open once garbage (dropped responses, closed sockets) is collected."""
    gc.collect()
    return open_fds()


def assert_no_fd_leak(before: int, grace: float = 2.0) -> None:
    """Fail unless the descriptor count comes back to ``before`` within ``grace`` seconds.

    Another thread may be a moment away from closing its last socket (a server thread
    tearing down), so a count is only a leak when it stays up.
    """
    if open_fds() <= before:
        return
    deadline = time.monotonic() + grace
    while True:
        now = settled_fds()
        if now <= before:
            return
        if time.monotonic() > deadline:
            raise AssertionError(
                f"file descriptors leaked: {before} before, {now} after"
            )
        time.sleep(0.005)
