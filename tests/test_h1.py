"""The sans-I/O HTTP/1.1 core (``keepalive._h1``) with bytes alone: no socket, no thread.

Requests are framed by ``ClientProtocol`` and the bytes it returns are parsed by a real
``h11`` server to see exactly what a server would get; responses are fed in as bytes, whole
and in every segmentation, and what the protocol reports (heads, body pieces, hints, the
verdict on reuse) is compared with what those bytes say.
"""

from __future__ import annotations

import io
import random
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import h11
import pytest

import keepalive
from keepalive._h1 import (
    CONTINUE,
    END,
    MAX_HEAD_SIZE,
    MAX_INTERIM,
    NEED_DATA,
    SMALL_BODY,
    ClientProtocol,
    ResponseHead,
)
from keepalive._request import RequestBody, make_body

HOST = "example.test:8080"
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
BIG = 256 * 1024  # a body larger than any one read


def proto() -> ClientProtocol:
    return ClientProtocol(HOST, where="the test server")


# -- driving the protocol with bytes ---------------------------------------------------------


def split(data: bytes, how: str | int) -> list[bytes]:
    """``data`` cut as ``how`` says: "whole", every ``n`` bytes, or at random points
    ("random-<seed>", segment sizes from 1 byte to a few KiB)."""
    if how == "whole":
        return [data]
    if isinstance(how, int):
        return [data[i : i + how] for i in range(0, len(data), how)]
    rng = random.Random(how)
    out: list[bytes] = []
    pos = 0
    while pos < len(data):
        size = rng.choice([1, 1, 2, 3, rng.randint(1, 64), rng.randint(1, 4096)])
        out.append(data[pos : pos + size])
        pos += size
    return out


SPLITS: list[str | int] = ["whole", 1, 2, 3, 7, 100, "random-1", "random-2", "random-3"]


class Feed:
    """The peer's side of the stream: the segments in order, then (once) the end of it."""

    def __init__(self, pieces: list[bytes], *, eof: bool = True) -> None:
        self.pieces = [p for p in pieces if p]
        self.pos = 0
        self.eof_allowed = eof
        self.eof_sent = False

    def more(self, p: ClientProtocol) -> None:
        """Give the protocol the next segment (or the end of the stream)."""
        if self.pos < len(self.pieces):
            p.receive_data(self.pieces[self.pos])
            self.pos += 1
            return
        assert self.eof_allowed, "the protocol wanted more bytes than the peer sent"
        assert not self.eof_sent, "the protocol asked for bytes after the end of the stream"
        self.eof_sent = True
        p.receive_data(b"")

    def take(self, n: int) -> bytes:
        """Up to ``n`` bytes of what is left, as a driver's direct read would get them."""
        rest = b"".join(self.pieces[self.pos :])
        got, left = rest[:n], rest[n:]
        self.pieces = self.pieces[: self.pos] + ([left] if left else [])
        return got

    @property
    def bound(self) -> int:
        return len(self.pieces) + 5


def final_head(p: ClientProtocol, feed: Feed) -> Any:
    """Feed segments until ``next_head`` answers something other than NEED_DATA."""
    for _ in range(feed.bound):
        got = p.next_head()
        if got is not NEED_DATA:
            return got
        feed.more(p)
    raise AssertionError("next_head never answered")


def read_body(p: ClientProtocol, feed: Feed) -> bytes:
    """Every body piece up to END, concatenated."""
    out = bytearray()
    for _ in range(2 * feed.bound):
        piece = p.next_body()
        if piece is END:
            return bytes(out)
        if piece is NEED_DATA:
            feed.more(p)
            continue
        out += piece
    raise AssertionError("the body never ended")


def cycle(
    p: ClientProtocol, response: bytes, method: str = "GET", how: str | int = "whole"
) -> tuple[ResponseHead, bytes, str | None]:
    """One whole request/response cycle: (head, body, verdict)."""
    p.start_request(method, "/", [], make_body(None))
    feed = Feed(split(response, how))
    head = final_head(p, feed)
    assert isinstance(head, ResponseHead)
    body = read_body(p, feed)
    return head, body, p.verdict()


@dataclass
class Seen:
    """A request as an h11 server parsed it."""

    method: bytes
    target: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def values(self, name: bytes) -> list[bytes]:
        return [v for n, v in self.headers if n.lower() == name]

    @property
    def chunked(self) -> bool:
        return self.values(b"transfer-encoding") == [b"chunked"]


def server_sees(data: bytes) -> Seen:
    """Parse ``data`` as an h11 server would: exactly one whole request, nothing after it."""
    server = h11.Connection(h11.SERVER)
    server.receive_data(data)
    request: h11.Request | None = None
    body = bytearray()
    for _ in range(len(data) + 3):
        event = server.next_event()
        if isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            break
        else:
            raise AssertionError(f"the server got {event!r} instead of a whole request")
    assert request is not None
    assert server.trailing_data == (b"", False), "bytes after the end of the request"
    return Seen(request.method, request.target, list(request.headers.raw_items()), bytes(body))


def send_all(p: ClientProtocol, first: bytes, body: RequestBody) -> bytes:
    """The bytes of a whole request, as the driver writes them: the first bytes, then the
    body through ``frame``/``end_body`` when it is still pending."""
    out = [first]
    if p.body_pending:
        chunks: Iterator[Any] = iter([body.data]) if body.stream is None else body.chunks()
        for chunk in chunks:
            if chunk:
                out += p.frame(chunk)
        out.append(p.end_body())
    assert not p.body_pending
    return b"".join(bytes(piece) for piece in out)


# -- request framing -------------------------------------------------------------------------


def test_host_is_added_first_when_absent() -> None:
    p = proto()
    assert p.is_clean
    data = p.start_request("GET", "/a?b=c", [("Accept", "*/*")], make_body(None))
    assert data == b"GET /a?b=c HTTP/1.1\r\nHost: example.test:8080\r\nAccept: */*\r\n\r\n"
    assert not p.is_clean
    assert not p.body_pending
    seen = server_sees(data)
    assert seen.headers == [(b"Host", b"example.test:8080"), (b"Accept", b"*/*")]


@pytest.mark.parametrize(
    "name", ["Host", "host", "HOST", b"Host", b"host"], ids=lambda n: f"{type(n).__name__}-{n!r}"
)
def test_host_given_by_the_caller_is_the_only_one(name: str | bytes) -> None:
    p = proto()
    data = p.start_request("GET", "/", [("X-A", "1"), (name, "other.test")], make_body(None))
    seen = server_sees(data)
    assert seen.values(b"host") == [b"other.test"]
    assert seen.headers[0] == (name if isinstance(name, bytes) else name.encode(), b"other.test")
    assert seen.values(b"x-a") == [b"1"]


@pytest.mark.parametrize(
    "body",
    [b"hello", bytearray(b"hello"), memoryview(b"hello"), "hello"],
    ids=["bytes", "bytearray", "memoryview", "str"],
)
def test_in_memory_body_has_content_length_and_goes_with_the_head(body: Any) -> None:
    p = proto()
    data = p.start_request("PUT", "/x", [], make_body(body))
    assert data == b"PUT /x HTTP/1.1\r\nHost: example.test:8080\r\nContent-Length: 5\r\n\r\nhello"
    assert not p.body_pending
    assert server_sees(data).body == b"hello"


