"""One socket, many requests: ``HTTPConnection`` drives an ``h11.Connection`` over TCP or TLS.

Theory of operation
-------------------
A connection is NEW until its first request opens the socket, ACTIVE while a request/response
cycle is in flight, IDLE between cycles, and CLOSED for good once anything makes the socket
unfit to carry another cycle. ``_end_cycle`` is the single place that decides between IDLE
and CLOSED, and it decides only once the response body has been read to its end:

* both h11 sides must be ``DONE`` (RFC 9112 section 9.3: a message must be complete before
  the next may be sent on a persistent connection); h11 moves a side to ``MUST_CLOSE`` for
  ``Connection: close`` (either side), HTTP/1.0 peers and close-delimited bodies;
* the server's ``Keep-Alive: timeout=, max=`` hint must still allow another request;
* an error or timeout at any point closes the socket at once (``_fail``), so a connection is
  never left half-used.

Bytes come in through ``recv_into`` on one reused 64 KiB buffer and go to h11 as a
memoryview slice. The request head and a small body leave in one ``sendall``. Socket, TLS
and h11 errors are translated by ``exceptions.translate`` at the two I/O methods
(``_recv``, ``_send``), the handshake and the parser calls; nothing foreign escapes.

The response object (``RawResponse``) streams the body by asking the connection for the
next ``Data`` event. Closing it early drains a small remainder (``DRAIN_LIMIT``) so the
connection can be kept, or closes the connection when more is left (SPEC.md rule 8).
Whoever owns the connection (the pool) learns that a cycle ended through ``on_release``.
"""

from __future__ import annotations

import enum
import functools
import ipaddress
import itertools
import os
import select
import socket
import ssl
import stat
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import IO, Any, NamedTuple, Union

import h11

from . import tls
from .exceptions import (
    CONNECT,
    READ,
    WRITE,
    ConnectTimeout,
    InvalidURL,
    KeepaliveError,
    LocalProtocolError,
    ProxyError,
    RemoteProtocolError,
    ResponseClosed,
    ServerDisconnected,
    StreamConsumed,
    TransportError,
    translate,
)
from .models import DEFAULT_TIMEOUT, Headers, Timeout, TimeoutLike, Timings
from .urls import DEFAULT_PORTS

__all__ = ["ConnectionState", "HTTPConnection", "Proxy", "RawResponse"]

RECV_SIZE = 64 * 1024  # receive buffer, reused for the connection's whole life
MAX_HEAD_SIZE = 64 * 1024  # a larger response head is refused (SPEC.md security defaults)
DRAIN_LIMIT = 64 * 1024  # the most an early close() reads to keep the connection
DRAIN_TIMEOUT = 1.0  # and the longest it waits for that remainder, in seconds
SMALL_BODY = 64 * 1024  # bodies up to this size go out in the same write as the head
FILE_CHUNK = 64 * 1024
EXPECT_CONTINUE_WAIT = 1.0  # RFC 9110 section 10.1.1: do not wait forever for a 100
DIRECT_READ_MIN = 256 * 1024  # a Content-Length remainder this large bypasses h11's buffer
DIRECT_READ_SIZE = 256 * 1024  # bytes asked of the socket per read on that path

# Methods whose content has a defined meaning: without a body they still say
# "Content-Length: 0" (RFC 9110 section 8.6). Both spellings, as ``request`` takes either.
BODY_METHODS: frozenset[str | bytes] = frozenset(
    {"POST", "PUT", "PATCH", b"POST", b"PUT", b"PATCH"}
)

BodyLike = Union[bytes, bytearray, memoryview, str, IO[bytes], Iterable[bytes], None]
HeaderPairs = Union[Iterable[tuple[str | bytes, str | bytes]], Mapping[str, str], Headers, None]

_VERSIONS = {b"1.1": "HTTP/1.1", b"1.0": "HTTP/1.0"}
_connection_ids = itertools.count(1)  # next() on a count is atomic under the GIL


class ConnectionState(enum.Enum):
    """Where a connection is in its life; only ``_end_cycle`` and ``_fail`` move it on."""

    NEW = "NEW"
    ACTIVE = "ACTIVE"
    IDLE = "IDLE"
    CLOSED = "CLOSED"


NEW, ACTIVE, IDLE, CLOSED = (
    ConnectionState.NEW,
    ConnectionState.ACTIVE,
    ConnectionState.IDLE,
    ConnectionState.CLOSED,
)


class Proxy(NamedTuple):
    """An HTTP proxy to reach the origin through: where it listens and what to tell it."""

    host: str
    port: int
    headers: tuple[tuple[str, str], ...] = ()


@functools.lru_cache(maxsize=256)
def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _body_length(body: Any) -> int | None:
    """Bytes left in a file object from its current position, when that can be known."""
    try:
        info = os.fstat(body.fileno())
        if stat.S_ISREG(info.st_mode):  # a pipe, socket or device has no meaningful size
            return max(0, info.st_size - int(body.tell()))
        return None
    except (AttributeError, OSError, ValueError):
        pass
    try:
        here = body.tell()
        end = body.seek(0, 2)
        body.seek(here)
        return max(0, int(end) - int(here))
    except (AttributeError, OSError, ValueError):
        return None


