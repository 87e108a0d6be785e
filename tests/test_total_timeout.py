"""``Timeout(total=)``: one deadline for the whole exchange, against servers that drip.

Each server here sends a byte every 0.3 s, so no single read ever waits long enough for
the read timeout (5 s); only the total deadline (1.5 s) can end the request, and it must end
it in about 1.5 s whether the server drips the head, the body, or a redirect's body before
the next hop. Every test runs against ``Session`` and ``AsyncSession``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
from blocking_async import BlockingAsyncSession
from conftest import MakeServer
from testserver import ReceivedRequest, Reply, ServerSide

import keepalive
from keepalive import Timeout

DRIP = 0.3  # seconds between two bytes
TOTAL = 1.5
LIMITS = Timeout(5, total=TOTAL)
SLACK = 0.9  # a loaded two-core machine; far less than the 5 s read timeout


@pytest.fixture(params=["sync", "async"])
def make_session(request: pytest.FixtureRequest) -> Callable[..., keepalive.Session]:
    if request.param == "sync":
        return keepalive.Session
    return BlockingAsyncSession  # type: ignore[return-value]


@pytest.fixture
def stop_dripping() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


def drip(side: ServerSide, data: bytes, stop: threading.Event) -> None:
    """Send ``data`` a byte at a time, ``DRIP`` seconds apart, until done, the client goes
    away or the test ends (bounded: at most 10 s)."""
    ends = time.monotonic() + 10
    for i in range(len(data)):
        if stop.is_set() or side.closed or time.monotonic() > ends:
            return
        side.send_raw(data[i : i + 1])
        stop.wait(DRIP)


def head(status: int = 200, length: int = 100, extra: str = "") -> bytes:
    reason = "OK" if status == 200 else "Found"
    return f"HTTP/1.1 {status} {reason}\r\nContent-Length: {length}\r\n{extra}\r\n".encode()


def timed(call: Callable[[], object]) -> tuple[BaseException | None, float]:
    started = time.monotonic()
    try:
        call()
    except Exception as exc:  # the test inspects it
        return exc, time.monotonic() - started
    return None, time.monotonic() - started


def assert_total_ran_out(error: BaseException | None, elapsed: float) -> None:
    assert isinstance(error, keepalive.ReadTimeout), repr(error)
    assert isinstance(error, TimeoutError)  # the built-in one too
    assert TOTAL - 0.1 <= elapsed < TOTAL + SLACK, elapsed


def test_dripped_head(
    make_server: MakeServer,
    make_session: Callable[..., keepalive.Session],
    stop_dripping: threading.Event,
) -> None:
    def app(request: ReceivedRequest, side: ServerSide) -> None:
        drip(side, head() + b"x" * 100, stop_dripping)

    server = make_server(app)
    with make_session(trust_env=False, timeout=LIMITS) as s:
        error, elapsed = timed(lambda: s.get(server.url))
        assert s.pool.stats()["active"] == 0  # the connection was retired, not leaked
    assert_total_ran_out(error, elapsed)


def test_dripped_body(
    make_server: MakeServer,
    make_session: Callable[..., keepalive.Session],
    stop_dripping: threading.Event,
) -> None:
    def app(request: ReceivedRequest, side: ServerSide) -> None:
        side.send_raw(head())
        drip(side, b"x" * 100, stop_dripping)

    server = make_server(app)
    with make_session(trust_env=False) as s:  # the limit given per request this time
        error, elapsed = timed(lambda: s.get(server.url, timeout=LIMITS))
        assert s.pool.stats()["active"] == 0
    assert_total_ran_out(error, elapsed)


def test_dripped_body_of_a_streamed_response(
    make_server: MakeServer,
    make_session: Callable[..., keepalive.Session],
    stop_dripping: threading.Event,
) -> None:
    def app(request: ReceivedRequest, side: ServerSide) -> None:
        side.send_raw(head())
        drip(side, b"x" * 100, stop_dripping)

    server = make_server(app)
    with make_session(trust_env=False, timeout=LIMITS) as s:
        started = time.monotonic()
        with s.get(server.url, stream=True) as r:
            assert r.status_code == 200 and time.monotonic() - started < 0.5
            error, _ = timed(lambda: b"".join(r.iter_bytes()))
    # The deadline counts from the start of the request, not of the reading.
    assert_total_ran_out(error, time.monotonic() - started)


def test_dripped_redirect_body_counts_towards_the_next_hop(
    make_server: MakeServer,
    make_session: Callable[..., keepalive.Session],
    stop_dripping: threading.Event,
) -> None:
    # The redirect's body drips (the session drains it, for up to a second, to keep the
    # connection), then the target drips its head: per hop, each would fit in 1.5 s; the
    # whole exchange does not.
    def app(request: ReceivedRequest, side: ServerSide) -> None:
        if request.target == "/start":
            side.send_raw(head(302, 100, "Location: /next\r\n"))
            drip(side, b"x" * 100, stop_dripping)
        else:
            drip(side, head() + b"x" * 100, stop_dripping)

    server = make_server(app)
    with make_session(trust_env=False, timeout=LIMITS) as s:
        error, elapsed = timed(lambda: s.get(f"{server.url}/start"))
        assert s.pool.stats()["active"] == 0
    assert [r.target for r in server.requests] == ["/start", "/next"]
    assert_total_ran_out(error, elapsed)


def test_pool_request_with_a_total_limit(
    make_server: MakeServer, stop_dripping: threading.Event
) -> None:
    def app(request: ReceivedRequest, side: ServerSide) -> None:
        side.send_raw(head())
        drip(side, b"x" * 100, stop_dripping)

    server = make_server(app)
    with keepalive.ConnectionPool() as pool:
        started = time.monotonic()
        with pool.request("GET", server.url, timeout=LIMITS) as resp:
            error, _ = timed(resp.read)
        assert pool.stats()["active"] == 0
    assert_total_ran_out(error, time.monotonic() - started)


def test_a_fast_exchange_is_untouched_and_the_deadline_is_per_request(
    make_server: MakeServer, make_session: Callable[..., keepalive.Session]
) -> None:
    server = make_server(lambda req, side: Reply(200, [], b"fine"))
    with make_session(trust_env=False, timeout=Timeout(5, total=0.5)) as s:
        first = s.get(server.url)
        time.sleep(0.7)  # longer than the total: the next request has a deadline of its own
        second = s.get(server.url)
    assert first.content == second.content == b"fine"
    assert second.reused and server.connections == 1


# -- the setting itself ---------------------------------------------------------------------------


def test_total_is_validated_compared_and_shown() -> None:
    assert Timeout().total is None and Timeout(5).total is None
    assert Timeout(5, total=1.5).total == 1.5
    assert Timeout(total=float("inf")).total is None
    assert Timeout(5, total=1.5) == Timeout(5, total=1.5) != Timeout(5)
    assert len({Timeout(5, total=1.5), Timeout(5, total=1.5), Timeout(5)}) == 2
    assert repr(Timeout(5, total=1.5)) == (
        "Timeout(connect=5, read=5, write=5, pool=5, total=1.5)"
    )
    assert "total" not in repr(Timeout(5))
    assert Timeout.coerce((3, 10)).total is None
    for bad, error, builtin in [
        (-1, keepalive.InvalidArgument, ValueError),
        (float("nan"), keepalive.InvalidArgument, ValueError),
        ("2", keepalive.InvalidArgumentType, TypeError),
        (True, keepalive.InvalidArgumentType, TypeError),
    ]:
        with pytest.raises(error, match="timeout total") as info:
            Timeout(5, total=bad)
        assert isinstance(info.value, builtin)
