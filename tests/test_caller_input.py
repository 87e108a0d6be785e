"""Bad caller input raises a named keepalive error before any socket is opened, and every
error raised after a response exists leaves no connection busy.

Each caller error is also the builtin a user would catch (``ValueError``/``TypeError``) and
names the argument at fault. They go through a real ``Session`` against the in-process
server, which must see no connection at all.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from conftest import MakeServer
from testserver import ReceivedRequest, Reply, ServerSide, TestServer

import keepalive

InvalidArgument = keepalive.InvalidArgument
InvalidArgumentType = keepalive.InvalidArgumentType
INF, NAN = float("inf"), float("nan")

Call = Callable[[keepalive.Session, str], object]

# (what is wrong, the call, the keepalive error, the builtin it also is, text the message has)
REQUEST_ERRORS: list[tuple[str, Call, type[Exception], type[Exception], str]] = [
    ("timeout-nan", lambda s, u: s.get(u, timeout=NAN), InvalidArgument, ValueError, "timeout"),
    ("timeout-negative", lambda s, u: s.get(u, timeout=-1), InvalidArgument, ValueError, "timeout"),
    ("timeout-huge", lambda s, u: s.get(u, timeout=1e300), InvalidArgument, ValueError, "timeout"),
    ("timeout-str", lambda s, u: s.get(u, timeout="2"), InvalidArgumentType, TypeError, "timeout"),
    ("timeout-bool", lambda s, u: s.get(u, timeout=True), InvalidArgumentType, TypeError,
     "timeout"),
    ("timeout-3-tuple", lambda s, u: s.get(u, timeout=(1, 2, 3)), InvalidArgument, ValueError,
     "timeout"),
    ("timeout-tuple-nan", lambda s, u: s.get(u, timeout=(1, NAN)), InvalidArgument, ValueError,
     "timeout read"),
    ("timeout-phase", lambda s, u: s.get(u, timeout=keepalive.Timeout(read=-2)),
     InvalidArgument, ValueError, "timeout read"),
    ("params-bytes", lambda s, u: s.get(u, params=b"\xff"), InvalidArgument, ValueError, "params"),
    ("params-int", lambda s, u: s.get(u, params=5), InvalidArgumentType, TypeError, "params"),
    ("params-not-pairs", lambda s, u: s.get(u, params=["abc"]), InvalidArgumentType, TypeError,
     "params"),
    ("header-value-int", lambda s, u: s.get(u, headers={"X": 5}), InvalidArgumentType, TypeError,
     "'X'"),
    ("header-name-int", lambda s, u: s.get(u, headers={5: "v"}), InvalidArgumentType, TypeError,
     "header name 5"),
    ("header-name-int-removed", lambda s, u: s.get(u, headers={5: None}), InvalidArgumentType,
     TypeError, "header name 5"),
    ("headers-int", lambda s, u: s.get(u, headers=5), InvalidArgumentType, TypeError, "headers"),
    ("headers-not-pairs", lambda s, u: s.get(u, headers=["X: y"]), InvalidArgumentType, TypeError,
     "headers"),
    ("header-value-crlf", lambda s, u: s.get(u, headers={"X": "a\r\nInjected: 1"}),
     keepalive.LocalProtocolError, ValueError, ""),
    ("header-name-crlf", lambda s, u: s.get(u, headers={"X\r\nY": "a"}),
     keepalive.LocalProtocolError, ValueError, ""),
    ("method-int", lambda s, u: s.request(5, u), InvalidArgumentType, TypeError, "method"),
    ("method-bytes", lambda s, u: s.request(b"GET", u), InvalidArgumentType, TypeError, "method"),
    ("url-bytes", lambda s, u: s.get(u.encode()), InvalidArgumentType, TypeError, "url"),
    ("data-int", lambda s, u: s.post(u, data=42), keepalive.LocalProtocolError, ValueError, "int"),
    ("json-nan", lambda s, u: s.post(u, json={"x": NAN}), keepalive.LocalProtocolError,
     ValueError, "json"),
    ("auth-list", lambda s, u: s.get(u, auth=["u", "p"]), keepalive.LocalProtocolError,
     ValueError, "auth"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("call", "error", "builtin", "names"),
    [pytest.param(*case[1:], id=case[0]) for case in REQUEST_ERRORS],
)
def test_caller_errors_raise_before_any_socket(
    no_fd_leak: None,
    server: TestServer,
    call: Call,
    error: type[Exception],
    builtin: type[Exception],
    names: str,
) -> None:
    with keepalive.Session(trust_env=False) as s:
        with pytest.raises(error) as info:
            call(s, f"{server.url}/x")
        assert s.pool.stats()["opened"] == 0
    assert isinstance(info.value, keepalive.KeepaliveError)
    assert isinstance(info.value, builtin)
    assert names in str(info.value)
    assert server.connections == 0


SESSION_ERRORS: list[tuple[str, dict[str, Any], type[Exception], type[Exception], str]] = [
    ("max_redirects", {"max_redirects": -1}, InvalidArgument, ValueError, "max_redirects"),
    ("max_connections", {"max_connections": 0}, InvalidArgument, ValueError, "max_connections"),
    ("per_host", {"max_connections_per_host": 0}, InvalidArgument, ValueError,
     "max_connections_per_host"),
    ("retries-negative", {"retries": -1}, InvalidArgument, ValueError, "retries"),
    ("retries-str", {"retries": "1"}, InvalidArgumentType, TypeError, "retries"),
    ("retries-bool", {"retries": False}, InvalidArgumentType, TypeError, "retries"),
    ("max_redirects-float", {"max_redirects": 2.5}, InvalidArgumentType, TypeError,
     "max_redirects"),
    ("keepalive_expiry", {"keepalive_expiry": -1}, InvalidArgument, ValueError,
     "keepalive_expiry"),
    ("timeout-nan", {"timeout": NAN}, InvalidArgument, ValueError, "timeout"),
    ("timeout-str", {"timeout": "2"}, InvalidArgumentType, TypeError, "timeout"),
    ("headers", {"headers": {"X": 5}}, InvalidArgumentType, TypeError, "'X'"),
    ("auth", {"auth": "u:p"}, keepalive.LocalProtocolError, ValueError, "auth"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("kwargs", "error", "builtin", "names"),
    [pytest.param(*case[1:], id=case[0]) for case in SESSION_ERRORS],
)
def test_bad_session_settings(
    no_fd_leak: None,
    kwargs: dict[str, Any],
    error: type[Exception],
    builtin: type[Exception],
    names: str,
) -> None:
    with pytest.raises(error) as info:
        keepalive.Session(trust_env=False, **kwargs)
    assert isinstance(info.value, builtin) and isinstance(info.value, keepalive.KeepaliveError)
    assert names in str(info.value)


def test_session_header_of_wrong_type(server: TestServer) -> None:
    with keepalive.Session(trust_env=False) as s:
        with pytest.raises(InvalidArgumentType, match="'X-Count'"):
            s.headers["X-Count"] = 5  # type: ignore[assignment]
        s.get(server.url)
    assert server.requests[0].header("x-count") is None


# -- timeout values that are allowed ------------------------------------------------------------


def test_infinite_timeout_means_no_limit(server: TestServer) -> None:
    assert keepalive.Timeout(INF) == keepalive.Timeout(None)
    assert keepalive.Timeout(read=INF).read is None
    with keepalive.Session(trust_env=False, timeout=INF) as s:
        assert s.timeout == keepalive.Timeout(None)
        assert s.get(server.url, timeout=INF).status_code == 200


def test_connect_read_tuple(server: TestServer) -> None:
    """requests' ``(connect, read)``: read also bounds writes, connect the pool wait."""
    limits = keepalive.Timeout.coerce((1, 2.5))
    assert (limits.connect, limits.read, limits.write, limits.pool) == (1, 2.5, 2.5, 1)
    assert keepalive.Timeout.coerce((None, 3)) == keepalive.Timeout(
        connect=None, read=3, write=3, pool=None
    )
    with keepalive.Session(trust_env=False) as s:
        assert s.get(server.url, timeout=(5, 5)).status_code == 200


