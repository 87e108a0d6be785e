"""One small adapter per HTTP client, all with the same interface.

Every adapter is used the same way by the scenarios::

    client = SomeClient()              # cheap; reads no network
    client.setup(base_url, tls_ca_path, reuse=True)
    body = client.get("/small")        # one request, the whole body as bytes
    walls_ns, cpu_ns = client.run("/small", 1000)   # a timed batch of sequential GETs
    nbytes = client.stream("/100m")    # a body read in chunks and thrown away
    client.close()

``reuse=True`` means what a user of that library does to keep connections: one connection,
session, pool or handle for every request. ``reuse=False`` means a new TCP (and TLS)
connection for every request. For connection-level clients (the raw floor, the h11 loop,
``http.client``, ``keepalive.HTTPConnection``) that is a new connection object per request;
for pooling clients it is the same session with ``Connection: close`` on each request, so
the server closes after the response and the library must open the next connection itself.
Either way the server counts the connections it accepted, so the harness can check.

A client whose library is not installed (or fails to import) has ``missing()`` return the
reason; the report shows it as "not installed: <why>" instead of dropping it, so every peer is
optional at run time. Large bodies are read in chunks of at most ``CHUNK`` bytes where the
library takes a chunk size, and as they arrive where it does not. The asyncio adapters are in
:mod:`benchmarks.aclients`.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import io
import socket
import ssl
import time
from collections.abc import Callable
from typing import Any, ClassVar
from urllib.parse import urlsplit

CHUNK = 256 * 1024
CLOSE = "close"
STREAM_STALL_S = 1.0  # the raw floor's poll timeout while it waits for a full buffer


def parse_base_url(base_url: str) -> tuple[str, str, int]:
    parts = urlsplit(base_url)
    assert parts.hostname is not None and parts.port is not None
    return parts.scheme, parts.hostname, parts.port


def import_problem(module: str) -> str | None:
    """Why ``module`` cannot be imported here, or None. Any failure counts (a missing package,
    a broken install, a Rust extension's panic, which pyo3 raises as a BaseException): the
    client is then reported as not installed, and the run goes on."""
    try:
        importlib.import_module(module)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        return f"{module} not importable: {type(exc).__name__}: {exc}"
    return None


def client_ssl_context(ca_path: str | None) -> ssl.SSLContext:
    """What a careful user builds: verification on, against the benchmark's own CA."""
    return ssl.create_default_context(cafile=ca_path) if ca_path else ssl.create_default_context()


class Client:
    """The adapter interface. Subclasses set the class attributes and the four methods."""

    key: ClassVar[str] = ""  # the name on the command line
    label: ClassVar[str] = ""  # the name in tables (variants add a suffix)
    kind: ClassVar[str] = "peer"  # "floor", "peer" or "keepalive"
    requires: ClassVar[tuple[str, ...]] = ()  # modules that must import
    thread_safe: ClassVar[bool] = False  # may one instance be shared by threads?
    note: ClassVar[str] = ""

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.variant = options.get("variant", "")
        self.reuse = True
        self.scheme = "http"
        self.host = ""
        self.port = 0
        self.base_url = ""
        self.ca_path: str | None = None
        self.resumed_handshakes = 0  # counted client-side where the library can tell
        self.tls_handshakes = 0

    # -- identity ------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return f"{self.label} ({self.variant})" if self.variant else self.label

    @classmethod
    def missing(cls) -> str | None:
        """Why this client cannot run here, or None."""
        for module in cls.requires:
            problem = import_problem(module)
            if problem:
                return problem
        return None

    @classmethod
    def version(cls) -> str | None:
        if not cls.requires:
            return None
        module = importlib.import_module(cls.requires[0])
        version = getattr(module, "__version__", None) or getattr(module, "version", None)
        if not isinstance(version, str):
            try:
                version = importlib.metadata.version(cls.requires[0].split(".")[0])
            except importlib.metadata.PackageNotFoundError:
                version = "?"
        return version

    @classmethod
    def connection_limit(cls) -> tuple[int, str] | None:
        """The most connections per host a shared instance keeps by default, and what it does
        beyond that ("wait" or "discard"); None when it keeps as many as it is asked for.

        The concurrency table marks the cells where the client's own limit, not the machine,
        sets the figure.
        """
        return None

    @classmethod
    def caveat(cls) -> str:
        """Something about this install that changes what the figures mean, or ""."""
        return ""

    # -- lifecycle ----------------------------------------------------------------------

    def setup(self, base_url: str, tls_ca_path: str | None, reuse: bool) -> None:
        self.base_url = base_url
        self.scheme, self.host, self.port = parse_base_url(base_url)
        self.ca_path = tls_ca_path
        self.reuse = reuse
        self._setup()

    def _setup(self) -> None:
        raise NotImplementedError

    def get(self, path: str) -> bytes:
        raise NotImplementedError

    def stream(self, path: str) -> int:
        """GET ``path`` and read its body in chunks, keeping none; return the byte count."""
        raise NotImplementedError

    def close(self) -> None:
        pass

    def prepare(self, n: int) -> None:
        """Untimed work before a batch of ``n`` requests (e.g. building contexts)."""

    def pool_stats(self) -> dict[str, int] | None:
        """The library's own connection statistics, where it keeps any."""
        return None

    def run(self, path: str, n: int) -> tuple[list[int], int]:
        """``n`` sequential GETs: per-request wall times (ns) and the batch's process CPU (ns)."""
        get = self.get
        clock = time.perf_counter_ns
        walls = [0] * n
        cpu0 = time.process_time_ns()
        for i in range(n):
            t0 = clock()
            get(path)
            walls[i] = clock() - t0
        return walls, time.process_time_ns() - cpu0

    @classmethod
    def constructor(cls) -> Callable[[], None] | None:
        """Create and close the library's main client object with default settings (for the
        setup-cost scenario), or None when that means nothing for this client."""
        return None


# --- floors -----------------------------------------------------------------------------


def _read_content_length_response(sock: socket.socket) -> bytes:
    """The least a client can do: find the end of the head, read Content-Length bytes."""
    recv = sock.recv
    data = recv(65536)
    end = data.find(b"\r\n\r\n")
    while end < 0:
        more = recv(65536)
        if not more:
            raise ConnectionError("server closed before the end of the response head")
        data += more
        end = data.find(b"\r\n\r\n")
    head = data[:end].lower()
    i = head.find(b"content-length:") + 15
    j = head.find(b"\r\n", i)
    length = int(head[i : j if j >= 0 else end])
    body = data[end + 4 :]
    if len(body) >= length:
        return body
    parts = [body]
    have = len(body)
    while have < length:
        more = recv(min(length - have, 1 << 20))
        if not more:
            raise ConnectionError("server closed before the end of the body")
        parts.append(more)
        have += len(more)
    return b"".join(parts)


class RawSocketClient(Client):
    """The floor: prebuilt request bytes on a socket, a minimal Content-Length read."""

    key = "raw"
    label = "raw socket (floor)"
    kind = "floor"
    note = ("prebuilt request bytes, minimal Content-Length read; bodies read with recv_into "
            "into one reused 256 KiB buffer, woken only when it can be filled (SO_RCVLOWAT)")

    def _setup(self) -> None:
        self._context = client_ssl_context(self.ca_path) if self.scheme == "https" else None
        self._session: ssl.SSLSession | None = None
        self._resume = bool(self.options.get("resume"))
        self._rcvbuf = int(self.options.get("rcvbuf", 0))
        self._requests: dict[str, bytes] = {}
        self._stream_buffer = memoryview(bytearray(CHUNK))
        self._lowat = bool(self.options.get("lowat", True))
        self.stream_stalls = 0
        self._sock = self._connect() if self.reuse else None

    def _request_bytes(self, path: str) -> bytes:
        request = self._requests.get(path)
        if request is None:
            close = "" if self.reuse else "Connection: close\r\n"
            request = f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{close}\r\n"
            self._requests[path] = request = request.encode()
        return request

    def _connect(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if self._rcvbuf:  # before connect(), so that the window scale follows it
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self._rcvbuf)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.connect((self.host, self.port))
        if self._context is not None:
            tls = self._context.wrap_socket(
                sock, server_hostname=self.host, session=self._session if self._resume else None
            )
            self.tls_handshakes += 1
            self.resumed_handshakes += tls.session_reused
            return tls
        return sock

    def get(self, path: str) -> bytes:
        if self._sock is not None:
            self._sock.sendall(self._request_bytes(path))
            return _read_content_length_response(self._sock)
        sock = self._connect()
        try:
            sock.sendall(self._request_bytes(path))
            body = _read_content_length_response(sock)
            if self._resume and isinstance(sock, ssl.SSLSocket):
                self._session = sock.session  # TLS 1.3 tickets arrive after the handshake
            return body
        finally:
            sock.close()

    def stream(self, path: str) -> int:
        """Read the body into one buffer of ``CHUNK`` bytes, reused for every read.

        ``CHUNK`` is the read size every client is asked for (and keepalive's own direct-read
        size), and nothing is allocated per read. On loopback the receiver is usually faster
        than the sender, so a reader that sleeps until *any* data arrives wakes up for every
        few segments, and those wake-ups, not the copying, dominate its CPU per byte: slower
        clients that find more data queued each time could then beat a plain ``recv_into``
        loop. So the floor waits until a whole buffer is queued (``SO_RCVLOWAT``, honoured by
        ``poll``), which no client can undercut. The socket is polled with a timeout: should
        the kernel not wake it at the low-water mark (the sender stalled on a full window),
        the mark drops to one byte and the read goes on; such stalls are counted.
        """
        sock = self._sock if self._sock is not None else self._connect()
        try:
            sock.sendall(self._request_bytes(path))
            data = b""
            while (end := data.find(b"\r\n\r\n")) < 0:
                more = sock.recv(65536)
                if not more:
                    raise ConnectionError("server closed before the end of the response head")
                data += more
            head = data[:end].lower()
            i = head.find(b"content-length:") + 15
            j = head.find(b"\r\n", i)
            length = int(head[i : j if j >= 0 else end])
            remaining = length - (len(data) - end - 4)
            buffer = self._stream_buffer
            recv_into = sock.recv_into
            # TLS records: the mark means little there. The "lowat" option off shows what the
            # floor would be without it (a reader woken whenever any data arrives).
            lowat = self._lowat and not isinstance(sock, ssl.SSLSocket)
            if lowat:
                sock.settimeout(STREAM_STALL_S)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, CHUNK)
            try:
                while remaining > 0:
                    if lowat and remaining < CHUNK:
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, remaining)
                    try:
                        got = recv_into(buffer, min(remaining, CHUNK))
                    except TimeoutError:
                        self.stream_stalls += 1
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, 1)
                        continue
                    if not got:
                        raise ConnectionError("server closed before the end of the body")
                    remaining -= got
            finally:
                if lowat:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, 1)
                    sock.settimeout(None)
            return length
        finally:
            if sock is not self._sock:
                sock.close()

    def rcvbuf_effective(self) -> int | None:
        return self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) if self._sock else None

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class H11LoopClient(Client):
    """The least an h11-based client can do: one h11.Connection over a socket, no extras."""

    key = "h11"
    label = "h11 loop (minimal)"
    kind = "floor"
    requires = ("h11",)
    note = "h11.Connection over a plain socket, nothing else"

    def _setup(self) -> None:
        import h11

        self._h11 = h11
        self._context = client_ssl_context(self.ca_path) if self.scheme == "https" else None
        self._headers = [("Host", f"{self.host}:{self.port}")]
        if not self.reuse:
            self._headers.append(("Connection", CLOSE))
        self._sock: socket.socket | None = None
        self._conn: Any = None
        self._view: memoryview | None = None
        if self.reuse:
            self._sock, self._conn = self._connect()

    def _connect(self) -> tuple[socket.socket, Any]:
        sock = socket.create_connection((self.host, self.port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._context is not None:
            sock = self._context.wrap_socket(sock, server_hostname=self.host)
        return sock, self._h11.Connection(self._h11.CLIENT)

    def _cycle(self, sock: socket.socket, conn: Any, path: str, keep: bool) -> bytes | int:
        """One request/response; ``keep`` returns the body, else only its length.

        Small responses are read with ``recv(65536)``; a streamed body with ``recv_into`` on
        one preallocated buffer, whose slices h11 copies into its own buffer.
        """
        h11 = self._h11
        sock.sendall(
            conn.send(h11.Request(method="GET", target=path, headers=self._headers))
            + conn.send(h11.EndOfMessage())
        )
        parts: list[bytes] = []
        count = 0
        if not keep and self._view is None:
            self._view = memoryview(bytearray(CHUNK))
        view = self._view
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                if keep or view is None:
                    conn.receive_data(sock.recv(65536))
                else:
                    conn.receive_data(view[: sock.recv_into(view)])
                continue
            kind = type(event)
            if kind is h11.Data:
                if keep:
                    parts.append(event.data)
                else:
                    count += len(event.data)
            elif kind is h11.EndOfMessage:
                break
            elif kind is h11.ConnectionClosed:
                raise ConnectionError("server closed mid-response")
        if self.reuse:
            conn.start_next_cycle()
        return b"".join(parts) if keep else count

    def get(self, path: str) -> bytes:
        if self._sock is not None:
            return self._cycle(self._sock, self._conn, path, True)  # type: ignore[return-value]
        sock, conn = self._connect()
        try:
            return self._cycle(sock, conn, path, True)  # type: ignore[return-value]
        finally:
            sock.close()

    def stream(self, path: str) -> int:
        if self._sock is not None:
            return self._cycle(self._sock, self._conn, path, False)  # type: ignore[return-value]
        sock, conn = self._connect()
        try:
            return self._cycle(sock, conn, path, False)  # type: ignore[return-value]
        finally:
            sock.close()

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


# --- peers ------------------------------------------------------------------------------


class HttpClientClient(Client):
    key = "http.client"
    label = "http.client"
    requires = ("http.client",)

    @classmethod
    def version(cls) -> str | None:
        return "stdlib"

    def _setup(self) -> None:
        import http.client

        self._module = http.client
        self._context = client_ssl_context(self.ca_path) if self.scheme == "https" else None
        self._headers = {} if self.reuse else {"Connection": CLOSE}
        self._conn = self._new() if self.reuse else None

    def _new(self) -> Any:
        if self._context is not None:
            return self._module.HTTPSConnection(self.host, self.port, context=self._context)
        return self._module.HTTPConnection(self.host, self.port)

    def get(self, path: str) -> bytes:
        conn = self._conn if self._conn is not None else self._new()
        try:
            conn.request("GET", path, headers=self._headers)
            return conn.getresponse().read()  # type: ignore[no-any-return]
        finally:
            if conn is not self._conn:
                conn.close()

    def stream(self, path: str) -> int:
        conn = self._conn if self._conn is not None else self._new()
        try:
            conn.request("GET", path, headers=self._headers)
            response = conn.getresponse()
            total = 0
            while chunk := response.read(CHUNK):
                total += len(chunk)
            return total
        finally:
            if conn is not self._conn:
                conn.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()

    @classmethod
    def constructor(cls) -> Callable[[], None]:
        import http.client

        def make() -> None:
            http.client.HTTPSConnection("example.invalid", 443).close()

        return make


def _default(function: Any, name: str, fallback: Any) -> Any:
    """A parameter's default, read from the installed library (``fallback`` if it moved)."""
    try:
        default = inspect.signature(function).parameters[name].default
    except (TypeError, ValueError, KeyError):
        return fallback
    return fallback if default is inspect.Parameter.empty else default


def _urllib3_caveat() -> str:
    """urllib3-future (a dependency of niquests) overwrites the ``urllib3`` package on install
    unless told not to, and then urllib3 and requests rows measure the fork. Its versions have
    a patch number of 900 or more."""
    try:
        import urllib3
    except Exception:
        return ""
    version = str(getattr(urllib3, "__version__", ""))
    patch = version.split(".")[2] if version.count(".") >= 2 else ""
    if patch.isdigit() and int(patch) >= 900:
        return (f"urllib3 here is urllib3-future {version}, which replaced it (install it with "
                "URLLIB3_NO_OVERRIDE=1 and --no-binary urllib3-future to keep both)")
    return ""


class Urllib3Client(Client):
    key = "urllib3"
    label = "urllib3"
    requires = ("urllib3",)
    thread_safe = True

    @classmethod
    def connection_limit(cls) -> tuple[int, str] | None:
        import urllib3

        size = _default(urllib3.HTTPConnectionPool.__init__, "maxsize", 1)
        block = _default(urllib3.HTTPConnectionPool.__init__, "block", False)
        return size, "wait" if block else "discard"

    @classmethod
    def caveat(cls) -> str:
        return _urllib3_caveat()

    def _setup(self) -> None:
        import urllib3

        kwargs: dict[str, Any] = {}
        if self.ca_path:
            kwargs["ca_certs"] = self.ca_path
        self._pm = urllib3.PoolManager(**kwargs)
        self._headers = None if self.reuse else {"Connection": CLOSE}

    def get(self, path: str) -> bytes:
        return self._pm.request("GET", self.base_url + path, headers=self._headers).data  # type: ignore[no-any-return]

    def stream(self, path: str) -> int:
        r = self._pm.request("GET", self.base_url + path, headers=self._headers,
                             preload_content=False)
        total = 0
        for chunk in r.stream(CHUNK):
            total += len(chunk)
        r.release_conn()
        return total

    def close(self) -> None:
        self._pm.clear()

    @classmethod
    def constructor(cls) -> Callable[[], None]:
        import urllib3

        def make() -> None:
            urllib3.PoolManager().clear()

        return make


class RequestsClient(Client):
    key = "requests"
    label = "requests"
    requires = ("requests",)
    thread_safe = True
    note = "Session shared by threads (common practice; not documented as thread-safe)"

    @classmethod
    def connection_limit(cls) -> tuple[int, str] | None:
        from requests import adapters

        block = getattr(adapters, "DEFAULT_POOLBLOCK", False)
        return int(getattr(adapters, "DEFAULT_POOLSIZE", 10)), "wait" if block else "discard"

    @classmethod
    def caveat(cls) -> str:
        return _urllib3_caveat()

    def _setup(self) -> None:
        import requests

        self._session = requests.Session()
        # Per request, not session.verify: with trust_env, REQUESTS_CA_BUNDLE from the
        # environment overrides session.verify (requests issue #3829).
        self._verify: Any = self.ca_path or True
        self._headers = None if self.reuse else {"Connection": CLOSE}

    def get(self, path: str) -> bytes:
        return self._session.get(  # type: ignore[no-any-return]
            self.base_url + path, headers=self._headers, verify=self._verify).content

    def stream(self, path: str) -> int:
        total = 0
        with self._session.get(self.base_url + path, headers=self._headers, stream=True,
                               verify=self._verify) as r:
            for chunk in r.iter_content(CHUNK):
                total += len(chunk)
        return total

    def close(self) -> None:
        self._session.close()

    @classmethod
    def constructor(cls) -> Callable[[], None]:
        import requests

        def make() -> None:
            requests.Session().close()

        return make


class HttpxClient(Client):
    key = "httpx"
    label = "httpx"
    requires = ("httpx",)
    thread_safe = True

    @classmethod
    def connection_limit(cls) -> tuple[int, str] | None:
        import httpx

        # max_connections (100) makes callers wait; max_keepalive_connections (20) is how many
        # it keeps: connections beyond that are closed after their response.
        keep = httpx.Limits().max_keepalive_connections if hasattr(httpx, "Limits") else 20
        return (keep or 20), "discard"

    def _setup(self) -> None:
        import httpx

        verify: Any = client_ssl_context(self.ca_path) if self.ca_path else True
        self._client = httpx.Client(verify=verify)
        self._headers = None if self.reuse else {"Connection": CLOSE}

    def get(self, path: str) -> bytes:
        return self._client.get(self.base_url + path, headers=self._headers).content

    def stream(self, path: str) -> int:
        total = 0
        with self._client.stream("GET", self.base_url + path, headers=self._headers) as r:
            for chunk in r.iter_bytes():
                total += len(chunk)
        return total

    def close(self) -> None:
        self._client.close()

    @classmethod
    def constructor(cls) -> Callable[[], None]:
        import httpx

        def make() -> None:
            httpx.Client().close()

        return make


class PycurlClient(Client):
    key = "pycurl"
    label = "pycurl"
    requires = ("pycurl",)
    note = "one Curl handle (per thread under concurrency)"

    @classmethod
    def version(cls) -> str | None:
        import pycurl

        # "PycURL/7.49.0 libcurl/8.23.0 OpenSSL/3.6.5 zlib/... nghttp2/...": the first three
        return " ".join(str(pycurl.version).split()[:3])

    def _setup(self) -> None:
        import pycurl

        self._pycurl = pycurl
        c = self._curl = pycurl.Curl()
        c.setopt(pycurl.NOSIGNAL, 1)
        c.setopt(pycurl.TCP_NODELAY, 1)
        if self.ca_path:
            c.setopt(pycurl.CAINFO, self.ca_path)
        if not self.reuse:
            c.setopt(pycurl.HTTPHEADER, [f"Connection: {CLOSE}"])

    def get(self, path: str) -> bytes:
        c = self._curl
        buffer = io.BytesIO()
        c.setopt(self._pycurl.URL, self.base_url + path)
        c.setopt(self._pycurl.WRITEDATA, buffer)
        c.perform()
        return buffer.getvalue()

    def stream(self, path: str) -> int:
        c = self._curl
        total = 0

        def sink(chunk: bytes) -> None:
            nonlocal total
            total += len(chunk)

        c.setopt(self._pycurl.URL, self.base_url + path)
        c.setopt(self._pycurl.BUFFERSIZE, CHUNK)
        c.setopt(self._pycurl.WRITEFUNCTION, sink)
        try:
            c.perform()
        finally:
            c.setopt(self._pycurl.BUFFERSIZE, 16384)
        return total

    def close(self) -> None:
        self._curl.close()

    @classmethod
    def constructor(cls) -> Callable[[], None]:
        import pycurl

        def make() -> None:
            pycurl.Curl().close()

        return make


class AiohttpClient(Client):
    """aiohttp, sequential requests in one task; one event loop run per batch."""

    key = "aiohttp"
    label = "aiohttp"
    requires = ("aiohttp",)
    note = "sequential requests in one task"

    def _setup(self) -> None:
        import asyncio

        import aiohttp

        self._loop = asyncio.new_event_loop()
        ssl_arg: Any = client_ssl_context(self.ca_path) if self.ca_path else True
        headers = None if self.reuse else {"Connection": CLOSE}
        self._headers = headers

        async def create() -> Any:
            return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ssl_arg))

        self._session = self._loop.run_until_complete(create())

    async def _get(self, path: str) -> bytes:
        async with self._session.get(self.base_url + path, headers=self._headers) as r:
            return await r.read()  # type: ignore[no-any-return]

    def get(self, path: str) -> bytes:
        return self._loop.run_until_complete(self._get(path))

    def run(self, path: str, n: int) -> tuple[list[int], int]:
        async def batch() -> tuple[list[int], int]:
            session_get = self._session.get
            url = self.base_url + path
            headers = self._headers
            clock = time.perf_counter_ns
            walls = [0] * n
            cpu0 = time.process_time_ns()
            for i in range(n):
                t0 = clock()
                async with session_get(url, headers=headers) as r:
                    await r.read()
                walls[i] = clock() - t0
            return walls, time.process_time_ns() - cpu0

        return self._loop.run_until_complete(batch())

    def stream(self, path: str) -> int:
        async def read() -> int:
            total = 0
            async with self._session.get(self.base_url + path, headers=self._headers) as r:
                async for chunk in r.content.iter_chunked(CHUNK):
                    total += len(chunk)
            return total

        return self._loop.run_until_complete(read())

    def close(self) -> None:
        self._loop.run_until_complete(self._session.close())
        self._loop.close()


