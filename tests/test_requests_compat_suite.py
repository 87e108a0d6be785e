"""Classes of requests behaviour that requests' own test suite checks, run the same way under
``requests`` and under ``keepalive`` (``lib`` is either module), against the in-process
loopback server where a request is sent.

Each test covers a class of behaviour, not one example: a request prepared on its own,
URL checks before any connection, ``requests.structures``, the helpers of
``requests.cookies``, a response built by hand, and header merging and checking.
"""

from __future__ import annotations

import collections
import http.cookiejar
import io
import json
import types
from http.cookies import Morsel
from typing import Any

import pytest
from conftest import MakeServer
from testserver import ReceivedRequest, Reply, ServerSide, json_echo_app

import keepalive

try:
    import requests
except ImportError as exc:
    raise ImportError("this test compares with requests: pip install -e '.[test]'") from exc

BOTH = pytest.mark.parametrize("lib", [requests, keepalive], ids=["requests", "keepalive"])


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


echo = json_echo_app  # answers with the request it received, as JSON


def as_bytes(body: Any) -> bytes | None:
    """requests' prepared body is str for a form, keepalive's bytes: compare the bytes."""
    return body.encode() if isinstance(body, str) else body


# -- a request prepared on its own: Request.prepare() -----------------------------------------


@BOTH
def test_request_prepare_uses_the_requests_own_arguments(
    lib: types.ModuleType, make_server: MakeServer
) -> None:
    server = make_server(echo)
    req = lib.Request(
        "post", f"{server.url}/a b", params={"q": "1", "skip": None}, data={"f": "v"},
        headers={"X-A": "1"}, cookies={"c": "2"}, auth=("u", "p"),
    )  # fmt: skip
    prep = req.prepare()
    assert prep.method == "POST"
    assert prep.url == f"{server.url}/a%20b?q=1"
    assert as_bytes(prep.body) == b"f=v"
    assert prep.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert prep.headers["Content-Length"] == "3"
    assert prep.headers["Authorization"] == "Basic dTpw"
    assert prep.headers["Cookie"] == "c=2"
    assert "User-Agent" not in prep.headers  # a session's defaults are not part of it
    with lib.Session() as s:
        seen = s.send(prep).json()
    assert seen["method"] == "POST" and seen["target"] == "/a%20b?q=1"
    assert seen["body"] == "f=v" and seen["headers"]["x-a"] == "1"
    assert seen["headers"]["cookie"] == "c=2"


@BOTH
def test_request_made_bare_then_filled_in(lib: types.ModuleType) -> None:
    req = lib.Request()
    req.method = "PUT"
    req.url = "http://example.com/x"
    req.json = {"k": [1]}
    prep = req.prepare()
    assert (prep.method, prep.url) == ("PUT", "http://example.com/x")
    assert json.loads(as_bytes(prep.body) or b"") == {"k": [1]}
    assert prep.headers["Content-Type"] == "application/json"
    # bytes are accepted for the URL, as UTF-8
    assert lib.Request("GET", "http://example.com/päth".encode()).prepare().url == (
        "http://example.com/p%C3%A4th"
    )


@BOTH
@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("example.com/x", "MissingSchema"),
        ("", "MissingSchema"),
        ("http://", "InvalidURL"),
        ("http://*example.com/", "InvalidURL"),
        ("http://.example.com/", "InvalidURL"),
        ("http://*", "InvalidURL"),
    ],
)
def test_prepare_refuses_a_url_that_cannot_be_sent(
    lib: types.ModuleType, url: str, error: str
) -> None:
    with pytest.raises(getattr(lib.exceptions, error)):
        lib.Request("GET", url).prepare()


@BOTH
@pytest.mark.parametrize("url", ["mailto:user@example.org", "data:SSDimaUgUHl0aG9uIQ=="])
def test_prepare_leaves_other_schemes_alone(lib: types.ModuleType, url: str) -> None:
    assert lib.Request("GET", url).prepare().url == url


# -- URL checks before any connection ---------------------------------------------------------


