"""Properties of the sans-I/O HTTP/1.1 core (``keepalive._h1``), with bytes alone.

No socket, thread or timeout is involved: an example costs little more than generating it,
and these properties carry the protocol's coverage, so that the socket-level ones
(``test_prop_response_roundtrip.py``, ``test_prop_request_roundtrip.py``,
``test_prop_fuzz.py``) need only enough examples to show that the driver moves the bytes.

1. Response round trip: any well-formed response (as ``strategies.responses`` makes them),
   fed in arbitrary segments, is reported exactly (status, reason, version, every field in
   order with repeats, body bytes, read through h11 or directly as the driver does) and the
   verdict on reuse matches its framing and hints; when it allows reuse, a second cycle on
   the same object reads the next response exactly.
2. Request round trip: any request (as ``strategies.requests`` makes them) framed by the
   protocol is parsed by an h11 server into exactly that request.
3. Fuzz: arbitrary bytes, or a mutated valid response, fed in arbitrary segments, never make
   the protocol raise anything but ``RemoteProtocolError``, and every call returns, so a
   driver's loop ends within a bound set by the bytes it was given.
"""

from __future__ import annotations

from typing import Any

import h11
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

import keepalive
from keepalive._h1 import (
    CONTINUE,
    END,
    NEED_DATA,
    SMALL_BODY,
    ClientProtocol,
    ResponseHead,
)
from keepalive._request import header_pairs, make_body

from .harness import budget
from .strategies import (
    RequestSpec,
    ResponseSpec,
    junk_responses,
    pieces,
    plain_response,
    pseudo_random_bytes,
    requests,
    responses,
)

HOST = "example.test:8080"
WHERE = "the scripted peer"
STREAMED = frozenset({"iterator", "bytesio", "tempfile", "reader"})
GOOD = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ngood"


class Wire:
    """The bytes a peer sends, segment by segment, and maybe then the end of the stream."""

    def __init__(self, segments: list[bytes], *, eof: bool) -> None:
        self.segments = [s for s in segments if s]
        self.pos = 0
        self.eof = eof
        self.eof_sent = False

    def feed(self, p: ClientProtocol) -> bool:
        """Give ``p`` the next segment or the end of the stream; False when nothing is left."""
        if self.pos < len(self.segments):
            p.receive_data(self.segments[self.pos])
            self.pos += 1
            return True
        if self.eof and not self.eof_sent:
            self.eof_sent = True
            p.receive_data(b"")
            return True
        return False

    def take(self, n: int) -> bytes:
        """Up to ``n`` unfed bytes, as a direct read from the socket gets them."""
        rest = b"".join(self.segments[self.pos :])
        self.segments[self.pos :] = [rest[n:]] if rest[n:] else []
        return rest[:n]

    def unfed(self) -> bytes:
        return b"".join(self.segments[self.pos :])


class Stalled(Exception):
    """The protocol wants more bytes and the peer has none left (a driver would time out)."""


class Driver:
    """What ``connection.py`` does with the protocol, minus the socket, counting calls."""

    def __init__(self, p: ClientProtocol, peer: Wire) -> None:
        self.p = p
        self.peer = peer
        self.calls = 0

    def _more(self) -> None:
        if not self.peer.feed(self.p):
            raise Stalled

    def head(self, body: Any = None) -> ResponseHead:
        """The final head; on CONTINUE the held-back ``body`` goes out, as the driver does."""
        while True:
            self.calls += 1
            got = self.p.next_head()
            if got is NEED_DATA:
                self._more()
            elif got is CONTINUE:
                assert self.p.body_pending
                self.p.frame(body)
                self.p.end_body()
            else:
                assert isinstance(got, ResponseHead)
                return got

    def body(self) -> bytes:
        """Every body byte up to its end, reading a large remainder directly when allowed."""
        p = self.p
        out = bytearray()
        while True:
            self.calls += 1
            if p.reading_direct:
                left = p.body_left or 0
                if left <= 0:
                    return bytes(out)
                data = self.peer.take(min(left, 100_000))
                if not data and not self.peer.eof:
                    raise Stalled
                out += data
                if p.direct_received(len(data)):
                    return bytes(out)
                continue
            piece = p.next_body()
            if piece is END:
                return bytes(out)
            if piece is NEED_DATA:
                if not p.direct_budget():
                    self._more()
                continue
            assert len(piece) > 0, "an empty body piece"
            out += piece


def expected_reason(spec: ResponseSpec) -> str:
    """Which rule retires the connection after ``spec`` on a fresh one (``verdict``'s order)."""
    if spec.framing == "close":
        return "close-delimited"
    if spec.close_token or spec.version == "1.0":
        return "asked to close"
    if spec.max_hint is not None and spec.max_hint <= 0:
        return "Keep-Alive max"
    return "Keep-Alive timeout"