class NiquestsClient(Client):
    """niquests: requests' API over urllib3-future; HTTP/1.1 here (the server offers no h2)."""

    key = "niquests"
    label = "niquests"
    requires = ("niquests",)
    thread_safe = True
    note = "Session shared by threads, as with requests"

    @classmethod
    def connection_limit(cls) -> tuple[int, str] | None:
        import niquests

        size = _default(niquests.Session.__init__, "pool_maxsize", 10)
        return size, "discard"

    def _setup(self) -> None:
        import niquests

        self._session = niquests.Session()
        self._verify: Any = self.ca_path or True
        self._headers = None if self.reuse else {"Connection": CLOSE}

    def get(self, path: str) -> bytes:
        r = self._session.get(self.base_url + path, headers=self._headers, verify=self._verify)
        return r.content or b""  # niquests types it Optional (None after a stream is consumed)

    def stream(self, path: str) -> int:
        total = 0
        with self._session.get(self.base_url + path, headers=self._headers, stream=True,
                               verify=self._verify) as r:
            for chunk in r.iter_content(CHUNK):
                total += len(chunk)
        return total

    def close(self) -> None:
        self._session.close()

    @classmethod
    def constructor(cls) -> Callable[[], None]:
        import niquests

        def make() -> None:
            niquests.Session().close()

        return make