class HTTPConnection:
    """One TCP (or TLS) connection carrying request after request, one at a time.

    The socket is opened by the first ``request()`` (or ``connect()``). ``is_reusable``
    says whether it may carry another request now.
    """

    __slots__ = (
        "_body_left",
        "_buf",
        "_cycle_bytes",
        "_cycle_started",
        "_direct",
        "_eof",
        "_got_bytes",
        "_h11",
        "_head_at",
        "_host_header",
        "_poller",
        "_read_timeout",
        "_requests_left",
        "_sent_at",
        "_sock",
        "_sock_timeout",
        "_state",
        "_their_close",
        "_timings",
        "_view",
        "close_reason",
        "expires_at",
        "host",
        "id",
        "idle_timeout_hint",
        "on_open",
        "on_release",
        "opened",
        "port",
        "proxy",
        "receive_buffer_size",
        "request_count",
        "scheme",
        "server_hostname",
        "ssl_context",
        "timeout",
        "tls_resumed",
        "where",
    )

    abandoned = 0  # connections closed because their response was dropped unread (by GC)

    def __init__(
        self,
        host: str,
        port: int | None = None,
        scheme: str = "http",
        ssl_context: ssl.SSLContext | None = None,
        timeout: TimeoutLike = DEFAULT_TIMEOUT,
        *,
        proxy: Proxy | None = None,
        server_hostname: str | None = None,
        receive_buffer_size: int | None = None,
    ) -> None:
        if scheme not in DEFAULT_PORTS:
            raise InvalidURL(f"unsupported scheme {scheme!r}: use 'http' or 'https'")
        if not host:
            raise InvalidURL("no host given")
        if port is None:
            port = DEFAULT_PORTS[scheme]
        if not isinstance(port, int) or not 0 < port < 65536:
            raise InvalidURL(f"bad port {port!r} for {host}")
        self.host = host.strip("[]")
        self.port = port
        self.scheme = scheme
        self.ssl_context = ssl_context
        self.timeout = Timeout.coerce(timeout)
        self.proxy = proxy
        self.server_hostname = server_hostname
        self.receive_buffer_size = receive_buffer_size
        self.id = next(_connection_ids)
        self.where = f"{scheme}://{host}:{port}"
        name = f"[{self.host}]" if ":" in self.host else self.host
        self._host_header = name if port == DEFAULT_PORTS[scheme] else f"{name}:{port}"
        self._state = NEW
        self._sock: socket.socket | None = None
        self._sock_timeout: float | None = -1.0  # what settimeout() was last given
        self._h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_SIZE)
        self._buf = bytearray(RECV_SIZE)
        self._view = memoryview(self._buf)
        self._poller: select.poll | None = None
        self._timings: Timings | None = None
        self._cycle_started = 0.0
        self._sent_at = 0.0
        self._head_at = 0.0
        self._read_timeout: float | None = self.timeout.read
        self._got_bytes = False  # any byte of the current response seen yet?
        self._cycle_bytes = 0  # bytes received in this cycle (bounds the head's size)
        self._eof = False  # the peer ended its side of the stream
        self._direct = False  # the body is being read straight from the socket (see below)
        self._their_close = False  # the response head asked to close (or is HTTP/1.0)
        self._body_left: int | None = None  # Content-Length still to come, when known
        self._requests_left: int | None = None  # from the server's Keep-Alive: max=
        self.idle_timeout_hint: float | None = None  # from the server's Keep-Alive: timeout=
        self.request_count = 0
        self.tls_resumed = False
        self.expires_at = float("inf")  # set by the pool while the connection is idle
        self.close_reason = ""  # why it was retired, for logs
        self.opened = False  # the socket (and TLS) came up at some point
        self.on_open: Callable[[HTTPConnection], None] | None = None
        self.on_release: Callable[[HTTPConnection], None] | None = None

    # -- the small interface the pool relies on -------------------------------------------

    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def is_reusable(self) -> bool:
        """May carry another request now: idle (or not yet opened) and not retired."""
        return self._state is IDLE or self._state is NEW

    @property
    def response_started(self) -> bool:
        """Some byte of the current (or last) response has arrived."""
        return self._got_bytes

    @property
    def is_idle(self) -> bool:
        return self._state is IDLE

    @property
    def is_closed(self) -> bool:
        return self._state is CLOSED

    def has_peer_closed(self) -> bool:
        """Non-blocking check of an idle socket: has the peer closed it or sent stray bytes?

        Between cycles a healthy server sends nothing (RFC 9112 section 9.3 forbids a
        response before a request), so readability means EOF, a reset or garbage: in every
        case the connection must not carry a request. ``poll`` with a zero timeout is one
        syscall and works for any descriptor number, unlike ``select``.
        """
        sock = self._sock
        if sock is None:
            return self._state is CLOSED
        if self._poller is None:
            self._poller = select.poll()
            self._poller.register(sock.fileno(), select.POLLIN | select.POLLPRI)
        try:
            ready = self._poller.poll(0)
        except (OSError, ValueError):
            return True
        if not ready:
            return isinstance(sock, ssl.SSLSocket) and sock.pending() > 0
        if isinstance(sock, ssl.SSLSocket):
            return self._tls_has_data(sock)
        return True

    def _tls_has_data(self, sock: ssl.SSLSocket) -> bool:
        # A TLS 1.3 server may send a NewSessionTicket after the response; that makes the
        # socket readable without any application data. Read without blocking: "want
        # read" means only such records were there and the connection is still good.
        try:
            sock.setblocking(False)
            try:
                sock.recv(1)
            finally:
                self._sock_timeout = -1.0
        except ssl.SSLWantReadError:
            return False
        except (OSError, ValueError):
            return True
        return True  # application data between cycles, or EOF: unusable either way

    def close(self) -> None:
        """Close the socket; the connection can carry nothing more.

        Safe anywhere, even from a finaliser: no lock, no I/O that can block (a plain
        close sends no TLS close_notify and does not shut a forked parent's socket down).
        """
        self._state = CLOSED
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass

    def __repr__(self) -> str:
        return (
            f"<HTTPConnection #{self.id} [{self.where}, {self._state.value}, "
            f"requests: {self.request_count}]>"
        )

    # -- opening --------------------------------------------------------------------------

    def connect(self, timeout: float | None = None) -> Timings:
        """Open the TCP (and TLS) connection now; returns how long each phase took."""
        if self._state is not NEW:
            raise LocalProtocolError(f"{self!r} is already connected")
        timings = Timings()
        try:
            self._open(self.timeout.connect if timeout is None else timeout, timings)
        except BaseException:
            self.close()
            raise
        self._state = IDLE
        return timings

    def _open(self, timeout: float | None, timings: Timings) -> None:
        host, port = (self.proxy.host, self.proxy.port) if self.proxy else (self.host, self.port)
        where = f"{host}:{port}"
        deadline = None if timeout is None else time.monotonic() + timeout
        t0 = time.perf_counter()
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise translate(exc, CONNECT, where) from exc
        t1 = time.perf_counter()
        if not _is_ip_literal(host):
            timings.dns = t1 - t0
        last_error: BaseException | None = None
        sock: socket.socket | None = None
        for family, kind, proto, _, address in infos:
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(self._time_left(deadline))
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if self.receive_buffer_size:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.receive_buffer_size)
                sock.connect(address)
                break
            except OSError as exc:
                sock.close()
                sock, last_error = None, exc
                if isinstance(exc, ConnectTimeout):
                    raise
        if sock is None:
            error = last_error or OSError(f"no address for {host}")
            raise translate(error, CONNECT, where) from error
        t2 = time.perf_counter()
        timings.connect = t2 - t1
        self._sock = sock  # from here on, close() releases it whatever fails next
        if self.proxy is not None and self.scheme == "https":
            self._open_tunnel(sock)
        if self.scheme == "https":
            self._sock = self._handshake(sock, deadline)
            timings.tls = time.perf_counter() - t2
            timings.tls_resumed = self.tls_resumed
        self._sock_timeout = -1.0
        self.opened = True
        if self.on_open is not None:
            self.on_open(self)

    def _time_left(self, deadline: float | None) -> float | None:
        """What remains of the connect budget; ConnectTimeout once it is spent (a zero
        socket timeout would mean non-blocking, not "no time left")."""
        if deadline is None:
            return None
        left = deadline - time.monotonic()
        if left <= 0:
            raise ConnectTimeout(f"connecting to {self.where} took longer than the connect timeout")
        return left

    def _handshake(self, sock: socket.socket, deadline: float | None) -> ssl.SSLSocket:
        ctx = self.ssl_context if self.ssl_context is not None else tls.context_for(True)
        self.ssl_context = ctx
        name = self.server_hostname or self.host
        try:
            tls_sock = ctx.wrap_socket(
                sock,
                server_hostname=None if _is_ip_literal(name) and not ctx.check_hostname else name,
                do_handshake_on_connect=False,
                session=tls.saved_session(ctx, self.host, self.port),
            )
        except (OSError, ValueError) as exc:
            raise translate(exc, CONNECT, self.where) from exc
        try:
            tls_sock.settimeout(self._time_left(deadline))
            tls_sock.do_handshake()
        except (OSError, ssl.SSLError) as exc:
            tls_sock.close()
            if isinstance(exc, socket.timeout | TimeoutError):
                raise ConnectTimeout(f"TLS handshake with {self.where} timed out") from exc
            raise translate(exc, CONNECT, self.where) from exc
        self.tls_resumed = bool(tls_sock.session_reused)
        return tls_sock

    def _open_tunnel(self, sock: socket.socket) -> None:
        """Ask the proxy for a tunnel to the origin with CONNECT (RFC 9110 section 9.3.6)."""
        assert self.proxy is not None
        target = f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"
        tunnel = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_SIZE)
        proxy_where = f"proxy {self.proxy.host}:{self.proxy.port}"
        try:
            sock.settimeout(self.timeout.connect)
            headers = [("Host", target), *self.proxy.headers]
            sock.sendall(
                tunnel.send(h11.Request(method="CONNECT", target=target, headers=headers))
                + tunnel.send(h11.EndOfMessage())
            )
            while True:
                event = tunnel.next_event()
                if event is h11.NEED_DATA:
                    tunnel.receive_data(sock.recv(65536))
                    continue
                if isinstance(event, h11.InformationalResponse):
                    continue
                break
        except (OSError, ssl.SSLError, h11.ProtocolError) as exc:
            error = translate(exc, CONNECT, proxy_where)
            raise ProxyError(f"CONNECT to {target} through {proxy_where} failed: {error}") from exc
        if not isinstance(event, h11.Response) or not 200 <= event.status_code < 300:
            status = getattr(event, "status_code", "no response")
            reason = getattr(event, "reason", b"").decode("latin-1")
            raise ProxyError(f"{proxy_where} refused CONNECT to {target}: {status} {reason}")

    # -- one request/response cycle ----------------------------------------------------------

    def request(
        self,
        method: str | bytes,
        target: str | bytes,
        headers: HeaderPairs = None,
        body: BodyLike = None,
        *,
        timeout: TimeoutLike | None = None,
    ) -> RawResponse:
        """Send one request and return its response once the head has arrived.

        The body stays on the socket until read through the response; the connection is
        busy until then. ``timeout=None`` uses the connection's own ``timeout``.
        """
        state = self._state
        if state is ACTIVE:
            raise LocalProtocolError(
                f"{self!r} is still carrying a request: read or close its response first"
            )
        if state is CLOSED:
            raise LocalProtocolError(f"{self!r} is closed: it cannot carry another request")
        limits = self.timeout if timeout is None else Timeout.coerce(timeout)
        event, data, stream = self._prepare(method, target, headers, body)
        # From here the cycle has begun: whatever happens, it ends in _end_cycle or _fail,
        # and either one tells the owner through on_release exactly once.
        timings = self._timings = Timings()
        self._read_timeout = limits.read
        self._state = ACTIVE
        self._got_bytes = False
        self._cycle_bytes = 0
        self._direct = False
        reused = self.request_count > 0
        self.request_count += 1
        self._cycle_started = time.perf_counter()
        try:
            if state is NEW:
                self._open(limits.connect, timings)
            response = self._send_request(event, data, stream, limits)
        except BaseException:
            self._fail()
            raise
        response.reused = reused
        return response

    def _prepare(
        self, method: str | bytes, target: str | bytes, headers: HeaderPairs, body: BodyLike
    ) -> tuple[h11.Request, bytes | bytearray | memoryview, Any]:
        """Validate and frame the request before any byte is written."""
        if headers is None:
            pairs: list[Any] = []
        elif isinstance(headers, Headers):
            pairs = headers.multi_items()
        elif isinstance(headers, Mapping):
            pairs = list(headers.items())
        else:
            pairs = list(headers)
        has_host = has_length = has_chunked = False
        declared: Any = None
        for name, value in pairs:
            lname = name.lower()
            if lname == "host" or lname == b"host":
                has_host = True
            elif lname == "content-length" or lname == b"content-length":
                has_length, declared = True, value
            elif lname == "transfer-encoding" or lname == b"transfer-encoding":
                has_chunked = True
        if not has_host:
            pairs.insert(0, ("Host", self._host_header))

        data: bytes | bytearray | memoryview = b""
        stream: Any = None
        if body is None or body == b"":
            if not (has_length or has_chunked) and method in BODY_METHODS:
                pairs.append(("Content-Length", "0"))
        elif isinstance(body, bytes | bytearray | memoryview | str):
            data = body.encode("utf-8") if isinstance(body, str) else body
            if has_length:
                text = declared.decode("latin-1") if isinstance(declared, bytes) else str(declared)
                if text.strip() != str(len(data)):
                    raise LocalProtocolError(
                        f"Content-Length {declared!r} does not match a body of {len(data)} bytes"
                    )
            elif not has_chunked:
                pairs.append(("Content-Length", str(len(data))))
        elif hasattr(body, "read"):
            stream = body
            if not (has_length or has_chunked):
                size = _body_length(body)
                pairs.append(
                    ("Content-Length", str(size))
                    if size is not None
                    else ("Transfer-Encoding", "chunked")
                )
        elif isinstance(body, Iterable) and not isinstance(body, Mapping):
            stream = body
            if not (has_length or has_chunked):
                pairs.append(("Transfer-Encoding", "chunked"))
        else:
            raise LocalProtocolError(
                f"cannot send a body of type {type(body).__name__}: "
                "give bytes, str, a file object or an iterable of bytes"
            )
        try:
            event = h11.Request(method=method, target=target, headers=pairs)
        except h11.LocalProtocolError as exc:
            raise LocalProtocolError(f"illegal request for {self.where}: {exc}") from exc
        except UnicodeError:
            # h11 takes str as ASCII; header values may carry ISO-8859-1 (RFC 9110 5.5).
            try:
                pairs = [(n, v.encode("latin-1") if isinstance(v, str) else v) for n, v in pairs]
                event = h11.Request(method=method, target=target, headers=pairs)
            except (UnicodeError, h11.LocalProtocolError) as exc:
                raise LocalProtocolError(
                    f"illegal request for {self.where}: method, target and header names "
                    f"must be ASCII, header values ISO-8859-1 ({exc})"
                ) from exc
        return event, data, stream

    def _send_request(
        self,
        event: h11.Request,
        data: bytes | bytearray | memoryview,
        stream: Any,
        limits: Timeout,
    ) -> RawResponse:
        h = self._h11
        timings = self._timings
        assert timings is not None
        t0 = time.perf_counter()
        try:
            head = h.send(event)
        except h11.LocalProtocolError as exc:
            raise LocalProtocolError(f"illegal request for {self.where}: {exc}") from exc
        assert head is not None
        early: h11.Response | None = None
        expect_continue = (stream is not None or data) and any(
            n == b"expect" and v.lower() == b"100-continue" for n, v in event.headers
        )
        if expect_continue:
            self._send(head, limits.write)
            early = self._await_continue(limits)
            if early is None:
                self._send_body(data, stream, limits)
        elif stream is None and len(data) <= SMALL_BODY:
            # RFC 9112 section 9.3 allows it and Nagle would otherwise hold a second
            # segment back: head and small body leave together (SPEC.md rule 11).
            if data:
                head = b"".join([head, *self._frame(data), h.send(h11.EndOfMessage()) or b""])
            else:
                head += h.send(h11.EndOfMessage()) or b""
            self._send(head, limits.write)
        else:
            self._send(head, limits.write)
            self._send_body(data, stream, limits)
        self._sent_at = time.perf_counter()
        timings.send = self._sent_at - t0
        return self._receive_head(event.method, limits.read, early)

    def _send_body(
        self, data: bytes | bytearray | memoryview, stream: Any, limits: Timeout
    ) -> None:
        h = self._h11
        write = limits.write
        try:
            if stream is None:
                for piece in self._frame(data):
                    self._send(piece, write)
            else:
                for chunk in self._iter_stream(stream):
                    if chunk:
                        for piece in self._frame(chunk):
                            self._send(piece, write)
            self._send(h.send(h11.EndOfMessage()), write)
        except h11.LocalProtocolError as exc:
            raise LocalProtocolError(f"request body does not match its framing: {exc}") from exc

    def _frame(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        """Body bytes framed for the wire (chunk size lines when chunked), without a copy.

        h11 frames any bytes-like object, though its annotations say ``bytes``.
        """
        return self._h11.send_with_data_passthrough(h11.Data(data=data)) or []  # type: ignore[arg-type]

    @staticmethod
    def _iter_stream(stream: Any) -> Iterator[bytes]:
        if hasattr(stream, "read"):
            while True:
                chunk = stream.read(FILE_CHUNK)
                if not chunk:
                    return
                yield chunk.encode("utf-8") if isinstance(chunk, str) else chunk
        for chunk in stream:
            if isinstance(chunk, str):
                chunk = chunk.encode("utf-8")
            elif not isinstance(chunk, bytes | bytearray | memoryview):
                raise LocalProtocolError(
                    f"a streamed body yielded {type(chunk).__name__}; it must yield bytes"
                )
            yield chunk

    def _await_continue(self, limits: Timeout) -> h11.Response | None:
        """After a head with ``Expect: 100-continue``: wait briefly for the verdict.

        Returns the final response when the server answered without wanting the body
        (the body is then never sent and the connection retires); None to send the body.
        """
        sock = self._sock
        assert sock is not None
        wait = (
            EXPECT_CONTINUE_WAIT if limits.read is None else min(EXPECT_CONTINUE_WAIT, limits.read)
        )
        ready, _, _ = select.select([sock], [], [], wait)
        if not ready and not (isinstance(sock, ssl.SSLSocket) and sock.pending()):
            return None  # the server said nothing: send the body anyway
        while True:
            event = self._next_event(limits.read)
            if isinstance(event, h11.InformationalResponse):
                if event.status_code == 100:
                    return None
                self._check_interim(event)
                continue
            if isinstance(event, h11.Response):
                return event
            raise RemoteProtocolError(f"{self.where} sent {type(event).__name__} before a response")

    def _receive_head(
        self, method: bytes, read_timeout: float | None, event: Any = None
    ) -> RawResponse:
        h = self._h11
        if event is None:
            event = self._next_event(read_timeout)
        while type(event) is not h11.Response:
            if type(event) is h11.InformationalResponse:
                self._check_interim(event)
                event = self._next_event(read_timeout)
                continue
            raise RemoteProtocolError(
                f"{self.where} sent {type(event).__name__} where a response head was expected"
            )
        now = self._head_at = time.perf_counter()
        timings = self._timings
        assert timings is not None
        timings.wait = now - self._sent_at
        timings.total = now - self._cycle_started
        # h11's Headers is a Sequence whose generic __iter__ costs a __getitem__ call per
        # field; its list of (raw name, lower-case name, value) is read directly instead.
        items: list[tuple[bytes, bytes, bytes]] = event.headers._full_items
        self._their_close = event.http_version != b"1.1"
        # RFC 9110 sections 9.3.2, 15.3.5, 15.4.5: no body, whatever Content-Length says.
        no_body = method == b"HEAD" or event.status_code in (204, 304)
        self._read_hints(items, no_body)
        response = RawResponse(
            self, event.status_code, event.reason, event.http_version, items, timings
        )
        response.elapsed_seconds = timings.send + timings.wait
        if self._body_left == 0:
            # HEAD, 204, 304 or Content-Length: 0: the message is complete already, so the
            # connection is free now, before anyone reads the (empty) body.
            try:
                end = h.next_event()
            except h11.RemoteProtocolError as exc:
                raise RemoteProtocolError(f"{self.where} broke HTTP/1.1: {exc}") from exc
            if type(end) is h11.EndOfMessage:
                self._end_cycle()
                response._done = True
        return response

    def _check_interim(self, event: h11.InformationalResponse) -> None:
        if event.status_code == 101:
            raise RemoteProtocolError(
                f"{self.where} switched protocols (101), which this client does not support"
            )

    def _read_hints(self, items: list[tuple[bytes, bytes, bytes]], no_body: bool) -> None:
        """Note Content-Length and the server's ``Keep-Alive`` hint from a response head.

        ``Keep-Alive`` is not in RFC 9112 but in RFC 2068 section 19.7.1.1; Apache and nginx
        send it. ``max=M`` is how many more requests the server will take on this connection;
        ``timeout=N`` its idle limit in seconds.
        """
        body_left: int | None = None
        max_seen = False
        chunked = False
        for _, name, value in items:
            if name == b"content-length":
                body_left = int(value)
            elif name == b"transfer-encoding":
                chunked = True  # RFC 9112 section 6.3: it overrides any Content-Length
            elif name == b"connection":
                if any(t.strip().lower() == b"close" for t in value.split(b",")):
                    self._their_close = True
            elif name == b"keep-alive":
                for part in value.split(b","):
                    key, _, number = part.strip().partition(b"=")
                    try:
                        if key.lower() == b"timeout":
                            self.idle_timeout_hint = float(number.strip().strip(b'"'))
                        elif key.lower() == b"max":
                            self._requests_left = int(number.strip().strip(b'"'))
                            max_seen = True
                    except ValueError:
                        continue  # a malformed hint is ignored, as RFC 2068 allows
        # h11 bounds only a head still incomplete; one that arrived whole in a single read
        # is measured here, when more than the limit has arrived at all.
        if self._cycle_bytes > MAX_HEAD_SIZE and (
            sum(len(name) + len(value) + 4 for _, name, value in items) > MAX_HEAD_SIZE
        ):
            raise RemoteProtocolError(
                f"{self.where} sent a response head over {MAX_HEAD_SIZE // 1024} KiB"
            )
        if not max_seen and self._requests_left is not None:
            self._requests_left -= 1  # the server did not restate its count: keep counting
        self._body_left = 0 if no_body else None if chunked else body_left

    def _next_event(self, read_timeout: float | None) -> Any:
        h = self._h11
        try:
            event = h.next_event()
            while event is h11.NEED_DATA:
                self._recv(read_timeout)
                event = h.next_event()
        except h11.RemoteProtocolError as exc:
            raise RemoteProtocolError(f"{self.where} broke HTTP/1.1: {exc}") from exc
        return event

    def _recv(self, read_timeout: float | None) -> None:
        sock = self._sock
        if sock is None:
            raise TransportError(
                f"the connection to {self.where} was closed while its response was read"
            )
        if read_timeout != self._sock_timeout:
            sock.settimeout(read_timeout)
            self._sock_timeout = read_timeout
        try:
            n = sock.recv_into(self._buf)
        except (OSError, ssl.SSLError) as exc:
            raise translate(exc, READ, self.where) from exc
        if n:
            self._got_bytes = True
            self._cycle_bytes += n
            self._h11.receive_data(self._view[:n])  # type: ignore[arg-type]  # bytes-like is fine
        elif self._got_bytes:
            self._eof = True
            self._h11.receive_data(b"")
        else:
            raise ServerDisconnected(
                f"{self.where} closed the connection without sending a response"
            )

    def _send(self, data: bytes | bytearray | memoryview, write_timeout: float | None) -> None:
        sock = self._sock
        if sock is None:
            raise RemoteProtocolError(f"connection to {self.where} is closed")
        if write_timeout != self._sock_timeout:
            sock.settimeout(write_timeout)
            self._sock_timeout = write_timeout
        try:
            sock.sendall(data)
        except (OSError, ssl.SSLError) as exc:
            raise translate(exc, WRITE, self.where) from exc

    # -- the body, driven by RawResponse --------------------------------------------------------

    def _read_data(self) -> bytes | bytearray | None:
        """The next piece of the body, or None at its end (which ends the cycle)."""
        try:
            if self._sock is None:
                raise TransportError(
                    f"the connection to {self.where} was closed while its response was read"
                )
            if self._direct:
                return self._read_direct()
            h = self._h11
            try:
                event = h.next_event()
                while event is h11.NEED_DATA:
                    left = self._body_left
                    if left is not None and left >= DIRECT_READ_MIN:
                        # h11's buffer is empty and a large Content-Length remainder is
                        # due: read it straight from the socket, one copy instead of three
                        # (into h11's buffer, out of it, into bytes). h11 never sees these
                        # bytes, so _end_cycle gives the connection a fresh h11 state.
                        self._direct = True
                        return self._read_direct()
                    self._recv(self._read_timeout)
                    event = h.next_event()
            except h11.RemoteProtocolError as exc:
                raise RemoteProtocolError(f"{self.where} broke HTTP/1.1: {exc}") from exc
            if type(event) is h11.Data:
                if self._body_left is not None:
                    self._body_left -= len(event.data)
                data: bytes | bytearray = event.data
                return data
            if type(event) is h11.EndOfMessage:
                self._end_cycle()
                return None
            raise RemoteProtocolError(f"{self.where} sent {type(event).__name__} inside a body")
        except BaseException:
            self._fail()
            raise

    def _read_direct(self) -> bytes | None:
        """The next piece of a Content-Length body read past h11, or None at its end."""
        left = self._body_left
        assert left is not None
        if left == 0:
            self._end_cycle()
            return None
        sock = self._sock
        assert sock is not None
        if self._read_timeout != self._sock_timeout:
            sock.settimeout(self._read_timeout)
            self._sock_timeout = self._read_timeout
        try:
            data = sock.recv(min(left, DIRECT_READ_SIZE))
        except (OSError, ssl.SSLError) as exc:
            raise translate(exc, READ, self.where) from exc
        if not data:
            self._eof = True
            raise RemoteProtocolError(
                f"{self.where} closed the connection {left} bytes before the end of the body"
            )
        self._body_left = left - len(data)
        return data

    def _drain(self) -> None:
        """Read a small unread remainder so the connection can be kept (SPEC.md rule 8)."""
        if self._body_left is not None and self._body_left > DRAIN_LIMIT:
            self._fail()
            return
        budget = DRAIN_LIMIT
        read_timeout = self.timeout.read
        wait = DRAIN_TIMEOUT if read_timeout is None else min(DRAIN_TIMEOUT, read_timeout)
        if self._direct:
            self._read_timeout = wait
            try:
                while self._read_direct() is not None:
                    pass
                return
            except KeepaliveError:
                self._fail()
                return
        try:
            while budget >= 0:
                event = self._next_event(wait)
                if type(event) is h11.Data:
                    budget -= len(event.data)
                elif type(event) is h11.EndOfMessage:
                    self._end_cycle()
                    return
                else:
                    break
        except KeepaliveError:
            pass
        self._fail()

    def _end_cycle(self) -> None:
        """The one decision after a response ends: keep the socket (IDLE) or close it."""
        h = self._h11
        timings = self._timings
        if timings is not None:
            now = time.perf_counter()
            timings.receive = now - self._head_at
            timings.total = now - self._cycle_started
        sock = self._sock
        if self.request_count == 1 and isinstance(sock, ssl.SSLSocket):
            # Whether or not the socket is kept: a server that closes after every response
            # is exactly where resumption saves the most (SPEC.md rule 10).
            assert self.ssl_context is not None
            tls.remember_session(sock, self.ssl_context, self.host, self.port)
        reason = self._retire_reason()
        if reason is None:
            if self._direct:
                # This h11 state never saw the body and still expects it: start afresh.
                self._h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_SIZE)
            else:
                h.start_next_cycle()
            self._state = IDLE
        else:
            self.close_reason = self.close_reason or reason
            self.close()
        self._release()

    def _retire_reason(self) -> str | None:
        """Why the connection may not carry another cycle, or None when it may."""
        h = self._h11
        if self._sock is None:
            return "closed while its response was read"
        if self._eof:
            # h11 leaves both sides DONE after a close-delimited body (RFC 9112 section 6.3,
            # rule 8) when no "Connection: close" was sent, so the EOF itself retires it.
            return "the server ended the stream (close-delimited body)"
        # The server's side first: its "Connection: close" moves our side to MUST_CLOSE too.
        if self._direct:
            # h11 did not see the body (read straight from the socket), so its view of
            # the server's side is stale; the head tells whether the server will close.
            if self._their_close:
                return "the server asked to close (Connection: close or HTTP/1.0)"
        else:
            if h.their_state is not h11.DONE:
                return "the server asked to close (Connection: close or HTTP/1.0)"
            if h.trailing_data[0]:
                # Bytes past the end of the response answer nothing we sent (RFC 9112
                # section 9.3): the stream is out of step. They sit in h11's buffer, where
                # the idle socket poll cannot see them, so this is the place to catch them.
                return "stray bytes after the response"
        if h.our_state is not h11.DONE:
            return "our side must close (Connection: close sent, or the body not all sent)"
        if self._requests_left is not None and self._requests_left <= 0:
            return "the server's Keep-Alive max was reached"
        if self.idle_timeout_hint is not None and self.idle_timeout_hint <= 1.0:
            return "the server's Keep-Alive timeout is too short to reuse"
        return None

    def _fail(self) -> None:
        """Any error or timeout: the socket is closed and the cycle over."""
        was_active = self._state is ACTIVE
        self.close_reason = self.close_reason or "an error or timeout"
        self.close()
        if was_active:
            self._release()

    def _release(self) -> None:
        callback = self.on_release
        if callback is not None:
            callback(self)


