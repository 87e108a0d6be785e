"""The session's cookie store: a thin layer over the standard library's ``http.cookiejar``.

``http.cookiejar`` does the matching the rules call for (RFC 6265 sections 5.1.3 and 5.1.4
domain and path matching, ``Secure``, ``Expires`` and ``Max-Age``); this module adds what a
client needs around it: the two calls the session makes on every exchange
(``cookie_header`` before sending, ``extract`` after receiving), both O(1) when there is
nothing to do, and a small dict-like surface for users (``get``, ``set``, ``delete``...).

The stdlib jar expects ``urllib`` request and response objects; ``_request_for`` and
``_SetCookieResponse`` stand in for them.
"""

from __future__ import annotations

import contextlib
import email.message
import http.client
import http.cookiejar
import time
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Any, Union, cast

from .exceptions import CookieConflict, InvalidURL, LocalProtocolError

__all__ = ["CookieConflict", "CookieJar", "CookiesLike"]

CookiesLike = Union["CookieJar", http.cookiejar.CookieJar, Mapping[str, str]]


def _default_policy() -> http.cookiejar.DefaultCookiePolicy:
    # RFC 6265 section 5.3 step 6: a cookie set without a Domain attribute is host-only and
    # goes back to that exact host, never to its subdomains. The stdlib's default
    # ("DomainLiberal") would send it to subdomains too; DomainStrictNonDomain does not.
    return http.cookiejar.DefaultCookiePolicy(
        strict_ns_domain=http.cookiejar.DefaultCookiePolicy.DomainStrictNonDomain
    )


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


def _check_cookie(name: str, value: str) -> None:
    # RFC 6265 section 4.1.1: a name is a token; a value holds no CTLs, whitespace, ";"
    # or ",". We refuse only what would change the meaning of the Cookie header.
    if not name or any(c in name for c in "=; \t,") or not name.isprintable():
        raise LocalProtocolError(f"invalid cookie name {name!r}")
    if ";" in value or not value.isprintable():
        raise LocalProtocolError(f"invalid value for cookie {name!r}: {value!r}")


def _make_cookie(name: str, value: str, domain: str, path: str) -> http.cookiejar.Cookie:
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
        secure=False,
        expires=None,
        discard=True,
        comment=None,
        comment_url=None,
        rest={},
    )


def _same_domain(cookie_domain: str, domain: str) -> bool:
    return cookie_domain == domain or cookie_domain.lstrip(".") == domain.lstrip(".")


