"""Extension points: the Retry policy on real servers (delays checked from the server's own
timestamps), transports (Mock, WSGI, ASGI, mounts, the pool itself), tracing, base_url."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from conftest import MakeServer
from testserver import ReceivedRequest, Reply, ServerSide, TestServer

import keepalive
from keepalive import MockTransport, Retry

# -- Retry ---------------------------------------------------------------------------------------


class Flaky:
    """Answers ``fail`` times with ``status`` (and ``headers``), then 200; records when each
    request arrived (the server's clock)."""

    def __init__(self, fail: int, status: int = 503, headers: list[tuple[str, str]] | None = None):
        self.fail = fail
        self.status = status
        self.headers = headers or []
        self.arrivals: list[tuple[float, str]] = []
        self.lock = threading.Lock()

    def __call__(self, req: ReceivedRequest, side: ServerSide) -> Reply:
        with self.lock:
            self.arrivals.append((time.monotonic(), req.method))
            n = len(self.arrivals)
        if n <= self.fail:
            return Reply(self.status, list(self.headers), b"try again")
        return Reply(200, body=b"done " + req.body)


def gaps(arrivals: list[tuple[float, str]]) -> list[float]:
    return [b[0] - a[0] for a, b in itertools.pairwise(arrivals)]


def test_status_retries_back_off_exponentially(make_server: MakeServer) -> None:
    app = Flaky(fail=3)
    srv = make_server(app)
    retry = Retry(total=5, backoff_factor=0.2, status_forcelist={503})
    with keepalive.Session(retries=retry) as s:
        r = s.get(srv.url)
        assert r.status_code == 200 and r.content == b"done "
        stats = s.pool.stats()
    assert len(app.arrivals) == 4 and stats["retries"] == 3
    first, second, third = gaps(app.arrivals)
    # urllib3's schedule: the first retry at once, then factor * 2 ** (n - 1).
    assert first < 0.15
    assert 0.4 <= second < 0.4 + 0.3
    assert 0.8 <= third < 0.8 + 0.3
    assert stats["opened"] == 1, "the drained 503s leave the connection reusable"


def test_retry_after_in_seconds_and_as_a_date(make_server: MakeServer) -> None:
    for value in ("1", None):
        if value is None:
            import email.utils

            value = email.utils.formatdate(time.time() + 2, usegmt=True)
        app = Flaky(fail=1, status=429, headers=[("Retry-After", value)])
        srv = make_server(app)
        with keepalive.Session(retries=Retry(total=2, backoff_max=5)) as s:
            assert s.get(srv.url).status_code == 200
        (gap,) = gaps(app.arrivals)
        # An HTTP date has whole seconds: 2 s ahead means a wait of 1 to 2 s.
        assert 0.9 <= gap < 3.0, (value, gap)


def test_raise_on_status_gives_retry_error_with_the_last_response(make_server: MakeServer) -> None:
    srv = make_server(Flaky(fail=10, status=500))
    with keepalive.Session(retries=Retry(total=2, status_forcelist={500})) as s:
        with pytest.raises(keepalive.RetryError) as info:
            s.get(srv.url)
        assert info.value.response is not None and info.value.response.status_code == 500
        assert s.pool.stats()["active"] == 0
    with keepalive.Session(
        retries=Retry(total=1, status_forcelist={500}, raise_on_status=False)
    ) as s:
        assert s.get(srv.url).status_code == 500


def test_a_post_is_not_resent_unless_allowed(make_server: MakeServer) -> None:
    app = Flaky(fail=1)
    srv = make_server(app)
    with keepalive.Session(retries=Retry(total=3, status_forcelist={503})) as s:
        assert s.post(srv.url, data=b"x").status_code == 503
    assert [m for _, m in app.arrivals] == ["POST"]
    app2 = Flaky(fail=1)
    srv2 = make_server(app2)
    retry = Retry(total=3, status_forcelist={503}, allowed_methods={"POST"})
    with keepalive.Session(retries=retry) as s:
        assert s.post(srv2.url, data=b"x").content == b"done x"
    assert [m for _, m in app2.arrivals] == ["POST", "POST"]


def test_the_race_retry_stays_on_and_spends_no_budget(make_server: MakeServer) -> None:
    def dies_on_reuse(req: ReceivedRequest, side: ServerSide) -> Reply | None:
        if req.index_on_connection > 1:
            side.close()
            return None
        return Reply(200, body=b"ok")

    srv = make_server(dies_on_reuse)
    with keepalive.Session(retries=Retry(total=0)) as s:
        s.get(srv.url)
        assert s.get(srv.url).content == b"ok"  # re-sent once on a new connection
        assert s.pool.stats()["retries"] == 1


def test_connect_errors_are_retried_and_traced() -> None:
    import socket

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    events: list[tuple[str, dict[str, Any]]] = []
    retry = Retry(total=2, backoff_factor=0.01)
    with (
        keepalive.Session(retries=retry, trace=lambda e, i: events.append((e, i))) as s,
        pytest.raises(keepalive.RetryError) as info,
    ):
        s.get(f"http://127.0.0.1:{port}/")
    assert isinstance(info.value.__cause__, keepalive.ConnectError)
    retries = [info for name, info in events if name == "retry"]
    assert len(retries) == 2 and all("refused" in r["reason"].lower() for r in retries)


# -- transports ----------------------------------------------------------------------------------


def test_mock_transport_sees_the_request_the_session_built() -> None:
    seen: list[keepalive.Request] = []

    def handler(request: keepalive.Request) -> keepalive.Response:
        seen.append(request)
        if request.url.endswith("/login"):
            return keepalive.Response(
                303, headers=[("Location", "/home"), ("Set-Cookie", "sid=abc; Path=/")]
            )
        return keepalive.Response(200, headers={"Content-Type": "application/json"},
                                  content=b'{"ok": true}')  # fmt: skip

    with keepalive.Session(transport=MockTransport(handler), headers={"X-App": "t"}) as s:
        r = s.post("http://api.test/login", data={"user": "u"}, auth=("u", "p"))
        assert r.json() == {"ok": True} and [h.status_code for h in r.history] == [303]
        assert s.pool.stats()["opened"] == 0, "no socket is opened"
    login, home = seen
    assert login.method == "POST" and login.body == b"user=u"
    assert login.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert login.headers["Authorization"].startswith("Basic ") and login.headers["X-App"] == "t"
    assert home.method == "GET" and home.url == "http://api.test/home"
    assert home.headers["Cookie"] == "sid=abc" and home.body is None


def test_mount_longest_prefix_wins(server: TestServer) -> None:
    def answer(text: str) -> MockTransport:
        return MockTransport(lambda req: keepalive.Response(200, content=text))

    with keepalive.Session() as s:
        s.mount("http://api.test/", answer("api"))
        s.mount("http://api.test/v2/", answer("v2"))
        assert s.get("http://api.test/v1/x").text == "api"
        assert s.get("http://api.test/v2/x").text == "v2"
        assert s.get(server.url + "/net").text.startswith("GET /net")  # the pool
        pool = keepalive.ConnectionPool()
        s.mount(server.url, pool)  # a pool is a transport too
        assert s.get(server.url + "/p").text.startswith("GET /p")
        assert pool.stats()["requests"] == 1
        pool.close()


def wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    body = environ["wsgi.input"].read()
    text = f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}?{environ['QUERY_STRING']} "
    text += environ.get("HTTP_X_TEST", "") + " "
    start_response("201 Created", [("Content-Type", "text/plain"), ("Set-Cookie", "w=1")])
    return [text.encode(), body]


