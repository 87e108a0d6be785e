"""Basic, Bearer and Digest auth: RFC test vectors, challenge parsing, nonce bookkeeping, and
a real Digest exchange with httpbin under gunicorn."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import threading

import pytest
import thirdparty

from keepalive.auth import (
    Auth,
    BasicAuth,
    BearerAuth,
    DigestAuth,
    coerce_auth,
    parse_challenges,
)
from keepalive.cookies import CookieJar
from keepalive.exceptions import LocalProtocolError
from keepalive.models import Headers

# RFC 7616 section 3.9.1: one request, two challenges (SHA-256 preferred, then MD5).
RFC7616_NONCE = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
RFC7616_OPAQUE = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"
RFC7616_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
RFC7616_URL = "http://www.example.org/dir/index.html"


def rfc7616_challenge(algorithm: str) -> str:
    return (
        'Digest realm="http-auth@example.org", qop="auth, auth-int", '
        f'algorithm={algorithm}, nonce="{RFC7616_NONCE}", opaque="{RFC7616_OPAQUE}"'
    )


def unauthorized(*challenges: str) -> Headers:
    return Headers([("WWW-Authenticate", c) for c in challenges])


def params_of(authorization: str) -> dict[str, str]:
    """The Authorization value parsed back (it has the same syntax as a challenge)."""
    [(scheme, params)] = parse_challenges(authorization)
    assert scheme == "digest"
    return params


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


CHALLENGE_N = unauthorized('Digest realm="r", nonce="n", qop="auth"')


def mufasa(**kw: object) -> DigestAuth:
    return DigestAuth("Mufasa", "Circle of Life", cnonce_factory=lambda: RFC7616_CNONCE, **kw)


# ----------------------------------------------------------------------------- base, Basic, Bearer


def test_base_auth_sends_nothing() -> None:
    auth = Auth()
    assert auth.auth_header("GET", "http://h/") is None
    assert auth.retry_header("GET", "http://h/", 401, unauthorized('Basic realm="x"')) is None


def test_basic_auth_rfc7617_example() -> None:
    # RFC 7617 section 2: "Aladdin" / "open sesame".
    auth = BasicAuth("Aladdin", "open sesame")
    assert auth.auth_header("GET", "http://h/") == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
    assert auth.retry_header("GET", "http://h/", 401, Headers()) is None


def test_basic_auth_utf8_and_bytes() -> None:
    # RFC 7617 section 2.1: with charset="UTF-8", "test" / "123£" encodes like this.
    assert BasicAuth("test", "123\u00a3").auth_header("GET", "u") == "Basic dGVzdDoxMjPCow=="
    header = BasicAuth(b"us\xe9r", b"pw").auth_header("GET", "u")
    assert header is not None
    assert base64.b64decode(header.split()[1]) == b"us\xe9r:pw"


def test_basic_auth_refuses_colon_in_username() -> None:
    with pytest.raises(LocalProtocolError, match=":"):
        BasicAuth("a:b", "pw")
    assert BasicAuth("user", "pass:word").auth_header("GET", "u") == "Basic dXNlcjpwYXNzOndvcmQ="


def test_bearer_auth() -> None:
    assert BearerAuth("mF_9.B5f-4.1JqM").auth_header("GET", "u") == "Bearer mF_9.B5f-4.1JqM"
    with pytest.raises(LocalProtocolError):
        BearerAuth("token\r\nX-Injected: 1")


def test_reprs_hide_secrets() -> None:
    for auth in (BasicAuth("u", "hunter2"), BearerAuth("hunter2"), DigestAuth("u", "hunter2")):
        assert "hunter2" not in repr(auth)


def test_coerce_auth() -> None:
    assert coerce_auth(None) is None
    basic = coerce_auth(("Aladdin", "open sesame"))
    assert isinstance(basic, BasicAuth)
    assert basic.auth_header("GET", "u") == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
    assert isinstance(coerce_auth((b"u", b"p")), BasicAuth)
    digest = DigestAuth("u", "p")
    assert coerce_auth(digest) is digest
    for bad, name in [(["u", "p"], "list"), ("u:p", "str"), (("u", "p", "x"), "tuple"),
                      (("u", 1), "tuple"), ({"u": "p"}, "dict")]:
        with pytest.raises(LocalProtocolError, match=name):
            coerce_auth(bad)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- challenge parsing


def test_parse_several_challenges_in_one_field() -> None:
    value = (
        'Newauth realm="apps", type=1, title="Login to \\"apps\\"", '
        'Basic realm="simple, with comma", '
        "Negotiate a87421000492aa874209af8bc028==, "
        'Digest realm="d", nonce="n,o\\\\nce", qop="auth,auth-int", algorithm=MD5'
    )
    assert parse_challenges(value) == [
        ("newauth", {"realm": "apps", "type": "1", "title": 'Login to "apps"'}),
        ("basic", {"realm": "simple, with comma"}),
        ("negotiate", {}),
        ("digest", {"realm": "d", "nonce": "n,o\\nce", "qop": "auth,auth-int", "algorithm": "MD5"}),
    ]


def test_parse_tolerates_spacing_case_and_garbage() -> None:
    value = 'DIGEST   Realm = "r" ,NONCE=abc,,  @@@, opaque="o"'
    assert parse_challenges(value) == [("digest", {"realm": "r", "nonce": "abc", "opaque": "o"})]
    assert parse_challenges("") == []


# ----------------------------------------------------------------------------- digest vectors


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_digest_rfc7616_example(algorithm: str, expected: str) -> None:
    header = mufasa().retry_header(
        "GET", RFC7616_URL, 401, unauthorized(rfc7616_challenge(algorithm))
    )
    assert header is not None and header.startswith("Digest ")
    assert params_of(header) == {
        "username": "Mufasa",
        "realm": "http-auth@example.org",
        "uri": "/dir/index.html",
        "algorithm": algorithm,
        "nonce": RFC7616_NONCE,
        "nc": "00000001",
        "cnonce": RFC7616_CNONCE,
        "qop": "auth",
        "response": expected,
        "opaque": RFC7616_OPAQUE,
    }


def test_digest_picks_the_first_challenge_it_supports() -> None:
    # The RFC's own example sends SHA-256 first: that one is answered.
    headers = unauthorized(rfc7616_challenge("SHA-256"), rfc7616_challenge("MD5"))
    header = mufasa().retry_header("GET", RFC7616_URL, 401, headers)
    assert header is not None
    assert params_of(header)["algorithm"] == "SHA-256"
    # An unsupported algorithm listed first is passed over, within one field too.
    field = rfc7616_challenge("SHA-512-256") + ", " + rfc7616_challenge("MD5")
    header = mufasa().retry_header("GET", RFC7616_URL, 401, unauthorized('Basic realm="b"', field))
    assert header is not None
    assert params_of(header)["response"] == "8ca523f5e9506fed4657c9700eebdbec"


def test_digest_rfc2617_example() -> None:
    # RFC 2617 section 3.5 (MD5, qop=auth, no algorithm parameter).
    auth = DigestAuth("Mufasa", "Circle Of Life", cnonce_factory=lambda: "0a4f113b")
    challenge = (
        'Digest realm="testrealm@host.com", qop="auth,auth-int", '
        'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )
    url = "http://host.com/dir/index.html"
    header = auth.retry_header("GET", url, 401, unauthorized(challenge))
    assert header is not None
    params = params_of(header)
    assert params["response"] == "6629fae49393a05397450978507c4ef1"
    assert "algorithm" not in params  # not offered, so not claimed


@pytest.mark.parametrize("qop", [None, "auth-int"])
def test_digest_rfc2069_form_without_usable_qop(qop: str | None) -> None:
    challenge = 'Digest realm="r", nonce="abc"' + (f', qop="{qop}"' if qop else "")
    auth = DigestAuth("user", "pw", cnonce_factory=lambda: pytest.fail("no cnonce needed"))
    header = auth.retry_header("POST", "http://h/p?q=1", 401, unauthorized(challenge))
    assert header is not None
    params = params_of(header)
    expected = md5(f"{md5('user:r:pw')}:abc:{md5('POST:/p?q=1')}")
    assert params == {"username": "user", "realm": "r", "uri": "/p?q=1", "nonce": "abc",
                      "response": expected}


def test_digest_sess_algorithm() -> None:
    challenge = 'Digest realm="r", nonce="n", qop="auth", algorithm=MD5-sess'
    auth = DigestAuth("user", "pw", cnonce_factory=lambda: "cn")
    header = auth.retry_header("GET", "http://h/x", 401, unauthorized(challenge))
    assert header is not None
    ha1 = md5(f"{md5('user:r:pw')}:n:cn")
    assert params_of(header)["response"] == md5(f"{ha1}:n:00000001:cn:auth:{md5('GET:/x')}")
    assert params_of(header)["algorithm"] == "MD5-sess"


def test_digest_sha256_sess_algorithm() -> None:
    challenge = 'Digest realm="r", nonce="n", qop="auth", algorithm=SHA-256-sess'
    auth = DigestAuth("user", "pw", cnonce_factory=lambda: "cn")
    header = auth.retry_header("GET", "http://h/x", 401, unauthorized(challenge))
    assert header is not None

    def sha(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()

    ha1 = sha(f"{sha('user:r:pw')}:n:cn")
    assert params_of(header)["response"] == sha(f"{ha1}:n:00000001:cn:auth:{sha('GET:/x')}")


@pytest.mark.parametrize(
    "challenge",
    [
        'Digest realm="r", nonce="n", algorithm=SHA-512',
        'Digest realm="r", nonce="n", algorithm=MD5-sess',  # -sess needs qop=auth
        'Digest realm="r", qop="auth"',  # no nonce
        'Basic realm="r"',
        'Bearer realm="r"',
    ],
)
def test_digest_declines_what_it_cannot_answer(challenge: str) -> None:
    auth = DigestAuth("user", "pw")
    assert auth.retry_header("GET", "http://h/", 401, unauthorized(challenge)) is None
    assert auth.auth_header("GET", "http://h/") is None


def test_digest_only_answers_401() -> None:
    auth = mufasa()
    headers = unauthorized(rfc7616_challenge("MD5"))
    for status in (200, 403, 407, 500):
        assert auth.retry_header("GET", RFC7616_URL, status, headers) is None
    assert auth.retry_header("GET", RFC7616_URL, 401, Headers()) is None


def test_digest_userhash() -> None:
    challenge = 'Digest realm="r", nonce="n", qop="auth", algorithm=SHA-256, userhash=true'
    auth = DigestAuth("user", "pw", cnonce_factory=lambda: "cn")
    header = auth.retry_header("GET", "http://h/", 401, unauthorized(challenge))
    assert header is not None
    params = params_of(header)
    assert params["username"] == hashlib.sha256(b"user:r").hexdigest()
    assert params["userhash"] == "true"


def test_digest_non_ascii_username_uses_username_star() -> None:
    # RFC 7616 section 3.4.4 / RFC 8187; the response hashes the UTF-8 username.
    challenge = 'Digest realm="r", nonce="n", qop="auth", charset=UTF-8'
    auth = DigestAuth("J\u00e4s\u00f8n Doe", "pw", cnonce_factory=lambda: "cn")
    header = auth.retry_header("GET", "http://h/", 401, unauthorized(challenge))
    assert header is not None
    assert header.isascii()
    assert "username*=UTF-8''J%C3%A4s%C3%B8n%20Doe" in header
    ha1 = hashlib.md5("J\u00e4s\u00f8n Doe:r:pw".encode()).hexdigest()
    assert params_of(header)["response"] == md5(f"{ha1}:n:00000001:cn:auth:{md5('GET:/')}")


def test_digest_quotes_values_it_echoes() -> None:
    challenge = 'Digest realm="say \\"hi\\"", nonce="n", opaque="o\\\\p", qop="auth"'
    auth = DigestAuth('we"ird', "pw", cnonce_factory=lambda: "cn")
    header = auth.retry_header("GET", "http://h/", 401, unauthorized(challenge))
    assert header is not None
    params = params_of(header)
    assert (params["username"], params["realm"], params["opaque"]) == ('we"ird', 'say "hi"', "o\\p")


# ----------------------------------------------------------------------------- digest state


def test_digest_is_proactive_after_the_first_challenge() -> None:
    auth = mufasa()
    assert auth.auth_header("GET", RFC7616_URL) is None  # nothing known yet
    first = auth.retry_header("GET", RFC7616_URL, 401, unauthorized(rfc7616_challenge("MD5")))
    assert first is not None and params_of(first)["nc"] == "00000001"
    second = auth.auth_header("POST", "http://www.example.org/other?x=1")
    assert second is not None
    params = params_of(second)
    assert params["nc"] == "00000002"
    assert (params["nonce"], params["uri"]) == (RFC7616_NONCE, "/other?x=1")
    third = auth.auth_header("GET", RFC7616_URL)
    assert third is not None and params_of(third)["nc"] == "00000003"
    # Another origin never gets this origin's digest.
    assert auth.auth_header("GET", "http://elsewhere.example/dir/index.html") is None
    assert auth.auth_header("GET", "https://www.example.org/dir/index.html") is None


def test_digest_new_nonce_resets_the_count() -> None:
    auth = DigestAuth("u", "p")
    first = unauthorized('Digest realm="r", nonce="one", qop="auth"')
    auth.retry_header("GET", "http://h/", 401, first)
    auth.auth_header("GET", "http://h/")
    stale = 'Digest realm="r", nonce="two", qop="auth", stale=true'
    header = auth.retry_header("GET", "http://h/", 401, unauthorized(stale))
    assert header is not None
    assert (params_of(header)["nonce"], params_of(header)["nc"]) == ("two", "00000001")
    later = auth.auth_header("GET", "http://h/")
    assert later is not None
    assert (params_of(later)["nonce"], params_of(later)["nc"]) == ("two", "00000002")


def test_digest_same_nonce_keeps_counting() -> None:
    # Resending under an unchanged nonce must not replay an nc the server has seen.
    auth = DigestAuth("u", "p")
    challenge = unauthorized('Digest realm="r", nonce="one", qop="auth"')
    auth.retry_header("GET", "http://h/", 401, challenge)
    header = auth.retry_header("GET", "http://h/", 401, challenge)
    assert header is not None and params_of(header)["nc"] == "00000002"


def test_digest_forgets_an_origin_that_moves_to_unsupported_challenges() -> None:
    auth = DigestAuth("u", "p")
    auth.retry_header("GET", "http://h/", 401, unauthorized('Digest realm="r", nonce="n"'))
    assert auth.auth_header("GET", "http://h/") is not None
    sha512 = unauthorized('Digest realm="r", nonce="m", algorithm=SHA-512')
    assert auth.retry_header("GET", "http://h/", 401, sha512) is None
    assert auth.auth_header("GET", "http://h/") is None


def test_digest_fresh_cnonce_per_request() -> None:
    auth = DigestAuth("u", "p")
    auth.retry_header("GET", "http://h/", 401, CHALLENGE_N)
    cnonces = set()
    for _ in range(20):
        header = auth.auth_header("GET", "http://h/")
        assert header is not None
        cnonces.add(params_of(header)["cnonce"])
    assert len(cnonces) == 20
    assert all(len(c) == 32 for c in cnonces)


def test_digest_nonce_count_is_thread_safe() -> None:
    auth = DigestAuth("u", "p")
    auth.retry_header("GET", "http://h/", 401, CHALLENGE_N)
    seen: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(250):
            header = auth.auth_header("GET", "http://h/")
            assert header is not None
            with lock:
                seen.append(params_of(header)["nc"])

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(int(nc, 16) for nc in seen) == list(range(2, 2 + 8 * 250))


# ----------------------------------------------------------------------------- against httpbin


class Client:
    """A minimal keep-alive client over http.client, standing in for the Session."""

    def __init__(self, server: thirdparty.Server, auth: Auth, jar: CookieJar | None = None):
        self.server = server
        self.auth = auth
        self.jar = jar
        self.conn = http.client.HTTPConnection(server.host, server.port, timeout=10)

    def send(self, path: str, authorization: str | None) -> tuple[int, Headers, bytes]:
        url = self.server.url + path
        headers = {}
        if authorization is not None:
            headers["Authorization"] = authorization
        cookie = self.jar.cookie_header(url) if self.jar is not None else None
        if cookie is not None:
            headers["Cookie"] = cookie
        self.conn.request("GET", path, headers=headers)
        response = self.conn.getresponse()
        body = response.read()
        received = Headers(response.getheaders())
        if self.jar is not None:
            self.jar.extract(url, received.get_list("Set-Cookie"))
        return response.status, received, body

    def get(self, path: str) -> tuple[int, list[int], bytes]:
        """What the Session will do: first attempt, then at most one authenticated retry."""
        url = self.server.url + path
        status, headers, body = self.send(path, self.auth.auth_header("GET", url))
        statuses = [status]
        retry = self.auth.retry_header("GET", url, status, headers)
        if retry is not None:
            status, headers, body = self.send(path, retry)
            statuses.append(status)
        return status, statuses, body

    def close(self) -> None:
        self.conn.close()


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256"])
def test_httpbin_digest(httpbin: thirdparty.Server, algorithm: str) -> None:
    client = Client(httpbin, DigestAuth("user", "passwd"))
    try:
        path = f"/digest-auth/auth/user/passwd/{algorithm}"
        _, statuses, body = client.get(path)
        assert statuses == [401, 200]
        assert json.loads(body) == {"authenticated": True, "user": "user"}
        # Later requests carry the digest up front: no second 401.
        _, statuses, body = client.get(path)
        assert statuses == [200]
        assert json.loads(body)["authenticated"] is True
    finally:
        client.close()


def test_httpbin_digest_auth_int_only_gets_rfc2069_form(httpbin: thirdparty.Server) -> None:
    client = Client(httpbin, DigestAuth("user", "passwd"))
    try:
        _, statuses, _ = client.get("/digest-auth/auth-int/user/passwd/MD5")
        assert statuses == [401, 200]
    finally:
        client.close()


def test_httpbin_digest_stale_nonce_is_renewed(httpbin: thirdparty.Server) -> None:
    # With stale_after=1 httpbin accepts a nonce once, then answers 401 stale=true; its
    # bookkeeping lives in cookies, so this also runs CookieJar against a real server.
    client = Client(httpbin, DigestAuth("user", "passwd"), CookieJar())
    try:
        path = "/digest-auth/auth/user/passwd/MD5/1"
        assert client.get(path)[1] == [401, 200]
        status, headers, _ = client.send(path, client.auth.auth_header("GET", httpbin.url + path))
        assert status == 401
        assert "stale=true" in headers["WWW-Authenticate"].lower()
        retry = client.auth.retry_header("GET", httpbin.url + path, status, headers)
        assert retry is not None and params_of(retry)["nc"] == "00000001"
        assert client.send(path, retry)[0] == 200
    finally:
        client.close()


def test_httpbin_digest_wrong_password_fails_after_one_retry(httpbin: thirdparty.Server) -> None:
    client = Client(httpbin, DigestAuth("user", "wrong"))
    try:
        _, statuses, _ = client.get("/digest-auth/auth/user/passwd/MD5")
        assert statuses == [401, 401]
    finally:
        client.close()


def test_httpbin_digest_unsupported_algorithm_is_not_retried(httpbin: thirdparty.Server) -> None:
    client = Client(httpbin, DigestAuth("user", "passwd"))
    try:
        _, statuses, _ = client.get("/digest-auth/auth/user/passwd/SHA-512")
        assert statuses == [401]
    finally:
        client.close()


def test_httpbin_basic_and_bearer(httpbin: thirdparty.Server) -> None:
    client = Client(httpbin, BasicAuth("user", "passwd"))
    try:
        status, _, body = client.get("/basic-auth/user/passwd")
        assert status == 200 and json.loads(body) == {"authenticated": True, "user": "user"}
        client.auth = BearerAuth("abc.def")
        status, _, body = client.get("/bearer")
        assert status == 200 and json.loads(body) == {"authenticated": True, "token": "abc.def"}
    finally:
        client.close()
