"""The caller's credentials never follow a redirect off the origin they were given for.

Every credential-carrying input (auth tuples and objects, URL userinfo, credential headers
and cookies, per request and on the session) meets every way a redirect can leave the
origin (another port, another name for the same address, a scheme-relative Location, https
down to http, http up to https on a non-default port) under every redirect status. The
chain is start -> (leaves the origin) bounce -> back to the first origin -> a 401 inviting
any credential; nothing but the first hop may carry a secret (docs/design.md, security
defaults). The same inputs over a same-origin redirect must keep their secrets, so the
matrix can fail. Two module-scoped servers serve every case; each test tags its paths with
a token of its own and looks only at its own requests.
"""

from __future__ import annotations

import base64
import ssl
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from conftest import MakeServer
from testserver import ReceivedRequest, Reply, ServerSide, TestServer, TLSOrPlain

import keepalive
from keepalive.session import _keeps_credentials

STATUSES = [301, 302, 303, 307, 308]
CREDENTIAL_HEADERS = ("authorization", "proxy-authorization", "cookie")
CHALLENGES = [
    ("WWW-Authenticate", 'Digest realm="r", nonce="n0nce", qop="auth", algorithm=MD5'),
    ("WWW-Authenticate", 'Basic realm="r"'),
]


def _basic(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


# -- the servers ------------------------------------------------------------------------------


def _app(req: ReceivedRequest, side: ServerSide) -> Reply:
    """``/start``: (a Digest challenge first when asked, then) redirect to ``to``;
    ``/bounce``: redirect to ``to``; ``/back``: a 401 inviting Basic or Digest; ``/ok``: 200.
    ``status`` picks the redirect status; ``cookie`` makes ``/start`` set a host cookie."""
    parts = urlsplit(req.target)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    kind = parts.path.split("/")[1]
    if kind == "start" and query.get("digest") and req.header("authorization") is None:
        return Reply(401, CHALLENGES, b"who are you?")
    if kind in ("start", "bounce"):
        headers = [("Location", query["to"])]
        if kind == "start" and query.get("cookie"):
            headers.append(("Set-Cookie", f"site={query['cookie']}; Path=/"))
        return Reply(int(query["status"]), headers, b"moved")
    if kind == "back":
        return Reply(401, CHALLENGES, b"who are you?")
    return Reply(200, [("Content-Type", "text/plain")], b"ok")


@pytest.fixture(scope="module")
def source(server_ssl_context: ssl.SSLContext) -> Iterator[TestServer]:
    """Where every chain starts: http and https on one port (so a scheme change alone
    can be tested), addressed as 127.0.0.1."""
    server = TestServer(_app, on_connect=TLSOrPlain(server_ssl_context))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def target() -> Iterator[TestServer]:
    """Another origin (plain http, another port) a redirect may send us to."""
    server = TestServer(_app)
    yield server
    server.stop()


def _seen(token: str, *servers: TestServer) -> list[ReceivedRequest]:
    return [r for s in servers for r in list(s.requests) if f"/{token}" in r.target]


# -- the credentials --------------------------------------------------------------------------


@dataclass
class Credential:
    """One way of giving a secret: Session keywords, request keywords, URL userinfo, and
    the strings that reveal it on the wire."""

    needles: list[str]
    session: dict[str, Any] = field(default_factory=dict)
    request: dict[str, Any] = field(default_factory=dict)
    userinfo: str = ""
    digest: bool = False  # the first origin must challenge before the secret is sent


CREDENTIALS: dict[str, Callable[[], Credential]] = {
    "auth-tuple": lambda: Credential(
        [_basic("tuple-user", "tuple-pw")], request={"auth": ("tuple-user", "tuple-pw")}
    ),
    "BasicAuth": lambda: Credential(
        [_basic("basic-user", "basic-pw")],
        request={"auth": keepalive.BasicAuth("basic-user", "basic-pw")},
    ),
    "BearerAuth": lambda: Credential(
        ["bearer-secret"], request={"auth": keepalive.BearerAuth("bearer-secret")}
    ),
    "DigestAuth": lambda: Credential(
        ['username="digest-user"'],
        request={"auth": keepalive.DigestAuth("digest-user", "digest-pw")},
        digest=True,
    ),
    "url-userinfo": lambda: Credential(
        [_basic("info-user", "info pw"), "info-user"], userinfo="info-user:info%20pw@"
    ),
    "header-Authorization": lambda: Credential(
        ["hdr-auth-secret"], request={"headers": {"Authorization": "Token hdr-auth-secret"}}
    ),
    "header-Cookie": lambda: Credential(
        ["hdr-cookie-secret"], request={"headers": {"Cookie": "sid=hdr-cookie-secret"}}
    ),
    "header-Proxy-Authorization": lambda: Credential(
        ["hdr-proxy-secret"],
        request={"headers": {"Proxy-Authorization": "Basic hdr-proxy-secret"}},
    ),
    "cookies": lambda: Credential(
        ["req-cookie-secret"], request={"cookies": {"sid": "req-cookie-secret"}}
    ),
    "session-auth-tuple": lambda: Credential(
        [_basic("sess-user", "sess-pw")], session={"auth": ("sess-user", "sess-pw")}
    ),
    "session-DigestAuth": lambda: Credential(
        ['username="sdigest-user"'],
        session={"auth": keepalive.DigestAuth("sdigest-user", "sdigest-pw")},
        digest=True,
    ),
    "session-header-Authorization": lambda: Credential(
        ["s-hdr-auth-secret"], session={"headers": {"Authorization": "Token s-hdr-auth-secret"}}
    ),
    "session-header-Cookie": lambda: Credential(
        ["s-hdr-cookie-secret"], session={"headers": {"Cookie": "sid=s-hdr-cookie-secret"}}
    ),
    "session-header-Proxy-Authorization": lambda: Credential(
        ["s-hdr-proxy-secret"],
        session={"headers": {"Proxy-Authorization": "Basic s-hdr-proxy-secret"}},
    ),
    "session-cookies": lambda: Credential(
        ["sess-cookie-secret"], session={"cookies": {"sid": "sess-cookie-secret"}}
    ),
}


def _url(scheme: str, host: str, port: int, path: str, userinfo: str = "") -> str:
    return f"{scheme}://{userinfo}{host}:{port}{path}"


# Each shape: the scheme the chain starts with, and the Location that leaves the origin.
SHAPES: dict[str, tuple[str, Callable[[TestServer, TestServer, str], str]]] = {
    "other-port": ("http", lambda src, tgt, p: _url("http", "127.0.0.1", tgt.port, p)),
    "other-name-same-ip": ("http", lambda src, tgt, p: _url("http", "localhost", src.port, p)),
    "scheme-relative": ("http", lambda src, tgt, p: f"//localhost:{tgt.port}{p}"),
    "https-to-http": ("https", lambda src, tgt, p: _url("http", "127.0.0.1", tgt.port, p)),
    "https-to-http-same-port": (
        "https",
        lambda src, tgt, p: _url("http", "127.0.0.1", src.port, p),
    ),
    "http-to-https-same-port": (
        "http",
        lambda src, tgt, p: _url("https", "127.0.0.1", src.port, p),
    ),
}


def _query(status: int, to: str, **extra: str) -> str:
    pairs = {"status": str(status), "to": to, **extra}
    return "&".join(f"{k}={quote(v, safe='')}" for k, v in pairs.items())


def _assert_clean(req: ReceivedRequest, needles: list[str]) -> None:
    for name, value in req.headers:
        assert name.lower() not in CREDENTIAL_HEADERS, f"{name} leaked to {req.target}"
        for needle in needles:
            assert needle not in value, f"{needle!r} leaked in {name} to {req.target}"
    for needle in needles:
        assert needle not in req.target


def _assert_carries(req: ReceivedRequest, needles: list[str]) -> None:
    values = " ".join(v for _, v in req.headers)
    assert any(needle in values for needle in needles), f"no secret in {req.headers}"


# -- the matrix -------------------------------------------------------------------------------


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("kind", list(CREDENTIALS))
def test_credentials_stay_behind_when_a_redirect_leaves_the_origin(
    source: TestServer, target: TestServer, ca_path: str, kind: str, shape: str, status: int
) -> None:
    cred = CREDENTIALS[kind]()
    token = uuid.uuid4().hex
    scheme, leave = SHAPES[shape]
    back = _url(scheme, "127.0.0.1", source.port, f"/back/{token}")
    bounce = leave(source, target, f"/bounce/{token}?{_query(status, back)}")
    extra = {"digest": "1"} if cred.digest else {}
    start_path = f"/start/{token}?{_query(status, bounce, **extra)}"
    start = _url(scheme, "127.0.0.1", source.port, start_path, cred.userinfo)
    with keepalive.Session(verify=ca_path, trust_env=False, **cred.session) as s:
        r = s.get(start, **cred.request)
        assert s.pool.stats()["active"] == 0
    assert r.status_code == 401 and r.url == back  # the chain ran to its end
    seen = _seen(token, source, target)
    starts = [q for q in seen if q.target.startswith("/start/")]
    after = [q for q in seen if not q.target.startswith("/start/")]
    assert sorted(q.target.split("/")[1] for q in after) == ["back", "bounce"]
    _assert_carries(starts[-1], cred.needles)  # the secret was there to leak
    for req in after:
        _assert_clean(req, cred.needles)


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("kind", list(CREDENTIALS))
def test_same_origin_redirect_keeps_credentials(
    source: TestServer, kind: str, status: int
) -> None:
    cred = CREDENTIALS[kind]()
    token = uuid.uuid4().hex
    # An absolute Location with the scheme in capitals is still the same origin.
    ok = f"HTTP://127.0.0.1:{source.port}/ok/{token}"
    extra = {"digest": "1"} if cred.digest else {}
    start_path = f"/start/{token}?{_query(status, ok, **extra)}"
    start = _url("http", "127.0.0.1", source.port, start_path, cred.userinfo)
    with keepalive.Session(trust_env=False, **cred.session) as s:
        r = s.get(start, **cred.request)
    assert r.status_code == 200 and len(r.history) >= 1
    landed = [q for q in _seen(token, source) if q.target.startswith("/ok/")]
    assert len(landed) == 1
    _assert_carries(landed[0], cred.needles)


# -- the rule for scheme changes and default ports --------------------------------------------


@pytest.mark.parametrize(
    ("here", "there", "keeps"),
    [
        ("http://example.com/a", "http://example.com:80/b", True),  # default port spelt out
        ("https://EXAMPLE.com/a", "https://example.com:443/b", True),
        ("http://example.com/a", "https://example.com/b", True),  # upgrade, default ports
        ("http://example.com:80/a", "https://example.com:443/b", True),
        ("http://example.com:8080/a", "https://example.com:8443/b", False),
        ("http://example.com:8080/a", "https://example.com:8080/b", False),
        ("http://example.com/a", "https://example.com:8443/b", False),
        ("https://example.com/a", "http://example.com/b", False),  # downgrade
        ("http://example.com/a", "https://www.example.com/b", False),
        ("http://example.com/a", "http://example.com:81/b", False),
        ("http://127.0.0.1/a", "http://localhost/b", False),
    ],
)
def test_which_redirects_keep_credentials(here: str, there: str, keeps: bool) -> None:
    assert _keeps_credentials(here, there) is keeps


# -- around the matrix ------------------------------------------------------------------------


def test_server_cookies_keep_their_own_rules_after_leaving(
    source: TestServer, target: TestServer
) -> None:
    """A cookie the first origin set comes back to it after the chain left and returned;
    the caller's own cookies do not, and neither goes to the other origin."""
    token = uuid.uuid4().hex
    back = f"http://127.0.0.1:{source.port}/back/{token}"
    bounce = f"http://localhost:{target.port}/bounce/{token}?{_query(302, back)}"
    start = f"http://127.0.0.1:{source.port}/start/{token}?{_query(302, bounce, cookie='srv')}"
    with keepalive.Session(trust_env=False, cookies={"mine": "sess-secret"}) as s:
        s.get(start, cookies={"req": "req-secret"})
        assert s.cookies.get("site") == "srv"
    seen = {q.target.split("/")[1]: q for q in _seen(token, source, target)}
    first, hop, returned = seen["start"], seen["bounce"], seen["back"]
    assert first.header("cookie") == "mine=sess-secret; req=req-secret"
    assert hop.header("cookie") is None
    assert returned.header("cookie") == "site=srv"


def test_digest_never_answers_a_challenge_from_another_origin(
    source: TestServer, target: TestServer
) -> None:
    """The other origin's 401 invites a Digest answer; none is given (its response is the
    caller's answer)."""
    token = uuid.uuid4().hex
    elsewhere = f"http://127.0.0.1:{target.port}/back/{token}"
    start = f"http://127.0.0.1:{source.port}/start/{token}?{_query(302, elsewhere, digest='1')}"
    with keepalive.Session(trust_env=False) as s:
        r = s.get(start, auth=keepalive.DigestAuth("digest-user", "digest-pw"))
    assert r.status_code == 401 and r.url == elsewhere
    landed = _seen(token, target)
    assert len(landed) == 1 and landed[0].header("authorization") is None


def test_credentials_in_a_location_are_not_sent(source: TestServer, target: TestServer) -> None:
    token = uuid.uuid4().hex
    to = f"http://evil:pw@127.0.0.1:{target.port}/ok/{token}"
    start = f"http://127.0.0.1:{source.port}/start/{token}?{_query(302, to)}"
    with keepalive.Session(trust_env=False) as s:
        r = s.get(start)
    assert r.status_code == 200 and r.url == f"http://127.0.0.1:{target.port}/ok/{token}"
    (landed,) = _seen(token, target)
    assert landed.header("authorization") is None and "evil" not in landed.header("host")


# -- URL userinfo -----------------------------------------------------------------------------


def test_userinfo_is_sent_as_basic_auth_and_kept_out_of_the_url(server: TestServer) -> None:
    with keepalive.Session(trust_env=False) as s:
        r = s.get(f"http://us%40er:p%3Ass%20w@127.0.0.1:{server.port}/x?q=1")
    (sent,) = server.requests
    assert sent.header("authorization") == "Basic " + _basic("us@er", "p:ss w")
    assert sent.target == "/x?q=1"
    assert sent.header("host") == f"127.0.0.1:{server.port}"
    assert r.url == r.request.url == f"http://127.0.0.1:{server.port}/x?q=1"


def test_userinfo_without_password(server: TestServer) -> None:
    with keepalive.Session(trust_env=False) as s:
        s.get(f"http://alone@127.0.0.1:{server.port}/")
    assert server.requests[0].header("authorization") == "Basic " + _basic("alone", "")


def test_explicit_auth_wins_over_userinfo(server: TestServer) -> None:
    url = f"http://url-user:url-pw@127.0.0.1:{server.port}/"
    with keepalive.Session(trust_env=False) as s:
        s.get(url, auth=("arg-user", "arg-pw"))
        s.get(url, auth=keepalive.BearerAuth("tok"))
    with keepalive.Session(trust_env=False, auth=("sess-user", "sess-pw")) as s:
        s.get(url)  # requests' order: the session's auth before the URL's
    sent = [r.header("authorization") for r in server.requests]
    assert sent == [
        "Basic " + _basic("arg-user", "arg-pw"),
        "Bearer tok",
        "Basic " + _basic("sess-user", "sess-pw"),
    ]


def test_userinfo_never_reaches_a_proxy_in_the_request_line(make_server: MakeServer) -> None:
    """Plain http through a proxy uses the absolute form (RFC 9112 section 3.2.2): the URL
    goes on the request line, so userinfo left in it would be sent to the proxy."""
    proxy = make_server()  # answers the proxied request itself; it records what it got
    with keepalive.Session(trust_env=False, proxies={"http": proxy.url}) as s:
        r = s.get("http://user:secret-pw@origin.invalid/x")
    (sent,) = proxy.requests
    assert sent.target == "http://origin.invalid/x"
    assert sent.header("host") == "origin.invalid"
    assert r.url == "http://origin.invalid/x"
