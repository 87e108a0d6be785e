"""Hypothesis strategies for HTTP/1.1 exchanges: responses, their delivery, requests, faults.

Every generated value knows what a correct client must make of it. A ``ResponseSpec`` renders
to the exact bytes a server sends (status line, header case and whitespace, framing, chunk
extensions, trailers, interim responses) and says what the client must report (status,
reason, headers as h11 normalises them, body) and whether the connection may carry another
request. A ``RequestSpec`` builds the arguments a caller passes and says what an h11 server
must receive. Bodies of up to a few MiB are derived from a seed so that big examples stay
cheap to generate and to shrink.
"""

from __future__ import annotations

import io
import random
import string
import tempfile
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from hypothesis import strategies as st
from testserver import Segmenting

import keepalive

MiB = 1 << 20
DRAIN_LIMIT = 64 * 1024  # docs/design.md, reuse rule 8: an unread remainder up to this is drained

TOKEN_CHARS = "!#$%&'*+-.^_`|~" + string.digits + string.ascii_letters
VCHAR = "".join(chr(c) for c in range(0x21, 0x7F))
OBS_TEXT = "".join(chr(c) for c in range(0x80, 0x100))

# Fields whose meaning the strategies control themselves (framing, persistence, Expect).
RESERVED = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "expect",
        "te",
        "trailer",
        "upgrade",
        "proxy-connection",
    }
)
COMMON_NAMES = ["Content-Type", "Set-Cookie", "Cache-Control", "X-Request-Id", "Vary", "Via"]


# -- small pieces ------------------------------------------------------------------------------


@st.composite
def random_case(draw: st.DrawFn, word: str) -> str:
    flips = draw(st.lists(st.booleans(), min_size=len(word), max_size=len(word)))
    return "".join(c.swapcase() if f else c for c, f in zip(word, flips, strict=True))


def header_names() -> st.SearchStrategy[str]:
    made_up = st.text(TOKEN_CHARS, min_size=1, max_size=16)
    common = st.sampled_from(COMMON_NAMES).flatmap(random_case)
    return st.one_of(common, made_up).filter(lambda n: n.lower() not in RESERVED)


@st.composite
def field_words(draw: st.DrawFn, obs_text: bool = True) -> tuple[list[str], list[str]]:
    """A field value as words and the SP/HTAB runs between them (RFC 9110 section 5.5)."""
    words = draw(
        st.lists(
            st.text(VCHAR + OBS_TEXT if obs_text else VCHAR, min_size=1, max_size=12), max_size=4
        )
    )
    gaps = [draw(st.sampled_from([" ", "\t", "  ", " \t "])) for _ in words[1:]]
    return words, gaps


def join_words(words: list[str], gaps: list[str]) -> str:
    if not words:
        return ""
    return "".join(w + g for w, g in zip(words, [*gaps, ""], strict=True))


def field_values(obs_text: bool = True) -> st.SearchStrategy[str]:
    """Visible (and obs-text) characters with inner whitespace; maybe empty."""
    return field_words(obs_text).map(lambda wg: join_words(*wg))


OWS = st.sampled_from(["", "", " ", "\t", "  ", " \t"])