# -- 1. response round trip -------------------------------------------------------------------


# Bodies larger than one read (a Content-Length body of any size is read past h11; these
# make the driver read it in several direct reads).
BIG = 256 * 1024
LARGE = st.builds(
    pseudo_random_bytes,
    st.integers(BIG, 2 * BIG),
    st.integers(0, 2**32 - 1),
)
FIRST = st.one_of(
    responses(method="GET"),
    responses(method="GET"),
    responses(method="HEAD"),
    responses(method="GET", body=LARGE, framings=("length",), statuses=st.just(200)),
)
SECOND = st.builds(plain_response, st.binary(max_size=3000))


@st.composite
def exchanges(draw: st.DrawFn) -> tuple[ResponseSpec, list[bytes], ResponseSpec, list[bytes]]:
    """A first response (to GET or HEAD) and a plain second one, each cut into segments;
    often the first is cut where its head ends, as a driver's first read may find it (so a
    large Content-Length body is then read directly)."""
    first = draw(FIRST)
    wire = first.wire
    if draw(st.integers(0, 2)) == 0:
        segments = [wire[: first.head_length], *draw(pieces(wire[first.head_length :]))]
    else:
        segments = draw(pieces(wire))
    second = draw(SECOND)
    return first, segments, second, draw(pieces(second.wire))


def check_head(head: ResponseHead, spec: ResponseSpec) -> None:
    assert head.status_code == spec.status
    assert head.reason == spec.reason.encode("latin-1")
    assert head.http_version == spec.version.encode("ascii")
    reported = [(raw.decode("latin-1"), value.decode("latin-1")) for raw, _, value in head.items]
    assert reported == spec.expected_headers
    assert all(lower == raw.lower() for raw, lower, _ in head.items)


@settings(max_examples=budget(2.0))
@given(exchange=exchanges())
def test_response_is_reported_exactly_in_any_segmentation(
    exchange: tuple[ResponseSpec, list[bytes], ResponseSpec, list[bytes]],
) -> None:
    spec, segments, second, second_segments = exchange
    p = ClientProtocol(HOST, where=WHERE)
    p.start_request("HEAD" if spec.for_head else "GET", "/first", [], make_body(None))
    peer = Wire(segments, eof=spec.server_closes)
    drive = Driver(p, peer)
    check_head(drive.head(), spec)
    assert drive.body() == spec.expected_body
    event(f"framing: {spec.framing}" + (", read directly" if p.reading_direct else ""))
    # Only a close-delimited body needs the end of the stream, and nothing is left over.
    assert peer.eof_sent == (spec.framing == "close")
    assert peer.unfed() == b""
    assert p.body_left == (None if spec.framing in ("chunked", "close") else 0)
    verdict = p.verdict()
    event(f"verdict: {verdict}")
    if not spec.keeps_fresh_connection:
        assert verdict is not None
        assert expected_reason(spec) in verdict
        return
    assert verdict is None, verdict
    assert p.idle_timeout_hint == (None if spec.hint is None else spec.hint.timeout)
    assert p.requests_left == spec.max_hint

    # The same object carries a second cycle: no byte of the first was lost or left behind.
    p.start_next_cycle()
    assert p.is_clean
    p.start_request("GET", "/second", [], make_body(None))
    drive = Driver(p, Wire(second_segments, eof=False))
    check_head(drive.head(), second)
    assert drive.body() == second.expected_body
    verdict = p.verdict()
    # The second head did not restate max: the count goes on from the first (Apache's 4, 3...).
    assert p.requests_left == (None if spec.max_hint is None else spec.max_hint - 1)
    if spec.max_hint == 1:
        assert verdict is not None and "Keep-Alive max" in verdict
    else:
        assert verdict is None, verdict


# -- 2. request round trip --------------------------------------------------------------------


def server_parses(data: bytes) -> tuple[h11.Request, bytes]:
    """``data`` as an h11 server reads it: exactly one whole request, nothing after it."""
    server = h11.Connection(h11.SERVER, max_incomplete_event_size=1 << 20)
    server.receive_data(data)
    request: h11.Request | None = None
    body = bytearray()
    for _ in range(len(data) + 3):
        got = server.next_event()
        if type(got) is h11.Request:
            request = got
        elif type(got) is h11.Data:
            body += got.data
        elif type(got) is h11.EndOfMessage:
            assert request is not None
            assert server.trailing_data == (b"", False), "bytes after the request"
            return request, bytes(body)
        else:
            raise AssertionError(f"the server got {got!r} instead of a whole request")
    raise AssertionError("the server never saw the end of the request")


