"""Value types shared by every layer: ``Headers``, ``Timings`` and the ``Timeout`` settings."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Union

from .exceptions import InvalidArgument, InvalidArgumentType, InvalidHeaderType

__all__ = ["Headers", "HeadersLike", "Timeout", "TimeoutLike", "Timings", "check_seconds"]

HeadersLike = Union["Headers", Mapping[str, str], Iterable[tuple[str, str]]]


def _field(name: str | bytes, value: str | bytes) -> tuple[str, str]:
    """``(name, value)`` as text; anything but ``str``/``bytes`` raises ``InvalidHeaderType``
    naming the header (an ``InvalidArgumentType``, and requests' ``InvalidHeader``), so a
    stray ``int`` fails here, before any socket is opened, and not as an ``AttributeError``
    deep in the writer."""
    if type(name) is str and type(value) is str:  # the common case, checked first
        return name, value
    if not isinstance(name, str | bytes):
        raise InvalidHeaderType(
            f"header name {name!r} must be str or bytes, not {type(name).__name__}"
        )
    # Header bytes on the wire are ISO-8859-1 (RFC 9110 section 5.5); decoding that way
    # never fails and round-trips every byte.
    text = name if isinstance(name, str) else name.decode("latin-1")
    if not isinstance(value, str | bytes):
        raise InvalidHeaderType(
            f"header {text!r}: value {value!r} must be str or bytes, not {type(value).__name__}"
        )
    return text, value if isinstance(value, str) else value.decode("latin-1")


_KEY = itemgetter(0)  # a field's lower-case name in Headers._items
_PAIR = itemgetter(1, 2)  # and its (name as given, value)


class Headers(MutableMapping[str, str]):
    """Case-insensitive, ordered HTTP header fields that keep repeated names.

    ``headers["set-cookie"]`` joins repeated fields with ``", "``; ``get_list`` returns them
    one by one. Iteration yields each distinct name once, in first-seen order and case.
    """

    __slots__ = ("_items",)

    def __init__(self, headers: HeadersLike | None = None) -> None:
        # (lower-case name, name as given, value): lookups never call lower() per field.
        self._items: list[tuple[str, str, str]] = []
        if headers is not None:
            self.update_multi(headers)

    @classmethod
    def _from_wire(cls, items: Iterable[tuple[bytes, bytes, bytes]]) -> Headers:
        """Build from h11's ``(name as sent, lower-case name, value)`` byte triples."""
        h = cls.__new__(cls)
        h._items = [
            (lower.decode("latin-1"), raw.decode("latin-1"), value.decode("latin-1"))
            for raw, lower, value in items
        ]
        return h

    def update_multi(self, headers: HeadersLike) -> None:
        """Append every field of ``headers``, keeping repeats (unlike ``update``)."""
        if isinstance(headers, Headers):
            self._items.extend(headers._items)
            return
        pairs = headers.items() if isinstance(headers, Mapping) else headers
        for name, value in pairs:
            self.add(name, value)

    def add(self, name: str | bytes, value: str | bytes) -> None:
        """Append a field, keeping any earlier field of the same name."""
        n, v = _field(name, value)
        self._items.append((n.lower(), n, v))

    def get_list(self, name: str) -> list[str]:
        """Every value of ``name``, in order; empty when absent."""
        key = name.lower()
        return [v for k, _, v in self._items if k == key]

    def multi_items(self) -> list[tuple[str, str]]:
        """Every field as ``(name, value)``, repeats and order kept."""
        return list(map(_PAIR, self._items))  # made in C: runs on every session request

    raw = multi_items

    def copy(self) -> Headers:
        """An independent copy: changing it leaves these headers as they are."""
        h = Headers.__new__(Headers)
        h._items = list(self._items)
        return h

    def __getitem__(self, name: str) -> str:
        key = name.lower()
        values = [v for k, _, v in self._items if k == key]
        if not values:
            raise KeyError(name)
        return values[0] if len(values) == 1 else ", ".join(values)

    def get(self, name: str, default: Any = None) -> Any:
        key = name.lower()
        values = [v for k, _, v in self._items if k == key]
        if not values:
            return default
        return values[0] if len(values) == 1 else ", ".join(values)

    def __setitem__(self, name: str, value: str | None) -> None:
        """Set the one field ``name``: it keeps the place of the first field of that name
        (as a dict does; later repeats go), else it comes last. ``None`` removes the field,
        as requests' ``session.headers[name] = None`` keeps it from being sent."""
        if type(name) is str and type(value) is str:  # the common case, checked first
            n, v = name, value
        elif value is None:
            self.pop(name, None)
            return
        else:
            n, v = _field(name, value)
        key = n.lower()
        items = self._items
        # The names are scanned in C: a new name is appended; a name present once (a
        # session default overridden per request) is replaced where it stands.
        keys = list(map(_KEY, items))
        count = keys.count(key)
        if count == 0:
            items.append((key, n, v))
            return
        i = keys.index(key)
        if count == 1:
            items[i] = (key, n, v)
            return
        rest = [it for it in items[i + 1 :] if it[0] != key]
        self._items = [*items[:i], (key, n, v), *rest]

    def __delitem__(self, name: str) -> None:
        key = name.lower()
        kept = [item for item in self._items if item[0] != key]
        if len(kept) == len(self._items):
            raise KeyError(name)
        self._items = kept

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        # Runs on every session request ("cookie" in headers): the scan stays in C.
        return name.lower() in map(_KEY, self._items)

    def __iter__(self) -> Iterator[str]:
        seen: set[str] = set()
        for k, n, _ in self._items:
            if k not in seen:
                seen.add(k)
                yield n

    def __len__(self) -> int:
        return len({k for k, _, _ in self._items})

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            mine, theirs = self._items, other._items
        elif isinstance(other, Mapping | list | tuple):
            try:
                theirs = Headers(other)._items
            except (TypeError, ValueError):
                return NotImplemented
            mine = self._items
        else:
            return NotImplemented
        return sorted((k, v) for k, _, v in mine) == sorted((k, v) for k, _, v in theirs)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Headers({self.multi_items()!r})"


@dataclass(slots=True)
class Timings:
    """Where the time of one request went, in seconds; a phase that did not happen is 0.0.

    ``dns``, ``connect`` and ``tls`` are non-zero only on the request that opened the
    connection; ``wait`` runs from the end of sending to the response head (time to first
    byte); ``receive`` from the head to the end of the body.
    """

    dns: float = 0.0
    connect: float = 0.0
    tls: float = 0.0
    send: float = 0.0
    wait: float = 0.0
    receive: float = 0.0
    total: float = 0.0
    tls_resumed: bool = False


class _Unset:
    """An argument left out: the default applies (the session's, for a request)."""

    def __repr__(self) -> str:
        return "DEFAULT"


UNSET: Any = _Unset()


def check_seconds(name: str, value: object) -> float | None:
    """A validated time limit: a number of seconds ``>= 0``, or None for no limit.

    ``inf`` means no limit too (it is normalised to None: sockets and locks cannot wait
    forever by number, and ``settimeout(inf)`` raises ``OverflowError``). A finite value
    too large for the platform's waits, NaN, a negative number, a bool or a string is a
    caller error naming ``name``.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgumentType(
            f"{name}={value!r}: must be an int, float or None (seconds), not {type(value).__name__}"
        )
    if value == _INF:
        return None
    if not 0 <= value <= _WAIT_MAX:  # False for NaN as well
        raise InvalidArgument(
            f"{name}={value!r} must be a number of seconds >= 0 (at most {_WAIT_MAX:.0f}), "
            "or None for no limit"
        )
    return value


_INF = float("inf")
_WAIT_MAX = threading.TIMEOUT_MAX  # the longest wait a lock or socket accepts


class Timeout:
    """Time limits per phase in seconds (``None`` or ``inf`` = no limit).

    ``Timeout(5.0)`` sets all four phases; keywords set one phase each and default to
    ``connect=10, read=60, write=60, pool=10``. ``total`` (default None: none) bounds the
    whole exchange, from connecting to the last byte of the body, however the server
    spaces its bytes: ``Timeout(5, total=30)`` allows five seconds of silence at a time but
    thirty in all. A session counts it over every redirect hop and caps the wait for a
    pooled connection by it too. Bad values raise ``InvalidArgument``
    (``InvalidArgumentType`` for a non-number) naming the phase.
    """

    __slots__ = ("connect", "pool", "read", "total", "write")

    def __init__(
        self,
        timeout: float | None = UNSET,
        *,
        connect: float | None = UNSET,
        read: float | None = UNSET,
        write: float | None = UNSET,
        pool: float | None = UNSET,
        total: float | None = None,
    ) -> None:
        every = UNSET if timeout is UNSET else check_seconds("timeout", timeout)

        def pick(phase: str, value: float | None, default: float) -> float | None:
            if value is not UNSET:
                return check_seconds(f"timeout {phase}", value)
            return default if every is UNSET else every

        self.connect: float | None = pick("connect", connect, 10.0)
        self.read: float | None = pick("read", read, 60.0)
        self.write: float | None = pick("write", write, 60.0)
        self.pool: float | None = pick("pool", pool, 10.0)
        self.total: float | None = check_seconds("timeout total", total)

    @classmethod
    def coerce(cls, value: TimeoutLike) -> Timeout:
        """Accept a ``Timeout``, one number for every phase, ``None`` for no limits, or a
        ``(connect, read)`` tuple as requests takes it.

        In the tuple form the read limit also bounds writes (requests applies its read
        timeout to every socket operation after connecting) and the connect limit also
        bounds the wait for a pooled connection (getting one is part of connecting).
        """
        if isinstance(value, Timeout):
            return value
        if isinstance(value, tuple):
            if len(value) != 2:
                raise InvalidArgument(
                    f"timeout={value!r}: a tuple must be (connect, read), "
                    f"not {len(value)} values; use keepalive.Timeout for more phases"
                )
            connect, read = value
            return cls(connect=connect, read=read, write=read, pool=connect)
        return cls(value)

    def _key(self) -> tuple[float | None, ...]:
        return (self.connect, self.read, self.write, self.pool, self.total)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Timeout):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        total = "" if self.total is None else f", total={self.total}"
        return (
            f"Timeout(connect={self.connect}, read={self.read}, "
            f"write={self.write}, pool={self.pool}{total})"
        )


TimeoutLike = Union[Timeout, float, tuple[float | None, float | None], None]
DEFAULT_TIMEOUT = Timeout()
