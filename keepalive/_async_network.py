"""The asyncio network backend: the async twin of ``_network.py``, with the same interface.

It connects with the event loop's own DNS and connect under one deadline and reads and
writes through an ``asyncio.Protocol`` (data is pushed to us; a read waits on one future
with a timer, no task per read). TLS is driven here, over memory BIOs (``ssl.SSLObject``):
asyncio's own TLS transport cannot offer a saved session, and resumption is a reuse rule
(docs/design.md, rule 10). Errors are translated by the same table as the blocking
backend (``_network.translate``).

Proxies, as in the blocking backend: ``socks5_handshake`` drives the sans-I/O SOCKS5 client;
``start_tls`` on a stream that is TLS already (to an https proxy) returns a
``NestedTLSStream``, the same memory-BIO TLS whose raw bytes go through the outer stream.
"""

from __future__ import annotations

import asyncio
import builtins
import socket
import ssl
import time
from collections import deque
from typing import Any

from ._network import CONNECT, READ, WRITE, is_ip_literal, join_host_port, translate
from ._socks import Socks5Handshake
from ._state import Proxy
from .exceptions import (
    ConnectError,
    ConnectTimeout,
    ProxyError,
    TimeoutError,
    TransportError,
)

__all__ = ["NestedTLSStream", "SocketStream", "open_tcp", "socks5_handshake"]

_READ_CHUNK = 256 * 1024
_NESTED_WRITE = 64 * 1024  # plaintext encrypted per outer write under nested TLS


class _Timeout(builtins.TimeoutError):
    """Set on a waiter whose time ran out (distinct from a task's cancellation)."""


