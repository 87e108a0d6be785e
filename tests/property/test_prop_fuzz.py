"""Property 6 (fuzz): arbitrary bytes as a response never crash, hang or leak.

The server answers with random bytes, or a valid response mutated (bytes flipped, inserted,
deleted, cut, spliced), and then closes, resets, or keeps the connection open and goes on
serving (so an incomplete answer stalls the client until its read timeout). Whatever comes, the
client either returns a response or raises ``RemoteProtocolError`` / ``ReadTimeout``;
never another exception, never later than the read timeout allows, never with a
descriptor left open; and the pool then serves a good request correctly.
"""

from __future__ import annotations

import time

from hypothesis import example, given, settings
from hypothesis import strategies as st
from testserver import Peer, ScriptedServer, assert_no_fd_leak, settled_fds

import keepalive

from .harness import budget
from .strategies import junk_responses

READ_TIMEOUT = 0.3
SLACK = 1.0
ALLOWED = (keepalive.RemoteProtocolError, keepalive.ReadTimeout)
GOOD = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ngood"


@settings(max_examples=budget(0.5))
@given(raw=junk_responses(), then=st.sampled_from(["close", "close", "reset", "keep"]))
# Found by this property (a flaw of an earlier version of this test, kept for its input):
# bare-LF line ends and a control byte in the reason make a complete, reusable response.
@example(raw=b"HTTP/1.1 200 \x01\nContent-Length:0\nC:\nK:\n\n", then="keep")
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
            if then == "reset":
                peer.end_with_reset = True
                return
            if then == "close":
                return
            # "keep": a complete answer lets the client send its next request here, and it
            # is served; an incomplete one leaves the client waiting for the rest.

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
