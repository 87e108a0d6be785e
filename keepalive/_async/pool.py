"""``ConnectionPool``: idle connections by origin and TLS settings, limits, expiry, safe retry.

Theory of operation
-------------------
All bookkeeping sits under one lock, and only bookkeeping: DNS, connecting, TLS and every
byte of I/O happen outside it. A connection is in exactly one of three places:

* ``_idle[key]``: a LIFO stack per pool key of ``(connection, expires_at)``, so the most
  recently used connection goes out first (docs/design.md, reuse rule 3) and the others
  age out; the pool alone owns these deadlines;
* ``_active``: handed out, carrying a request; it maps the connection to its key;
* nowhere: closed, and no longer counted.

``_open_per_key`` and ``_open_total`` count idle plus active connections, and a slot is
reserved under the lock *before* a new connection is built, so the limits (rule 7) hold
even while connects are in flight. The pool is each connection's owner, given at
construction: every cycle a connection starts ends in exactly one ``cycle_ended`` report (a
``CycleEnd`` record), which puts the connection back on its stack or retires it and frees
its slot, then wakes waiters. A response dropped unread is closed by its finaliser, which
can take no lock: it queues the connection on ``_dropped`` and the next touch of the pool
frees the slot. The pool key is
``(scheme, host, port, TLS identity, proxy)``, so a ``verify=False`` connection can never
serve a verifying request (rule 2; requests' CVE-2024-35195 was a pool key without TLS).

On checkout, idle connections past their deadline (``keepalive_expiry`` from the release,
or the server's ``Keep-Alive: timeout`` less a second from the response's arrival) are
closed; the candidate is then taken out under the lock and polled without blocking outside
it; one the peer closed or that has stray bytes waiting is discarded (rule 4). When
a request still meets a dead reused connection (the close raced our send), it is re-sent
once on a new connection if that is safe (rule 6).

A child process after ``os.fork()`` finds its pools empty, with a fresh lock (rule 9).
"""

from __future__ import annotations

import collections
import logging
import os
import time
import weakref
from collections.abc import Callable
from typing import Any

from .. import tls
from .._request import (
    IDEMPOTENT_METHODS,
    BodyLike,
    HeaderPairs,
    RequestBody,
    header_pairs,
    is_idempotent,
    make_body,
)
from .._state import CycleEnd, Proxy, Trace
from .._synchronization import AsyncLock, AsyncWaiter, async_sleep
from ..exceptions import (
    InvalidArgument,
    InvalidArgumentType,
    KeepaliveError,
    PoolClosed,
    PoolTimeout,
    RetryError,
    ServerDisconnected,
)
from ..models import DEFAULT_TIMEOUT, Headers, Timeout, TimeoutLike, check_seconds
from ..retry import Retry
from ..urls import split_url
from .connection import AsyncHTTPConnection, AsyncRawResponse

__all__ = ["IDEMPOTENT_METHODS", "AsyncConnectionPool", "PoolKey"]

logger = logging.getLogger("keepalive")

MIN_LEARNED_IDLE = 1.0  # seconds; shorter idle closes are not taken for an idle timeout

PoolKey = tuple[str, str, int, Any, Any]  # (scheme, host, port, TLS identity, proxy)

