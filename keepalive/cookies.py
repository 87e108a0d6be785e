"""The session's cookie store: a thin layer over the standard library's ``http.cookiejar``.

``http.cookiejar`` does the matching the rules call for (RFC 6265 sections 5.1.3 and 5.1.4
domain and path matching, ``Secure``, ``Expires`` and ``Max-Age``); this module adds what a
client needs around it:

- ``DomainPolicy``, the stdlib's default policy plus RFC 6265 section 5.3 step 5: a response
  may not set a cookie for a public suffix (``co.uk``, ``github.io``) nor for a suffix of an
  IP address, either of which would send it to hosts of other owners.
- Bounds (RFC 6265 section 6.1): ``MAX_COOKIE_SIZE`` bytes per cookie,
  ``MAX_COOKIES_PER_DOMAIN`` per domain and ``MAX_COOKIES`` in all, the least recently used
  going first, so a hostile server cannot grow the jar, or every later request, at will.
- The two calls the session makes on every exchange, ``cookie_header`` before sending and
  ``extract`` after receiving. Both are O(1) when the jar is empty or the response sets no
  cookie; ``cookie_header`` looks only at the few stored domains that could match the host
  (none: no request object is built), where the stdlib would visit every domain in the jar,
  and purge the expired cookies of all of them, on every request.
- The dict-like surface of requests' ``RequestsCookieJar`` (``jar[name]``, ``get_dict``...).

The stdlib jar expects ``urllib`` request and response objects; ``_request_for`` and
``_SetCookieResponse`` stand in for them. The stdlib ``Cookie`` has no creation or
last-access time (RFC 6265 section 5.3 step 11), so we keep both in its instance dict.
"""

from __future__ import annotations

import calendar
import contextlib
import copy as copy_module
import email.message
import functools
import heapq
import http.client
import http.cookiejar
import http.cookies
import importlib
import ipaddress
import itertools
import re
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Any, Protocol, Union, cast

from .exceptions import (
    CookieConflict,
    InvalidArgument,
    InvalidArgumentType,
    InvalidURL,
    LocalProtocolError,
)

__all__ = [
    "MAX_COOKIES",
    "MAX_COOKIES_PER_DOMAIN",
    "MAX_COOKIE_SIZE",
    "CookieConflict",
    "CookieConflictError",
    "CookieJar",
    "CookiesLike",
    "DomainPolicy",
    "RequestsCookieJar",
    "cookiejar_from_dict",
    "is_public_suffix",
    "morsel_to_cookie",
]

CookiesLike = Union[
    "CookieJar", http.cookiejar.CookieJar, Mapping[str, Union[str, bytes, None]]
]

# RFC 6265 section 6.1 asks a client to keep at least 4096 bytes per cookie, 50 cookies per
# domain and 3000 in all; these are the upper bounds we keep (Firefox's numbers). A
# ``Set-Cookie`` larger than MAX_COOKIE_SIZE is ignored; past the counts the least recently
# used cookies are evicted. They bound what a server can make us store, not what the caller
# stores with ``set`` (those cookies count towards MAX_COOKIES but are never refused).
MAX_COOKIE_SIZE = 4096  # name + value + attributes, separators not counted
MAX_COOKIES_PER_DOMAIN = 180  # per domain as stored (``example.com``, ``.example.com``...)
MAX_COOKIES = 3000


# ----------------------------------------------------------------------------- domain policy

# Second-level labels under which country-code registries hand out names to the public
# (co.uk, com.au, ac.jp, or.kr...): the rule ``http.cookiejar`` applies with strict_domain,
# applied here to every cookie when no public suffix list package is installed.
_CC_SECOND_LEVEL = frozenset(
    ("ac", "co", "com", "edu", "gen", "go", "gob", "gov", "int", "ltd", "mil", "ne", "net",
     "nic", "nom", "or", "org", "plc", "sch")
)  # fmt: skip
# Multi-label suffixes under which each customer of a hosting service gets a subdomain
# (the "private" section of the public suffix list), plus the special-use zones of RFC 6761
# and RFC 8375. Single labels (com, uk, local, localhost, internal...) are always public.
_KNOWN_SUFFIXES = frozenset(
    ("github.io", "gitlab.io", "githubusercontent.com", "herokuapp.com", "appspot.com",
     "blogspot.com", "netlify.app", "vercel.app", "pages.dev", "workers.dev", "web.app",
     "firebaseapp.com", "fly.dev", "onrender.com", "azurewebsites.net", "cloudfront.net",
     "s3.amazonaws.com", "readthedocs.io", "ngrok.io", "ngrok-free.app", "glitch.me",
     "home.arpa", "in-addr.arpa", "ip6.arpa")
)  # fmt: skip


