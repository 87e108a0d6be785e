"""Session: the requests/httpx surface, against httpbin (gunicorn) and the in-process server."""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator

import pytest
import thirdparty
from conftest import MakeServer
from testserver import ReceivedRequest, Reply, ServerSide, TestServer

import keepalive
from keepalive.decoders import ACCEPT_ENCODING

# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def session() -> Iterator[keepalive.Session]:
    with keepalive.Session(trust_env=False) as s:
        yield s


def _start_proxy(*extra: str) -> tuple[subprocess.Popen[bytes], int]:
    thirdparty.require_module("proxy", "pip install -e '.[test]' (proxy.py)")
    port = thirdparty.free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "proxy", "--hostname", "127.0.0.1", "--port", str(port),
         "--num-workers", "1", "--num-acceptors", "1", "--threaded", *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    import socket

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, port
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.1)
    proc.kill()
    err = proc.stderr.read().decode() if proc.stderr else ""
    raise RuntimeError(f"proxy.py did not start: {err[-2000:]}")


@pytest.fixture(scope="module")
def proxy() -> Iterator[int]:
    proc, port = _start_proxy()
    yield port
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def auth_proxy() -> Iterator[int]:
    proc, port = _start_proxy("--basic-auth", "puser:ppass")
    yield port
    proc.terminate()
    proc.wait(timeout=10)


# -- the canonical example --------------------------------------------------------------------


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_canonical_cookie_example(
    httpbin: thirdparty.Server, httpbin_tls: thirdparty.Server, tls: bool
) -> None:
    server = httpbin_tls if tls else httpbin
    with keepalive.Session(verify=server.ca_path or True, trust_env=False) as s:
        s.headers.update({"User-Agent": "my-app/0.0.1"})
        first = s.get(f"{server.url}/cookies/set/sessioncookie/123456789")
        second = s.get(f"{server.url}/cookies")
        assert second.json() == {"cookies": {"sessioncookie": "123456789"}}
        assert second.request.headers["User-Agent"] == "my-app/0.0.1"
        assert second.reused and second.connection_id == first.history[0].connection_id
        assert s.pool.stats()["opened"] == 1
        assert "sessioncookie" in s.cookies and s.cookies.get("sessioncookie") == "123456789"


# -- URLs, params, headers ---------------------------------------------------------------------


def test_params_merge_with_query(httpbin: thirdparty.Server) -> None:
    with keepalive.Session(params={"s": "1"}, trust_env=False) as s:
        args = s.get(f"{httpbin.url}/get?a=1", params={"b": ["2", "3"], "c": None}).json()["args"]
        assert args == {"a": "1", "b": ["2", "3"], "s": "1"}
        args = s.get(f"{httpbin.url}/get", params=[("x", "1"), ("x", "2")]).json()["args"]
        assert args == {"x": ["1", "2"], "s": "1"}
        args = s.get(f"{httpbin.url}/get", params="q=a+b").json()["args"]
        assert args == {"q": "a b", "s": "1"}


@pytest.mark.parametrize(
    "url", ["ftp://example.com/", "http://", "http://host:99999/", "example.com/x", "http:///x"]
)
def test_invalid_urls(session: keepalive.Session, url: str) -> None:
    with pytest.raises(keepalive.InvalidURL):
        session.get(url)


def test_idna_host(make_server: MakeServer) -> None:
    assert keepalive.urls.split_url("http://bücher.example/").host == "xn--bcher-kva.example"


def test_default_and_merged_headers(session: keepalive.Session, server: TestServer) -> None:
    session.headers["X-Session"] = "s"
    session.get(server.url, headers={"x-request": "r", "Accept": None, "x-session": "override"})
    sent = server.requests[0]
    assert sent.header("user-agent") == f"keepalive/{keepalive.__version__}"
    assert sent.header("accept") is None
    assert sent.header("accept-encoding") == ACCEPT_ENCODING
    assert sent.header_list("x-session") == ["override"]
    assert sent.header("x-request") == "r"


