"""One small adapter per asyncio HTTP client, all with the same interface.

The async twin of :mod:`benchmarks.clients`. Every adapter is driven the same way, inside
one event loop (plain ``asyncio``, no uvloop, for every client alike)::

    client = SomeAsyncClient()                       # cheap; no loop needed yet
    await client.setup(base_url, ca_path, reuse=True, limit=10)
    body = await client.get("/small")                # one request, the whole body
    walls_ns, cpu_ns = await client.run("/small", 1000)   # sequential GETs in one task
    nbytes = await client.stream("/100m")            # a body read in chunks and dropped
    await client.aclose()

``limit`` is the client's own per-host connection limit, set the way its users set it:
``max_connections_per_host`` (keepalive), ``TCPConnector(limit_per_host=)`` (aiohttp),
``Limits(max_connections=, max_keepalive_connections=)`` (httpx: both, so that it keeps as
many connections as it may open, like the others). ``reuse=False`` sends ``Connection:
close`` with every request, so the server closes and the client must open the next
connection itself; the server counts connections either way.

A client whose library is missing (or a keepalive without the class) has ``missing()``
return why; the report shows the row as not installed or not available instead of failing.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import socket
import time
from typing import Any, ClassVar

from .clients import (
    CHUNK,
    CLOSE,
    STREAM_STALL_S,
    Client,
    _keepalive_version,
    client_ssl_context,
    import_problem,
    matching,
)
from .clients import parse_base_url as _parse


class AsyncClient:
    """The adapter interface; subclasses set the class attributes and the four coroutines."""

    key: ClassVar[str] = ""
    label: ClassVar[str] = ""
    kind: ClassVar[str] = "peer"  # "floor", "peer" or "keepalive"
    requires: ClassVar[tuple[str, ...]] = ()
    note: ClassVar[str] = ""

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.variant = options.get("variant", "")
        self.reuse = True
        self.limit = 10
        self.base_url = ""
        self.scheme, self.host, self.port = "http", "", 0
        self.ca_path: str | None = None

    @property
    def name(self) -> str:
        return f"{self.label} ({self.variant})" if self.variant else self.label

    @classmethod
    def missing(cls) -> str | None:
        for module in cls.requires:
            problem = import_problem(module)
            if problem:
                return problem
        return None

    @classmethod
    def version(cls) -> str | None:
        if not cls.requires:
            return None
        module = importlib.import_module(cls.requires[0].split(".")[0])
        return str(getattr(module, "__version__", "?"))

    async def setup(self, base_url: str, ca_path: str | None, reuse: bool = True,
                    limit: int = 10) -> None:
        self.base_url, self.ca_path, self.reuse, self.limit = base_url, ca_path, reuse, limit
        self.scheme, self.host, self.port = _parse(base_url)
        await self._setup()

    async def _setup(self) -> None:
        raise NotImplementedError

    async def get(self, path: str) -> bytes:
        raise NotImplementedError

    async def stream(self, path: str) -> int:
        raise NotImplementedError

    async def aclose(self) -> None:
        pass

    def pool_stats(self) -> dict[str, int] | None:
        return None

    async def run(self, path: str, n: int) -> tuple[list[int], int]:
        """``n`` sequential GETs in this task: per-request wall times and the batch's CPU."""
        get = self.get
        clock = time.perf_counter_ns
        walls = [0] * n
        cpu0 = time.process_time_ns()
        for i in range(n):
            t0 = clock()
            await get(path)
            walls[i] = clock() - t0
        return walls, time.process_time_ns() - cpu0


# --- the floor ------------------------------------------------------------------------------


