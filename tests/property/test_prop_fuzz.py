"""Property 6 (fuzz): arbitrary bytes as a response never crash, hang or leak.

The server answers with random bytes, or a valid response mutated (bytes flipped, inserted,
deleted, cut, spliced), and then closes, stalls, or carries on serving. Whatever comes, the
client either returns a response or raises ``RemoteProtocolError`` / ``ReadTimeout``;
never another exception, never later than the read timeout allows, never with a
descriptor left open; and the pool then serves a good request correctly.
"""

from __future__ import annotations

import time

from harness import Peer, ScriptedServer, assert_no_fd_leak, budget, settled_fds
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import responses

import keepalive

READ_TIMEOUT = 0.3
SLACK = 1.0
ALLOWED = (keepalive.RemoteProtocolError, keepalive.ReadTimeout)
GOOD = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ngood"


@st.composite
def mutated(draw: st.DrawFn, data: bytes) -> bytes:
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
            out[at:at] = draw(
                st.sampled_from(
                    [b"\r\n", b"\r\n\r\n", b"0\r\n\r\n", b"Content-Length: 3\r\n",
                     b"Transfer-Encoding: chunked\r\n", b"HTTP/1.1 100 Continue\r\n\r\n",
                     b"HTTP/1.1 200 OK\r\n", b"\x00", b"\xff" * 4, b" \t"]
                )
            )
    return bytes(out)


fuzz_bytes = st.one_of(
    st.binary(max_size=2000),
    st.binary(max_size=300).map(lambda tail: b"HTTP/1.1 200 OK\r\n" + tail),
    responses(body=st.binary(max_size=500), extra_fields=3).flatmap(lambda r: mutated(r.wire)),
)


@settings(max_examples=budget(1.0))
@given(raw=fuzz_bytes, then=st.sampled_from(["close", "close", "stall", "serve"]))
def test_arbitrary_bytes_never_crash_hang_or_leak(
    scripted: ScriptedServer, raw: bytes, then: str
) -> None:
    fds = settled_fds()

    def handler(peer: Peer) -> None:
        while True:
            request = peer.read_request()
            if request is None:
                return
            if request.target != "/fuzz":
                peer.send(GOOD)
                continue
            peer.send(raw)
            if then == "stall":
                peer.stall()
                return
            if then == "close":
                return

    scripted.serve(handler)
    pool = keepalive.ConnectionPool(
        timeout=keepalive.Timeout(connect=2.0, read=READ_TIMEOUT, write=2.0, pool=2.0)
    )
    try:
        started = time.monotonic()
        try:
            with pool.request("GET", f"{scripted.url}/fuzz") as resp:
                resp.read()
        except ALLOWED:
            pass
        elapsed = time.monotonic() - started
        assert elapsed < READ_TIMEOUT + SLACK, f"took {elapsed:.2f} s"
        with pool.request("GET", f"{scripted.url}/next") as resp:
            assert resp.read() == b"good"
        stats = pool.stats()
        assert stats["active"] == 0
        assert stats["opened"] - stats["closed"] == stats["idle"]
    finally:
        pool.close()
        scripted.finish()
    assert_no_fd_leak(fds)