def test_str_body_is_sent_as_utf8() -> None:
    p = proto()
    data = p.start_request("POST", "/", [], make_body("café €"))
    seen = server_sees(data)
    assert seen.values(b"content-length") == [b"9"]
    assert seen.body == "café €".encode()


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", b"POST", b"PUT", b"PATCH"])
def test_bodiless_post_put_patch_say_content_length_zero(method: str | bytes) -> None:
    # RFC 9110 section 8.6: a method that gives content a meaning says how long it is.
    p = proto()
    data = p.start_request(method, "/", [], make_body(None))
    name = method if isinstance(method, str) else method.decode()
    assert data == f"{name} / HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: 0\r\n\r\n".encode()
    assert not p.body_pending
    seen = server_sees(data)
    assert seen.values(b"content-length") == [b"0"]
    assert seen.body == b""


@pytest.mark.parametrize("method", ["GET", "HEAD", "DELETE", "OPTIONS", b"GET", b"DELETE"])
def test_bodiless_get_has_no_framing_field(method: str | bytes) -> None:
    p = proto()
    data = p.start_request(method, "/", [], make_body(None))
    seen = server_sees(data)
    assert seen.values(b"content-length") == []
    assert seen.values(b"transfer-encoding") == []
    assert seen.headers == [(b"Host", HOST.encode())]