class PyreqwestClient(Client):
    """pyreqwest: Rust's reqwest (hyper) behind a builder API; one SyncClient for everything."""

    key = "pyreqwest"
    label = "pyreqwest"
    requires = ("pyreqwest.client",)
    thread_safe = True
    note = "SyncClient (Rust: reqwest, hyper, rustls)"

    @classmethod
    def version(cls) -> str | None:
        import pyreqwest

        return str(getattr(pyreqwest, "__version__", "?"))

    def _setup(self) -> None:
        from pyreqwest.client import SyncClientBuilder

        builder = SyncClientBuilder()
        if self.ca_path:
            with open(self.ca_path, "rb") as f:
                builder = builder.add_root_certificate_pem(f.read())
        self._client = builder.build()

    def _request(self, path: str) -> Any:
        request = self._client.get(self.base_url + path)
        return request if self.reuse else request.header("Connection", CLOSE)

    def get(self, path: str) -> bytes:
        # Bytes: a buffer with len(); what a user gets without copying into a bytes object.
        return self._request(path).build().send().bytes()  # type: ignore[no-any-return]

    def stream(self, path: str) -> int:
        total = 0
        with self._request(path).build_streamed() as r:
            read = r.body_reader.read
            while (chunk := read(CHUNK)) is not None:
                total += len(chunk)
        return total

    def close(self) -> None:
        self._client.close()

    @classmethod
    def constructor(cls) -> Callable[[], None]:
        from pyreqwest.client import SyncClientBuilder

        def make() -> None:
            SyncClientBuilder().build().close()

        return make


