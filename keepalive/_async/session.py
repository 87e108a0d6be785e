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
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import json as jsonlib
import urllib.request
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from typing import IO, Any, Union
from urllib.parse import unquote, urlencode, urljoin, urlsplit, urlunsplit

from .. import tls
from .._request import RequestBody, make_body
from .._state import Proxy, Trace
from .._version import __version__
from ..auth import Auth, BasicAuth, coerce_auth
from ..cookies import CookieJar
from ..decoders import ACCEPT_ENCODING
from ..exceptions import (
    InvalidArgument,
    InvalidArgumentType,
    InvalidURL,
    LocalProtocolError,
    PoolClosed,
    RemoteProtocolError,
    RetryError,
    TooManyRedirects,
)
from ..models import Headers, HeadersLike, Timeout, TimeoutLike, check_seconds
from ..multipart import encode_multipart
from ..response import DEFAULT_MAX_DECODED_SIZE, REDIRECT_STATUSES, Request, Response
from ..retry import Retry
from ..urls import DEFAULT_PORTS, split_url, split_userinfo
from .pool import AsyncConnectionPool

__all__ = ["AsyncSession"]

ParamsLike = Union[Mapping[str, Any], Iterable[tuple[str, Any]], str, bytes, None]
AuthLike = Union[tuple[str | bytes, str | bytes], Auth, None]
DataLike = Union[bytes, str, Mapping[str, Any], Iterable[Any], IO[bytes], None]

# The caller's credentials in headers; never carried to another origin or down to http
# (docs/design.md, security defaults; RFC 9110 section 15.4 leaves it to the client).
_CREDENTIAL_HEADERS = ("authorization", "proxy-authorization", "cookie")
_BODY_HEADERS = ("content-type", "content-length", "transfer-encoding", "content-encoding")
_UNSET: Any = object()


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


def _parse_proxy(url: str, verify: tls.VerifyLike = True) -> Proxy:
    """A proxy URL as the network layer takes it: ``http://``, ``https://`` (TLS to the
    proxy, checked with the session's ``verify``, as requests does), ``socks5://`` (names
    resolved here) or ``socks5h://`` (resolved by the proxy); credentials from the URL."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    scheme = parts.scheme.lower()
    if scheme not in _PROXY_PORTS:
        raise InvalidURL(f"proxy {url!r}: the scheme must be http, https, socks5 or socks5h")
    if not parts.hostname:
        raise InvalidURL(f"proxy URL {url!r} has no host")
    try:
        port = parts.port or _PROXY_PORTS[scheme]
    except ValueError as exc:
        raise InvalidURL(f"proxy URL {url!r} has a bad port") from exc
    user = None if parts.username is None else unquote(parts.username)
    password = None if parts.username is None else unquote(parts.password or "")
    headers: tuple[tuple[str, str], ...] = ()
    if user is not None and scheme in ("http", "https"):
        value = BasicAuth(user, password or "").auth_header("CONNECT", url)
        assert value is not None
        headers, user, password = (("Proxy-Authorization", value),), None, None
    ctx = tls.context_for(verify) if scheme == "https" else None
    return Proxy(parts.hostname, port, headers, scheme, user, password, ctx)


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
        items = params.items() if isinstance(params, Mapping) else params
        flat = [(k, v) for k, v in items if v is not None]
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
    trusted: bool = True  # still within the caller's origin: its credentials go along

    def leave_origin(self) -> None:
        """Drop the caller's credentials for this hop and every later one."""
        self.trusted = False
        self.auth = None
        self.extra_cookies = None
        for name in _CREDENTIAL_HEADERS:
            self.headers.pop(name, None)


