"""The blocking network backend: the only code in keepalive that touches a socket.

It resolves and connects under one deadline, sets the socket options, wraps TLS (offering a
saved session), reads and writes with a timeout that is set on the socket only when it
changes, answers "is it readable?" with ``poll`` (``select`` only where ``poll`` is missing:
``select`` fails for descriptors above 1023), and probes an idle socket for a peer's close.

Foreign errors are translated here and nowhere else (``translate``), per phase: a socket
timeout becomes the phase's timeout error, a certificate failure ``TLSError``, a reset, broken
pipe or TLS EOF while reading or writing ``ServerDisconnected``, anything else of ``OSError``
``ConnectError`` or ``RemoteProtocolError``. The original is chained as ``__cause__``.

Proxies: ``socks5_handshake`` asks a SOCKS5 proxy for a tunnel (the bytes come from the
sans-I/O ``_socks.Socks5Handshake``). TLS to the origin through an https proxy is TLS inside
TLS: an ``SSLSocket`` cannot be wrapped again, so ``start_tls`` on a TLS stream returns a
``NestedTLSStream``, an ``ssl.SSLObject`` over memory BIOs whose raw bytes travel through
the outer stream.
"""

from __future__ import annotations

import builtins
import functools
import ipaddress
import select
import socket
import ssl
import struct
import sys
import time
from typing import cast

from ._socks import Socks5Handshake
from ._state import Proxy
from .exceptions import (
    ConnectError,
    ConnectTimeout,
    KeepaliveError,
    ProxyError,
    ReadTimeout,
    RemoteProtocolError,
    ServerDisconnected,
    TimeoutError,
    TLSError,
    TransportError,
    WriteTimeout,
)

__all__ = [
    "CONNECT",
    "READ",
    "WRITE",
    "NestedTLSStream",
    "SocketStream",
    "is_ip_literal",
    "join_host_port",
    "open_tcp",
    "socks5_handshake",
    "translate",
]

# Phases passed to ``translate`` decide which timeout class a socket timeout becomes.
CONNECT, READ, WRITE = "connect", "read", "write"
_TIMEOUTS: dict[str, type[TimeoutError]] = {
    CONNECT: ConnectTimeout,
    READ: ReadTimeout,
    WRITE: WriteTimeout,
}
_PEER_CLOSED = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError, ssl.SSLEOFError)
_HAS_POLL = hasattr(select, "poll")
_RCVLOWAT: int = getattr(socket, "SO_RCVLOWAT", 0)
_GATHER_MIN = 64 * 1024  # below this a low-water mark saves nothing worth a syscall
GATHER_WINDOW = 0.01  # seconds a gathering read waits for a full buffer before taking less
_NESTED_READ = 64 * 1024  # bytes asked of the outer stream per read under nested TLS
_NESTED_WRITE = 64 * 1024  # plaintext encrypted per outer write: bounds the copy in memory
# On Linux a timed read or write is a blocking socket with SO_RCVTIMEO/SO_SNDTIMEO: one
# syscall. A Python-level socket timeout costs a poll() before every recv and send, which
# was the largest cost of the reused path above h11's own work (docs/design.md, theory of
# operation). Elsewhere, and for an ``ssl.SSLSocket``, the Python timeout is kept.
_KERNEL_TIMEOUTS = sys.platform.startswith("linux") and struct.calcsize("@ll") == 16
_TIMEVAL = struct.Struct("@ll")  # struct timeval: time_t tv_sec, suseconds_t tv_usec
_UNSET = -1.0  # a timeout slot whose socket setting is not known


def _timeval(timeout: float | None) -> bytes:
    """``timeout`` as a kernel timeval; zero means "no limit" to the kernel, so a zero or
    negative time is one microsecond (the caller found time left, however little)."""
    packed = _TIMEVALS.get(timeout)
    if packed is None:
        packed = _pack_timeval(timeout)
        if len(_TIMEVALS) >= 64:  # the phase timeouts repeat; deadline remainders do not
            _TIMEVALS.clear()
        _TIMEVALS[timeout] = packed
    return packed


_TIMEVALS: dict[float | None, bytes] = {}


def _pack_timeval(timeout: float | None) -> bytes:
    if timeout is None or timeout >= 1e9:
        return _TIMEVAL.pack(0, 0)
    seconds = int(timeout)
    micros = int((timeout - seconds) * 1_000_000)
    if seconds <= 0 and micros <= 0:
        return _TIMEVAL.pack(0, 1)
    return _TIMEVAL.pack(seconds, micros)