class HttprClient(Client):
    """httpr: an httpx-like API over Rust's reqwest."""

    key = "httpr"
    label = "httpr"
    requires = ("httpr",)
    thread_safe = True
    note = "Client (Rust: reqwest); cookie store and redirects off"

    def _setup(self) -> None:
        import httpr

        kwargs: dict[str, Any] = {"cookie_store": False, "follow_redirects": False}
        if self.ca_path:
            kwargs["ca_cert_file"] = self.ca_path
        self._client = httpr.Client(**kwargs)
        self._headers = None if self.reuse else {"Connection": CLOSE}

    def get(self, path: str) -> bytes:
        if self._headers is None:
            return self._client.get(self.base_url + path).content  # type: ignore[no-any-return]
        return self._client.get(  # type: ignore[no-any-return]
            self.base_url + path, headers=self._headers).content

    def stream(self, path: str) -> int:
        total = 0
        kwargs: dict[str, Any] = {} if self._headers is None else {"headers": self._headers}
        with self._client.stream("GET", self.base_url + path, **kwargs) as r:
            for chunk in r.iter_bytes():
                total += len(chunk)
        return total

    def close(self) -> None:
        self._client.close()

    @classmethod
    def constructor(cls) -> Callable[[], None]:
        import httpr

        def make() -> None:
            httpr.Client().close()

        return make


