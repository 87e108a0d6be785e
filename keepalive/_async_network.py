"""The asyncio network backend: the async twin of ``_network.py``, with the same interface.

It connects with the event loop's own DNS and connect under one deadline and reads and
writes through an ``asyncio.Protocol`` (data is pushed to us; a read waits on one future
with a timer, no task per read). TLS is driven here, over memory BIOs (``ssl.SSLObject``):
asyncio's own TLS transport cannot offer a saved session, and resumption is a reuse rule
(docs/design.md, rule 10). Errors are translated by the same table as the blocking
backend (``_network.translate``).
"""

from __future__ import annotations

import asyncio
import builtins
import socket
import ssl
import time
from collections import deque
from typing import Any

from ._network import CONNECT, READ, WRITE, is_ip_literal, translate
from .exceptions import ConnectTimeout, TransportError

__all__ = ["SocketStream", "open_tcp"]

_READ_CHUNK = 256 * 1024


class _Timeout(builtins.TimeoutError):
    """Set on a waiter whose time ran out (distinct from a task's cancellation)."""


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(_Timeout())


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


async def _wait(future: asyncio.Future[None], timeout: float | None) -> None:
    """Await ``future``; ``socket.timeout`` when ``timeout`` passes first."""
    handle = None
    if timeout is not None:
        handle = asyncio.get_running_loop().call_later(max(0.0, timeout), _expire, future)
    try:
        await future
    except _Timeout:
        raise builtins.TimeoutError("timed out") from None
    finally:
        if handle is not None:
            handle.cancel()


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

    __slots__ = ("_incoming", "_outgoing", "_protocol", "_tls", "_transport", "where")

    def __init__(
        self, transport: asyncio.Transport, protocol: _StreamProtocol, where: str
    ) -> None:
        self._transport: asyncio.Transport | None = transport
        self._protocol = protocol
        self._tls: ssl.SSLObject | None = None
        self._incoming: ssl.MemoryBIO | None = None
        self._outgoing: ssl.MemoryBIO | None = None
        self.where = where

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
                await _wait(waiter, timeout)
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
                await _wait(drained, timeout)
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

    async def read(self, max_bytes: int, timeout: float | None) -> bytes:
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
            await _wait(waiter, timeout)
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
        """Handshake TLS over this stream before ``deadline``; returns the TLS stream."""
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
