"""``import keepalive as requests``: every row of the README's porting table, against real
servers (httpbin under gunicorn, and the in-process server where the test needs exact
control), and scripts written the way requests users write them, run under both names.

``test_row_NN_*`` covers row NN of the table; ``test_every_porting_row_has_a_test`` keeps the
two in step.
"""

from __future__ import annotations

import asyncio
import gzip
import http.cookiejar
import inspect
import io
import json
import os
import re
import shutil
import ssl
import threading
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import thirdparty
import trustme
from conftest import MakeServer
from testserver import ReceivedRequest, Reply, ServerSide, TestServer, json_echo_app

import keepalive
from keepalive import Request, Timeout, codes

try:
    import requests
except ImportError as exc:
    raise ImportError("this test compares with requests: pip install -e '.[test]'") from exc

README = Path(__file__).resolve().parent.parent / "README.md"
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
CA_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No proxy from the machine's environment, no ~/.netrc of the user running the tests;
    the CA variables stay (this machine sets them), unless a test changes them."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-such-netrc"))


@pytest.fixture
def s() -> Iterator[keepalive.Session]:
    with keepalive.Session() as session:
        yield session


echo_app = json_echo_app  # answers with what it received, as JSON


# -- the table and its tests -------------------------------------------------------------------


def porting_rows() -> list[int]:
    text = README.read_text()
    section = text.split("### Porting from `requests`", 1)[1].split("\n#", 1)[0]
    return [int(n) for n in re.findall(r"^\| (\d+) \|", section, flags=re.M)]


def test_every_porting_row_has_a_test() -> None:
    rows = porting_rows()
    assert rows == list(range(1, len(rows) + 1)), "rows are numbered 1, 2, 3..."
    tested = {
        int(m.group(1)) for name in globals() if (m := re.match(r"test_row_(\d+)_", name))
    }
    assert tested == set(rows)


# -- 1-4: the import, the verbs, the session ---------------------------------------------------


def test_row_01_import_keepalive_as_requests() -> None:
    http: types.ModuleType = keepalive
    for name in ("get", "post", "put", "patch", "delete", "head", "options", "request",
                 "Session", "Request", "PreparedRequest", "Response", "codes", "exceptions",
                 "RequestException", "ConnectionError", "HTTPError", "ConnectTimeout",
                 "ReadTimeout", "TooManyRedirects", "JSONDecodeError"):  # fmt: skip
        assert hasattr(http, name), name
        assert hasattr(requests, name), name  # the same names exist on both sides
    for name in requests.exceptions.__dict__:
        if name[0].isupper() and name.endswith(("Error", "Exception", "Timeout", "Schema")):
            if name in ("BaseHTTPError", "CompatJSONDecodeError", "InvalidJSONError",
                        "URLRequired", "InvalidProxyURL", "UnrewindableBodyError"):  # fmt: skip
                continue  # requests' internals, or raised where keepalive raises another
            assert hasattr(keepalive.exceptions, name), name


def test_row_02_one_shot_verbs(httpbin: thirdparty.Server) -> None:
    base = httpbin.url
    assert keepalive.get(f"{base}/get", params={"a": "1"}).json()["args"] == {"a": "1"}
    assert keepalive.post(f"{base}/post", data={"f": "v"}).json()["form"] == {"f": "v"}
    assert keepalive.put(f"{base}/put", data=b"raw").json()["data"] == "raw"
    assert keepalive.patch(f"{base}/patch", json={"k": 1}).json()["json"] == {"k": 1}
    assert keepalive.delete(f"{base}/delete").status_code == 200
    assert keepalive.options(f"{base}/get").status_code == 200
    assert keepalive.head(f"{base}/get").text == ""
    assert keepalive.request("GET", f"{base}/get", params={"x": "y"}).json()["args"] == {"x": "y"}


def test_row_03_session_and_its_headers(httpbin: thirdparty.Server) -> None:
    with keepalive.Session() as s:
        s.headers.update({"User-Agent": "porter/1.0", "X-Team": "core"})
        sent = s.get(f"{httpbin.url}/headers").json()["headers"]
        assert sent["User-Agent"] == "porter/1.0" and sent["X-Team"] == "core"
        s.headers = {"X-Only": "this"}  # type: ignore[assignment]  # requests' replacement
        assert isinstance(s.headers, keepalive.Headers)
        sent = s.get(f"{httpbin.url}/headers").json()["headers"]
        assert sent["X-Only"] == "this" and "X-Team" not in sent and "User-Agent" not in sent


def test_row_04_session_factory(httpbin: thirdparty.Server) -> None:
    assert callable(requests.session)
    assert isinstance(keepalive.session, types.ModuleType)  # the module, not requests' factory
    with keepalive.Session() as s:
        assert s.get(f"{httpbin.url}/get").ok


# -- 5-7: params, headers, bodies --------------------------------------------------------------


def test_row_05_params_none_and_session_params(httpbin: thirdparty.Server) -> None:
    with keepalive.Session(params={"api_key": "k", "lang": "en"}) as s:
        assert s.params == {"api_key": "k", "lang": "en"}
        s.params["page"] = "1"
        args = s.get(f"{httpbin.url}/get", params={"lang": "fr", "page": None, "q": None}).json()
        assert args["args"] == {"api_key": "k", "lang": "fr"}
        s.params.update({"extra": ["1", "2"]})
        args = s.get(f"{httpbin.url}/get").json()["args"]
        assert args == {"api_key": "k", "lang": "en", "page": "1", "extra": ["1", "2"]}
    assert keepalive.Session(params=[("a", "1"), ("a", "2"), ("b", "3")]).params == {
        "a": ["1", "2"], "b": "3",
    }  # fmt: skip
    assert keepalive.Session(params="x=1&y=").params == {"x": "1", "y": ""}


def test_row_06_none_header_removes_a_session_header(httpbin: thirdparty.Server) -> None:
    with keepalive.Session(headers={"X-Drop": "me"}) as s:
        sent = s.get(f"{httpbin.url}/headers", headers={"X-Drop": None, "Accept": None}).json()
    assert "X-Drop" not in sent["headers"] and "Accept" not in sent["headers"]


