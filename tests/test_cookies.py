"""CookieJar: what is sent where (domain, path, Secure, expiry) and what a response may set."""

from __future__ import annotations

import http.cookiejar
import threading
import time

import pytest

import keepalive.cookies
from keepalive.cookies import CookieConflict, CookieJar
from keepalive.exceptions import InvalidURL, KeepaliveError, LocalProtocolError


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
    assert jar.cookie_header("http://example.com/") == "a=1; c=3; d=4; b=2"
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