# --- keepalive ----------------------------------------------------------------------------


class _KeepaliveBase(Client):
    kind = "keepalive"
    requires = ("keepalive",)
    needs: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def missing(cls) -> str | None:
        reason = super().missing()
        if reason:
            return reason
        keepalive = importlib.import_module("keepalive")
        absent = [name for name in cls.needs if not hasattr(keepalive, name)]
        if absent:
            return "not available in this keepalive (no " + ", ".join(
                f"keepalive.{name}" for name in absent) + ")"
        return None

    @classmethod
    def version(cls) -> str | None:
        keepalive = importlib.import_module("keepalive")
        return str(getattr(keepalive, "__version__", None) or _keepalive_version())

    def _track(self, response: Any) -> None:
        """Count TLS handshakes and resumptions from the response's timings (new connections)."""
        timings = getattr(response, "timings", None)
        if timings is not None and getattr(timings, "tls", 0.0):
            self.tls_handshakes += 1
            self.resumed_handshakes += bool(getattr(timings, "tls_resumed", False))

    def _socket_options(self) -> dict[str, Any]:
        """``receive_buffer_size`` (SO_RCVBUF, set before connect) when the variant asks."""
        rcvbuf = int(self.options.get("rcvbuf", 0))
        return {"receive_buffer_size": rcvbuf} if rcvbuf else {}