def translate(exc: BaseException, phase: str, where: str) -> KeepaliveError:
    """Map a foreign exception met during ``phase`` (connect/read/write) to a keepalive one.

    The single translation table of the library; callers ``raise translate(...) from exc``.
    ``where`` names the peer (``host:port``) so every message says which one.
    """
    if isinstance(exc, KeepaliveError):
        return exc
    # EAGAIN on a blocking socket: its kernel timeout (SO_RCVTIMEO/SO_SNDTIMEO) ran out.
    if isinstance(exc, builtins.TimeoutError | socket.timeout) or (
        phase != CONNECT and isinstance(exc, BlockingIOError)
    ):
        return _TIMEOUTS[phase](f"{phase} timed out ({where})")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return TLSError(f"certificate verify failed for {where}: {exc.verify_message}")
    if phase != CONNECT and isinstance(exc, _PEER_CLOSED):
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        return ServerDisconnected(f"{where} closed the connection during {phase} ({reason})")
    if isinstance(exc, ssl.SSLError):
        if phase == CONNECT:
            return TLSError(f"TLS handshake with {where} failed: {exc}")
        return RemoteProtocolError(f"TLS error from {where} during {phase}: {exc}")
    if isinstance(exc, socket.gaierror):
        return ConnectError(f"cannot resolve {where}: {exc.strerror or exc}")
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc) or type(exc).__name__
        if phase == CONNECT:
            return ConnectError(f"cannot connect to {where}: {reason}")
        return RemoteProtocolError(f"connection to {where} failed during {phase}: {reason}")
    if isinstance(exc, UnicodeError):
        return ConnectError(f"cannot resolve {where}: {exc}")
    return TransportError(f"{type(exc).__name__} talking to {where}: {exc}")


@functools.lru_cache(maxsize=256)
def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _time_left(deadline: float | None, where: str) -> float | None:
    """What remains of a connect budget; ConnectTimeout once it is spent (a zero socket
    timeout would mean non-blocking, not "no time left")."""
    if deadline is None:
        return None
    left = deadline - time.monotonic()
    if left <= 0:
        raise ConnectTimeout(f"connecting to {where} took longer than the connect timeout")
    return left


def open_tcp(
    host: str,
    port: int,
    deadline: float | None,
    *,
    receive_buffer_size: int | None = None,
) -> tuple[SocketStream, float, float]:
    """Resolve and connect, all before ``deadline`` (monotonic); returns the stream and
    the seconds spent on DNS (0.0 for an IP literal) and on connecting."""
    where = f"{host}:{port}"
    t0 = time.perf_counter()
    try:
        # An ASCII name goes as bytes: CPython encodes a str host with the pure-Python
        # "idna" codec on every call, and URLs reach here already IDNA-encoded (urls.py).
        name: str | bytes = host.encode("ascii") if host.isascii() else host
        infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise translate(exc, CONNECT, where) from exc
    t1 = time.perf_counter()
    last_error: BaseException | None = None
    for family, kind, proto, _, address in infos:
        sock = socket.socket(family, kind, proto)
        try:
            left = _time_left(deadline, where)
            if _KERNEL_TIMEOUTS:
                # A blocking connect is bounded by SO_SNDTIMEO on Linux (socket(7)): one
                # syscall, where a Python timeout costs connect, poll and getsockopt.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, _pack_timeval(left))
            else:
                sock.settimeout(left)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # reuse rule 11
            if receive_buffer_size:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer_size)
            sock.connect(address)
        except BaseException as exc:
            sock.close()
            # The kernel's timeout on a blocking connect is EINPROGRESS (BlockingIOError).
            timed_out = isinstance(exc, builtins.TimeoutError | BlockingIOError)
            if not isinstance(exc, OSError) or timed_out:
                if timed_out:
                    raise ConnectTimeout(f"connecting to {where} timed out") from exc
                raise
            last_error = exc
            continue
        dns = 0.0 if is_ip_literal(host) else t1 - t0
        return SocketStream(sock, where), dns, time.perf_counter() - t1
    error = last_error or OSError(f"no address for {host}")
    raise translate(error, CONNECT, where) from error


