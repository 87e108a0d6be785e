"""``AsyncSession``: what a ``requests``/``httpx`` user reaches for, on top of the connection pool.

This file is the one source of both sessions: ``keepalive/session.py`` (``Session``) is
generated from it by ``tests/unasync.py``.

A session owns one ``ConnectionPool``, a ``CookieJar`` and default headers, and turns each
call into pool requests: it builds the URL and body, adds cookies and auth, follows
redirects (draining each redirect body so its connection is reused), answers a Digest
challenge over the same kept-alive connection, and decodes the content. Proxy settings
from the environment are read once, when the session is made.

Credentials and redirects (docs/design.md, security defaults). The caller's credentials are
meant for the origin the caller named: ``auth=`` (per request or on the session, a tuple or
an ``Auth``), ``user:password@`` in the URL, ``Authorization``, ``Cookie`` and
``Proxy-Authorization`` headers (per request or on the session), and cookies the caller set
for every host (``cookies=`` per request, or on the session with no domain). They follow a
redirect only within that origin (scheme, host, port; RFC 6454), or from ``http`` on port
80 up to ``https`` on 443 of the same host, as requests allows. The first hop that leaves
drops them for the rest of the chain, even if a later hop comes back: a server we were sent
to must not be able to bounce us back to the first origin with a path of its choosing and
our credentials attached. Cookies servers set keep following their own domain and path
rules (RFC 6265). None of this costs anything until a redirect happens.

requests' surface (docs/design.md; the README's porting table): ``keepalive.Request`` with
``prepare_request`` and ``send``; ``hooks=`` (requests) and ``event_hooks=`` (httpx), one
mechanism; ``Session.params`` a dict, and ``None`` in ``headers``/``params``/``data``
removing or skipping that entry; with ``trust_env``, ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``
for ``verify=True`` and ``.netrc`` credentials when no other are given; URLs IDNA-encoded and
percent-encoded as requests prepares them, redirect targets too; ``Timeout(total=)`` over the
whole redirect chain. Each costs nothing on a request that does not use it.
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import json as jsonlib
import logging
import netrc
import os
import re
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import IO, Any, Union
from urllib.parse import parse_qsl, unquote, urlencode, urljoin, urlsplit, urlunsplit

from .. import tls
from .._request import RequestBody, make_body
from .._state import Proxy, Trace
from .._version import __version__
from ..auth import Auth, BasicAuth, coerce_auth
from ..cookies import CookieJar, CookiesLike
from ..decoders import ACCEPT_ENCODING
from ..exceptions import (
    InvalidArgument,
    InvalidArgumentType,
    InvalidJSONError,
    InvalidProxyURL,
    InvalidURL,
    LocalProtocolError,
    PoolClosed,
    ReadTimeout,
    RemoteProtocolError,
    RetryError,
    TooManyRedirects,
    UnrewindableBodyError,
)
from ..models import UNSET, Headers, HeadersLike, Timeout, TimeoutLike, check_seconds
from ..multipart import encode_multipart
from ..response import (
    DEFAULT_MAX_DECODED_SIZE,
    HOOK_EVENTS,
    REDIRECT_STATUSES,
    HookFunction,
    Request,
    Response,
    hook_lists,
)
from ..retry import Retry
from ..urls import DEFAULT_PORTS, requote_url, split_url, split_userinfo
from .pool import AsyncConnectionPool

__all__ = ["AsyncSession"]

ParamsLike = Union[Mapping[str, Any], Iterable[tuple[str, Any]], str, bytes, None]
# A (user, password) tuple, an Auth, or requests' custom auth: a callable that takes the
# prepared Request and returns it (requests.auth.AuthBase subclasses are such callables).
AuthLike = Union[tuple[str | bytes, str | bytes], Auth, Callable[[Request], Request], None]
DataLike = Union[bytes, str, Mapping[str, Any], Iterable[Any], IO[bytes], None]
FilesLike = Union[Mapping[str, Any], Iterable[tuple[str, Any]], None]
HooksLike = Union[Mapping[str, HookFunction | Iterable[HookFunction]], None]
ProxiesLike = Union[Mapping[str, str], None]

logger = logging.getLogger("keepalive")

# The caller's credentials in headers; never carried to another origin or down to http
# (docs/design.md, security defaults; RFC 9110 section 15.4 leaves it to the client).
_CREDENTIAL_HEADERS = ("authorization", "proxy-authorization", "cookie")
_BODY_HEADERS = ("content-type", "content-length", "transfer-encoding", "content-encoding")
_UNSET: Any = UNSET  # an argument left out: the session's setting applies
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def _default_headers() -> Headers:
    return Headers(
        [
            ("User-Agent", f"keepalive/{__version__}"),
            ("Accept", "*/*"),
            ("Accept-Encoding", ACCEPT_ENCODING),
            # Redundant in HTTP/1.1, but Apache sends its "Keep-Alive: timeout, max" hint
            # only when asked this way, and the hint lets us retire before its deadline.
            ("Connection", "keep-alive"),
        ]
    )


def _header_items(headers: HeadersLike) -> list[tuple[str, Any]]:
    if isinstance(headers, Headers):
        return headers.multi_items()
    if isinstance(headers, Mapping):
        return list(headers.items())
    try:
        return [(name, value) for name, value in headers]
    except (TypeError, ValueError) as exc:  # not iterable, or not pairs
        raise InvalidArgumentType(
            f"headers must be a mapping or (name, value) pairs, not {type(headers).__name__}"
        ) from exc


def _check_count(name: str, value: object, minimum: int) -> int:
    """An ``int`` setting of at least ``minimum``; a caller error naming it otherwise.

    ``bool`` is refused although it is an ``int``: ``retries=False`` means "no retries and
    no redirects" in urllib3, and silently reading it as 0 would be a different meaning.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgumentType(f"{name}={value!r} must be an int, not {type(value).__name__}")
    if value < minimum:
        raise InvalidArgument(f"{name}={value!r} must be >= {minimum}")
    return value


_PROXY_PORTS = {"http": 80, "https": 443, "socks5": 1080, "socks5h": 1080}
_SCHEME_SLASH = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:/(?!/)")  # "http:/host": one slash