def _keepalive_version() -> str:
    try:
        from keepalive._version import __version__

        return __version__
    except ImportError:
        return "?"


class KeepaliveSessionClient(_KeepaliveBase):
    key = "keepalive.Session"
    label = "keepalive.Session"
    needs = ("Session",)
    thread_safe = True

    @classmethod
    def connection_limit(cls) -> tuple[int, str] | None:
        import keepalive

        return _default(keepalive.Session.__init__, "max_connections_per_host", 10), "wait"

    def _setup(self) -> None:
        import keepalive

        verify: Any = self.ca_path if self.ca_path else True
        kwargs: dict[str, Any] = {"verify": verify, **self._socket_options()}
        if "max_connections_per_host" in self.options:
            kwargs["max_connections_per_host"] = self.options["max_connections_per_host"]
        self._session = keepalive.Session(**kwargs)
        self._headers = None if self.reuse else {"Connection": CLOSE}
        self._track_tls = self.scheme == "https" and not self.reuse

    def get(self, path: str) -> bytes:
        r = self._session.get(self.base_url + path, headers=self._headers)
        if self._track_tls:
            self._track(r)
        return r.content  # type: ignore[no-any-return]

    def stream(self, path: str) -> int:
        total = 0
        with self._session.get(self.base_url + path, headers=self._headers, stream=True) as r:
            for chunk in r.iter_bytes(self.options.get("chunk_size")):
                total += len(chunk)
        return total

    def pool_stats(self) -> dict[str, int] | None:
        return dict(self._session.pool.stats())

    def close(self) -> None:
        self._session.close()

    @classmethod
    def constructor(cls) -> Callable[[], None]:
        import keepalive

        def make() -> None:
            keepalive.Session().close()

        return make