def rechunk(chunks: Iterator[bytes | bytearray], chunk_size: int) -> Iterator[bytes]:
    """Re-cut a stream of byte chunks into pieces of exactly ``chunk_size`` (the last shorter)."""
    if chunk_size <= 0:
        raise ValueError("chunk_size must be a positive number of bytes")
    pending = bytearray()
    for data in chunks:
        pending += data
        while len(pending) >= chunk_size:
            yield bytes(pending[:chunk_size])
            del pending[:chunk_size]
    if pending:
        yield bytes(pending)


class RawResponse:
    """A response as it came off one connection: status, head and the undecoded body stream.

    Read the body with ``read()``, ``iter_bytes()`` or ``iter_raw()``; ``close()`` (or
    leaving a ``with`` block) ends it early. The connection carries nothing else until then.
    """

    __slots__ = (
        "_conn",
        "_content",
        "_done",
        "_headers",
        "_items",
        "_state",
        "connection_id",
        "elapsed_seconds",
        "http_version",
        "reason",
        "reused",
        "status_code",
        "timings",
        "where",
    )

    # _state: 0 = unread, 1 = being streamed, 2 = read to the end, 3 = closed early
    def __init__(
        self,
        conn: HTTPConnection | None,
        status_code: int,
        reason: bytes,
        http_version: bytes,
        header_items: list[tuple[bytes, bytes, bytes]],
        timings: Timings | None = None,
    ) -> None:
        self._conn = conn
        self.status_code = status_code
        self.reason = reason.decode("latin-1")
        self.http_version = _VERSIONS.get(http_version) or "HTTP/" + http_version.decode()
        self._items = header_items
        self._headers: Headers | None = None
        self._content: bytes | None = None
        self._done = False
        self._state = 0
        self.reused = False
        self.connection_id = conn.id if conn is not None else 0
        self.timings = Timings() if timings is None else timings
        self.elapsed_seconds = 0.0
        self.where = conn.where if conn is not None else ""

    @property
    def headers(self) -> Headers:
        headers = self._headers
        if headers is None:
            headers = self._headers = Headers._from_wire(self._items)
        return headers

    def has_header(self, name: bytes) -> bool:
        """Whether the head has a field named ``name`` (lower-case bytes); no parsing."""
        for item in self._items:  # noqa: SIM110 - no generator on the hot path
            if item[1] == name:
                return True
        return False

    @property
    def is_complete(self) -> bool:
        """The whole body has come off the socket."""
        return self._done

    def _chunks(self) -> Iterator[bytes | bytearray]:
        if self._state == 3:
            raise ResponseClosed(
                f"the response from {self.where} was closed before its body was read"
            )
        if self._state != 0:
            raise StreamConsumed(f"the body of the response from {self.where} was already read")
        self._state = 1
        conn = self._conn
        if self._done or conn is None:
            self._state = 2
            return
        read = conn._read_data
        while True:
            data = read()
            if data is None:
                self._done = True
                self._state = 2
                return
            yield data

    def iter_raw(self, chunk_size: int | None = None) -> Iterator[bytes]:
        """The body as it arrives, undecoded; in pieces of ``chunk_size`` when given."""
        if self._content is not None:
            content = self._content
            step = chunk_size or len(content) or 1
            for i in range(0, len(content), step):
                yield content[i : i + step]
            return
        if chunk_size is None:
            for data in self._chunks():
                yield bytes(data)
            return
        yield from rechunk(self._chunks(), chunk_size)

    iter_bytes = iter_raw

    def read(self) -> bytes:
        """The whole body; the connection is free once this returns."""
        content = self._content
        if content is None:
            if self._state == 0 and not self._done and self._conn is not None:
                # The common case, without a generator: read to the end of the message.
                self._state = 1
                read = self._conn._read_data
                parts = []
                data = read()
                while data is not None:
                    parts.append(data)
                    data = read()
                self._done = True
                self._state = 2
                content = b"".join(parts)
            else:
                content = b"".join(self._chunks())
            self._content = content
        return content

    @property
    def content(self) -> bytes:
        if self._content is None:
            raise ResponseClosed(f"the body from {self.where} has not been read: call read()")
        return self._content

    def close(self) -> None:
        """End the response; an unread small remainder is drained so the connection stays."""
        if self._done:
            if self._state == 0:
                self._state = 2
            return
        conn = self._conn
        if self._state in (0, 1):
            self._state = 3
        self._done = True
        if conn is not None and conn._state is ACTIVE:
            conn._drain()

    def __enter__(self) -> RawResponse:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        # A response dropped unread would hold its connection (and a pool slot) forever.
        # Only close the socket here: no locks, no I/O; the pool reclaims closed
        # connections it finds among its active ones.
        if not self._done:
            conn = self._conn
            if conn is not None and conn._state is ACTIVE:
                conn.close()
                HTTPConnection.abandoned += 1  # tells pools to look for slots to reclaim

    def __repr__(self) -> str:
        return f"<RawResponse [{self.status_code} {self.reason}] from {self.where}>"