class _RawProtocol(asyncio.BufferedProtocol):
    """One connection of the async floor: reads into one reused buffer, finds the end of the
    head, keeps the body (``get``) or only counts it (``stream``).

    While streaming, the socket's low-water mark is a whole buffer (``SO_RCVLOWAT``, honoured
    by epoll), as for the blocking floor; a timer checks every ``STREAM_STALL_S`` that bytes
    still arrive, and drops the mark to one byte if not.
    """

    def __init__(self, buffer: memoryview) -> None:
        self.transport: asyncio.Transport | None = None
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # Shared by every connection of the client: the loop calls buffer_updated() right
        # after filling it, so no other connection can write to it in between.
        self._buffer = buffer
        self._waiter: asyncio.Future[bytes | int] | None = None
        self._head = b""
        self._keep = True
        self._body: list[bytes] = []
        self._left = -1  # body bytes still to come; -1 while the head is incomplete
        self._got = 0
        self._sock: Any = None
        self._lowat = 1
        self._seen = 0  # bytes at the stall timer's last look
        self._exchanges = 0  # a stall timer belongs to one exchange
        self.stalls = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        self._sock = sock if transport.get_extra_info("ssl_object") is None else None

    def exchange(self, request: bytes, keep: bool) -> asyncio.Future[bytes | int]:
        assert self.transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self._head, self._body, self._left, self._got, self._keep = b"", [], -1, 0, keep
        self._exchanges += 1
        self.transport.write(request)
        return self._waiter

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._buffer

    def buffer_updated(self, nbytes: int) -> None:
        if self._left < 0:
            self._head += self._buffer[:nbytes]
            end = self._head.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self._head[:end].lower()
            i = head.find(b"content-length:") + 15
            j = head.find(b"\r\n", i)
            self._left = int(head[i : j if j >= 0 else end])
            rest = self._head[end + 4 :]
            self._head = b""
            self._left -= len(rest)
            self._got += len(rest)
            if self._keep and rest:
                self._body.append(rest)
            if not self._keep and self._left > 0 and self._sock is not None:
                self._set_lowat(min(self._left, CHUNK))
                self._seen = self._got
                asyncio.get_running_loop().call_later(STREAM_STALL_S, self._watch,
                                                      self._exchanges)
        else:
            self._left -= nbytes
            self._got += nbytes
            if self._keep:
                self._body.append(bytes(self._buffer[:nbytes]))
            elif 0 < self._left < self._lowat:
                self._set_lowat(self._left)
        if self._left <= 0 and self._waiter is not None and not self._waiter.done():
            if self._lowat != 1:
                self._set_lowat(1)
            self._waiter.set_result(b"".join(self._body) if self._keep else self._got)

    def _set_lowat(self, size: int) -> None:
        if self._sock is not None:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, size)
            self._lowat = size

    def _watch(self, exchange: int) -> None:
        """Every STREAM_STALL_S while a stream is read: no progress means no wake-up came."""
        if (exchange != self._exchanges or self._left <= 0 or self.transport is None
                or self._lowat == 1):
            return
        if self._got == self._seen:
            self.stalls += 1
            self._set_lowat(1)
            return
        self._seen = self._got
        asyncio.get_running_loop().call_later(STREAM_STALL_S, self._watch, exchange)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError("server closed mid-response"))


class AsyncRawClient(AsyncClient):
    """The async floor: an ``asyncio.BufferedProtocol`` per connection, prebuilt request
    bytes, a LIFO list of idle connections and a semaphore for the per-host limit."""

    key = "raw.asyncio"
    label = "asyncio Protocol (floor)"
    kind = "floor"
    note = ("asyncio.BufferedProtocol, prebuilt request bytes, minimal Content-Length read, "
            "one 256 KiB buffer for all its connections (SO_RCVLOWAT while streaming)")

    async def _setup(self) -> None:
        self._context = client_ssl_context(self.ca_path) if self.scheme == "https" else None
        self._idle: list[_RawProtocol] = []
        self._all: list[_RawProtocol] = []
        self._buffer = memoryview(bytearray(CHUNK))
        self._slots = asyncio.Semaphore(self.limit)
        close = "" if self.reuse else f"Connection: {CLOSE}\r\n"
        self._template = f"GET {{}} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{close}\r\n"
        self._requests: dict[str, bytes] = {}

    async def _connect(self) -> _RawProtocol:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(
            lambda: _RawProtocol(self._buffer), self.host, self.port, ssl=self._context,
            server_hostname=self.host if self._context else None)
        self._all.append(protocol)
        return protocol

    async def _exchange(self, path: str, keep: bool) -> bytes | int:
        request = self._requests.get(path)
        if request is None:
            request = self._requests[path] = self._template.format(path).encode()
        async with self._slots:
            conn = self._idle.pop() if self._idle else await self._connect()
            result = await conn.exchange(request, keep)
            if self.reuse:
                self._idle.append(conn)
            else:
                assert conn.transport is not None
                conn.transport.close()
                self._all.remove(conn)
            return result

    @property
    def stream_stalls(self) -> int:
        return sum(conn.stalls for conn in self._all)

    async def get(self, path: str) -> bytes:
        return await self._exchange(path, True)  # type: ignore[return-value]

    async def stream(self, path: str) -> int:
        return await self._exchange(path, False)  # type: ignore[return-value]

    async def aclose(self) -> None:
        for conn in self._all:
            if conn.transport is not None:
                conn.transport.close()
        for conn in self._all:
            await conn.lost
        self._all.clear()
        self._idle.clear()


# --- keepalive --------------------------------------------------------------------------------


class _KeepaliveAsync(AsyncClient):
    kind = "keepalive"
    requires = ("keepalive",)
    needs: ClassVar[str] = ""

    @classmethod
    def missing(cls) -> str | None:
        reason = super().missing()
        if reason:
            return reason
        if not hasattr(importlib.import_module("keepalive"), cls.needs):
            return f"not available in this keepalive (no keepalive.{cls.needs})"
        return None

    @classmethod
    def version(cls) -> str | None:
        keepalive = importlib.import_module("keepalive")
        return str(getattr(keepalive, "__version__", None) or _keepalive_version())