class _StreamProtocol(asyncio.Protocol):
    """Collects what the transport delivers; wakes the one reader waiting for it."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.chunks: deque[bytes] = deque()
        self.eof = False
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.drained: asyncio.Future[None] | None = None
        self.paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False  # close the transport: a half-open client is of no use

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None and self.error is None:
            self.error = exc
        self.eof = True
        self._wake()
        drained = self.drained
        if drained is not None and not drained.done():
            drained.set_result(None)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        drained = self.drained
        if drained is not None and not drained.done():
            drained.set_result(None)


async def open_tcp(
    host: str,
    port: int,
    deadline: float | None,
    *,
    receive_buffer_size: int | None = None,
) -> tuple[SocketStream, float, float]:
    """Resolve and connect before ``deadline`` (monotonic); returns the stream and the
    seconds spent on DNS (0.0 for an IP literal) and on connecting."""
    where = f"{host}:{port}"
    loop = asyncio.get_running_loop()
    t0 = time.perf_counter()
    try:
        infos = await _within(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), deadline, where
        )
    except (OSError, UnicodeError) as exc:
        raise translate(exc, CONNECT, where) from exc
    t1 = time.perf_counter()
    last_error: BaseException | None = None
    for family, kind, proto, _, address in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # reuse rule 11
            if receive_buffer_size:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer_size)
            await _within(loop.sock_connect(sock, address), deadline, where)
            transport, protocol = await _within(
                loop.create_connection(_StreamProtocol, sock=sock), deadline, where
            )
        except BaseException as exc:
            sock.close()
            if isinstance(exc, OSError) and not isinstance(exc, builtins.TimeoutError):
                last_error = exc
                continue
            raise
        dns = 0.0 if is_ip_literal(host) else t1 - t0
        assert isinstance(transport, asyncio.Transport)
        return SocketStream(transport, protocol, where), dns, time.perf_counter() - t1
    error = last_error or OSError(f"no address for {host}")
    raise translate(error, CONNECT, where) from error


async def _within(awaitable: Any, deadline: float | None, where: str) -> Any:
    if deadline is None:
        return await awaitable
    left = deadline - time.monotonic()
    if left <= 0:
        if asyncio.iscoroutine(awaitable):
            awaitable.close()
        raise ConnectTimeout(f"connecting to {where} took longer than the connect timeout")
    try:
        return await asyncio.wait_for(awaitable, left)
    except (builtins.TimeoutError, asyncio.TimeoutError) as exc:
        raise ConnectTimeout(f"connecting to {where} timed out") from exc


class SocketStream:
    """One connected socket (TCP, or TLS over memory BIOs) driven by the event loop."""

    __slots__ = (
        "_deadline",
        "_incoming",
        "_outgoing",
        "_protocol",
        "_timed",
        "_timer",
        "_tls",
        "_transport",
        "where",
    )

    def __init__(
        self, transport: asyncio.Transport | None, protocol: _StreamProtocol, where: str
    ) -> None:
        self._transport: asyncio.Transport | None = transport
        self._protocol = protocol
        self._tls: ssl.SSLObject | None = None
        self._incoming: ssl.MemoryBIO | None = None
        self._outgoing: ssl.MemoryBIO | None = None
        self.where = where
        # One timer per stream, not one per wait: a wait whose deadline is no earlier than
        # the timer's keeps it (when it fires early it is moved to the live deadline), so a
        # run of reads under the same timeout schedules one timer, not one per read.
        self._timer: asyncio.TimerHandle | None = None
        self._deadline = 0.0  # loop time at which the current timed wait fails
        self._timed: asyncio.Future[None] | None = None  # the future that wait is on

    async def _wait(self, future: asyncio.Future[None], timeout: float | None) -> None:
        """Await ``future``; ``TimeoutError`` when ``timeout`` passes first."""
        if timeout is None:
            await future
            return
        loop = asyncio.get_running_loop()
        deadline = self._deadline = loop.time() + max(0.0, timeout)
        timer = self._timer
        if timer is None or timer.when() > deadline:
            if timer is not None:
                timer.cancel()
            self._timer = loop.call_at(deadline, self._on_timer)
        self._timed = future
        try:
            await future
        except _Timeout:
            raise builtins.TimeoutError("timed out") from None
        finally:
            self._timed = None

    def _on_timer(self) -> None:
        self._timer = None
        future = self._timed
        if future is None or future.done():
            return  # nothing waits: the next timed wait schedules a new timer
        loop = future.get_loop()
        # The loop runs a timer up to its clock resolution early.
        if loop.time() + 0.001 >= self._deadline:
            future.set_exception(_Timeout())
        else:
            self._timer = loop.call_at(self._deadline, self._on_timer)

    def _cancel_timer(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()

    # -- raw bytes ----------------------------------------------------------------------------

    async def _raw_chunk(self, timeout: float | None, phase: str) -> bytes:
        """The next bytes the transport delivered; ``b""`` at the end of the stream."""
        protocol = self._protocol
        while not protocol.chunks:
            if protocol.error is not None:
                error = protocol.error
                raise translate(error, phase, self.where) from error
            if protocol.eof:
                return b""
            if self._transport is None:
                raise TransportError(f"the connection to {self.where} is closed")
            waiter = protocol.waiter = asyncio.get_running_loop().create_future()
            try:
                await self._wait(waiter, timeout)
            except builtins.TimeoutError as exc:
                raise translate(exc, phase, self.where) from exc
            finally:
                protocol.waiter = None
        return protocol.chunks.popleft()

    async def _send_raw(self, data: bytes | bytearray | memoryview, timeout: float | None) -> None:
        transport = self._transport
        protocol = self._protocol
        if transport is None or transport.is_closing():
            error: BaseException = protocol.error or BrokenPipeError(32, "Broken pipe")
            raise translate(error, WRITE, self.where) from error
        transport.write(data)
        if protocol.paused:
            drained = protocol.drained = asyncio.get_running_loop().create_future()
            try:
                await self._wait(drained, timeout)
            except builtins.TimeoutError as exc:
                raise translate(exc, WRITE, self.where) from exc
            finally:
                protocol.drained = None
            if protocol.error is not None:
                error = protocol.error
                raise translate(error, WRITE, self.where) from error

    # -- bytes --------------------------------------------------------------------------------

    async def read_into(self, buffer: bytearray | memoryview, timeout: float | None) -> int:
        """Read into ``buffer``; 0 means the peer ended the stream."""
        if self._tls is not None:
            data = await self._tls_read(len(buffer), timeout)
        else:
            data = await self._raw_chunk(timeout, READ)
            if len(data) > len(buffer):
                self._protocol.chunks.appendleft(data[len(buffer) :])
                data = data[: len(buffer)]
        n = len(data)
        buffer[:n] = data
        return n

    async def read(
        self, max_bytes: int, timeout: float | None, *, gather: bool = False
    ) -> bytes:
        """Read up to ``max_bytes``; ``b""`` at the end of the stream."""
        if self._tls is not None:
            return await self._tls_read(max_bytes, timeout)
        data = await self._raw_chunk(timeout, READ)
        if len(data) > max_bytes:
            self._protocol.chunks.appendleft(data[max_bytes:])
            data = data[:max_bytes]
        return data

    async def write(self, data: bytes | bytearray | memoryview, timeout: float | None) -> None:
        tls = self._tls
        if tls is None:
            await self._send_raw(data, timeout)
            return
        try:
            tls.write(data)
        except ssl.SSLError as exc:
            raise translate(exc, WRITE, self.where) from exc
        await self._flush_tls(timeout)

    def read_nowait(self, max_bytes: int) -> bytes | None:
        """What can be read without waiting: None when nothing is there, ``b""`` at the end
        of the stream or on an error (the idle probe of a ``NestedTLSStream``)."""
        protocol = self._protocol
        ended = self._transport is None or protocol.eof or protocol.error is not None
        tls = self._tls
        if tls is None:
            if not protocol.chunks:
                return b"" if ended else None
            data = protocol.chunks.popleft()
            if len(data) > max_bytes:
                protocol.chunks.appendleft(data[max_bytes:])
                data = data[:max_bytes]
            return data
        assert self._incoming is not None
        while protocol.chunks:
            self._incoming.write(protocol.chunks.popleft())
        try:
            return tls.read(max_bytes)
        except ssl.SSLWantReadError:
            return b"" if ended else None
        except ssl.SSLError:
            return b""

    # -- readiness ------------------------------------------------------------------------------

    async def wait_readable(self, timeout: float | None) -> bool:
        """Wait until data (or the end of the stream) is there, up to ``timeout``."""
        protocol = self._protocol
        if protocol.chunks or protocol.eof or protocol.error is not None:
            return True
        if self._tls is not None and self._tls.pending():
            return True
        waiter = protocol.waiter = asyncio.get_running_loop().create_future()
        try:
            await self._wait(waiter, timeout)
        except builtins.TimeoutError:
            return False
        finally:
            protocol.waiter = None
        return True

    def has_peer_closed(self) -> bool:
        """Non-blocking: has the peer closed this idle stream or sent bytes?

        The event loop has already delivered whatever arrived. Between cycles a healthy
        server sends nothing (RFC 9112 section 9.3); a TLS 1.3 session ticket is the one
        exception, told apart by reading through the TLS object without waiting.
        """
        protocol = self._protocol
        if self._transport is None or protocol.eof or protocol.error is not None:
            return True
        if not protocol.chunks:
            return False
        tls = self._tls
        if tls is None:
            return True
        assert self._incoming is not None
        while protocol.chunks:
            self._incoming.write(protocol.chunks.popleft())
        try:
            tls.read(1)
        except ssl.SSLWantReadError:
            return False
        except ssl.SSLError:
            return True
        return True  # application data between cycles, or the peer's close_notify

    # -- TLS ------------------------------------------------------------------------------------

    async def start_tls(
        self,
        ctx: ssl.SSLContext,
        server_hostname: str,
        session: ssl.SSLSession | None,
        deadline: float | None,
    ) -> SocketStream:
        """Handshake TLS over this stream before ``deadline``; returns the TLS stream.

        On a stream that is TLS already (to an https proxy), the new TLS runs inside it.
        """
        if self._tls is not None:
            nested = NestedTLSStream(self, f"{server_hostname} (through {self.where})")
            return await nested.start_tls(ctx, server_hostname, session, deadline)
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        try:
            tls = ctx.wrap_bio(
                incoming,
                outgoing,
                server_hostname=(
                    None
                    if is_ip_literal(server_hostname) and not ctx.check_hostname
                    else server_hostname
                ),
                session=session,
            )
        except (OSError, ValueError) as exc:
            raise translate(exc, CONNECT, self.where) from exc
        self._tls, self._incoming, self._outgoing = tls, incoming, outgoing
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                await self._flush_tls(self._left(deadline))
                data = await self._raw_chunk(self._left(deadline), CONNECT)
                if not data:
                    error = ssl.SSLEOFError(8, "EOF occurred in violation of protocol")
                    raise translate(error, CONNECT, self.where) from error
                incoming.write(data)
            except (OSError, ssl.SSLError) as exc:
                raise translate(exc, CONNECT, self.where) from exc
        await self._flush_tls(self._left(deadline))
        return self

    def _left(self, deadline: float | None) -> float | None:
        if deadline is None:
            return None
        left = deadline - time.monotonic()
        if left <= 0:
            raise ConnectTimeout(f"TLS handshake with {self.where} timed out")
        return left

    async def _flush_tls(self, timeout: float | None) -> None:
        outgoing = self._outgoing
        assert outgoing is not None
        if outgoing.pending:
            await self._send_raw(outgoing.read(), timeout)

    async def _tls_read(self, max_bytes: int, timeout: float | None) -> bytes:
        tls = self._tls
        incoming = self._incoming
        assert tls is not None and incoming is not None
        protocol = self._protocol
        while True:
            while protocol.chunks:
                incoming.write(protocol.chunks.popleft())
            try:
                data = tls.read(max_bytes)
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLZeroReturnError:
                return b""
            except ssl.SSLError as exc:
                raise translate(exc, READ, self.where) from exc
            else:
                return data
            if self._outgoing is not None and self._outgoing.pending:
                await self._flush_tls(timeout)  # e.g. a key update the peer asked for
            chunk = await self._raw_chunk(timeout, READ)
            if not chunk:
                error = ssl.SSLEOFError(8, "EOF occurred in violation of protocol")
                raise translate(error, READ, self.where) from error
            incoming.write(chunk)

    @property
    def tls_resumed(self) -> bool:
        return self._tls is not None and bool(self._tls.session_reused)

    def tls_session(self) -> ssl.SSLSession | None:
        tls = self._tls
        if tls is None:
            return None
        session = tls.session
        if session is None or not session.has_ticket:
            return None
        return session

    # -- closing --------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the transport at once (no TLS close_notify): safe from a finaliser."""
        transport, self._transport = self._transport, None
        self._cancel_timer()
        if transport is not None:
            try:
                transport.abort()
            except RuntimeError:  # the event loop is closed already: nothing to schedule
                sock = transport.get_extra_info("socket")
                if sock is not None:
                    sock.detach()
        protocol = self._protocol
        protocol.eof = True
        protocol._wake()

    def abort(self) -> None:
        """Close, waking a task waiting to read this stream."""
        self.close()

    @property
    def is_closed(self) -> bool:
        return self._transport is None