_live_pools: weakref.WeakSet[AsyncConnectionPool] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for pool in list(_live_pools):
        pool._forget_parent_connections()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class AsyncConnectionPool:
    """Pooled HTTP/1.1 connections, safe to share between threads (between the tasks of
    one event loop, for AsyncConnectionPool).

    ``request()`` returns a streamed ``AsyncRawResponse``; its connection comes back to the
    pool when the body has been read to the end, or when the response is closed.
    """

    def __init__(
        self,
        max_connections: int = 100,
        max_connections_per_host: int = 10,
        keepalive_expiry: float | None = 30.0,
        retries: int | Retry = 1,
        timeout: TimeoutLike = DEFAULT_TIMEOUT,
        verify: tls.VerifyLike = True,
        cert: tls.CertLike = None,
        *,
        receive_buffer_size: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        _check_count("max_connections", max_connections, 1)
        _check_count("max_connections_per_host", max_connections_per_host, 1)
        # retries: an int is how often the keep-alive race is retried (reuse rule 6); a
        # Retry is the caller's policy on top, while the race retry stays on and does not
        # spend the caller's budget.
        self.retry_policy: Retry | None = None
        if isinstance(retries, Retry):
            self.retry_policy, retries = retries, 1
        _check_count("retries", retries, 0)
        if keepalive_expiry is not None:
            keepalive_expiry = check_seconds("keepalive_expiry", keepalive_expiry)
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
        self._lock = AsyncLock()
        # Waiters queue per key, so a release wakes one waiter that can use it instead of
        # every one of them (no thundering herd).
        self._waitq: dict[PoolKey, collections.deque[AsyncWaiter]] = {}
        # Idle stacks hold (connection, expires_at, released_at) on the pool's clock.
        self._idle: dict[PoolKey, list[tuple[AsyncHTTPConnection, float, float]]] = {}
        self._active: dict[AsyncHTTPConnection, PoolKey] = {}
        # Connections whose response was dropped unread; appended by finalisers without
        # a lock (deque.append is atomic), emptied under the lock.
        self._dropped: collections.deque[AsyncHTTPConnection] = collections.deque()
        self._open_per_key: dict[PoolKey, int] = {}
        self._open_total = 0
        self._idle_total = 0
        self._next_expiry = float("inf")  # no idle connection expires before this
        # What the pool has learned of each origin's idle timeout (docs/design.md, rule 5):
        # the longest idle time a reused connection survived, and the shortest after which
        # one was found closed (above the former). See _learn_dead.
        self._survived: dict[PoolKey, float] = {}
        self._dead_after: dict[PoolKey, float] = {}
        self._waiters = 0
        self._closed = False
        self._opened = self._closed_count = self._reused = self._requests = self._retries = 0
        _live_pools.add(self)

    # -- public ---------------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        url: str,
        headers: HeaderPairs | Headers = None,
        body: BodyLike | RequestBody = None,
        *,
        timeout: TimeoutLike | None = None,
        verify: tls.VerifyLike | None = None,
        cert: tls.CertLike = None,
        proxy: Proxy | None = None,
        trace: Trace | None = None,
    ) -> AsyncRawResponse:
        """Send a request on a pooled connection; the response body streams from the socket.

        Per-request ``verify``/``cert``/``proxy`` join the pool key, so connections made
        under other settings are never used for it. ``trace`` is called with each event
        of the exchange (docs/design.md, tracing).
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
        pairs = header_pairs(headers)
        if proxy is not None and scheme == "http" and not proxy.is_socks:
            # Plain HTTP through an HTTP(S) proxy: absolute-form target (RFC 9112 section
            # 3.2.2). A SOCKS proxy is a byte tunnel: the origin gets the origin form.
            target = url
            pairs.extend(proxy.headers)
        # Made once, before the first attempt reads it: a file's start offset is kept.
        request_body = body if type(body) is RequestBody else make_body(body)
        policy = self.retry_policy
        if policy is None:
            return await self._send(
                method, url, target, key, pairs, request_body, limits, verify, cert, trace
            )
        while True:
            try:
                response = await self._send(
                    method, url, target, key, pairs, request_body, limits, verify, cert, trace
                )
            except KeepaliveError as exc:
                if not request_body.rewind():
                    raise
                following = policy.retry_error(method, exc, request_headers=pairs)
                if following is None:
                    raise
                policy = following
                await self._pause(policy, None, method, url, str(exc), trace)
                continue
            try:
                following = policy.retry_response(
                    method,
                    response.status_code,
                    response.headers if response.status_code >= 400 else None,
                    request_headers=pairs,
                    response=response,
                )
            except RetryError:
                # The error carries the last response: read a small body for it, and in
                # any case free the connection before the error reaches the caller.
                length = response.headers.get("content-length")
                if length is not None and length.isdigit() and int(length) <= 64 * 1024:
                    await response.aread()
                else:
                    await response.aclose()
                raise
            if following is None or not request_body.rewind():
                return response
            await response.aclose()  # drains a small body: the connection is reused
            policy = following
            await self._pause(
                policy, response.headers, method, url, f"status {response.status_code}", trace
            )

    async def _pause(
        self,
        policy: Retry,
        headers: Headers | None,
        method: str,
        url: str,
        reason: str,
        trace: Trace | None,
    ) -> None:
        """Wait as the policy says before the next attempt; log and trace why."""
        delay = policy.sleep_for(headers, time.time())
        with self._lock:
            self._retries += 1
        logger.debug("retrying %s %s in %.3f s: %s", method, url, delay, reason)
        if trace is not None:
            trace("retry", {"reason": reason, "delay": delay, "attempt": len(policy.history)})
        if delay > 0:
            await async_sleep(delay)

    async def _send(
        self,
        method: str,
        url: str,
        target: str,
        key: PoolKey,
        pairs: list[Any],
        request_body: RequestBody,
        limits: Timeout,
        verify: tls.VerifyLike | None,
        cert: tls.CertLike,
        trace: Trace | None,
    ) -> AsyncRawResponse:
        """One request, with the keep-alive race retried on a new connection (rule 6)."""
        force_new = False
        attempt = 0
        while True:
            if trace is None:
                conn, idle = await self._acquire(key, limits.pool, force_new, verify, cert)
            else:
                started = time.perf_counter()
                conn, idle = await self._acquire(key, limits.pool, force_new, verify, cert)
                trace(
                    "connection.acquired",
                    {
                        "reused": conn.request_count > 0,
                        "connection_id": conn.id,
                        "waited": time.perf_counter() - started,
                    },
                )
            try:
                response = await conn.request(
                    method, target, pairs, request_body, timeout=limits, trace=trace
                )
            except ServerDisconnected as exc:
                if exc.reused:
                    self._learn_dead(key, idle)
                # The keep-alive race (reuse rule 6): the server closed a reused connection
                # as we sent on it. Safe to send again only when idempotent and replayable.
                if not (
                    exc.reused
                    and attempt < self.retries
                    and is_idempotent(method, pairs)
                    and request_body.rewind()
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
                if trace is not None:
                    trace("retry", {"reason": str(exc), "delay": 0.0, "attempt": attempt})
                continue
            if response.reused:
                # Lock-free: a lost update under a race only delays what is learned.
                if idle > self._survived.get(key, 0.0):
                    self._survived[key] = idle
                if logger.isEnabledFor(logging.DEBUG):
                    logger.debug("reused %r for %s %s", conn, method, url)
            return response

    async def handle_async_request(self, request: Any) -> AsyncRawResponse:
        """The transport interface (``Session.mount``): send ``request`` (anything with
        ``method``, ``url``, ``headers`` and ``body``) with the pool's own settings."""
        return await self.request(request.method, request.url, request.headers, request.body)

    def stats(self) -> dict[str, int]:
        """Counts since creation (opened, closed, reused, requests, retries), and idle and
        active connections now."""
        with self._lock:
            if self._dropped:
                self._reclaim_dropped()
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
        """Close every connection; active ones too, waking threads blocked reading them."""
        with self._lock:
            self._closed = True
            for key, stack in self._idle.items():
                for conn, _, _ in stack:
                    self._retire(conn, key, "the pool was closed")
            self._idle.clear()
            self._idle_total = 0
            active = list(self._active.items())
            self._active.clear()
            for conn, key in active:
                self._forget(conn, key)  # its later cycle_ended report is ignored
            for queue in self._waitq.values():
                while queue:
                    queue.popleft().set()
        for conn, _ in active:
            conn.abort()  # wakes a thread blocked reading it; its reader gets an error

    # unasync: async-only
    async def aclose(self) -> None:
        """Close every connection (``close()`` is the same, without ``await``)."""
        self.close()

    # unasync: end
    async def __aenter__(self) -> AsyncConnectionPool:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} [idle: {self._idle_total}, active: {len(self._active)}, "
            f"opened: {self._opened}, reused: {self._reused}]>"
        )

    # -- what connections report (ConnectionOwner) ----------------------------------------------

    def connection_opened(self, conn: AsyncHTTPConnection) -> None:
        """Owner interface (docs/design.md): the socket and TLS came up; counted as opened."""
        with self._lock:
            self._opened += 1
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("opened %r", conn)

    def cycle_ended(self, conn: AsyncHTTPConnection, end: CycleEnd) -> None:
        """A cycle ended: keep the connection idle or retire it, then wake a waiter."""
        kept = self._end_cycle(conn, end)
        trace = end.trace
        if trace is not None:  # outside the lock: a callback may do anything
            if kept:
                trace("connection.released", {"connection_id": conn.id})
            else:
                reason = end.reason or conn.close_reason or "not reusable"
                trace("connection.retired", {"connection_id": conn.id, "reason": reason})

    def _end_cycle(self, conn: AsyncHTTPConnection, end: CycleEnd) -> bool:
        """``cycle_ended`` under the lock; True when the connection went back idle."""
        kept = False
        with self._lock:
            key = self._active.pop(conn, None)
            if key is None:
                return False  # already reclaimed, or the pool was closed or forked meanwhile
            if end.reason == "the request was refused":
                # Refused before it reached the wire: not a request at all.
                self._requests -= 1
                if end.reused:
                    self._reused -= 1
            now = self._clock()
            if end.kept and conn.is_idle and not self._closed:
                expiry = self.keepalive_expiry
                hint = end.idle_timeout_hint
                if hint is not None:
                    # Retire a second before the server's deadline (reuse rule 5), counted
                    # from the response's arrival, so our request never meets its close.
                    left = hint - 1.0 - end.since_head
                    expiry = left if expiry is None else min(expiry, left)
                learned = self._dead_after.get(key)
                if learned is not None:
                    limit = _learned_limit(learned)
                    expiry = limit if expiry is None else min(expiry, limit)
                expires_at = now + expiry if expiry is not None else float("inf")
                if expires_at > now:
                    kept = True
                    self._idle.setdefault(key, []).append((conn, expires_at, now))
                    self._idle_total += 1
                    if expires_at < self._next_expiry:
                        self._next_expiry = expires_at
                else:
                    self._retire(conn, key, "its idle deadline has passed already")
            else:
                self._retire(conn, key, end.reason or conn.close_reason or "not reusable")
            if now >= self._next_expiry:
                self._sweep_expired(now)
            if self._waiters:
                self._wake(key)
        return kept

    def response_dropped(self, conn: AsyncHTTPConnection) -> None:
        """From a finaliser: remember the connection; its slot is freed on the next touch."""
        self._dropped.append(conn)

    # -- checkout -------------------------------------------------------------------------------

    async def _acquire(
        self,
        key: PoolKey,
        pool_timeout: float | None,
        force_new: bool,
        verify: tls.VerifyLike | None,
        cert: tls.CertLike,
    ) -> tuple[AsyncHTTPConnection, float]:
        """A connection for ``key`` and how long it had been idle (0.0 for a new one)."""
        while True:
            conn, idle = await self._checkout(key, pool_timeout, force_new)
            if conn is None:
                return self._new_connection(key, verify, cert), 0.0
            # The stale probe is a syscall: it runs outside the lock (the connection is
            # counted as active meanwhile, so no one else can take it).
            if not conn.has_peer_closed():
                return conn, idle
            self._learn_dead(key, idle)
            with self._lock:
                self._requests -= 1
                self._reused -= 1
                if self._active.pop(conn, None) is not None:
                    self._retire(conn, key, "closed by the server while idle")

    def _learn_dead(self, key: PoolKey, idle: float) -> None:
        """A connection of ``key`` idle for ``idle`` seconds was found closed by the server.

        Most servers close idle connections after a fixed time without saying so (no
        ``Keep-Alive`` hint), and a request sent just then fails (the race of rule 6). The
        shortest such idle time bounds the server's timeout from above; from then on idle
        connections of this origin are retired safely before it (``_learned_limit``). An
        observation at or below an idle time some reused connection survived contradicts
        a fixed timeout (the server closed for another reason) and is not learned, nor is
        one under ``MIN_LEARNED_IDLE`` (a close that soon is rarely an idle timeout: a
        request limit, a restart).
        """
        if idle < MIN_LEARNED_IDLE or idle <= self._survived.get(key, 0.0):
            return
        with self._lock:
            known = self._dead_after.get(key)
            if known is not None and known <= idle:
                return
            self._dead_after[key] = idle
        logger.debug(
            "learned: %s://%s:%s closes idle connections within %.3f s; retiring them after "
            "%.3f s",
            key[0], key[1], key[2], idle, _learned_limit(idle),
        )  # fmt: skip

    def idle_timeouts(self) -> dict[str, float]:
        """Per origin, the shortest idle time after which the server was seen to close a
        connection (learned, not announced); idle connections are retired before it."""
        with self._lock:
            return {f"{k[0]}://{k[1]}:{k[2]}": v for k, v in self._dead_after.items()}

    async def _checkout(
        self, key: PoolKey, pool_timeout: float | None, force_new: bool
    ) -> tuple[AsyncHTTPConnection | None, float]:
        """Under the lock: an idle connection of ``key`` (now active) and its idle time, or
        None when a slot for a new one was reserved; waits up to ``pool_timeout`` (rule 7)."""
        deadline: float | None = None
        while True:
            with self._lock:
                if self._closed:
                    raise PoolClosed("the connection pool is closed")
                if self._dropped:
                    self._reclaim_dropped()
                now = self._clock()
                if now >= self._next_expiry:
                    self._sweep_expired(now)
                stack = self._idle.get(key)
                while stack:
                    if force_new:
                        # After a keep-alive race, the idle siblings are suspect too and
                        # their slots are better spent on a new connection.
                        conn = stack.pop(0)[0]
                        self._idle_total -= 1
                        self._retire(conn, key, "retired after a sibling met a closed socket")
                        continue
                    conn, expires_at, released_at = stack.pop()
                    self._idle_total -= 1
                    if expires_at <= now:
                        self._retire(conn, key, "expired")
                        continue
                    idle = now - released_at
                    learned = self._dead_after.get(key)
                    if learned is not None and idle >= _learned_limit(learned):
                        self._retire(conn, key, "idle near the server's learned timeout")
                        continue
                    self._active[conn] = key
                    self._requests += 1
                    self._reused += 1
                    return conn, idle
                if self._reserve_slot(key):
                    self._requests += 1
                    return None, 0.0
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
                waiter = AsyncWaiter()
                queue = self._waitq.get(key)
                if queue is None:
                    queue = self._waitq[key] = collections.deque()
                queue.append(waiter)
                self._waiters += 1
            woken = False
            try:
                woken = await waiter.wait(None if pool_timeout is None else remaining)
            finally:
                with self._lock:
                    self._waiters -= 1
                    if waiter in queue:
                        queue.remove(waiter)
                    elif waiter.is_set() and not woken:
                        # Woken, but leaving (cancelled or timed out) without using it: a
                        # waiter frees nothing it did not hold, and loses no wake-up.
                        self._wake(key)

    def _reserve_slot(self, key: PoolKey) -> bool:
        """Count a new connection in; close an idle one of another key if the total is full."""
        if self._open_per_key.get(key, 0) >= self.max_connections_per_host:
            return False
        if self._open_total >= self.max_connections and not self._evict_oldest_idle():
            return False
        self._open_per_key[key] = self._open_per_key.get(key, 0) + 1
        self._open_total += 1
        return True

    def _new_connection(
        self, key: PoolKey, verify: tls.VerifyLike | None, cert: tls.CertLike
    ) -> AsyncHTTPConnection:
        scheme, host, port, _, proxy = key
        try:
            ctx = None
            if scheme == "https":
                ctx = tls.context_for(
                    self.verify if verify is None else verify,
                    self.cert if cert is None else cert,
                )
            conn = AsyncHTTPConnection(
                host,
                port,
                scheme,
                ssl_context=ctx,
                timeout=self.timeout,
                proxy=proxy,
                receive_buffer_size=self.receive_buffer_size,
                owner=self,
            )
        except BaseException:
            with self._lock:
                self._requests -= 1
                self._unreserve(key)
            raise
        with self._lock:
            self._active[conn] = key
        return conn

    # -- helpers; all called with the lock held ------------------------------------------------

    def _retire(self, conn: AsyncHTTPConnection, key: PoolKey, why: str) -> None:
        # Close before the slot is freed, so the limits hold for sockets too. Closing a
        # socket does no I/O that can block (no shutdown, no TLS close_notify).
        conn.close()
        self._forget(conn, key)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("retired %r (%s)", conn, why)

    def _forget(self, conn: AsyncHTTPConnection, key: PoolKey) -> None:
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
        queue = self._waitq.get(key)
        if queue:
            queue.popleft().set()
            return
        for queue in self._waitq.values():
            if queue:
                queue.popleft().set()
                return

    def _sweep_expired(self, now: float) -> None:
        """Close idle connections of every origin past their deadline (reuse rule 4)."""
        soonest = float("inf")
        for key, stack in list(self._idle.items()):
            kept = []
            for entry in stack:
                if entry[1] <= now:
                    self._idle_total -= 1
                    self._retire(entry[0], key, "idle past its expiry")
                else:
                    kept.append(entry)
                    soonest = min(soonest, entry[1])
            if kept:
                self._idle[key] = kept
            else:
                del self._idle[key]
        self._next_expiry = soonest

    def _evict_oldest_idle(self) -> bool:
        """Make room under ``max_connections`` by closing the idle connection due soonest."""
        victim: tuple[float, PoolKey] | None = None
        for key, stack in self._idle.items():
            if stack and (victim is None or stack[0][1] < victim[0]):
                victim = (stack[0][1], key)
        if victim is None:
            return False
        key = victim[1]
        stack = self._idle[key]
        conn = stack.pop(0)[0]
        if not stack:
            del self._idle[key]
        self._idle_total -= 1
        self._retire(conn, key, "room needed for another host")
        return True

    def _reclaim_dropped(self) -> None:
        """Free the slots of connections whose response was dropped unread."""
        dropped = self._dropped
        while dropped:
            conn = dropped.popleft()
            key = self._active.pop(conn, None)
            if key is not None:
                self._forget(conn, key)
                if logger.isEnabledFor(logging.DEBUG):
                    logger.debug("retired %r (its response was dropped unread)", conn)

    def _forget_parent_connections(self) -> None:
        """In a forked child: drop (and close our copies of) every inherited socket."""
        self._lock = AsyncLock()
        self._waitq = {}
        inherited = [e[0] for stack in self._idle.values() for e in stack] + list(self._active)
        self._idle = {}
        self._active = {}
        self._dropped = collections.deque()
        self._open_per_key = {}
        self._open_total = self._idle_total = self._waiters = 0
        self._closed_count += sum(1 for conn in inherited if conn.opened)
        self._next_expiry = float("inf")
        for conn in inherited:
            # close() on our copy of the descriptor sends nothing: the parent's socket and
            # its TLS state stay intact (no shutdown(), no close_notify). The pool no
            # longer knows these connections, so their reports are ignored.
            conn.close()


def _learned_limit(dead_after: float) -> float:
    """How long an idle connection may wait when the server was seen to close one after
    ``dead_after`` seconds: a safety margin below it (a second, or a quarter for long
    timeouts, as for a ``Keep-Alive`` hint), never less than half of it."""
    limit = dead_after - max(1.0, dead_after / 4)
    return limit if limit >= dead_after / 2 else dead_after / 2


def _check_count(name: str, value: object, least: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidArgumentType(f"{name} must be an int, not {type(value).__name__}")
    if value < least:
        raise InvalidArgument(f"{name} must be >= {least}, not {value}")