# -- URLs -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected", "not_expected"),
    [
        ("localhost:8000", "did you mean 'http://localhost:8000'", "scheme 'localhost'"),
        ("localhost:8000/get?q=1", "'http://localhost:8000/get?q=1'", "scheme 'localhost'"),
        ("/get", "relative URL", "http:///get"),
        ("//example.com/x", "did you mean 'http://example.com/x'", "http:////"),
        ("example.com/x", "did you mean 'http://example.com/x'", "scheme 'example"),
        ("mailto:a@example.com", "unsupported scheme 'mailto'", "did you mean"),
    ],
)
def test_url_messages_suggest_what_was_meant(
    no_fd_leak: None, url: str, expected: str, not_expected: str
) -> None:
    with keepalive.Session(trust_env=False) as s, pytest.raises(keepalive.InvalidURL) as info:
        s.get(url)
    assert expected in str(info.value)
    assert not_expected not in str(info.value)


# -- errors after a response exists release its connection -----------------------------------


def _location_app(location: str) -> Callable[[ReceivedRequest, ServerSide], Reply]:
    def app(req: ReceivedRequest, side: ServerSide) -> Reply:
        if req.target == "/start":
            return Reply(302, [("Location", location)], b"moved")
        return Reply(200, [], b"fine")

    return app


