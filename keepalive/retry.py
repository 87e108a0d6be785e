"""``Retry``: the policy that decides whether a failed attempt is tried again, and after how long.

Theory of operation
-------------------
A ``Retry`` is an immutable value, like urllib3's: it holds the remaining budgets and the
history of the attempts that failed, and ``increment`` returns a *new* ``Retry`` (or raises
``RetryError`` when a budget is spent). One object can therefore be a pool's default and be
shared by every thread; each request starts from it and carries its own successors. It is
policy only: it opens no socket, never sleeps and reads no clock (``sleep_for`` takes
``now``), so the loop that owns the connection decides and tests are deterministic.

Budgets count *retries*, not attempts: ``total=2`` allows three attempts. Every failure
spends ``total`` and one kind's budget:

* ``connect``: the request never reached the server (connect or TLS-connect failure, or
  the server closed before a byte of the request was written). Such an attempt had no
  effect, so it is retried for *any* method, as urllib3 does;
* ``read``: the request may have reached the server (read or write timeout, the server
  broke HTTP/1.1 or closed mid-exchange). Retried only when the method is allowed;
* ``status``: a response whose status is in ``status_forcelist`` (or 413/429/503 with a
  ``Retry-After``), for an allowed method.

``None`` leaves that counter unlimited. By default only the idempotent methods of RFC 9110
section 9.2.2 are allowed; a request with an ``Idempotency-Key`` header counts as allowed,
since its sender declared it safe to repeat. Errors that would repeat identically (a
certificate or TLS handshake failure, a refused proxy tunnel, a pool timeout, a caller's
mistake) are never retried.

The keep-alive race (a *reused* connection found dead, docs/design.md rule 6) is not this
policy's business: the pool re-sends that request on a new connection itself, without
spending any of these budgets. The loop that owns the attempts runs::

    policy = Retry.coerce(retries)          # None: an int or None, rule 6 only
    while True:
        try:
            response = send_once()          # the keep-alive race is handled in here
        except KeepaliveError as exc:
            if policy is None or not body.rewind():
                raise
            nxt = policy.retry_error(method, exc, request_headers=headers)
            if nxt is None:
                raise                       # not retryable; RetryError once a budget is spent
            policy = nxt
            time.sleep(policy.sleep_for(None, time.time()))
            continue
        if policy is None:
            return response
        nxt = policy.retry_response(method, response.status_code, response.headers,
                                    request_headers=headers, response=response)
        if nxt is None or not body.rewind():
            return response                 # with raise_on_status, RetryError came instead
        delay = nxt.sleep_for(response.headers, time.time())
        response.close()                    # drain: the next attempt may reuse the connection
        policy = nxt
        time.sleep(delay)
"""

from __future__ import annotations

import email.utils
import math
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import timezone
from typing import Any, ClassVar, Literal, NamedTuple, Union

from ._request import IDEMPOTENT_METHODS
from .exceptions import (
    ConnectError,
    ConnectTimeout,
    InvalidArgument,
    InvalidArgumentType,
    PoolTimeout,
    ProxyError,
    RetryError,
    ServerDisconnected,
    TLSError,
    TransportError,
)

__all__ = [
    "DEFAULT_BACKOFF_MAX",
    "IDEMPOTENT_METHODS",
    "RETRY_AFTER_STATUS_CODES",
    "Retry",
    "RetryRecord",
]

# RFC 9110 section 9.2.2: repeating one of these has the effect of sending it once.
# Statuses whose Retry-After the server means as "come back then" (RFC 9110 sections
# 10.2.3, 15.5.14 and 15.6.4; RFC 6585 section 4), urllib3's RETRY_AFTER_STATUS_CODES.
RETRY_AFTER_STATUS_CODES = frozenset({413, 429, 503})
DEFAULT_BACKOFF_MAX = 120.0

HeaderSource = Union[
    Iterable[tuple[Union[str, bytes], Union[str, bytes]]], Mapping[str, str], None
]
ErrorKind = Literal["connect", "read"]


