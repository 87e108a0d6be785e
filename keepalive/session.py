"""``Session``: what a ``requests``/``httpx`` user reaches for, on top of the connection pool.

A session owns one ``ConnectionPool``, a ``CookieJar`` and default headers, and turns each
call into pool requests: it builds the URL and body, adds cookies and auth, follows
redirects (draining each redirect body so its connection is reused), answers a Digest
challenge over the same kept-alive connection, and decodes the content. Proxy settings
from the environment are read once, when the session is made.
"""

from __future__ import annotations

import json as jsonlib
import urllib.request
from collections.abc import Iterable, Mapping
from typing import IO, Any, Union
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

from . import tls
from ._version import __version__
from .auth import Auth, coerce_auth
from .connection import Proxy
from .cookies import CookieJar
from .decoders import ACCEPT_ENCODING
from .exceptions import InvalidURL, LocalProtocolError, PoolClosed, TooManyRedirects
from .models import Headers, HeadersLike, Timeout, TimeoutLike
from .multipart import encode_multipart
from .pool import ConnectionPool
from .response import REDIRECT_STATUSES, Request, Response
from .urls import DEFAULT_PORTS, split_url

__all__ = ["Session"]

ParamsLike = Union[Mapping[str, Any], Iterable[tuple[str, Any]], str, bytes, None]
AuthLike = Union[tuple[str | bytes, str | bytes], Auth, None]
DataLike = Union[bytes, str, Mapping[str, Any], Iterable[Any], IO[bytes], None]

# Sent per request by the caller; never carried to another origin or down to http
# (SPEC.md security defaults; RFC 9110 section 15.4 leaves it to the client).
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
    return list(headers)


def _parse_proxy(url: str) -> Proxy:
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme != "http":
        raise InvalidURL(
            f"proxy {url!r}: only http:// proxies are supported (https:// targets go through "
            "them with CONNECT)"
        )
    if not parts.hostname:
        raise InvalidURL(f"proxy URL {url!r} has no host")
    headers: tuple[tuple[str, str], ...] = ()
    if parts.username is not None:
        from urllib.parse import unquote

        from .auth import BasicAuth

        value = BasicAuth(unquote(parts.username), unquote(parts.password or "")).auth_header(
            "CONNECT", url
        )
        assert value is not None
        headers = (("Proxy-Authorization", value),)
    return Proxy(parts.hostname, parts.port or 80, headers)


def _encode_params(params: ParamsLike) -> str:
    if params is None:
        return ""
    if isinstance(params, bytes):
        return params.decode("ascii")
    if isinstance(params, str):
        return params.lstrip("?")
    items = params.items() if isinstance(params, Mapping) else params
    flat = [(k, v) for k, v in items if v is not None]
    return urlencode(flat, doseq=True)