class SocketStream:
    """One connected socket (TCP or TLS): timed reads and writes, readiness, the idle probe."""

    __slots__ = ("_low_water", "_poller", "_rcv", "_snd", "_sock", "where")

    def __init__(self, sock: socket.socket | None, where: str) -> None:
        self._sock: socket.socket | None = sock
        # The read and write timeouts the socket is set to now (_UNSET: not known).
        self._rcv: float | None = _UNSET
        self._snd: float | None = _UNSET
        self._low_water = 1  # the socket's SO_RCVLOWAT (see read)
        self._poller: select.poll | None = None
        self.where = where

    def _socket(self, timeout: float | None) -> socket.socket:
        """The socket, set to read with ``timeout``."""
        sock = self._sock
        if sock is None:
            raise TransportError(f"the connection to {self.where} is closed")
        if timeout != self._rcv:
            self._set_timeout(sock, timeout, False)
        return sock

    def _set_timeout(self, sock: socket.socket, timeout: float | None, write: bool) -> None:
        if not _KERNEL_TIMEOUTS or type(sock) is not socket.socket:
            # CPython's blocking SSLSocket polls without end on "want read/write", which
            # would defeat a kernel timeout: TLS sockets keep the Python-level one.
            sock.settimeout(timeout)
            self._rcv = self._snd = timeout
            return
        if sock.gettimeout() is not None:
            sock.settimeout(None)  # blocking: the kernel enforces the time
        try:
            if write:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, _timeval(timeout))
                self._snd = timeout
            else:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _timeval(timeout))
                self._rcv = timeout
        except OSError as exc:
            raise translate(exc, WRITE if write else READ, self.where) from exc

    def _nonblocking(self, sock: socket.socket) -> None:
        """Make ``sock`` non-blocking for one call; both timeout slots must be set again."""
        sock.setblocking(False)
        self._rcv = self._snd = _UNSET

    # -- bytes --------------------------------------------------------------------------------

    def read_into(self, buffer: bytearray | memoryview, timeout: float | None) -> int:
        """Read into ``buffer``; 0 means the peer ended the stream."""
        sock = self._socket(timeout)
        if self._low_water != 1:
            self._set_low_water(sock, 1)
        try:
            return sock.recv_into(buffer)
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise translate(exc, READ, self.where) from exc

    def read(self, max_bytes: int, timeout: float | None, *, gather: bool = False) -> bytes:
        """Read up to ``max_bytes`` as a new ``bytes``; ``b""`` at the end of the stream.

        ``gather`` (a large body read past the parser): on plain TCP the kernel is asked not
        to wake us before ``max_bytes`` have arrived (SO_RCVLOWAT), so a fast download costs
        one wake-up and one read per buffer instead of one per few segments, most of its
        CPU. A slow one is not held back: after ``GATHER_WINDOW`` whatever has arrived is
        returned, and only when nothing came within the read timeout is it a timeout.
        """
        sock = self._sock
        if sock is None:
            raise TransportError(f"the connection to {self.where} is closed")
        if gather and max_bytes > _GATHER_MIN and _RCVLOWAT and type(sock) is socket.socket:
            # Straight to the gathering read, which sets its own (window) timeout: setting
            # the read timeout first would cost two setsockopt calls per buffer.
            return self._gather(sock, max_bytes, timeout)
        if timeout != self._rcv:
            self._set_timeout(sock, timeout, False)
        if self._low_water != 1:
            self._set_low_water(sock, 1)
        try:
            return sock.recv(max_bytes)
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise translate(exc, READ, self.where) from exc

    def _gather(self, sock: socket.socket, max_bytes: int, timeout: float | None) -> bytes:
        if self._low_water != max_bytes:
            self._set_low_water(sock, max_bytes)
        window = GATHER_WINDOW if timeout is None or timeout > GATHER_WINDOW else timeout
        if self._rcv != window:
            self._set_timeout(sock, window, False)
        try:
            # A kernel timeout returns what arrived within the window, EAGAIN when nothing
            # did; a Python one raises TimeoutError either way.
            return sock.recv(max_bytes)
        except (builtins.TimeoutError, BlockingIOError):
            pass  # fewer than max_bytes within the window: take what there is
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise translate(exc, READ, self.where) from exc
        self._set_low_water(sock, 1)
        early = self.read_nowait(max_bytes)
        if early is not None:
            return early
        rest = None if timeout is None else timeout - window
        if rest is not None and rest <= 0:
            error = builtins.TimeoutError("timed out")
            raise translate(error, READ, self.where) from error
        sock = self._socket(rest)
        try:
            return sock.recv(max_bytes)
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise translate(exc, READ, self.where) from exc

    def _set_low_water(self, sock: socket.socket, size: int) -> None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, _RCVLOWAT, size)
            self._low_water = size
        except OSError:  # not supported here: reads simply wake up more often
            self._low_water = 1

    def write(self, data: bytes | bytearray | memoryview, timeout: float | None) -> None:
        sock = self._sock
        if sock is None:
            raise TransportError(f"the connection to {self.where} is closed")
        if timeout != self._snd:
            self._set_timeout(sock, timeout, True)
        try:
            sock.sendall(data)
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise translate(exc, WRITE, self.where) from exc

    def read_nowait(self, max_bytes: int) -> bytes | None:
        """What can be read without waiting: None when nothing is there, ``b""`` at the end
        of the stream or on an error (the idle probe of a ``NestedTLSStream``)."""
        sock = self._sock
        if sock is None:
            return b""
        try:
            self._nonblocking(sock)
            return sock.recv(max_bytes)
        except (ssl.SSLWantReadError, BlockingIOError):
            return None
        except (OSError, ValueError):
            return b""

    # -- readiness ------------------------------------------------------------------------------

    def wait_readable(self, timeout: float | None) -> bool:
        """Block until a read would not block (or ``timeout`` passes); True when readable."""
        sock = self._sock
        if sock is None:
            return True
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            return True
        if self._low_water != 1:
            self._set_low_water(sock, 1)  # see has_peer_closed
        try:
            if _HAS_POLL:
                poller = self._poll()
                return bool(poller.poll(None if timeout is None else max(0.0, timeout) * 1000))
            ready, _, _ = select.select([sock], [], [], timeout)
            return bool(ready)
        except (OSError, ValueError) as exc:
            raise translate(exc, READ, self.where) from exc

    def _poll(self) -> select.poll:
        poller = self._poller
        if poller is None:
            assert self._sock is not None
            poller = self._poller = select.poll()
            poller.register(self._sock.fileno(), select.POLLIN | select.POLLPRI)
        return poller

    def has_peer_closed(self) -> bool:
        """Non-blocking check of an idle socket: has the peer closed it or sent bytes?

        Between cycles a healthy server sends nothing (RFC 9112 section 9.3 forbids a
        response before a request), so readability means EOF, a reset or garbage: in every
        case the connection must not carry a request. ``poll`` with a zero timeout is one
        syscall and works for any descriptor number, unlike ``select``.
        """
        sock = self._sock
        if sock is None:
            return True
        if self._low_water != 1:
            # A gathering read left SO_RCVLOWAT raised; poll() would then not report a few
            # stray bytes (socket(7)), only the end of the stream.
            self._set_low_water(sock, 1)
        try:
            if _HAS_POLL:
                ready = bool(self._poll().poll(0))
            else:
                ready = bool(select.select([sock], [], [], 0)[0])
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
            self._nonblocking(sock)
            sock.recv(1)
        except ssl.SSLWantReadError:
            return False
        except (OSError, ValueError):
            return True
        return True  # application data between cycles, or EOF: unusable either way

    # -- TLS ----------------------------------------------------------------------------------

    def start_tls(
        self,
        ctx: ssl.SSLContext,
        server_hostname: str,
        session: ssl.SSLSession | None,
        deadline: float | None,
    ) -> SocketStream:
        """Wrap the socket in TLS and handshake before ``deadline``; returns the TLS stream.

        On a stream that is TLS already (to an https proxy), the new TLS runs inside it.
        """
        sock = self._sock
        assert sock is not None
        if isinstance(sock, ssl.SSLSocket):
            return NestedTLSStream.handshake(self, ctx, server_hostname, session, deadline)
        try:
            tls_sock = ctx.wrap_socket(
                sock,
                server_hostname=(
                    None
                    if is_ip_literal(server_hostname) and not ctx.check_hostname
                    else server_hostname
                ),
                do_handshake_on_connect=False,
                session=session,
            )
        except (OSError, ValueError) as exc:
            raise translate(exc, CONNECT, self.where) from exc
        self._sock = tls_sock  # close() now closes the TLS socket (same descriptor)
        try:
            tls_sock.settimeout(_time_left(deadline, self.where))
            tls_sock.do_handshake()
        except (OSError, ssl.SSLError) as exc:
            if isinstance(exc, socket.timeout | builtins.TimeoutError):
                raise ConnectTimeout(f"TLS handshake with {self.where} timed out") from exc
            raise translate(exc, CONNECT, self.where) from exc
        stream = SocketStream(tls_sock, self.where)
        self._sock = None  # the new stream owns the socket now
        return stream

    @property
    def tls_resumed(self) -> bool:
        sock = self._sock
        return isinstance(sock, ssl.SSLSocket) and bool(sock.session_reused)

    def tls_session(self) -> ssl.SSLSession | None:
        """The TLS session worth saving for resumption (one with a ticket), if any."""
        sock = self._sock
        if not isinstance(sock, ssl.SSLSocket):
            return None
        session = sock.session
        if session is None or not session.has_ticket:
            return None
        return session

    # -- closing ------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the descriptor: no I/O that can block, safe from a finaliser. A plain close
        sends no TLS close_notify and does not shut a forked parent's socket down."""
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass

    def abort(self) -> None:
        """Shut the socket down, then close it: wakes a thread blocked reading it (a plain
        close of a descriptor another thread is blocked on does not, on Linux)."""
        sock = self._sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except (OSError, ValueError):
                pass
        self.close()

    @property
    def is_closed(self) -> bool:
        return self._sock is None


