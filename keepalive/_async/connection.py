"""One socket, many requests: ``HTTPConnection`` drives the HTTP/1.1 protocol over a stream.

Theory of operation
-------------------
The connection is a thin driver. The protocol (``_h1.ClientProtocol``, sans I/O) decides
what to write, what the bytes read mean and whether the connection may be kept; the network
backend (``_network.SocketStream``) moves bytes and translates socket errors. The driver
only loops between the two and keeps the lifecycle:

NEW until its first request opens the socket, ACTIVE while a cycle is in flight, IDLE
between cycles, CLOSED for good once anything makes the socket unfit for another cycle.
``_end_cycle`` is the single place that moves ACTIVE to IDLE or CLOSED, after the protocol's
``verdict`` (docs/design.md, reuse rule 1); ``_fail`` closes on any error or timeout, so a
connection is never left half-used.

Every cycle that begins ends in exactly one report to the owner (the pool), a ``CycleEnd``
record: kept or not and why, whether any request byte reached the wire, whether a response
started, the server's idle hint and how long ago the response head arrived. A response
dropped unread is closed by its finaliser, which tells the owner through
``response_dropped`` (no lock may be taken there).

Time limits: each read and write gets the phase's timeout (``Timeout.read``/``write``); a
total deadline (``Timeout.total``), when set, caps every one of them, so a server that drips
a byte at a time cannot hold a request past it. Closing a response early drains at most
``DRAIN_LIMIT`` bytes within ``DRAIN_TIMEOUT`` seconds in all, else closes (reuse rule 8).
"""

from __future__ import annotations

import itertools
import ssl
import threading
import time
from collections.abc import AsyncIterator
from operator import itemgetter
from typing import Any, Protocol

from .. import tls
from .._async_network import SocketStream, open_tcp, socks5_handshake
from .._h1 import CONTINUE, END, NEED_DATA, ClientProtocol, ResponseHead, http_version_text
from .._request import BodyLike, HeaderPairs, RequestBody, header_pairs, make_body
from .._state import ConnectionState, CycleEnd, Proxy, Trace
from ..exceptions import (
    ConnectTimeout,
    InvalidArgument,
    InvalidURL,
    KeepaliveError,
    LocalProtocolError,
    ProxyError,
    ReadTimeout,
    RemoteProtocolError,
    ResponseClosed,
    ServerDisconnected,
    StreamConsumed,
    TimeoutError,
    TransportError,
    WriteTimeout,
)
from ..models import DEFAULT_TIMEOUT, Headers, Timeout, TimeoutLike, Timings
from ..urls import DEFAULT_PORTS

__all__ = [
    "AsyncConnectionOwner",
    "AsyncHTTPConnection",
    "AsyncRawResponse",
    "BodyLike",
    "ConnectionState",
    "CycleEnd",
    "HeaderPairs",
    "Proxy",
    "arechunk",
]

RECV_SIZE = 64 * 1024  # the receive buffer (one per thread, see _ReceiveBuffer)
DRAIN_LIMIT = 64 * 1024  # the most an early close() reads to keep the connection
DRAIN_TIMEOUT = 1.0  # and the longest it spends on that remainder in all, in seconds
EXPECT_CONTINUE_WAIT = 1.0  # RFC 9110 section 10.1.1: do not wait forever for a 100
EARLY_RESPONSE_WAIT = 1.0  # after a failed upload, how long to look for the server's answer
DIRECT_READ_SIZE = 256 * 1024  # bytes asked of the socket per read past h11
_LOWER_NAME = itemgetter(1)  # of h11's (name as sent, lower-case name, value)


class _ReceiveBuffer(threading.local):
    """One receive buffer per thread, shared by all its connections. A read's bytes are
    handed to the protocol, which copies them, before that thread (or, under asyncio, any
    task of its loop: there is no await in between) can read again; so no connection needs
    64 KiB of its own, which 1,000 idle connections would turn into 64 MiB."""

    def __init__(self) -> None:
        self.buf = bytearray(RECV_SIZE)
        self.view = memoryview(self.buf)


