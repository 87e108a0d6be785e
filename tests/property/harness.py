"""Loopback machinery for the property tests: a scripted raw-bytes server, a manual clock, fds.

Starting a server per hypothesis example would cost more than the example itself, so one
``ScriptedServer`` listens for a whole module and each example only swaps the behaviour its
connections follow (``serve(handler)``) and tidies up afterwards (``finish()``). A handler
gets the server's end of one accepted connection (``Peer``) and scripts it: read requests
(parsed by a real ``h11`` server), write exact bytes in exact segments, close with FIN or
reset with RST; another thread may hang up an idle connection or write stray bytes on it.

``finish()`` is what makes per-example accounting exact: it first makes sure every
connection the client opened has been accepted (a marker connection goes through the same
FIFO backlog), then shuts every server socket down and joins the handler threads, so an
example ends with no server-side descriptor open.
"""

from __future__ import annotations

import contextlib
import gc
import os
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import h11

__all__ = [
    "Handler",
    "ManualClock",
    "Peer",
    "ScriptedServer",
    "ServerRequest",
    "assert_no_fd_leak",
    "budget",
    "open_fds",
    "settled_fds",
]


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
            raise AssertionError(f"file descriptors leaked: {before} before, {now} after")
        time.sleep(0.005)


class ManualClock:
    """The pool's clock under test control: time moves only when ``advance`` says so."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class ServerRequest:
    """One request as the server parsed it."""

    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes
    chunked: bool
    connection: int  # server-side connection index (1, 2, ... per example)
    index_on_connection: int

    def header(self, name: str) -> str | None:
        for n, v in self.headers:
            if n.lower() == name.lower():
                return v
        return None


@dataclass
class Segmenting:
    """How one write is cut: ``sizes`` of the first segments (the rest goes in one piece),
    and a pause of ``delay`` seconds after each of the first ``delayed`` segments."""

    sizes: tuple[int, ...] = ()
    delay: float = 0.0
    delayed: int = 0


WHOLE = Segmenting()


class Peer:
    """The server's end of one connection."""

    def __init__(self, server: ScriptedServer, sock: socket.socket, index: int) -> None:
        self.server = server
        self.sock = sock
        self.index = index
        self.requests_served = 0
        self.closed = False
        self.end_with_reset = False  # set by hang_up(reset=True)
        self.done = threading.Event()  # the handler has returned and the socket is closed
        self._pending = bytearray()  # bytes received past the last parsed request

    # -- reading --------------------------------------------------------------------------

    def read_request(self, timeout: float = 30.0) -> ServerRequest | None:
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
        request = ServerRequest(
            method=head.method.decode("ascii"),
            target=head.target.decode("latin-1"),
            headers=[
                (n.decode("latin-1"), v.decode("latin-1")) for n, v in head.headers.raw_items()
            ],
            body=bytes(body),
            chunked=any(n == b"transfer-encoding" for n, _ in head.headers),
            connection=self.index,
            index_on_connection=self.requests_served,
        )
        self.server._record(request)
        return request

    # -- writing --------------------------------------------------------------------------

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

    # -- ending ---------------------------------------------------------------------------

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
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.sock.close()

    def hang_up(self, reset: bool = False) -> None:
        """From another thread: end this (idle) connection with FIN, or RST, and wait until
        the socket is closed. The handler blocked in ``read_request`` wakes up and returns;
        for a reset it is that thread which closes, as a close() racing a blocked recv()
        would send nothing until the recv() returned."""
        self.end_with_reset = reset
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RD if reset else socket.SHUT_RDWR)
        assert self.done.wait(5.0), "the handler did not notice the hang-up"


Handler = Callable[[Peer], None]


class ScriptedServer:
    """A loopback listener whose connections run the current example's ``handler``."""

    def __init__(self) -> None:
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(128)
        self.host = "127.0.0.1"
        self.port: int = self.listener.getsockname()[1]
        self.url = f"http://{self.host}:{self.port}"
        self._lock = threading.Lock()
        self._handler: Handler = _hang_up
        self._peers: list[Peer] = []
        self._threads: list[threading.Thread] = []
        self._marker: tuple[str, int] | None = None
        self._marker_seen = threading.Event()
        self._stopping = False
        self.accepted = 0
        self.requests: list[ServerRequest] = []
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)
        self._acceptor.start()

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
        for peer in self.peers:
            with contextlib.suppress(OSError):
                peer.sock.shutdown(socket.SHUT_RDWR)
        with self._lock:
            threads, self._threads = self._threads, []
        for thread in threads:
            thread.join(10.0)
            assert not thread.is_alive(), "a server handler did not finish"
        with self._lock:
            peers, self._peers = self._peers, []
            self._handler = _hang_up
        for peer in peers:
            with contextlib.suppress(OSError):
                peer.sock.close()

    def stop(self) -> None:
        self.finish()
        self._stopping = True
        with contextlib.suppress(OSError):
            socket.create_connection((self.host, self.port), timeout=1.0).close()
        self._acceptor.join(5.0)
        self.listener.close()

    # -- internals ------------------------------------------------------------------------

    def _record(self, request: ServerRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _sync_backlog(self) -> None:
        # The backlog is FIFO: once a marker connected now is accepted, every connection
        # the client opened earlier has been accepted too, and so is counted.
        marker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
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

    def _accept_loop(self) -> None:
        while True:
            try:
                sock, address = self.listener.accept()
            except OSError:
                return
            if self._stopping:
                sock.close()
                return
            with self._lock:
                if self._marker is not None and address == self._marker:
                    sock.close()
                    self._marker_seen.set()
                    continue
                self.accepted += 1
                peer = Peer(self, sock, self.accepted)
                handler = self._handler
                self._peers.append(peer)
                thread = threading.Thread(target=self._run, args=(peer, handler), daemon=True)
                self._threads.append(thread)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            thread.start()

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


def budget(fraction: float, least: int = 5) -> int:
    """``max_examples`` for one property: a share of the active profile's (see conftest.py)."""
    from hypothesis import settings

    assert settings.default is not None
    return max(least, int(settings.default.max_examples * fraction))
