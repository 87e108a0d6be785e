"""Property 1 (round trip, server side): a request arrives at a real h11 server as given.

For any method, target, header list (str or bytes, repeats, random case, obs-text values,
given as a list, a dict or ``keepalive.Headers``) and body (bytes-likes, str, an iterator
of random pieces, a seekable or unseekable file, with or without the caller's own
Content-Length or chunked framing), the server sees the same method and target, the
caller's fields in the caller's order with exactly one ``Host`` first, one correct framing
field, and every body byte.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import example, given, settings
from testserver import ReceivedRequest, Reply, ServerSide, TestServer

import keepalive

from .harness import budget
from .strategies import METHODS_WITH_BODY, RequestSpec, requests

FRAMING = frozenset({"content-length", "transfer-encoding"})


@pytest.fixture(scope="module")
def h11_server() -> Iterator[TestServer]:
    def app(request: ReceivedRequest, side: ServerSide) -> Reply:
        return Reply(200, body=b"")

    server = TestServer(app)
    yield server
    server.stop()


def check_arrival(spec: RequestSpec, got: ReceivedRequest, default_host: str) -> None:
    assert got.method == spec.method
    assert got.target == spec.target
    assert got.body == spec.payload
    assert got.chunked == spec.framed_chunked

    own = [(n, v) for n, v in spec.expected_fields(default_host)]
    own_host = next(f for f in own if f[0].lower() == "host")
    hosts = [f for f in got.headers if f[0].lower() == "host"]
    assert hosts == [own_host], f"want exactly one Host, got {hosts}"
    assert got.headers[0] == own_host, "Host goes first (RFC 9110 section 7.2)"

    caller = [f for f in _caller_fields(spec) if f[0].lower() != "host"]
    rest = got.headers[1:]
    if spec.declared is not None:
        assert rest == caller, "the caller framed the body: nothing may be added"
        return
    assert [f for f in rest if f[0].lower() not in FRAMING] == caller
    added = [(n.lower(), v) for n, v in rest if n.lower() in FRAMING]
    assert len(added) <= 1, f"one framing field at most, got {added}"
    if spec.framed_chunked:
        assert added == [("transfer-encoding", "chunked")]
    elif added:
        assert added == [("content-length", str(len(spec.payload)))]
    if spec.payload or spec.method in METHODS_WITH_BODY:
        # RFC 9110 section 8.6: a request whose method gives the content meaning says how long.
        assert added, "no framing field for a request that has (or could have) a body"


def _caller_fields(spec: RequestSpec) -> list[tuple[str, str]]:
    def text(value: str | bytes) -> str:
        return value if isinstance(value, str) else value.decode("latin-1")

    pairs = dict(spec.fields).items() if spec.container == "dict" else spec.fields
    return [(text(n), text(v)) for n, v in pairs]


@settings(max_examples=budget(1.0))
@given(spec=requests())
# Found by this property: a caller's Content-Length given as bytes was compared with
# str(b"1") == "b'1'" and refused as a mismatch.
@example(
    spec=RequestSpec(
        "GET", "/", [(b"Content-Length", b"1")], "list", "bytes", b"\x00", declared="length"
    )
)
# Found by this property: a method given as bytes (b"POST") with no body went out without
# Content-Length: 0, which the same method given as str gets (RFC 9110 section 8.6).
@example(spec=RequestSpec("POST", "/", [], "list", "none", b"", method_as_bytes=True))
def test_request_arrives_exactly_as_given(h11_server: TestServer, spec: RequestSpec) -> None:
    h11_server.requests.clear()
    conn = keepalive.HTTPConnection(h11_server.host, h11_server.port, timeout=10.0)
    body, to_close = spec.body_arg()
    try:
        with conn.request(spec.method_arg, spec.target, spec.headers_arg(), body) as resp:
            assert resp.status_code == 200
            assert resp.read() == b""
    finally:
        conn.close()
        if to_close is not None:
            to_close.close()
    assert len(h11_server.requests) == 1
    check_arrival(spec, h11_server.requests[0], f"127.0.0.1:{h11_server.port}")