class KeepaliveAsyncSessionClient(_KeepaliveAsync):
    """``keepalive.AsyncSession`` used as documented: ``async with`` and ``await s.get()``."""

    key = "keepalive.AsyncSession"
    label = "keepalive.AsyncSession"
    needs = "AsyncSession"

    async def _setup(self) -> None:
        import keepalive

        self._stack = contextlib.AsyncExitStack()
        session = keepalive.AsyncSession(
            verify=self.ca_path or True, max_connections_per_host=self.limit)
        self._session = await self._stack.enter_async_context(session)
        self._url = self.base_url
        self._headers = None if self.reuse else {"Connection": CLOSE}

    async def get(self, path: str) -> bytes:
        r = await self._session.get(self._url + path, headers=self._headers)
        return r.content

    async def stream(self, path: str) -> int:
        total = 0
        r = await self._session.get(self._url + path, headers=self._headers, stream=True)
        async with r:
            async for chunk in r.aiter_bytes():
                total += len(chunk)
        return total

    def pool_stats(self) -> dict[str, int] | None:
        return dict(self._session.pool.stats())

    async def aclose(self) -> None:
        await self._stack.aclose()


class KeepaliveAsyncPoolClient(_KeepaliveAsync):
    """``keepalive.AsyncConnectionPool``: ``resp = await pool.request(...)``, ``aread()``."""

    key = "keepalive.AsyncConnectionPool"
    label = "keepalive.AsyncConnectionPool"
    needs = "AsyncConnectionPool"

    async def _setup(self) -> None:
        import keepalive

        self._pool = keepalive.AsyncConnectionPool(
            verify=self.ca_path or True, max_connections_per_host=self.limit)
        self._headers = None if self.reuse else [("Connection", CLOSE)]

    async def get(self, path: str) -> bytes:
        resp = await self._pool.request("GET", self.base_url + path, headers=self._headers)
        async with resp:
            return await resp.aread()

    async def stream(self, path: str) -> int:
        total = 0
        resp = await self._pool.request("GET", self.base_url + path, headers=self._headers)
        async with resp:
            async for chunk in resp.aiter_raw():
                total += len(chunk)
        return total

    def pool_stats(self) -> dict[str, int] | None:
        return dict(self._pool.stats())

    async def aclose(self) -> None:
        await self._pool.aclose()


# --- peers ----------------------------------------------------------------------------------


class AiohttpAsyncClient(AsyncClient):
    key = "aiohttp.ClientSession"
    label = "aiohttp"
    requires = ("aiohttp",)
    note = "ClientSession, TCPConnector(limit_per_host=N)"

    async def _setup(self) -> None:
        import aiohttp

        ssl_arg: Any = client_ssl_context(self.ca_path) if self.ca_path else True
        connector = aiohttp.TCPConnector(limit_per_host=self.limit, limit=max(100, self.limit),
                                         ssl=ssl_arg)
        self._session = aiohttp.ClientSession(connector=connector)
        self._headers = None if self.reuse else {"Connection": CLOSE}

    async def get(self, path: str) -> bytes:
        async with self._session.get(self.base_url + path, headers=self._headers) as r:
            return await r.read()

    async def stream(self, path: str) -> int:
        total = 0
        async with self._session.get(self.base_url + path, headers=self._headers) as r:
            async for chunk in r.content.iter_chunked(CHUNK):
                total += len(chunk)
        return total

    async def aclose(self) -> None:
        await self._session.close()


class HttpxAsyncClient(AsyncClient):
    key = "httpx.AsyncClient"
    label = "httpx.AsyncClient"
    requires = ("httpx",)
    note = "Limits(max_connections=N, max_keepalive_connections=N)"

    async def _setup(self) -> None:
        import httpx

        verify: Any = client_ssl_context(self.ca_path) if self.ca_path else True
        limits = httpx.Limits(max_connections=self.limit, max_keepalive_connections=self.limit)
        self._client = httpx.AsyncClient(verify=verify, limits=limits)
        self._headers = None if self.reuse else {"Connection": CLOSE}

    async def get(self, path: str) -> bytes:
        return (await self._client.get(self.base_url + path, headers=self._headers)).content

    async def stream(self, path: str) -> int:
        total = 0
        async with self._client.stream("GET", self.base_url + path,
                                       headers=self._headers) as r:
            async for chunk in r.aiter_bytes():
                total += len(chunk)
        return total

    async def aclose(self) -> None:
        await self._client.aclose()


#: Every async client, in table order.
ASYNC_CLIENTS: list[type[AsyncClient]] = [
    AsyncRawClient,
    KeepaliveAsyncPoolClient,
    KeepaliveAsyncSessionClient,
    AiohttpAsyncClient,
    HttpxAsyncClient,
]
ASYNC_BY_KEY = {cls.key: cls for cls in ASYNC_CLIENTS}


def select(spec: str | None) -> tuple[list[type[AsyncClient]], list[str]]:
    """The async clients chosen by ``--clients``, and the words that matched none of them."""
    return matching(spec, ASYNC_CLIENTS)


def is_async(cls: type[AsyncClient] | type[Client]) -> bool:
    return isinstance(cls, type) and issubclass(cls, AsyncClient)