@pytest.mark.parametrize(
    ("location", "error"),
    [
        ("http://[::1/", keepalive.RemoteProtocolError),  # the server broke RFC 9110 10.2.2
        ("http://127.0.0.1:99999/", keepalive.RemoteProtocolError),
        ("http://:80/nohost", keepalive.RemoteProtocolError),
        ("ftp://127.0.0.1/file", keepalive.InvalidURL),  # well formed, not a scheme we follow
    ],
)
def test_bad_location_names_it_and_releases_the_connection(
    make_server: MakeServer, location: str, error: type[Exception]
) -> None:
    server = make_server(_location_app(location))
    with keepalive.Session(trust_env=False) as s:
        with pytest.raises(error) as info:
            s.get(f"{server.url}/start")
        assert location in str(info.value)
        assert s.pool.stats()["active"] == 0 and s.pool.stats()["idle"] == 1
        r = s.get(f"{server.url}/after")
        assert r.status_code == 200 and r.reused
    assert server.connections == 1


def _stream() -> Iterator[bytes]:
    yield b"streamed "
    yield b"once"


def _digest_app(req: ReceivedRequest, side: ServerSide) -> Reply:
    if req.target == "/ok":
        return Reply(200, [], b"fine")
    challenge = 'Digest realm="r", nonce="abc", qop="auth"'
    return Reply(401, [("WWW-Authenticate", challenge)], b"x" * 100)


def _redirect_app(req: ReceivedRequest, side: ServerSide) -> Reply:
    if req.target == "/ok":
        return Reply(200, [], b"fine")
    if req.target == "/bad-location":
        return Reply(302, [("Location", "http://[::1/")], b"moved")
    if req.target == "/loop":
        return Reply(302, [("Location", "/loop")], b"moved")
    return Reply(307, [("Location", "/ok")], b"moved")


RAISE_PATHS: dict[str, tuple[Callable[..., Reply], Call, type[Exception]]] = {
    "digest-401-stream-body": (
        _digest_app,
        lambda s, base: s.post(f"{base}/x", data=_stream(), auth=keepalive.DigestAuth("u", "p")),
        keepalive.LocalProtocolError,
    ),
    "307-stream-body": (
        _redirect_app,
        lambda s, base: s.post(f"{base}/x", data=_stream()),
        keepalive.LocalProtocolError,
    ),
    "bad-location": (
        _redirect_app,
        lambda s, base: s.get(f"{base}/bad-location"),
        keepalive.RemoteProtocolError,
    ),
    "too-many-redirects": (
        _redirect_app,
        lambda s, base: s.get(f"{base}/loop"),
        keepalive.TooManyRedirects,
    ),
}


@pytest.mark.parametrize("path", list(RAISE_PATHS))
def test_kept_errors_hold_no_connection(make_server: MakeServer, path: str) -> None:
    """Six errors kept alive (tracebacks and all) against a limit of two connections: if
    any of them held its connection, the next request would wait for a slot and fail."""
    app, call, error = RAISE_PATHS[path]
    server = make_server(app)
    kept: list[BaseException] = []
    limits = keepalive.Timeout(connect=5, read=5, write=5, pool=0.5)
    with keepalive.Session(
        trust_env=False, max_connections_per_host=2, timeout=limits, max_redirects=3
    ) as s:
        for _ in range(6):
            with pytest.raises(error) as info:
                call(s, server.url)
            kept.append(info.value)
        assert s.pool.stats()["active"] == 0
        for _ in range(3):
            assert s.get(f"{server.url}/ok").status_code == 200
        assert s.pool.stats()["active"] == 0
    assert len(kept) == 6 and all(e.__traceback__ is not None for e in kept)
    assert server.max_open_connections <= 2


def test_digest_retry_resends_a_file_body_from_its_start(make_server: MakeServer) -> None:
    def app(req: ReceivedRequest, side: ServerSide) -> Reply:
        if req.header("authorization") is None:
            return _digest_app(req, side)
        return Reply(200, [], req.body)

    server = make_server(app)
    body = io.BytesIO(b"skip:the file body")
    body.seek(5)  # the caller's position is where the body starts
    with keepalive.Session(trust_env=False) as s:
        r = s.post(server.url, data=body, auth=keepalive.DigestAuth("u", "p"))
    assert r.status_code == 200 and r.content == b"the file body"
    assert [q.body for q in server.requests] == [b"the file body", b"the file body"]