def test_headers_class() -> None:
    h = keepalive.Headers([("Set-Cookie", "a=1"), ("set-cookie", "b=2"), ("X", "y")])
    assert h["SET-COOKIE"] == "a=1, b=2" and h.get_list("Set-Cookie") == ["a=1", "b=2"]
    assert list(h) == ["Set-Cookie", "X"] and len(h) == 2 and "x" in h
    c = h.copy()
    c.update({"x": "z"})
    assert c["X"] == "z" and h["x"] == "y"
    del c["set-cookie"]
    assert "set-cookie" not in c


def test_header_with_crlf_raises_before_writing(
    session: keepalive.Session, server: TestServer
) -> None:
    with pytest.raises(keepalive.LocalProtocolError):
        session.get(server.url, headers={"X-Evil": "a\r\nInjected: 1"})
    assert server.connections == 0


# -- bodies -----------------------------------------------------------------------------------


def test_bodies(session: keepalive.Session, server: TestServer, tmp_path: object) -> None:
    session.post(server.url, data=b"raw")
    session.post(server.url, data="text é")
    session.post(server.url, data={"a": "1", "b": ["x", "y"]})
    session.post(server.url, data=(c for c in [b"gen", b"erated"]))
    session.post(server.url, data=io.BytesIO(b"file body"))
    session.post(server.url, json={"k": [1, 2], "u": "é"})
    bodies = [(r.body, r.header("content-type"), r.chunked) for r in server.requests]
    assert bodies[0] == (b"raw", None, False)
    assert bodies[1] == ("text é".encode(), None, False)
    assert bodies[2] == (b"a=1&b=x&b=y", "application/x-www-form-urlencoded", False)
    assert bodies[3] == (b"generated", None, True)
    assert bodies[4] == (b"file body", None, False)
    assert server.requests[4].header("content-length") == "9"
    assert bodies[5] == ('{"k":[1,2],"u":"é"}'.encode(), "application/json", False)
    assert server.connections == 1


def test_bad_body_types(session: keepalive.Session, server: TestServer) -> None:
    with pytest.raises(keepalive.LocalProtocolError):
        session.post(server.url, data=42)  # type: ignore[arg-type]
    with pytest.raises(keepalive.LocalProtocolError):
        session.post(server.url, json={"nan": float("nan")})


def test_multipart_files(session: keepalive.Session, httpbin: thirdparty.Server) -> None:
    r = session.post(
        f"{httpbin.url}/post",
        data={"field": "value"},
        files={"up": ("hello.txt", b"hello world", "text/plain"), "raw": io.BytesIO(b"bytes")},
    )
    got = r.json()
    assert got["form"] == {"field": "value"}
    assert got["files"] == {"up": "hello world", "raw": "bytes"}
    assert got["headers"]["Content-Type"].startswith("multipart/form-data; boundary=")


# -- cookies ----------------------------------------------------------------------------------


def test_cookies_from_redirect_chain_are_stored(
    session: keepalive.Session, httpbin: thirdparty.Server
) -> None:
    r = session.get(f"{httpbin.url}/cookies/set?a=1&b=2")
    assert r.json() == {"cookies": {"a": "1", "b": "2"}}
    assert r.history and r.history[0].cookies == {"a": "1", "b": "2"}
    assert sorted(session.cookies) == ["a", "b"]


def test_per_request_cookies_not_stored(
    session: keepalive.Session, httpbin: thirdparty.Server
) -> None:
    r = session.get(f"{httpbin.url}/cookies", cookies={"once": "1"})
    assert r.json() == {"cookies": {"once": "1"}}
    assert "once" not in session.cookies
    assert session.get(f"{httpbin.url}/cookies").json() == {"cookies": {}}


def test_session_cookies_argument(httpbin: thirdparty.Server) -> None:
    with keepalive.Session(cookies={"pre": "set"}, trust_env=False) as s:
        assert s.get(f"{httpbin.url}/cookies").json() == {"cookies": {"pre": "set"}}