def test_iterator_body_is_chunked_and_left_to_frame() -> None:
    p = proto()
    body = make_body(iter([b"abc", b"", bytearray(b"de"), memoryview(b"f")]))
    first = p.start_request("POST", "/up", [], body)
    assert (
        first
        == b"POST /up HTTP/1.1\r\nHost: example.test:8080\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    assert p.body_pending
    assert not p.expect_continue
    assert b"".join(p.frame(b"abc")) == b"3\r\nabc\r\n"
    assert p.frame(b"") == []  # an empty piece must not end the chunked body
    assert b"".join(bytes(x) for x in p.frame(bytearray(b"de"))) == b"2\r\nde\r\n"
    assert b"".join(bytes(x) for x in p.frame(memoryview(b"f"))) == b"1\r\nf\r\n"
    assert p.body_pending
    assert p.end_body() == b"0\r\n\r\n"
    assert not p.body_pending


def test_iterator_body_as_an_h11_server_sees_it() -> None:
    p = proto()
    body = make_body(iter([b"abc", b"", b"defg"]))
    seen = server_sees(send_all(p, p.start_request("POST", "/", [], body), body))
    assert seen.chunked
    assert seen.values(b"content-length") == []
    assert seen.body == b"abcdefg"


def test_file_of_known_size_gets_content_length_from_its_position() -> None:
    buffer = io.BytesIO(b"skip" + b"x" * 1000)
    buffer.seek(4)
    p = proto()
    body = make_body(buffer)
    first = p.start_request("PUT", "/f", [], body)
    assert first == b"PUT /f HTTP/1.1\r\nHost: example.test:8080\r\nContent-Length: 1000\r\n\r\n"
    assert p.body_pending
    seen = server_sees(send_all(p, first, body))
    assert seen.values(b"content-length") == [b"1000"]
    assert seen.body == b"x" * 1000


def test_real_file_gets_content_length() -> None:
    with tempfile.TemporaryFile() as f:
        f.write(bytes(range(256)) * 300)
        f.seek(256)
        p = proto()
        body = make_body(f)
        seen = server_sees(send_all(p, p.start_request("POST", "/", [], body), body))
    assert seen.values(b"content-length") == [str(256 * 299).encode()]
    assert not seen.chunked
    assert seen.body == bytes(range(256)) * 299


class _ReadOnly:
    """A file-like object without a size: it can only be read."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def read(self, n: int = -1) -> bytes:
        piece, self._data = self._data[:n], self._data[n:]
        return piece


def test_file_of_unknown_size_is_chunked() -> None:
    p = proto()
    body = make_body(_ReadOnly(b"stream" * 20_000))
    seen = server_sees(send_all(p, p.start_request("POST", "/", [], body), body))
    assert seen.chunked
    assert seen.body == b"stream" * 20_000


@pytest.mark.parametrize(
    "pair",
    [
        ("Content-Length", "4"),
        ("content-length", "6"),
        (b"Content-Length", b"4"),
        ("Content-Length", "x"),
    ],
    ids=["str-short", "str-long", "bytes", "not-a-number"],
)
def test_mismatching_content_length_is_refused_before_a_byte(pair: tuple[Any, Any]) -> None:
    p = proto()
    with pytest.raises(keepalive.LocalProtocolError, match="Content-Length") as info:
        p.start_request("POST", "/", [pair], make_body(b"hello"))
    assert isinstance(info.value, ValueError)
    assert p.is_clean
    # Nothing was framed: the same protocol still frames a correct request.
    data = p.start_request("POST", "/", [("Content-Length", "5")], make_body(b"hello"))
    seen = server_sees(data)
    assert seen.values(b"content-length") == [b"5"]
    assert seen.body == b"hello"


@pytest.mark.parametrize(
    "pair", [("Content-Length", "5"), (b"content-length", b"5"), ("CONTENT-LENGTH", "5")]
)
def test_matching_content_length_of_the_caller_is_kept_not_doubled(pair: tuple[Any, Any]) -> None:
    p = proto()
    data = p.start_request("POST", "/", [pair], make_body(b"hello"))
    seen = server_sees(data)
    assert seen.values(b"content-length") == [b"5"]
    assert seen.body == b"hello"


def test_content_length_with_a_leading_zero_matches() -> None:
    # RFC 9110 section 8.6: Content-Length = 1*DIGIT, so "05" is five (h11 sends it as is).
    p = proto()
    data = p.start_request("POST", "/", [("Content-Length", "05")], make_body(b"hello"))
    seen = server_sees(data)
    assert seen.values(b"content-length") == [b"05"]
    assert seen.body == b"hello"


def test_callers_chunked_framing_is_kept_for_an_in_memory_body() -> None:
    p = proto()
    data = p.start_request("POST", "/", [("Transfer-Encoding", "chunked")], make_body(b"abc"))
    assert not p.body_pending
    seen = server_sees(data)
    assert seen.chunked
    assert seen.values(b"content-length") == []
    assert seen.body == b"abc"


def test_stream_longer_than_the_callers_content_length_is_refused() -> None:
    p = proto()
    p.start_request("POST", "/", [("Content-Length", "3")], make_body(iter([b"abcde"])))
    assert not p.is_clean
    with pytest.raises(keepalive.LocalProtocolError, match="does not match its framing"):
        p.frame(b"abcde")


def test_stream_shorter_than_the_callers_content_length_is_refused() -> None:
    p = proto()
    p.start_request("POST", "/", [("Content-Length", "5")], make_body(iter([b"abc"])))
    assert b"".join(p.frame(b"abc")) == b"abc"
    with pytest.raises(keepalive.LocalProtocolError, match="does not match its framing"):
        p.end_body()


@pytest.mark.parametrize(
    "value", ["café", "caf\xe9", b"caf\xe9", "\xa0\xff"], ids=["str", "escaped", "bytes", "edge"]
)
def test_latin1_header_values_go_out_as_latin1(value: str | bytes) -> None:
    # RFC 9110 section 5.5: field values may carry obs-text, which is ISO-8859-1 here.
    p = proto()
    data = p.start_request("GET", "/", [("X-Name", value)], make_body(None))
    wire = value if isinstance(value, bytes) else value.encode("latin-1")
    assert b"\r\nX-Name: " + wire + b"\r\n" in data
    assert server_sees(data).values(b"x-name") == [wire]


@pytest.mark.parametrize(
    "pairs",
    [[("X-Euro", "€")], [("Näme", "v")], [("X-A", "ok"), ("X-Emoji", "\U0001f600")]],
    ids=["value", "name", "second"],
)
def test_header_beyond_latin1_is_refused(pairs: list[Any]) -> None:
    p = proto()
    with pytest.raises(keepalive.LocalProtocolError, match="ISO-8859-1"):
        p.start_request("GET", "/", pairs, make_body(None))
    assert p.is_clean


@pytest.mark.parametrize(
    "pair",
    [
        ("X-A", "a\r\nInjected: 1"),
        ("X-A", "a\nb"),
        ("X-A", "a\rb"),
        (b"X-A", b"a\r\nb"),
        ("X-A", "a\x00b"),
        ("X-A\r\nInjected", "1"),
        ("X A", "1"),
    ],
)
def test_control_characters_in_a_field_are_refused(pair: tuple[Any, Any]) -> None:
    p = proto()
    with pytest.raises(keepalive.LocalProtocolError, match="illegal request") as info:
        p.start_request("GET", "/", [pair], make_body(None))
    assert isinstance(info.value, ValueError)
    assert p.is_clean


@pytest.mark.parametrize("target", ["/a b", "/a\r\nX: 1", ""], ids=["space", "crlf", "empty"])
def test_illegal_target_is_refused(target: str) -> None:
    p = proto()
    with pytest.raises(keepalive.LocalProtocolError):
        p.start_request("GET", target, [], make_body(None))
    assert p.is_clean


@pytest.mark.parametrize(
    "method,target,pairs,body,named",
    [
        ("GET", "/", [("X-Count", 5)], None, "X-Count"),
        ("GET", "/", [("X-Count", 1.5)], None, "X-Count"),
        ("GET", "/", [("X-Count", None)], None, "X-Count"),
        ("GET", "/", [("X-List", ["a"])], None, "X-List"),
        ("GET", "/", [(5, "v")], None, "5"),
        ("PUT", "/", [("Expect", 100)], b"x", "Expect"),
        ("PUT", "/", [("Content-Length", 1)], b"x", "Content-Length"),
        ("GET", "/", [("X-A", "1", "2")], None, "X-A"),
        (5, "/", [], None, "method"),
        ("GET", None, [], None, "target"),
    ],
    ids=[
        "value-int",
        "value-float",
        "value-None",
        "value-list",
        "name-int",
        "expect-int",
        "content-length-int",
        "triple",
        "method-int",
        "target-None",
    ],
)
def test_wrongly_typed_request_is_a_keepalive_error(
    method: Any, target: Any, pairs: list[Any], body: bytes | None, named: str
) -> None:
    # Bad caller input is a keepalive error naming what was wrong, never a raw TypeError,
    # AttributeError or ValueError from h11 or from unpacking, and nothing is framed.
    p = proto()
    with pytest.raises(keepalive.KeepaliveError, match=named) as info:
        p.start_request(method, target, pairs, make_body(body))
    assert isinstance(info.value, TypeError | ValueError)
    assert p.is_clean


@pytest.mark.parametrize("size", [1, SMALL_BODY - 1, SMALL_BODY])
def test_small_body_goes_out_with_the_head(size: int) -> None:
    payload = random.Random(size).randbytes(size)
    p = proto()
    data = p.start_request("POST", "/", [], make_body(payload))
    assert not p.body_pending
    assert data.endswith(b"\r\n\r\n" + payload)
    seen = server_sees(data)
    assert seen.values(b"content-length") == [str(size).encode()]
    assert seen.body == payload


@pytest.mark.parametrize("size", [SMALL_BODY + 1, 3 * SMALL_BODY])
def test_large_body_is_left_to_frame_and_end_body(size: int) -> None:
    payload = random.Random(size).randbytes(size)
    p = proto()
    first = p.start_request("POST", "/", [], make_body(payload))
    assert first == f"POST / HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: {size}\r\n\r\n".encode()
    assert p.body_pending
    pieces = p.frame(memoryview(payload))
    assert b"".join(bytes(x) for x in pieces) == payload
    assert p.body_pending
    assert p.end_body() == b""
    assert not p.body_pending
    seen = server_sees(first + payload)
    assert seen.body == payload


@pytest.mark.parametrize(
    "pair",
    [("Expect", "100-continue"), (b"expect", b"100-Continue"), ("EXPECT", "100-CONTINUE")],
    ids=["str", "bytes", "case"],
)
def test_expect_continue_holds_the_body_back(pair: tuple[Any, Any]) -> None:
    p = proto()
    first = p.start_request("PUT", "/", [pair], make_body(b"tiny"))
    assert p.expect_continue
    assert p.body_pending
    assert first.endswith(b"\r\n\r\n")
    assert b"tiny" not in first
    seen = server_sees(send_all(p, first, make_body(b"tiny")))
    assert seen.values(b"expect") == [pair[1] if isinstance(pair[1], bytes) else pair[1].encode()]
    assert seen.body == b"tiny"


def test_expect_continue_without_a_body_waits_for_nothing() -> None:
    p = proto()
    data = p.start_request("POST", "/", [("Expect", "100-continue")], make_body(None))
    assert not p.expect_continue
    assert not p.body_pending
    assert server_sees(data).values(b"content-length") == [b"0"]


def test_expect_continue_with_a_stream() -> None:
    p = proto()
    body = make_body(iter([b"abc"]))
    first = p.start_request("POST", "/", [("Expect", "100-continue")], body)
    assert p.expect_continue
    assert p.body_pending
    assert first.endswith(b"Transfer-Encoding: chunked\r\n\r\n")


def test_other_expectation_is_not_continue() -> None:
    p = proto()
    p.start_request("PUT", "/", [("Expect", "something-else")], make_body(b"x"))
    assert not p.expect_continue
    assert not p.body_pending


# -- the response head -----------------------------------------------------------------------

HEADS: list[tuple[bytes, ResponseHead]] = [
    (
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        ResponseHead(200, b"OK", b"1.1", [(b"Content-Length", b"content-length", b"0")]),
    ),
    (
        b"HTTP/1.1 404 Not  Found \r\nX-Odd:\t a \t b\t \r\nSet-Cookie: a=1\r\n"
        b"set-cookie: b=2\r\nCONTENT-LENGTH:  0\r\n\r\n",
        ResponseHead(
            404,
            b"Not  Found ",
            b"1.1",
            [
                (b"X-Odd", b"x-odd", b"a \t b"),
                (b"Set-Cookie", b"set-cookie", b"a=1"),
                (b"set-cookie", b"set-cookie", b"b=2"),
                (b"CONTENT-LENGTH", b"content-length", b"0"),
            ],
        ),
    ),
    (
        b"HTTP/1.1 204\r\nX-Latin: caf\xe9 \xff\r\nX-Empty:\r\n\r\n",
        ResponseHead(
            204,
            b"",
            b"1.1",
            [(b"X-Latin", b"x-latin", b"caf\xe9 \xff"), (b"X-Empty", b"x-empty", b"")],
        ),
    ),
    (
        b"HTTP/1.0 599 \r\nX-Fold: a\r\n  b\r\nContent-Length: 0\r\n\r\n",
        ResponseHead(
            599,
            b"",
            b"1.0",
            [
                (b"X-Fold", b"x-fold", b"a b"),  # RFC 9112 section 5.2: obs-fold is one SP
                (b"Content-Length", b"content-length", b"0"),
            ],
        ),
    ),
]


@pytest.mark.parametrize("how", SPLITS)
@pytest.mark.parametrize("wire,expected", HEADS, ids=["plain", "repeats", "latin1", "fold"])
def test_head_is_reported_exactly_in_any_segmentation(
    wire: bytes, expected: ResponseHead, how: str | int
) -> None:
    p = proto()
    p.start_request("GET", "/", [], make_body(None))
    assert not p.response_started
    feed = Feed(split(wire, how), eof=False)
    head = final_head(p, feed)
    assert head == expected
    assert feed.pos == len(feed.pieces), "the head was reported before its last byte"
    assert p.response_started
    assert p.next_body() is END


def test_response_bytes_may_come_in_a_reused_memoryview() -> None:
    # The driver reads into one buffer and feeds views of it: nothing may refer to it later.
    buffer = bytearray(8)
    view = memoryview(buffer)
    p = proto()
    p.start_request("GET", "/", [], make_body(None))
    wire = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789"
    pieces: list[bytes] = []
    head: Any = NEED_DATA
    for i in range(0, len(wire), 8):
        chunk = wire[i : i + 8]
        buffer[: len(chunk)] = chunk
        p.receive_data(view[: len(chunk)])
        if head is NEED_DATA:
            head = p.next_head()
        if head is not NEED_DATA:
            piece = p.next_body()
            while piece is not NEED_DATA and piece is not END:
                pieces.append(piece)
                piece = p.next_body()
        buffer[:] = b"\xee" * 8  # the driver's next read overwrites the buffer
    assert head.items == [(b"Content-Length", b"content-length", b"10")]
    assert b"".join(pieces) == b"0123456789"


@pytest.mark.parametrize("how", ["whole", 1, "random-7"])
def test_interim_responses_are_skipped(how: str | int) -> None:
    wire = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 102 Processing\r\nX-Step: 1\r\n\r\n"
        b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
        b"HTTP/1.1 201 Created\r\nContent-Length: 3\r\n\r\nnew"
    )
    p = proto()
    p.start_request("GET", "/", [], make_body(None))
    feed = Feed(split(wire, how))
    head = final_head(p, feed)
    assert head == ResponseHead(
        201, b"Created", b"1.1", [(b"Content-Length", b"content-length", b"3")]
    )
    assert read_body(p, feed) == b"new"
    assert not feed.eof_sent
    assert p.verdict() is None


@pytest.mark.parametrize("how", ["whole", 1])
def test_continue_is_returned_while_the_body_waits(how: str | int) -> None:
    p = proto()
    first = p.start_request("PUT", "/", [("Expect", "100-continue")], make_body(b"data"))
    assert b"data" not in first
    feed = Feed(split(b"HTTP/1.1 100 Continue\r\n\r\n", how), eof=False)
    assert final_head(p, feed) is CONTINUE
    assert not p.expect_continue
    assert b"".join(p.frame(b"data")) == b"data"
    assert p.end_body() == b""
    # A second 100 after the first is just an interim response.
    feed = Feed(split(b"HTTP/1.1 100 Continue\r\n\r\n" + OK, how))
    assert final_head(p, feed).status_code == 200
    assert read_body(p, feed) == b"ok"
    assert p.verdict() is None


def test_continue_is_not_returned_when_not_expecting() -> None:
    p = proto()
    p.start_request("PUT", "/", [], make_body(b"data"))
    feed = Feed([b"HTTP/1.1 100 Continue\r\n\r\n", OK])
    assert final_head(p, feed).status_code == 200


def test_continue_is_not_returned_once_the_body_went_out() -> None:
    # The driver sent the body without waiting (the server was slow to answer).
    p = proto()
    p.start_request("PUT", "/", [("Expect", "100-continue")], make_body(b"data"))
    p.frame(b"data")
    p.end_body()
    assert p.expect_continue
    feed = Feed([b"HTTP/1.1 100 Continue\r\n\r\n", OK])
    assert final_head(p, feed).status_code == 200


def test_final_response_instead_of_continue_retires_the_connection() -> None:
    # RFC 9110 section 10.1.1: the server may answer at once; the body is then never sent.
    p = proto()
    p.start_request("PUT", "/", [("Expect", "100-continue")], make_body(b"data"))
    feed = Feed([b"HTTP/1.1 417 Expectation Failed\r\nContent-Length: 0\r\n\r\n"])
    head = final_head(p, feed)
    assert head.status_code == 417
    assert p.body_pending
    assert read_body(p, feed) == b""
    verdict = p.verdict()
    assert verdict is not None and "our side" in verdict


@pytest.mark.parametrize(
    "before", [b"", b"HTTP/1.1 100 Continue\r\n\r\n"], ids=["first", "after-100"]
)
def test_switching_protocols_is_refused(before: bytes) -> None:
    p = proto()
    p.start_request(
        "GET", "/", [("Upgrade", "websocket"), ("Connection", "upgrade")], make_body(None)
    )
    p.receive_data(before + b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n")
    with pytest.raises(keepalive.RemoteProtocolError, match="101"):
        p.next_head()


@pytest.mark.parametrize("how", ["whole", 5])
def test_interim_heads_are_bounded(how: str | int) -> None:
    interim = b"HTTP/1.1 103 Early Hints\r\n\r\n"
    p = proto()
    p.start_request("GET", "/", [], make_body(None))
    feed = Feed(split(interim * MAX_INTERIM + OK, how))
    assert final_head(p, feed).status_code == 200  # exactly the limit is fine

    p = proto()
    p.start_request("GET", "/", [], make_body(None))
    feed = Feed(split(interim * (MAX_INTERIM + 1) + OK, how))
    with pytest.raises(keepalive.RemoteProtocolError, match="interim"):
        final_head(p, feed)


def _big_reason() -> bytes:
    return b"HTTP/1.1 200 " + b"r" * 120_000 + b"\r\nContent-Length: 0\r\n\r\n"


def _big_whitespace() -> bytes:
    return b"HTTP/1.1 200 OK\r\nX-Ws: a" + b" \t" * 60_000 + b"b\r\nContent-Length: 0\r\n\r\n"


def _many_fields() -> bytes:
    fields = b"".join(b"X-F%05d: v\r\n" % i for i in range(6000))  # 13 bytes each: 78 000
    return b"HTTP/1.1 200 OK\r\n" + fields + b"Content-Length: 0\r\n\r\n"


def _interim_and_final() -> bytes:
    # Every byte before the final head counts, interim heads included.
    return (
        b"HTTP/1.1 103 Early Hints\r\nLink: " + b"l" * 40_000 + b"\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nX-Pad: " + b"p" * 30_000 + b"\r\nContent-Length: 0\r\n\r\n"
    )


@pytest.mark.parametrize("how", ["whole", 65_536, 4096, 1000, 1])
@pytest.mark.parametrize(
    "make",
    [_big_reason, _big_whitespace, _many_fields, _interim_and_final],
    ids=["reason", "whitespace", "fields", "interim"],
)
def test_oversized_head_is_refused(make: Any, how: str | int) -> None:
    wire = make() + b"body"
    p = proto()
    p.start_request("GET", "/", [], make_body(None))
    feed = Feed(split(wire, how))
    with pytest.raises(keepalive.RemoteProtocolError, match="over 64 KiB"):
        final_head(p, feed)
    assert not feed.eof_sent, "refused only at the end of the stream"


_PAD_START = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nX-Pad: "


def _pad(size: int) -> bytes:
    return b"p" * (size - len(_PAD_START) - 4)


def _head_of(size: int) -> bytes:
    """A response head of exactly ``size`` bytes that announces a 4-byte body."""
    head = _PAD_START + _pad(size) + b"\r\n\r\n"
    assert len(head) == size
    return head


@pytest.mark.parametrize("how", ["whole", 4096, 1, "random-5"])
@pytest.mark.parametrize("size", [MAX_HEAD_SIZE - 1, MAX_HEAD_SIZE])
def test_head_up_to_the_limit_is_accepted(size: int, how: str | int) -> None:
    # The body that follows does not count, however much of it comes with the head.
    p = proto()
    p.start_request("GET", "/", [], make_body(None))
    feed = Feed(split(_head_of(size) + b"body", how))
    head = final_head(p, feed)
    assert head.status_code == 200
    assert head.items[-1] == (b"X-Pad", b"x-pad", _pad(size))
    assert read_body(p, feed) == b"body"


@pytest.mark.parametrize("how", ["whole", 1])
def test_head_one_byte_over_the_limit_is_refused(how: str | int) -> None:
    p = proto()
    p.start_request("GET", "/", [], make_body(None))
    with pytest.raises(keepalive.RemoteProtocolError, match="over 64 KiB"):
        final_head(p, Feed(split(_head_of(MAX_HEAD_SIZE + 1) + b"body", how)))


def test_small_head_with_a_large_body_in_one_piece_is_fine() -> None:
    body = b"b" * (3 * MAX_HEAD_SIZE)
    p = proto()
    p.start_request("GET", "/", [], make_body(None))
    feed = Feed([b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body])
    assert final_head(p, feed).status_code == 200
    assert read_body(p, feed) == body


def test_smaller_head_limit_is_honoured() -> None:
    p = ClientProtocol(HOST, max_head_size=1024)
    p.start_request("GET", "/", [], make_body(None))
    with pytest.raises(keepalive.RemoteProtocolError, match="over 1 KiB"):
        final_head(p, Feed([_head_of(1025)]))


@pytest.mark.parametrize(
    "wire",
    [b"", b"HTTP/1.1 200 OK\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"],
    ids=["nothing", "status-line", "half-head"],
)
def test_end_of_stream_in_a_head_is_a_remote_protocol_error(wire: bytes) -> None:
    p = proto()
    p.start_request("GET", "/", [], make_body(None))
    with pytest.raises(keepalive.RemoteProtocolError):
        final_head(p, Feed([wire]))


@pytest.mark.parametrize(
    "wire",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/2 200 OK\r\n\r\n",
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nBad Name: 1\r\n\r\n",
    ],
    ids=["two-lengths", "negative", "gzip-only", "status", "version", "tls", "name"],
)
def test_malformed_head_is_a_remote_protocol_error(wire: bytes) -> None:
    p = proto()
    p.start_request("GET", "/", [], make_body(None))
    p.receive_data(wire)
    with pytest.raises(keepalive.RemoteProtocolError, match="the test server") as info:
        p.next_head()
    assert isinstance(info.value.__cause__, h11.RemoteProtocolError)


# -- the response body -----------------------------------------------------------------------

PAYLOAD = random.Random(9).randbytes(5000)
CHUNKED = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"a;ext=1\r\n" + PAYLOAD[:10] + b"\r\n"
    b"FA0\r\n" + PAYLOAD[10:4010] + b"\r\n"
    b'3de;q="x;y"\r\n' + PAYLOAD[4010:] + b"\r\n"
    b"0\r\nX-Trailer: t\r\n\r\n"
)
BODIES = {
    "length": b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + PAYLOAD,
    "chunked": CHUNKED,
    "close": b"HTTP/1.1 200 OK\r\nX-A: b\r\n\r\n" + PAYLOAD,
}


@pytest.mark.parametrize("how", SPLITS)
@pytest.mark.parametrize("framing", list(BODIES))
def test_body_pieces_make_the_body(framing: str, how: str | int) -> None:
    p = proto()
    p.start_request("GET", "/", [], make_body(None))
    feed = Feed(split(BODIES[framing], how), eof=framing == "close")
    assert final_head(p, feed).status_code == 200
    assert p.body_left == (5000 if framing == "length" else None)
    assert read_body(p, feed) == PAYLOAD
    assert feed.eof_sent == (framing == "close")  # only a close-delimited body needs the EOF
    if framing == "length":
        assert p.body_left == 0
    verdict = p.verdict()
    if framing == "close":
        assert verdict is not None and "close-delimited" in verdict
    else:
        assert verdict is None


@pytest.mark.parametrize(
    "wire",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n0\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1",
    ],
    ids=["length-half", "length-none", "chunk-half", "no-last-chunk", "no-final-crlf", "size"],
)
@pytest.mark.parametrize("how", ["whole", 1])
def test_end_of_stream_inside_a_body_is_a_remote_protocol_error(
    wire: bytes, how: str | int
) -> None:
    p = proto()
    p.start_request("GET", "/", [], make_body(None))
    feed = Feed(split(wire, how))
    assert final_head(p, feed).status_code == 200
    with pytest.raises(keepalive.RemoteProtocolError, match="the test server"):
        read_body(p, feed)
    assert feed.eof_sent


@pytest.mark.parametrize(
    "wire",
    [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY",
    ],
    ids=["size", "no-crlf"],
)
def test_malformed_chunk_is_a_remote_protocol_error(wire: bytes) -> None:
    p = proto()
    p.start_request("GET", "/", [], make_body(None))
    feed = Feed([wire], eof=False)
    assert final_head(p, feed).status_code == 200
    with pytest.raises(keepalive.RemoteProtocolError, match=r"broke HTTP/1\.1"):
        read_body(p, feed)


@pytest.mark.parametrize(
    "method,wire",
    [
        ("HEAD", b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"),
        ("HEAD", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
        ("GET", b"HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n"),
        ("GET", b"HTTP/1.1 304 Not Modified\r\nContent-Length: 1000\r\n\r\n"),
        ("GET", b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ],
    ids=["head-length", "head-chunked", "204", "304", "empty"],
)
def test_bodiless_responses_end_at_once(method: str, wire: bytes) -> None:
    # RFC 9110 sections 9.3.2, 15.3.5, 15.4.5: no body, whatever the head announces.
    p = proto()
    _, body, verdict = cycle(p, wire, method)
    assert p.body_left == 0
    assert body == b""
    assert verdict is None
    p.start_next_cycle()
    assert cycle(p, OK)[1:] == (b"ok", None)


def _direct(p: ClientProtocol, wire: bytes, first: int) -> tuple[bytes, Feed]:
    """Read a response head and the ``first`` body bytes that came with it; the rest stays
    unfed (a driver reads it with ``direct_budget``)."""
    p.start_request("GET", "/", [], make_body(None))
    cut = wire.index(b"\r\n\r\n") + 4 + first
    feed = Feed([wire[:cut], wire[cut:]], eof=False)
    assert isinstance(final_head(p, feed), ResponseHead)
    assert feed.pos == 1
    got = bytearray()
    for _ in range(first + 2):
        piece = p.next_body()
        if piece is NEED_DATA:
            return bytes(got), feed
        assert piece is not END
        got += piece
    raise AssertionError("h11 never ran out of body bytes")


def test_content_length_remainder_is_read_directly() -> None:
    size = BIG + 5000
    payload = random.Random(3).randbytes(size)
    p = proto()
    with_head, feed = _direct(
        p, b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size + payload, 1000
    )
    assert with_head == payload[:1000]
    assert p.body_left == size - 1000
    assert p.reading_direct  # nothing of the body is held: the rest comes from the socket
    budget = p.direct_budget()
    assert budget == size - 1000
    assert p.reading_direct
    assert p.direct_budget() == size - 1000  # asking again changes nothing
    first = feed.take(100_000)
    assert p.direct_received(len(first)) is False
    assert p.body_left == size - 101_000
    assert p.direct_budget() == size - 101_000
    rest = feed.take(p.direct_budget())
    assert p.direct_received(len(rest)) is True
    assert p.body_left == 0
    assert with_head + first + rest == payload
    assert p.verdict() is None
    # h11 never saw those bytes: the next cycle starts afresh and works.
    p.start_next_cycle()
    assert p.is_clean
    assert not p.reading_direct
    head, body, verdict = cycle(p, OK, how=1)
    assert (head.status_code, body, verdict) == (200, b"ok", None)


@pytest.mark.parametrize("how", SPLITS)
def test_a_content_length_body_never_goes_through_h11(how: str | int) -> None:
    """Whatever the segmentation, a Content-Length body comes back byte for byte without
    h11 body events, whether the driver reads the rest itself (``direct_budget``) or feeds it
    with ``receive_data``; the next cycle starts from a fresh h11 state."""
    payload = random.Random(7).randbytes(999)
    wire = b"HTTP/1.1 200 OK\r\nContent-Length: 999\r\n\r\n" + payload
    for driver in ("direct", "fed"):
        p = proto()
        p.start_request("GET", "/", [], make_body(None))
        feed = Feed(split(wire, how), eof=False)
        assert isinstance(final_head(p, feed), ResponseHead)
        assert p.reading_direct or p.next_body() is not NEED_DATA  # held bytes come first
        p = proto()
        p.start_request("GET", "/", [], make_body(None))
        feed = Feed(split(wire, how), eof=False)
        assert isinstance(final_head(p, feed), ResponseHead)
        got = bytearray()
        for _ in range(2 * feed.bound):
            piece = p.next_body()
            if piece is END:
                break
            if piece is NEED_DATA:
                if driver == "direct":
                    budget = p.direct_budget()
                    assert budget == p.body_left > 0
                    chunk = feed.take(min(budget, 100))
                    assert p.direct_received(len(chunk)) is (len(chunk) == budget)
                    got += chunk
                else:
                    feed.more(p)
                continue
            got += piece
        assert bytes(got) == payload
        assert p.body_left == 0 and p.verdict() is None
        p.start_next_cycle()
        assert cycle(p, OK)[1:] == (b"ok", None)


@pytest.mark.parametrize(
    "extra", [b"X", b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"], ids=["byte", "response"]
)
@pytest.mark.parametrize("how", ["whole", 1, 5])
def test_bytes_after_a_content_length_body_retire_the_connection(
    extra: bytes, how: str | int
) -> None:
    """More than Content-Length bytes in the stream answer nothing we sent (RFC 9112 section
    9.3): the body is cut at its length and the connection is not reused."""
    p = proto()
    p.start_request("GET", "/", [], make_body(None))
    feed = Feed(split(OK + extra, how), eof=False)
    assert final_head(p, feed).status_code == 200
    assert read_body(p, feed) == b"ok"
    while feed.pos < len(feed.pieces):  # a driver would see the stray bytes eventually
        feed.more(p)
    verdict = p.verdict()
    assert verdict is not None and "stray bytes" in verdict


def test_chunked_body_is_never_read_directly() -> None:
    size = 2 * BIG
    p = proto()
    wire = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n" % size
        + b"c" * size
        + b"\r\n0\r\n\r\n"
    )
    p.start_request("GET", "/", [], make_body(None))
    p.receive_data(wire[:100])
    assert isinstance(p.next_head(), ResponseHead)
    assert p.body_left is None
    p.next_body()
    assert p.next_body() is NEED_DATA
    assert p.direct_budget() == 0


def test_end_of_stream_during_a_direct_read() -> None:
    size = BIG
    p = proto()
    _direct(p, b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size + b"d" * size, 0)
    assert p.direct_budget() == size
    assert p.direct_received(10) is False
    with pytest.raises(keepalive.RemoteProtocolError, match=f"{size - 10} bytes before the end"):
        p.direct_received(0)
    assert p.verdict() is not None


def test_direct_read_with_connection_close_retires() -> None:
    size = BIG
    p = proto()
    wire = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % size
    _direct(p, wire + b"d" * size, 0)
    assert p.direct_budget() == size
    assert p.direct_received(size) is True
    verdict = p.verdict()
    assert verdict is not None and "asked to close" in verdict


# -- Keep-Alive hints and the verdict --------------------------------------------------------


def test_keep_alive_hint_is_read() -> None:
    p = proto()
    assert (p.idle_timeout_hint, p.requests_left) == (None, None)
    wire = b"HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5, max=3\r\nContent-Length: 2\r\n\r\nok"
    assert cycle(p, wire)[1:] == (b"ok", None)
    assert p.idle_timeout_hint == 5.0
    assert p.requests_left == 3


@pytest.mark.parametrize(
    "value,timeout,left",
    [
        (b'TimeOut="15" ,MAX=100', 15.0, 100),
        (b"max=7", None, 7),
        (b"timeout=2.5", 2.5, None),
        (b"timeout=soon, max=many, foo=1, bar", None, None),
        (b"timeout=, max=", None, None),
        (b"max=4, timeout=60, max=2", 60.0, 2),
    ],
)
def test_keep_alive_hint_forms(value: bytes, timeout: float | None, left: int | None) -> None:
    p = proto()
    cycle(p, b"HTTP/1.1 200 OK\r\nKeep-Alive: " + value + b"\r\nContent-Length: 0\r\n\r\n")
    assert p.idle_timeout_hint == timeout
    assert p.requests_left == left


def test_keep_alive_max_counts_down_when_not_restated() -> None:
    p = proto()
    counts: list[tuple[int | None, str | None]] = []
    responses = [
        b"HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5, max=3\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\nok",
        OK,
        OK,
    ]
    for wire in responses:
        _, body, verdict = cycle(p, wire)
        assert body == b"ok"
        counts.append((p.requests_left, verdict))
        if verdict is None:
            p.start_next_cycle()
    assert [c[0] for c in counts] == [3, 2, 1, 0]
    assert counts[0][1] is None and counts[1][1] is None and counts[2][1] is None
    assert counts[3][1] is not None and "max" in counts[3][1]
    assert p.idle_timeout_hint == 5.0  # kept while later heads say nothing new


def test_restated_max_replaces_the_count() -> None:
    p = proto()
    for wire, left in [
        (b"HTTP/1.1 200 OK\r\nKeep-Alive: max=2\r\nContent-Length: 0\r\n\r\n", 2),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 1),
        (b"HTTP/1.1 200 OK\r\nKeep-Alive: max=9\r\nContent-Length: 0\r\n\r\n", 9),
    ]:
        assert cycle(p, wire)[2] is None
        assert p.requests_left == left
        p.start_next_cycle()


@pytest.mark.parametrize(
    "wire,reason",
    [
        (
            b"HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 2\r\n\r\nok",
            "asked to close",
        ),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", "asked to close"),
        (b"HTTP/1.1 200 OK\r\n\r\nok", "close-delimited"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n", "stray bytes"),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\nX",
            "stray bytes",
        ),
        (b"HTTP/1.1 200 OK\r\nKeep-Alive: max=0\r\nContent-Length: 2\r\n\r\nok", "max"),
        (b"HTTP/1.1 200 OK\r\nKeep-Alive: timeout=1\r\nContent-Length: 2\r\n\r\nok", "timeout"),
        (b"HTTP/1.1 200 OK\r\nKeep-Alive: timeout=0\r\nContent-Length: 2\r\n\r\nok", "timeout"),
    ],
    ids=[
        "connection-close",
        "http10",
        "close-delimited",
        "stray-response",
        "stray-after-chunked",
        "max-0",
        "timeout-1",
        "timeout-0",
    ],
)
@pytest.mark.parametrize("how", ["whole", 1])
def test_verdict_names_why_the_connection_retires(wire: bytes, reason: str, how: str | int) -> None:
    p = proto()
    p.start_request("GET", "/", [], make_body(None))
    feed = Feed(split(wire, how))
    assert final_head(p, feed).status_code == 200
    assert read_body(p, feed) == b"ok"
    while feed.pos < len(feed.pieces):  # a driver would see the stray bytes eventually
        feed.more(p)
    verdict = p.verdict()
    assert verdict is not None
    assert reason in verdict


def test_our_connection_close_retires() -> None:
    p = proto()
    p.start_request("GET", "/", [("Connection", "close")], make_body(None))
    feed = Feed([OK])
    assert final_head(p, feed).status_code == 200
    assert read_body(p, feed) == b"ok"
    assert p.verdict() is not None


@pytest.mark.parametrize("how", ["whole", 1, "random-4"])
def test_clean_cycles_run_one_after_another(how: str | int) -> None:
    p = proto()
    wire = b"HTTP/1.1 200 OK\r\nKeep-Alive: timeout=2\r\nContent-Length: 5\r\n\r\nfirst"
    for i in range(3):
        assert p.is_clean
        body = make_body(b"x" * i)
        first = p.start_request("POST", f"/{i}", [], body)
        seen = server_sees(send_all(p, first, body))
        assert (seen.target, seen.body) == (f"/{i}".encode(), b"x" * i)
        feed = Feed(split(wire, how), eof=False)
        assert final_head(p, feed).status_code == 200
        assert read_body(p, feed) == b"first"
        assert p.verdict() is None
        assert not p.is_clean
        p.start_next_cycle()
        assert not p.response_started
        assert p.body_left is None
    assert p.idle_timeout_hint == 2.0


def test_verdict_after_head_and_body_arrive_in_one_piece_with_the_next_cycle() -> None:
    p = proto()
    assert cycle(p, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")[1:] == (b"", None)
    p.start_next_cycle()
    _, body, verdict = cycle(p, BODIES["chunked"], how=3)
    assert (body, verdict) == (PAYLOAD, None)


# -- CONNECT ---------------------------------------------------------------------------------


def test_connect_request_as_a_proxy_sees_it() -> None:
    p = ClientProtocol("proxy.test:3128")
    data = p.start_request("CONNECT", "host:443", [("Host", "host:443")], make_body(None))
    assert data == b"CONNECT host:443 HTTP/1.1\r\nHost: host:443\r\n\r\n"
    assert not p.body_pending
    seen = server_sees(data)
    assert (seen.method, seen.target) == (b"CONNECT", b"host:443")
    assert seen.headers == [(b"Host", b"host:443")]


@pytest.mark.parametrize("how", ["whole", 1, "random-9"])
@pytest.mark.parametrize("tunnel", [b"", b"\x16\x03\x01\x02\x00\x01", b"HTTP/1.1 200 OK\r\n\r\n"])
def test_connect_tunnel_hands_over_the_bytes_after_the_head(tunnel: bytes, how: str | int) -> None:
    p = ClientProtocol("proxy.test:3128")
    p.start_request("CONNECT", "host:443", [("Host", "host:443")], make_body(None))
    wire = b"HTTP/1.1 200 Connection established\r\nVia: proxy\r\n\r\n"
    pieces = split(wire + tunnel, how)
    feed = Feed(pieces, eof=False)
    head = final_head(p, feed)
    assert head == ResponseHead(
        200, b"Connection established", b"1.1", [(b"Via", b"via", b"proxy")]
    )
    # What arrived with the head (in whichever segment) is the tunnel's, plus any left unfed.
    unfed = b"".join(feed.pieces[feed.pos :])
    assert p.tunnel_established() + unfed == tunnel


def test_connect_refused_by_the_proxy_has_a_readable_body() -> None:
    p = ClientProtocol("proxy.test:3128")
    p.start_request("CONNECT", "host:443", [("Host", "host:443")], make_body(None))
    feed = Feed([b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 4\r\n\r\nnope"])
    head = final_head(p, feed)
    assert head.status_code == 407
    assert read_body(p, feed) == b"nope"


# -- the cache of request shapes (_h1._SHAPES) ------------------------------------------------


def _frame(p: ClientProtocol, method: str | bytes, pairs: list[Any], body: Any = None) -> bytes:
    data = p.start_request(method, "/x", list(pairs), make_body(body))
    p.receive_data(OK)
    while p.next_head() is NEED_DATA:
        pass
    while p.next_body() is not END:
        pass
    p.start_next_cycle()
    return data


@pytest.mark.parametrize("method", ["GET", "POST", b"DELETE", "PUT", "OPTIONS"])
def test_a_repeated_request_shape_frames_the_same_bytes(method: str | bytes) -> None:
    """The second framing of a shape comes from the cache: it must be byte for byte what
    the first was, for methods with and without an implied Content-Length: 0."""
    from keepalive import _h1

    pairs = [("User-Agent", "t/1"), ("Accept", "*/*"), ("X-Shape", f"{method!r}")]
    p = proto()
    first = _frame(p, method, pairs)
    assert (method, HOST, *pairs) in _h1._SHAPES
    assert _frame(p, method, pairs) == first
    assert _frame(proto(), method, pairs) == first  # another connection, same host
    head = first.split(b"\r\n\r\n")[0].lower()
    assert (b"content-length: 0" in head) == (method in ("POST", "PUT"))
    assert head.count(b"host: ") == 1


def test_a_cached_shape_is_per_host_method_and_fields() -> None:
    pairs = [("X-Per", "host")]
    a = _frame(ClientProtocol("a.test"), "GET", pairs)
    b = _frame(ClientProtocol("b.test"), "GET", pairs)
    assert b"Host: a.test\r\n" in a and b"Host: b.test\r\n" in b
    post = _frame(ClientProtocol("a.test"), "POST", pairs)
    assert b"Content-Length: 0" in post and b"Content-Length" not in a
    own_host = _frame(ClientProtocol("a.test"), "GET", [*pairs, ("Host", "c.test")])
    assert b"Host: c.test\r\n" in own_host and b"a.test" not in own_host
    with_body = _frame(ClientProtocol("a.test"), "GET", pairs, b"abc")
    assert b"Content-Length: 3\r\n" in with_body and with_body.endswith(b"abc")


@pytest.mark.parametrize("secret", ["Authorization", "proxy-authorization", "Cookie"])
def test_credentials_never_enter_the_shape_cache(secret: str) -> None:
    from keepalive import _h1

    pairs = [("X-Secret-Test", secret), (secret, "Basic c2VjcmV0")]
    p = proto()
    _frame(p, "GET", pairs)
    _frame(p, "GET", pairs)
    cached = [key for key in _h1._SHAPES if any(isinstance(f, tuple) and f in pairs for f in key)]
    assert cached == []
    assert all(key[0].lower() != secret.lower() for key in _h1._FIELDS)


def test_a_bad_field_is_refused_every_time_not_cached() -> None:
    pairs = [("X-Bad", "a\r\nInjected: 1")]
    for _ in range(2):
        with pytest.raises(keepalive.LocalProtocolError):
            proto().start_request("GET", "/", list(pairs), make_body(None))
    with pytest.raises(keepalive.InvalidArgumentType, match="value 5"):
        proto().start_request("GET", "/", [("X-Int", 5)], make_body(None))
    p = proto()
    with pytest.raises(keepalive.LocalProtocolError, match="0 bytes"):
        p.start_request("GET", "/", [("Content-Length", "5")], make_body(None))
    assert p.is_clean


def test_the_shape_cache_keeps_caching_new_hosts_when_full() -> None:
    from keepalive import _h1

    pairs = [("X-Many", "hosts")]
    for i in range(_h1._SHAPES_MAX + 10):
        _frame(ClientProtocol(f"host{i}.test"), "GET", pairs)
    assert len(_h1._SHAPES) <= _h1._SHAPES_MAX
    last = ("GET", f"host{_h1._SHAPES_MAX + 9}.test", *pairs)
    assert last in _h1._SHAPES, "a full cache must still take the newest shape"
    assert ("GET", "host0.test", *pairs) not in _h1._SHAPES  # the oldest went first
    assert len(_h1._FIELDS) <= _h1._FIELDS_MAX


def test_validated_fields_iterate_as_h11_headers_do() -> None:
    """The validated fields iterate fast (``_Fields``), and must iterate exactly as h11's own
    ``Headers``: h11 counts ``Host`` fields through that iteration."""
    from keepalive import _h1

    pairs = [("Host", "a.test"), ("X-One", "1"), ("x-two", "2")]
    fields, _ = _h1._validated(list(pairs))
    plain = h11.Request(method="GET", target="/", headers=list(pairs)).headers
    assert list(fields) == list(plain) == [(b"host", b"a.test"), (b"x-one", b"1"), (b"x-two", b"2")]
    assert fields == plain and fields.raw_items() == plain.raw_items()
    for twice in ([("Host", "a.test"), ("host", "b.test")], [("Host", "a.test"), ("X", "1")] * 2):
        for _ in range(2):  # refused every time, never cached
            with pytest.raises(keepalive.LocalProtocolError, match="multiple Host"):
                proto().start_request("GET", "/", list(twice), make_body(None))


def test_a_repeated_request_reuses_its_validated_event_per_target() -> None:
    """A cached shape remembers its h11 requests by target: a repeat frames the same bytes
    from the same frozen event; another target gets its own; a bad target is refused
    every time and never remembered; the memory per shape is bounded."""
    from keepalive import _h1

    pairs = [("X-Event-Cache", "1")]
    first = _frame(proto(), "GET", pairs)
    shape = _h1._SHAPES[("GET", HOST, *pairs)]
    assert "/x" in shape.events
    event = shape.events["/x"]
    assert _frame(proto(), "GET", pairs) == first and shape.events["/x"] is event
    other = proto().start_request("GET", "/other?q=1", list(pairs), make_body(None))
    assert other.startswith(b"GET /other?q=1 HTTP/1.1\r\n")
    assert shape.events["/other?q=1"].target == b"/other?q=1" and shape.events["/x"] is event
    for _ in range(2):
        with pytest.raises(keepalive.LocalProtocolError, match="target"):
            proto().start_request("GET", "/bad target", list(pairs), make_body(None))
    assert "/bad target" not in shape.events
    for i in range(_h1._EVENTS_MAX + 5):
        proto().start_request("GET", f"/n{i}", list(pairs), make_body(None))
    assert len(shape.events) <= _h1._EVENTS_MAX
    assert f"/n{_h1._EVENTS_MAX + 4}" in shape.events  # the newest is kept
    # A bytes target and a str target are separate entries, framed alike.
    assert proto().start_request("GET", b"/x", list(pairs), make_body(None)) == first


@pytest.mark.parametrize(
    ("value", "close"),
    [
        (b"close", True),
        (b"Close", True),
        (b"keep-alive, close", True),
        (b" upgrade ,CLOSE ", True),
        (b"keep-alive", False),
        (b"closed", False),
        (b"x-close, keep-alive", False),
    ],
)
def test_connection_close_is_read_as_a_token(value: bytes, close: bool) -> None:
    """``Connection`` is a token list (RFC 9110 section 7.6.1): "close" anywhere in it, in any
    case, asks to close; a token merely containing "close" does not. The hint decides reuse
    after a body read past h11, where h11's own state is not consulted."""
    p = proto()
    p.start_request("GET", "/", [], make_body(None))
    p.receive_data(b"HTTP/1.1 200 OK\r\nConnection: " + value + b"\r\nContent-Length: 2\r\n\r\n")
    assert final_head(p, Feed([])).status_code == 200
    assert p._their_close is close
