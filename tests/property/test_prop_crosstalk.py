"""Property 4 (no cross-talk): every response reaches the request that asked for it.

Several threads share one pool and send requests to three origins; each request carries a
unique tag and its response body is derived from that tag, framed by Content-Length or
chunked, sometimes with ``Connection: close``. Whatever the interleaving, and whether a
response is read whole, streamed in pieces, read partly or not at all before it is closed,
each thread gets exactly its own bytes, and every request reaches its server once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from testserver import (
    ReceivedRequest,
    Reply,
    ServerSide,
    TestServer,
    assert_no_fd_leak,
    settled_fds,
)

import keepalive

from .harness import budget
from .strategies import pseudo_random_bytes

FRAMINGS = ("length", "chunked", "close")
READS = ("full", "stream", "partial", "none")


def tagged_body(tag: int, size: int) -> bytes:
    head = f"<{tag}>".encode()
    return (head + pseudo_random_bytes(size, tag))[: max(size, len(head))]


def app(request: ReceivedRequest, side: ServerSide) -> Reply:
    _, tag, size, framing = request.target.split("/")
    body = tagged_body(int(tag), int(size))
    if framing == "chunked":
        pieces = [body[i : i + 7000] for i in range(0, len(body), 7000)]
        return Reply(200, body=pieces, chunked=True)
    return Reply(200, body=body, close=framing == "close")


@pytest.fixture(scope="module")
def three_origins() -> Iterator[list[TestServer]]:
    servers = [TestServer(app) for _ in range(3)]
    yield servers
    for server in servers:
        server.stop()


@dataclass(frozen=True)
class Call:
    origin: int
    size: int
    framing: str
    read: str


calls = st.builds(
    Call,
    st.integers(0, 2),
    st.one_of(st.integers(0, 2000), st.integers(0, 200_000)),
    st.sampled_from(FRAMINGS),
    st.sampled_from(READS),
)


@settings(max_examples=budget(1.0))
@given(
    plans=st.lists(st.lists(calls, min_size=1, max_size=12), min_size=2, max_size=4),
    per_host=st.integers(1, 3),
)
def test_each_response_reaches_its_request(
    three_origins: list[TestServer], plans: list[list[Call]], per_host: int
) -> None:
    fds = settled_fds()
    for server in three_origins:
        server.requests.clear()
    pool = keepalive.ConnectionPool(
        max_connections=4, max_connections_per_host=per_host, timeout=10.0
    )
    tags = iter(range(1, 1 << 30))
    tag_lock = threading.Lock()
    failures: list[BaseException] = []
    sent: list[tuple[int, int]] = []  # (origin, tag)

    def worker(plan: list[Call]) -> None:
        try:
            for call in plan:
                with tag_lock:
                    tag = next(tags)
                    sent.append((call.origin, tag))
                url = f"{three_origins[call.origin].url}/{tag}/{call.size}/{call.framing}"
                want = tagged_body(tag, call.size)
                with pool.request("GET", url) as resp:
                    assert resp.status_code == 200
                    if call.read == "full":
                        assert resp.read() == want, f"tag {tag} got someone else's body"
                    elif call.read == "stream":
                        assert b"".join(resp.iter_bytes(4096)) == want
                    elif call.read == "partial":
                        first = next(iter(resp.iter_raw()), b"")
                        assert want.startswith(first), f"tag {tag} got someone else's bytes"
        except BaseException as exc:  # reported from the main thread
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(plan,)) for plan in plans]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(30.0)
        assert not any(t.is_alive() for t in threads), "a request hung"
        if failures:
            raise failures[0]
        stats = pool.stats()
        assert stats["requests"] == len(sent)
        assert stats["active"] == 0
        assert stats["opened"] - stats["closed"] == stats["idle"]
    finally:
        pool.close()
    for origin, server in enumerate(three_origins):
        got = sorted(int(r.target.split("/")[1]) for r in server.requests)
        want = sorted(tag for o, tag in sent if o == origin)
        assert got == want, "a request was lost or repeated"
    assert_no_fd_leak(fds)