class CookieJar:
    """Cookies kept between requests: matching and expiry by ``http.cookiejar``.

    ``CookieJar({"a": "1"})`` holds cookies for every host (domain ``""``), as requests
    does. A stdlib jar (say a ``MozillaCookieJar``) or another ``CookieJar`` is wrapped,
    not copied, so both names see the same cookies.
    """

    __slots__ = ("jar",)

    def __init__(self, cookies: CookiesLike | None = None) -> None:
        self.jar: http.cookiejar.CookieJar
        if isinstance(cookies, CookieJar):
            self.jar = cookies.jar
        elif isinstance(cookies, http.cookiejar.CookieJar):
            self.jar = cookies
        else:
            self.jar = http.cookiejar.CookieJar(_default_policy())
            if cookies is not None:
                self.update(cookies)

    # ------------------------------------------------------------------ session hot path

    def _maybe_empty(self) -> bool:
        """True when the jar certainly holds no cookie, in O(1).

        ``_cookies`` is the stdlib jar's ``{domain: {path: {name: Cookie}}}`` store; its
        deletions can leave empty inner dicts, which only sends us down the slow path.
        """
        store = getattr(self.jar, "_cookies", None)
        return store is not None and not store

    def cookie_header(self, url: str) -> str | None:
        """The ``Cookie`` value to send with a request to ``url``, or None if none matches."""
        if self._maybe_empty():
            return None
        request = _request_for(url)
        try:
            self.jar.add_cookie_header(request)
        except ValueError as exc:  # urllib.parse refuses the URL (e.g. a bad IPv6 literal)
            raise InvalidURL(f"cannot match cookies for {url!r}: {exc}") from exc
        return request.get_header("Cookie")

    def extract(self, url: str, set_cookie_headers: list[str]) -> dict[str, str]:
        """Store the cookies of a response from ``url``; return those it set, name -> value.

        The policy rejects what the response may not set (a ``Domain`` of another site);
        an expired cookie deletes the stored one, under the same policy.
        """
        if not set_cookie_headers:
            return {}
        request = _request_for(url)
        policy = self._policy()
        parser = _DeletionRecorder(policy)
        response = cast(http.client.HTTPResponse, _SetCookieResponse(set_cookie_headers))
        try:
            cookies = parser.make_cookies(response, request)
        except ValueError as exc:
            raise InvalidURL(f"cannot store cookies from {url!r}: {exc}") from exc
        accepted: dict[str, str] = {}
        with self._lock():
            for domain, path, name in parser.deletions:
                tombstone = _make_cookie(name, "", domain, path)
                tombstone.domain_specified = domain.startswith(".")
                if policy.set_ok(tombstone, request):
                    self._drop(domain, path, name)
            for cookie in cookies:
                if policy.set_ok(cookie, request):
                    self.jar.set_cookie(cookie)
                    accepted[cookie.name] = cookie.value or ""
        return accepted

    def _drop(self, domain: str, path: str, name: str) -> None:
        """Remove one cookie, and the containers it leaves empty so that a jar emptied by
        deletions takes the O(1) path again."""
        with self._lock():
            with contextlib.suppress(KeyError):
                self.jar.clear(domain, path, name)
            store = getattr(self.jar, "_cookies", None)
            if not isinstance(store, dict):
                return
            paths = store.get(domain)
            if paths is not None:
                if path in paths and not paths[path]:
                    del paths[path]
                if not paths:
                    del store[domain]

    def _policy(self) -> http.cookiejar.CookiePolicy:
        # The stdlib jar has no getter for its policy; every CookieJar has ``_policy``.
        return cast(http.cookiejar.CookiePolicy, getattr(self.jar, "_policy"))  # noqa: B009

    def _lock(self) -> AbstractContextManager[Any]:
        """The stdlib jar's own (reentrant) lock, so our reads see a consistent store."""
        lock = getattr(self.jar, "_cookies_lock", None)
        return cast(AbstractContextManager[Any], contextlib.nullcontext() if lock is None else lock)

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
        found = self._matching(name, domain, path)
        if not found:
            return default
        if len(found) > 1:
            places = ", ".join(f"{c.domain or '*'}{c.path}" for c in found)
            raise CookieConflict(f"several cookies named {name!r} ({places}); pass domain/path")
        return found[0].value

    def set(self, name: str, value: str, domain: str = "", path: str = "/") -> None:
        """Store a cookie for ``domain`` (``""``: every host) and ``path``, replacing any
        cookie with the same name, domain and path."""
        _check_cookie(name, value)
        self.jar.set_cookie(_make_cookie(name, value, domain, path))

    def delete(self, name: str, domain: str | None = None, path: str | None = None) -> None:
        """Remove every cookie named ``name`` (narrowed by ``domain``/``path``), if any."""
        for cookie in self._matching(name, domain, path):
            self._drop(cookie.domain, cookie.path, cookie.name)

    def clear(self) -> None:
        """Remove every cookie."""
        self.jar.clear()

    def update(self, other: CookiesLike) -> None:
        """Add cookies from a mapping (for every host) or from another jar (as they are)."""
        if isinstance(other, CookieJar):
            other = other.jar
        if isinstance(other, http.cookiejar.CookieJar):
            for cookie in list(other):
                self.jar.set_cookie(cookie)
            return
        for name, value in other.items():
            self.set(name, value)

    def items(self) -> list[tuple[str, str]]:
        """Every live cookie as ``(name, value)``; a name may repeat across domains."""
        return [(c.name, c.value or "") for c in self._live()]

    def __len__(self) -> int:
        return len(self._live())

    def __iter__(self) -> Iterator[str]:
        return iter([c.name for c in self._live()])

    def __contains__(self, name: object) -> bool:
        return any(c.name == name for c in self._live())

    def __repr__(self) -> str:
        # Names and where they apply, never values: reprs end up in logs.
        cookies = ", ".join(f"{c.name}@{c.domain or '*'}{c.path}" for c in self._live())
        return f"<CookieJar [{cookies}]>"