class _SuffixList(Protocol):
    def is_private(self, domain: str) -> bool: ...


@functools.lru_cache(maxsize=1)
def _suffix_list() -> _SuffixList | None:
    """The ``publicsuffixlist`` package's list (the ``psl`` extra), or None when absent.

    Loaded on the first cookie with a ``Domain`` attribute, not at import: parsing the list
    takes tens of milliseconds.
    """
    try:
        module = importlib.import_module("publicsuffixlist")
    except ImportError:
        return None
    return cast(_SuffixList, module.PublicSuffixList())


def _builtin_public_suffix(domain: str) -> bool:
    """The short built-in rule used without the ``psl`` extra: known multi-label suffixes and
    ``<cc-second-level>.<two-letter country code>``."""
    if domain in _KNOWN_SUFFIXES:
        return True
    second, _, top = domain.partition(".")
    return len(top) == 2 and top.isalpha() and second in _CC_SECOND_LEVEL


def is_public_suffix(domain: str) -> bool:
    """True when ``domain`` (lower case, no leading dot) is shared by unrelated owners, so no
    site under it may set cookies for it (RFC 6265 section 5.3 step 5).

    Single labels always are; beyond that the ``publicsuffixlist`` package decides when
    installed, else a short built-in list (``co.uk``, ``com.au``, ``github.io``...).
    """
    if "." not in domain or domain in _KNOWN_SUFFIXES:
        return True
    psl = _suffix_list()
    if psl is not None:
        return not psl.is_private(domain)  # also True for a malformed name: refuse it
    return _builtin_public_suffix(domain)


_PORT = re.compile(r":\d+$", re.ASCII)  # what http.cookiejar cuts from a netloc


def _hosts(netloc: str) -> tuple[str, str]:
    """The request host and the effective request host, as ``http.cookiejar`` computes them
    (``request_host``, ``eff_request_host``): no userinfo nor port, lower case, and a name
    without a dot gets ``.local`` (RFC 2965 section 1)."""
    host = _PORT.sub("", netloc.rpartition("@")[2], 1).lower()
    return host, host if "." in host else host + ".local"


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host[1:-1] if host.startswith("[") else host)
    except ValueError:
        return False
    return True


def _make_host_only(cookie: http.cookiejar.Cookie, effective_host: str) -> None:
    """Turn ``cookie`` into one set without a ``Domain`` attribute, as the stdlib stores it."""
    cookie.domain = effective_host
    cookie.domain_specified = False
    cookie.domain_initial_dot = False


class DomainPolicy(http.cookiejar.DefaultCookiePolicy):
    """The stdlib's ``DefaultCookiePolicy``, host-only cookies kept to their host, and no
    ``Domain`` attribute naming a public suffix or a suffix of an IP address.

    The stdlib accepts ``Domain=co.uk`` from ``evil.co.uk`` (and sends the cookie to
    ``bank.co.uk``) and ``Domain=0.1`` from ``127.0.0.1`` (sent to ``10.0.0.1``).
    """

    def __init__(self, **kwargs: Any) -> None:
        # RFC 6265 section 5.3 step 6: a cookie set without a Domain attribute is host-only
        # and goes back to that exact host, never to its subdomains. The stdlib's default
        # ("DomainLiberal") would send it to subdomains too; DomainStrictNonDomain does not.
        kwargs.setdefault("strict_ns_domain", self.DomainStrictNonDomain)
        super().__init__(**kwargs)

    def set_ok_domain(self, cookie: http.cookiejar.Cookie, request: urllib.request.Request) -> bool:
        if cookie.domain_specified:
            host, effective = _hosts(urllib.parse.urlsplit(request.get_full_url()).netloc)
            domain = cookie.domain.lower()
            domain = domain[1:] if domain.startswith(".") else domain
            if not domain:
                # RFC 6265 section 5.2.3: an empty Domain attribute is ignored.
                _make_host_only(cookie, effective)
            elif _is_ip(host):
                # RFC 6265 section 5.1.3: an IP address domain-matches only itself.
                if domain not in (host, host.strip("[]")):
                    return False
                _make_host_only(cookie, effective)
            elif ":" in domain or domain.rpartition(".")[2].isdigit():
                return False  # an IP address or its suffix, from a named host
            elif is_public_suffix(domain):
                # RFC 6265 section 5.3 step 5: a public suffix is refused, unless it is the
                # request host itself, which then gets a host-only cookie.
                if domain != host:
                    return False
                _make_host_only(cookie, effective)
        return super().set_ok_domain(cookie, request)


# ----------------------------------------------------------------------------- stdlib glue