@BOTH
@pytest.mark.parametrize("url", ["http://*example.com/", "http://.example.com/", "http://*"])
def test_a_host_that_names_nothing_is_an_invalid_url(lib: types.ModuleType, url: str) -> None:
    with pytest.raises(lib.exceptions.InvalidURL):
        lib.get(url, timeout=2)


@pytest.mark.parametrize("url", ["http://a..b/", "http://..:80/", "https://*.example.com/"])
def test_an_empty_label_or_wildcard_fails_before_dns(url: str, no_fd_leak: None) -> None:
    # requests lets urllib3 refuse "a..b" with its own LocationParseError; keepalive says
    # InvalidURL for every host that names nothing. A final "." (the DNS root) is a host.
    with pytest.raises(keepalive.InvalidURL, match="bad host"):
        keepalive.get(url, timeout=2)
    assert keepalive.Request("GET", "http://example.com./").prepare().url == (
        "http://example.com./"
    )


@BOTH
@pytest.mark.parametrize("url", ["localhost:3128", "10.122.1.1:3128/", "example.com:80/x"])
def test_host_and_port_without_a_scheme(lib: types.ModuleType, url: str) -> None:
    # requests reads "localhost" as a scheme (InvalidSchema); keepalive says the scheme is
    # missing: its error is both, so either except clause catches it.
    with pytest.raises(lib.exceptions.InvalidSchema):
        lib.get(url, timeout=2)
    if lib is keepalive:
        with pytest.raises(keepalive.MissingSchema, match="did you mean 'http://"):
            keepalive.get(url, timeout=2)


# -- requests.structures ---------------------------------------------------------------------


@BOTH
def test_case_insensitive_dict(lib: types.ModuleType) -> None:
    cid = lib.structures.CaseInsensitiveDict({"Accept": "a", "X-Num": 1})
    cid["ACCEPT"] = "b"  # one entry; the key keeps the case last set
    assert len(cid) == 2 and cid["accept"] == "b" and "aCcEpT" in cid
    assert list(cid) == ["ACCEPT", "X-Num"]
    assert list(cid.lower_items()) == [("accept", "b"), ("x-num", 1)]
    assert cid == {"accept": "b", "x-num": 1} and cid != {"accept": "b"}
    assert (cid == None) is False  # noqa: E711 - the comparison itself is under test
    assert repr(cid) == "{'ACCEPT': 'b', 'X-Num': 1}"
    copy = cid.copy()
    del copy["x-NUM"]
    assert "X-Num" not in copy and cid["x-num"] == 1
    assert lib.structures.CaseInsensitiveDict([("A", 1)], b=2) == {"a": 1, "B": 2}


@BOTH
def test_lookup_dict(lib: types.ModuleType) -> None:
    table = lib.structures.LookupDict("test")
    table.bad_gateway = 502
    assert repr(table) == "<lookup 'test'>"
    assert table["bad_gateway"] == table.get("bad_gateway") == 502
    assert table["missing"] is None and table.get("missing", 0) == 0
    assert not hasattr(table, "missing")


# -- requests.cookies helpers -----------------------------------------------------------------


@BOTH
def test_cookiejar_from_dict_fills_the_jar_given(
    lib: types.ModuleType, make_server: MakeServer
) -> None:
    stdlib_jar = http.cookiejar.CookieJar()
    assert lib.cookies.cookiejar_from_dict({"a": "1", "b": "2"}, stdlib_jar) is stdlib_jar
    assert {c.name: c.value for c in stdlib_jar} == {"a": "1", "b": "2"}
    kept = lib.cookies.cookiejar_from_dict({"a": "new", "c": "3"}, stdlib_jar, overwrite=False)
    assert kept is stdlib_jar
    assert {c.name: c.value for c in stdlib_jar} == {"a": "1", "b": "2", "c": "3"}
    own = lib.cookies.cookiejar_from_dict({"x": "y"})
    assert isinstance(own, lib.cookies.RequestsCookieJar) and own.get_dict() == {"x": "y"}
    server = make_server(echo)
    with lib.Session() as s:
        seen = s.get(f"{server.url}/", cookies=stdlib_jar).json()
    assert sorted(seen["headers"]["cookie"].split("; ")) == ["a=1", "b=2", "c=3"]