def _parse_proxy(url: str, verify: tls.VerifyLike = True) -> Proxy:
    """A proxy URL as the network layer takes it: ``http://``, ``https://`` (TLS to the
    proxy, checked with the session's ``verify``, as requests does), ``socks5://`` (names
    resolved here) or ``socks5h://`` (resolved by the proxy); credentials from the URL."""
    if "://" not in url and _SCHEME_SLASH.match(url):
        raise InvalidProxyURL(f"proxy URL {url!r} is malformed: did you mean '://'?")
    parts = urlsplit(url if "://" in url else f"http://{url}")
    scheme = parts.scheme.lower()
    if scheme not in _PROXY_PORTS:
        raise InvalidURL(f"proxy {url!r}: the scheme must be http, https, socks5 or socks5h")
    if not parts.hostname:
        raise InvalidProxyURL(f"proxy URL {url!r} has no host")
    try:
        port = parts.port or _PROXY_PORTS[scheme]
    except ValueError as exc:
        raise InvalidProxyURL(f"proxy URL {url!r} has a bad port") from exc
    user = None if parts.username is None else unquote(parts.username)
    password = None if parts.username is None else unquote(parts.password or "")
    headers: tuple[tuple[str, str], ...] = ()
    if user is not None and scheme in ("http", "https"):
        value = BasicAuth(user, password or "").auth_header("CONNECT", url)
        assert value is not None
        headers, user, password = (("Proxy-Authorization", value),), None, None
    ctx = tls.context_for(verify) if scheme == "https" else None
    return Proxy(parts.hostname, port, headers, scheme, user, password, ctx)


def _params_dict(params: ParamsLike) -> dict[str, Any]:
    """The session's ``params`` as the dict requests keeps in ``Session.params``; a name
    given several times (pairs, or a query string) maps to the list of its values."""
    if params is None:
        return {}
    if isinstance(params, Mapping):
        return dict(params)
    if isinstance(params, bytes | str):
        params = parse_qsl(_encode_params(params), keep_blank_values=True)
    merged: dict[str, Any] = {}
    try:
        for name, value in params:
            if name in merged:
                earlier = merged[name]
                merged[name] = [*earlier, value] if isinstance(earlier, list) else [earlier, value]
            else:
                merged[name] = value
    except (TypeError, ValueError) as exc:  # not iterable, or not pairs
        raise InvalidArgumentType(
            f"params must be a dict, (name, value) pairs, str or bytes, not {type(params).__name__}"
        ) from exc
    return merged