def test_secure_cookie_never_sent_over_http(make_server: MakeServer, ca_path: str) -> None:
    tls_server = make_server(
        lambda req, side: Reply(200, [("Set-Cookie", "s=1; Secure")], b""), tls=True
    )
    plain = make_server()
    with keepalive.Session(verify=ca_path, trust_env=False) as s:
        s.get(tls_server.url)  # 127.0.0.1 over https sets a Secure cookie
        s.get(tls_server.url)
        s.get(plain.url)  # same host over http
    assert tls_server.requests[1].header("cookie") == "s=1"
    assert plain.requests[0].header("cookie") is None


def test_cookie_for_another_domain_never_sent(make_server: MakeServer) -> None:
    server = make_server(
        lambda req, side: Reply(200, [("Set-Cookie", "x=1; Domain=example.com")], b"")
    )
    with keepalive.Session(trust_env=False) as s:
        s.cookies.set("y", "2", domain="other.test")
        r = s.get(server.url)
        s.get(server.url)
    assert r.cookies == {}
    assert server.requests[1].header("cookie") is None
    assert "x" not in s.cookies


# -- auth -------------------------------------------------------------------------------------


def test_basic_auth(session: keepalive.Session, httpbin: thirdparty.Server) -> None:
    assert session.get(f"{httpbin.url}/basic-auth/u/p", auth=("u", "p")).status_code == 200
    assert (
        session.get(f"{httpbin.url}/basic-auth/u/p", auth=keepalive.BasicAuth("u", "x")).status_code
        == 401
    )


def test_bearer_auth(session: keepalive.Session, httpbin: thirdparty.Server) -> None:
    r = session.get(f"{httpbin.url}/bearer", auth=keepalive.BearerAuth("tok"))
    assert r.json() == {"authenticated": True, "token": "tok"}


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256"])
def test_digest_auth_over_one_connection(httpbin: thirdparty.Server, algorithm: str) -> None:
    with keepalive.Session(auth=keepalive.DigestAuth("user", "passwd"), trust_env=False) as s:
        r = s.get(f"{httpbin.url}/digest-auth/auth/user/passwd/{algorithm}")
        assert r.status_code == 200 and r.json()["authenticated"] is True
        challenge = r.history[0]
        assert challenge.status_code == 401
        assert r.connection_id == challenge.connection_id and r.reused
        assert s.pool.stats()["opened"] == 1


# -- redirects --------------------------------------------------------------------------------


def _redirector(status: int, location: str) -> object:
    def app(req: ReceivedRequest, side: ServerSide) -> Reply:
        if req.target.startswith("/start"):
            return Reply(status, [("Location", location)], b"moved" * 10)
        return Reply(
            200,
            [("Content-Type", "application/json")],
            json.dumps({"method": req.method, "body": req.body.decode()}).encode(),
        )

    return app


@pytest.mark.parametrize(
    ("status", "method"), [(301, "GET"), (302, "GET"), (303, "GET"), (307, "POST"), (308, "POST")]
)
def test_redirect_methods(make_server: MakeServer, status: int, method: str) -> None:
    server = make_server(_redirector(status, "/next"))  # type: ignore[arg-type]
    with keepalive.Session(trust_env=False) as s:
        r = s.post(f"{server.url}/start", data=b"payload")
        assert r.json() == {"method": method, "body": "payload" if method == "POST" else ""}
        assert [h.status_code for h in r.history] == [status]
        assert r.url == f"{server.url}/next"
        assert server.connections == 1  # the redirect body was drained, the connection reused
        if method == "GET":
            assert server.requests[1].header("content-type") is None


def test_307_with_stream_body_raises(make_server: MakeServer) -> None:
    server = make_server(_redirector(307, "/next"))  # type: ignore[arg-type]
    with (
        keepalive.Session(trust_env=False) as s,
        pytest.raises(keepalive.LocalProtocolError, match="307"),
    ):
        s.post(f"{server.url}/start", data=iter([b"once"]))