class NestedTLSStream(SocketStream):
    """TLS inside another stream: the origin's TLS through the TLS tunnel of an https proxy.

    The TLS machinery is ``SocketStream``'s own (``ssl.SSLObject`` over memory BIOs); only
    its raw bytes differ: they are read from and written to the outer stream, whose TLS is
    to the proxy. ``tls_session()`` and ``tls_resumed`` are the inner TLS's, so resumption
    with the origin works as without a proxy (docs/design.md, reuse rule 10).
    """

    __slots__ = ("_outer",)

    def __init__(self, outer: SocketStream, where: str) -> None:
        super().__init__(None, _StreamProtocol(), where)  # no transport: the outer has it
        self._outer = outer

    async def _raw_chunk(self, timeout: float | None, phase: str) -> bytes:
        try:
            return await self._outer.read(_READ_CHUNK, timeout)
        except TimeoutError as exc:
            if phase != CONNECT or isinstance(exc, ConnectTimeout):
                raise
            raise ConnectTimeout(f"TLS handshake with {self.where} timed out") from exc

    async def _send_raw(self, data: bytes | bytearray | memoryview, timeout: float | None) -> None:
        await self._outer.write(data, timeout)

    async def write(self, data: bytes | bytearray | memoryview, timeout: float | None) -> None:
        """Encrypt and send in slices: each layer holds one slice, not the whole body."""
        view = memoryview(data).cast("B")
        for start in range(0, len(view), _NESTED_WRITE):
            await super().write(view[start : start + _NESTED_WRITE], timeout)

    async def start_tls(
        self,
        ctx: ssl.SSLContext,
        server_hostname: str,
        session: ssl.SSLSession | None,
        deadline: float | None,
    ) -> SocketStream:
        """Handshake with ``server_hostname`` through the outer stream before ``deadline``."""
        try:
            return await super().start_tls(ctx, server_hostname, session, deadline)
        except TimeoutError as exc:
            if isinstance(exc, ConnectTimeout):
                raise
            raise ConnectTimeout(f"TLS handshake with {self.where} timed out") from exc
        except TransportError as exc:
            if isinstance(exc, ConnectError):
                raise
            raise ConnectError(f"TLS handshake with {self.where} failed: {exc}") from exc

    def read_nowait(self, max_bytes: int) -> bytes | None:
        """What the inner TLS can give without waiting (None: nothing; ``b""``: the end)."""
        tls = self._tls
        if tls is None or self.is_closed:
            return b""
        ended = self._pull_nowait()
        try:
            return tls.read(max_bytes)
        except ssl.SSLWantReadError:
            return b"" if ended else None
        except ssl.SSLError:
            return b""

    def _pull_nowait(self) -> bool:
        """Move what the outer stream has now into the incoming BIO; True at its end."""
        incoming = self._incoming
        assert incoming is not None
        for _ in range(64):  # bounded: an idle stream holds a few records at most
            data = self._outer.read_nowait(_READ_CHUNK)
            if data is None:
                return False
            if not data:
                return True
            incoming.write(data)
        return False

    async def wait_readable(self, timeout: float | None) -> bool:
        tls = self._tls
        if tls is None or tls.pending():
            return True
        return await self._outer.wait_readable(timeout)

    def has_peer_closed(self) -> bool:
        """Non-blocking check of an idle tunnelled connection.

        The outer stream's own probe cannot be used: it would consume the inner TLS's
        records (a TLS 1.3 session ticket from the origin is outer application data). The
        records there now are handed to the inner TLS; "want read" afterwards means only
        tickets were there.
        """
        tls = self._tls
        if tls is None or self.is_closed:
            return True
        if tls.pending() or self._pull_nowait():
            return True
        assert self._incoming is not None
        if not self._incoming.pending:
            return False
        try:
            tls.read(1)
        except ssl.SSLWantReadError:
            return False
        except ssl.SSLError:
            return True
        return True  # application data between cycles, or close_notify: unusable either way

    def close(self) -> None:
        self._cancel_timer()
        self._outer.close()
        protocol = self._protocol
        protocol.eof = True
        protocol._wake()

    def abort(self) -> None:
        self.close()

    @property
    def is_closed(self) -> bool:
        return self._outer.is_closed