def _without_none(pairs: Iterable[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """requests' rule for params and form fields: a ``None`` value (alone or in a list of
    values) is skipped, not sent as the text ``None``."""
    kept: list[tuple[Any, Any]] = []
    for name, value in pairs:
        if value is None:
            continue
        if isinstance(value, list | tuple):
            value = [v for v in value if v is not None]
        kept.append((name, value))
    return kept


def _encode_params(params: ParamsLike) -> str:
    if params is None:
        return ""
    if isinstance(params, bytes):
        try:
            return params.decode("ascii").lstrip("?")
        except UnicodeDecodeError as exc:
            raise InvalidArgument(
                f"params={params!r}: a bytes query must be ASCII (percent-encode the rest, "
                "or pass a dict)"
            ) from exc
    if isinstance(params, str):
        return params.lstrip("?")
    try:
        flat = _without_none(params.items() if isinstance(params, Mapping) else params)
    except (TypeError, ValueError) as exc:  # not iterable, or not pairs
        raise InvalidArgumentType(
            f"params must be a dict, (name, value) pairs, str or bytes, not {type(params).__name__}"
        ) from exc
    return urlencode(flat, doseq=True)


def _keeps_credentials(url: str, next_url: str) -> bool:
    """Whether the caller's credentials for ``url`` may follow a redirect to ``next_url``.

    Only to the same origin (scheme, host, port; ``split_url`` fills in default ports, so
    ``http://h`` and ``http://h:80`` are one), or from ``http`` on port 80 up to ``https`` on
    443 of the same host: the secret already crossed the network in the clear, and sites
    that redirect every plain request to https would otherwise lose it (requests'
    ``should_strip_auth`` makes the same exception). Any other scheme change, including
    https to http, leaves the origin.
    """
    here, there = split_url(url), split_url(next_url)
    if here[:3] == there[:3]:
        return True
    return (
        here.scheme == "http"
        and there.scheme == "https"
        and here.host == there.host
        and here.port == 80
        and there.port == 443
    )


def _site_cookie_header(cookies: CookieJar, url: str) -> str | None:
    """The ``Cookie`` value for ``url`` from the jar's cookies that name a domain.

    Cookies a server set always name one (its host, or its ``Domain``) and keep following
    RFC 6265 matching. Cookies the caller set for every host (domain ``""``) are left out:
    they are credentials for the origins the caller names, and only a redirect that left
    the caller's origin comes here, so this copy costs nothing on the common path.
    """
    scoped = http.cookiejar.CookieJar(cookies._policy())
    with cookies._lock():
        for cookie in cookies.jar:
            if cookie.domain:
                scoped.set_cookie(cookie)
    return CookieJar(scoped).cookie_header(url)


def _netrc_path() -> str | None:
    """The ``.netrc`` file to read: ``$NETRC``, else ``~/.netrc``, else ``~/_netrc``,
    whichever exists first (where requests and curl look)."""
    given = os.environ.get("NETRC")
    for candidate in [given] if given else ["~/.netrc", "~/_netrc"]:
        path = os.path.expanduser(candidate)
        if os.path.isfile(path):
            return path
    return None


def _load_netrc() -> netrc.netrc | None:
    """The parsed ``.netrc``, or None when there is none or it cannot be read; a broken
    file is ignored (logged at DEBUG), as requests does, rather than failing requests
    that never asked for it."""
    path = _netrc_path()
    if path is None:
        return None
    try:
        return netrc.netrc(path)
    except (netrc.NetrcParseError, OSError, UnicodeError) as exc:
        logger.debug("ignoring %s: %s", path, exc)
        return None


def _env_ca_bundle() -> str | None:
    """requests' environment variables for the CA bundle that ``verify=True`` means."""
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or None


def _split_auth(auth: AuthLike) -> tuple[Auth | None, Callable[[Request], Any] | None]:
    """``auth`` as the session uses it: a keepalive ``Auth`` (a tuple means Basic), or
    requests' custom authentication, a callable (an ``AuthBase``) that changes the
    ``Request`` itself. Anything else raises ``LocalProtocolError`` naming its type."""
    if auth is None or isinstance(auth, Auth | tuple):
        return coerce_auth(auth), None
    if callable(auth):
        return None, auth
    return coerce_auth(auth), None


def _in_memory(body: Any) -> bool:
    return body is None or isinstance(body, bytes | bytearray | memoryview)


def _limits_left(limits: Timeout, left: float) -> Timeout:
    """``limits`` for the rest of an exchange whose total deadline is ``left`` seconds away:
    the total, and the wait for a pooled connection, capped by it."""
    pool = left if limits.pool is None else min(limits.pool, left)
    return Timeout(
        connect=limits.connect, read=limits.read, write=limits.write, pool=pool, total=left
    )


@dataclass(slots=True)
class _Outgoing:
    """The request of one ``Session.request`` call as it goes out on the current hop.

    Redirects update it in place: method, URL, headers and body per RFC 9110 section 15.4,
    and, once a hop leaves the caller's origin, the credentials (``trusted`` becomes False
    and stays so).
    """

    method: str
    url: str
    headers: Headers
    body: RequestBody  # made once: it knows how to rewind for a re-send
    extra_cookies: CookieJar | None  # cookies= given with this request
    auth: Auth | None
    limits: Timeout
    verify: tls.VerifyLike | None
    cert: tls.CertLike
    trace: Trace | None = None  # this request's tracing callback (or the session's)
    proxies: Mapping[str, str] | None = None  # this request's proxies=, when given
    hooks: dict[str, list[HookFunction]] | None = None  # None: no hook at all
    custom_auth: Callable[[Request], Any] | None = None  # requests' AuthBase, run per hop
    trusted: bool = True  # still within the caller's origin: its credentials go along

    def leave_origin(self) -> None:
        """Drop the caller's credentials for this hop and every later one."""
        self.trusted = False
        self.auth = None
        self.custom_auth = None
        self.extra_cookies = None
        for name in _CREDENTIAL_HEADERS:
            self.headers.pop(name, None)


class AsyncSession:
    """Persistent connections plus cookies, default headers, auth and redirects.

    Use it as a context manager (or call ``close()``) so its connections are closed.
    ``headers``, ``cookies``, ``auth``, ``params``, ``verify``, ``cert``, ``proxies``,
    ``hooks`` and ``max_redirects`` are attributes a caller may also change later, as
    requests users do (``s.verify = False``, ``s.hooks["response"].append(f)``).
    """

    def __init__(
        self,
        headers: HeadersLike | None = None,
        cookies: CookiesLike | None = None,
        auth: AuthLike = None,
        params: ParamsLike = None,
        timeout: TimeoutLike = Timeout(connect=10, read=60, write=60, pool=10),  # noqa: B008
        verify: tls.VerifyLike = True,
        cert: tls.CertLike = None,
        proxies: Mapping[str, str] | None = None,
        trust_env: bool = True,
        max_redirects: int = 20,
        max_connections: int = 100,
        max_connections_per_host: int = 10,
        keepalive_expiry: float | None = 30.0,
        retries: int | Retry = 1,
        max_decoded_size: int | None = DEFAULT_MAX_DECODED_SIZE,
        *,
        transport: Any = None,
        base_url: str | None = None,
        trace: Trace | None = None,
        hooks: HooksLike = None,
        event_hooks: HooksLike = None,
    ) -> None:
        """``hooks`` (requests' spelling) and ``event_hooks`` (httpx's) fill the same
        ``{"request": [...], "response": [...]}`` lists; with ``trust_env``,
        ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` replace the trust store that
        ``verify=True`` means, and ``.netrc`` supplies credentials a request has no other
        for."""
        # Caller errors surface here, named, before anything is built.
        _check_count("max_redirects", max_redirects, 0)
        _check_count("max_connections", max_connections, 1)
        _check_count("max_connections_per_host", max_connections_per_host, 1)
        if not isinstance(retries, Retry):
            _check_count("retries", retries, 0)
        if transport is not None and not hasattr(transport, "handle_async_request"):
            raise InvalidArgumentType(
                f"transport {type(transport).__name__} has no handle_async_request(request)"
            )
        if base_url is not None:
            if not isinstance(base_url, str):
                raise InvalidArgumentType(f"base_url must be a str, not {type(base_url).__name__}")
            split_url(base_url)  # InvalidURL now, naming it, rather than on each request
        if trace is not None and not callable(trace):
            raise InvalidArgumentType(f"trace must be callable, not {type(trace).__name__}")
        keepalive_expiry = check_seconds("keepalive_expiry", keepalive_expiry)
        _split_auth(auth)  # a bad auth= fails now, not on the first request
        self._hooks = hook_lists(hooks, "hooks")
        for event, functions in hook_lists(event_hooks, "event_hooks").items():
            self._hooks[event].extend(functions)
        self._headers = _default_headers()
        if headers is not None:
            for name, value in _header_items(headers):
                self._headers[name] = value
        self._cookies = CookieJar(cookies)
        self.auth = auth
        self.params: dict[str, Any] = _params_dict(params)
        self.timeout = Timeout.coerce(timeout)
        self.verify = verify
        self.cert = cert
        self.trust_env = trust_env
        self.max_redirects = max_redirects
        # The most bytes .content decodes from a compressed body (docs/security.md).
        self.max_decoded_size = max_decoded_size
        # requests' REQUESTS_CA_BUNDLE: with trust_env, the bundle verify=True stands for.
        # Read once, like the proxy variables; an explicit verify (False, a path, a
        # context) is never replaced.
        self._env_ca = _env_ca_bundle() if trust_env else None
        self._pool_verify, self._pool_cert = verify, cert  # what the pool was made with
        self.pool = AsyncConnectionPool(
            max_connections=max_connections,
            max_connections_per_host=max_connections_per_host,
            keepalive_expiry=keepalive_expiry,
            retries=retries,
            timeout=self.timeout,
            verify=self._env_ca if verify is True and self._env_ca else verify,
            cert=cert,
        )
        self.proxies: dict[str, str] = {}
        if trust_env:
            self.proxies.update(urllib.request.getproxies_environment())
        if proxies:
            self.proxies.update(proxies)
        self._proxy_choice: dict[tuple[str, str], Proxy | None] = {}
        self._proxies_seen = dict(self.proxies)  # the choices above hold for these
        self._netrc: netrc.netrc | None = _UNSET if trust_env else None  # read on first need
        self._closed = False
        # Requests go to the longest matching mounted prefix, else this transport; None
        # means the session's own pool (the fast path).
        self.transport = transport
        self._mounts: list[tuple[str, Any]] = []
        self.base_url = base_url if base_url is None or base_url.endswith("/") else base_url + "/"
        self.trace = trace

    # -- settings a caller may replace ----------------------------------------------------

    @property
    def headers(self) -> Headers:
        """The default headers of every request (a ``keepalive.Headers``)."""
        return self._headers

    @headers.setter
    def headers(self, value: HeadersLike) -> None:
        # requests' ``s.headers = {...}`` replaces the defaults altogether.
        self._headers = value if isinstance(value, Headers) else Headers(value)

    @property
    def cookies(self) -> CookieJar:
        """The session's cookie jar: what servers set, sent back by the rules."""
        return self._cookies

    @cookies.setter
    def cookies(self, value: CookiesLike) -> None:
        self._cookies = CookieJar(value)

    @property
    def hooks(self) -> dict[str, list[HookFunction]]:
        """``{"request": [...], "response": [...]}``: callables run for every request of
        the session (before each request is sent; on each response, redirects included).

        A response hook runs before the body is read (``stream=False`` reads it after the
        hooks); in the async session, a hook that reads it must be a coroutine function
        that awaits reading the body first (httpx's rule)."""
        return self._hooks

    @hooks.setter
    def hooks(self, value: HooksLike) -> None:
        self._hooks = hook_lists(value, "hooks")

    event_hooks = hooks  # httpx's name for the same lists

    def mount(self, prefix: str, transport: Any) -> None:
        """Send requests whose URL starts with ``prefix`` through ``transport``; the
        longest matching prefix wins (``requests``' ``mount``, httpx's ``mounts``)."""
        if not isinstance(prefix, str):
            raise InvalidArgumentType(f"prefix must be a str, not {type(prefix).__name__}")
        if not hasattr(transport, "handle_async_request"):
            raise InvalidArgumentType(
                f"transport {type(transport).__name__} has no handle_async_request(request)"
            )
        self._mounts = [(p, t) for p, t in self._mounts if p != prefix]
        self._mounts.append((prefix, transport))
        self._mounts.sort(key=lambda item: len(item[0]), reverse=True)

    def _transport_for(self, url: str) -> Any:
        for prefix, transport in self._mounts:
            if url.startswith(prefix):
                return transport
        return self.transport

    # -- life cycle -------------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close every connection; the session sends nothing more."""
        self._closed = True
        self.pool.close()

    async def __aenter__(self) -> AsyncSession:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.pool!r}>"

    def __getstate__(self) -> Any:
        # A session owns live sockets and a lock: a copy could not share them, and a
        # pickle could not carry them (requests pickles its settings only).
        raise InvalidArgumentType(
            f"a {type(self).__name__} cannot be pickled or copied: it owns live connections; "
            "make a new one with the same settings"
        )

    # -- verbs ----------------------------------------------------------------------------------

    async def get(
        self,
        url: str,
        params: ParamsLike = None,
        *,
        data: DataLike = None,
        headers: HeadersLike | None = None,
        cookies: CookiesLike | None = None,
        files: FilesLike = None,
        auth: AuthLike = None,
        timeout: TimeoutLike = _UNSET,
        allow_redirects: bool = True,
        proxies: ProxiesLike = None,
        hooks: HooksLike = None,
        stream: bool = False,
        verify: tls.VerifyLike | None = None,
        cert: tls.CertLike = None,
        json: Any = None,
        trace: Trace | None = None,
        event_hooks: HooksLike = None,
    ) -> Response:
        """Send a GET request; every keyword means what it means to ``request``."""
        return await self.request(
            "GET", url, params, data, headers, cookies, files, auth, timeout, allow_redirects,
            proxies, hooks, stream, verify, cert, json, trace=trace, event_hooks=event_hooks,
        )  # fmt: skip

    async def head(
        self,
        url: str,
        params: ParamsLike = None,
        *,
        data: DataLike = None,
        headers: HeadersLike | None = None,
        cookies: CookiesLike | None = None,
        files: FilesLike = None,
        auth: AuthLike = None,
        timeout: TimeoutLike = _UNSET,
        allow_redirects: bool = False,
        proxies: ProxiesLike = None,
        hooks: HooksLike = None,
        stream: bool = False,
        verify: tls.VerifyLike | None = None,
        cert: tls.CertLike = None,
        json: Any = None,
        trace: Trace | None = None,
        event_hooks: HooksLike = None,
    ) -> Response:
        """Send a HEAD request; it does not follow redirects unless ``allow_redirects=True``
        (as in requests). Every keyword means what it means to ``request``."""
        return await self.request(
            "HEAD", url, params, data, headers, cookies, files, auth, timeout, allow_redirects,
            proxies, hooks, stream, verify, cert, json, trace=trace, event_hooks=event_hooks,
        )  # fmt: skip

    async def options(
        self,
        url: str,
        params: ParamsLike = None,
        *,
        data: DataLike = None,
        headers: HeadersLike | None = None,
        cookies: CookiesLike | None = None,
        files: FilesLike = None,
        auth: AuthLike = None,
        timeout: TimeoutLike = _UNSET,
        allow_redirects: bool = True,
        proxies: ProxiesLike = None,
        hooks: HooksLike = None,
        stream: bool = False,
        verify: tls.VerifyLike | None = None,
        cert: tls.CertLike = None,
        json: Any = None,
        trace: Trace | None = None,
        event_hooks: HooksLike = None,
    ) -> Response:
        """Send an OPTIONS request; every keyword means what it means to ``request``."""
        return await self.request(
            "OPTIONS", url, params, data, headers, cookies, files, auth, timeout,
            allow_redirects, proxies, hooks, stream, verify, cert, json, trace=trace,
            event_hooks=event_hooks,
        )  # fmt: skip

    async def delete(
        self,
        url: str,
        params: ParamsLike = None,
        *,
        data: DataLike = None,
        headers: HeadersLike | None = None,
        cookies: CookiesLike | None = None,
        files: FilesLike = None,
        auth: AuthLike = None,
        timeout: TimeoutLike = _UNSET,
        allow_redirects: bool = True,
        proxies: ProxiesLike = None,
        hooks: HooksLike = None,
        stream: bool = False,
        verify: tls.VerifyLike | None = None,
        cert: tls.CertLike = None,
        json: Any = None,
        trace: Trace | None = None,
        event_hooks: HooksLike = None,
    ) -> Response:
        """Send a DELETE request; every keyword means what it means to ``request``."""
        return await self.request(
            "DELETE", url, params, data, headers, cookies, files, auth, timeout,
            allow_redirects, proxies, hooks, stream, verify, cert, json, trace=trace,
            event_hooks=event_hooks,
        )  # fmt: skip

    async def post(
        self,
        url: str,
        data: DataLike = None,
        json: Any = None,
        *,
        params: ParamsLike = None,
        headers: HeadersLike | None = None,
        cookies: CookiesLike | None = None,
        files: FilesLike = None,
        auth: AuthLike = None,
        timeout: TimeoutLike = _UNSET,
        allow_redirects: bool = True,
        proxies: ProxiesLike = None,
        hooks: HooksLike = None,
        stream: bool = False,
        verify: tls.VerifyLike | None = None,
        cert: tls.CertLike = None,
        trace: Trace | None = None,
        event_hooks: HooksLike = None,
    ) -> Response:
        """Send a POST request with ``data`` (a form, bytes, a file or a stream) or
        ``json``; every keyword means what it means to ``request``."""
        return await self.request(
            "POST", url, params, data, headers, cookies, files, auth, timeout, allow_redirects,
            proxies, hooks, stream, verify, cert, json, trace=trace, event_hooks=event_hooks,
        )  # fmt: skip

    async def put(
        self,
        url: str,
        data: DataLike = None,
        *,
        json: Any = None,
        params: ParamsLike = None,
        headers: HeadersLike | None = None,
        cookies: CookiesLike | None = None,
        files: FilesLike = None,
        auth: AuthLike = None,
        timeout: TimeoutLike = _UNSET,
        allow_redirects: bool = True,
        proxies: ProxiesLike = None,
        hooks: HooksLike = None,
        stream: bool = False,
        verify: tls.VerifyLike | None = None,
        cert: tls.CertLike = None,
        trace: Trace | None = None,
        event_hooks: HooksLike = None,
    ) -> Response:
        """Send a PUT request; every keyword means what it means to ``request``."""
        return await self.request(
            "PUT", url, params, data, headers, cookies, files, auth, timeout, allow_redirects,
            proxies, hooks, stream, verify, cert, json, trace=trace, event_hooks=event_hooks,
        )  # fmt: skip

    async def patch(
        self,
        url: str,
        data: DataLike = None,
        *,
        json: Any = None,
        params: ParamsLike = None,
        headers: HeadersLike | None = None,
        cookies: CookiesLike | None = None,
        files: FilesLike = None,
        auth: AuthLike = None,
        timeout: TimeoutLike = _UNSET,
        allow_redirects: bool = True,
        proxies: ProxiesLike = None,
        hooks: HooksLike = None,
        stream: bool = False,
        verify: tls.VerifyLike | None = None,
        cert: tls.CertLike = None,
        trace: Trace | None = None,
        event_hooks: HooksLike = None,
    ) -> Response:
        """Send a PATCH request; every keyword means what it means to ``request``."""
        return await self.request(
            "PATCH", url, params, data, headers, cookies, files, auth, timeout,
            allow_redirects, proxies, hooks, stream, verify, cert, json, trace=trace,
            event_hooks=event_hooks,
        )  # fmt: skip

    @contextlib.asynccontextmanager
    async def stream(self, method: str, url: str, **kwargs: Any) -> AsyncIterator[Response]:
        """``request(method, url, ..., stream=True)`` (same keywords) as a context manager
        that closes the response."""
        kwargs["stream"] = True
        response = await self.request(method, url, **kwargs)
        try:
            yield response
        finally:
            await response.aclose()

    # -- the request ------------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        url: str,
        params: ParamsLike = None,
        data: DataLike = None,
        headers: HeadersLike | None = None,
        cookies: CookiesLike | None = None,
        files: FilesLike = None,
        auth: AuthLike = None,
        timeout: TimeoutLike = _UNSET,
        allow_redirects: bool = True,
        proxies: ProxiesLike = None,
        hooks: HooksLike = None,
        stream: bool = False,
        verify: tls.VerifyLike | None = None,
        cert: tls.CertLike = None,
        json: Any = None,
        *,
        trace: Trace | None = None,
        event_hooks: HooksLike = None,
    ) -> Response:
        """Send a request; follow redirects; return the response (body read unless ``stream``).

        The arguments come in requests' order. ``params`` are added to the URL's query
        (after the session's; a dict's ``None`` value drops a session param);
        ``data`` is a form (dict or pairs; ``None`` values skipped), bytes, str, a file or
        an iterator (streamed); ``json`` is sent as JSON; ``files`` as multipart. A
        ``None`` in ``headers`` removes that session header. ``cookies`` are sent, not
        stored. ``auth`` is a ``(user, password)`` tuple, an ``Auth`` or a callable taking
        and returning the ``Request`` (requests' ``AuthBase``); without it the session's,
        then ``user:password@`` in the URL, then ``.netrc`` (with ``trust_env``) are used.
        ``timeout`` omitted uses the session's; ``None`` means no limit at all; a
        ``(connect, read)`` tuple as in requests. ``verify``/``cert`` omitted use the
        session's; ``proxies`` replace the session's for this request. ``hooks`` /
        ``event_hooks`` run after the session's. ``trace`` is called with each event of
        the exchange.
        """
        if self._closed:
            raise PoolClosed("the session is closed: make a new Session")
        if not isinstance(method, str):
            raise InvalidArgumentType(
                f"method must be a str such as 'GET', not {type(method).__name__}"
            )
        if not isinstance(url, str):
            raise InvalidArgumentType(f"url must be a str, not {type(url).__name__}")
        method = method.upper()
        url, url_auth = self._target_url(url, params)
        merged = self._headers.copy()
        if headers is not None:
            for name, value in _header_items(headers):
                if value is not None:
                    merged[name] = value  # Headers checks both types
                elif isinstance(name, str | bytes):
                    merged.pop(name if isinstance(name, str) else name.decode("latin-1"), None)
                else:
                    raise InvalidArgumentType(
                        f"header name {name!r} must be str or bytes, not {type(name).__name__}"
                    )
        body, content_type = self._encode_body(data, json, files)
        if content_type is not None and "content-type" not in merged:
            merged["Content-Type"] = content_type
        extra_cookies = CookieJar(cookies) if cookies else None
        limits = self.timeout if timeout is _UNSET else Timeout.coerce(timeout)
        if auth is None and self.auth is None and url_auth is None and self._netrc is None:
            standard_auth = custom_auth = None  # the common case, without a call
        else:
            standard_auth, custom_auth = _split_auth(self._auth_for(auth, url_auth, url))
        if verify is None and self.verify is self._pool_verify:
            verify = None  # the pool's own: the common case, without a call
        else:
            verify = self._verify_for(verify)
        outgoing = _Outgoing(
            method, url, merged, make_body(body), extra_cookies, standard_auth, limits,
            verify, cert if cert is not None or self.cert is self._pool_cert else self.cert,
            trace if trace is not None else self.trace, proxies,
            self._hooks_for(hooks, event_hooks) if hooks or event_hooks or self._has_hooks()
            else None, custom_auth,
        )  # fmt: skip
        response = await self._send_handling_redirects(outgoing, allow_redirects)
        if not stream:
            await response.aread()
        return response

    def prepare_request(self, request: Request) -> Request:
        """requests' ``Session.prepare_request``: ``request`` (a ``keepalive.Request``)
        merged with the session's settings, ready for ``send``.

        The result has the final ``url`` (the session's params, then the request's),
        ``headers`` as they will be written (the session's, the request's, and the
        ``Cookie``, ``Authorization`` and ``Content-Length`` the session adds) and
        ``body``. Change them freely before sending: what the session added and the
        caller left unchanged is worked out again by ``send`` on every hop (a redirect's
        cookies, a recomputed length); what the caller changed is sent as changed.
        """
        if not isinstance(request, Request):
            raise InvalidArgumentType(
                f"request must be a keepalive.Request, not {type(request).__name__}"
            )
        method = request.method.upper()
        url, url_auth = self._target_url(request.url, request.params)
        merged = self._headers.copy()
        for name, value in request.headers.multi_items():
            merged[name] = value
        for name in request._dropped:
            merged.pop(name, None)
        if request.data is None and request.json is None and request.files is None:
            body: Any = request._stream if request._stream is not None else request._body
        else:
            body, content_type = self._encode_body(request.data, request.json, request.files)
            if content_type is not None and "content-type" not in merged:
                merged["Content-Type"] = content_type
        generated: dict[str, str] = {}
        if (
            _in_memory(body)
            and "content-length" not in merged
            and "transfer-encoding" not in merged
            and (body or method in _BODY_METHODS)
        ):
            generated["content-length"] = merged["Content-Length"] = str(len(body or b""))
        extra_cookies = CookieJar(request.cookies) if request.cookies else None
        auth, custom_auth = _split_auth(self._auth_for(request.auth, url_auth, url))
        if auth is not None and "authorization" not in merged:
            credentials = auth.auth_header(method, url)
            if credentials is not None:
                generated["authorization"] = merged["Authorization"] = credentials
        if "cookie" not in merged:
            cookie = self._cookies.cookie_header(url)
            if extra_cookies is not None:
                more = extra_cookies.cookie_header(url)
                cookie = more if cookie is None else (f"{cookie}; {more}" if more else cookie)
            if cookie:
                generated["cookie"] = merged["Cookie"] = cookie
        if _in_memory(body):
            prepared = Request._sent(method, url, merged, body or None)
        else:
            prepared = Request._sent(method, url, merged, None, body)
        if custom_auth is not None:
            # requests' AuthBase changes the prepared request once, here; what it sets is
            # then the caller's own (an Authorization is dropped on leaving the origin).
            prepared = _call_custom_auth(custom_auth, prepared)
        prepared.cookies = extra_cookies
        prepared.auth = auth
        prepared.hooks = {
            event: [*self._session_hooks(event), *request.hooks.get(event, ())]
            for event in HOOK_EVENTS
        }
        prepared._generated = generated
        return prepared

    async def send(
        self,
        request: Request,
        *,
        stream: bool | None = False,
        timeout: TimeoutLike = _UNSET,
        verify: tls.VerifyLike | None = None,
        cert: tls.CertLike = None,
        proxies: ProxiesLike = None,
        allow_redirects: bool = True,
        trace: Trace | None = None,
    ) -> Response:
        """requests' ``Session.send``: send a request made by ``prepare_request`` (one not
        prepared yet is prepared first), follow redirects, return the response.

        Its hooks are those it was prepared with; the keywords mean what they mean to
        ``request``.
        """
        if self._closed:
            raise PoolClosed("the session is closed: make a new Session")
        if not isinstance(request, Request):
            raise InvalidArgumentType(
                f"request must be a keepalive.Request, not {type(request).__name__}"
            )
        if not request._prepared:
            request = self.prepare_request(request)
        headers = request.headers.copy()
        for name, value in request._generated.items():
            if headers.get(name) == value:  # left as the session made it: made again per hop
                del headers[name]
        body = request._stream if request._stream is not None else request._body
        auth = request.auth if isinstance(request.auth, Auth) else None
        cookies = request.cookies
        if cookies is not None and not isinstance(cookies, CookieJar):
            cookies = CookieJar(cookies)
        hooks = request._hooks if request._hooks and any(request._hooks.values()) else None
        outgoing = _Outgoing(
            request.method, request.url, headers, make_body(body), cookies or None, auth,
            self.timeout if timeout is _UNSET else Timeout.coerce(timeout),
            self._verify_for(verify), self._cert_for(cert),
            trace if trace is not None else self.trace, proxies, hooks,
        )  # fmt: skip
        response = await self._send_handling_redirects(outgoing, allow_redirects)
        if not stream:
            await response.aread()
        return response

    def merge_environment_settings(
        self,
        url: str,
        proxies: ProxiesLike,
        stream: bool | None,
        verify: tls.VerifyLike | None,
        cert: tls.CertLike,
    ) -> dict[str, Any]:
        """requests' helper for the prepared-request flow, so that
        ``s.send(prep, **s.merge_environment_settings(prep.url, {}, None, None, None))``
        runs unchanged. The environment is already part of the session (read when it was
        made), so this only passes the arguments on: ``send`` then applies the session's
        settings (and the environment's) to what is left as None."""
        return {"proxies": proxies or None, "stream": stream, "verify": verify, "cert": cert}

    # -- per-request settings ---------------------------------------------------------------------

    def _target_url(self, url: str, params: ParamsLike) -> tuple[str, tuple[str, str] | None]:
        """The URL to send (base URL applied, requoted, params merged) and the credentials
        its ``user:password@`` carried."""
        if self.base_url is not None and "://" not in url:
            # Relative to the session's base URL, as urljoin does after a trailing "/".
            url = urljoin(self.base_url, url)
        url = requote_url(url)
        url_auth = None
        if "@" in url:
            url, url_auth = split_userinfo(url)
        return self._merge_params(url, params), url_auth

    def _auth_for(self, auth: AuthLike, url_auth: tuple[str, str] | None, url: str) -> AuthLike:
        """Whose credentials go with a request: ``auth=``, else the session's, else the
        URL's userinfo, else ``.netrc`` for the host (with ``trust_env``)."""
        if auth is not None:
            return auth
        if self.auth is not None:
            return self.auth
        if url_auth is not None:
            return url_auth
        if self._netrc is None:
            return None
        if self._netrc is _UNSET:
            self._netrc = _load_netrc()
            if self._netrc is None:
                return None
        found = self._netrc.authenticators(split_url(url).host)
        if found is None:
            return None
        login, account, password = found
        return (login or account or "", password or "")

    def _verify_for(self, verify: tls.VerifyLike | None) -> tls.VerifyLike | None:
        """The ``verify`` to pass to the pool: None for the pool's own (the fast path)."""
        if verify is None:
            verify = self.verify
            if verify is self._pool_verify:
                return None
        if verify is True and self._env_ca:
            return self._env_ca
        return verify

    def _cert_for(self, cert: tls.CertLike) -> tls.CertLike:
        if cert is None and self.cert is not self._pool_cert:
            return self.cert
        return cert

    def _has_hooks(self) -> bool:
        mine = self._hooks
        return bool(mine.get("request") or mine.get("response"))

    def _session_hooks(self, event: str) -> list[HookFunction]:
        functions: Any = self._hooks.get(event) or []
        return [functions] if callable(functions) else list(functions)

    def _hooks_for(
        self, hooks: HooksLike, event_hooks: HooksLike
    ) -> dict[str, list[HookFunction]] | None:
        """The hooks of one request: the session's, then its own; None when there are none."""
        if hooks is None and event_hooks is None:
            if not self._has_hooks():
                return None
            return {event: self._session_hooks(event) for event in HOOK_EVENTS}
        extra = hook_lists(hooks, "hooks")
        more = hook_lists(event_hooks, "event_hooks")
        return {
            event: [*self._session_hooks(event), *extra[event], *more[event]]
            for event in HOOK_EVENTS
        }

    async def _response_hooks(self, hooks: list[HookFunction], response: Response) -> Response:
        """Run response hooks; one that returns a ``Response`` replaces it (requests)."""
        for hook in hooks:
            try:
                result = await _call_hook(hook, response)
            except BaseException:
                response._raw.abort()  # the caller gets the error, not a busy connection
                raise
            if isinstance(result, Response):
                response = result
        return response

    async def _request_hooks(self, hooks: list[HookFunction], request: Request) -> None:
        for hook in hooks:
            await _call_hook(hook, request)

    # -- sending ----------------------------------------------------------------------------------

    async def _send_handling_redirects(self, out: _Outgoing, allow_redirects: bool) -> Response:
        history: list[Response] = []
        total = out.limits.total
        if total is not None:
            # One deadline for the whole chain: each hop gets what is left of it.
            deadline = time.monotonic() + total
            out.limits = _limits_left(out.limits, total)
        response_hooks = None if out.hooks is None else out.hooks["response"]
        while True:
            response = await self._send_once(out)
            if response_hooks:
                response = await self._response_hooks(response_hooks, response)
            if not (allow_redirects and response.status_code in REDIRECT_STATUSES):
                break
            location = response.headers.get("location")
            if location is None:
                break
            # Every raise below comes after this close, so an error object the caller keeps
            # alive never holds a connection (a pool slot) busy.
            await response.aclose()  # drains a small body: the connection goes back to the pool
            too_many = len(history) >= self.max_redirects
            history.extend(response.history)  # a 401 answered on this hop comes first
            response.history = list(history)  # as requests: the hops before this one
            if too_many:
                # As requests: the error carries the last response (and so its request).
                raise TooManyRedirects(
                    f"more than {self.max_redirects} redirects, the last to {location!r} "
                    f"from {out.url}",
                    response=response,
                )
            history.append(response)
            next_url = self._redirect_url(out.url, location)
            self._redirect_request(out, response.status_code)
            if out.trusted and not _keeps_credentials(out.url, next_url):
                out.leave_origin()
            out.url = next_url
            if total is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ReadTimeout(
                        f"the total timeout ({total} s) ran out after {len(history)} "
                        f"redirects, before the request to {next_url}"
                    )
                out.limits = _limits_left(out.limits, left)
        response.history = history + response.history
        return response

    async def _send_once(self, out: _Outgoing) -> Response:
        method, url, headers, body = out.method, out.url, out.headers, out.body
        send_headers = headers
        if "cookie" not in headers:
            cookie = self._cookie_for(out, url)
            if cookie:
                send_headers = headers.copy()
                send_headers["Cookie"] = cookie
        auth = out.auth
        if auth is not None and "authorization" not in headers:
            value = auth.auth_header(method, url)
            if value is not None:
                send_headers = send_headers.copy() if send_headers is headers else send_headers
                send_headers["Authorization"] = value
        proxy = self._proxy_for(url, out.proxies)
        transport = self._transport_for(url) if self._mounts else self.transport
        request_hooks = None if out.hooks is None else out.hooks["request"]
        custom_auth = out.custom_auth
        sent_body = (body.data or None) if body.stream is None else None

        async def send(headers: Headers) -> Response:
            if custom_auth is not None or request_hooks:
                # What they add is for this hop only: the next may leave the origin.
                headers = headers.copy() if headers is out.headers else headers
            request = Request._sent(method, url, headers, sent_body)
            if custom_auth is not None:
                request = _call_custom_auth(custom_auth, request)
            if request_hooks:
                await self._request_hooks(request_hooks, request)
            if request.headers is not headers:  # replaced by the auth or a hook
                headers = request.headers = Headers(request.headers)
            if transport is None:
                try:
                    raw = await self.pool.request(
                        method, request.url, headers, body, timeout=out.limits,
                        verify=out.verify, cert=out.cert, proxy=proxy, trace=out.trace,
                    )  # fmt: skip
                except RetryError as exc:
                    if exc.response is not None and not isinstance(exc.response, Response):
                        exc.response = Response._from_raw(exc.response, request, url)
                        exc.request = request
                    raise
                response = Response._from_raw(raw, request, url)
            else:
                response = await self._send_through(transport, request, body)
            if self.max_decoded_size != DEFAULT_MAX_DECODED_SIZE:
                response.max_decoded_size = self.max_decoded_size
            try:
                self._store_cookies(response, url)
            except BaseException:
                response._raw.abort()
                raise
            return response

        response = await send(send_headers)
        if auth is not None and response.status_code == 401:
            try:
                retry_value = auth.retry_header(method, url, 401, response.headers)
            except BaseException:
                response._raw.abort()
                raise
            if retry_value is not None:
                # Close first, whatever follows: a raise below must not leave the connection
                # active while the caller holds the exception. The close drains the small
                # 401 body, so the retry goes over the same kept-alive connection.
                await response.aclose()
                _rewind_or_raise(body, "answer the authentication challenge")
                retry_headers = send_headers.copy()
                retry_headers["Authorization"] = retry_value
                if "cookie" not in headers and response._raw.has_header(b"set-cookie"):
                    # The retry is a new request (RFC 6265 section 5.4): it carries the
                    # cookies the challenge set (httpbin's Digest checks one), as requests'.
                    cookie = self._cookie_for(out, url)
                    if cookie:
                        retry_headers["Cookie"] = cookie
                challenge = response
                response = await send(retry_headers)
                response.history = [challenge]
        return response

    def _cookie_for(self, out: _Outgoing, url: str) -> str | None:
        """The ``Cookie`` value for a hop to ``url``: the jar's and the request's cookies,
        or only the jar's cookies for the URL's own site once the chain left the origin."""
        if not out.trusted:
            return _site_cookie_header(self._cookies, url)
        cookie = self._cookies.cookie_header(url)
        if out.extra_cookies is not None:
            more = out.extra_cookies.cookie_header(url)
            cookie = more if cookie is None else (f"{cookie}; {more}" if more else cookie)
        return cookie

    async def _send_through(self, transport: Any, request: Request, body: RequestBody) -> Response:
        """Send through a transport other than the pool; wrap what it returns. The
        transport gets the whole body as bytes, streamed bodies included."""
        if body.stream is not None:
            request.body = b"".join([bytes(chunk) async for chunk in body.achunks()])
        result = await transport.handle_async_request(request)
        if isinstance(result, Response):
            result.request, result.url = request, request.url
            return result
        return Response._from_raw(result, request, request.url)

    def _store_cookies(self, response: Response, url: str) -> None:
        # The response's own ``cookies`` are read from its head when asked for.
        raw = response._raw
        if raw.has_header(b"set-cookie"):
            self._cookies.extract(url, raw.headers.get_list("set-cookie"))

    # -- pieces --------------------------------------------------------------------------------

    def _merge_params(self, url: str, params: ParamsLike) -> str:
        mine: Any = self.params
        if not mine and params is None:
            return url
        if mine and isinstance(mine, Mapping) and isinstance(params, Mapping):
            # requests' merge: the request's value wins, and its None drops the session's.
            extra = _encode_params({**mine, **params})
        else:
            extra = "&".join(q for q in (_encode_params(mine or None), _encode_params(params)) if q)
        if not extra:
            return url
        parts = urlsplit(url)
        query = f"{parts.query}&{extra}" if parts.query else extra
        return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))

    def _encode_body(self, data: DataLike, json: Any, files: Any) -> tuple[Any, str | None]:
        if json is not None:
            if data is not None or files is not None:
                raise LocalProtocolError("give json= or data=/files=, not both")
            try:
                text = jsonlib.dumps(
                    json, separators=(",", ":"), ensure_ascii=False, allow_nan=False
                )
            except (TypeError, ValueError) as exc:
                raise InvalidJSONError(f"json= cannot be serialised: {exc}") from exc
            return text.encode("utf-8"), "application/json"
        if files is not None:
            if data is not None and not isinstance(data, Mapping | list | tuple):
                raise LocalProtocolError("with files=, data= must be a dict or list of pairs")
            if isinstance(data, Mapping):
                data = dict(_without_none(data.items()))
            elif data is not None:
                data = [pair for pair in data if not (isinstance(pair, tuple) and pair[1] is None)]
            content_type, payload = encode_multipart(data, files)
            return payload, content_type
        if data is None or isinstance(data, bytes | bytearray | memoryview):
            return data, None
        if isinstance(data, str):
            return data.encode("utf-8"), None
        if isinstance(data, Mapping) or (
            isinstance(data, list | tuple)
            and all(isinstance(p, tuple) and len(p) == 2 for p in data)
        ):
            fields = _without_none(data.items() if isinstance(data, Mapping) else data)
            form = urlencode(fields, doseq=True).encode("ascii")
            return form, "application/x-www-form-urlencoded"
        if hasattr(data, "read") or isinstance(data, Iterable) or hasattr(data, "__aiter__"):
            return data, None
        raise LocalProtocolError(
            f"cannot send data of type {type(data).__name__}: give bytes, str, a dict, "
            "a list of pairs, a file object or an iterator of bytes"
        )

    def _redirect_url(self, url: str, location: str) -> str:
        """The absolute URL a ``Location`` sends us to, without any userinfo in it.

        A malformed ``Location`` is the server's fault (RFC 9110 section 10.2.2 requires a
        URI reference), so it raises ``RemoteProtocolError``; a well-formed one with a
        scheme we do not speak raises ``InvalidURL``. Credentials a server writes into a
        ``Location`` are dropped, never sent: the server does not choose what we send.
        """
        location = location.strip()
        if not location.isascii():
            # Header values arrive as ISO-8859-1 text (RFC 9110 section 5.5), but servers
            # that put non-ASCII in a Location send UTF-8; requests reads it so too.
            with contextlib.suppress(UnicodeError):
                location = location.encode("latin-1").decode("utf-8")
        try:
            next_url = requote_url(urljoin(url, location))
            parts = urlsplit(next_url)
            scheme = parts.scheme.lower()
            if scheme in DEFAULT_PORTS:
                split_url(next_url)
        except ValueError as exc:  # InvalidURL too
            raise RemoteProtocolError(
                f"{url} answered with a redirect to an invalid Location {location!r}: {exc}"
            ) from exc
        if scheme not in DEFAULT_PORTS:
            raise InvalidURL(
                f"{url} redirected to {location!r}: scheme {scheme!r} is not followed, "
                "only http and https"
            )
        fragment = urlsplit(url).fragment
        if fragment and not parts.fragment:
            # RFC 9110 section 10.2.2: a Location without a fragment inherits the original's.
            next_url = urlunsplit((*parts[:4], fragment))
        if parts.username is not None:
            next_url = split_userinfo(next_url)[0]
        return next_url

    @staticmethod
    def _redirect_request(out: _Outgoing, status: int) -> None:
        """RFC 9110 section 15.4: 303 becomes GET; 301/302 turn POST into GET as browsers
        do; 307/308 repeat method and body, which must then be replayable."""
        out.headers = out.headers.copy()  # the one sent stays with the redirect's .request
        method = out.method
        if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
            for name in _BODY_HEADERS:
                out.headers.pop(name, None)
            out.method, out.body = "GET", make_body(None)
            return
        _rewind_or_raise(out.body, f"follow the {status} redirect")

    def _proxy_for(self, url: str, proxies: Mapping[str, str] | None = None) -> Proxy | None:
        """The proxy for ``url``: from the request's ``proxies`` when given (keys as
        requests takes them: ``"http"``, ``"https"``, ``"all"``, or ``"scheme://host"``),
        else the session's (cached per origin)."""
        if proxies is not None:
            scheme, host, port, _ = split_url(url)
            for name in (f"{scheme}://{host}:{port}", f"{scheme}://{host}", scheme, "all"):
                chosen = proxies.get(name)
                if chosen:
                    return _parse_proxy(chosen, self._proxy_verify())
            return None
        if not self.proxies:
            return None
        if self.proxies != self._proxies_seen:  # s.proxies changed since the choices were made
            self._proxy_choice.clear()
            self._proxies_seen = dict(self.proxies)
        scheme, host, port, _ = split_url(url)
        key = (scheme, host if port == DEFAULT_PORTS[scheme] else f"{host}:{port}")
        try:
            return self._proxy_choice[key]
        except KeyError:
            pass
        proxy_url = self.proxies.get(scheme) or self.proxies.get("all")
        choice = None
        if proxy_url and not self._bypass(key[1]):
            choice = _parse_proxy(proxy_url, self._proxy_verify())
        self._proxy_choice[key] = choice
        return choice

    def _proxy_verify(self) -> tls.VerifyLike:
        """How an https:// proxy's certificate is checked: the session's ``verify``."""
        verify = self._verify_for(None)
        return self.pool.verify if verify is None else verify

    def _bypass(self, host: str) -> bool:
        no_proxy = self.proxies.get("no")
        if not no_proxy:
            return False
        bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
        return bool(bypass(host, {"no": no_proxy}))


async def _call_hook(hook: HookFunction, argument: Any) -> Any:
    """Call a hook; the async session also awaits what an async hook returns (httpx's
    AsyncClient takes those)."""
    result = hook(argument)
    # unasync: async-only
    if hasattr(result, "__await__"):
        result = await result
    # unasync: end
    return result


def _call_custom_auth(auth: Callable[[Request], Any], request: Request) -> Request:
    """Run requests' custom auth (``AuthBase.__call__(request)``) on ``request``; it returns
    the request (or None, taken to mean the same one)."""
    result = auth(request)
    if result is None:
        return request
    if not isinstance(result, Request):
        raise InvalidArgumentType(
            f"auth {type(auth).__name__} returned {type(result).__name__}: a custom auth "
            "callable must return the keepalive.Request it was given"
        )
    return result


def _rewind_or_raise(body: RequestBody, why: str) -> None:
    """Make ``body`` ready to be sent again (a file goes back to where it started when the
    request was built), or raise ``LocalProtocolError`` saying ``why`` a re-send was needed."""
    if body.rewind():
        return
    raise UnrewindableBodyError(
        f"cannot {why}: the request body was a stream that has been sent already; "
        "pass bytes or a seekable file to allow re-sending it"
    )