def _split(url: str) -> tuple[str, str, str]:
    """``url`` without userinfo, with its request host and effective request host.

    Cookies are filed by host: the ``user:password@`` of ``http://user:password@host/`` must
    not end up in a cookie's domain, and the stdlib would keep it there.
    """
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError as exc:  # e.g. an unclosed IPv6 bracket
        raise InvalidURL(f"no cookies for {url!r}: {exc}") from exc
    netloc = parts.netloc
    if not parts.scheme or not netloc:
        raise InvalidURL(f"no cookies for {url!r}: not an absolute URL")
    if "@" in netloc:
        netloc = netloc.rpartition("@")[2]
        url = urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    host, effective = _hosts(netloc)
    return url, host, effective


@functools.lru_cache(maxsize=256)
def _domain_keys(host: str, effective: str) -> tuple[str, ...]:
    """Every stored domain that can match a request to ``host``: ``""`` (every host), then
    each suffix of the host, with and without a leading dot.

    ``DefaultCookiePolicy.domain_return_ok`` returns a domain's cookies only when the host,
    with a dot in front, ends with the domain (given a dot in front), so no other key matters.
    """
    keys = [""]
    for name in dict.fromkeys((host, effective)):
        start = 0
        while True:
            suffix = name[start:]
            keys += (suffix, "." + suffix)
            start = name.find(".", start) + 1
            if start == 0:
                break
    return tuple(dict.fromkeys(keys))


def _request_for(url: str) -> urllib.request.Request:
    """The ``urllib`` request the stdlib jar inspects (host, path, scheme) for ``url``."""
    try:
        return urllib.request.Request(url)
    except ValueError as exc:
        raise InvalidURL(f"no cookies for {url!r}: not an absolute URL ({exc})") from exc


class _SetCookieResponse:
    """The one method of a response that ``CookieJar.make_cookies`` calls: ``info()``."""

    __slots__ = ("_message",)

    def __init__(self, set_cookie_headers: Iterable[str]) -> None:
        self._message = email.message.Message()
        for value in set_cookie_headers:
            self._message["Set-Cookie"] = value  # appends; repeated fields are kept

    def info(self) -> email.message.Message:
        return self._message


class _DeletionRecorder(http.cookiejar.CookieJar):
    """A scratch jar that only parses: it records the deletions a response asks for.

    The stdlib deletes a cookie as soon as it parses a ``Set-Cookie`` that has expired
    (``Max-Age=0``, a past ``Expires``), before the policy has looked at the domain, so a
    response from one site could delete another site's cookies. Parsing here, in a jar of
    our own, lets ``CookieJar.extract`` apply the policy to deletions too.
    """

    def __init__(self, policy: http.cookiejar.CookiePolicy) -> None:
        super().__init__(policy)
        self.deletions: list[tuple[str, str, str]] = []

    def clear(
        self, domain: str | None = None, path: str | None = None, name: str | None = None
    ) -> None:
        if domain is not None and path is not None and name is not None:
            self.deletions.append((domain, path, name))
        raise KeyError(name)  # what the stdlib's parser expects when nothing was stored


_SEPARATORS = re.compile(r"\s*[;=]\s*")


def _small_enough(set_cookie: str) -> bool:
    """RFC 6265 section 6.1: name, value and attributes within ``MAX_COOKIE_SIZE``."""
    if len(set_cookie) <= MAX_COOKIE_SIZE:  # separators included: certainly small enough
        return True
    return len(_SEPARATORS.sub("", set_cookie.strip())) <= MAX_COOKIE_SIZE


# Creation and last-access times (RFC 6265 section 5.3 step 11, section 5.4 step 3) kept in
# the stdlib cookie's instance dict, so that every wrapper of a shared jar sees them. A clock
# that only counts gives a strict order; cookies we never stamped count as the oldest.
_CREATED = "_keepalive_created"
_USED = "_keepalive_used"
_clock = itertools.count(1)


# How many cookies a stdlib jar holds, kept in its instance dict beside the store so that a
# response on a full jar does not count them all: exact after a count, then moved by what
# this module adds and drops. Cookies added through the stdlib's own methods are missed
# until the next count (a server's cookies always come through ``extract``); cookies the
# stdlib drops by itself leave it too high, which only brings the next count sooner.
_COUNT = "_keepalive_count"


def _count(store: dict[str, dict[str, dict[str, http.cookiejar.Cookie]]]) -> int:
    return sum(len(cookies) for paths in store.values() for cookies in paths.values())


def _created(cookie: http.cookiejar.Cookie) -> int:
    return cast(int, vars(cookie).get(_CREATED, 0))


def _used(cookie: http.cookiejar.Cookie) -> int:
    return cast(int, vars(cookie).get(_USED, 0))


