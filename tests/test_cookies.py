"""CookieJar: what is sent where (domain, path, Secure, expiry) and what a response may set."""

from __future__ import annotations

import http.cookiejar
import importlib.util
import threading
import time
from collections.abc import Iterator

import pytest
from conftest import MakeServer
from testserver import ReceivedRequest, Reply, ServerSide

import keepalive
import keepalive.cookies
from keepalive.cookies import (
    MAX_COOKIE_SIZE,
    MAX_COOKIES,
    MAX_COOKIES_PER_DOMAIN,
    CookieConflict,
    CookieJar,
    DomainPolicy,
    is_public_suffix,
)
from keepalive.exceptions import (
    InvalidArgument,
    InvalidArgumentType,
    InvalidURL,
    KeepaliveError,
    LocalProtocolError,
)


def jar_with(url: str, *set_cookie: str) -> CookieJar:
    jar = CookieJar()
    jar.extract(url, list(set_cookie))
    return jar


# ----------------------------------------------------------------------------- hot path


def test_empty_jar_does_no_work(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(url: str) -> object:
        raise AssertionError("an empty jar must not build a request")

    monkeypatch.setattr(keepalive.cookies, "_request_for", boom)
    jar = CookieJar()
    assert jar.cookie_header("https://example.com/") is None
    assert jar.extract("https://example.com/", []) == {}
    jar.set("a", "1")
    jar.clear()
    assert jar.cookie_header("https://example.com/") is None


def test_jar_emptied_by_deletions_is_fast_again(monkeypatch: pytest.MonkeyPatch) -> None:
    jar = jar_with("http://example.com/", "a=1; Path=/", "b=2; Path=/x")
    jar.delete("a")
    jar.extract("http://example.com/x", ["b=; Path=/x; Max-Age=0"])

    def boom(url: str) -> object:
        raise AssertionError("an emptied jar must not build a request")

    monkeypatch.setattr(keepalive.cookies, "_request_for", boom)
    assert jar.cookie_header("http://example.com/x") is None


def test_no_match_gives_none() -> None:
    jar = jar_with("http://a.example/", "sid=1")
    assert jar.cookie_header("http://b.example/") is None


# ----------------------------------------------------------------------------- domain


def test_cookie_is_never_sent_to_another_domain() -> None:
    jar = jar_with("http://b.example/", "sid=b")
    assert jar.cookie_header("http://b.example/") == "sid=b"
    assert jar.cookie_header("http://a.example/") is None
    assert jar.cookie_header("http://notb.example/") is None
    assert jar.cookie_header("http://b.example.evil/") is None


def test_host_only_cookie_is_not_sent_to_subdomains() -> None:
    # RFC 6265 section 5.3 step 6: no Domain attribute means this exact host only.
    jar = jar_with("http://example.com/", "host=1")
    assert jar.cookie_header("http://example.com/") == "host=1"
    assert jar.cookie_header("http://www.example.com/") is None


def test_domain_attribute_reaches_subdomains() -> None:
    jar = jar_with("http://www.example.com/", "wide=1; Domain=example.com; Path=/")
    assert jar.cookie_header("http://example.com/") == "wide=1"
    assert jar.cookie_header("http://www.example.com/") == "wide=1"
    assert jar.cookie_header("http://deep.api.example.com/x") == "wide=1"
    assert jar.cookie_header("http://badexample.com/") is None


def test_extract_rejects_domain_of_another_site() -> None:
    jar = CookieJar()
    set_ = jar.extract(
        "http://a.example/",
        ["ok=1; Path=/", "evil=1; Domain=b.example; Path=/", "tld=1; Domain=.example; Path=/"],
    )
    assert set_ == {"ok": "1"}
    assert jar.cookie_header("http://b.example/") is None
    assert jar.cookie_header("http://other.example/") is None
    assert list(jar) == ["ok"]


def test_extract_rejects_domain_of_a_subdomain() -> None:
    jar = CookieJar()
    assert jar.extract("http://example.com/", ["x=1; Domain=sub.example.com"]) == {}
    assert len(jar) == 0


def test_response_cannot_delete_another_sites_cookie() -> None:
    # The stdlib deletes an expired cookie while parsing, before its policy looks at the
    # Domain attribute; the wrapper applies the policy to deletions too.
    jar = jar_with("http://www.bank.example/", "sid=secret; Domain=bank.example; Path=/")
    set_ = jar.extract("http://evil.example/", ["sid=; Domain=bank.example; Path=/; Max-Age=0"])
    assert set_ == {}
    assert jar.cookie_header("http://bank.example/") == "sid=secret"
    # The site itself may still delete it.
    jar.extract("http://www.bank.example/", ["sid=; Domain=bank.example; Path=/; Max-Age=0"])
    assert jar.cookie_header("http://bank.example/") is None


def test_localhost_and_ip_hosts() -> None:
    jar = jar_with("http://localhost:8000/login", "a=1; Path=/")
    assert jar.cookie_header("http://localhost:8000/next") == "a=1"
    jar = jar_with("http://127.0.0.1:8000/", "b=2")
    assert jar.cookie_header("http://127.0.0.1:8000/x") == "b=2"
    assert jar.cookie_header("http://127.0.0.2:8000/x") is None


# ----------------------------------------------------------------------------- path


def test_path_matching() -> None:
    jar = jar_with("http://example.com/", "api=1; Path=/api")
    assert jar.cookie_header("http://example.com/api") == "api=1"
    assert jar.cookie_header("http://example.com/api/v1/users?x=1") == "api=1"
    assert jar.cookie_header("http://example.com/apix") is None
    assert jar.cookie_header("http://example.com/") is None


def test_default_path_is_the_request_directory() -> None:
    # RFC 6265 section 5.1.4: no Path attribute -> the directory of the request path.
    jar = jar_with("http://example.com/account/login", "d=1")
    assert jar.cookie_header("http://example.com/account/settings") == "d=1"
    assert jar.cookie_header("http://example.com/other") is None


def test_more_specific_path_comes_first() -> None:
    # RFC 6265 section 5.4 step 2: longer paths first.
    jar = jar_with("http://example.com/", "short=1; Path=/", "long=2; Path=/a/b")
    assert jar.cookie_header("http://example.com/a/b/c") == "long=2; short=1"


# ----------------------------------------------------------------------------- Secure


def test_secure_cookie_never_goes_over_http() -> None:
    jar = jar_with("https://example.com/", "s=1; Secure; Path=/", "p=2; Path=/")
    assert jar.cookie_header("https://example.com/") == "s=1; p=2"
    assert jar.cookie_header("http://example.com/") == "p=2"


# ----------------------------------------------------------------------------- expiry


def test_max_age_zero_deletes() -> None:
    jar = jar_with("http://example.com/", "sid=1; Path=/", "keep=2; Path=/")
    set_ = jar.extract("http://example.com/logout", ["sid=; Path=/; Max-Age=0"])
    assert set_ == {}
    assert jar.cookie_header("http://example.com/") == "keep=2"
    assert "sid" not in jar


def test_expires_in_the_past_deletes() -> None:
    jar = jar_with("http://example.com/", "sid=1; Path=/")
    jar.extract("http://example.com/", ["sid=gone; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT"])
    assert jar.cookie_header("http://example.com/") is None
    assert len(jar) == 0


def test_deletion_needs_matching_path() -> None:
    jar = jar_with("http://example.com/", "sid=1; Path=/")
    jar.extract("http://example.com/", ["sid=; Path=/other; Max-Age=0"])
    assert jar.cookie_header("http://example.com/") == "sid=1"


def test_future_expiry_and_max_age_are_kept() -> None:
    jar = jar_with(
        "http://example.com/",
        "a=1; Path=/; Max-Age=3600",
        "b=2; Path=/; Expires=Fri, 01 Jan 2100 00:00:00 GMT",
    )
    assert jar.cookie_header("http://example.com/") == "a=1; b=2"


def test_expired_cookie_is_not_sent_nor_listed() -> None:
    jar = CookieJar()
    cookie = http.cookiejar.Cookie(
        0, "old", "v", None, False, "example.com", False, False, "/", True,
        False, int(time.time()) - 10, False, None, None, {},
    )
    jar.jar.set_cookie(cookie)
    assert jar.cookie_header("http://example.com/") is None
    assert len(jar) == 0
    assert jar.get("old") is None


def test_extract_returns_what_the_response_set() -> None:
    jar = CookieJar()
    set_ = jar.extract(
        "https://example.com/",
        ["a=1; Path=/; HttpOnly", "b=two words; Path=/; SameSite=Lax", "flag"],
    )
    assert set_ == {"a": "1", "b": "two words", "flag": ""}


# ----------------------------------------------------------------------------- user surface


def test_dict_cookies_go_to_every_host() -> None:
    jar = CookieJar({"token": "abc", "lang": "en"})
    for url in ("http://a.example/", "https://b.example/x", "http://127.0.0.1:9/", "http://localhost/"):
        assert jar.cookie_header(url) == "token=abc; lang=en", url


def test_set_with_domain_and_path() -> None:
    jar = CookieJar()
    jar.set("a", "1", domain="example.com", path="/app")
    assert jar.cookie_header("http://example.com/app/x") == "a=1"
    assert jar.cookie_header("http://www.example.com/app") == "a=1"
    assert jar.cookie_header("http://example.com/") is None
    assert jar.cookie_header("http://example.org/app") is None


def test_get_set_delete_len_iter_contains_items() -> None:
    jar = CookieJar()
    jar.set("a", "1")
    jar.set("b", "2", domain="example.com")
    jar.set("a", "replaced")  # same name, domain and path: replaces
    assert len(jar) == 2
    assert sorted(jar) == ["a", "b"]
    assert "a" in jar and "zzz" not in jar
    assert jar.get("a") == "replaced"
    assert jar.get("missing") is None
    assert jar.get("missing", "dflt") == "dflt"
    assert sorted(jar.items()) == [("a", "replaced"), ("b", "2")]
    jar.delete("a")
    assert "a" not in jar and len(jar) == 1
    jar.delete("not-there")  # silent
    jar.clear()
    assert len(jar) == 0 and jar.items() == []


def test_get_conflict_and_narrowing() -> None:
    jar = CookieJar()
    jar.set("sid", "one", domain="a.example")
    jar.set("sid", "two", domain="b.example")
    jar.set("sid", "three", domain="b.example", path="/deep")
    with pytest.raises(CookieConflict, match="sid") as info:
        jar.get("sid")
    assert isinstance(info.value, KeepaliveError)
    assert jar.get("sid", domain="a.example") == "one"
    assert jar.get("sid", domain=".a.example") == "one"
    assert jar.get("sid", domain="b.example", path="/") == "two"
    assert jar.get("sid", path="/deep") == "three"
    jar.delete("sid", domain="b.example")
    assert jar.get("sid") == "one"


def test_update_from_mapping_and_jars() -> None:
    jar = CookieJar({"a": "1"})
    other = jar_with("http://example.com/", "b=2; Path=/")
    jar.update(other)
    jar.update({"c": "3"})
    stdlib = http.cookiejar.CookieJar()
    stdlib.set_cookie(keepalive.cookies._make_cookie("d", "4", "", "/"))
    jar.update(stdlib)
    assert sorted(jar.items()) == [("a", "1"), ("b", "2"), ("c", "3"), ("d", "4")]
    # RFC 6265 section 5.4 step 2: equal paths go oldest first. ``b`` keeps the creation
    # time it had in ``other``; ``d``, never stamped, is created when it is copied in.
    assert jar.cookie_header("http://example.com/") == "a=1; b=2; c=3; d=4"
    assert jar.cookie_header("http://other.example/") == "a=1; c=3; d=4"


def test_wrapping_shares_the_underlying_jar() -> None:
    stdlib = http.cookiejar.CookieJar()
    jar = CookieJar(stdlib)
    assert jar.jar is stdlib
    jar.set("a", "1")
    assert [c.name for c in stdlib] == ["a"]
    again = CookieJar(jar)
    assert again.jar is stdlib
    assert again.get("a") == "1"


def test_invalid_cookie_names_and_values_are_refused() -> None:
    jar = CookieJar()
    for name, value in [("a;b", "1"), ("a=b", "1"), ("", "1"), ("a b", "1"),
                        ("a", "1; injected=2"), ("a", "line\r\nbreak")]:
        with pytest.raises(LocalProtocolError):
            jar.set(name, value)
    assert len(jar) == 0


def test_repr_hides_values() -> None:
    jar = CookieJar({"token": "s3cret"})
    assert "token" in repr(jar)
    assert "s3cret" not in repr(jar)


def test_bad_url_is_invalid_url_with_cause() -> None:
    jar = CookieJar({"a": "1"})
    with pytest.raises(InvalidURL) as info:
        jar.cookie_header("http://[::1/x")
    assert isinstance(info.value.__cause__, ValueError)
    with pytest.raises(InvalidURL):
        jar.extract("no-scheme", ["a=1"])


def test_concurrent_use_is_safe() -> None:
    jar = CookieJar()
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(200):
                jar.extract(f"http://h{n}.example/", [f"c{i % 7}={i}; Path=/"])
                jar.cookie_header(f"http://h{n}.example/")
                len(jar)
                list(jar)
        except BaseException as exc:  # collected, then asserted on below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(jar) == 6 * 7


# ----------------------------------------------------------------------------- public suffixes


@pytest.fixture(params=["default", "builtin"])
def suffix_rule(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Each test runs as configured (with the public suffix list package when the ``psl``
    extra is installed), and once more with the built-in rule alone."""
    if request.param == "builtin":
        monkeypatch.setattr(keepalive.cookies, "_suffix_list", lambda: None)
    yield request.param


@pytest.mark.parametrize(
    ("origin", "domain", "victim"),
    [
        ("http://evil.co.uk/", "co.uk", "http://bank.co.uk/"),
        ("http://evil.co.uk/", ".co.uk", "http://www.bank.co.uk/"),
        ("http://evil.com.au/", "com.au", "http://bank.com.au/"),
        ("http://evil.github.io/", "github.io", "http://victim.github.io/"),
        ("http://evil.herokuapp.com/", ".herokuapp.com", "http://victim.herokuapp.com/"),
        ("http://printer.local/", ".local", "http://router.local/"),
        ("http://printer.local/", "local", "http://router.local/"),
        ("http://app.localhost/", "localhost", "http://admin.localhost/"),
        ("http://example.com/", "com", "http://other.com/"),
        ("http://x.home.arpa/", "home.arpa", "http://y.home.arpa/"),
    ],
)
def test_domain_of_a_public_suffix_is_refused(
    suffix_rule: str, origin: str, domain: str, victim: str
) -> None:
    # RFC 6265 section 5.3 step 5: such a cookie would go to every site under the suffix.
    jar = CookieJar()
    set_ = jar.extract(origin, [f"a=b; Domain={domain}; Path=/", "own=1; Path=/"])
    assert set_ == {"own": "1"}
    assert jar.cookie_header(victim) is None
    assert jar.cookie_header(origin) == "own=1"
    assert [c.domain_specified for c in jar.jar] == [False]  # "own" alone, host-only


def test_the_stdlib_policy_alone_accepts_those_domains() -> None:
    # The hole DomainPolicy closes: the stdlib's default policy sends evil's cookie to bank.
    stdlib = CookieJar(http.cookiejar.CookieJar(http.cookiejar.DefaultCookiePolicy()))
    assert stdlib.extract("http://evil.co.uk/", ["a=b; Domain=co.uk"]) == {"a": "b"}
    assert stdlib.cookie_header("http://bank.co.uk/") == "a=b"
    stdlib = CookieJar(http.cookiejar.CookieJar(http.cookiejar.DefaultCookiePolicy()))
    assert stdlib.extract("http://127.0.0.1/", ["a=b; Domain=0.1"]) == {"a": "b"}
    assert stdlib.cookie_header("http://10.0.0.1/") == "a=b"


def test_sites_under_a_public_suffix_still_share_their_own_domain(suffix_rule: str) -> None:
    jar = jar_with("http://login.bank.co.uk/", "sid=1; Domain=bank.co.uk; Path=/")
    assert jar.cookie_header("http://bank.co.uk/") == "sid=1"
    assert jar.cookie_header("http://www.bank.co.uk/") == "sid=1"
    assert jar.cookie_header("http://evil.co.uk/") is None
    jar = jar_with("http://me.github.io/", "t=1; Domain=me.github.io")
    assert jar.cookie_header("http://blog.me.github.io/") == "t=1"
    assert jar.cookie_header("http://you.github.io/") is None


def test_public_suffix_that_is_the_host_gets_a_host_only_cookie(suffix_rule: str) -> None:
    # RFC 6265 section 5.3 step 5: Domain equal to the request host -> host-only cookie.
    jar = jar_with("http://co.uk/", "a=1; Domain=co.uk; Path=/")
    assert jar.cookie_header("http://co.uk/") == "a=1"
    assert jar.cookie_header("http://evil.co.uk/") is None
    jar = jar_with("http://localhost:8000/", "b=2; Domain=localhost; Path=/")
    assert jar.cookie_header("http://localhost:9000/") == "b=2"
    assert jar.cookie_header("http://app.localhost/") is None


def test_built_in_rule() -> None:
    rule = keepalive.cookies._builtin_public_suffix
    for public in ("co.uk", "org.uk", "com.au", "ac.jp", "github.io", "blogspot.com",
                   "home.arpa"):
        assert rule(public), public
    for private in ("bank.co.uk", "me.github.io", "example.com", "co.com", "co.example",
                    "github.com", "printer.local"):
        assert not rule(private), private


def test_public_suffix_list_package_is_used_when_installed() -> None:
    installed = importlib.util.find_spec("publicsuffixlist") is not None
    assert (keepalive.cookies._suffix_list() is not None) is installed
    # Single labels are public either way; the list knows far more than the built-in rule.
    assert is_public_suffix("com") and is_public_suffix("local")
    assert is_public_suffix("kawasaki.jp") is installed
    assert not is_public_suffix("city.kawasaki.jp")


# ----------------------------------------------------------------------------- IP addresses


@pytest.mark.parametrize("domain", ["0.1", ".0.1", ".0.0.1", "0.0.1", "1", "127.0.0.2", "local"])
def test_domain_on_an_ip_host_must_be_that_ip(domain: str) -> None:
    # RFC 6265 section 5.1.3: an IP address domain-matches only itself.
    jar = CookieJar()
    assert jar.extract("http://127.0.0.1:8000/", [f"a=1; Domain={domain}"]) == {}
    assert len(jar) == 0
    assert jar.cookie_header("http://10.0.0.1/") is None


def test_domain_equal_to_the_ip_is_host_only() -> None:
    jar = jar_with("http://127.0.0.1:8000/", "a=1; Domain=127.0.0.1; Path=/")
    assert jar.cookie_header("http://127.0.0.1:9000/") == "a=1"
    assert jar.list_domains() == ["127.0.0.1"]
    jar = jar_with("http://[::1]:8000/", "b=2; Domain=local; Path=/", "c=3; Path=/")
    assert jar.cookie_header("http://[::1]:8000/") == "c=3"
    assert list(jar) == ["c"]


def test_ip_suffix_domain_from_a_named_host_is_refused() -> None:
    jar = CookieJar()
    assert jar.extract("http://host.0.1/", ["a=1; Domain=0.1"]) == {}
    assert jar.extract("http://a.example/", ["a=1; Domain=::1"]) == {}
    assert len(jar) == 0


def test_session_keeps_ip_suffix_cookies_from_other_ips(make_server: MakeServer) -> None:
    # Every 127/8 address is loopback on Linux: two real servers, two IPs sharing ".0.1".
    setter = make_server(
        lambda req, side: Reply(200, [
            ("Set-Cookie", "a=1; Domain=0.1; Path=/"),
            ("Set-Cookie", "b=2; Domain=.0.0.1; Path=/"),
            ("Set-Cookie", "c=3; Domain=127.0.0.1; Path=/"),
            ("Set-Cookie", "d=4; Path=/"),
        ], b"")
    )  # fmt: skip
    other = make_server(host="127.1.0.1")
    with keepalive.Session(trust_env=False) as s:
        first = s.get(setter.url)
        s.get(other.url)
        s.get(setter.url)
    assert first.cookies == {"c": "3", "d": "4"}
    assert other.requests[0].header("cookie") is None
    assert setter.requests[1].header("cookie") == "c=3; d=4"
    assert s.cookies.list_domains() == ["127.0.0.1"]


# ----------------------------------------------------------------------------- limits


def test_oversized_cookie_is_ignored() -> None:
    # RFC 6265 section 6.1: name + value + attributes, separators not counted.
    jar = CookieJar()
    fits = "x" * (MAX_COOKIE_SIZE - len("a") - len("Path") - len("/"))
    assert jar.extract("http://example.com/", [f"a={fits}; Path=/"]) == {"a": fits}
    assert jar.extract("http://example.com/", [f"b={fits}x; Path=/"]) == {}
    assert jar.extract("http://example.com/", [f"c=1; Path=/{'p' * MAX_COOKIE_SIZE}"]) == {}
    assert jar.keys() == ["a"]


def test_per_domain_limit_evicts_the_least_recently_used() -> None:
    jar = CookieJar()
    url = "http://example.com/"
    jar.extract(url, [f"used{i}=1; Path=/used" for i in range(100)])
    jar.extract(url, [f"old{i}=1; Path=/old" for i in range(MAX_COOKIES_PER_DOMAIN - 100)])
    assert len(jar) == MAX_COOKIES_PER_DOMAIN
    header = jar.cookie_header("http://example.com/used")  # sending counts as a use
    assert header is not None and header.count("=") == 100
    jar.extract(url, [f"new{i}=1; Path=/" for i in range(30)])
    names = set(jar)
    assert len(names) == MAX_COOKIES_PER_DOMAIN
    assert {f"used{i}" for i in range(100)} <= names
    assert {f"new{i}" for i in range(30)} <= names
    assert not {f"old{i}" for i in range(30)} & names  # the 30 set first, never sent
    # Another domain has a limit of its own.
    jar.extract("http://other.example/", ["x=1"])
    assert "x" in jar and len(jar) == MAX_COOKIES_PER_DOMAIN + 1


def test_one_response_cannot_overfill_a_domain() -> None:
    jar = CookieJar()
    set_ = jar.extract("http://example.com/", [f"c{i}={i}" for i in range(1000)])
    kept = [f"c{i}" for i in range(1000 - MAX_COOKIES_PER_DOMAIN, 1000)]
    assert sorted(set_) == sorted(kept)  # only what is stored is reported, the last ones
    assert sorted(jar) == sorted(kept)


def test_expired_cookies_go_before_live_ones() -> None:
    jar = CookieJar()
    jar.extract("http://example.com/", [f"live{i}=1" for i in range(MAX_COOKIES_PER_DOMAIN - 1)])
    stale = jar.set("stale", "1", domain="example.com")
    assert stale is not None
    stale.expires = int(time.time()) - 1
    keep = jar.extract("http://example.com/", ["live0=again"])  # touches live0 only
    assert keep == {"live0": "again"}
    jar.extract("http://example.com/", ["new=1"])  # one over the limit in "example.com"
    assert "live1" in jar and "new" in jar and len(jar) == MAX_COOKIES_PER_DOMAIN
    assert all(c.name != "stale" for c in jar.jar)


def test_total_limit() -> None:
    jar = CookieJar()
    hosts = MAX_COOKIES // 40 + 25
    for h in range(hosts):
        jar.extract(f"http://h{h}.example/", [f"c{i}=1" for i in range(40)])
    assert len(jar) == MAX_COOKIES
    assert jar.cookie_header("http://h0.example/") is None  # the oldest host went first
    header = jar.cookie_header(f"http://h{hosts - 1}.example/")
    assert header is not None and header.count("=") == 40


def test_caller_cookies_are_not_bounded_per_domain() -> None:
    jar = CookieJar({f"k{i}": "v" for i in range(MAX_COOKIES_PER_DOMAIN + 20)})
    jar.extract("http://example.com/", ["server=1"])
    assert len(jar) == MAX_COOKIES_PER_DOMAIN + 21


def test_session_bounds_a_cookie_flood(make_server: MakeServer) -> None:
    # 5,000 cookies from one host: 3,000 in one response (about what the client's 64 KiB
    # head limit lets through) and 2,000 in the next.
    def app(request: ReceivedRequest, side: ServerSide) -> Reply:
        if request.target == "/flood1":
            return Reply(200, [("Set-Cookie", f"c{i}=1") for i in range(3000)], b"")
        if request.target == "/flood2":
            return Reply(200, [("Set-Cookie", f"d{i}=1") for i in range(2000)], b"")
        return Reply(200, [], b"")

    server = make_server(app)
    with keepalive.Session(trust_env=False) as s:
        first = s.get(f"{server.url}/flood1")
        assert len(first.cookies) == MAX_COOKIES_PER_DOMAIN
        assert len(s.cookies) == MAX_COOKIES_PER_DOMAIN
        s.get(f"{server.url}/flood2")
        assert len(s.cookies) == MAX_COOKIES_PER_DOMAIN
        s.get(f"{server.url}/next")
    sent = server.requests[2].header("cookie")
    assert sent is not None
    names = [pair.split("=")[0] for pair in sent.split("; ")]
    assert len(names) == MAX_COOKIES_PER_DOMAIN
    assert names == [f"d{i}" for i in range(2000 - MAX_COOKIES_PER_DOMAIN, 2000)]
    assert len(sent) < MAX_COOKIES_PER_DOMAIN * 16


# ----------------------------------------------------------------------------- cost


def test_cookie_header_skips_a_full_jar_without_a_match(monkeypatch: pytest.MonkeyPatch) -> None:
    jar = CookieJar()
    for h in range(MAX_COOKIES // 2):
        jar.extract(f"http://www.h{h}.example/", ["a=1", f"b=2; Domain=h{h}.example"])
    assert len(jar) == MAX_COOKIES

    def boom(url: str) -> object:
        raise AssertionError("no stored domain matches: no request object")

    monkeypatch.setattr(keepalive.cookies, "_request_for", boom)
    assert jar.cookie_header("http://unrelated.example/x") is None
    assert jar.cookie_header("http://127.0.0.1:8000/") is None


def test_cookie_header_visits_only_the_hosts_domains() -> None:
    calls: list[str] = []

    class Counting(DomainPolicy):
        def domain_return_ok(self, domain: str, request: object) -> bool:
            calls.append(domain)
            return super().domain_return_ok(domain, request)  # type: ignore[arg-type]

    jar = CookieJar(http.cookiejar.CookieJar(Counting()))
    for h in range(1000):
        jar.extract(f"http://www.h{h}.example/", ["a=1", f"b=2; Domain=h{h}.example"])
    jar.set("everywhere", "1")
    calls.clear()
    assert jar.cookie_header("http://www.h500.example/") == "a=1; b=2; everywhere=1"
    assert sorted(calls) == ["", ".h500.example", "www.h500.example"]


def test_expired_cookie_of_the_host_is_purged_when_matched() -> None:
    jar = jar_with("http://example.com/", "a=1; Path=/", "b=2; Path=/")
    for cookie in jar.jar:
        if cookie.name == "a":
            cookie.expires = int(time.time()) - 1
    assert jar.cookie_header("http://example.com/") == "b=2"
    assert [c.name for c in jar.jar] == ["b"]


def test_wrapped_jar_with_its_own_matching_is_asked() -> None:
    class Fixed(http.cookiejar.CookieJar):
        def add_cookie_header(self, request: object) -> None:
            request.add_unredirected_header("Cookie", "fixed=1")  # type: ignore[attr-defined]

    jar = CookieJar(Fixed())
    jar.set("a", "1")
    assert jar.cookie_header("http://example.com/") == "fixed=1"


# ----------------------------------------------------------------------------- userinfo


def test_userinfo_is_not_part_of_the_cookie_domain() -> None:
    jar = CookieJar()
    set_ = jar.extract(
        "http://user:pass@example.com/", ["a=1; Path=/", "b=2; Domain=example.com; Path=/"]
    )
    assert set_ == {"a": "1", "b": "2"}
    assert sorted(jar.list_domains()) == [".example.com", "example.com"]
    assert jar.cookie_header("http://example.com/") == "a=1; b=2"
    assert jar.cookie_header("http://user:pass@example.com/") == "a=1; b=2"
    assert jar.cookie_header("http://other@example.com:8080/") == "a=1; b=2"
    assert jar.cookie_header("http://www.example.com/") == "b=2"
    jar = jar_with("http://user@127.0.0.1:8000/", "c=3")
    assert jar.list_domains() == ["127.0.0.1"]
    assert jar.cookie_header("http://127.0.0.1:8000/") == "c=3"


def test_userinfo_cannot_forge_a_host() -> None:
    # "http://bank.example@evil.example/" goes to evil.example: its cookies are evil's.
    jar = jar_with("http://bank.example@evil.example/", "a=1")
    assert jar.list_domains() == ["evil.example"]
    assert jar.cookie_header("http://bank.example/") is None


# ----------------------------------------------------------------------------- caller input


def test_none_value_skips_the_cookie() -> None:
    jar = CookieJar({"a": None, "b": "2"})
    assert jar.items() == [("b", "2")]
    assert jar.cookie_header("http://example.com/") == "b=2"


def test_bytes_value_is_latin1_text() -> None:
    jar = CookieJar({"a": b"xyz", b"n": "v"})  # type: ignore[dict-item]
    assert sorted(jar.items()) == [("a", "xyz"), ("n", "v")]


def test_wrong_types_are_invalid_argument_type() -> None:
    for cookies in ({"count": 1}, {"count": 1.5}, {"count": ["x"]}):
        with pytest.raises(InvalidArgumentType, match="count") as info:
            CookieJar(cookies)  # type: ignore[arg-type]
        assert isinstance(info.value, TypeError) and isinstance(info.value, KeepaliveError)
    with pytest.raises(InvalidArgumentType, match="cookie name"):
        CookieJar({1: "x"})  # type: ignore[dict-item]
    with pytest.raises(InvalidArgumentType, match="list"):
        CookieJar([("a", "1")])  # type: ignore[arg-type]
    jar = CookieJar()
    with pytest.raises(InvalidArgumentType, match="expires of cookie 'a'"):
        jar.set("a", "1", expires="tomorrow")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentType, match="domain of cookie 'a'"):
        jar.set("a", "1", domain=5)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentType, match="rest of cookie 'a'"):
        jar.set("a", "1", rest=["HttpOnly"])  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError, match="a;b"):
        CookieJar({"a;b": "1"})
    with pytest.raises(LocalProtocolError, match="'a'"):
        jar["a"] = "1; injected=2"
    assert len(jar) == 0


def test_session_cookie_arguments(make_server: MakeServer) -> None:
    server = make_server()
    with keepalive.Session(cookies={"skip": None, "keep": "1"}, trust_env=False) as s:
        s.get(server.url, cookies={"none": None, "once": "2"})
        with pytest.raises(InvalidArgumentType, match="bad"):
            s.get(server.url, cookies={"bad": 3})
    assert len(server.requests) == 1
    assert server.requests[0].header("cookie") == "keep=1; once=2"


# ----------------------------------------------------------------------------- dict API


def test_item_access() -> None:
    jar = CookieJar()
    jar["a"] = "1"
    assert jar["a"] == "1"
    with pytest.raises(KeyError):
        jar["missing"]
    jar.set("a", "2", domain="example.com")
    with pytest.raises(CookieConflict):
        jar["a"]
    del jar["a"]  # every cookie of that name, as requests does
    assert "a" not in jar
    del jar["a"]  # silent when absent, as in requests
    jar["flag"] = ""
    assert jar["flag"] == "" and jar.get("flag") == ""
    jar["flag"] = None  # None deletes
    assert "flag" not in jar


def test_get_dict_keys_values_and_lists() -> None:
    jar = CookieJar()
    jar.set("a", "1")
    jar.set("b", "2", domain="example.com", path="/x")
    jar.extract("http://www.example.org/", ["c=3; Path=/"])
    assert jar.get_dict() == {"a": "1", "b": "2", "c": "3"}
    assert jar.get_dict(domain="example.com") == {"b": "2"}
    assert jar.get_dict(path="/") == {"a": "1", "c": "3"}
    assert jar.get_dict(domain="www.example.org", path="/") == {"c": "3"}
    assert jar.keys() == ["a", "b", "c"] == list(jar)
    assert jar.values() == ["1", "2", "3"]
    assert jar.items() == list(zip(jar.keys(), jar.values(), strict=True))
    assert jar.list_domains() == ["", "example.com", "www.example.org"]
    assert jar.list_paths() == ["/", "/x"]
    assert jar.multiple_domains()
    assert not CookieJar({"a": "1", "b": "2"}).multiple_domains()


def test_set_with_requests_keywords() -> None:
    jar = CookieJar()
    cookie = jar.set("s", "1", domain="example.com", secure=True, rest={"HttpOnly": None})
    assert cookie is not None and cookie.secure and cookie.has_nonstandard_attr("HttpOnly")
    assert jar.cookie_header("https://example.com/") == "s=1"
    assert jar.cookie_header("http://example.com/") is None
    jar.set("later", "1", expires=time.time() + 3600)
    jar.set("gone", "1", expires=time.time() - 10)
    assert "later" in jar and "gone" not in jar
    assert jar.set("s", None, domain="other.example") is None  # narrowed: nothing to delete
    assert "s" in jar
    jar.set("s", None)
    assert "s" not in jar


def test_update_with_none_deletes_and_copies_cookies() -> None:
    jar = CookieJar({"a": "1", "b": "2"})
    jar.update({"a": None, "c": "3"})
    assert sorted(jar) == ["b", "c"]
    other = CookieJar()
    other.update(jar)
    other["b"] = "changed"
    assert jar["b"] == "2"  # copies, not the same cookie objects


def test_copy_is_independent_and_keeps_the_policy() -> None:
    jar = jar_with("http://example.com/", "a=1; Path=/")
    dup = jar.copy()
    assert dup.items() == [("a", "1")] and dup.jar is not jar.jar
    assert dup._policy() is jar._policy()
    dup["b"] = "2"
    jar.delete("a")
    assert dup.get_dict() == {"a": "1", "b": "2"} and len(jar) == 0
    assert dup.extract("http://evil.co.uk/", ["x=1; Domain=co.uk"]) == {}


def test_clear_by_domain() -> None:
    jar = CookieJar()
    jar.set("a", "1", domain="a.example")
    jar.set("b", "2", domain="b.example")
    jar.clear("a.example")
    assert list(jar) == ["b"]
    with pytest.raises(KeyError):
        jar.clear("a.example")
    with pytest.raises(InvalidArgument, match="domain"):
        jar.clear(path="/")
    jar.set("c", "3", domain="C.Example", path="/p")
    jar.clear("c.example", "/p", "c")
    assert list(jar) == ["b"]
    jar.clear()
    assert len(jar) == 0 and jar.cookie_header("http://b.example/") is None


def test_total_limit_counts_a_jar_filled_elsewhere() -> None:
    stdlib = http.cookiejar.CookieJar(DomainPolicy())
    for i in range(MAX_COOKIES):
        stdlib.set_cookie(keepalive.cookies._make_cookie(f"c{i}", "1", f"h{i}.example", "/"))
    jar = CookieJar(stdlib)
    jar.extract("http://new.example/", ["n=1"])
    assert len(jar) == MAX_COOKIES
    assert "n" in jar and "c0" not in jar and "c1" in jar  # never used: the first goes
    jar.clear("h1.example")
    for i in range(2):
        jar.extract("http://new.example/", [f"m{i}=1"])
    assert len(jar) == MAX_COOKIES and "c2" not in jar and "c3" in jar