async def socks5_handshake(
    stream: SocketStream,
    proxy: Proxy,
    target_host: str,
    target_port: int,
    deadline: float | None,
) -> None:
    """Ask the SOCKS5 proxy at the other end of ``stream`` for a tunnel to the target
    (RFC 1928, RFC 1929 for a username), every read and write within ``deadline``.

    For ``socks5://`` the target's name is resolved here and its address sent; for
    ``socks5h://`` the name is sent for the proxy to resolve (``Proxy.remote_dns``). Failures
    of the proxy are ``ProxyError``; running out of time is ``ConnectTimeout``.
    """
    where = f"SOCKS5 proxy {join_host_port(proxy.host, proxy.port)}"
    address = target_host
    if not proxy.remote_dns and not is_ip_literal(target_host):
        address = await _resolve(target_host, target_port, deadline)
    shake = Socks5Handshake(where, address, target_port, proxy.username, proxy.password)
    try:
        await stream.write(shake.greeting(), _left(deadline, where))
        while not shake.done:  # at most three replies; each read is bounded by the deadline
            data = await stream.read(shake.bytes_needed, _left(deadline, where))
            answer = shake.receive_data(data)
            if answer:
                await stream.write(answer, _left(deadline, where))
    except TimeoutError as exc:
        if isinstance(exc, ConnectTimeout):
            raise
        raise ConnectTimeout(f"the SOCKS5 handshake with {where} timed out") from exc
    except ProxyError:
        raise
    except TransportError as exc:
        raise ProxyError(f"the SOCKS5 handshake with {where} failed: {exc}") from exc


def _left(deadline: float | None, where: str) -> float | None:
    if deadline is None:
        return None
    left = deadline - time.monotonic()
    if left <= 0:
        raise ConnectTimeout(f"the SOCKS5 handshake with {where} took longer than the timeout")
    return left


async def _resolve(host: str, port: int, deadline: float | None) -> str:
    """The first address of ``host`` (the system's preferred order, RFC 6724), for
    ``socks5://`` which resolves locally."""
    where = f"{host}:{port}"
    loop = asyncio.get_running_loop()
    try:
        infos = await _within(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), deadline, where
        )
    except (OSError, UnicodeError) as exc:
        raise translate(exc, CONNECT, where) from exc
    if not infos:
        raise ConnectError(f"cannot resolve {where}: no address")
    return str(infos[0][4][0])