_RECEIVE = _ReceiveBuffer()

_connection_ids = itertools.count(1)  # next() on a count is atomic under the GIL


NEW, ACTIVE, IDLE, CLOSED = (
    ConnectionState.NEW,
    ConnectionState.ACTIVE,
    ConnectionState.IDLE,
    ConnectionState.CLOSED,
)


class AsyncConnectionOwner(Protocol):
    """What a connection tells its owner (the pool); given at construction."""

    def connection_opened(self, conn: AsyncHTTPConnection) -> None: ...

    def cycle_ended(self, conn: AsyncHTTPConnection, end: CycleEnd) -> None: ...

    def response_dropped(self, conn: AsyncHTTPConnection) -> None:
        """Called from a finaliser: must not block or take a lock."""


class AsyncHTTPConnection:
    """One TCP (or TLS) connection carrying request after request, one at a time.

    The socket is opened by the first ``request()`` (or ``connect()``). ``is_reusable``
    says whether it may carry another request now.
    """

    __slots__ = (
        "_cycle_started",
        "_deadline",
        "_head_at",
        "_in_cycle",
        "_owner",
        "_proto",
        "_read_timeout",
        "_reused",
        "_sent_any",
        "_sent_at",
        "_state",
        "_stream",
        "_timings",
        "_trace",
        "close_reason",
        "host",
        "id",
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
        owner: AsyncConnectionOwner | None = None,
    ) -> None:
        if scheme not in DEFAULT_PORTS:
            raise InvalidURL(f"unsupported scheme {scheme!r}: use 'http' or 'https'")
        if not host or not isinstance(host, str):
            raise InvalidURL(f"no host given ({host!r})")
        if port is None:
            port = DEFAULT_PORTS[scheme]
        if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
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
        host_header = name if port == DEFAULT_PORTS[scheme] else f"{name}:{port}"
        self._proto = ClientProtocol(host_header, where=self.where)
        self._owner = owner
        self._state = NEW
        self._stream: SocketStream | None = None
        self._timings: Timings | None = None
        self._cycle_started = 0.0
        self._sent_at = 0.0
        self._head_at = 0.0
        self._read_timeout: float | None = self.timeout.read
        self._deadline: float | None = None  # monotonic; the cycle's total deadline
        self._sent_any = False  # some byte of this cycle's request reached the wire
        self._reused = False  # this cycle runs on a connection that carried an earlier one
        self._in_cycle = False  # a cycle began and has not been reported yet
        self._trace: Trace | None = None  # the cycle's tracing callback
        self.request_count = 0
        self.tls_resumed = False
        self.close_reason = ""  # why it was retired, for logs
        self.opened = False  # the socket (and TLS) came up at some point

    # -- the small interface the pool relies on -------------------------------------------

    @property
    def state(self) -> ConnectionState:
        """Where the connection is in its life (NEW, ACTIVE, IDLE or CLOSED)."""
        return self._state

    @property
    def is_reusable(self) -> bool:
        """May carry another request now: idle (or not yet opened) and not retired."""
        return self._state is IDLE or self._state is NEW

    @property
    def is_idle(self) -> bool:
        """Between cycles: the last response was read to its end; may carry another request."""
        return self._state is IDLE

    @property
    def is_closed(self) -> bool:
        """The socket is closed; the connection never carries another request."""
        return self._state is CLOSED

    @property
    def idle_timeout_hint(self) -> float | None:
        """The server's ``Keep-Alive: timeout=`` in seconds, if it sent one."""
        return self._proto.idle_timeout_hint

    def has_peer_closed(self) -> bool:
        """Non-blocking: has the peer closed this idle connection or sent stray bytes?"""
        stream = self._stream
        if stream is None:
            return self._state is CLOSED
        return stream.has_peer_closed()

    def close(self) -> None:
        """Close the socket; the connection can carry nothing more.

        Safe anywhere, even from a finaliser: no lock, no I/O that can block.
        """
        self._state = CLOSED
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.close()

    # unasync: async-only
    async def aclose(self) -> None:
        """Close the connection (``close()`` is the same, without ``await``)."""
        self.close()

    # unasync: end
    def abort(self) -> None:
        """Like ``close``, and wake a thread blocked reading this connection."""
        self._state = CLOSED
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.abort()

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} #{self.id} [{self.where}, {self._state.value}, "
            f"requests: {self.request_count}]>"
        )

    # -- opening --------------------------------------------------------------------------

    async def connect(self, timeout: float | None = None) -> Timings:
        """Open the TCP (and TLS) connection now; returns how long each phase took."""
        if self._state is not NEW:
            raise LocalProtocolError(f"{self!r} is already connected")
        timings = Timings()
        try:
            await self._open(self.timeout.connect if timeout is None else timeout, None, timings)
        except BaseException:
            self.close()
            raise
        self._state = IDLE
        return timings

    async def _open(
        self, connect_timeout: float | None, total: float | None, timings: Timings
    ) -> None:
        proxy = self.proxy
        host, port = (proxy.host, proxy.port) if proxy is not None else (self.host, self.port)
        deadline = None if connect_timeout is None else time.monotonic() + connect_timeout
        if total is not None and (deadline is None or total < deadline):
            deadline = total
        try:
            stream, timings.dns, timings.connect = await open_tcp(
                host, port, deadline, receive_buffer_size=self.receive_buffer_size
            )
        except TransportError as exc:
            if proxy is not None and not isinstance(exc, TimeoutError):
                raise ProxyError(
                    f"cannot reach proxy {proxy.where} for {self.where}: {exc}"
                ) from exc
            raise
        self._stream = stream  # from here on, close() releases it whatever fails next
        trace = self._trace
        if trace is not None:
            trace("dns", {"host": host, "seconds": timings.dns})
            trace("connect", {"address": f"{host}:{port}", "seconds": timings.connect})
        if proxy is not None:
            stream = await self._through_proxy(stream, proxy, deadline, timings)
        if self.scheme == "https":
            t = time.perf_counter()
            ctx = self.ssl_context if self.ssl_context is not None else tls.context_for(True)
            self.ssl_context = ctx
            session = tls.saved_session(ctx, self.host, self.port)
            # Through an https proxy this TLS runs inside the proxy's (the backend nests it).
            stream = self._stream = await stream.start_tls(
                ctx, self.server_hostname or self.host, session, deadline
            )
            self.tls_resumed = stream.tls_resumed
            seconds = time.perf_counter() - t
            timings.tls += seconds  # after an https proxy's own handshake, if any
            timings.tls_resumed = self.tls_resumed
            if trace is not None:
                trace("tls", {"resumed": self.tls_resumed, "seconds": seconds})
        self.opened = True
        if self._owner is not None:
            self._owner.connection_opened(self)

    async def _through_proxy(
        self, stream: SocketStream, proxy: Proxy, deadline: float | None, timings: Timings
    ) -> SocketStream:
        """Make ``stream``, connected to the proxy, a way to the origin: TLS first for an
        https proxy (checked with the proxy's own context), then the SOCKS5 handshake, or
        CONNECT for an https origin. A plain http origin through an HTTP(S) proxy needs no
        tunnel: its requests go to the proxy in absolute form (RFC 9112 section 3.2.2)."""
        if proxy.scheme == "https":
            t = time.perf_counter()
            ctx = proxy.ssl_context if proxy.ssl_context is not None else tls.context_for(True)
            try:
                stream = self._stream = await stream.start_tls(ctx, proxy.host, None, deadline)
            except TimeoutError:
                raise
            except TransportError as exc:
                raise ProxyError(
                    f"TLS with proxy {proxy.where} for {self.where} failed: {exc}"
                ) from exc
            timings.tls += time.perf_counter() - t
        t = time.perf_counter()
        if proxy.is_socks:
            await socks5_handshake(stream, proxy, self.host, self.port, deadline)
        elif self.scheme == "https":
            await self._open_tunnel(stream, deadline)
        timings.connect += time.perf_counter() - t
        return stream

    async def _open_tunnel(self, stream: SocketStream, deadline: float | None) -> None:
        """Ask the proxy for a tunnel to the origin with CONNECT (RFC 9110 section 9.3.6),
        with the same protocol core in CONNECT mode, all within the connect deadline."""
        assert self.proxy is not None
        target = f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"
        proxy_where = f"proxy {self.proxy.where}"
        tunnel = ClientProtocol(target, where=proxy_where)
        pairs: list[Any] = [("Host", target), *self.proxy.headers]
        try:
            await stream.write(
                tunnel.start_request("CONNECT", target, pairs, make_body(None)),
                self._connect_left(deadline),
            )
            head = tunnel.next_head()
            while head is NEED_DATA:
                shared = _RECEIVE
                n = await stream.read_into(shared.buf, self._connect_left(deadline))
                tunnel.receive_data(shared.view[:n])
                head = tunnel.next_head()
        except TimeoutError as exc:
            raise ConnectTimeout(
                f"the CONNECT answer from {proxy_where} took longer than the connect timeout"
            ) from exc
        except KeepaliveError as exc:
            raise ProxyError(f"CONNECT to {target} through {proxy_where} failed: {exc}") from exc
        if not 200 <= head.status_code < 300:
            reason = head.reason.decode("latin-1")
            raise ProxyError(
                f"{proxy_where} refused CONNECT to {target}: {head.status_code} {reason}"
            )
        if tunnel.tunnel_established():
            raise ProxyError(f"{proxy_where} sent bytes after its CONNECT answer")

    def _connect_left(self, deadline: float | None) -> float | None:
        if deadline is None:
            return None
        left = deadline - time.monotonic()
        if left <= 0:
            raise ConnectTimeout(f"connecting to {self.where} took longer than the connect timeout")
        return left

    # -- one request/response cycle ----------------------------------------------------------

    async def request(
        self,
        method: str | bytes,
        target: str | bytes,
        headers: HeaderPairs | Headers = None,
        body: BodyLike | RequestBody = None,
        *,
        timeout: TimeoutLike | None = None,
        trace: Trace | None = None,
    ) -> AsyncRawResponse:
        """Send one request and return its response once the head has arrived.

        The body stays on the socket until read through the response; the connection is
        busy until then. ``timeout=None`` uses the connection's own ``timeout``. ``trace``
        is called with each event of the cycle (docs/design.md, tracing).
        """
        state = self._state
        if state is ACTIVE:
            raise LocalProtocolError(
                f"{self!r} is still carrying a request: read or close its response first"
            )
        if state is CLOSED:
            raise LocalProtocolError(f"{self!r} is closed: it cannot carry another request")
        limits = (
            self.timeout
            if timeout is None
            else timeout
            if type(timeout) is Timeout
            else Timeout.coerce(timeout)
        )
        pairs = header_pairs(headers)
        request_body = body if type(body) is RequestBody else make_body(body)
        # From here the cycle has begun: whatever happens, it ends in _end_cycle or _fail,
        # and either one reports to the owner exactly once.
        timings = self._timings = Timings()
        self._read_timeout = limits.read
        total = getattr(limits, "total", None)
        self._deadline = deadline = None if total is None else time.monotonic() + total
        self._state = ACTIVE
        self._in_cycle = True
        self._trace = trace
        self._sent_any = False
        self._reused = reused = self.request_count > 0
        self.request_count += 1
        self._cycle_started = time.perf_counter()
        proto = self._proto
        try:
            data = proto.start_request(method, target, pairs, request_body)
        except (LocalProtocolError, InvalidArgument):
            if not proto.is_clean:
                self._fail("the request was refused after framing began")
                raise
            # Refused before a byte was framed: the connection is as it was.
            self._state = state
            self.request_count -= 1
            self._report(state is IDLE, "the request was refused", response_started=False)
            raise
        try:
            if state is NEW:
                await self._open(limits.connect, deadline, timings)
            head = await self._exchange(data, request_body, limits)
        except ServerDisconnected as exc:
            self._fail()
            if proto.response_started:
                raise RemoteProtocolError(
                    f"{self.where} closed the connection in the middle of a response head"
                ) from exc
            exc.request_sent = self._sent_any
            exc.reused = reused
            raise
        except BaseException:
            self._fail()
            raise
        now = self._head_at = time.perf_counter()
        timings.wait = now - self._sent_at
        timings.total = now - self._cycle_started
        if trace is not None:
            trace("response.head", {"status_code": head.status_code, "seconds": timings.wait})
        response = AsyncRawResponse(
            self, head.status_code, head.reason, head.http_version, head.items, timings
        )
        response.reused = reused
        response.elapsed_seconds = timings.send + timings.wait
        if proto.body_left == 0:
            # HEAD, 204, 304 or Content-Length: 0: the message is complete already, so the
            # connection is free now, before anyone reads the (empty) body.
            try:
                end = proto.next_body()
            except BaseException:
                self._fail()
                raise
            if end is END:
                self._end_cycle()
                response._done = True
        return response

    async def _exchange(self, data: bytes, body: RequestBody, limits: Timeout) -> ResponseHead:
        """Write the request (head, then any body) and read the final response head."""
        proto = self._proto
        t0 = time.perf_counter()
        timings = self._timings
        assert timings is not None
        await self._write(data, limits.write)
        self._sent_any = True
        early: Any = None
        if proto.body_pending:
            if proto.expect_continue:
                early = await self._await_continue(limits)
            if early is None:
                try:
                    await self._send_body(body, limits.write)
                except TransportError as exc:
                    if isinstance(exc, TimeoutError):
                        raise
                    # The server may have answered (413, 401...) and closed while the body
                    # was still going out: that answer is what the caller needs.
                    early = await self._early_response(exc)
        self._sent_at = time.perf_counter()
        timings.send = self._sent_at - t0
        if self._trace is not None:
            self._trace("request.sent", {"seconds": timings.send})
        return early if early is not None else await self._read_head()

    async def _send_body(self, body: RequestBody, write_timeout: float | None) -> None:
        proto = self._proto
        if body.stream is None:
            for piece in proto.frame(body.data):
                await self._write(piece, write_timeout)
        else:
            async for chunk in body.achunks():
                if chunk:
                    for piece in proto.frame(chunk):
                        await self._write(piece, write_timeout)
        await self._write(proto.end_body(), write_timeout)

    async def _await_continue(self, limits: Timeout) -> ResponseHead | None:
        """After a head with ``Expect: 100-continue``: wait briefly for the verdict.

        Returns the final response when the server answered without wanting the body
        (the body is then never sent and the connection retires); None to send the body.
        """
        stream = self._stream
        assert stream is not None
        wait = EXPECT_CONTINUE_WAIT
        if limits.read is not None:
            wait = min(wait, limits.read)
        if not await stream.wait_readable(self._limit(wait, ReadTimeout)):
            return None  # the server said nothing: send the body anyway
        proto = self._proto
        while True:
            head = proto.next_head()
            if head is CONTINUE:
                return None
            if head is not NEED_DATA:
                return head  # type: ignore[no-any-return]
            await self._fill()

    async def _early_response(self, write_error: TransportError) -> ResponseHead:
        """After a failed write: the response the server sent before closing, if any."""
        stream = self._stream
        try:
            if stream is None or not await stream.wait_readable(EARLY_RESPONSE_WAIT):
                raise write_error
            proto = self._proto
            head = proto.next_head()
            while head is NEED_DATA or head is CONTINUE:
                await self._fill()
                head = proto.next_head()
        except KeepaliveError:
            raise write_error from None
        return head  # type: ignore[no-any-return]

    async def _read_head(self) -> ResponseHead:
        proto = self._proto
        if not proto.response_started:
            # Nothing of this response has been read yet, so the protocol can only say
            # NEED_DATA: read first and save it a parse (the reused path's largest cost
            # after h11's own work).
            await self._fill()
        head = proto.next_head()
        while head is NEED_DATA or head is CONTINUE:
            await self._fill()
            head = proto.next_head()
        return head  # type: ignore[no-any-return]

    def _limit(self, timeout: float | None, error: type[TimeoutError]) -> float | None:
        """The phase's ``timeout``, capped by what is left of the total deadline."""
        deadline = self._deadline
        if deadline is None:
            return timeout
        left = deadline - time.monotonic()
        if left <= 0:
            raise error(f"the total timeout for the request to {self.where} ran out")
        return left if timeout is None or left < timeout else timeout

    def _timeout_error(self, exc: TimeoutError, kind: type[TimeoutError]) -> TimeoutError:
        """A phase timed out: say so, or that the total deadline ran out when it was the
        deadline that cut the wait short."""
        deadline = self._deadline
        if deadline is not None and time.monotonic() >= deadline - 0.005:
            return kind(f"the total timeout for the request to {self.where} ran out")
        return exc

    async def _fill(self) -> None:
        """Read once from the socket into the protocol."""
        stream = self._stream
        if stream is None:
            raise TransportError(
                f"the connection to {self.where} was closed while its response was read"
            )
        timeout = (
            self._read_timeout
            if self._deadline is None
            else self._limit(self._read_timeout, ReadTimeout)
        )
        shared = _RECEIVE
        try:
            n = await stream.read_into(shared.buf, timeout)
        except ReadTimeout as exc:
            raise self._timeout_error(exc, ReadTimeout) from exc
        proto = self._proto
        if n:
            proto.receive_data(shared.view[:n])
        elif proto.response_started:
            proto.receive_data(b"")
        else:
            raise ServerDisconnected(
                f"{self.where} closed the connection without sending a response"
            )

    async def _write(
        self, data: bytes | bytearray | memoryview, write_timeout: float | None
    ) -> None:
        stream = self._stream
        if stream is None:
            raise RemoteProtocolError(f"connection to {self.where} is closed")
        if self._deadline is not None:
            write_timeout = self._limit(write_timeout, WriteTimeout)
        try:
            await stream.write(data, write_timeout)
        except WriteTimeout as exc:
            raise self._timeout_error(exc, WriteTimeout) from exc

    # -- the body, driven by RawResponse --------------------------------------------------------

    async def _read_body(self) -> bytes | bytearray | memoryview | None:
        """The next piece of the body, or None at its end (which ends the cycle)."""
        proto = self._proto
        try:
            if self._stream is None:
                raise TransportError(
                    f"the connection to {self.where} was closed while its response was read"
                )
            while True:
                if proto.reading_direct:
                    return await self._read_direct()
                piece = proto.next_body()
                if piece is NEED_DATA:
                    if proto.direct_budget():
                        return await self._read_direct()
                    await self._fill()
                    continue
                if piece is END:
                    self._end_cycle()
                    return None
                return piece  # type: ignore[no-any-return]
        except ServerDisconnected as exc:
            self._fail()
            raise RemoteProtocolError(
                f"{self.where} closed the connection in the middle of the response body"
            ) from exc
        except BaseException:
            self._fail()
            raise

    async def _read_direct(self) -> bytes | None:
        """A Content-Length remainder, read straight from the socket: one copy instead of
        three (into h11's buffer, out of it, into bytes)."""
        proto = self._proto
        left = proto.body_left or 0
        if left <= 0:
            self._end_cycle()
            return None
        stream = self._stream
        if stream is None:
            raise TransportError(
                f"the connection to {self.where} was closed while its response was read"
            )
        timeout = (
            self._read_timeout
            if self._deadline is None
            else self._limit(self._read_timeout, ReadTimeout)
        )
        try:
            data = await stream.read(min(left, DIRECT_READ_SIZE), timeout, gather=True)
        except ReadTimeout as exc:
            raise self._timeout_error(exc, ReadTimeout) from exc
        proto.direct_received(len(data))
        return data

    async def _drain(self) -> None:
        """Read a small unread remainder so the connection can be kept (reuse rule 8)."""
        proto = self._proto
        left = proto.body_left
        if left is not None and left > DRAIN_LIMIT:
            self._fail("the unread remainder of the body was over 64 KiB")
            return
        wait = DRAIN_TIMEOUT
        if self._read_timeout is not None:
            wait = min(wait, self._read_timeout)
        drain_deadline = time.monotonic() + wait
        if self._deadline is None or drain_deadline < self._deadline:
            self._deadline = drain_deadline
        budget = DRAIN_LIMIT
        try:
            while True:
                data = await self._read_body()
                if data is None:
                    return
                budget -= len(data)
                if budget < 0:
                    self._fail("the unread remainder of the body was over 64 KiB")
                    return
        except KeepaliveError:
            return  # _read_body has closed the connection and reported the cycle

    def _end_cycle(self) -> None:
        """The one decision after a response ends: keep the socket (IDLE) or close it."""
        timings = self._timings
        now = time.perf_counter()
        if timings is not None:
            timings.receive = now - self._head_at
            timings.total = now - self._cycle_started
        proto = self._proto
        stream = self._stream
        if self.request_count == 1 and stream is not None and self.ssl_context is not None:
            # Whether or not the socket is kept: a server that closes after every response
            # is exactly where resumption saves the most (reuse rule 10).
            tls.remember_session(stream.tls_session(), self.ssl_context, self.host, self.port)
        if self._trace is not None and timings is not None:
            self._trace("response.body_done", {"seconds": timings.receive})
        reason = proto.verdict() if stream is not None else "closed while its response was read"
        if reason is None:
            proto.start_next_cycle()
            self._state = IDLE
            self._report(True, "", response_started=True, since_head=now - self._head_at)
        else:
            self.close_reason = self.close_reason or reason
            self.close()
            self._report(False, reason, response_started=True, since_head=now - self._head_at)

    def _fail(self, reason: str = "an error or timeout") -> None:
        """Any error or timeout: the socket is closed and the cycle over."""
        self.close_reason = self.close_reason or reason
        self.close()
        if self._in_cycle:
            self._report(False, self.close_reason, response_started=self._proto.response_started)

    def _report(
        self, kept: bool, reason: str, *, response_started: bool, since_head: float = 0.0
    ) -> None:
        self._in_cycle = False
        trace, self._trace = self._trace, None
        owner = self._owner
        if owner is None:
            if trace is not None:
                if kept:
                    trace("connection.released", {"connection_id": self.id})
                else:
                    trace("connection.retired", {"connection_id": self.id, "reason": reason})
        else:
            owner.cycle_ended(
                self,
                CycleEnd(
                    kept,
                    reason,
                    self._reused,
                    self._sent_any,
                    response_started,
                    self._proto.idle_timeout_hint,
                    since_head,
                    trace,
                ),
            )

    def _abandon(self) -> None:
        """The response was dropped unread (from its finaliser): close, tell the owner."""
        if self._in_cycle:
            self._in_cycle = False
            self.close_reason = self.close_reason or "its response was dropped unread"
            self.close()
            owner = self._owner
            if owner is not None:
                owner.response_dropped(self)