class NestedTLSStream(SocketStream):
    """TLS inside another stream: the origin's TLS through the TLS tunnel of an https proxy.

    An ``ssl.SSLObject`` over two memory BIOs does the TLS; its records are read from and
    written to the outer stream (whose own TLS is to the proxy). The interface is the
    ``SocketStream`` one, so the driver cannot tell the difference; ``tls_session()`` and
    ``tls_resumed`` are the inner TLS's, so resumption with the origin works as without
    a proxy (docs/design.md, reuse rule 10).
    """

    __slots__ = ("_incoming", "_outer", "_outgoing", "_tls")

    def __init__(
        self,
        outer: SocketStream,
        tls: ssl.SSLObject,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        where: str,
    ) -> None:
        super().__init__(None, where)  # no socket of its own: the outer stream has it
        self._outer = outer
        self._tls: ssl.SSLObject | None = tls
        self._incoming = incoming
        self._outgoing = outgoing

    @classmethod
    def handshake(
        cls,
        outer: SocketStream,
        ctx: ssl.SSLContext,
        server_hostname: str,
        session: ssl.SSLSession | None,
        deadline: float | None,
    ) -> NestedTLSStream:
        """Handshake TLS with ``server_hostname`` through ``outer`` before ``deadline``."""
        where = f"{server_hostname} (through {outer.where})"
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
            raise translate(exc, CONNECT, where) from exc
        stream = cls(outer, tls, incoming, outgoing, where)
        try:
            while True:  # each pass feeds the handshake at least one byte, or raises
                try:
                    tls.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    stream._flush(_time_left(deadline, where))
                    data = outer.read(_NESTED_READ, _time_left(deadline, where))
                    if not data:
                        eof = ssl.SSLEOFError(8, "EOF occurred in violation of protocol")
                        raise translate(eof, CONNECT, where) from None
                    incoming.write(data)
                except (OSError, ssl.SSLError) as exc:
                    raise translate(exc, CONNECT, where) from exc
            stream._flush(_time_left(deadline, where))
        except TimeoutError as exc:
            if isinstance(exc, ConnectTimeout):
                raise
            raise ConnectTimeout(f"TLS handshake with {where} timed out") from exc
        except TransportError as exc:
            if isinstance(exc, ConnectError):
                raise
            raise ConnectError(f"TLS handshake with {where} failed: {exc}") from exc
        return stream

    def _flush(self, timeout: float | None) -> None:
        """Send what the TLS object has written to its outgoing BIO."""
        if self._outgoing.pending:
            self._outer.write(self._outgoing.read(), timeout)

    def _live(self) -> ssl.SSLObject:
        tls = self._tls
        if tls is None:
            raise TransportError(f"the connection to {self.where} is closed")
        return tls

    # -- bytes --------------------------------------------------------------------------------

    def read(self, max_bytes: int, timeout: float | None, *, gather: bool = False) -> bytes:
        """Read up to ``max_bytes``; ``b""`` at the end of the stream. An end of the outer
        stream without close_notify is an end too, as for an ``SSLSocket`` (ragged EOFs are
        suppressed there by default)."""
        tls = self._live()
        while True:  # each pass takes bytes from the outer stream, or returns
            try:
                return tls.read(max_bytes)
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLZeroReturnError:
                return b""
            except ssl.SSLError as exc:
                raise translate(exc, READ, self.where) from exc
            self._flush(timeout)  # e.g. a key update the peer asked for
            data = self._outer.read(_NESTED_READ, timeout)
            if not data:
                return b""
            self._incoming.write(data)

    def read_into(self, buffer: bytearray | memoryview, timeout: float | None) -> int:
        """Read into ``buffer``; 0 means the peer ended the stream."""
        tls = self._live()
        while True:  # as read(), without the extra copy
            try:
                # With a buffer, SSLObject.read fills it and returns a count.
                return cast(int, tls.read(len(buffer), buffer))
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLZeroReturnError:
                return 0
            except ssl.SSLError as exc:
                raise translate(exc, READ, self.where) from exc
            self._flush(timeout)
            data = self._outer.read(_NESTED_READ, timeout)
            if not data:
                return 0
            self._incoming.write(data)

    def write(self, data: bytes | bytearray | memoryview, timeout: float | None) -> None:
        tls = self._live()
        view = memoryview(data).cast("B")
        for start in range(0, len(view), _NESTED_WRITE):
            try:
                tls.write(view[start : start + _NESTED_WRITE])
            except ssl.SSLError as exc:
                raise translate(exc, WRITE, self.where) from exc
            self._flush(timeout)

    def read_nowait(self, max_bytes: int) -> bytes | None:
        """What the inner TLS can give without waiting (None: nothing; ``b""``: the end)."""
        tls = self._tls
        if tls is None:
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
        for _ in range(64):  # bounded: an idle stream holds a few records at most
            data = self._outer.read_nowait(_NESTED_READ)
            if data is None:
                return False
            if not data:
                return True
            self._incoming.write(data)
        return False

    # -- readiness ------------------------------------------------------------------------------

    def wait_readable(self, timeout: float | None) -> bool:
        tls = self._tls
        if tls is None or tls.pending():
            return True
        return self._outer.wait_readable(timeout)

    def has_peer_closed(self) -> bool:
        """Non-blocking check of an idle tunnelled connection, as ``SocketStream`` does it.

        The outer stream's own probe cannot be used: it would consume the inner TLS's
        records (a TLS 1.3 session ticket from the origin is outer application data). The
        records available now are handed to the inner TLS; "want read" afterwards means
        only tickets were there.
        """
        tls = self._tls
        if tls is None or self._outer.is_closed:
            return True
        if tls.pending():
            return True
        if self._pull_nowait():
            return True
        if not self._incoming.pending:
            return False
        try:
            tls.read(1)
        except ssl.SSLWantReadError:
            return False
        except ssl.SSLError:
            return True
        return True  # application data between cycles, or close_notify: unusable either way

    # -- TLS ----------------------------------------------------------------------------------

    def start_tls(
        self,
        ctx: ssl.SSLContext,
        server_hostname: str,
        session: ssl.SSLSession | None,
        deadline: float | None,
    ) -> SocketStream:
        """One more level of TLS inside this one (a chain of https proxies)."""
        return NestedTLSStream.handshake(self, ctx, server_hostname, session, deadline)

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

    # -- closing ------------------------------------------------------------------------------

    def close(self) -> None:
        self._tls = None
        self._outer.close()

    def abort(self) -> None:
        self._tls = None
        self._outer.abort()

    @property
    def is_closed(self) -> bool:
        return self._tls is None