def pseudo_random_bytes(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def bodies(max_size: int = 3 * MiB) -> st.SearchStrategy[bytes]:
    """Empty or small (hand-written or seeded), around the drain limit, or big (seeded)."""
    edges = [
        n for n in (DRAIN_LIMIT - 1, DRAIN_LIMIT, DRAIN_LIMIT + 1, 2 * DRAIN_LIMIT) if n <= max_size
    ]
    seed = st.integers(0, 2**32 - 1)
    return st.one_of(
        st.binary(max_size=300),
        st.builds(pseudo_random_bytes, st.integers(0, 4096), seed),
        st.builds(pseudo_random_bytes, st.sampled_from(edges), seed),
        st.builds(pseudo_random_bytes, st.integers(4097, max_size), seed),
    )


# -- responses ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """One header line as sent (with its whitespace) and as the client must report it."""

    name: str
    wire_value: str  # may hold obs-folds ("\r\n ") and surrounding whitespace
    value: str  # what h11 makes of it
    before: str = ""  # OWS between the colon and the value
    after: str = ""  # OWS before CRLF

    def render(self) -> bytes:
        return f"{self.name}:{self.before}{self.wire_value}{self.after}\r\n".encode("latin-1")


@st.composite
def fields(draw: st.DrawFn, name: st.SearchStrategy[str] | None = None) -> Field:
    n = draw(name if name is not None else header_names())
    words, gaps = draw(field_words())
    value = join_words(words, gaps)
    before, after = draw(OWS), draw(OWS)
    if gaps and draw(st.integers(0, 9)) == 0:
        # obs-fold (RFC 9112 section 5.2): the recipient replaces the fold with one SP.
        cut = draw(st.integers(0, len(gaps) - 1))
        wire_gaps = list(gaps)
        wire_gaps[cut] = "\r\n" + draw(st.sampled_from([" ", "\t", "  "]))
        seen_gaps = list(gaps)
        seen_gaps[cut] = " "
        return Field(n, join_words(words, wire_gaps), join_words(words, seen_gaps), before, after)
    return Field(n, value, value, before, after)


@dataclass(frozen=True)
class KeepAliveHint:
    timeout: float | None  # what the client reads from timeout=; None when absent or malformed
    max: int | None
    text: str


@st.composite
def keepalive_hints(draw: st.DrawFn) -> KeepAliveHint:
    parts: list[str] = []
    timeout: float | None = None
    maximum: int | None = None
    if draw(st.booleans()):
        t = draw(st.sampled_from([0, 1, 2, 3, 5, 15, 30, 60, 300]))
        key = draw(random_case("timeout"))
        quoted = draw(st.integers(0, 5)) == 0
        parts.append(f'{key}="{t}"' if quoted else f"{key}={t}")
        timeout = float(t)
    if draw(st.booleans()):
        m = draw(st.sampled_from([0, 1, 2, 3, 5, 100]))
        parts.append(f"{draw(random_case('max'))}={m}")
        maximum = m
    if draw(st.integers(0, 7)) == 0:
        parts.append(draw(st.sampled_from(["timeout=soon", "max=many", "foo=1", "bar"])))
    parts = draw(st.permutations(parts))
    text = draw(st.sampled_from([",", ", ", " , "])).join(parts)
    return KeepAliveHint(timeout, maximum, text)


INTERIM = st.sampled_from([100, 102, 103])


@dataclass(frozen=True)
class ResponseSpec:
    """A response as a server sends it and as a correct client must see it."""

    status: int
    reason: str
    version: str  # "1.1" or "1.0"
    head_fields: tuple[Field, ...]  # in wire order, framing and hint fields included
    body: bytes
    framing: str  # "length", "chunked", "close" (delimited by the server's close), "none"
    for_head: bool = False  # the answer to a HEAD request: a head only
    interim: tuple[tuple[int, tuple[Field, ...]], ...] = ()
    chunk_sizes: tuple[int, ...] = ()
    chunk_exts: tuple[str, ...] = ()
    last_chunk_ext: str = ""
    trailers: tuple[Field, ...] = ()
    hex_upper: bool = False
    close_token: bool = False  # Connection: close (in some case, maybe among other tokens)
    hint: KeepAliveHint | None = None
    status_line_space: bool = True  # "HTTP/1.1 200 " vs "HTTP/1.1 200" for an empty reason

    # -- what the wire carries ----------------------------------------------------------------

    @cached_property
    def wire(self) -> bytes:
        """``render()``, computed once."""
        return self.render()

    def render(self) -> bytes:
        out = bytearray()
        for status, extra in self.interim:
            out += f"HTTP/1.1 {status} Interim\r\n".encode()
            for f in extra:
                out += f.render()
            out += b"\r\n"
        line = f"HTTP/{self.version} {self.status}"
        if self.reason or self.status_line_space:
            line += " " + self.reason
        out += line.encode("latin-1") + b"\r\n"
        for f in self.head_fields:
            out += f.render()
        out += b"\r\n"
        out += self.render_body()
        return bytes(out)

    def render_body(self) -> bytes:
        if self.for_head or self.framing == "none":
            return b""
        if self.framing != "chunked":
            return self.body
        out = bytearray()
        pos = 0
        for i, size in enumerate(self.chunk_sizes):
            piece = self.body[pos : pos + size]
            pos += size
            out += (f"{size:X}" if self.hex_upper else f"{size:x}").encode()
            out += self.chunk_exts[i % len(self.chunk_exts)].encode() if self.chunk_exts else b""
            out += b"\r\n" + piece + b"\r\n"
        out += b"0" + self.last_chunk_ext.encode() + b"\r\n"
        for f in self.trailers:
            out += f.render()
        out += b"\r\n"
        return bytes(out)

    @property
    def head_length(self) -> int:
        return len(self.wire) - len(self.render_body())

    # -- what the client must report --------------------------------------------------------

    @property
    def expected_headers(self) -> list[tuple[str, str]]:
        out = []
        for f in self.head_fields:
            value = f.value.lower() if f.name.lower() == "transfer-encoding" else f.value
            out.append((f.name, value))
        return out

    @property
    def expected_body(self) -> bytes:
        return b"" if self.for_head or self.framing == "none" else self.body

    @property
    def http_version(self) -> str:
        return f"HTTP/{self.version}"

    @property
    def server_closes(self) -> bool:
        """A well-behaved server closes after this response (and must, for "close" framing)."""
        return self.framing == "close" or self.close_token or self.version == "1.0"

    @property
    def retires_connection(self) -> bool:
        """Ends the connection by itself, whatever came before (docs/design.md, reuse
        rules 1 and 5)."""
        if self.server_closes:
            return True
        return self.hint is not None and self.hint.timeout is not None and self.hint.timeout <= 1.0

    @property
    def max_hint(self) -> int | None:
        return None if self.hint is None else self.hint.max

    @property
    def keeps_fresh_connection(self) -> bool:
        """As the first response on a connection, read to its end: may another follow?"""
        return not self.retires_connection and (self.max_hint is None or self.max_hint > 0)


def plain_response(
    body: bytes = b"ok",
    *,
    head: bool = False,
    length: int | None = None,
    keep_alive: KeepAliveHint | None = None,
) -> ResponseSpec:
    """A plain HTTP/1.1 200 with a Content-Length (``length`` overrides it, for HEAD), for
    hand-written examples."""
    n = str(len(body) if length is None else length)
    head_fields = [Field("Content-Length", n, n)]
    if keep_alive is not None:
        head_fields.append(Field("Keep-Alive", keep_alive.text, keep_alive.text))
    return ResponseSpec(
        200,
        "OK",
        "1.1",
        tuple(head_fields),
        b"" if head else body,
        "none" if head else "length",
        for_head=head,
        hint=keep_alive,
    )


def _resplit(sizes: tuple[int, ...], total: int) -> tuple[int, ...]:
    out, left = [], total
    for s in sizes:
        if left <= 0:
            break
        out.append(min(s, left))
        left -= out[-1]
    if left > 0:
        out.append(left)
    return tuple(out)


@st.composite
def chunk_sizes(draw: st.DrawFn, total: int) -> tuple[int, ...]:
    if total == 0:
        return ()
    wanted = draw(st.lists(st.one_of(st.integers(1, 64), st.integers(1, 1 << 20)), max_size=24))
    return _resplit(tuple(wanted), total)


CHUNK_EXTS = st.sampled_from([";a=b", ";name", ';q="quoted; value"', ";x=1;y=2", ";ext=\t1"])


@st.composite
def responses(
    draw: st.DrawFn,
    *,
    method: str = "GET",
    body: st.SearchStrategy[bytes] | None = None,
    framings: tuple[str, ...] = ("length", "chunked", "close"),
    http10: bool = True,
    interim: bool = True,
    persistence: bool = True,
    statuses: st.SearchStrategy[int] | None = None,
    extra_fields: int = 6,
) -> ResponseSpec:
    """Any well-formed response to ``method``; ``persistence=False`` leaves out the fields
    and framings that retire the connection (close, HTTP/1.0, hints)."""
    for_head = method == "HEAD"
    version = draw(st.sampled_from(["1.1", "1.1", "1.0"])) if http10 and persistence else "1.1"
    if statuses is None:
        statuses = st.one_of(
            st.sampled_from([200, 200, 201, 204, 206, 301, 304, 404, 500, 503]),
            st.integers(200, 599),
        )
    status = draw(statuses)
    reason = draw(
        st.one_of(
            st.sampled_from(["OK", "", "Not Found", "Still OK  ", " odd\tone"]),
            st.text(VCHAR + OBS_TEXT + " \t", max_size=20),
        )
    )
    payload = draw(body if body is not None else bodies())
    no_body = for_head or status in (204, 304)
    allowed = [f for f in framings if persistence or f != "close"]
    framing = draw(st.sampled_from(allowed))
    if framing == "chunked" and version == "1.0":
        framing = "length"
    payload_sent = b"" if no_body else payload
    announced = len(payload)  # a HEAD (or 304) answer announces what a GET would get

    head: list[Field] = [draw(fields()) for _ in range(draw(st.integers(0, extra_fields)))]
    repeat: bool = draw(st.booleans())
    if head and repeat:
        head.append(draw(fields(st.just(head[0].name))))  # a repeated field
    sizes: tuple[int, ...] = ()
    exts: tuple[str, ...] = ()
    last_ext = ""
    trailers: tuple[Field, ...] = ()
    out_framing = framing
    if status == 204:
        out_framing = "none"
    elif status == 304:
        out_framing = "none"
        if draw(st.booleans()):
            head.append(_length_field(draw, announced))
    elif framing == "length":
        head.append(_length_field(draw, announced))
        if no_body:
            out_framing = "none"
    elif framing == "chunked":
        head.append(
            Field(
                draw(random_case("Transfer-Encoding")),
                draw(random_case("chunked")),
                "chunked",
                draw(OWS),
                draw(OWS),
            )
        )
        if no_body:
            out_framing = "none"
        else:
            sizes = draw(chunk_sizes(len(payload_sent)))
            if draw(st.booleans()):
                exts = tuple(draw(st.lists(CHUNK_EXTS, min_size=1, max_size=3)))
            last_ext = draw(st.sampled_from(["", "", ";end=1"]))
            trailers = tuple(draw(st.lists(fields(), max_size=3)))
    elif no_body:
        out_framing = "none"

    close_token = False
    hint: KeepAliveHint | None = None
    if persistence:
        conn_value = draw(
            st.sampled_from([None, None, "close", "keep-alive", "keep-alive, close", "x-foo"])
        )
        if conn_value is not None:
            conn_value = draw(random_case(conn_value))
            close_token = "close" in conn_value.lower()
            head.append(Field(draw(random_case("Connection")), conn_value, conn_value))
        if draw(st.integers(0, 2)) == 0:
            hint = draw(keepalive_hints())
            head.append(Field(draw(random_case("Keep-Alive")), hint.text, hint.text.strip()))
    head = list(draw(st.permutations(head)))

    spec = ResponseSpec(
        status=status,
        reason=reason,
        version=version,
        head_fields=tuple(head),
        body=payload_sent,
        framing=out_framing,
        for_head=for_head,
        chunk_sizes=sizes,
        chunk_exts=exts,
        last_chunk_ext=last_ext,
        trailers=trailers,
        hex_upper=draw(st.booleans()),
        close_token=close_token,
        hint=hint,
        status_line_space=draw(st.booleans()),
    )
    if interim and version == "1.1":
        codes = draw(st.lists(INTERIM, max_size=2))
        spec = replace(
            spec,
            interim=tuple((c, tuple(draw(st.lists(fields(), max_size=2)))) for c in codes),
        )
    return spec


def _length_field(draw: st.DrawFn, n: int) -> Field:
    digits = str(n)
    if draw(st.integers(0, 9)) == 0:
        digits = "0" + digits  # leading zeros are still a valid Content-Length
    return Field(draw(random_case("Content-Length")), digits, digits, draw(OWS), draw(OWS))


# -- delivery ----------------------------------------------------------------------------------


@st.composite
def segmentings(draw: st.DrawFn, length: int) -> Segmenting:
    """How a server cuts ``length`` bytes: whole, one byte at a time (the first few KiB),
    or at random points; sometimes with tiny pauses between the first segments."""
    mode = draw(st.sampled_from(["whole", "bytes", "cuts", "cuts"]))
    if mode == "whole" or length == 0:
        sizes: tuple[int, ...] = ()
    elif mode == "bytes":
        sizes = (1,) * min(length, draw(st.sampled_from([64, 512, 4096])))
    else:
        sizes = tuple(
            draw(st.lists(st.one_of(st.integers(1, 16), st.integers(1, 4096)), max_size=30))
        )
    delay = draw(st.sampled_from([0.0, 0.0, 0.0, 0.0005, 0.002]))
    return Segmenting(sizes, delay, min(len(sizes), 25))


@dataclass(frozen=True)
class Fault:
    """How a server breaks a response: after ``at`` bytes it closes (FIN), resets (RST),
    stalls (sends no more of this response), or sends ``garbage`` and then closes or stalls;
    or ("stray") it sends the whole response followed by ``garbage``."""

    kind: str  # "close", "reset", "stall", "garbage+close", "garbage+stall", "stray"
    at: int
    garbage: bytes = b""


BOGUS_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nbogus"
FAULT_KINDS = ("close", "reset", "stall", "garbage+close", "garbage+stall", "stray")


@st.composite
def faults(draw: st.DrawFn, length: int) -> Fault:
    """A fault at a random point of a ``length``-byte response (the first byte often)."""
    kind = draw(st.sampled_from(FAULT_KINDS))
    at = draw(st.one_of(st.just(0), st.integers(0, max(length - 1, 0))))
    garbage = b""
    if kind.startswith("garbage"):
        garbage = draw(st.binary(min_size=1, max_size=200))
    elif kind == "stray":
        garbage = draw(st.one_of(st.just(BOGUS_RESPONSE), st.binary(min_size=1, max_size=200)))
    return Fault(kind, at, garbage)


SPLICES = [
    b"\r\n",
    b"\r\n\r\n",
    b"0\r\n\r\n",
    b"Content-Length: 3\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n",
    b"\x00",
    b"\xff" * 4,
    b" \t",
]


@st.composite
def mutated(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` with a few bytes flipped, inserted or deleted, cut short, or with protocol
    fragments spliced in: near-valid responses reach deeper into a parser than noise."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "cut", "splice"]))
        at = draw(st.integers(0, len(out)))
        if op == "flip" and at < len(out):
            out[at] = draw(st.integers(0, 255))
        elif op == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del out[at : at + draw(st.integers(1, 8))]
        elif op == "cut":
            del out[at:]
        elif op == "splice":
            out[at:at] = draw(st.sampled_from(SPLICES))
    return bytes(out)


def junk_responses() -> st.SearchStrategy[bytes]:
    """Bytes in place of a response: noise, a status line and noise, or a mutated response."""
    return st.one_of(
        st.binary(max_size=2000),
        st.binary(max_size=300).map(lambda tail: b"HTTP/1.1 200 OK\r\n" + tail),
        responses(body=st.binary(max_size=500), extra_fields=3).flatmap(lambda r: mutated(r.wire)),
    )


@st.composite
def delivered_responses(
    draw: st.DrawFn, /, methods: tuple[str, ...] = ("GET", "GET", "HEAD"), **kw: Any
) -> tuple[ResponseSpec, Segmenting]:
    """A response (to GET or HEAD) and how its bytes are cut on the way."""
    spec = draw(responses(method=draw(st.sampled_from(methods)), **kw))
    return spec, draw(segmentings(len(spec.wire)))


# -- requests ----------------------------------------------------------------------------------

METHODS_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})
BODY_KINDS = (
    "none",
    "bytes",
    "bytearray",
    "memoryview",
    "str",
    "iterator",
    "bytesio",
    "tempfile",
    "reader",
)


@dataclass
class RequestSpec:
    """What a caller passes to ``HTTPConnection.request`` and what the server must get."""

    method: str
    target: str
    fields: list[tuple[str | bytes, str | bytes]]  # the caller's own, in order
    container: str  # "list", "dict" or "Headers"
    body_kind: str
    payload: bytes  # the body bytes the server must receive
    text: str = ""  # for body_kind == "str"
    pieces: list[Any] = field(default_factory=list)  # for "iterator"
    file_offset: int = 0  # bytes before the file's current position
    declared: str | None = None  # "length" or "chunked": the caller framed it themselves
    method_as_bytes: bool = False  # HTTPConnection.request takes the method as str or bytes

    @property
    def method_arg(self) -> str | bytes:
        return self.method.encode("ascii") if self.method_as_bytes else self.method

    def headers_arg(self) -> Any:
        if self.container == "dict":
            return dict(self.fields)
        if self.container == "Headers":
            return keepalive.Headers([(_text(n), _text(v)) for n, v in self.fields])
        return list(self.fields)

    def body_arg(self) -> tuple[Any, Any]:
        """(body, something to close afterwards or None)."""
        kind = self.body_kind
        if kind == "none":
            return None, None
        if kind == "bytes":
            return self.payload, None
        if kind == "bytearray":
            return bytearray(self.payload), None
        if kind == "memoryview":
            return memoryview(self.payload), None
        if kind == "str":
            return self.text, None
        if kind == "iterator":
            return iter(self.pieces), None
        if kind == "bytesio":
            buffer = io.BytesIO(b"\x00" * self.file_offset + self.payload)
            buffer.seek(self.file_offset)
            return buffer, None
        if kind == "tempfile":
            f = tempfile.TemporaryFile()  # noqa: SIM115 - the caller closes it after the request
            f.write(b"\x00" * self.file_offset + self.payload)
            f.seek(self.file_offset)
            return f, f
        if kind == "reader":
            return _Reader(self.payload), None
        raise AssertionError(kind)

    def expected_fields(self, default_host: str) -> list[tuple[str, str]]:
        """The header fields an h11 server must see, in order (Host always first)."""
        own = [
            (_text(n), _text(v))
            for n, v in (dict(self.fields).items() if self.container == "dict" else self.fields)
        ]
        hosts = [(n, v) for n, v in own if n.lower() == "host"]
        rest = [(n, v) for n, v in own if n.lower() != "host"]
        if not hosts:
            hosts = [("Host", default_host)]
        added: list[tuple[str, str]] = []
        if self.declared is None:
            if self.framed_chunked:
                added = [("Transfer-Encoding", "chunked")]
            elif self.payload or self.body_kind in ("bytesio", "tempfile"):
                added = [("Content-Length", str(len(self.payload)))]
            elif self.method in METHODS_WITH_BODY:
                added = [("Content-Length", "0")]
        return hosts + rest + added

    @property
    def framed_chunked(self) -> bool:
        if self.declared is not None:
            return self.declared == "chunked"
        return self.body_kind in ("iterator", "reader")


class _Reader:
    """A file-like object that can only be read: no size, no seek, so it goes chunked."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)
        self._pos = 0

    def read(self, n: int = -1) -> bytes:
        end = len(self._data) if n < 0 else self._pos + n
        piece = bytes(self._data[self._pos : end])
        self._pos += len(piece)
        return piece


def _text(value: str | bytes) -> str:
    return value if isinstance(value, str) else value.decode("latin-1")


def _maybe_bytes(draw: st.DrawFn, value: str) -> str | bytes:
    return value.encode("latin-1") if draw(st.integers(0, 3)) == 0 else value


methods = st.one_of(
    st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "TRACE"]),
    st.text(string.ascii_uppercase + "-_", min_size=1, max_size=12).filter(
        lambda m: m != "CONNECT"
    ),
)

_PCHAR = string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@"


@st.composite
def targets(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["path", "path", "query", "star", "absolute"]))
    if kind == "star":
        return "*"
    segments = draw(
        st.lists(
            st.one_of(
                st.text(_PCHAR, max_size=10),
                st.builds(lambda b: "%" + b.hex().upper(), st.binary(min_size=1, max_size=1)),
            ),
            max_size=5,
        )
    )
    path = "/" + "/".join(segments)
    if kind == "query":
        path += "?" + draw(st.text(_PCHAR + "/?", max_size=20))
    if kind == "absolute":
        path = "http://example.test:8080" + path
    return path


@st.composite
def requests(draw: st.DrawFn, *, max_body: int = 2 * MiB) -> RequestSpec:
    method = draw(methods)
    container = draw(st.sampled_from(["list", "list", "dict", "Headers"]))
    own: list[tuple[str | bytes, str | bytes]] = []
    for _ in range(draw(st.integers(0, 8))):
        name = draw(header_names())
        if own and draw(st.integers(0, 3)) == 0:
            name = _text(own[0][0])  # a repeated field
        value = draw(field_values()).strip(" \t")
        if container == "list":
            own.append((_maybe_bytes(draw, name), _maybe_bytes(draw, value)))
        else:
            own.append((name, value))
    if container == "dict":
        own = list(dict(own).items())  # a dict keeps one value per exact name
    if draw(st.integers(0, 3)) == 0:
        host = draw(st.sampled_from(["example.test", "EXAMPLE.test:8080", "[::1]:9", "h"]))
        own.insert(draw(st.integers(0, len(own))), (draw(random_case("Host")), host))
        if container == "dict":
            own = list(dict(own).items())

    kind = draw(st.sampled_from(BODY_KINDS))
    if method == "HEAD":
        kind = "none"
    payload = b"" if kind == "none" else draw(bodies(max_body))
    spec = RequestSpec(method, draw(targets()), own, container, kind, payload)
    spec.method_as_bytes = draw(st.integers(0, 5)) == 0
    if kind == "str":
        spec.text = draw(st.text(max_size=300))
        spec.payload = spec.text.encode("utf-8")
    elif kind == "iterator":
        sizes = draw(chunk_sizes(len(payload)))
        pieces: list[Any] = []
        pos = 0
        for size in sizes:
            piece = payload[pos : pos + size]
            pos += size
            wrap = draw(st.sampled_from([bytes, bytes, bytearray, memoryview]))
            pieces.append(wrap(piece))
            if draw(st.integers(0, 5)) == 0:
                pieces.append(b"")  # an empty piece must not end the chunked body
        spec.pieces = pieces
    elif kind in ("bytesio", "tempfile"):
        spec.file_offset = draw(st.sampled_from([0, 0, 1, 100]))
    # The caller may frame the body themselves.
    sends_bytes = kind in ("bytes", "bytearray", "memoryview", "str")
    if kind != "none" and draw(st.integers(0, 3)) == 0:
        if draw(st.booleans()) and (sends_bytes or kind in ("iterator", "bytesio", "tempfile")):
            spec.declared = "length"
            name = draw(random_case("Content-Length"))
            value = str(len(spec.payload))
        else:
            spec.declared = "chunked"
            name = draw(random_case("Transfer-Encoding"))
            value = "chunked"
        pair: tuple[str | bytes, str | bytes] = (name, value)
        if container == "list":
            pair = (_maybe_bytes(draw, name), _maybe_bytes(draw, value))
        spec.fields.insert(draw(st.integers(0, len(spec.fields))), pair)
    return spec


# -- delivery to the sans-I/O core (no socket) --------------------------------------------------


def cut(data: bytes, how: Segmenting) -> list[bytes]:
    """``data`` in the segments ``how`` describes (whatever is left in one last piece)."""
    out: list[bytes] = []
    pos = 0
    for size in how.sizes:
        if pos >= len(data):
            break
        out.append(data[pos : pos + size])
        pos += size
    if pos < len(data):
        out.append(data[pos:])
    return out


@st.composite
def pieces(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """``data`` cut as a parser may be fed it: as a server writes it (``segmentings``), at up
    to 80 random points anywhere, or one byte at a time throughout (when short enough)."""
    mode = draw(st.sampled_from(["server", "points", "points", "bytes"]))
    if mode == "bytes" and len(data) <= 20_000:
        return [data[i : i + 1] for i in range(len(data))]
    if mode == "points" and len(data) > 1:
        points = draw(st.lists(st.integers(1, len(data) - 1), max_size=80, unique=True))
        edges = [0, *sorted(points), len(data)]
        return [data[edges[i] : edges[i + 1]] for i in range(len(edges) - 1)]
    return cut(data, draw(segmentings(len(data))))