@settings(max_examples=budget(2.0))
@given(spec=requests())
# A caller's Content-Length given as bytes, and a bodiless POST given as bytes (both found
# by the socket round trip, kept here where they are cheap).
@example(
    spec=RequestSpec(
        "GET", "/", [(b"Content-Length", b"1")], "list", "bytes", b"\x00", declared="length"
    )
)
@example(spec=RequestSpec("POST", "/", [], "list", "none", b"", method_as_bytes=True))
def test_request_is_framed_as_given(spec: RequestSpec) -> None:
    arg, to_close = spec.body_arg()
    try:
        body = make_body(arg)
        p = ClientProtocol(HOST, where=WHERE)
        assert p.is_clean
        out = [
            p.start_request(spec.method_arg, spec.target, header_pairs(spec.headers_arg()), body)
        ]
        assert not p.is_clean
        assert p.body_pending == (spec.body_kind in STREAMED or len(spec.payload) > SMALL_BODY)
        if p.body_pending:
            chunks = iter([body.data]) if body.stream is None else body.chunks()
            for chunk in chunks:
                if chunk:
                    out += [bytes(piece) for piece in p.frame(chunk)]
            out.append(p.end_body())
        assert not p.body_pending
    finally:
        if to_close is not None:
            to_close.close()
    request, received = server_parses(b"".join(out))
    assert request.method == spec.method.encode("ascii")
    assert request.target == spec.target.encode("ascii")
    assert received == spec.payload
    fields = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in request.headers.raw_items()]
    assert fields == spec.expected_fields(HOST)


# -- 3. fuzz ----------------------------------------------------------------------------------

REQUESTS = {
    "GET": ("GET", [], None),
    "HEAD": ("HEAD", [], None),
    "POST-expect": ("POST", [("Expect", "100-continue")], b"payload"),
}


@st.composite
def junk_deliveries(draw: st.DrawFn) -> tuple[str, list[bytes], bool]:
    raw = draw(junk_responses())
    return draw(st.sampled_from(sorted(REQUESTS))), draw(pieces(raw)), draw(st.booleans())


@settings(max_examples=budget(5.0))
@given(delivery=junk_deliveries())
@example(delivery=("GET", [b"HTTP/1.1 200 \x01\nContent-Length:0\nC:\nK:\n\n"], False))
@example(delivery=("GET", [b"HTTP/1.1 200 OK\r\nContent-Length: 999999\r\n\r\nabc"], True))
@example(delivery=("POST-expect", [b"HTTP/1.1 100 Continue\r\n\r\n", GOOD], False))
@example(delivery=("GET", [GOOD[:7], GOOD[7:]], False))  # a clean cycle, then another
@example(delivery=("GET", [GOOD, b"HTTP/1.1 200 OK\r\n"], True))  # stray bytes not yet read
def test_arbitrary_bytes_raise_only_remote_protocol_error(
    delivery: tuple[str, list[bytes], bool],
) -> None:
    which, segments, eof = delivery
    method, headers, payload = REQUESTS[which]
    p = ClientProtocol(HOST, where=WHERE)
    p.start_request(method, "/fuzz", list(headers), make_body(payload))
    peer = Wire(segments, eof=eof)
    drive = Driver(p, peer)
    total = sum(len(s) for s in peer.segments)
    verdict: str | None = "not reached"
    try:
        drive.head(payload)
        drive.body()
        verdict = p.verdict()
    except Stalled:
        assert not eof, "the protocol asked for bytes after the end of the stream"
        event("outcome: stalled")
    except keepalive.RemoteProtocolError as exc:
        assert WHERE in str(exc), f"the error does not name the peer: {exc}"
        event("outcome: RemoteProtocolError")
    else:
        event(f"outcome: verdict {verdict}")
    finally:
        # Every call either used some bytes or asked for more: the loop is bounded by them.
        assert drive.calls <= total + len(peer.segments) + 4, (drive.calls, total)
    if verdict is None:
        # The response ended and the connection may be reused: the stream is in step, so a
        # good response is read exactly (after whatever the peer sent past the first).
        leftover = peer.unfed()
        p.start_next_cycle()
        p.start_request("GET", "/next", [], make_body(None))
        drive = Driver(p, Wire([leftover, GOOD], eof=False))
        try:
            head = drive.head()
            body = drive.body()
        except (keepalive.RemoteProtocolError, Stalled):
            assert leftover, "a clean verdict, yet the next good response was not read"
        else:
            if not leftover:
                assert (head.status_code, body) == (200, b"good")