class KeepalivePoolClient(_KeepaliveBase):
    key = "keepalive.ConnectionPool"
    label = "keepalive.ConnectionPool"
    needs = ("ConnectionPool",)
    thread_safe = True

    @classmethod
    def connection_limit(cls) -> tuple[int, str] | None:
        import keepalive

        limit = _default(keepalive.ConnectionPool.__init__, "max_connections_per_host", 10)
        return limit, "wait"

    def _setup(self) -> None:
        import keepalive

        verify: Any = self.ca_path if self.ca_path else True
        self._pool = keepalive.ConnectionPool(verify=verify, **self._socket_options())
        self._headers = None if self.reuse else [("Connection", CLOSE)]
        self._track_tls = self.scheme == "https" and not self.reuse

    def get(self, path: str) -> bytes:
        with self._pool.request("GET", self.base_url + path, headers=self._headers) as r:
            if self._track_tls:
                self._track(r)
            return r.read()  # type: ignore[no-any-return]

    def stream(self, path: str) -> int:
        total = 0
        with self._pool.request("GET", self.base_url + path, headers=self._headers) as r:
            for chunk in r.iter_bytes(self.options.get("chunk_size")):
                total += len(chunk)
        return total

    def pool_stats(self) -> dict[str, int] | None:
        return dict(self._pool.stats())

    def close(self) -> None:
        self._pool.close()

    @classmethod
    def constructor(cls) -> Callable[[], None]:
        import keepalive

        def make() -> None:
            keepalive.ConnectionPool().close()

        return make


