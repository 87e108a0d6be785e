"""Property 3 (sequence over one socket): the pool opens a connection exactly when it must.

A random sequence of 1 to 20 exchanges with one origin, each response read to its end,
partly (then closed) or not at all (closed at once). A small model follows docs/design.md: the
next request reuses the idle connection unless the last response retired it (close
delimited body, ``Connection: close``, HTTP/1.0, a ``Keep-Alive: max=`` count used up, a
``timeout=`` hint of one second or less, an unread remainder over 64 KiB). The client's
``reused`` flags and connection ids, the pool's statistics and the number of connections
the server accepted must all equal the model's; every body read must be the one sent.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import example, given, settings
from hypothesis import strategies as st
from testserver import Handler, Peer, ScriptedServer, assert_no_fd_leak, settled_fds

import keepalive

from .harness import ManualClock, budget
from .strategies import (
    DRAIN_LIMIT,
    KeepAliveHint,
    MiB,
    ResponseSpec,
    bodies,
    plain_response,
    responses,
)


@dataclass
class Exchange:
    method: str
    response: ResponseSpec
    read: str  # "full", "partial" (first piece, then close) or "none" (close at once)


@st.composite
def exchanges(draw: st.DrawFn) -> Exchange:
    method = draw(st.sampled_from(["GET", "GET", "GET", "HEAD", "POST"]))
    body = bodies(max_size=MiB // 4)
    response = draw(responses(method=method, body=body, interim=False, extra_fields=2))
    read = draw(st.sampled_from(["full", "full", "partial", "none"]))
    return Exchange(method, response, read)


class OneSocketModel:
    """Which connection the next request goes out on, per the reuse rules of docs/design.md."""

    def __init__(self) -> None:
        self.opened = 0
        self.idle: int | None = None  # the idle connection, by opening order
        self.requests_left: int | None = None  # from Keep-Alive: max=
        self.reused = 0

    def send(self) -> tuple[int, bool]:
        if self.idle is None:
            self.opened += 1
            self.requests_left = None
            return self.opened, False
        conn, self.idle = self.idle, None
        self.reused += 1
        return conn, True

    def finish(self, conn: int, response: ResponseSpec, unread: int) -> None:
        if response.max_hint is not None:
            self.requests_left = response.max_hint
        elif self.requests_left is not None:
            self.requests_left -= 1  # a response without max= uses one of the count
        keep = (
            not response.retires_connection
            and (self.requests_left is None or self.requests_left > 0)
            and unread <= DRAIN_LIMIT
        )
        self.idle = conn if keep else None


def serve_in_order(plan: list[Exchange]) -> Handler:
    def handler(peer: Peer) -> None:
        while True:
            request = peer.read_request()
            if request is None:
                return
            response = plan[int(request.target.lstrip("/"))].response
            if not peer.send(response.wire) or response.server_closes:
                return

    return handler


@settings(max_examples=budget(2.0))
@given(plan=st.lists(exchanges(), min_size=1, max_size=20))
# Found by this property: a HEAD answer announcing more than 64 KiB, closed without read(),
# retired its connection: close() tried to drain the announced length.
@example(
    plan=[
        Exchange("HEAD", plain_response(head=True, length=100_000), "none"),
        Exchange("GET", plain_response(), "full"),
    ]
)
# Found by this property: "Keep-Alive: max=1" allows one more request; a Keep-Alive field
# without max= on that one's response did not count it, so a third request went out.
@example(
    plan=[
        Exchange("GET", plain_response(keep_alive=KeepAliveHint(None, 1, "max=1")), "full"),
        Exchange("GET", plain_response(keep_alive=KeepAliveHint(5.0, None, "timeout=5")), "full"),
        Exchange("GET", plain_response(), "full"),
    ]
)
def test_new_connection_exactly_when_required(
    scripted: ScriptedServer, plan: list[Exchange]
) -> None:
    fds = settled_fds()
    scripted.serve(serve_in_order(plan))
    model = OneSocketModel()
    client_ids: dict[int, int] = {}  # model connection -> the client's connection_id
    carried_by: list[int] = []  # model connection of each exchange
    pool = keepalive.ConnectionPool(clock=ManualClock(), timeout=5.0)
    try:
        for i, step in enumerate(plan):
            want_conn, want_reused = model.send()
            carried_by.append(want_conn)
            body = b"x" * 10 if step.method == "POST" else None
            with pool.request(step.method, f"{scripted.url}/{i}", body=body) as resp:
                assert resp.status_code == step.response.status
                assert resp.reused == want_reused, f"exchange {i}"
                assert client_ids.setdefault(want_conn, resp.connection_id) == resp.connection_id
                expected = step.response.expected_body
                if step.read == "full":
                    assert resp.read() == expected
                    unread = 0
                elif step.read == "partial":
                    first = next(iter(resp.iter_raw()), b"")
                    assert expected.startswith(first)
                    unread = len(expected) - len(first)
                else:
                    unread = len(expected)
            model.finish(want_conn, step.response, unread)
            stats = pool.stats()
            assert stats["idle"] == (model.idle is not None), f"after exchange {i}"
            assert stats["active"] == 0
        stats = pool.stats()
    finally:
        pool.close()
        scripted.finish()
    assert scripted.accepted == model.opened
    # Server-side connections are numbered in accept order, as the model numbers them.
    assert [(r.target, r.connection) for r in scripted.requests] == [
        (f"/{i}", conn) for i, conn in enumerate(carried_by)
    ]
    assert stats["opened"] == model.opened
    assert stats["requests"] == len(plan)
    assert stats["reused"] == model.reused
    assert stats["retries"] == 0
    assert stats["opened"] - stats["closed"] == stats["idle"] + stats["active"]
    assert_no_fd_leak(fds)