# ----------------------------------------------------------------------------- caller input


def _text(what: str, value: object) -> str:
    """A caller's cookie name or value as text (bytes as latin-1, as header values go)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("latin-1")
    raise InvalidArgumentType(f"{what} must be str or bytes, not {type(value).__name__}: {value!r}")


def _check_cookie(name: str, value: str) -> None:
    # RFC 6265 section 4.1.1: a name is a token; a value holds no CTLs, whitespace, ";"
    # or ",". We refuse only what would change the meaning of the Cookie header.
    if not name or any(c in name for c in "=; \t,") or not name.isprintable():
        raise LocalProtocolError(f"invalid cookie name {name!r}")
    if ";" in value or not value.isprintable():
        raise LocalProtocolError(f"invalid value for cookie {name!r}: {value!r}")


def _make_cookie(
    name: str,
    value: str,
    domain: str,
    path: str,
    secure: bool = False,
    expires: float | None = None,
    rest: dict[str, str] | None = None,
) -> http.cookiejar.Cookie:
    """A Netscape cookie as if set by a server; ``domain=""`` means every host."""
    return http.cookiejar.Cookie(
        version=0,
        name=name,
        value=value,
        port=None,
        port_specified=False,
        domain=domain,
        # A cookie the user sets with a domain (even "") is meant for that whole domain,
        # not host-only: marking it specified keeps DomainStrictNonDomain from hiding it.
        domain_specified=True,
        domain_initial_dot=domain.startswith("."),
        path=path,
        path_specified=True,
        secure=secure,
        expires=None if expires is None else int(expires),
        discard=expires is None,
        comment=None,
        comment_url=None,
        rest={} if rest is None else rest,
    )


def _same_domain(cookie_domain: str, domain: str) -> bool:
    return cookie_domain == domain or cookie_domain.lstrip(".") == domain.lstrip(".")


# ----------------------------------------------------------------------------- the jar


class CookieJar:
    """Cookies kept between requests: matching and expiry by ``http.cookiejar``.

    ``CookieJar({"a": "1"})`` holds cookies for every host (domain ``""``), as requests
    does; a None value is skipped. A stdlib jar (say a ``MozillaCookieJar``) or another
    ``CookieJar`` is wrapped, not copied, so both names see the same cookies, and keeps its
    own policy; a new jar gets ``DomainPolicy``.
    """

    __slots__ = ("jar",)

    def __init__(self, cookies: CookiesLike | None = None) -> None:
        self.jar: http.cookiejar.CookieJar
        if isinstance(cookies, CookieJar):
            self.jar = cookies.jar
        elif isinstance(cookies, http.cookiejar.CookieJar):
            self.jar = cookies
        else:
            self.jar = http.cookiejar.CookieJar(DomainPolicy())
            if cookies is not None:
                self.update(cookies)

    # ------------------------------------------------------------------ stdlib internals

    def _store(self) -> dict[str, dict[str, dict[str, http.cookiejar.Cookie]]] | None:
        """The stdlib jar's ``{domain: {path: {name: Cookie}}}`` store (every stdlib jar
        has one; None for an exotic jar without it, which then gets no shortcuts)."""
        store = getattr(self.jar, "_cookies", None)
        return store if isinstance(store, dict) else None

    def _policy(self) -> http.cookiejar.CookiePolicy:
        # The stdlib jar has no getter for its policy; every CookieJar has ``_policy``.
        return cast(http.cookiejar.CookiePolicy, getattr(self.jar, "_policy"))  # noqa: B009

    def _lock(self) -> AbstractContextManager[Any]:
        """The stdlib jar's own (reentrant) lock, so our reads see a consistent store."""
        lock = getattr(self.jar, "_cookies_lock", None)
        return cast(AbstractContextManager[Any], contextlib.nullcontext() if lock is None else lock)

    def _stdlib_matching(self) -> bool:
        """True when the jar matches as the stdlib does, so we may match for it domain by
        domain; a subclass that overrides the matching is left to do it its own way."""
        cls = type(self.jar)
        base = http.cookiejar.CookieJar
        return (
            cls.add_cookie_header is base.add_cookie_header
            and getattr(cls, "_cookies_for_request", None)
            is getattr(base, "_cookies_for_request", None)
        )

    # ------------------------------------------------------------------ session hot path

    def _maybe_empty(self) -> bool:
        """True when the jar certainly holds no cookie, in O(1).

        Deletions go through ``_drop``, which removes the containers they leave empty.
        """
        store = self._store()
        return store is not None and not store

    def cookie_header(self, url: str) -> str | None:
        """The ``Cookie`` value to send with a request to ``url``, or None if none matches."""
        if self._maybe_empty():
            return None
        url, host, effective = _split(url)
        store = self._store()
        if store is None or not self._stdlib_matching():
            request = _request_for(url)
            try:
                self.jar.add_cookie_header(request)
            except ValueError as exc:  # urllib.parse refuses the URL
                raise InvalidURL(f"cannot match cookies for {url!r}: {exc}") from exc
            return request.get_header("Cookie")
        keys = [key for key in _domain_keys(host, effective) if key in store]
        if not keys:
            return None  # no stored domain can match: no request object, no policy calls
        return self._header_for(_request_for(url), keys, store)

    def _header_for(
        self,
        request: urllib.request.Request,
        keys: list[str],
        store: dict[str, dict[str, dict[str, http.cookiejar.Cookie]]],
    ) -> str | None:
        """What ``add_cookie_header`` computes, visiting only the domains in ``keys``.

        The policy decides as in the stdlib (domain, path, then each cookie); the cookies
        sent are ordered by creation (RFC 6265 section 5.4 step 2: longer paths first, then
        older cookies; the stdlib sorts by path) and their last-access time is updated.
        """
        policy = self._policy()
        now = int(time.time())
        sent: list[http.cookiejar.Cookie] = []
        expired: list[http.cookiejar.Cookie] = []
        with self._lock():
            # The stdlib's ``add_cookie_header`` sets these first: expiry checks read them.
            policy._now = self.jar._now = now  # type: ignore[attr-defined]
            for key in keys:
                paths = store.get(key)
                if not paths or not policy.domain_return_ok(key, request):
                    continue
                for path, cookies in paths.items():
                    if not policy.path_return_ok(path, request):
                        continue
                    for cookie in cookies.values():
                        if cookie.is_expired(now):
                            expired.append(cookie)
                        elif policy.return_ok(cookie, request):
                            sent.append(cookie)
            for cookie in expired:
                self._drop(cookie.domain, cookie.path, cookie.name)
            stamp = next(_clock)
            for cookie in sent:
                vars(cookie)[_USED] = stamp
            sent.sort(key=_created)
            cookie_attrs = cast(
                Callable[[list[http.cookiejar.Cookie]], list[str]],
                getattr(self.jar, "_cookie_attrs"),  # noqa: B009
            )
            attrs = cookie_attrs(sent)  # sorts by path length, stably, and formats
        return "; ".join(attrs) if attrs else None

    def extract(self, url: str, set_cookie_headers: list[str]) -> dict[str, str]:
        """Store the cookies of a response from ``url``; return those it set, name -> value.

        The policy rejects what the response may not set (a ``Domain`` of another site or a
        public suffix); an expired cookie deletes the stored one, under the same policy. A
        cookie over ``MAX_COOKIE_SIZE`` is ignored, and past ``MAX_COOKIES_PER_DOMAIN`` or
        ``MAX_COOKIES`` the least recently used are evicted.
        """
        if not set_cookie_headers:
            return {}
        url, _, _ = _split(url)
        request = _request_for(url)
        policy = self._policy()
        parser = _DeletionRecorder(policy)
        headers = [h for h in set_cookie_headers if _small_enough(h)]
        response = cast(http.client.HTTPResponse, _SetCookieResponse(headers))
        try:
            cookies = parser.make_cookies(response, request)
        except ValueError as exc:
            raise InvalidURL(f"cannot store cookies from {url!r}: {exc}") from exc
        stored: list[http.cookiejar.Cookie] = []
        with self._lock():
            for domain, path, name in parser.deletions:
                tombstone = _make_cookie(name, "", domain, path)
                tombstone.domain_specified = domain.startswith(".")
                if policy.set_ok(tombstone, request):  # may make it host-only
                    self._drop(tombstone.domain, tombstone.path, tombstone.name)
            for cookie in cookies:
                if policy.set_ok(cookie, request):
                    self._keep(cookie)
                    stored.append(cookie)
            if stored:
                self._enforce_limits({cookie.domain for cookie in stored})
            return {c.name: c.value or "" for c in stored if self._holds(c)}

    # ------------------------------------------------------------------ storage and limits

    def _keep(self, cookie: http.cookiejar.Cookie) -> None:
        """Store ``cookie``, replacing one of the same domain, path and name, whose creation
        time it keeps (RFC 6265 section 5.3 step 11.3)."""
        store = self._store()
        old = None
        if store is not None:
            old = store.get(cookie.domain, {}).get(cookie.path, {}).get(cookie.name)
        now = next(_clock)
        stamps = vars(cookie)
        stamps[_CREATED] = _created(old) if old is not None and _created(old) else now
        stamps[_USED] = now
        self.jar.set_cookie(cookie)
        if old is None:
            self._count_moved(1)

    def _count_moved(self, delta: int) -> None:
        """Keep the jar's cookie count (see ``_COUNT``) in step with what we add and drop."""
        state = vars(self.jar)
        if _COUNT in state:
            state[_COUNT] += delta

    def _holds(self, cookie: http.cookiejar.Cookie) -> bool:
        store = self._store()
        if store is None:
            return True
        return store.get(cookie.domain, {}).get(cookie.path, {}).get(cookie.name) is cookie

    def _enforce_limits(self, domains: Iterable[str]) -> None:
        """Evict past ``MAX_COOKIES_PER_DOMAIN`` in each of ``domains`` and past
        ``MAX_COOKIES`` in all (RFC 6265 section 6.1); called under the lock."""
        store = self._store()
        if store is None:
            return
        for domain in domains:
            paths = store.get(domain)
            if paths is None:
                continue
            count = sum(len(cookies) for cookies in paths.values())
            if count > MAX_COOKIES_PER_DOMAIN:
                in_domain = [c for cookies in paths.values() for c in cookies.values()]
                self._evict(in_domain, count - MAX_COOKIES_PER_DOMAIN)
        state = vars(self.jar)
        if state.get(_COUNT, MAX_COOKIES + 1) > MAX_COOKIES:  # unknown or maybe over: count
            total = _count(store)
            if total > MAX_COOKIES:
                self._evict(list(self.jar), total - MAX_COOKIES)
                total = _count(store)
            state[_COUNT] = total

    def _evict(self, cookies: list[http.cookiejar.Cookie], excess: int) -> None:
        """Drop the expired among ``cookies``, then the least recently used until ``excess``
        are gone (RFC 6265 section 5.3 step 12 and section 6.1)."""
        now = int(time.time())
        expired = [c for c in cookies if c.is_expired(now)]
        live = [c for c in cookies if not c.is_expired(now)]
        victims = expired + heapq.nsmallest(max(0, excess - len(expired)), live, key=_used)
        for cookie in victims:
            self._drop(cookie.domain, cookie.path, cookie.name)

    def _drop(self, domain: str, path: str, name: str) -> None:
        """Remove one cookie, and the containers it leaves empty so that a jar emptied by
        deletions takes the O(1) path again."""
        with self._lock():
            try:
                self.jar.clear(domain, path, name)
            except KeyError:
                pass
            else:
                self._count_moved(-1)
            self._prune(domain)

    def _prune(self, domain: str) -> None:
        """Remove the empty path dicts of ``domain``, and ``domain`` when it has none left."""
        store = self._store()
        paths = None if store is None else store.get(domain)
        if store is None or paths is None:
            return
        for path in [p for p, cookies in paths.items() if not cookies]:
            del paths[path]
        if not paths:
            del store[domain]

    # ------------------------------------------------------------------ user surface

    def _live(self) -> list[http.cookiejar.Cookie]:
        """Every stored cookie that has not expired."""
        now = int(time.time())
        with self._lock():
            return [c for c in self.jar if not c.is_expired(now)]

    def _matching(
        self, name: str, domain: str | None, path: str | None
    ) -> list[http.cookiejar.Cookie]:
        return [
            c
            for c in self._live()
            if c.name == name
            and (domain is None or _same_domain(c.domain, domain))
            and (path is None or c.path == path)
        ]

    def _one(self, name: str, domain: str | None, path: str | None) -> http.cookiejar.Cookie | None:
        found = self._matching(name, domain, path)
        if len(found) > 1:
            places = ", ".join(f"{c.domain or '*'}{c.path}" for c in found)
            raise CookieConflict(f"several cookies named {name!r} ({places}); pass domain/path")
        return found[0] if found else None

    def get(
        self,
        name: str,
        default: str | None = None,
        domain: str | None = None,
        path: str | None = None,
    ) -> str | None:
        """The value of cookie ``name`` (narrowed by ``domain``/``path``), else ``default``.

        Raises ``CookieConflict`` when several stored cookies match.
        """
        cookie = self._one(name, domain, path)
        return default if cookie is None else cookie.value or ""

    def __getitem__(self, name: str) -> str:
        """The value of cookie ``name``: ``KeyError`` if none, ``CookieConflict`` if several."""
        cookie = self._one(name, None, None)
        if cookie is None:
            raise KeyError(name)
        return cookie.value or ""

    def __setitem__(self, name: str, value: str | bytes | None) -> None:
        """``set(name, value)``: a cookie for every host; None deletes, as in requests."""
        self.set(name, value)

    def __delitem__(self, name: str) -> None:
        """Remove every cookie named ``name``; silent when there is none, as in requests."""
        self.delete(name)

    def set(
        self,
        name: str,
        value: str | bytes | None,
        domain: str | None = None,
        path: str | None = None,
        secure: bool = False,
        expires: float | None = None,
        rest: Mapping[str, str | None] | None = None,
    ) -> http.cookiejar.Cookie | None:
        """Store a cookie for ``domain`` (default ``""``: every host) and ``path`` (default
        ``/``), replacing one with the same name, domain and path; return it.

        requests' keywords: ``secure`` sends it over https only, ``expires`` is a Unix time,
        ``rest`` holds other attributes (``{"HttpOnly": None}``). A None ``value`` deletes
        the cookies named ``name`` (narrowed by ``domain``/``path`` when given).
        """
        name = _text("cookie name", name)
        for what, given in (("domain", domain), ("path", path)):
            if given is not None and not isinstance(given, str):
                raise InvalidArgumentType(
                    f"{what} of cookie {name!r} must be str, not {type(given).__name__}"
                )
        if value is None:
            self.delete(name, domain, path)
            return None
        text = _text(f"value of cookie {name!r}", value)
        if expires is not None and (
            isinstance(expires, bool) or not isinstance(expires, int | float)
        ):
            raise InvalidArgumentType(
                f"expires of cookie {name!r} must be a Unix time, not {type(expires).__name__}"
            )
        if rest is not None and not isinstance(rest, Mapping):
            raise InvalidArgumentType(
                f"rest of cookie {name!r} must be a mapping, not {type(rest).__name__}"
            )
        _check_cookie(name, text)
        cookie = _make_cookie(
            name, text, (domain or "").lower(), path or "/", bool(secure), expires,
            None if rest is None else cast(dict[str, str], dict(rest)),
        )  # fmt: skip
        with self._lock():
            self._keep(cookie)
        return cookie

    def delete(self, name: str, domain: str | None = None, path: str | None = None) -> None:
        """Remove every cookie named ``name`` (narrowed by ``domain``/``path``), if any."""
        for cookie in self._matching(name, domain, path):
            self._drop(cookie.domain, cookie.path, cookie.name)

    def clear(
        self, domain: str | None = None, path: str | None = None, name: str | None = None
    ) -> None:
        """Remove every cookie, or those of ``domain`` (and ``path``, and ``name``) as the
        stdlib's ``clear`` does (``KeyError`` when there are none)."""
        if (path is not None and domain is None) or (name is not None and path is None):
            raise InvalidArgument("clear(): give domain with path, and domain and path with name")
        with self._lock():
            self.jar.clear(domain, path, name)
            if domain is None:
                vars(self.jar)[_COUNT] = 0
            else:
                vars(self.jar).pop(_COUNT, None)  # counted afresh when next needed
                self._prune(domain)

    def update(self, other: CookiesLike) -> None:
        """Add cookies from a mapping (for every host; a None value deletes) or copies of
        those in another jar (as they are)."""
        if isinstance(other, CookieJar):
            other = other.jar
        if isinstance(other, http.cookiejar.CookieJar):
            with self._lock():
                for cookie in list(other):
                    self._keep(copy_module.copy(cookie))
            return
        if not isinstance(other, Mapping):
            raise InvalidArgumentType(
                "cookies must be a mapping of name to value or a cookie jar, "
                f"not {type(other).__name__}"
            )
        for name, value in other.items():
            self.set(name, value)

    def get_policy(self) -> http.cookiejar.CookiePolicy:
        """The policy deciding which cookies are stored and sent (``DomainPolicy`` unless
        the jar was given another)."""
        return self._policy()

    def set_policy(self, policy: http.cookiejar.CookiePolicy) -> None:
        """Replace the policy, as the stdlib jar's ``set_policy`` does."""
        self.jar.set_policy(policy)

    def copy(self) -> CookieJar:
        """A new jar with copies of these cookies and the same policy."""
        new = CookieJar(http.cookiejar.CookieJar(self._policy()))
        new.update(self)
        return new

    def get_dict(self, domain: str | None = None, path: str | None = None) -> dict[str, str]:
        """Name -> value of the live cookies (narrowed by ``domain``/``path``)."""
        return {
            c.name: c.value or ""
            for c in self._live()
            if (domain is None or _same_domain(c.domain, domain))
            and (path is None or c.path == path)
        }

    def keys(self) -> list[str]:
        """Every live cookie's name; a name may repeat across domains."""
        return [c.name for c in self._live()]

    def values(self) -> list[str]:
        """Every live cookie's value, in the order of ``keys()``."""
        return [c.value or "" for c in self._live()]

    def items(self) -> list[tuple[str, str]]:
        """Every live cookie as ``(name, value)``; a name may repeat across domains."""
        return [(c.name, c.value or "") for c in self._live()]

    def iterkeys(self) -> Iterator[str]:
        """requests' spelling of ``iter(keys())``."""
        return iter(self.keys())

    def itervalues(self) -> Iterator[str]:
        """requests' spelling of ``iter(values())``."""
        return iter(self.values())

    def iteritems(self) -> Iterator[tuple[str, str]]:
        """requests' spelling of ``iter(items())``."""
        return iter(self.items())

    def list_domains(self) -> list[str]:
        """The domains of the live cookies, each once (``""`` for every host)."""
        return list(dict.fromkeys(c.domain for c in self._live()))

    def list_paths(self) -> list[str]:
        """The paths of the live cookies, each once."""
        return list(dict.fromkeys(c.path for c in self._live()))

    def multiple_domains(self) -> bool:
        """True when the live cookies belong to more than one domain."""
        return len(self.list_domains()) > 1

    def __len__(self) -> int:
        return len(self._live())

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __contains__(self, name: object) -> bool:
        return any(c.name == name for c in self._live())

    def __repr__(self) -> str:
        # Names and where they apply, never values: reprs end up in logs.
        cookies = ", ".join(f"{c.name}@{c.domain or '*'}{c.path}" for c in self._live())
        return f"<CookieJar [{cookies}]>"