def test_wsgi_transport() -> None:
    with keepalive.Session(transport=keepalive.WSGITransport(wsgi_app)) as s:
        r = s.post("http://app.test/items?x=1", data=b"payload", headers={"X-Test": "yes"})
        assert r.status_code == 201 and r.reason == "Created"
        assert r.text == "POST /items?x=1 yes payload"
        assert s.cookies["w"] == "1"


def test_wsgi_transport_with_httpbin() -> None:
    from httpbin import app as httpbin_app

    with keepalive.Session(transport=keepalive.WSGITransport(httpbin_app)) as s:
        r = s.get("http://httpbin.test/cookies/set?k=v")
        assert r.json() == {"cookies": {"k": "v"}}
        assert s.get("http://httpbin.test/gzip").json()["gzipped"] is True


async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    assert scope["type"] == "http"
    message = await receive()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})  # fmt: skip
    text = f"{scope['method']} {scope['path']} ".encode()
    await send({"type": "http.response.body", "body": text + message["body"]})


def test_asgi_transport_and_async_mock() -> None:
    async def main() -> None:
        transport = keepalive.ASGITransport(asgi_app)
        async with keepalive.AsyncSession(transport=transport) as s:
            r = await s.post("http://asgi.test/echo", data=b"hi")
            assert r.text == "POST /echo hi"

        async def handler(request: keepalive.Request) -> keepalive.Response:
            await asyncio.sleep(0)
            return keepalive.Response(200, content=request.url)

        async with keepalive.AsyncSession(transport=MockTransport(handler)) as s:
            assert (await s.get("http://m.test/x")).text == "http://m.test/x"

    asyncio.run(asyncio.wait_for(main(), 20))


# -- tracing ---------------------------------------------------------------------------------------


ORDER = [
    "connection.acquired", "dns", "connect", "tls", "request.sent", "response.head",
    "response.body_done", "connection.released",
]  # fmt: skip


def test_trace_tells_the_story_of_new_and_reused_connections(
    tls_server: TestServer, ca_path: str
) -> None:
    events: list[tuple[str, dict[str, Any]]] = []
    with keepalive.Session(verify=ca_path, trace=lambda e, i: events.append((e, i))) as s:
        s.get(tls_server.url + "/1")
        first = list(events)
        events.clear()
        s.get(tls_server.url + "/2")
        second = list(events)
    assert [e for e, _ in first] == ORDER
    assert first[0][1]["reused"] is False and first[3][1]["resumed"] in (False, True)
    assert [e for e, _ in second] == [
        "connection.acquired", "request.sent", "response.head", "response.body_done",
        "connection.released",
    ]  # fmt: skip
    assert second[0][1]["reused"] is True
    assert second[0][1]["connection_id"] == first[0][1]["connection_id"]
    assert second[0][1]["waited"] >= 0 and first[5][1]["status_code"] == 200


def test_per_request_trace_and_retirement_reason(make_server: MakeServer) -> None:
    srv = make_server(lambda req, side: Reply(200, body=b"x", close=True))
    events: list[str] = []
    mine: list[tuple[str, dict[str, Any]]] = []
    with keepalive.Session(trace=lambda e, i: events.append(e)) as s:
        s.get(srv.url, trace=lambda e, i: mine.append((e, i)))
    assert events == []
    name, info = mine[-1]
    assert name == "connection.retired" and "close" in info["reason"]


def test_base_url_joins_relative_urls(server: TestServer) -> None:
    with keepalive.Session(base_url=server.url + "/api/v1") as s:
        assert s.get("users").text.startswith("GET /api/v1/users")
        assert s.get("/root").text.startswith("GET /root")
        assert s.get(server.url + "/abs").text.startswith("GET /abs")
    with pytest.raises(keepalive.InvalidURL):
        keepalive.Session(base_url="not a url")