@BOTH
def test_requests_cookie_jar_names(lib: types.ModuleType) -> None:
    jar = lib.cookies.RequestsCookieJar()
    jar.set("n", "v", domain="one.test")
    jar.set("n", "v", domain="two.test")
    with pytest.raises(lib.cookies.CookieConflictError):
        jar.get("n")
    assert jar.get("n", domain="one.test") == "v"

    class Policy(http.cookiejar.DefaultCookiePolicy):
        pass

    jar.set_policy(Policy())
    assert isinstance(jar.get_policy(), Policy) and isinstance(jar.copy().get_policy(), Policy)


@BOTH
def test_morsel_to_cookie(lib: types.ModuleType) -> None:
    def morsel(**attributes: object) -> Morsel[str]:
        m: Morsel[str] = Morsel()
        m.set("name", "value", "value")
        for key, value in attributes.items():
            m[key.replace("_", "-")] = value
        return m

    cookie = lib.cookies.morsel_to_cookie(
        morsel(expires="Thu, 01-Jan-1970 00:00:01 GMT", path="/p", domain=".ex.test", secure=True)
    )
    assert (cookie.name, cookie.value, cookie.expires) == ("name", "value", 1)
    assert (cookie.path, cookie.domain, cookie.secure) == ("/p", ".ex.test", True)
    assert isinstance(lib.cookies.morsel_to_cookie(morsel(max_age=60)).expires, int)
    assert lib.cookies.morsel_to_cookie(morsel()).expires is None
    for attributes, error in (
        ({"expires": 100}, TypeError),
        ({"expires": "woops"}, ValueError),
        ({"max_age": "woops"}, TypeError),
    ):
        with pytest.raises(error) as info:
            lib.cookies.morsel_to_cookie(morsel(**attributes))
        if lib is keepalive:  # bad input is a keepalive error too, naming the attribute
            assert isinstance(info.value, keepalive.KeepaliveError)
            assert next(iter(attributes)).replace("_", "-") in str(info.value)


# -- a response built by hand, and response conveniences --------------------------------------


@BOTH
def test_response_built_by_hand(lib: types.ModuleType) -> None:
    r = lib.Response()
    r.status_code = 404
    r.reason = "Ei löydy".encode()
    r.url = "http://example.com/x"
    r.headers = {"content-type": "text/plain; charset=utf-8", "link": '<http://n>; rel="next"'}
    r.raw = io.BytesIO("héllo".encode())
    r.from_cache = True  # an attribute of the caller's own, as hooks set them
    assert not r.ok and not bool(r) and r.from_cache
    assert r.headers["content-type"].startswith("text/plain")
    assert r.links == {"next": {"url": "http://n", "rel": "next"}}
    assert r.text == "héllo" and r.content == "héllo".encode()
    with pytest.raises(lib.exceptions.HTTPError, match="Ei löydy") as caught:
        r.raise_for_status()
    assert caught.value.response is r


@BOTH
def test_response_raw_set_by_hand_is_streamed_and_closed(lib: types.ModuleType) -> None:
    r = lib.Response()
    r.status_code = 200
    r.raw = io.BytesIO(b"the content")
    assert [len(chunk) for chunk in r.iter_content(4)] == [4, 4, 3]
    text = lib.Response()
    text.status_code = 200
    text.raw = file = io.StringIO("abc")  # requests tolerates a text file too
    assert as_bytes(next(iter(text))) == b"abc"  # keepalive's body is bytes throughout
    text.close()
    assert file.closed


@BOTH
def test_response_truth_and_iteration(lib: types.ModuleType, make_server: MakeServer) -> None:
    def app(request: ReceivedRequest, side: ServerSide) -> Reply:
        status = int(request.target.strip("/"))
        return Reply(status, [("Content-Type", "text/plain")], b"x" * 300)

    server = make_server(app)
    with lib.Session() as s:
        for status, truth in ((200, True), (302, True), (404, False), (503, False)):
            r = s.get(f"{server.url}/{status}", allow_redirects=False)
            assert bool(r) is truth is r.ok
        with s.get(f"{server.url}/200", stream=True) as streamed:
            assert [len(c) for c in streamed] == [128, 128, 44]  # requests' 128-byte pieces
        assert streamed.raw.closed