def test_too_many_redirects(session: keepalive.Session, httpbin: thirdparty.Server) -> None:
    session.max_redirects = 3
    with pytest.raises(keepalive.TooManyRedirects):
        session.get(f"{httpbin.url}/redirect/5")
    session.max_redirects = 20
    r = session.get(f"{httpbin.url}/relative-redirect/3")
    assert r.status_code == 200 and len(r.history) == 3
    assert session.pool.stats()["opened"] == 1


def test_allow_redirects_false(session: keepalive.Session, httpbin: thirdparty.Server) -> None:
    r = session.get(f"{httpbin.url}/redirect/1", allow_redirects=False)
    assert r.status_code == 302 and r.is_redirect and r.history == []


def test_cross_origin_redirect_drops_credentials(make_server: MakeServer) -> None:
    target = make_server()
    source = make_server(_redirector(302, f"{target.url}/landing"))  # type: ignore[arg-type]
    with keepalive.Session(trust_env=False) as s:
        s.get(
            f"{source.url}/start",
            auth=("u", "p"),
            headers={"Authorization": "Bearer t", "Cookie": "c=1", "X-Keep": "k"},
        )
    first, landed = source.requests[0], target.requests[0]
    assert first.header("authorization") == "Bearer t" and first.header("cookie") == "c=1"
    assert landed.header("authorization") is None and landed.header("cookie") is None
    assert landed.header("x-keep") == "k"


def test_https_to_http_downgrade_drops_credentials(make_server: MakeServer, ca_path: str) -> None:
    plain = make_server()
    secure = make_server(_redirector(302, f"{plain.url}/x"), tls=True)  # type: ignore[arg-type]
    with keepalive.Session(verify=ca_path, trust_env=False) as s:
        s.get(f"{secure.url}/start", headers={"Authorization": "secret"})
    assert plain.requests[0].header("authorization") is None


# -- decoding ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["gzip", "deflate", "brotli"])
def test_decoding_httpbin(
    session: keepalive.Session, httpbin: thirdparty.Server, path: str
) -> None:
    r = session.get(f"{httpbin.url}/{path}")
    key = {"gzip": "gzipped", "deflate": "deflated", "brotli": "brotli"}[path]
    assert r.json()[key] is True


def test_decoding_in_process(make_server: MakeServer) -> None:
    import zstandard

    payload = b"hello " * 1000
    multi = gzip.compress(payload[:3000]) + gzip.compress(payload[3000:])
    raw_deflate = zlib.compressobj(wbits=-15)
    raw_deflated = raw_deflate.compress(payload) + raw_deflate.flush()
    variants = {
        "/multi": ("gzip", multi),
        "/raw-deflate": ("deflate", raw_deflated),
        "/zstd": ("zstd", zstandard.ZstdCompressor().compress(payload)),
        "/liar": ("gzip", b"this is not gzip at all"),
    }

    def app(req: ReceivedRequest, side: ServerSide) -> Reply:
        enc, body = variants[req.target]
        return Reply(200, [("Content-Encoding", enc)], body, chunked=True)

    server = make_server(app)
    with keepalive.Session(trust_env=False) as s:
        for path in ("/multi", "/raw-deflate", "/zstd"):
            assert s.get(server.url + path).content == payload
        with s.get(server.url + "/multi", stream=True) as r:
            assert b"".join(r.iter_raw()) == multi
        with pytest.raises(keepalive.DecodingError):
            s.get(server.url + "/liar")


# -- the response -----------------------------------------------------------------------------