def socks5_handshake(
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
        address = _resolve(target_host, target_port, deadline)
    shake = Socks5Handshake(where, address, target_port, proxy.username, proxy.password)
    try:
        stream.write(shake.greeting(), _time_left(deadline, where))
        while not shake.done:  # at most three replies; each read is bounded by the deadline
            data = stream.read(shake.bytes_needed, _time_left(deadline, where))
            answer = shake.receive_data(data)
            if answer:
                stream.write(answer, _time_left(deadline, where))
    except TimeoutError as exc:
        if isinstance(exc, ConnectTimeout):
            raise
        raise ConnectTimeout(f"the SOCKS5 handshake with {where} timed out") from exc
    except ProxyError:
        raise
    except TransportError as exc:
        raise ProxyError(f"the SOCKS5 handshake with {where} failed: {exc}") from exc


def join_host_port(host: str, port: int) -> str:
    """``host:port``, with an IPv6 address in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _resolve(host: str, port: int, deadline: float | None) -> str:
    """The first address of ``host`` (the system's preferred order, RFC 6724), for
    ``socks5://`` which resolves locally."""
    where = f"{host}:{port}"
    _time_left(deadline, where)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise translate(exc, CONNECT, where) from exc
    if not infos:
        raise ConnectError(f"cannot resolve {where}: no address")
    _time_left(deadline, where)
    return str(infos[0][4][0])