@BOTH
def test_http_error_made_bare(lib: types.ModuleType) -> None:
    error = lib.exceptions.HTTPError()
    assert error.response is None
    response = lib.Response()
    error = lib.exceptions.HTTPError("message", response=response)
    assert str(error) == "message" and error.response is response


# -- headers: merging and checking ------------------------------------------------------------


@BOTH
def test_session_header_set_to_none_is_not_sent(
    lib: types.ModuleType, make_server: MakeServer
) -> None:
    server = make_server(echo)
    with lib.Session() as s:
        s.headers["Accept-Encoding"] = None
        s.headers["X-Gone"] = "1"
        s.headers["X-Gone"] = None
        prep = s.prepare_request(lib.Request("GET", f"{server.url}/"))
        assert "Accept-Encoding" not in prep.headers and "X-Gone" not in prep.headers
        sent = s.get(f"{server.url}/").json()["headers"]
    assert "x-gone" not in sent and sent.get("accept-encoding", "identity") == "identity"


@BOTH
def test_merged_headers_keep_the_sessions_order(lib: types.ModuleType) -> None:
    with lib.Session() as s:
        s.headers = collections.OrderedDict([("Accept-Encoding", "identity"), ("First", "1")])
        s.headers["Second"] = "2"
        headers = collections.OrderedDict([("Third", "3"), ("Fourth", "4"), ("second", "222")])
        prep = s.prepare_request(lib.Request("GET", "http://example.com/", headers=headers))
    names = [name.lower() for name, _ in prep.headers.items()][:5]
    assert names == ["accept-encoding", "first", "second", "third", "fourth"]
    assert prep.headers["SECOND"] == "222"


@BOTH
@pytest.mark.parametrize("value", [3, {"foo": "bar"}, ["foo", "bar"], 1.5])
def test_header_value_of_the_wrong_type_is_invalid_header(
    lib: types.ModuleType, value: object, make_server: MakeServer
) -> None:
    server = make_server(echo)
    with pytest.raises(lib.exceptions.InvalidHeader, match="X-Bad"):
        lib.get(f"{server.url}/", headers={"X-Bad": value})
    if lib is keepalive:  # keepalive's own contract: a TypeError naming the argument too
        with pytest.raises(TypeError, match="X-Bad"):
            keepalive.Headers({"X-Bad": value})
    assert server.requests == []  # refused before anything was sent


def test_raw_must_be_a_file_object() -> None:
    r = keepalive.Response()
    with pytest.raises(keepalive.InvalidArgumentType, match="file object"):
        r.raw = b"bytes are not a file"  # type: ignore[assignment]


# -- URLs as prepared ---------------------------------------------------------------------------


@BOTH
@pytest.mark.parametrize(
    ("url", "prepared"),
    [
        ("http://example.com", "http://example.com/"),
        (" http://example.com", "http://example.com/"),
        ("HTTPS://example.com?q=1", "HTTPS://example.com/?q=1"),
        ("http://example.com:8080#top", "http://example.com:8080/#top"),
        ("http://example.com/already", "http://example.com/already"),
    ],
)
def test_an_empty_path_is_prepared_as_slash(lib: types.ModuleType, url: str, prepared: str) -> None:
    assert lib.Request("GET", url).prepare().url.lower() == prepared.lower()


@BOTH
def test_response_url_has_the_path_sent(lib: types.ModuleType, make_server: MakeServer) -> None:
    server = make_server(echo)
    r = lib.get(server.url, params={"a": "1"})
    assert r.url == f"{server.url}/?a=1" and r.json()["target"] == "/?a=1"


# -- bodies: multipart names, None files, JSON errors -----------------------------------------


@BOTH
def test_multipart_names_given_as_bytes_and_none_files(
    lib: types.ModuleType, make_server: MakeServer
) -> None:
    server = make_server(echo)
    r = lib.post(
        f"{server.url}/",
        data={b"stuff": "elixr", "plain": "1"},
        files={"file": ("f.txt", b"content"), "missing": None},
    )
    body = r.json()["body"].encode("latin-1")
    assert b'name="stuff"' in body and b"name=\"b'stuff'\"" not in body
    assert b'name="plain"' in body and b'name="file"; filename="f.txt"' in body
    assert b'name="missing"' not in body