def test_row_07_bodies(httpbin: thirdparty.Server, tmp_path: Path) -> None:
    base = httpbin.url
    with keepalive.Session() as s:
        got = s.post(f"{base}/post", data={"a": "1", "skip": None, "many": ["x", None, "y"]})
        assert got.json()["form"] == {"a": "1", "many": ["x", "y"]}
        got = s.post(f"{base}/post", data=[("a", "1"), ("b", None)]).json()
        assert got["form"] == {"a": "1"}
        assert s.post(f"{base}/post", data=b"\x00raw").json()["data"] == "\x00raw"
        assert s.post(f"{base}/post", data=(c for c in [b"gen", b"erated"])).json()["data"] == (
            "generated"
        )
        path = tmp_path / "upload.txt"
        path.write_bytes(b"from a file")
        with path.open("rb") as f:
            assert s.post(f"{base}/post", data=f).json()["data"] == "from a file"
        assert s.post(f"{base}/post", json={"ids": [1, 2]}).json()["json"] == {"ids": [1, 2]}
        with path.open("rb") as f:
            got = s.post(f"{base}/post", data={"k": "v", "none": None},
                         files={"doc": ("a.txt", f, "text/plain")}).json()  # fmt: skip
        assert got["files"] == {"doc": "from a file"} and got["form"] == {"k": "v"}


# -- 8-11: credentials ---------------------------------------------------------------------------


def test_row_08_auth_classes(httpbin: thirdparty.Server) -> None:
    base = httpbin.url
    with keepalive.Session() as s:
        assert s.get(f"{base}/basic-auth/u/p", auth=("u", "p")).status_code == 200
        assert s.get(f"{base}/basic-auth/u/p", auth=keepalive.BasicAuth("u", "p")).ok
        assert s.get(f"{base}/digest-auth/auth/u/p", auth=keepalive.DigestAuth("u", "p")).ok
        assert s.get(f"{base}/basic-auth/u/p", auth=("u", "wrong")).status_code == 401


