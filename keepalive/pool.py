"""``ConnectionPool``: idle connections by origin and TLS settings, limits, expiry, safe retry.

Theory of operation
-------------------
All bookkeeping sits under one lock, and only bookkeeping: DNS, connecting, TLS and every
byte of I/O happen outside it. A connection is in exactly one of three places:

* ``_idle[key]``: a LIFO stack per pool key, so the most recently used connection goes out
  first (SPEC.md rule 3) and the others age out;
* ``_active``: handed out, carrying a request; it maps the connection to its key;
* nowhere: closed, and no longer counted.

``_open_per_key`` and ``_open_total`` count idle plus active connections, and a slot is
reserved under the lock *before* a new connection is built, so the limits (rule 7) hold
even while connects are in flight. Every cycle a connection starts ends in exactly one
``on_release`` call (the connection guarantees it), which puts the connection back on its
stack or retires it and frees its slot, then wakes waiters. The pool key is
``(scheme, host, port, TLS identity, proxy)``, so a ``verify=False`` connection can never
serve a verifying request (rule 2; requests' CVE-2024-35195 was a pool key without TLS).

On checkout, idle connections past their deadline (``keepalive_expiry``, or the server's
``Keep-Alive: timeout`` less a second) are closed, then the candidate is polled without
blocking; one the peer closed or that has stray bytes waiting is discarded (rule 4). When
a request still meets a dead reused connection (the close raced our send), it is re-sent
once on a new connection if that is safe (rule 6).

A child process after ``os.fork()`` finds its pools empty, with a fresh lock (rule 9).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from . import tls
from .connection import BodyLike, HeaderPairs, HTTPConnection, Proxy, RawResponse
from .exceptions import (
    KeepaliveError,
    PoolClosed,
    PoolTimeout,
    peer_closed,
)
from .models import DEFAULT_TIMEOUT, Timeout, TimeoutLike
from .urls import split_url

__all__ = ["IDEMPOTENT_METHODS", "ConnectionPool", "PoolKey"]

logger = logging.getLogger("keepalive")

# RFC 9110 section 9.2.2; a request with an Idempotency-Key header counts too (SPEC.md rule 6).
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})

PoolKey = tuple[str, str, int, Any, Any]  # (scheme, host, port, TLS identity, proxy)

_live_pools: weakref.WeakSet[ConnectionPool] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for pool in list(_live_pools):
        pool._forget_parent_connections()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _replay_as_is() -> bool:
    return True


def _rewind(body: Any) -> Callable[[], bool] | None:
    """A function that replays ``body`` for a retry, or None when it cannot be replayed."""
    if body is None or isinstance(body, bytes | bytearray | memoryview | str):
        return _replay_as_is
    if hasattr(body, "seek") and hasattr(body, "tell"):
        try:
            start = body.tell()
        except (OSError, ValueError):
            return None

        def seek_back() -> bool:
            try:
                body.seek(start)
            except (OSError, ValueError):
                return False
            return True

        return seek_back
    return None  # an iterator or generator is consumed by the first attempt


class ConnectionPool:
    """Pooled HTTP/1.1 connections, safe to share between threads.

    ``request()`` returns a streamed ``RawResponse``; its connection comes back to the
    pool when the body has been read to the end, or when the response is closed.
    """

    def __init__(
        self,
        max_connections: int = 100,
        max_connections_per_host: int = 10,
        keepalive_expiry: float | None = 30.0,
        retries: int = 1,
        timeout: TimeoutLike = DEFAULT_TIMEOUT,
        verify: tls.VerifyLike = True,
        cert: tls.CertLike = None,
        *,
        receive_buffer_size: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_connections < 1 or max_connections_per_host < 1:
            raise ValueError("max_connections and max_connections_per_host must be >= 1")
        if retries < 0:
            raise ValueError("retries must be >= 0")
        self.max_connections = max_connections
        self.max_connections_per_host = max_connections_per_host
        self.keepalive_expiry = keepalive_expiry
        self.retries = retries
        self.timeout = Timeout.coerce(timeout)
        self.verify = verify
        self.cert = cert
        self.receive_buffer_size = receive_buffer_size
        self._clock = clock
        self._default_tls = tls.tls_key(verify, cert)
        self._lock = threading.Lock()
        # Waiters sleep on a condition of their key (all share the one lock), so a release
        # wakes one waiter that can use it instead of every thread (no thundering herd).
        self._conds: dict[PoolKey, threading.Condition] = {}
        self._waiting: dict[PoolKey, int] = {}
        self._seen_abandoned = HTTPConnection.abandoned
        self._idle: dict[PoolKey, list[HTTPConnection]] = {}
        self._active: dict[HTTPConnection, PoolKey] = {}
        self._open_per_key: dict[PoolKey, int] = {}
        self._open_total = 0
        self._idle_total = 0
        self._next_expiry = float("inf")  # no idle connection expires before this
        self._waiters = 0
        self._closed = False
        self._opened = self._closed_count = self._reused = self._requests = self._retries = 0
        _live_pools.add(self)

    # -- public ---------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        headers: HeaderPairs = None,
        body: BodyLike = None,
        *,
        timeout: TimeoutLike | None = None,
        verify: tls.VerifyLike | None = None,
        cert: tls.CertLike = None,
        proxy: Proxy | None = None,
    ) -> RawResponse:
        """Send a request on a pooled connection; the response body streams from the socket.

        Per-request ``verify``/``cert``/``proxy`` join the pool key, so connections made
        under other settings are never used for it.
        """
        scheme, host, port, target = split_url(url)
        if scheme == "https":
            if verify is None and cert is None:
                tls_id: Any = self._default_tls
            else:
                verify = self.verify if verify is None else verify
                cert = self.cert if cert is None else cert
                tls_id = tls.tls_key(verify, cert)
        else:
            tls_id = None
        key: PoolKey = (scheme, host, port, tls_id, proxy)
        limits = (
            self.timeout
            if timeout is None
            else timeout
            if type(timeout) is Timeout
            else Timeout.coerce(timeout)
        )
        if proxy is not None and scheme == "http":
            # Plain HTTP through a proxy: absolute-form target (RFC 9112 section 3.2.2).
            target = url
            if proxy.headers:
                headers = [*_pairs(headers), *proxy.headers]
        # A file body's position must be taken before the first attempt reads it.
        replay = _rewind(body) if self.retries else None
        force_new = False
        attempt = 0
        while True:
            conn = self._acquire(key, limits.pool, force_new, verify, cert)
            cycles = conn.request_count
            try:
                response = conn.request(method, target, headers, body, timeout=limits)
            except BaseException as exc:
                if conn.request_count == cycles:
                    # The cycle never began (the request was refused before a byte was
                    # written), so no on_release came and nothing was sent.
                    self._release(conn, sent=False)
                if not (
                    isinstance(exc, KeepaliveError)
                    and attempt < self.retries
                    and cycles > 0  # the connection had carried an earlier request
                    and not conn.response_started
                    and peer_closed(exc)
                    and _is_idempotent(method, headers)
                    and replay is not None
                    and replay()
                ):
                    raise
                attempt += 1
                force_new = True
                with self._lock:
                    # The retry counts as the same request; it was not served by that reuse.
                    self._retries += 1
                    self._requests -= 1
                    self._reused -= 1
                logger.debug("retrying %s %s on a new connection after %s", method, url, exc)
                continue
            if cycles and logger.isEnabledFor(logging.DEBUG):
                logger.debug("reused %r for %s %s", conn, method, url)
            return response

    def stats(self) -> dict[str, int]:
        """Counts since creation (opened, closed, reused, requests, retries), and idle and
        active connections now."""
        with self._lock:
            self._reclaim_abandoned()
            return {
                "opened": self._opened,
                "closed": self._closed_count,
                "reused": self._reused,
                "requests": self._requests,
                "retries": self._retries,
                "idle": self._idle_total,
                "active": len(self._active),
            }

    def close(self) -> None:
        """Close every connection; active ones are closed as well (their reads will fail)."""
        with self._lock:
            self._closed = True
            for key, stack in self._idle.items():
                for conn in stack:
                    self._retire(conn, key, "the pool was closed")
            self._idle.clear()
            self._idle_total = 0
            active = list(self._active)
            for cond in self._conds.values():
                cond.notify_all()
        for conn in active:
            conn.close()  # its reader gets ResponseClosed; its release then frees the slot

    def __enter__(self) -> ConnectionPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"<ConnectionPool [idle: {self._idle_total}, active: {len(self._active)}, "
            f"opened: {self._opened}, reused: {self._reused}]>"
        )

    # -- checkout and release ---------------------------------------------------------------------

    def _acquire(
        self,
        key: PoolKey,
        pool_timeout: float | None,
        force_new: bool,
        verify: tls.VerifyLike | None,
        cert: tls.CertLike,
    ) -> HTTPConnection:
        deadline: float | None = None
        with self._lock:
            if self._closed:
                raise PoolClosed("the connection pool is closed")
            while True:
                now = self._clock()
                if now >= self._next_expiry:
                    self._sweep_expired(now)
                stack = self._idle.get(key)
                while stack and not force_new:
                    conn = stack.pop()
                    self._idle_total -= 1
                    if conn.expires_at <= now:
                        self._retire(conn, key, "expired")
                    elif conn.has_peer_closed():
                        self._retire(conn, key, "closed by the server while idle")
                    else:
                        self._active[conn] = key
                        self._requests += 1
                        self._reused += 1
                        break
                else:
                    conn = None
                if conn is not None:
                    break
                if self._reserve_slot(key):
                    self._requests += 1
                    conn = None
                    break
                # Limits reached: wait for a release or a freed slot (rule 7).
                # Waiting is measured in real time; the injectable clock rules expiry only.
                real_now = time.monotonic()
                if deadline is None:
                    deadline = real_now + (pool_timeout if pool_timeout is not None else 1e18)
                remaining = deadline - real_now
                if remaining <= 0:
                    self._wake(key)  # a wake-up meant for us may have come: pass it on
                    raise PoolTimeout(
                        f"no connection to {key[0]}://{key[1]}:{key[2]} became free within "
                        f"{pool_timeout} s ({self._open_per_key.get(key, 0)} open for this "
                        f"host, {self._open_total} in all)"
                    )
                cond = self._conds.get(key)
                if cond is None:
                    cond = self._conds[key] = threading.Condition(self._lock)
                self._waiters += 1
                self._waiting[key] = self._waiting.get(key, 0) + 1
                try:
                    cond.wait(None if pool_timeout is None else remaining)
                finally:
                    self._waiters -= 1
                    self._waiting[key] -= 1
                if self._closed:
                    raise PoolClosed("the connection pool was closed while waiting")
        if conn is None:
            conn = self._new_connection(key, verify, cert)
        return conn

    def _reserve_slot(self, key: PoolKey) -> bool:
        """Count a new connection in; close an idle one of another key if the total is full."""
        per_key = self._open_per_key.get(key, 0)
        if per_key >= self.max_connections_per_host:
            self._reclaim_abandoned_if_any()
            per_key = self._open_per_key.get(key, 0)
            if per_key >= self.max_connections_per_host:
                return False
        if self._open_total >= self.max_connections and not self._evict_oldest_idle():
            self._reclaim_abandoned_if_any()
            if self._open_total >= self.max_connections:
                return False
        self._open_per_key[key] = self._open_per_key.get(key, 0) + 1
        self._open_total += 1
        return True

    def _new_connection(
        self, key: PoolKey, verify: tls.VerifyLike | None, cert: tls.CertLike
    ) -> HTTPConnection:
        scheme, host, port, _, proxy = key
        try:
            ctx = None
            if scheme == "https":
                ctx = tls.context_for(
                    self.verify if verify is None else verify,
                    self.cert if cert is None else cert,
                )
            conn = HTTPConnection(
                host,
                port,
                scheme,
                ssl_context=ctx,
                timeout=self.timeout,
                proxy=proxy,
                receive_buffer_size=self.receive_buffer_size,
            )
        except BaseException:
            with self._lock:
                self._unreserve(key)
            raise
        conn.on_open = self._on_open
        conn.on_release = self._release
        with self._lock:
            self._active[conn] = key
        return conn

    def _on_open(self, conn: HTTPConnection) -> None:
        with self._lock:
            self._opened += 1
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("opened %r", conn)

    def _release(self, conn: HTTPConnection, *, sent: bool = True) -> None:
        """``on_release``: the cycle ended; keep the connection idle or retire it.

        ``sent=False``: the request was refused before it reached the wire, so it is not
        counted as a request at all.
        """
        with self._lock:
            key = self._active.pop(conn, None)
            if key is None:
                return  # already reclaimed, or the pool was closed or forked meanwhile
            if not sent:
                self._requests -= 1
                if conn.request_count:
                    self._reused -= 1
            now = self._clock()
            if conn.is_idle and not self._closed:
                expiry = self.keepalive_expiry
                hint = conn.idle_timeout_hint
                if hint is not None:
                    # Retire a second before the server's deadline (SPEC.md rule 5), so our
                    # request never meets its close on the wire.
                    expiry = hint - 1.0 if expiry is None else min(expiry, hint - 1.0)
                conn.expires_at = now + expiry if expiry is not None else float("inf")
                if conn.expires_at > now:
                    self._idle.setdefault(key, []).append(conn)
                    self._idle_total += 1
                    if conn.expires_at < self._next_expiry:
                        self._next_expiry = conn.expires_at
                else:
                    self._retire(conn, key, "keepalive_expiry is 0")
            else:
                self._retire(conn, key, conn.close_reason or "not reusable")
            if now >= self._next_expiry:
                self._sweep_expired(now)
            if self._waiters:
                self._wake(key)

    # -- helpers; all called with the lock held ------------------------------------------------

    def _retire(self, conn: HTTPConnection, key: PoolKey, why: str) -> None:
        # Close before the slot is freed, so the limits hold for sockets too. Closing a
        # socket does no I/O that can block (no shutdown, no TLS close_notify).
        conn.close()
        self._forget(conn, key)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("retired %r (%s)", conn, why)

    def _forget(self, conn: HTTPConnection, key: PoolKey) -> None:
        """Stop counting ``conn``: it is closed or about to be."""
        self._unreserve(key)
        if conn.opened:
            self._closed_count += 1

    def _unreserve(self, key: PoolKey) -> None:
        left = self._open_per_key[key] - 1
        if left:
            self._open_per_key[key] = left
        else:
            del self._open_per_key[key]
        self._open_total -= 1
        if self._waiters:
            self._wake(key)

    def _wake(self, key: PoolKey) -> None:
        """Wake one waiter: of ``key`` if any (it can use what ``key`` freed), else of any
        key (a freed slot or a now-evictable idle connection lifts the total limit)."""
        if self._waiting.get(key):
            self._conds[key].notify()
            return
        for other, count in self._waiting.items():
            if count:
                self._conds[other].notify()
                return

    def _sweep_expired(self, now: float) -> None:
        """Close idle connections of every origin past their deadline (SPEC.md rule 4)."""
        soonest = float("inf")
        for key, stack in list(self._idle.items()):
            kept = []
            for conn in stack:
                if conn.expires_at <= now:
                    self._idle_total -= 1
                    self._retire(conn, key, "idle past its expiry")
                else:
                    kept.append(conn)
                    soonest = min(soonest, conn.expires_at)
            if kept:
                self._idle[key] = kept
            else:
                del self._idle[key]
        self._next_expiry = soonest

    def _evict_oldest_idle(self) -> bool:
        """Make room under ``max_connections`` by closing the idle connection due soonest."""
        victim: tuple[float, PoolKey] | None = None
        for key, stack in self._idle.items():
            if stack and (victim is None or stack[0].expires_at < victim[0]):
                victim = (stack[0].expires_at, key)
        if victim is None:
            return False
        key = victim[1]
        stack = self._idle[key]
        conn = stack.pop(0)
        if not stack:
            del self._idle[key]
        self._idle_total -= 1
        self._retire(conn, key, "room needed for another host")
        return True

    def _reclaim_abandoned_if_any(self) -> None:
        if HTTPConnection.abandoned != self._seen_abandoned:
            self._seen_abandoned = HTTPConnection.abandoned
            self._reclaim_abandoned()

    def _reclaim_abandoned(self) -> None:
        """Free the slots of connections whose response was dropped unread (closed by GC)."""
        for conn, key in list(self._active.items()):
            if conn.is_closed:
                del self._active[conn]
                self._forget(conn, key)

    def _forget_parent_connections(self) -> None:
        """In a forked child: drop (and close our copies of) every inherited socket."""
        self._lock = threading.Lock()
        self._conds = {}
        self._waiting = {}
        inherited = [c for stack in self._idle.values() for c in stack] + list(self._active)
        self._idle = {}
        self._active = {}
        self._open_per_key = {}
        self._open_total = self._idle_total = self._waiters = 0
        self._closed_count += sum(1 for conn in inherited if conn.opened)
        self._next_expiry = float("inf")
        for conn in inherited:
            conn.on_release = None
            # close() on our copy of the descriptor sends nothing: the parent's socket and
            # its TLS state stay intact (no shutdown(), no close_notify).
            conn.close()


def _pairs(headers: HeaderPairs) -> list[Any]:
    if headers is None:
        return []
    if hasattr(headers, "multi_items"):
        return list(headers.multi_items())
    if hasattr(headers, "items"):
        return list(headers.items())
    return list(headers)


def _is_idempotent(method: str, headers: HeaderPairs) -> bool:
    if method.upper() in IDEMPOTENT_METHODS:
        return True
    return any(str(name).lower() == "idempotency-key" for name, _ in _pairs(headers))