class AsyncSession:
    """Persistent connections plus cookies, default headers, auth and redirects.

    Use it as a context manager (or call ``close()``) so its connections are closed.
    """

    def __init__(
        self,
        headers: HeadersLike | None = None,
        cookies: Any = None,
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
    ) -> None:
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
        coerce_auth(auth)  # a bad auth= fails now, not on the first request
        self.headers = _default_headers()
        if headers is not None:
            for name, value in _header_items(headers):
                self.headers[name] = value
        self.cookies = CookieJar(cookies)
        self.auth = auth
        self.params = params
        self.timeout = Timeout.coerce(timeout)
        self.verify = verify
        self.cert = cert
        self.trust_env = trust_env
        self.max_redirects = max_redirects
        # The most bytes .content decodes from a compressed body (docs/security.md).
        self.max_decoded_size = max_decoded_size
        self.pool = AsyncConnectionPool(
            max_connections=max_connections,
            max_connections_per_host=max_connections_per_host,
            keepalive_expiry=keepalive_expiry,
            retries=retries,
            timeout=self.timeout,
            verify=verify,
            cert=cert,
        )
        self.proxies: dict[str, str] = {}
        if trust_env:
            self.proxies.update(urllib.request.getproxies_environment())
        if proxies:
            self.proxies.update(proxies)
        self._proxy_choice: dict[tuple[str, str], Proxy | None] = {}
        self._closed = False
        # Requests go to the longest matching mounted prefix, else this transport; None
        # means the session's own pool (the fast path).
        self.transport = transport
        self._mounts: list[tuple[str, Any]] = []
        self.base_url = base_url if base_url is None or base_url.endswith("/") else base_url + "/"
        self.trace = trace

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

    # -- verbs ----------------------------------------------------------------------------------

    async def get(self, url: str, **kwargs: Any) -> Response:
        return await self.request("GET", url, **kwargs)

    async def head(self, url: str, **kwargs: Any) -> Response:
        kwargs.setdefault("allow_redirects", False)
        return await self.request("HEAD", url, **kwargs)

    async def options(self, url: str, **kwargs: Any) -> Response:
        return await self.request("OPTIONS", url, **kwargs)

    async def delete(self, url: str, **kwargs: Any) -> Response:
        return await self.request("DELETE", url, **kwargs)

    async def post(
        self, url: str, data: DataLike = None, json: Any = None, **kwargs: Any
    ) -> Response:
        return await self.request("POST", url, data=data, json=json, **kwargs)

    async def put(self, url: str, data: DataLike = None, **kwargs: Any) -> Response:
        return await self.request("PUT", url, data=data, **kwargs)

    async def patch(self, url: str, data: DataLike = None, **kwargs: Any) -> Response:
        return await self.request("PATCH", url, data=data, **kwargs)

    @contextlib.asynccontextmanager
    async def stream(self, method: str, url: str, **kwargs: Any) -> AsyncIterator[Response]:
        """``request(..., stream=True)`` as a context manager that closes the response."""
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
        cookies: Any = None,
        files: Any = None,
        auth: AuthLike = None,
        timeout: TimeoutLike = _UNSET,
        allow_redirects: bool = True,
        stream: bool = False,
        verify: tls.VerifyLike | None = None,
        cert: tls.CertLike = None,
        json: Any = None,
        trace: Trace | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> Response:
        """Send a request; follow redirects; return the response (body read unless ``stream``).

        ``timeout`` omitted uses the session's; ``None`` means no limit at all. Credentials
        in ``user:password@`` of the URL are sent as Basic auth when neither ``auth`` nor the
        session's ``auth`` is set (requests' order), and never as part of the URL.
        """
        if self._closed:
            raise PoolClosed("the session is closed: make a new Session")
        if not isinstance(method, str):
            raise InvalidArgumentType(
                f"method must be a str such as 'GET', not {type(method).__name__}"
            )
        if not isinstance(url, str):
            raise InvalidArgumentType(f"url must be a str, not {type(url).__name__}")
        if self.base_url is not None and "://" not in url:
            # Relative to the session's base URL, as urljoin does after a trailing "/".
            url = urljoin(self.base_url, url)
        method = method.upper()
        url_auth = None
        if "@" in url:
            url, url_auth = split_userinfo(url)
        url = self._merge_params(url, params)
        merged = self.headers.copy()
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
        if auth is None:
            auth = self.auth if self.auth is not None else url_auth
        outgoing = _Outgoing(
            method, url, merged, make_body(body), extra_cookies, coerce_auth(auth),
            limits, verify, cert, trace if trace is not None else self.trace, proxies,
        )  # fmt: skip
        response = await self._send_handling_redirects(outgoing, allow_redirects)
        if not stream:
            await response.aread()
        return response

    async def _send_handling_redirects(self, out: _Outgoing, allow_redirects: bool) -> Response:
        history: list[Response] = []
        while True:
            response = await self._send_once(out)
            if not (allow_redirects and response.status_code in REDIRECT_STATUSES):
                break
            location = response.headers.get("location")
            if location is None:
                break
            # Every raise below comes after this close, so an error object the caller keeps
            # alive never holds a connection (a pool slot) busy.
            await response.aclose()  # drains a small body: the connection goes back to the pool
            if len(history) >= self.max_redirects:
                raise TooManyRedirects(
                    f"more than {self.max_redirects} redirects, the last to {location!r} "
                    f"from {out.url}"
                )
            history.extend(response.history)  # a 401 answered on this hop comes first
            history.append(response)
            next_url = self._redirect_url(out.url, location)
            self._redirect_request(out, response.status_code)
            if out.trusted and not _keeps_credentials(out.url, next_url):
                out.leave_origin()
            out.url = next_url
        response.history = history + response.history
        return response

    async def _send_once(self, out: _Outgoing) -> Response:
        method, url, headers, body = out.method, out.url, out.headers, out.body
        send_headers = headers
        if "cookie" not in headers:
            if out.trusted:
                cookie = self.cookies.cookie_header(url)
                if out.extra_cookies is not None:
                    more = out.extra_cookies.cookie_header(url)
                    cookie = more if cookie is None else (f"{cookie}; {more}" if more else cookie)
            else:
                cookie = _site_cookie_header(self.cookies, url)
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

        async def send(headers: Headers) -> Response:
            if transport is None:
                try:
                    raw = await self.pool.request(
                        method, url, headers, body, timeout=out.limits, verify=out.verify,
                        cert=out.cert, proxy=proxy, trace=out.trace,
                    )  # fmt: skip
                except RetryError as exc:
                    if exc.response is not None and not isinstance(exc.response, Response):
                        last = Request(method, url, headers)
                        exc.response = Response._from_raw(exc.response, last, url)
                    raise
                response = Response._from_raw(raw, Request(method, url, headers), url)
            else:
                response = await self._send_through(transport, method, url, headers, body)
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
                challenge = response
                response = await send(retry_headers)
                response.history = [challenge]
        return response

    async def _send_through(
        self, transport: Any, method: str, url: str, headers: Headers, body: RequestBody
    ) -> Response:
        """Send through a transport other than the pool; wrap what it returns."""
        if body.stream is None:
            data: bytes | None = bytes(body.data) if body.data else None
        else:
            data = b"".join([bytes(chunk) async for chunk in body.achunks()])
        request = Request(method, url, headers, data)
        result = await transport.handle_async_request(request)
        if isinstance(result, Response):
            result.request, result.url = request, url
            return result
        return Response._from_raw(result, request, url)

    def _store_cookies(self, response: Response, url: str) -> None:
        raw = response._raw
        if raw.has_header(b"set-cookie"):
            response.cookies = self.cookies.extract(url, raw.headers.get_list("set-cookie"))

    # -- pieces --------------------------------------------------------------------------------

    def _merge_params(self, url: str, params: ParamsLike) -> str:
        if self.params is None and params is None:
            return url
        extra = "&".join(q for q in (_encode_params(self.params), _encode_params(params)) if q)
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
                raise LocalProtocolError(f"json= cannot be serialised: {exc}") from exc
            return text.encode("utf-8"), "application/json"
        if files is not None:
            if data is not None and not isinstance(data, Mapping | list | tuple):
                raise LocalProtocolError("with files=, data= must be a dict or list of pairs")
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
            return urlencode(data, doseq=True).encode("ascii"), "application/x-www-form-urlencoded"
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
        try:
            next_url = urljoin(url, location.strip())
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
                    return _parse_proxy(chosen, self.verify)
            return None
        if not self.proxies:
            return None
        scheme, host, port, _ = split_url(url)
        key = (scheme, host if port == DEFAULT_PORTS[scheme] else f"{host}:{port}")
        try:
            return self._proxy_choice[key]
        except KeyError:
            pass
        proxy_url = self.proxies.get(scheme) or self.proxies.get("all")
        choice = None
        if proxy_url and not self._bypass(key[1]):
            choice = _parse_proxy(proxy_url, self.verify)
        self._proxy_choice[key] = choice
        return choice

    def _bypass(self, host: str) -> bool:
        no_proxy = self.proxies.get("no")
        if not no_proxy:
            return False
        bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
        return bool(bypass(host, {"no": no_proxy}))


def _rewind_or_raise(body: RequestBody, why: str) -> None:
    """Make ``body`` ready to be sent again (a file goes back to where it started when the
    request was built), or raise ``LocalProtocolError`` saying ``why`` a re-send was needed."""
    if body.rewind():
        return
    raise LocalProtocolError(
        f"cannot {why}: the request body was a stream that has been sent already; "
        "pass bytes or a seekable file to allow re-sending it"
    )