class TokenAuth:
    """Custom authentication as requests users write it (an ``AuthBase`` subclass there)."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.calls = 0

    def __call__(self, r: Request) -> Request:
        self.calls += 1
        r.headers["X-Token"] = self.token
        return r


def test_row_09_custom_auth_callable(httpbin: thirdparty.Server, make_server: MakeServer) -> None:
    auth = TokenAuth("t0k3n")
    with keepalive.Session() as s:
        sent = s.get(f"{httpbin.url}/headers", auth=auth).json()["headers"]
        assert sent["X-Token"] == "t0k3n"
        s.auth = auth
        r = s.get(f"{httpbin.url}/redirect/2")  # within the origin: on every hop
        assert r.ok and auth.calls == 4 and r.request.headers["X-Token"] == "t0k3n"
    # Another origin never gets what the callable adds.
    other = make_server(echo_app, host="127.1.0.1")
    first = make_server(lambda req, side: Reply(302, [("Location", f"{other.url}/x")]))
    with keepalive.Session(auth=TokenAuth("secret")) as s:
        assert s.get(first.url).json()["target"] == "/x"
    assert first.requests[0].header("x-token") == "secret"
    assert other.requests[0].header("x-token") is None


def test_row_10_credentials_in_the_url(make_server: MakeServer) -> None:
    server = make_server(echo_app)
    with keepalive.Session() as s:
        r = s.get(server.url.replace("://", "://us%40er:p%3Ass@") + "/path")
    assert r.json()["headers"]["authorization"] == "Basic dXNAZXI6cDpzcw=="  # us@er:p:ss
    assert "@" not in r.url and "@" not in server.requests[0].target


def test_row_11_netrc(
    make_server: MakeServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login alice password s3cret\n")
    monkeypatch.setenv("NETRC", str(netrc))
    other = make_server(echo_app, host="127.1.0.1")
    server = make_server(
        lambda req, side: (
            Reply(302, [("Location", f"{other.url}/away")]) if req.target == "/away"
            else echo_app(req, side)
        )
    )  # fmt: skip
    alice = "Basic YWxpY2U6czNjcmV0"
    with keepalive.Session() as s:
        assert s.get(server.url).json()["headers"]["authorization"] == alice
        explicit = s.get(server.url, auth=("bob", "pw")).json()["headers"]["authorization"]
        assert explicit == "Basic Ym9iOnB3"
        from_url = s.get(server.url.replace("://", "://carol:x@")).json()
        assert from_url["headers"]["authorization"] == "Basic Y2Fyb2w6eA=="
        assert "authorization" not in s.get(f"{server.url}/away").json()["headers"]
    assert other.requests[0].header("authorization") is None
    with keepalive.Session(trust_env=False) as s:
        assert "authorization" not in s.get(server.url).json()["headers"]
    netrc.write_text("machine 127.0.0.1 login alice password s3cret\nthis is not netrc\n")
    with keepalive.Session() as s:  # a broken file is ignored, as requests does
        assert "authorization" not in s.get(server.url).json()["headers"]


# -- 12-18: time limits and errors -----------------------------------------------------------------


def stalling_app(request: ReceivedRequest, side: ServerSide) -> Reply | None:
    if request.target.startswith("/stall"):
        time.sleep(1.5)
        return None
    return Reply(200, [], b"quick")


def test_row_12_timeouts(make_server: MakeServer) -> None:
    server = make_server(stalling_app)
    with keepalive.Session() as s:
        assert s.timeout == Timeout(connect=10, read=60, write=60, pool=10)
        assert s.get(server.url, timeout=5).content == b"quick"
        assert s.get(server.url, timeout=(3.05, 27)).content == b"quick"
        assert s.get(server.url, timeout=None).content == b"quick"
        started = time.monotonic()
        with pytest.raises(requests_exceptions().ReadTimeout):
            s.get(f"{server.url}/stall", timeout=(3, 0.3))
        assert time.monotonic() - started < 1.2


def requests_exceptions() -> types.ModuleType:
    """``requests.exceptions`` as ported code reaches it: through the alias."""
    alias: types.ModuleType = keepalive
    return alias.exceptions  # type: ignore[no-any-return]


def test_row_13_total_deadline(make_server: MakeServer) -> None:
    def app(request: ReceivedRequest, side: ServerSide) -> None:
        side.send_raw(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n")
        for _ in range(10):  # a byte every 0.2 s: never 5 s of silence
            if side.closed:
                return
            side.send_raw(b"x")
            time.sleep(0.2)

    server = make_server(app)
    with keepalive.Session() as s:
        started = time.monotonic()
        with pytest.raises(keepalive.ReadTimeout):
            s.get(server.url, timeout=Timeout(5, total=0.7))
        assert 0.6 <= time.monotonic() - started < 1.5


def test_row_14_timeout_names(make_server: MakeServer) -> None:
    server = make_server(stalling_app)
    assert not issubclass(keepalive.Timeout, BaseException)  # the settings class
    assert keepalive.exceptions.Timeout is keepalive.TimeoutError
    with keepalive.Session() as s:
        for caught in (keepalive.TimeoutError, keepalive.exceptions.Timeout, TimeoutError):
            with pytest.raises(caught):
                s.get(f"{server.url}/stall", timeout=0.3)


def test_row_15_exception_names(
    make_server: MakeServer, tls_server: TestServer, httpbin: thirdparty.Server
) -> None:
    e = requests_exceptions()
    base = httpbin.url
    with keepalive.Session(max_redirects=2) as s:
        caught: list[tuple[str, type[BaseException]]] = [
            (f"http://127.0.0.1:{thirdparty.free_port()}/", e.ConnectionError),
            (tls_server.url, e.SSLError),  # the test CA is not trusted here
            (f"{base}/redirect/5", e.TooManyRedirects),
            ("example.com/path", e.MissingSchema),
            ("ftp://example.com/", e.InvalidSchema),
            ("http:///nohost", e.InvalidURL),
        ]
        for url, error in caught:
            with pytest.raises(error) as info:
                s.get(url)
            assert isinstance(info.value, e.RequestException), url
        with pytest.raises(e.InvalidHeader):
            s.get(base, headers={"X-Bad": "a\r\nInjected: 1"})
        with pytest.raises(e.ProxyError):
            s.get(f"{base}/get", proxies={"http": f"http://127.0.0.1:{thirdparty.free_port()}"})
    cut = make_server(
        lambda req, side: side.send_raw(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")
        or side.close()
    )
    bad_gzip = make_server(
        lambda req, side: Reply(200, [("Content-Encoding", "gzip")], b"not gzip at all")
    )
    failing = make_server(lambda req, side: Reply(503, [], b"down"))
    with keepalive.Session(retries=keepalive.Retry(total=1, status_forcelist={503})) as s:
        with pytest.raises(e.ChunkedEncodingError):
            s.get(cut.url)
        with pytest.raises(e.ContentDecodingError):
            s.get(bad_gzip.url)
        with pytest.raises(e.RetryError) as retry:
            s.get(failing.url)
    assert retry.value.response is not None and retry.value.response.status_code == 503
    # What cannot be provoked on loopback reliably, by the hierarchy requests defines.
    assert issubclass(e.ConnectTimeout, e.ConnectionError)
    assert issubclass(e.ConnectTimeout, e.Timeout) and issubclass(e.ReadTimeout, e.Timeout)
    assert not issubclass(e.ReadTimeout, e.ConnectionError)
    assert issubclass(e.ProxyError, e.ConnectionError) and issubclass(e.SSLError, e.ConnectionError)


def test_row_16_raise_for_status(httpbin: thirdparty.Server) -> None:
    with keepalive.Session() as s:
        ok = s.get(f"{httpbin.url}/get")
        assert ok.raise_for_status() is ok
        with pytest.raises(keepalive.HTTPError) as info:
            s.get(f"{httpbin.url}/status/404").raise_for_status()
    assert info.value.response.status_code == 404
    assert info.value.request is info.value.response.request
    assert isinstance(info.value, keepalive.HTTPStatusError)
    assert isinstance(info.value, keepalive.exceptions.RequestException)


def test_row_17_json_errors(httpbin: thirdparty.Server) -> None:
    r = keepalive.get(f"{httpbin.url}/html")
    for caught in (ValueError, json.JSONDecodeError, keepalive.JSONDecodeError,
                   keepalive.exceptions.JSONDecodeError, keepalive.RequestException):  # fmt: skip
        with pytest.raises(caught) as info:
            r.json()
        assert info.value.doc.startswith("<!DOCTYPE html>")  # type: ignore[attr-defined]


def test_row_18_wrong_arguments(make_server: MakeServer) -> None:
    server = make_server()
    with keepalive.Session() as s:
        wrong: list[tuple[Any, type[Exception], str]] = [
            (lambda: s.get(server.url, timeout="3"), TypeError, "timeout"),
            (lambda: s.get(server.url, params=5), TypeError, "params"),
            (lambda: s.get(server.url, timeout=-1), ValueError, "timeout"),
            (lambda: s.get(server.url, hooks={"respons": []}), ValueError, "respons"),
            (lambda: s.get(server.url, hooks={"response": 5}), TypeError, "hooks"),
            (lambda: s.send("GET /"), TypeError, "request"),
            (lambda: Request(5, server.url), TypeError, "method"),
            (lambda: keepalive.Session(event_hooks={"response": [1]}), TypeError, "event_hooks"),
        ]
        for call, builtin, named in wrong:
            with pytest.raises(builtin) as info:
                call()
            assert isinstance(info.value, keepalive.KeepaliveError), info.value
            assert named in str(info.value), info.value
    assert server.connections == 0


# -- 19-25: responses and cookies ---------------------------------------------------------------


def test_row_19_status_codes(httpbin: thirdparty.Server) -> None:
    with keepalive.Session() as s:
        assert s.get(f"{httpbin.url}/get").status_code == codes.ok == codes["OK"]
        assert s.get(f"{httpbin.url}/status/418").status_code == codes.teapot
        assert s.get(f"{httpbin.url}/status/404").status_code == codes["not_found"]
    theirs = {k: v for k, v in vars(requests.codes).items() if k != "name"}
    assert {name: codes[name] for name in theirs} == theirs
    assert codes["no such status"] is None and codes.get("nope", 0) == 0
    with pytest.raises(AttributeError):
        codes.no_such_status  # noqa: B018
    assert "not_found" in dir(codes) and keepalive.status_codes.codes is codes


def test_row_20_response_surface(httpbin: thirdparty.Server) -> None:
    with keepalive.Session() as s:
        r = s.get(f"{httpbin.url}/encoding/utf8")
        assert r.ok and r.reason == "OK" and r.url == f"{httpbin.url}/encoding/utf8"
        assert r.headers["CONTENT-TYPE"] == r.headers["content-type"]
        assert r.encoding == "utf-8" and "∮ E⋅da = Q" in r.text
        assert isinstance(r.elapsed.total_seconds(), float) and r.content.startswith(b"<h1>")
        r.encoding = "iso-8859-1"
        assert "\xe2\x88\xae" in r.text  # the bytes of "∮" read again by the charset set
        missing = s.get(f"{httpbin.url}/status/500")
        assert not missing.ok and missing.reason == "INTERNAL SERVER ERROR"


def test_row_21_response_cookies(httpbin: thirdparty.Server) -> None:
    with keepalive.Session() as s:
        r = s.get(f"{httpbin.url}/cookies/set", params={"a": "1", "b": "2"}, allow_redirects=False)
        assert r.cookies["a"] == "1" and r.cookies.get("b") == "2"
        assert r.cookies.get_dict() == {"a": "1", "b": "2"} == r.cookies
        assert isinstance(r.cookies, keepalive.CookieJar)
        assert r.cookies.jar is not s.cookies.jar  # the response's own, as in requests
        follow = s.get(f"{httpbin.url}/cookies/set", params={"c": "3"})
        assert follow.cookies.get_dict() == {} and follow.history[0].cookies["c"] == "3"


def test_row_22_session_cookie_jar(make_server: MakeServer, tls_server: TestServer,
                                   ca_path: str) -> None:  # fmt: skip
    server = make_server(echo_app)
    with keepalive.Session(verify=ca_path) as s:
        s.cookies["plain"] = "1"
        s.cookies.set("scoped", "2", domain="127.0.0.1", path="/in")
        s.cookies.set("secure", "3", secure=True)
        s.cookies.set("stale", "4", expires=time.time() - 60)
        s.cookies.set("flagged", "5", rest={"HttpOnly": None})
        s.cookies.update({"more": "6"})
        assert s.cookies["plain"] == "1" and s.cookies.get("nope") is None
        assert s.cookies.get_dict() == {"plain": "1", "scoped": "2", "secure": "3",
                                        "flagged": "5", "more": "6"}  # fmt: skip
        assert sorted(s.cookies.keys()) == sorted(s.cookies.get_dict())
        assert sorted(s.cookies.values()) == ["1", "2", "3", "5", "6"]
        assert dict(s.cookies.items()) == s.cookies.get_dict()
        assert isinstance(s.cookies.jar, http.cookiejar.CookieJar)
        plain = s.get(f"{server.url}/").json()["headers"]["cookie"]
        inside = s.get(f"{server.url}/in/x").json()["headers"]["cookie"]
        over_tls = s.get(tls_server.url).request.headers["cookie"]
        del s.cookies["more"]
        assert "more" not in s.cookies
    assert plain == "plain=1; flagged=5; more=6"
    assert inside == "scoped=2; plain=1; flagged=5; more=6"
    assert "secure=3" in over_tls and "stale" not in over_tls


def test_row_23_iterating_the_jar(httpbin: thirdparty.Server) -> None:
    with keepalive.Session() as s:
        s.get(f"{httpbin.url}/cookies/set", params={"x": "1", "y": "2"})
        assert sorted(s.cookies) == ["x", "y"]
        pairs = sorted((cookie.name, cookie.value) for cookie in s.cookies.jar)
    assert pairs == [("x", "1"), ("y", "2")]


def test_row_24_dict_from_cookiejar(httpbin: thirdparty.Server) -> None:
    with keepalive.Session() as s:
        s.get(f"{httpbin.url}/cookies/set", params={"k": "v", "n": "1"})
        assert s.cookies.get_dict() == {"k": "v", "n": "1"}
        # requests' own helper reads the stdlib jar underneath just as well.
        assert requests.utils.dict_from_cookiejar(s.cookies.jar) == s.cookies.get_dict()


def test_row_25_request_cookies_are_sent_not_stored(httpbin: thirdparty.Server) -> None:
    with keepalive.Session() as s:
        r = s.get(f"{httpbin.url}/cookies", cookies={"once": "1"})
        assert r.json() == {"cookies": {"once": "1"}} and "once" not in s.cookies


# -- 26-28: redirects ------------------------------------------------------------------------------


def test_row_26_history(httpbin: thirdparty.Server) -> None:
    with keepalive.Session() as s:
        r = s.get(f"{httpbin.url}/redirect/2")
        assert [h.status_code for h in r.history] == [302, 302] and r.history[0].is_redirect
        assert r.url == f"{httpbin.url}/get" and not r.is_redirect
        stay = s.get(f"{httpbin.url}/redirect/2", allow_redirects=False)
        assert stay.status_code == 302 and stay.is_redirect and stay.history == []


def test_row_27_twenty_redirects(httpbin: thirdparty.Server) -> None:
    with keepalive.Session() as s:
        assert s.max_redirects == 20
        assert len(s.get(f"{httpbin.url}/redirect/20").history) == 20
        with pytest.raises(keepalive.TooManyRedirects):
            s.get(f"{httpbin.url}/redirect/21")
        s.max_redirects = 30
        assert len(s.get(f"{httpbin.url}/redirect/25").history) == 25


def test_row_28_head_does_not_follow(httpbin: thirdparty.Server) -> None:
    assert keepalive.head(f"{httpbin.url}/redirect/1").status_code == 302
    assert requests.head(f"{httpbin.url}/redirect/1").status_code == 302  # the same in requests
    with keepalive.Session() as s:
        assert s.head(f"{httpbin.url}/redirect/1").status_code == 302
        assert s.head(f"{httpbin.url}/redirect/1", allow_redirects=True).status_code == 200


# -- 29-32: streaming ---------------------------------------------------------------------------


def test_row_29_streaming(httpbin: thirdparty.Server) -> None:
    with keepalive.Session() as s:
        whole = s.get(f"{httpbin.url}/bytes/5000", params={"seed": 7}).content
        with s.get(f"{httpbin.url}/bytes/5000", params={"seed": 7}, stream=True) as r:
            chunks = list(r.iter_content(chunk_size=1024))
        assert b"".join(chunks) == whole and [len(c) for c in chunks] == [1024] * 4 + [904]
        text = s.get(f"{httpbin.url}/encoding/utf8").text
        with s.get(f"{httpbin.url}/encoding/utf8", stream=True) as r:
            assert "".join(r.iter_content(chunk_size=7, decode_unicode=True)) == text
        assert s.pool.stats()["active"] == 0


def test_row_30_iter_lines(httpbin: thirdparty.Server, make_server: MakeServer) -> None:
    with keepalive.Session() as s:
        with s.get(f"{httpbin.url}/stream/3", stream=True) as r:
            lines = list(r.iter_lines())
        assert [json.loads(line)["id"] for line in lines] == [0, 1, 2]
        assert all(isinstance(line, str) for line in lines)
        with s.get(f"{httpbin.url}/stream/3", stream=True) as r:
            raw = list(r.iter_lines(decode_unicode=False))
        assert [line.encode() for line in lines] == raw
        server = make_server(lambda req, side: Reply(200, [], b"a;b;;c"))
        with s.get(server.url, stream=True) as r:
            assert list(r.iter_lines(chunk_size=2, delimiter=";")) == ["a", "b", "", "c"]


def test_row_31_raw(httpbin: thirdparty.Server, tmp_path: Path) -> None:
    with keepalive.Session() as s, s.get(f"{httpbin.url}/gzip", stream=True) as r:
        head = r.raw.read(2)
        rest = io.BytesIO()
        shutil.copyfileobj(r.raw, rest)
    assert head == b"\x1f\x8b"  # as sent: gzip, not decoded
    assert json.loads(gzip.decompress(head + rest.getvalue()))["gzipped"] is True


def test_row_32_links(httpbin: thirdparty.Server) -> None:
    link = (
        '<https://api.example/items?page=2>; rel="next", '
        "<https://api.example/items?page=9>; rel=last"
    )
    r = keepalive.get(f"{httpbin.url}/response-headers", params={"Link": link})
    assert r.links["next"]["url"] == "https://api.example/items?page=2"
    assert r.links["last"] == {"url": "https://api.example/items?page=9", "rel": "last"}


# -- 33-37: hooks, prepared requests -------------------------------------------------------------


def test_row_33_hooks(httpbin: thirdparty.Server) -> None:
    seen: list[tuple[str, int]] = []

    def log(r: keepalive.Response, *args: Any, **kwargs: Any) -> None:
        seen.append(("session", r.status_code))

    def sign(request: Request) -> None:
        request.headers["X-Signed"] = "yes"

    with keepalive.Session(hooks={"response": log}, event_hooks={"request": [sign]}) as s:
        assert s.hooks["response"] == [log] and s.event_hooks is s.hooks
        r = s.get(f"{httpbin.url}/redirect/1")
        assert seen == [("session", 302), ("session", 200)]
        assert r.request.headers["X-Signed"] == "yes"
        assert s.get(f"{httpbin.url}/headers").json()["headers"]["X-Signed"] == "yes"
        s.hooks["response"].append(lambda r, *a, **k: r.raise_for_status())
        with pytest.raises(keepalive.HTTPError):
            s.get(f"{httpbin.url}/status/500")
        s.hooks = {"response": lambda r, *a, **k: keepalive.Response(299, content=b"swapped")}
        swapped = s.get(f"{httpbin.url}/get")
    assert swapped.status_code == 299 and swapped.content == b"swapped"


def test_row_33_hooks_async(httpbin: thirdparty.Server) -> None:
    async def main() -> tuple[list[int], str]:
        seen: list[int] = []

        async def log(r: keepalive.Response) -> None:
            await asyncio.sleep(0)
            seen.append(r.status_code)

        async def sign(request: Request) -> None:
            request.headers["X-Signed"] = "async"

        async with keepalive.AsyncSession(event_hooks={"request": [sign], "response": [log]}) as s:
            r = await s.get(f"{httpbin.url}/redirect/1", hooks={"response": seen.append})
            echoed = (await s.get(f"{httpbin.url}/headers")).json()["headers"]["X-Signed"]
            assert r.status_code == 200
        return seen, echoed

    seen, echoed = asyncio.run(main())
    assert echoed == "async"
    assert [x if isinstance(x, int) else x.status_code for x in seen] == [302, 302, 200, 200, 200]


def test_row_34_request_hooks_after_the_sessions(httpbin: thirdparty.Server) -> None:
    order: list[str] = []
    with keepalive.Session(hooks={"response": [lambda r, **k: order.append("session")]}) as s:
        s.get(f"{httpbin.url}/get", hooks={"response": lambda r, **k: order.append("request")})
    assert order == ["session", "request"]


def test_row_35_prepare_and_send(httpbin: thirdparty.Server) -> None:
    with keepalive.Session(headers={"X-Session": "s", "X-Drop": "d"}, params={"k": "1"}) as s:
        s.cookies.set("sid", "abc")
        req = keepalive.Request(
            "post", f"{httpbin.url}/post", headers={"X-Req": "r", "X-Drop": None},
            params={"q": "x"}, data={"a": "1", "none": None}, cookies={"c": "3"},
            auth=("u", "p"),
        )  # fmt: skip
        prep = s.prepare_request(req)
        assert isinstance(prep, keepalive.PreparedRequest)
        assert prep.method == "POST" and prep.url == f"{httpbin.url}/post?k=1&q=x"
        assert prep.body == b"a=1" and prep.headers["Content-Length"] == "3"
        assert prep.headers["Content-Type"] == "application/x-www-form-urlencoded"
        assert prep.headers["Authorization"] == "Basic dTpw"
        assert prep.headers["Cookie"] == "sid=abc; c=3" and "X-Drop" not in prep.headers
        prep.headers["Keep-Dead"] = "parrot"
        prep.body = "No, I want exactly this as the body."
        del prep.headers["Content-Type"]
        settings = s.merge_environment_settings(prep.url, {}, None, None, None)
        got = s.send(prep, **settings).json()
    assert got["data"] == "No, I want exactly this as the body."
    assert got["headers"]["Content-Length"] == "36"  # worked out again for the new body
    assert got["headers"]["Keep-Dead"] == "parrot" and got["headers"]["X-Req"] == "r"
    assert got["headers"]["X-Session"] == "s" and got["args"] == {"k": "1", "q": "x"}


def test_row_35_send_recomputes_cookies_on_each_hop(httpbin: thirdparty.Server) -> None:
    with keepalive.Session() as s:
        prep = s.prepare_request(Request("GET", f"{httpbin.url}/cookies/set?flavour=oat"))
        r = s.send(prep)
        # The redirect's Set-Cookie reaches the next hop, as a Session.get would send it.
        assert r.json() == {"cookies": {"flavour": "oat"}}
        unprepared = s.send(Request("GET", f"{httpbin.url}/cookies"))  # prepared on the way
        assert unprepared.json() == {"cookies": {"flavour": "oat"}}


def test_row_35_prepare_and_send_async(httpbin: thirdparty.Server) -> None:
    async def main() -> Any:
        async with keepalive.AsyncSession() as s:
            prep = s.prepare_request(Request("PUT", f"{httpbin.url}/put", json={"n": 1}))
            r = await s.send(prep)
            return r.json()

    got = asyncio.run(main())
    assert got["json"] == {"n": 1} and got["headers"]["Content-Type"] == "application/json"


def test_row_36_prepare_with_or_without_the_session(httpbin: thirdparty.Server) -> None:
    req = keepalive.Request("GET", f"{httpbin.url}/get", params={"x": "1"})
    bare = req.prepare()  # requests' Request.prepare(): the request's own settings only
    assert bare.url == f"{httpbin.url}/get?x=1" and "User-Agent" not in bare.headers
    with keepalive.Session(headers={"X-Session": "yes"}) as s:
        merged = s.prepare_request(req)
        assert merged.headers["X-Session"] == "yes"
        assert s.send(merged).json()["args"] == {"x": "1"}
        sent = s.send(bare).json()
        assert sent["args"] == {"x": "1"} and "X-Session" not in sent["headers"]


def test_row_37_request_sent(httpbin: thirdparty.Server) -> None:
    with keepalive.Session() as s:
        posted = s.post(f"{httpbin.url}/post", json={"a": 1})
        assert posted.request.method == "POST" and posted.request.url == f"{httpbin.url}/post"
        assert posted.request.body == b'{"a":1}'
        assert posted.request.headers["Content-Type"] == "application/json"
        assert s.get(f"{httpbin.url}/get").request.body is None
        streamed = s.post(f"{httpbin.url}/post", data=iter([b"a", b"b"]))
        assert streamed.request.body is None and streamed.json()["data"] == "ab"


# -- 38-40: TLS and proxies ----------------------------------------------------------------------


def test_row_38_verify_and_cert(
    tls_server: TestServer, ca_path: str, ca: trustme.CA, tmp_path: Path,
    client_ssl_context: ssl.SSLContext,
) -> None:  # fmt: skip
    with keepalive.Session(trust_env=False) as s:
        with pytest.raises(keepalive.SSLError):
            s.get(tls_server.url)
        assert s.get(tls_server.url, verify=False).ok
        assert s.get(tls_server.url, verify=ca_path).ok
        assert s.get(tls_server.url, verify=client_ssl_context).ok
        s.verify = ca_path  # changed after the session was made
        assert s.get(tls_server.url).ok
    # A client certificate, checked by a server that requires one.
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    ca.configure_trust(server_ctx)
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    client = ca.issue_cert("client@example.test")
    cert, key = tmp_path / "client.pem", tmp_path / "client.key"
    client.cert_chain_pems[0].write_to_path(str(cert))
    client.private_key_pem.write_to_path(str(key))

    def who(request: ReceivedRequest, side: ServerSide) -> Reply:
        peer = side.sock.getpeercert()  # type: ignore[attr-defined]
        names = [value for _, value in peer.get("subjectAltName", ())]
        return Reply(200, [], " ".join(names).encode())

    with TestServer(who, ssl_context=server_ctx) as mtls:
        with keepalive.Session(verify=ca_path, cert=(str(cert), str(key)), trust_env=False) as s:
            assert "client@example.test" in s.get(mtls.url).text
        with keepalive.Session(verify=ca_path, trust_env=False) as s, pytest.raises(
            keepalive.TransportError
        ):
            s.get(mtls.url)


def test_row_39_ca_bundle_from_the_environment(
    tls_server: TestServer, ca_path: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in CA_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    # The system store does not know the test CA.
    with keepalive.Session() as s, pytest.raises(keepalive.SSLError):
        s.get(tls_server.url)
    for name in CA_VARIABLES:
        monkeypatch.setenv(name, ca_path)
        with keepalive.Session() as s:
            assert s.get(tls_server.url).ok
            assert s.get(tls_server.url, verify=True).ok
        monkeypatch.delenv(name)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca_path)
    with keepalive.Session(trust_env=False) as s, pytest.raises(keepalive.SSLError):
        s.get(tls_server.url)
    # An explicit verify wins over a variable that would break it.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "missing.pem"))
    with keepalive.Session(verify=ca_path) as s:
        assert s.get(tls_server.url).ok
    with keepalive.Session(verify=False) as s:
        assert s.get(tls_server.url).ok
    with keepalive.Session() as s:
        s.verify = ca_path
        assert s.get(tls_server.url).ok
        assert s.get(tls_server.url, verify=False).ok


def test_row_40_proxies(make_server: MakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    proxy = make_server(echo_app)  # answers as a plain-HTTP proxy would, echoing what it got
    second = make_server(echo_app, host="127.1.0.1")
    # Nothing listens at the target: only a proxy can answer for it.
    target = f"http://127.0.0.1:{thirdparty.free_port()}/path?q=1"
    with keepalive.Session(proxies={"http": proxy.url}) as s:
        assert s.get(target).json()["target"] == target
        assert s.get(target, proxies={"http": second.url}).json()["target"] == target
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    with keepalive.Session() as s:
        assert s.get(target).json()["target"] == target
        s.proxies["http"] = second.url  # requests users change it in place
        assert s.get(target).json()["target"] == target
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with keepalive.Session() as s, pytest.raises(keepalive.ConnectionError):
        s.get(target)  # sent directly, to nobody
    assert len(proxy.requests) == 2 and len(second.requests) == 2


# -- 41-44: adapters, structures, URLs -----------------------------------------------------------


def test_row_41_retries_instead_of_an_adapter(make_server: MakeServer) -> None:
    calls = []

    def flaky(request: ReceivedRequest, side: ServerSide) -> Reply:
        calls.append(request.target)
        return Reply(503 if len(calls) < 3 else 200, [], b"")

    server = make_server(flaky)
    with keepalive.Session(retries=keepalive.Retry(total=3, backoff_factor=0.01,
                                                   status_forcelist={503})) as s:  # fmt: skip
        assert s.get(server.url).status_code == 200
    assert len(calls) == 3


def test_row_42_pool_size(make_server: MakeServer) -> None:
    def slow(request: ReceivedRequest, side: ServerSide) -> Reply:
        time.sleep(0.05)
        return Reply(200, [], b"ok")

    server = make_server(slow)
    with keepalive.Session(max_connections_per_host=2) as s:
        threads = [threading.Thread(target=s.get, args=(server.url,)) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=20)
    assert server.max_open_connections <= 2 and len(server.requests) == 8


def test_row_43_case_insensitive_headers(httpbin: thirdparty.Server) -> None:
    headers = keepalive.Headers({"Content-Type": "text/plain"})
    assert headers["content-type"] == headers["CONTENT-TYPE"] == "text/plain"
    r = keepalive.get(f"{httpbin.url}/get")
    assert isinstance(r.headers, keepalive.Headers) and "CONTENT-LENGTH" in r.headers


def test_row_44_non_ascii_urls(make_server: MakeServer) -> None:
    def app(request: ReceivedRequest, side: ServerSide) -> Reply:
        if request.target == "/move":
            return Reply(302, [("Location", "/ünïcode/ sp ace?x=ü".encode())])  # type: ignore[list-item]
        return echo_app(request, side)

    server = make_server(app)
    with keepalive.Session() as s:
        r = s.get(f"{server.url}/päth/ü?q=ü ö&keep=%2F")
        assert r.json()["target"] == "/p%C3%A4th/%C3%BC?q=%C3%BC%20%C3%B6&keep=%2F"
        assert r.url == f"{server.url}/p%C3%A4th/%C3%BC?q=%C3%BC%20%C3%B6&keep=%2F"
        moved = s.get(f"{server.url}/move")
        assert moved.json()["target"] == "/%C3%BCn%C3%AFcode/%20sp%20ace?x=%C3%BC"
        with pytest.raises(keepalive.InvalidURL):
            s.get(f"{server.url}/a\nb")
        # The host goes out IDNA-encoded: an HTTP proxy sees it in the request line.
        proxied = s.get("http://bücher.example/", proxies={"http": server.url}).json()
    assert proxied["target"] == "http://xn--bcher-kva.example/"
    assert proxied["headers"]["host"] == "xn--bcher-kva.example"


# -- requests code as its users write it ----------------------------------------------------------

API_CLIENT = '''
def run(requests, base):
    calls = []
    def log(r, *args, **kwargs):
        calls.append(r.status_code)

    s = requests.Session()
    s.headers.update({"Authorization": "Bearer t0k3n", "Accept": "application/json"})
    s.hooks["response"].append(log)
    s.params = {"api_key": "k"}
    out = {}
    r = s.get(base + "/get", params={"page": 2, "filter": None}, timeout=(3, 10))
    r.raise_for_status()
    out["args"] = r.json()["args"]
    out["auth"] = r.json()["headers"]["Authorization"]
    try:
        s.get(base + "/status/404", timeout=5).raise_for_status()
    except requests.exceptions.HTTPError as e:
        out["http_error"] = e.response.status_code
    try:
        s.get(base + "/html").json()
    except ValueError:
        out["json"] = "not json"
    r = s.get(base + "/redirect/2")
    out["history"] = [h.status_code for h in r.history]
    out["ok"] = r.status_code == requests.codes.ok
    out["calls"] = calls
    link = '<' + base + '/get?page=3>; rel="next"'
    out["next"] = s.get(base + "/response-headers", params={"Link": link}).links["next"]["url"]
    out["form"] = s.post(base + "/post", data={"a": "1", "b": None}).json()["form"]
    out["put"] = s.put(base + "/put", json={"x": [1, 2]}).json()["json"]
    s.close()
    return out
'''

FAILURES = '''
def run(requests, base, closed_port):
    out = []
    attempts = [
        ("http://127.0.0.1:%d/" % closed_port, {}),
        ("example.com/path", {}),
        ("ftp://example.com/", {}),
        ("http://", {}),
        (base + "/delay/2", {"timeout": 0.3}),
        (base + "/redirect/3", {"max": 1}),
    ]
    for url, options in attempts:
        s = requests.Session()
        if "max" in options:
            s.max_redirects = options.pop("max")
        try:
            s.get(url, **options)
            out.append("no error")
        except requests.exceptions.MissingSchema:
            out.append("MissingSchema")
        except requests.exceptions.InvalidSchema:
            out.append("InvalidSchema")
        except requests.exceptions.InvalidURL:
            out.append("InvalidURL")
        except requests.exceptions.ReadTimeout:
            out.append("ReadTimeout")
        except requests.exceptions.Timeout:
            out.append("Timeout")
        except requests.exceptions.ConnectionError:
            out.append("ConnectionError")
        except requests.exceptions.TooManyRedirects:
            out.append("TooManyRedirects")
        except requests.exceptions.RequestException:
            out.append("RequestException")
        finally:
            s.close()
    return out
'''

DOWNLOADS = '''
import json
import os
import shutil

def run(requests, base, directory):
    out = {}
    with requests.get(base + "/bytes/20000", params={"seed": 3}, stream=True) as r:
        r.raise_for_status()
        with open(directory + "/a.bin", "wb") as f:
            for chunk in r.iter_content(chunk_size=8192):
                if chunk:
                    f.write(chunk)
    with open(directory + "/a.bin", "rb") as f:
        out["size"] = len(f.read())
    with requests.get(base + "/bytes/3000", params={"seed": 3}, stream=True) as r:
        with open(directory + "/b.bin", "wb") as f:
            shutil.copyfileobj(r.raw, f)
    with open(directory + "/b.bin", "rb") as f:
        out["raw"] = len(f.read())
    r = requests.get(base + "/stream/4", stream=True)
    out["ids"] = [json.loads(line)["id"] for line in r.iter_lines(decode_unicode=True) if line]
    s = requests.Session()
    s.cookies.set("pref", "dark")
    s.cookies["lang"] = "en"
    s.get(base + "/cookies/set", params={"sid": "42"})
    out["cookies"] = s.get(base + "/cookies").json()["cookies"]
    out["jar"] = s.cookies.get_dict()
    out["resp_cookie"] = s.get(
        base + "/cookies/set/x/1", allow_redirects=False).cookies["x"]
    req = requests.Request("POST", base + "/post", data={"k": "v"}, headers={"X-A": "1"})
    prepped = s.prepare_request(req)
    del prepped.headers["X-A"]
    settings = s.merge_environment_settings(prepped.url, {}, None, None, None)
    posted = s.send(prepped, **settings).json()
    out["prepared"] = [posted["form"], "X-A" in posted["headers"]]
    s.close()
    return out
'''


def run_script(source: str, module: types.ModuleType, *args: Any) -> Any:
    namespace: dict[str, Any] = {}
    exec(compile(source, "<requests code>", "exec"), namespace)
    return namespace["run"](module, *args)


def test_api_client_script_runs_under_both(httpbin: thirdparty.Server) -> None:
    theirs = run_script(API_CLIENT, requests, httpbin.url)
    ours = run_script(API_CLIENT, keepalive, httpbin.url)
    assert ours == theirs
    assert ours["args"] == {"api_key": "k", "page": "2"} and ours["calls"][3:6] == [302, 302, 200]


def test_failure_script_runs_under_both(httpbin: thirdparty.Server) -> None:
    port = thirdparty.free_port()
    theirs = run_script(FAILURES, requests, httpbin.url, port)
    ours = run_script(FAILURES, keepalive, httpbin.url, port)
    assert ours == theirs == [
        "ConnectionError", "MissingSchema", "InvalidSchema", "InvalidURL", "ReadTimeout",
        "TooManyRedirects",
    ]  # fmt: skip


def test_download_script_runs_under_both(httpbin: thirdparty.Server, tmp_path: Path) -> None:
    (tmp_path / "r").mkdir()
    (tmp_path / "k").mkdir()
    theirs = run_script(DOWNLOADS, requests, httpbin.url, str(tmp_path / "r"))
    ours = run_script(DOWNLOADS, keepalive, httpbin.url, str(tmp_path / "k"))
    assert ours == theirs
    assert ours["cookies"] == {"pref": "dark", "lang": "en", "sid": "42"}
    assert ours["prepared"] == [{"k": "v"}, False]


# -- signatures ----------------------------------------------------------------------------------

VERBS = ("get", "head", "options", "delete", "post", "put", "patch")


@pytest.mark.parametrize("owner", [keepalive.Session, keepalive.AsyncSession, keepalive])
def test_verbs_have_real_signatures_and_docstrings(owner: Any) -> None:
    expected = set(inspect.signature(keepalive.Session.request).parameters) - {"self", "method"}
    for verb in VERBS:
        function = getattr(owner, verb)
        parameters = inspect.signature(function).parameters
        kinds = {p.kind for p in parameters.values()}
        assert inspect.Parameter.VAR_KEYWORD not in kinds, verb
        assert expected <= set(parameters), (verb, expected - set(parameters))
        assert function.__doc__, verb
    head = inspect.signature(owner.head).parameters["allow_redirects"].default
    assert head is False


def test_a_misspelt_keyword_fails(httpbin: thirdparty.Server) -> None:
    with keepalive.Session() as s, pytest.raises(TypeError, match="tmeout"):
        s.get(f"{httpbin.url}/get", tmeout=3)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="allow_redirect"):
        keepalive.get(f"{httpbin.url}/get", allow_redirect=False)  # type: ignore[call-arg]


USER_CODE = """
import keepalive as requests


