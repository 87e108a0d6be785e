"""The HTTP/1.1 client protocol, sans I/O: request in, bytes out; bytes in, response events out.

Theory of operation
-------------------
``ClientProtocol`` wraps one ``h11.Connection`` and adds what h11 leaves to its user, so that
the blocking driver (``connection.py``) and any other driver share every decision:

* **Framing the request** (RFC 9112 sections 6.1-6.3): ``Host`` when the caller gave none,
  ``Content-Length`` for a body of known size (``0`` for POST/PUT/PATCH without one, RFC 9110
  section 8.6), chunked otherwise; a small in-memory body goes out with the head in one write.
* **The response head**: interim responses are skipped (at most ``MAX_INTERIM`` of them), a
  ``101`` is refused, and every byte before the final head counts against ``max_head_size``
  (h11 bounds only a head that is still incomplete).
* **Hints**: ``Connection: close``, HTTP/1.0, and ``Keep-Alive: timeout=, max=`` (RFC 2068
  section 19.7.1.1, sent by Apache and nginx) are read once from the head.
* **The body**: a ``Content-Length`` body is the next that many bytes (RFC 9112 section 6.2):
  once h11 has parsed and checked the head, what it holds past the head is taken from it and
  the rest is read by the driver straight from the socket (``direct_budget``), one copy
  instead of three and no h11 events per piece. h11 never sees those bytes, so the next cycle
  starts from a fresh h11 state. Chunked and close-delimited bodies come from h11.
* **The verdict**: when the body ends, ``verdict`` says whether the connection may carry
  another cycle and, if not, why (docs/design.md, reuse rule 1).

It reads no clock and touches no socket: the driver feeds it bytes and moves the bytes it
returns. Errors are keepalive's own (``RemoteProtocolError``/``LocalProtocolError``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import h11
from h11._headers import Headers as _H11Headers
from h11._headers import normalize_and_validate as _h11_validate

from ._request import RequestBody
from .exceptions import InvalidArgumentType, LocalProtocolError, RemoteProtocolError

__all__ = [
    "BODY_METHODS",
    "CONTINUE",
    "END",
    "MAX_HEAD_SIZE",
    "NEED_DATA",
    "ClientProtocol",
    "ResponseHead",
]

MAX_HEAD_SIZE = 64 * 1024  # a larger response head is refused (docs/design.md, security)
MAX_INTERIM = 32  # interim (1xx) heads accepted before the final one
SMALL_BODY = 64 * 1024  # bodies up to this size go out in the same write as the head

# Methods whose content has a defined meaning: without a body they still say
# "Content-Length: 0" (RFC 9110 section 8.6). Both spellings, as callers give either.
BODY_METHODS: frozenset[str | bytes] = frozenset(
    {"POST", "PUT", "PATCH", b"POST", b"PUT", b"PATCH"}
)

_VERSIONS = {b"1.1": "HTTP/1.1", b"1.0": "HTTP/1.0"}
# h11's events are frozen: one end-of-message (without trailers) serves every request.
_END_OF_MESSAGE = h11.EndOfMessage()


class _Marker:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


NEED_DATA: Any = _Marker("NEED_DATA")  # feed more bytes, then ask again
END: Any = _Marker("END")  # the response body is complete
CONTINUE: Any = _Marker("CONTINUE")  # a 100 Continue arrived while the body waits


class ResponseHead(NamedTuple):
    """The final response head as parsed: status, reason, version and the raw fields."""

    status_code: int
    reason: bytes
    http_version: bytes
    items: list[tuple[bytes, bytes, bytes]]  # (name as sent, lower-case name, value)


def _new_h11(max_head_size: int) -> h11.Connection:
    return h11.Connection(h11.CLIENT, max_incomplete_event_size=max_head_size)


class ClientProtocol:
    """One HTTP/1.1 client connection's protocol state, cycle after cycle."""

    __slots__ = (
        "_buffered",
        "_direct",
        "_eof",
        "_fed",
        "_h11",
        "_interim",
        "_max_head",
        "_their_close",
        "body_left",
        "expect_continue",
        "host_header",
        "idle_timeout_hint",
        "method",
        "no_body",
        "requests_left",
        "response_started",
        "where",
    )

    def __init__(
        self, host_header: str, *, where: str = "the server", max_head_size: int = MAX_HEAD_SIZE
    ) -> None:
        self.host_header = host_header
        self.where = where  # names the peer in error messages
        self._max_head = max_head_size
        self._h11 = _new_h11(max_head_size)
        self.idle_timeout_hint: float | None = None  # from the server's Keep-Alive: timeout=
        self.requests_left: int | None = None  # from the server's Keep-Alive: max=
        self._reset_cycle()

    def _reset_cycle(self) -> None:
        self.method = b""
        self.body_left: int | None = None  # Content-Length still to come, when known
        self.no_body = False
        self.expect_continue = False
        self.response_started = False  # some byte of the response has arrived
        self._fed = 0  # bytes fed in this cycle before the final head
        self._interim = 0
        self._eof = False  # the peer ended its side of the stream
        self._direct = False  # the body is being read past h11
        # Direct body bytes held and not yet returned; after the body, stray bytes.
        self._buffered = b""
        self._their_close = False  # the head asked to close (or is HTTP/1.0)

    # -- the request ------------------------------------------------------------------------

    def start_request(
        self, method: str | bytes, target: str | bytes, pairs: list[Any], body: RequestBody
    ) -> bytes:
        """Frame a request; returns the bytes to write now.

        When the body is small and in memory (and no ``Expect: 100-continue`` was asked for)
        the head, body and end of message are all in those bytes; otherwise the driver sends
        the body with ``frame``/``end_body`` (``body_pending`` tells which).
        """
        data = body.data
        key: tuple[Any, ...] | None
        if body.stream is None and not data:
            # Without a body the framed head depends on the method, the Host and the
            # caller's fields alone: a session repeating its request shape finds the
            # h11-validated head ready (see _SHAPES), without the scan below.
            key = (method, self.host_header, *pairs)  # before Host and length are added
            try:
                shape: Any = _SHAPES.get(key)
            except TypeError:  # a field given as a list: unhashable, take the long way
                key = shape = None
            if shape is not None:
                events = shape.events if type(target) is str or type(target) is bytes else None
                return self._send_head(method, target, shape, pairs, body, False, events)
        else:
            key = None
        has_host = has_length = has_chunked = expect = False
        declared: Any = None
        try:
            for name, value in pairs:
                lname = name.lower()
                if lname == "host" or lname == b"host":
                    has_host = True
                elif lname == "content-length" or lname == b"content-length":
                    has_length, declared = True, value
                elif lname == "transfer-encoding" or lname == b"transfer-encoding":
                    has_chunked = True
                elif lname == "expect" or lname == b"expect":
                    v = value.lower().strip()
                    expect = v == "100-continue" or v == b"100-continue"
        except (TypeError, ValueError, AttributeError):
            _check_parts(method, target, pairs)  # raises, naming the bad part
            raise
        if not has_host:
            pairs.insert(0, ("Host", self.host_header))
        if body.stream is None:
            if has_length:
                if not isinstance(declared, str | bytes):
                    _check_parts(method, target, pairs)
                text = declared.decode("latin-1") if isinstance(declared, bytes) else declared
                text = text.strip()
                # RFC 9110 section 8.6: 1*DIGIT, so "05" is 5.
                if not (text.isascii() and text.isdigit() and int(text) == len(data)):
                    raise LocalProtocolError(
                        f"Content-Length {declared!r} does not match a body of {len(data)} bytes"
                    )
            elif not has_chunked and (data or method in BODY_METHODS):
                pairs.append(("Content-Length", str(len(data))))
        elif not (has_length or has_chunked):
            size = body.length
            pairs.append(
                ("Content-Length", str(size))
                if size is not None
                else ("Transfer-Encoding", "chunked")
            )
        headers, cacheable = self._headers_for(method, target, pairs)
        events = None
        if key is not None and cacheable and isinstance(headers, _Fields):
            _remember(_SHAPES, _SHAPES_MAX, key, headers)
            if type(target) is str or type(target) is bytes:
                events = headers.events
        return self._send_head(method, target, headers, pairs, body, expect, events)

    def _send_head(
        self,
        method: str | bytes,
        target: str | bytes,
        headers: _H11Headers,
        pairs: list[Any],
        body: RequestBody,
        expect: bool,
        events: dict[str | bytes, h11.Request] | None,
    ) -> bytes:
        """Frame the head; ``events`` are the shape's requests already validated, by target."""
        h = self._h11
        try:
            event = None if events is None else events.get(target)
            if event is None:
                event = h11.Request(method=method, target=target, headers=headers)
                if events is not None:
                    _remember(events, _EVENTS_MAX, target, event)
            head = h.send(event)
        except h11.LocalProtocolError as exc:
            raise LocalProtocolError(f"illegal request for {self.where}: {exc}") from exc
        except (TypeError, ValueError, UnicodeError):
            _check_parts(method, target, pairs)
            raise LocalProtocolError(
                "illegal request: the method and target must be ASCII"
            ) from None
        assert head is not None
        self.method = event.method
        data = body.data
        self.expect_continue = expect and (body.stream is not None or bool(data))
        if body.stream is None and not self.expect_continue and len(data) <= SMALL_BODY:
            # RFC 9112 section 9.3 allows it and Nagle would otherwise hold a second
            # segment back: head and small body leave together (reuse rule 11).
            if data:
                return b"".join([head, *self.frame(data), self.end_body()])
            return head + self.end_body()
        return head

    def _headers_for(
        self, method: str | bytes, target: str | bytes, pairs: list[Any]
    ) -> tuple[_H11Headers, bool]:
        """The fields as h11's validated ``Headers``; True when the set may be cached."""
        try:
            return _validated(pairs)
        except h11.LocalProtocolError as exc:
            raise LocalProtocolError(f"illegal request for {self.where}: {exc}") from exc
        except UnicodeError:
            pass
        except (TypeError, ValueError):
            _check_parts(method, target, pairs)
            raise
        # h11 takes str as ASCII; header values may carry ISO-8859-1 (RFC 9110 section 5.5).
        try:
            latin = [(n, v.encode("latin-1") if isinstance(v, str) else v) for n, v in pairs]
            return _h11_validate(latin), False
        except (UnicodeError, h11.LocalProtocolError) as exc:
            raise LocalProtocolError(
                "illegal request: method, target and header names must be ASCII, header "
                f"values ISO-8859-1 ({exc})"
            ) from exc

    @property
    def is_clean(self) -> bool:
        """No byte of a request has been framed in this cycle."""
        return self._h11.our_state is h11.IDLE

    @property
    def body_pending(self) -> bool:
        """The request body (or its end) has yet to be framed."""
        return self._h11.our_state is h11.SEND_BODY

    def frame(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        """Body bytes framed for the wire (chunk size lines when chunked), without a copy.

        h11 frames any bytes-like object, though its annotations say ``bytes``.
        """
        try:
            return self._h11.send_with_data_passthrough(h11.Data(data=data)) or []  # type: ignore[arg-type]
        except h11.LocalProtocolError as exc:
            raise LocalProtocolError(f"request body does not match its framing: {exc}") from exc

    def end_body(self) -> bytes:
        try:
            return self._h11.send(_END_OF_MESSAGE) or b""
        except h11.LocalProtocolError as exc:
            raise LocalProtocolError(f"request body does not match its framing: {exc}") from exc

    # -- the response -----------------------------------------------------------------------

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Feed bytes read from the peer; ``b""`` means the peer ended the stream."""
        if data:
            self.response_started = True
            self._fed += len(data)
        else:
            self._eof = True
        if self._direct:
            # A Content-Length body past h11 (next_head): kept here, copied (the driver's
            # buffer is reused). A driver normally reads such a body with direct_budget.
            self._buffered += data
            return
        self._h11.receive_data(data)  # type: ignore[arg-type]  # any bytes-like is fine

    def next_head(self) -> Any:
        """The final ``ResponseHead``, ``NEED_DATA``, or ``CONTINUE`` (a 100 while the
        request body waits on ``Expect: 100-continue``)."""
        h = self._h11
        while True:
            try:
                event: Any = h.next_event()
            except h11.RemoteProtocolError as exc:
                if self._fed > self._max_head:
                    raise RemoteProtocolError(
                        f"{self.where} sent a response head over {self._max_head // 1024} KiB"
                    ) from exc
                raise RemoteProtocolError(f"{self.where} broke HTTP/1.1: {exc}") from exc
            cls = type(event)
            if cls is h11.Response:
                break
            if event is h11.NEED_DATA:
                if self._eof:
                    raise RemoteProtocolError(
                        f"{self.where} closed the connection in the middle of a head"
                    )
                return NEED_DATA
            if cls is h11.InformationalResponse:
                if event.status_code == 101:
                    raise RemoteProtocolError(
                        f"{self.where} switched protocols (101), which this client does not support"
                    )
                self._interim += 1
                if self._interim > MAX_INTERIM:
                    raise RemoteProtocolError(
                        f"{self.where} sent more than {MAX_INTERIM} interim (1xx) responses"
                    )
                if event.status_code == 100 and self.expect_continue and self.body_pending:
                    self.expect_continue = False
                    return CONTINUE
                continue
            raise RemoteProtocolError(
                f"{self.where} sent {cls.__name__} where a response head was expected"
            )
        # h11 bounds only a head that is still incomplete; one that arrived whole is
        # measured here: everything fed so far, less what follows the head.
        if self._fed > self._max_head and self._fed - len(h.trailing_data[0]) > self._max_head:
            raise RemoteProtocolError(
                f"{self.where} sent a response head over {self._max_head // 1024} KiB"
            )
        # h11's Headers is a Sequence whose generic __iter__ costs a __getitem__ call per
        # field; its list of (raw name, lower-case name, value) is read directly instead.
        items: list[tuple[bytes, bytes, bytes]] = event.headers._full_items
        self._their_close = event.http_version != b"1.1"
        # RFC 9110 sections 9.3.2, 15.3.5, 15.4.5: no body, whatever Content-Length says.
        self.no_body = self.method == b"HEAD" or event.status_code in (204, 304)
        self._read_hints(items)
        if self.body_left and self.method != b"CONNECT":
            # RFC 9112 section 6.2: the body is the next body_left bytes. h11 has parsed the
            # head and checked the length; the body is taken past it (see direct_budget).
            self._direct = True
            self._buffered = h.trailing_data[0]
        return ResponseHead(event.status_code, event.reason, event.http_version, items)

    def _read_hints(self, items: list[tuple[bytes, bytes, bytes]]) -> None:
        """Note Content-Length, ``Connection: close`` and the ``Keep-Alive`` hint."""
        body_left: int | None = None
        max_seen = False
        chunked = False
        for _, name, value in items:
            if name == b"content-length":
                body_left = int(value)  # h11 has checked it is digits
            elif name == b"transfer-encoding":
                chunked = True  # RFC 9112 section 6.3: it overrides any Content-Length
            elif name == b"connection":
                # A token list (RFC 9110 section 7.6.1); a lone "close" needs no split.
                lowered = value.lower()
                if lowered == b"close" or (
                    b"close" in lowered and b"close" in [t.strip() for t in lowered.split(b",")]
                ):
                    self._their_close = True
            elif name == b"keep-alive":
                for part in value.split(b","):
                    key, _, number = part.strip().partition(b"=")
                    try:
                        if key.lower() == b"timeout":
                            self.idle_timeout_hint = float(number.strip().strip(b'"'))
                        elif key.lower() == b"max":
                            self.requests_left = int(number.strip().strip(b'"'))
                            max_seen = True
                    except ValueError:
                        continue  # a malformed hint is ignored, as RFC 2068 allows
        if not max_seen and self.requests_left is not None:
            self.requests_left -= 1  # the server did not restate its count: keep counting
        self.body_left = 0 if self.no_body else None if chunked else body_left

    def next_body(self) -> Any:
        """The next body piece (bytes-like), ``NEED_DATA``, or ``END``."""
        if self._direct:
            left: int = self.body_left  # type: ignore[assignment]  # known when direct
            if left <= 0:
                return END
            piece = self._buffered
            if piece:
                if len(piece) > left:
                    # Bytes past the end of the response answer nothing we sent (RFC 9112
                    # section 9.3): they stay held, and the verdict retires the connection.
                    self._buffered = piece[left:]
                    piece = piece[:left]
                else:
                    self._buffered = b""
                self.body_left = left - len(piece)
                return piece
            if self._eof:
                raise RemoteProtocolError(
                    f"{self.where} closed the connection before the end of the body"
                )
            return NEED_DATA
        try:
            event: Any = self._h11.next_event()
        except h11.RemoteProtocolError as exc:
            raise RemoteProtocolError(f"{self.where} broke HTTP/1.1: {exc}") from exc
        cls = type(event)
        if cls is h11.Data:
            data = event.data
            if self.body_left is not None:
                self.body_left -= len(data)
            return data
        if cls is h11.EndOfMessage:
            return END
        if event is h11.NEED_DATA:
            if self._eof:
                raise RemoteProtocolError(
                    f"{self.where} closed the connection before the end of the body"
                )
            return NEED_DATA
        if cls is h11.ConnectionClosed:
            raise RemoteProtocolError(
                f"{self.where} closed the connection before the end of the body"
            )
        raise RemoteProtocolError(f"{self.where} sent {cls.__name__} inside a body")

    def direct_budget(self) -> int:
        """Bytes the driver may read straight from the socket as body (0: feed h11).

        Called after ``next_body`` said ``NEED_DATA``: what remains of a ``Content-Length``
        body, whose bytes never go through h11.
        """
        if self._direct and not self._buffered:
            return self.body_left or 0
        return 0

    @property
    def reading_direct(self) -> bool:
        """The rest of the body is read from the socket (nothing of it is held here)."""
        return self._direct and not self._buffered

    def direct_received(self, n: int) -> bool:
        """``n`` body bytes were read past h11; True when the body is complete."""
        if n == 0:
            self._eof = True
            raise RemoteProtocolError(
                f"{self.where} closed the connection {self.body_left} bytes before the end "
                "of the body"
            )
        left = (self.body_left or 0) - n
        self.body_left = left
        return left <= 0

    # -- the end of a cycle -----------------------------------------------------------------

    def verdict(self) -> str | None:
        """Why the connection may not carry another cycle, or None when it may."""
        h = self._h11
        if self._eof:
            # h11 leaves both sides DONE after a close-delimited body (RFC 9112 section 6.3,
            # rule 8) when no "Connection: close" was sent, so the EOF itself retires it.
            return "the server ended the stream (close-delimited body)"
        if self._direct:
            # h11 did not see the body, so its view of the server's side is stale; the
            # head tells whether the server will close.
            if self._their_close:
                return "the server asked to close (Connection: close or HTTP/1.0)"
            if self._buffered:
                return "stray bytes after the response"
        else:
            if h.their_state is not h11.DONE:
                return "the server asked to close (Connection: close or HTTP/1.0)"
            if h.trailing_data[0]:
                # Bytes past the end of the response answer nothing we sent (RFC 9112
                # section 9.3): the stream is out of step.
                return "stray bytes after the response"
        if h.our_state is not h11.DONE:
            return "our side must close (Connection: close sent, or the body not all sent)"
        if self.requests_left is not None and self.requests_left <= 0:
            return "the server's Keep-Alive max was reached"
        if self.idle_timeout_hint is not None and self.idle_timeout_hint <= 1.0:
            return "the server's Keep-Alive timeout is too short to reuse"
        return None

    def start_next_cycle(self) -> None:
        """After a ``verdict`` of None: ready for the next request."""
        if self._direct:
            # This h11 state never saw the body and still expects it: start afresh.
            self._h11 = _new_h11(self._max_head)
        else:
            self._h11.start_next_cycle()
        self._reset_cycle()

    # -- CONNECT (RFC 9110 section 9.3.6) ---------------------------------------------------

    def tunnel_established(self) -> bytes:
        """After a 2xx answer to CONNECT: the bytes already received past it (the
        tunnel's first bytes). h11 has switched protocols and parses nothing more."""
        return self._h11.trailing_data[0]


def http_version_text(version: bytes) -> str:
    return _VERSIONS.get(version) or "HTTP/" + version.decode("ascii", "replace")


def _check_parts(method: object, target: object, pairs: list[Any]) -> None:
    """Raise ``InvalidArgumentType`` naming the first request part that is not str or bytes
    (a header value of 5, a name of None, a triple instead of a pair). Called only after the
    fast path failed, so well-formed requests never pay for it."""
    for what, part in (("method", method), ("target", target)):
        if not isinstance(part, str | bytes):
            raise InvalidArgumentType(f"the request {what} must be str or bytes, not {part!r}")
    for field in pairs:
        if not isinstance(field, tuple | list) or len(field) != 2:
            raise InvalidArgumentType(f"a header must be a (name, value) pair, not {field!r}")
        name, value = field
        if not isinstance(name, str | bytes):
            raise InvalidArgumentType(f"header name {name!r} must be str or bytes")
        if not isinstance(value, str | bytes):
            raise InvalidArgumentType(
                f"header {name!r}: value {value!r} must be str or bytes, not "
                f"{type(value).__name__}"
            )


# Header fields h11 has validated, by (name, value) as the caller gave them. A session sends
# the same few fields (User-Agent, Accept, Host...) on every request, and h11 would run two
# regular expressions over each one each time. h11 takes a ready ``Headers`` as proven
# valid; its module is private, but h11 is pinned below 1.0 (pyproject.toml). Credentials
# are never kept here (a process-wide cache must not hold secrets), and the cache is bounded.
_FIELDS: dict[tuple[Any, Any], tuple[bytes, bytes, bytes]] = {}
_FIELDS_MAX = 512
_UNCACHED = frozenset(
    {"authorization", "proxy-authorization", "cookie", b"authorization",
     b"proxy-authorization", b"cookie"}
)  # fmt: skip
_FRAMING = (b"content-length", b"transfer-encoding")


# Whole request heads without a body, validated: by (method, Host, *fields as given) before
# Host and Content-Length were added, the h11 ``Headers`` that went out. Only sets whose every
# field may be cached (no credentials, no cookies) are kept; bounded like _FIELDS, oldest
# forgotten first.
_SHAPES: dict[tuple[Any, ...], _Fields] = {}
_SHAPES_MAX = 256
_EVENTS_MAX = 32  # request targets remembered per shape


def _remember(cache: dict[Any, Any], limit: int, key: Any, value: Any) -> None:
    """Add to a bounded cache, forgetting its oldest entry when full: a process that talks
    to new hosts for a long time keeps caching the current ones."""
    if len(cache) >= limit:
        try:
            del cache[next(iter(cache))]
        except (StopIteration, KeyError, RuntimeError):  # another thread changed it meanwhile
            pass
    cache[key] = value


class _Fields(_H11Headers):
    """h11's validated ``Headers`` that also iterate fast.

    ``h11.Request`` walks its fields once (counting ``Host``) through ``Sequence.__iter__``,
    a Python-level ``__getitem__`` call per field; a head from ``_SHAPES`` is walked on
    every request, so its ``(name, value)`` pairs are made once, here.
    """

    __slots__ = ("_pairs", "events")

    def __init__(self, full_items: list[tuple[bytes, bytes, bytes]]) -> None:
        super().__init__(full_items)
        self._pairs = [(name, value) for _, name, value in full_items]
        # Once this head is in _SHAPES: the h11 requests made with it, by target. h11's
        # events are frozen, so a repeated request (a poll, a health check) reuses its
        # validated request line instead of checking method and target again; bounded
        # like every cache here, per shape.
        self.events: dict[str | bytes, h11.Request] = {}

    def __iter__(self) -> Any:
        return iter(self._pairs)


def _validated(pairs: list[Any]) -> tuple[_H11Headers, bool]:
    """``pairs`` as h11's validated ``Headers``, each field checked by h11 once per process,
    and whether every field was one that may be cached.

    Rules across fields (one Content-Length, one Transfer-Encoding) need the whole set: a
    request with more than one framing field is validated by h11 as a whole.
    """
    items = []
    framing = 0
    fields = _FIELDS
    cacheable = True
    for pair in pairs:
        item = fields.get(pair) if type(pair) is tuple else None
        if item is None:
            item = _h11_validate([pair])._full_items[0]
            if type(pair) is tuple and pair[0].lower() not in _UNCACHED:
                _remember(fields, _FIELDS_MAX, pair, item)
            else:
                cacheable = False
        if item[1] in _FRAMING:
            framing += 1
        items.append(item)
    if framing > 1:
        return _h11_validate(pairs), False
    return _Fields(items), cacheable