def test_response_api(session: keepalive.Session, httpbin: thirdparty.Server) -> None:
    r = session.get(f"{httpbin.url}/encoding/utf8")
    assert r.ok and r.encoding == "utf-8" and "∮" in r.text
    assert r.raise_for_status() is r
    assert r.elapsed.total_seconds() > 0 and r.timings.total > 0
    assert r.http_version == "HTTP/1.1" and r.reason == "OK"
    bad = session.get(f"{httpbin.url}/status/418")
    with pytest.raises(keepalive.HTTPStatusError) as info:
        bad.raise_for_status()
    assert info.value.response is bad and not bad.ok
    assert session.get(f"{httpbin.url}/json").json()["slideshow"]["author"]


def test_text_fallbacks(make_server: MakeServer) -> None:
    bodies = {"/latin": b"caf\xe9", "/declared": "café".encode("cp1252")}

    def app(req: ReceivedRequest, side: ServerSide) -> Reply:
        headers = (
            [("Content-Type", "text/plain; charset=windows-1252")]
            if req.target == "/declared"
            else []
        )
        return Reply(200, headers, bodies[req.target])

    server = make_server(app)
    with keepalive.Session(trust_env=False) as s:
        assert s.get(server.url + "/latin").text == "café"  # not UTF-8: lossless latin-1
        assert s.get(server.url + "/declared").text == "café"


def test_stream_false_returns_connection(
    session: keepalive.Session, httpbin: thirdparty.Server
) -> None:
    session.get(f"{httpbin.url}/bytes/1000")
    stats = session.pool.stats()
    assert stats["idle"] == 1 and stats["active"] == 0


def test_stream_true(session: keepalive.Session, httpbin: thirdparty.Server) -> None:
    with session.get(f"{httpbin.url}/stream/5", stream=True) as r:
        assert session.pool.stats()["active"] == 1
        lines = list(r.iter_lines())
    assert len(lines) == 5 and all(json.loads(line)["id"] == i for i, line in enumerate(lines))
    assert session.pool.stats()["active"] == 0
    with session.get(f"{httpbin.url}/bytes/5000", stream=True) as r:
        chunks = list(r.iter_content(chunk_size=1000))
    assert [len(c) for c in chunks] == [1000] * 5


def test_timeouts(make_server: MakeServer) -> None:
    server = make_server(lambda req, side: (time.sleep(0.5), Reply(200))[1])
    with keepalive.Session(timeout=0.1, trust_env=False) as s:
        with pytest.raises(keepalive.ReadTimeout):
            s.get(server.url)
        assert s.get(server.url, timeout=2).status_code == 200


def test_closed_session(server: TestServer) -> None:
    s = keepalive.Session(trust_env=False)
    s.close()
    with pytest.raises(keepalive.PoolClosed, match="session is closed"):
        s.get(server.url)


def test_one_shot_functions(httpbin: thirdparty.Server) -> None:
    assert keepalive.get(f"{httpbin.url}/get", params={"a": "b"}).json()["args"] == {"a": "b"}
    assert keepalive.post(f"{httpbin.url}/post", json={"x": 1}).json()["json"] == {"x": 1}
    assert keepalive.put(f"{httpbin.url}/put", data=b"p").json()["data"] == "p"
    assert keepalive.patch(f"{httpbin.url}/patch", data=b"q").json()["data"] == "q"
    assert keepalive.delete(f"{httpbin.url}/delete").status_code == 200
    assert keepalive.head(f"{httpbin.url}/get").content == b""
    assert keepalive.options(f"{httpbin.url}/get").status_code == 200
    assert keepalive.request("GET", f"{httpbin.url}/status/204").status_code == 204
    with keepalive.get(f"{httpbin.url}/bytes/100", stream=True) as r:
        assert len(r.read()) == 100


def test_session_creation_is_cheap() -> None:
    # Not a timing assertion: the TLS context (which loads the CA store) must not be built
    # by constructing a Session or sending plain http.
    from keepalive import tls

    before = dict(tls._contexts)
    keepalive.Session(verify="/nonexistent/ca.pem", trust_env=False).close()
    assert tls._contexts == before