class RetryRecord(NamedTuple):
    """One failed attempt: the method, why it failed (the error, or ``"status 503"``) and
    the response status (None after an error)."""

    method: str
    reason: str | BaseException
    status: int | None


@dataclass(frozen=True, slots=True, init=False, repr=False)
class Retry:
    """How often, for which failures and after how long a request is sent again.

    ``Retry(3)`` allows three retries of any kind; see the module docstring for what each
    budget counts. ``backoff_factor`` spaces retries: the first comes at once, the n-th
    after ``backoff_factor * 2 ** (n - 1)`` seconds, capped at ``backoff_max``, plus up to
    ``backoff_jitter`` at random. ``raise_on_status=False`` hands back the last response
    instead of raising ``RetryError`` when the ``status`` budget runs out.
    """

    DEFAULT_ALLOWED_METHODS: ClassVar[frozenset[str]] = IDEMPOTENT_METHODS
    RETRY_AFTER_STATUS_CODES: ClassVar[frozenset[int]] = RETRY_AFTER_STATUS_CODES

    total: int | None
    connect: int | None
    read: int | None
    status: int | None
    backoff_factor: float
    backoff_max: float
    backoff_jitter: float
    status_forcelist: frozenset[int]
    allowed_methods: frozenset[str] | None
    respect_retry_after_header: bool
    raise_on_status: bool
    history: tuple[RetryRecord, ...]

    def __init__(
        self,
        total: int | None = 10,
        *,
        connect: int | None = None,
        read: int | None = None,
        status: int | None = None,
        backoff_factor: float = 0.0,
        backoff_max: float = DEFAULT_BACKOFF_MAX,
        backoff_jitter: float = 0.0,
        status_forcelist: Iterable[int] | None = None,
        allowed_methods: Iterable[str] | None = IDEMPOTENT_METHODS,
        respect_retry_after_header: bool = True,
        raise_on_status: bool = True,
        history: tuple[RetryRecord, ...] = (),
    ) -> None:
        put = object.__setattr__  # the dataclass is frozen; this is its constructor
        put(self, "total", _budget("Retry total", total))
        put(self, "connect", _budget("Retry connect", connect))
        put(self, "read", _budget("Retry read", read))
        put(self, "status", _budget("Retry status", status))
        put(self, "backoff_factor", _seconds("backoff_factor", backoff_factor))
        put(self, "backoff_max", _seconds("backoff_max", backoff_max))
        put(self, "backoff_jitter", _seconds("backoff_jitter", backoff_jitter))
        put(self, "status_forcelist", _statuses(status_forcelist))
        put(self, "allowed_methods", _methods(allowed_methods))
        respect = _flag("respect_retry_after_header", respect_retry_after_header)
        put(self, "respect_retry_after_header", respect)
        put(self, "raise_on_status", _flag("raise_on_status", raise_on_status))
        if not isinstance(history, tuple):
            kind = type(history).__name__
            raise InvalidArgumentType(f"Retry history must be a tuple of RetryRecord, not {kind}")
        put(self, "history", history)

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def from_int(cls, retries: int) -> Retry:
        """urllib3's ``Retry.from_int``: ``retries`` retries of any kind, defaults otherwise.

        This is what ``retries=Retry.from_int(3)`` means; a bare ``retries=3`` given to a
        pool or session keeps the meaning of rule 6 instead (see ``coerce``).
        """
        return cls(total=_budget("retries", retries))

    @classmethod
    def coerce(cls, value: Retry | int | None) -> Retry | None:
        """The policy a ``retries=`` argument asks for: the ``Retry`` itself, or None when
        it is an int or None.

        An int keeps its meaning of docs/design.md rule 6 (how often a request that met a
        dead *reused* connection is re-sent); it asks for no policy on top, so the pool's
        loop does no policy work at all. The int is still validated here.
        """
        if isinstance(value, Retry) or value is None:
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidArgumentType(f"retries={value!r} must be a Retry, an int >= 0 or None")
        if value < 0:
            raise InvalidArgument(f"retries={value!r} must be >= 0")
        return None

    # -- decisions ---------------------------------------------------------------------------

    def is_method_retryable(self, method: str, headers: HeaderSource = None) -> bool:
        """Whether a request with this method and these request headers may be sent again
        after it reached the server: an allowed method, or an ``Idempotency-Key`` header."""
        if self.allowed_methods is None or method.upper() in self.allowed_methods:
            return True
        return headers is not None and _has_idempotency_key(headers)

    @staticmethod
    def classify_error(error: BaseException) -> ErrorKind | None:
        """``"connect"`` when the request never reached the server, ``"read"`` when it may
        have, None when retrying cannot help (the same error would come back)."""
        if isinstance(error, ServerDisconnected):
            # Closed before a byte of ours was written: as harmless as a refused connect.
            return "read" if error.request_sent else "connect"
        if isinstance(error, TLSError | PoolTimeout):
            return None
        if isinstance(error, ConnectError | ConnectTimeout):
            return "connect"
        if isinstance(error, ProxyError):
            # A tunnel that broke (chained transport error) may work next time; a proxy
            # that answered CONNECT with a refusal will refuse again.
            return "connect" if error.__cause__ is not None else None
        if isinstance(error, TransportError):
            return "read"
        return None

    def is_retry(
        self,
        method: str,
        status: int,
        has_retry_after: bool = False,
        *,
        request_headers: HeaderSource = None,
    ) -> bool:
        """Whether a response with this status calls for another attempt.

        Yes for an allowed method when the status is in ``status_forcelist``, or is 413,
        429 or 503 with a ``Retry-After`` that we respect. The latter is implicit (the
        caller did not list the status), so it applies only while a retry is left: a spent
        budget then hands the response back rather than raising.
        """
        if not self.is_method_retryable(method, request_headers):
            return False
        if status in self.status_forcelist:
            return True
        return (
            has_retry_after
            and self.respect_retry_after_header
            and status in RETRY_AFTER_STATUS_CODES
            and self.total != 0
            and self.status != 0
        )

    def increment(
        self,
        method: str,
        *,
        error: BaseException | None = None,
        response_status: int | None = None,
        response: Any = None,
    ) -> Retry:
        """Record one failed attempt (give ``error`` or ``response_status``) and return the
        policy for the next one; raise ``RetryError`` when that spends a budget below zero.

        It only counts: whether the failure may be retried at all is ``retry_error`` /
        ``is_retry``'s question. ``response`` (the last response, when there is one) is
        handed to the ``RetryError``. An error that is not classified counts as ``read``.
        When a retry is granted the error's traceback is dropped: do not re-raise it then.
        """
        if (error is None) == (response_status is None):
            raise InvalidArgument("Retry.increment() takes one of error= or response_status=")
        left = {"total": self.total, "connect": self.connect, "read": self.read}
        left["status"] = self.status
        reason: str | BaseException
        if error is not None:
            reason = error
            kind = "connect" if self.classify_error(error) == "connect" else "read"
        else:
            reason, kind = f"status {response_status}", "status"
        for name in ("total", kind):
            budget = left[name]
            left[name] = None if budget is None else budget - 1
        spent = next((name for name, n in left.items() if n is not None and n < 0), None)
        if spent is not None:
            attempts = len(self.history) + 1
            raise RetryError(
                f"{method} failed after {attempts} attempt{'s' if attempts > 1 else ''}, "
                f"no {spent} retry left: {reason}",
                response=response,
                reason=reason,
            ) from error
        if error is not None:
            # The error is swallowed for a retry. Its traceback holds the loop's frame, which
            # holds the new Retry, whose history holds the error: drop the traceback so the
            # failed attempt's locals are freed now, not by the cycle collector (as urllib3).
            error.with_traceback(None)
        return Retry(
            left["total"],
            connect=left["connect"],
            read=left["read"],
            status=left["status"],
            backoff_factor=self.backoff_factor,
            backoff_max=self.backoff_max,
            backoff_jitter=self.backoff_jitter,
            status_forcelist=self.status_forcelist,
            allowed_methods=self.allowed_methods,
            respect_retry_after_header=self.respect_retry_after_header,
            raise_on_status=self.raise_on_status,
            history=(*self.history, RetryRecord(method, reason, response_status)),
        )

    def retry_error(
        self, method: str, error: BaseException, *, request_headers: HeaderSource = None
    ) -> Retry | None:
        """After an attempt failed with ``error``: the policy for the next attempt, or None
        when this error must not be retried (re-raise it). Raises ``RetryError`` (chained
        from ``error``) when the budget is spent."""
        kind = self.classify_error(error)
        if kind is None:
            return None
        if kind == "read" and not self.is_method_retryable(method, request_headers):
            return None  # it may have reached the server: re-sending could repeat its effect
        return self.increment(method, error=error)

    def retry_response(
        self,
        method: str,
        status: int,
        response_headers: HeaderSource = None,
        *,
        request_headers: HeaderSource = None,
        response: Any = None,
    ) -> Retry | None:
        """After a response arrived: the policy for the next attempt, or None when the
        response goes to the caller (not a retry status, or ``raise_on_status=False`` and
        the budget is spent). Raises ``RetryError`` carrying ``response`` when the budget is
        spent and ``raise_on_status`` is true."""
        if status not in self.status_forcelist and status not in RETRY_AFTER_STATUS_CODES:
            return None  # the common case, decided without looking at a header
        has_retry_after = response_headers is not None and bool(
            _header_values(response_headers, "retry-after")
        )
        if not self.is_retry(method, status, has_retry_after, request_headers=request_headers):
            return None
        try:
            return self.increment(method, response_status=status, response=response)
        except RetryError:
            if self.raise_on_status:
                raise
            return None

    # -- waiting -----------------------------------------------------------------------------

    def get_backoff_time(self, rand: Callable[[], float] | random.Random = random.random) -> float:
        """Seconds to wait before the next attempt by backoff alone.

        As in urllib3 the first retry comes at once (most failures are cured by a second
        try); after the n-th consecutive failure, n >= 2, it is ``backoff_factor * 2 **
        (n - 1)`` capped at ``backoff_max``, plus ``uniform(0, backoff_jitter)`` drawn from
        ``rand``. Unlike urllib3 the jitter is added after the cap, so clients that all reach
        the cap still spread out.
        """
        failures = len(self.history)
        if failures <= 1:
            return 0.0
        try:
            delay = math.ldexp(self.backoff_factor, failures - 1)  # exact factor * 2**(n-1)
        except OverflowError:
            delay = math.inf
        delay = min(delay, self.backoff_max)
        if self.backoff_jitter:
            draw = rand.random() if isinstance(rand, random.Random) else rand()
            if not isinstance(draw, int | float) or not 0.0 <= draw <= 1.0:
                raise InvalidArgument(f"rand() must return a number in [0, 1], not {draw!r}")
            delay += self.backoff_jitter * draw
        return delay

    def retry_after(self, response_headers: HeaderSource, now: float) -> float | None:
        """Seconds the response's ``Retry-After`` asks us to wait (RFC 9110 section
        10.2.3), measured from ``now`` (POSIX seconds) for an HTTP-date, never negative and
        at most ``backoff_max``; None when it is absent or malformed."""
        # All three date forms of RFC 9110 section 5.6.7 parse with the email module.
        values = set(_header_values(response_headers, "retry-after"))
        if len(values) != 1:
            return None  # absent, or a singleton field sent with conflicting values
        value = values.pop().strip(" \t")
        if value.isascii() and value.isdigit():
            seconds = float(value)  # delay-seconds = 1*DIGIT; a huge one becomes inf, capped
        else:
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError, OverflowError, IndexError):
                return None
            if when.tzinfo is None:
                # asctime form or "-0000": HTTP dates are UTC (RFC 9110 section 5.6.7).
                when = when.replace(tzinfo=timezone.utc)
            seconds = when.timestamp() - now
        return max(0.0, min(seconds, self.backoff_max))

    def sleep_for(
        self,
        response_headers: HeaderSource,
        now: float,
        *,
        rand: Callable[[], float] | random.Random = random.random,
    ) -> float:
        """Seconds to wait before the next attempt; call it on the ``Retry`` that
        ``increment`` returned. A respected ``Retry-After`` on a 413, 429 or 503 wins (a
        ``0`` means at once); otherwise, or when it is malformed, the backoff applies."""
        if isinstance(now, bool) or not isinstance(now, int | float):
            raise InvalidArgumentType(f"now must be a number of POSIX seconds, not {now!r}")
        if not math.isfinite(now):
            raise InvalidArgument(f"now must be a finite number of POSIX seconds, not {now!r}")
        if (
            response_headers is not None
            and self.respect_retry_after_header
            and self.history
            and self.history[-1].status in RETRY_AFTER_STATUS_CODES
        ):
            delay = self.retry_after(response_headers, now)
            if delay is not None:
                return delay
        return self.get_backoff_time(rand)

    def __repr__(self) -> str:
        return (
            f"Retry(total={self.total}, connect={self.connect}, read={self.read}, "
            f"status={self.status}, retried={len(self.history)})"
        )