def fetch(url: str) -> int:
    with requests.Session() as s:
        s.hooks["response"].append(lambda r, *a, **k: r.raise_for_status())
        r = s.get(url, params={"q": "x"}, timeout=(3, 10), allow_redirects=False)
        s.post(url, json={"a": 1}, tmeout=3)
        requests.get(url, verfy=False)
        prepared = s.prepare_request(requests.Request("GET", url, headers={"X": None}))
        s.send(prepared, stream=True)
        return r.status_code + requests.codes.ok
"""


def test_mypy_strict_sees_every_keyword(tmp_path: Path) -> None:
    import subprocess
    import sys

    thirdparty.require_module("mypy", "pip install -e '.[lint]'")
    user = tmp_path / "user_code.py"
    user.write_text(USER_CODE)
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary",
         "--cache-dir", str(tmp_path / "cache"), str(user)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={**os.environ, "MYPYPATH": str(README.parent)},
    )  # fmt: skip
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 2, result.stdout + result.stderr
    assert 'Unexpected keyword argument "tmeout"' in errors[0]
    assert 'Unexpected keyword argument "verfy"' in errors[1]


def test_row_45_options_without_a_body_says_no_length(make_server: MakeServer) -> None:
    server = make_server(echo_app)
    with keepalive.Session() as s:
        sent = s.options(server.url + "/o").json()
        assert "content-length" not in sent["headers"]
        posted = s.post(server.url + "/p").json()  # POST's content has a meaning: 0 is said
        assert posted["headers"]["content-length"] == "0"


def test_row_46_data_and_json_together_are_refused(make_server: MakeServer) -> None:
    server = make_server(echo_app)
    with keepalive.Session() as s:
        with pytest.raises(ValueError, match="json= or data=") as info:
            s.post(server.url + "/p", data={"a": "1"}, json={"b": 2})
        assert isinstance(info.value, keepalive.KeepaliveError)
    assert server.requests == []


def test_row_47_idna_2003_hosts() -> None:
    from keepalive.urls import ascii_host

    assert ascii_host("straße.de") == "strasse.de"  # IDNA 2008 would keep the ß
    assert ascii_host("bücher.example") == "xn--bcher-kva.example"


def test_row_48_a_session_is_not_pickled() -> None:
    import copy
    import pickle

    for make in (keepalive.Session, keepalive.AsyncSession):
        session = make()
        with pytest.raises(TypeError, match="cannot be pickled") as info:
            pickle.dumps(session)
        assert isinstance(info.value, keepalive.InvalidArgumentType)
        with pytest.raises(keepalive.InvalidArgumentType):
            copy.copy(session)
        session.close() if isinstance(session, keepalive.Session) else asyncio.run(session.aclose())


def test_row_49_a_missing_ca_file_is_a_tls_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    with (
        keepalive.Session(verify=str(missing)) as s,
        pytest.raises(keepalive.TLSError, match=r"missing\.pem"),
    ):
        s.get("https://127.0.0.1:9/")