@BOTH
def test_json_error_doc_is_the_text(lib: types.ModuleType, make_server: MakeServer) -> None:
    def app(request: ReceivedRequest, side: ServerSide) -> Reply:
        return Reply(200, [("Content-Type", "application/octet-stream")], bytes(range(128, 148)))

    r = lib.get(make_server(app).url)
    with pytest.raises(lib.exceptions.JSONDecodeError) as caught:
        r.json()
    assert caught.value.doc == r.text
    assert isinstance(caught.value, ValueError)


def test_invalid_json_error_is_requests_name() -> None:
    assert issubclass(keepalive.exceptions.InvalidJSONError, keepalive.LocalProtocolError)
    assert issubclass(keepalive.exceptions.InvalidJSONError, ValueError)


@BOTH
@pytest.mark.parametrize("timeout", ["foo", [1], object()])
def test_a_timeout_of_the_wrong_type_says_what_it_must_be(
    lib: types.ModuleType, timeout: object, make_server: MakeServer
) -> None:
    server = make_server(echo)
    with pytest.raises(ValueError, match="must be an int, float or None"):
        lib.get(server.url, timeout=timeout)
    assert server.requests == []


# -- cookie jar spellings ----------------------------------------------------------------------


@BOTH
def test_cookie_jar_iter_spellings(lib: types.ModuleType) -> None:
    jar = lib.cookies.RequestsCookieJar()
    jar.set("a", "1")
    jar.set("b", "2", domain="example.com")
    assert list(jar.iterkeys()) == jar.keys() == ["a", "b"]
    assert list(jar.itervalues()) == jar.values() == ["1", "2"]
    assert list(jar.iteritems()) == jar.items() == [("a", "1"), ("b", "2")]


# -- Digest: the parameters in requests' order ---------------------------------------------


def digest_app(request: ReceivedRequest, side: ServerSide) -> Reply:
    """A Digest challenge (RFC 7616) to a request without credentials; else the credentials
    echoed back (this checks their shape, not the hash)."""
    given = request.header("Authorization")
    if given is None:
        challenge = 'Digest realm="r@test", nonce="abc123", opaque="xyz", qop="auth", algorithm=MD5'
        return Reply(401, [("WWW-Authenticate", challenge), ("Content-Length", "0")])
    return Reply(200, [("Content-Type", "text/plain")], given.encode())


@BOTH
def test_digest_parameters_come_in_requests_order(
    lib: types.ModuleType, make_server: MakeServer
) -> None:
    server = make_server(digest_app)
    r = lib.get(f"{server.url}/p", auth=lib.auth.HTTPDigestAuth("user", "pass"))
    assert r.status_code == 200 and [h.status_code for h in r.history] == [401]
    assert r.text.startswith('Digest username="user", realm="r@test", nonce="abc123", uri="/p"')
    names = [field.split("=", 1)[0] for field in r.text[len("Digest ") :].split(", ")]
    assert names == [
        "username", "realm", "nonce", "uri", "response", "opaque", "algorithm", "qop", "nc",
        "cnonce",
    ]  # fmt: skip


@BOTH
def test_raw_is_at_its_end_once_the_body_was_read(
    lib: types.ModuleType, make_server: MakeServer
) -> None:
    def app(request: ReceivedRequest, side: ServerSide) -> Reply:
        return Reply(200, [("Content-Type", "text/plain")], b"0123456789")

    server = make_server(app)
    with lib.Session() as s:
        assert s.get(server.url).raw.read() == b""  # stream=False: read into content
        streamed = s.get(server.url, stream=True)
        assert streamed.raw.read(4) == b"0123" and streamed.raw.read() == b"456789"
        streamed.close()
        late = s.get(server.url, stream=True)
        assert late.content == b"0123456789" and late.raw.read() == b""


# -- the session: redirects, challenges, bodies and requests' error names ----------------------