class Session:
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
        retries: int = 1,
    ) -> None:
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
        self.pool = ConnectionPool(
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

    # -- life cycle -------------------------------------------------------------------------------

    def close(self) -> None:
        self._closed = True
        self.pool.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Session {self.pool!r}>"

    # -- verbs ----------------------------------------------------------------------------------

    def get(self, url: str, **kwargs: Any) -> Response:
        return self.request("GET", url, **kwargs)

    def head(self, url: str, **kwargs: Any) -> Response:
        kwargs.setdefault("allow_redirects", False)
        return self.request("HEAD", url, **kwargs)

    def options(self, url: str, **kwargs: Any) -> Response:
        return self.request("OPTIONS", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> Response:
        return self.request("DELETE", url, **kwargs)

    def post(self, url: str, data: DataLike = None, json: Any = None, **kwargs: Any) -> Response:
        return self.request("POST", url, data=data, json=json, **kwargs)

    def put(self, url: str, data: DataLike = None, **kwargs: Any) -> Response:
        return self.request("PUT", url, data=data, **kwargs)

    def patch(self, url: str, data: DataLike = None, **kwargs: Any) -> Response:
        return self.request("PATCH", url, data=data, **kwargs)

    # -- the request ------------------------------------------------------------------------------

    def request(
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
    ) -> Response:
        """Send a request; follow redirects; return the response (body read unless ``stream``).

        ``timeout`` omitted uses the session's; ``None`` means no limit at all.
        """
        if self._closed:
            raise PoolClosed("the session is closed: make a new Session")
        method = method.upper()
        url = self._merge_params(url, params)
        merged = self.headers.copy()
        if headers is not None:
            for name, value in _header_items(headers):
                if value is None:
                    merged.pop(name, None)
                else:
                    merged[name] = value
        body, content_type = self._encode_body(data, json, files)
        if content_type is not None and "content-type" not in merged:
            merged["Content-Type"] = content_type
        extra_cookies = CookieJar(cookies) if cookies else None
        limits = self.timeout if timeout is _UNSET else Timeout.coerce(timeout)
        auth_obj = coerce_auth(auth if auth is not None else self.auth)
        response = self._send_handling_redirects(
            method, url, merged, body, extra_cookies, auth_obj, limits,
            allow_redirects, verify, cert,
        )  # fmt: skip
        if not stream:
            response.read()
        return response

    def _send_handling_redirects(
        self,
        method: str,
        url: str,
        headers: Headers,
        body: Any,
        extra_cookies: CookieJar | None,
        auth: Auth | None,
        limits: Timeout,
        allow_redirects: bool,
        verify: tls.VerifyLike | None,
        cert: tls.CertLike,
    ) -> Response:
        history: list[Response] = []
        first_origin = split_url(url)[:3]
        while True:
            same_origin = split_url(url)[:3] == first_origin
            response = self._send_once(
                method, url, headers, body, extra_cookies, auth if same_origin else None,
                limits, verify, cert,
            )  # fmt: skip
            if not (allow_redirects and response.status_code in REDIRECT_STATUSES):
                break
            location = response.headers.get("location")
            if location is None:
                break
            if len(history) >= self.max_redirects:
                response.close()
                raise TooManyRedirects(
                    f"more than {self.max_redirects} redirects, the last to {location!r} from {url}"
                )
            response.close()  # drains a small body: the connection goes back to the pool
            history.extend(response.history)  # a 401 answered on this hop comes first
            history.append(response)
            next_url = self._redirect_url(url, location)
            method, body, headers = self._redirect_request(
                response.status_code, method, body, headers
            )
            if split_url(url)[:3] != split_url(next_url)[:3]:
                # Another origin, or https -> http: credentials stay behind. Jar cookies are
                # matched afresh for every hop, so only a hand-written Cookie goes here.
                for name in _CREDENTIAL_HEADERS:
                    headers.pop(name, None)
            url = next_url
        response.history = history + response.history
        return response

    def _send_once(
        self,
        method: str,
        url: str,
        headers: Headers,
        body: Any,
        extra_cookies: CookieJar | None,
        auth: Auth | None,
        limits: Timeout,
        verify: tls.VerifyLike | None,
        cert: tls.CertLike,
    ) -> Response:
        send_headers = headers
        if "cookie" not in headers:
            cookie = self.cookies.cookie_header(url)
            if extra_cookies is not None:
                more = extra_cookies.cookie_header(url)
                cookie = more if cookie is None else (f"{cookie}; {more}" if more else cookie)
            if cookie:
                send_headers = headers.copy()
                send_headers["Cookie"] = cookie
        if auth is not None and "authorization" not in headers:
            value = auth.auth_header(method, url)
            if value is not None:
                send_headers = send_headers.copy() if send_headers is headers else send_headers
                send_headers["Authorization"] = value
        proxy = self._proxy_for(url)

        def send(headers: Headers) -> Response:
            raw = self.pool.request(
                method, url, headers, body, timeout=limits, verify=verify, cert=cert, proxy=proxy
            )
            response = Response(raw, Request(method, url, headers), url)
            self._store_cookies(response, url)
            return response

        response = send(send_headers)
        if auth is not None and response.status_code == 401:
            retry_value = auth.retry_header(method, url, 401, response.headers)
            if retry_value is not None:
                _replayable_or_raise(body, "answer the authentication challenge")
                response.close()  # drain: the retry goes over the same kept-alive connection
                retry_headers = send_headers.copy()
                retry_headers["Authorization"] = retry_value
                challenge = response
                response = send(retry_headers)
                response.history = [challenge]
        return response

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
        if hasattr(data, "read") or isinstance(data, Iterable):
            return data, None
        raise LocalProtocolError(
            f"cannot send data of type {type(data).__name__}: give bytes, str, a dict, "
            "a list of pairs, a file object or an iterator of bytes"
        )

    def _redirect_url(self, url: str, location: str) -> str:
        next_url = urljoin(url, location.strip())
        fragment = urlsplit(url).fragment
        parts = urlsplit(next_url)
        if fragment and not parts.fragment:
            # RFC 9110 section 10.2.2: a Location without a fragment inherits the original's.
            next_url = urlunsplit((*parts[:4], fragment))
        split_url(next_url)  # InvalidURL for ftp:// and friends
        return next_url

    @staticmethod
    def _redirect_request(
        status: int, method: str, body: Any, headers: Headers
    ) -> tuple[str, Any, Headers]:
        """RFC 9110 section 15.4: 303 becomes GET; 301/302 turn POST into GET as browsers
        do; 307/308 repeat method and body, which must then be replayable."""
        headers = headers.copy()
        if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
            for name in _BODY_HEADERS:
                headers.pop(name, None)
            return "GET", None, headers
        if body is not None:
            _replayable_or_raise(body, f"follow the {status} redirect")
            if hasattr(body, "seek"):
                body.seek(0)
        return method, body, headers

    def _proxy_for(self, url: str) -> Proxy | None:
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
            choice = _parse_proxy(proxy_url)
        self._proxy_choice[key] = choice
        return choice

    def _bypass(self, host: str) -> bool:
        no_proxy = self.proxies.get("no")
        if not no_proxy:
            return False
        bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
        return bool(bypass(host, {"no": no_proxy}))


def _replayable_or_raise(body: Any, why: str) -> None:
    if body is None or isinstance(body, bytes | bytearray | memoryview | str):
        return
    if hasattr(body, "seek") and hasattr(body, "tell"):
        return
    raise LocalProtocolError(
        f"cannot {why}: the request body was a stream that has been sent already; "
        "pass bytes or a seekable file to allow re-sending it"
    )