class KeepaliveConnectionClient(_KeepaliveBase):
    """``keepalive.HTTPConnection``: one connection; a new one per request when not reusing.

    Variant ``fresh_context=True`` gives every new connection its own ``SSLContext`` (built
    before the timed batch), which rules out TLS session resumption: sessions are keyed by
    context.
    """

    key = "keepalive.HTTPConnection"
    label = "keepalive.HTTPConnection"
    needs = ("HTTPConnection",)

    def _setup(self) -> None:
        import keepalive

        self._cls = keepalive.HTTPConnection
        self._context = client_ssl_context(self.ca_path) if self.scheme == "https" else None
        self._fresh = bool(self.options.get("fresh_context")) and self._context is not None
        self._contexts: list[ssl.SSLContext] = []
        self._headers = [("Host", f"{self.host}:{self.port}")]
        if not self.reuse:
            self._headers.append(("Connection", CLOSE))
        self._track_tls = self.scheme == "https" and not self.reuse
        self._conn = self._new() if self.reuse else None

    def prepare(self, n: int) -> None:
        if self._fresh:
            self._contexts = [client_ssl_context(self.ca_path) for _ in range(n)]

    def _new(self) -> Any:
        context = self._context
        if self._fresh:
            context = self._contexts.pop() if self._contexts else client_ssl_context(self.ca_path)
        return self._cls(self.host, self.port, scheme=self.scheme, ssl_context=context,
                         **self._socket_options())

    def get(self, path: str) -> bytes:
        conn = self._conn if self._conn is not None else self._new()
        try:
            with conn.request("GET", path, headers=self._headers) as r:
                if self._track_tls:
                    self._track(r)
                return r.read()  # type: ignore[no-any-return]
        finally:
            if conn is not self._conn:
                conn.close()

    def stream(self, path: str) -> int:
        conn = self._conn if self._conn is not None else self._new()
        total = 0
        try:
            with conn.request("GET", path, headers=self._headers) as r:
                for chunk in r.iter_bytes(self.options.get("chunk_size")):
                    total += len(chunk)
            return total
        finally:
            if conn is not self._conn:
                conn.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()

    @classmethod
    def constructor(cls) -> Callable[[], None]:
        import keepalive

        def make() -> None:
            keepalive.HTTPConnection("example.invalid", 443, scheme="https").close()

        return make


#: Every client, in table order: floors, keepalive, then peers roughly as users meet them.
CLIENTS: list[type[Client]] = [
    RawSocketClient,
    H11LoopClient,
    KeepaliveConnectionClient,
    KeepalivePoolClient,
    KeepaliveSessionClient,
    HttpClientClient,
    PycurlClient,
    Urllib3Client,
    RequestsClient,
    NiquestsClient,
    HttpxClient,
    AiohttpClient,
    PyreqwestClient,
    HttprClient,
]
#: Pure-Python peers: the ones keepalive's Session is meant to be ahead of.
PURE_PYTHON_PEERS = ("aiohttp", "urllib3", "httpx", "requests", "niquests")
BY_KEY = {cls.key: cls for cls in CLIENTS}


def matching(spec: str | None, catalogue: list[Any]) -> tuple[list[Any], list[str]]:
    """``--clients a,b,c`` applied to one catalogue: the classes chosen (keys, or prefixes of
    keys: "keepalive" selects every keepalive adapter), in catalogue order, and the words that
    matched nothing in it. Floors are always chosen: every ratio is taken against them."""
    if not spec:
        return list(catalogue), []
    chosen = [c for c in catalogue if c.kind == "floor" and c.key in ("raw", "raw.asyncio")]
    unmatched = []
    for word in (w.strip().lower() for w in spec.split(",") if w.strip()):
        found = [c for c in catalogue if c.key.lower() == word or c.key.lower().startswith(word)]
        if not found:
            unmatched.append(word)
        chosen += [c for c in found if c not in chosen]
    return [c for c in catalogue if c in chosen], unmatched


def select(spec: str | None) -> list[type[Client]]:
    """The blocking clients chosen by ``--clients`` (unknown words are an error)."""
    chosen, unmatched = matching(spec, CLIENTS)
    if unmatched:
        raise SystemExit(f"unknown client(s) {unmatched}; known: {', '.join(BY_KEY)}")
    return chosen