# ----------------------------------------------------------------------------- requests' names

RequestsCookieJar = CookieJar
"""requests' name for its dict-like jar (``requests.cookies.RequestsCookieJar()``)."""

CookieConflictError = CookieConflict
"""requests' name for several cookies matching one name."""


def cookiejar_from_dict(
    cookie_dict: Mapping[str, str | bytes | None] | None,
    cookiejar: CookieJar | http.cookiejar.CookieJar | None = None,
    overwrite: bool = True,
) -> CookieJar | http.cookiejar.CookieJar:
    """requests' helper: the cookies of ``cookie_dict`` (for every host) added to
    ``cookiejar`` (a ``CookieJar`` or a stdlib jar, returned as given) or to a new
    ``CookieJar``. With ``overwrite=False`` a name the jar already holds is kept."""
    jar = CookieJar(cookiejar)
    if cookie_dict is not None:
        present = set(jar.keys()) if not overwrite else set()
        for name, value in cookie_dict.items():
            if name not in present:
                jar.set(name, value)
    return jar if cookiejar is None else cookiejar


# The date form Set-Cookie's Expires takes in the Netscape spelling http.cookies writes.
_MORSEL_EXPIRES = "%a, %d-%b-%Y %H:%M:%S GMT"


def morsel_to_cookie(morsel: http.cookies.Morsel[Any]) -> http.cookiejar.Cookie:
    """requests' helper: an ``http.cookies.Morsel`` as an ``http.cookiejar.Cookie`` (for
    ``jar.set_cookie``). ``max-age`` wins over ``expires`` (RFC 6265 section 5.3 step 3);
    a ``max-age`` that is not a number raises ``TypeError``, an ``expires`` that is not a
    date string ``TypeError`` (not a str) or ``ValueError`` (not a date): keepalive's
    ``InvalidArgumentType`` and ``InvalidArgument``, which are those built-ins."""
    expires: int | None = None
    if morsel["max-age"]:
        try:
            expires = int(time.time() + int(morsel["max-age"]))
        except ValueError as exc:
            raise InvalidArgumentType(
                f"max-age {morsel['max-age']!r} must be an integer"
            ) from exc
    elif morsel["expires"]:
        when = morsel["expires"]
        if not isinstance(when, str):
            raise InvalidArgumentType(f"expires {when!r} must be a date string")
        try:
            expires = calendar.timegm(time.strptime(when, _MORSEL_EXPIRES))
        except ValueError as exc:
            raise InvalidArgument(
                f"expires {when!r} is not a date like 'Wed, 21-Oct-2026 07:28:00 GMT'"
            ) from exc
    domain = morsel["domain"] or ""
    return http.cookiejar.Cookie(
        version=int(morsel["version"] or 0),
        name=morsel.key,
        value=morsel.value,
        port=None,
        port_specified=False,
        domain=domain,
        domain_specified=bool(domain),
        domain_initial_dot=domain.startswith("."),
        path=morsel["path"] or "/",
        path_specified=bool(morsel["path"]),
        secure=bool(morsel["secure"]),
        expires=expires,
        discard=False,
        comment=morsel["comment"] or None,
        comment_url=None,
        rest={"HttpOnly": morsel["httponly"]},
        rfc2109=False,
    )