# -- argument checks and header helpers ------------------------------------------------------


def _budget(name: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgumentType(f"{name}={value!r} must be an int >= 0 or None")
    if value < 0:
        raise InvalidArgument(f"{name}={value!r} must be >= 0 or None")
    return value


def _seconds(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgumentType(f"Retry {name}={value!r} must be a number of seconds")
    try:
        seconds = float(value)
    except OverflowError:
        seconds = math.inf
    if not math.isfinite(seconds) or seconds < 0:
        raise InvalidArgument(f"Retry {name}={value!r} must be a finite number >= 0")
    return seconds


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidArgumentType(f"Retry {name}={value!r} must be True or False")
    return value


def _statuses(value: object) -> frozenset[int]:
    if value is None:
        return frozenset()
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise InvalidArgumentType(
            f"Retry status_forcelist={value!r} must be a collection of status codes"
        )
    codes = value if isinstance(value, frozenset) else frozenset(value)
    for code in codes:
        if isinstance(code, bool) or not isinstance(code, int):
            raise InvalidArgumentType(f"Retry status_forcelist has {code!r}, not an int status")
        if not 100 <= code <= 599:
            raise InvalidArgument(f"Retry status_forcelist has {code!r}, not a status 100-599")
    return codes


def _methods(value: object) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise InvalidArgumentType(
            f"Retry allowed_methods={value!r} must be a collection of method names or None"
        )
    methods = []
    for method in value:
        if not isinstance(method, str) or not method:
            raise InvalidArgumentType(f"Retry allowed_methods has {method!r}, not a method name")
        methods.append(method.upper())
    normal = frozenset(methods)
    return value if normal == value and isinstance(value, frozenset) else normal


def _pairs(headers: HeaderSource) -> Iterable[tuple[str | bytes, str | bytes]]:
    if headers is None:
        return ()
    multi_items = getattr(headers, "multi_items", None)
    if multi_items is not None:  # keepalive.Headers: every value of a repeated field
        items: Iterable[tuple[str | bytes, str | bytes]] = multi_items()
        return items
    if isinstance(headers, Mapping):
        return headers.items()
    return headers


def _header_values(headers: HeaderSource, name: str) -> list[str]:
    """Every value of the field ``name`` (lower case); names compare case-insensitively
    (RFC 9110 section 5.1) and bytes are read as Latin-1."""
    found = []
    for key, value in _pairs(headers):
        text = key.decode("latin-1") if isinstance(key, bytes) else key
        if text.lower() == name:
            found.append(value.decode("latin-1") if isinstance(value, bytes) else value)
    return found


def _has_idempotency_key(headers: HeaderSource) -> bool:
    return bool(_header_values(headers, "idempotency-key"))
