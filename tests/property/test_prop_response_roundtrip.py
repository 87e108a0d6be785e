"""Property 2 (round trip, client side): the client reports exactly what the server sent.

For any well-formed response (interim 1xx first, any final status, empty or odd reason,
random header case and whitespace, repeated fields, obs-folds, Content-Length / chunked
with extensions and trailers / close-delimited, HTTP/1.0, answers to HEAD, 204 and 304),
cut into segments at random points (one byte at a time included, with tiny pauses), the
client returns that status, reason and version, those header fields in order with repeats,
and those body bytes, however the body is read. Afterwards the connection is reusable
exactly when the response allows it, and a second exchange on it proves that no byte of
the first was lost or left behind.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from testserver import Peer, ScriptedServer, Segmenting

import keepalive

from .harness import budget
from .strategies import ResponseSpec, delivered_responses

SECOND = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond"

read_styles = st.one_of(
    st.just(("read", None)),
    st.tuples(st.sampled_from(["iter_raw", "iter_bytes"]), st.none() | st.integers(1, 70_000)),
)


def read_body(resp: keepalive.RawResponse, style: tuple[str, int | None]) -> bytes:
    how, size = style
    if how == "read":
        return resp.read()
    pieces = list(getattr(resp, how)(size))
    if size is not None:
        assert all(len(p) == size for p in pieces[:-1])
    return b"".join(pieces)


@settings(max_examples=budget(1.0))
@given(exchange=delivered_responses(), style=read_styles)
def test_client_reports_exactly_what_was_sent(
    scripted: ScriptedServer,
    exchange: tuple[ResponseSpec, Segmenting],
    style: tuple[str, int | None],
) -> None:
    spec, how = exchange

    def handler(peer: Peer) -> None:
        if peer.read_request() is None:
            return
        peer.send(spec.wire, how)
        if spec.server_closes:
            return  # closing delimits the body (or ends the connection as announced)
        if peer.read_request() is not None:
            peer.send(SECOND)

    scripted.serve(handler)
    conn = keepalive.HTTPConnection(scripted.host, scripted.port, timeout=5.0)
    try:
        with conn.request("HEAD" if spec.for_head else "GET", "/first") as resp:
            assert resp.status_code == spec.status
            assert resp.reason == spec.reason
            assert resp.http_version == spec.http_version
            assert resp.headers.multi_items() == spec.expected_headers
            assert read_body(resp, style) == spec.expected_body
        assert conn.is_reusable == spec.keeps_fresh_connection
        if conn.is_reusable:
            with conn.request("GET", "/second") as again:
                assert again.reused
                assert again.read() == b"second"
    finally:
        conn.close()
        scripted.finish()
    assert scripted.accepted == 1
    assert [r.target for r in scripted.requests] == (
        ["/first", "/second"] if spec.keeps_fresh_connection else ["/first"]
    )


@pytest.fixture(autouse=True)
def _quiet_server(scripted: ScriptedServer) -> None:
    scripted.finish()