def test_verify_settings_keep_separate_connections(
    httpbin_tls: thirdparty.Server,
) -> None:
    with keepalive.Session(trust_env=False) as s:
        insecure = s.get(f"{httpbin_tls.url}/get", verify=False)
        assert insecure.status_code == 200
        with pytest.raises(keepalive.TLSError):
            s.get(f"{httpbin_tls.url}/get")  # verify=True: the test CA is not trusted
        ok = s.get(f"{httpbin_tls.url}/get", verify=httpbin_tls.ca_path)
        assert ok.connection_id != insecure.connection_id


# -- proxies ----------------------------------------------------------------------------------


def test_http_through_proxy(proxy: int, server: TestServer) -> None:
    with keepalive.Session(proxies={"http": f"http://127.0.0.1:{proxy}"}, trust_env=False) as s:
        for _ in range(3):
            assert s.get(f"{server.url}/via").status_code == 200
    assert server.requests[0].target == "/via"
    assert s.pool.stats()["opened"] == 1


def test_https_through_proxy_connect(proxy: int, tls_server: TestServer, ca_path: str) -> None:
    with keepalive.Session(
        proxies={"https": f"http://127.0.0.1:{proxy}"}, verify=ca_path, trust_env=False
    ) as s:
        first = s.get(f"{tls_server.url}/tunnel")
        second = s.get(f"{tls_server.url}/tunnel")
    assert first.status_code == 200 and second.reused
    assert tls_server.requests[0].target == "/tunnel"


def test_proxy_auth_from_userinfo(auth_proxy: int, server: TestServer) -> None:
    good = f"http://puser:ppass@127.0.0.1:{auth_proxy}"
    with keepalive.Session(proxies={"http": good}, trust_env=False) as s:
        assert s.get(server.url).status_code == 200
    bad = f"http://puser:wrong@127.0.0.1:{auth_proxy}"
    with keepalive.Session(proxies={"http": bad}, trust_env=False) as s:
        assert s.get(server.url).status_code == 407


def test_refused_connect_is_proxy_error(auth_proxy: int, tls_server: TestServer) -> None:
    with (
        keepalive.Session(
            proxies={"https": f"http://127.0.0.1:{auth_proxy}"}, trust_env=False
        ) as s,
        pytest.raises(keepalive.ProxyError, match="407"),
    ):
        s.get(tls_server.url)


def test_trust_env_proxies(
    monkeypatch: pytest.MonkeyPatch, proxy: int, make_server: MakeServer
) -> None:
    server = make_server()
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:1")  # nothing listens: must not be used
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{proxy}")
    monkeypatch.setenv("NO_PROXY", "")
    with keepalive.Session() as s:
        assert s.get(server.url).status_code == 200
        assert s._proxy_for(server.url) is not None
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    with keepalive.Session() as s:
        assert s._proxy_for(server.url) is None
        assert s.get(server.url).status_code == 200
    with keepalive.Session(trust_env=False) as s:
        assert s._proxy_for(server.url) is None


def test_environment_never_overrides_explicit_verify(
    monkeypatch: pytest.MonkeyPatch, tls_server: TestServer, ca_path: str
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", os.devnull)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", os.devnull)
    with keepalive.Session(verify=ca_path) as s:
        assert s.get(tls_server.url).status_code == 200


def test_headers_setitem_keeps_place_and_drops_repeats() -> None:
    h = keepalive.Headers([("A", "1"), ("Connection", "keep-alive"), ("B", "2")])
    h["connection"] = "close"  # present once: replaced where it stands, its new spelling kept
    assert h.multi_items() == [("A", "1"), ("connection", "close"), ("B", "2")]
    h["C"] = "3"  # new: appended
    assert list(h) == ["A", "connection", "B", "C"]
    h.add("a", "again")
    h["A"] = "only"  # present twice: the first place is kept, the repeat goes
    assert h.multi_items() == [("A", "only"), ("connection", "close"), ("B", "2"), ("C", "3")]
    copy = h.copy()
    copy["b"] = "changed"
    assert h["B"] == "2" and copy["B"] == "changed"  # a copy never shares its fields