@BOTH
def test_too_many_redirects_carries_the_last_response(
    lib: types.ModuleType, make_server: MakeServer
) -> None:
    def loop(request: ReceivedRequest, side: ServerSide) -> Reply:
        n = int(request.target.rsplit("/", 1)[1])
        return Reply(302, [("Location", f"/r/{n + 1}")])

    server = make_server(loop)
    with lib.Session() as s:
        s.max_redirects = 3
        with pytest.raises(lib.exceptions.TooManyRedirects) as info:
            s.get(server.url + "/r/0")
    last = info.value.response
    assert last is not None and last.status_code == 302
    assert last.url.endswith("/r/3")
    assert [r.url.rsplit("/", 1)[1] for r in last.history] == ["0", "1", "2"]
    assert info.value.request is not None and info.value.request.url.endswith("/r/3")


@BOTH
def test_each_redirect_hop_lists_the_hops_before_it(
    lib: types.ModuleType, make_server: MakeServer
) -> None:
    def hops(request: ReceivedRequest, side: ServerSide) -> Reply:
        n = int(request.target.rsplit("/", 1)[1])
        if n < 3:
            return Reply(302, [("Location", f"/r/{n + 1}")])
        return Reply(200, body=b"end")

    server = make_server(hops)
    with lib.Session() as s:
        r = s.get(server.url + "/r/0")
    assert [len(h.history) for h in r.history] == [0, 1, 2]


@BOTH
def test_a_challenge_that_sets_a_cookie_gets_it_back_on_the_retry(
    lib: types.ModuleType, make_server: MakeServer
) -> None:
    """The answer to a 401 is a new request (RFC 6265 section 5.4): it carries the cookie
    the challenge set, as httpbin's Digest endpoint requires."""

    def app(request: ReceivedRequest, side: ServerSide) -> Reply:
        if request.header("authorization") is None:
            return Reply(
                401,
                [("WWW-Authenticate", 'Digest realm="r", nonce="abc", qop="auth"'),
                 ("Set-Cookie", "fake=fake_value; Path=/")],
            )  # fmt: skip
        return Reply(200, body=(request.header("cookie") or "-").encode())

    server = make_server(app)
    with lib.Session() as s:
        r = s.get(server.url + "/digest", auth=lib.auth.HTTPDigestAuth("u", "p"))
    assert r.status_code == 200 and r.text == "fake=fake_value"


class _SeekReturnsNone(io.RawIOBase):
    """A file-like body whose seek() returns None, as some wrappers' do."""

    def __init__(self, data: bytes) -> None:
        self._inner = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self._inner.readinto(buffer)

    def seek(self, offset: int, whence: int = 0) -> None:  # type: ignore[override]
        self._inner.seek(offset, whence)

    def tell(self) -> int:
        return self._inner.tell()


def test_a_file_whose_seek_returns_none_is_sent_whole(make_server: MakeServer) -> None:
    server = make_server(echo)
    with keepalive.Session() as s:
        r = s.post(server.url + "/up", data=_SeekReturnsNone(b"x" * 1000))
    sent = r.json()
    assert sent["body"] == "x" * 1000
    assert sent["headers"].get("content-length") == "1000"


@BOTH
def test_requests_error_names_for_json_proxies_and_unrewindable_bodies(
    lib: types.ModuleType, make_server: MakeServer
) -> None:
    server = make_server(echo)
    with lib.Session() as s:
        with pytest.raises(lib.exceptions.InvalidJSONError):
            s.post(server.url + "/j", json={"x": float("nan")})
        with pytest.raises(lib.exceptions.InvalidProxyURL):
            s.get(server.url + "/p", proxies={"http": "http:/proxy.test:3128"})
    if lib is keepalive:  # requests raises it only on a redirect keeping the method
        def challenge(request: ReceivedRequest, side: ServerSide) -> Reply:
            if request.header("authorization") is None:
                return Reply(401, [("WWW-Authenticate", 'Digest realm="r", nonce="n"')])
            return Reply(200)

        other = make_server(challenge)
        with keepalive.Session() as s, pytest.raises(keepalive.exceptions.UnrewindableBodyError):
            s.post(other.url + "/d", data=iter([b"a", b"b"]),
                   auth=keepalive.DigestAuth("u", "p"))  # fmt: skip