async def arechunk(
    chunks: AsyncIterator[bytes | bytearray | memoryview], chunk_size: int
) -> AsyncIterator[bytes]:
    """Re-cut a stream of byte chunks into pieces of exactly ``chunk_size`` (the last shorter)."""
    if chunk_size <= 0:
        raise ValueError("chunk_size must be a positive number of bytes")
    pending = bytearray()
    async for data in chunks:
        pending += data
        while len(pending) >= chunk_size:
            yield bytes(pending[:chunk_size])
            del pending[:chunk_size]
    if pending:
        yield bytes(pending)


class AsyncRawResponse:
    """A response as it came off one connection: status, head and the undecoded body stream.

    Read the body with ``aread()``, ``aiter_bytes()`` or ``aiter_raw()``; ``aclose()`` (or
    leaving an ``async with`` block) ends it early. The connection carries nothing else
    until then.
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
        conn: AsyncHTTPConnection | None,
        status_code: int,
        reason: bytes,
        http_version: bytes,
        header_items: list[tuple[bytes, bytes, bytes]],
        timings: Timings | None = None,
    ) -> None:
        self._conn = conn
        self.status_code = status_code
        self.reason = reason.decode("latin-1")
        self.http_version = http_version_text(http_version)
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
        """The header fields as ``Headers``, parsed from the wire on first use."""
        headers = self._headers
        if headers is None:
            headers = self._headers = Headers._from_wire(self._items)
        return headers

    def has_header(self, name: bytes) -> bool:
        """Whether the head has a field named ``name`` (lower-case bytes); no parsing."""
        return name in map(_LOWER_NAME, self._items)  # the scan stays in C

    @property
    def is_complete(self) -> bool:
        """The whole body has come off the socket."""
        return self._done

    async def _achunks(self) -> AsyncIterator[bytes | bytearray | memoryview]:
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
        read = conn._read_body
        while True:
            data = await read()
            if data is None:
                self._done = True
                self._state = 2
                return
            yield data

    async def aiter_raw(self, chunk_size: int | None = None) -> AsyncIterator[bytes]:
        """The body as it arrives, undecoded; in pieces of ``chunk_size`` when given."""
        if self._content is not None:
            content = self._content
            step = chunk_size or len(content) or 1
            for i in range(0, len(content), step):
                yield content[i : i + step]
            return
        if chunk_size is None:
            async for data in self._achunks():
                yield bytes(data)
            return
        async for piece in arechunk(self._achunks(), chunk_size):
            yield piece

    aiter_bytes = aiter_raw

    async def aread(self) -> bytes:
        """The whole body; the connection is free once this returns."""
        content = self._content
        if content is None:
            if self._state == 0 and not self._done and self._conn is not None:
                # The common case, without a generator: read to the end of the message.
                self._state = 1
                read = self._conn._read_body
                parts = []
                data = await read()
                while data is not None:
                    parts.append(data)
                    data = await read()
                self._done = True
                self._state = 2
                content = b"".join(parts)
            else:
                content = b"".join([piece async for piece in self._achunks()])
            self._content = content
        return content

    @property
    def content(self) -> bytes:
        """The body ``aread()`` returned; ``ResponseClosed`` before that (a raw body is
        streamed, never buffered unasked)."""
        if self._content is None:
            raise ResponseClosed(f"the body from {self.where} has not been read: call read()")
        return self._content

    async def aclose(self) -> None:
        """End the response; an unread small remainder is drained so the connection stays."""
        if self._done:
            if self._state == 0:
                self._state = 2
            return
        conn = self._conn
        if self._state in (0, 1):
            self._state = 3
        self._done = True
        if conn is not None and conn._in_cycle:
            if conn._state is ACTIVE:
                await conn._drain()
            else:
                conn._fail()  # closed under us (pool closed): end the cycle all the same

    def abort(self) -> None:
        """End the response now, without draining: its connection is closed (used when
        the body is abandoned on an error, where waiting for the rest is pointless)."""
        if self._done:
            return
        self._done = True
        if self._state in (0, 1):
            self._state = 3
        conn = self._conn
        if conn is not None and conn._in_cycle:
            conn._fail("the response was abandoned")

    async def __aenter__(self) -> AsyncRawResponse:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __del__(self) -> None:
        # A response dropped unread would hold its connection (and a pool slot) forever.
        # Only close the socket here: no locks, no I/O; the owner reclaims the slot later.
        if not self._done:
            conn = self._conn
            if conn is not None:
                conn._abandon()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} [{self.status_code} {self.reason}] from {self.where}>"
