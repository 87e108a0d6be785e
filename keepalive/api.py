"""One-shot requests: each call makes its own ``Session`` and closes it afterwards.

The functions take ``Session.request``'s arguments (in requests' order) plus the session
settings a single request may want (``max_redirects``, ``trust_env``, ``proxies``,
``retries``, ``keepalive_expiry``), each spelled out so that ``help()`` and type checkers
see every keyword.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import tls
from ._state import Trace
from .cookies import CookiesLike
from .models import UNSET, HeadersLike, TimeoutLike
from .response import Response
from .retry import Retry
from .session import (
    AuthLike,
    DataLike,
    FilesLike,
    HooksLike,
    ParamsLike,
    Session,
)

__all__ = ["delete", "get", "head", "options", "patch", "post", "put", "request"]


def request(
    method: str,
    url: str,
    params: ParamsLike = None,
    data: DataLike = None,
    headers: HeadersLike | None = None,
    cookies: CookiesLike | None = None,
    files: FilesLike = None,
    auth: AuthLike = None,
    timeout: TimeoutLike = UNSET,
    allow_redirects: bool = True,
    proxies: Mapping[str, str] | None = None,
    hooks: HooksLike = None,
    stream: bool = False,
    verify: tls.VerifyLike | None = None,
    cert: tls.CertLike = None,
    json: Any = None,
    *,
    trace: Trace | None = None,
    event_hooks: HooksLike = None,
    max_redirects: int = 20,
    trust_env: bool = True,
    retries: int | Retry = 1,
    keepalive_expiry: float | None = 30.0,
) -> Response:
    """Send one request on a throwaway session (``Session.request``'s arguments; the last
    four keywords configure the session). ``proxies`` are merged with the environment's.

    With ``stream=True`` the session stays open until the response is read or closed.
    """
    session = Session(
        proxies=proxies, trust_env=trust_env, max_redirects=max_redirects, retries=retries,
        keepalive_expiry=keepalive_expiry,
    )  # fmt: skip
    try:
        response = session.request(
            method, url, params, data, headers, cookies, files, auth, timeout, allow_redirects,
            None, hooks, stream, verify, cert, json, trace=trace, event_hooks=event_hooks,
        )  # fmt: skip
    except BaseException:
        session.close()
        raise
    if stream:
        response._closers.append(session.close)
    else:
        session.close()
    return response


def get(
    url: str,
    params: ParamsLike = None,
    *,
    data: DataLike = None,
    headers: HeadersLike | None = None,
    cookies: CookiesLike | None = None,
    files: FilesLike = None,
    auth: AuthLike = None,
    timeout: TimeoutLike = UNSET,
    allow_redirects: bool = True,
    proxies: Mapping[str, str] | None = None,
    hooks: HooksLike = None,
    stream: bool = False,
    verify: tls.VerifyLike | None = None,
    cert: tls.CertLike = None,
    json: Any = None,
    trace: Trace | None = None,
    event_hooks: HooksLike = None,
    max_redirects: int = 20,
    trust_env: bool = True,
    retries: int | Retry = 1,
    keepalive_expiry: float | None = 30.0,
) -> Response:
    """Send a GET request on a throwaway session; the keywords are ``request``'s."""
    return request(
        "GET", url, params, data, headers, cookies, files, auth, timeout, allow_redirects,
        proxies, hooks, stream, verify, cert, json, trace=trace, event_hooks=event_hooks,
        max_redirects=max_redirects, trust_env=trust_env, retries=retries,
        keepalive_expiry=keepalive_expiry,
    )  # fmt: skip


def head(
    url: str,
    params: ParamsLike = None,
    *,
    data: DataLike = None,
    headers: HeadersLike | None = None,
    cookies: CookiesLike | None = None,
    files: FilesLike = None,
    auth: AuthLike = None,
    timeout: TimeoutLike = UNSET,
    allow_redirects: bool = False,
    proxies: Mapping[str, str] | None = None,
    hooks: HooksLike = None,
    stream: bool = False,
    verify: tls.VerifyLike | None = None,
    cert: tls.CertLike = None,
    json: Any = None,
    trace: Trace | None = None,
    event_hooks: HooksLike = None,
    max_redirects: int = 20,
    trust_env: bool = True,
    retries: int | Retry = 1,
    keepalive_expiry: float | None = 30.0,
) -> Response:
    """Send a HEAD request on a throwaway session; redirects are not followed unless
    ``allow_redirects=True`` (as in requests). The keywords are ``request``'s."""
    return request(
        "HEAD", url, params, data, headers, cookies, files, auth, timeout, allow_redirects,
        proxies, hooks, stream, verify, cert, json, trace=trace, event_hooks=event_hooks,
        max_redirects=max_redirects, trust_env=trust_env, retries=retries,
        keepalive_expiry=keepalive_expiry,
    )  # fmt: skip


def options(
    url: str,
    params: ParamsLike = None,
    *,
    data: DataLike = None,
    headers: HeadersLike | None = None,
    cookies: CookiesLike | None = None,
    files: FilesLike = None,
    auth: AuthLike = None,
    timeout: TimeoutLike = UNSET,
    allow_redirects: bool = True,
    proxies: Mapping[str, str] | None = None,
    hooks: HooksLike = None,
    stream: bool = False,
    verify: tls.VerifyLike | None = None,
    cert: tls.CertLike = None,
    json: Any = None,
    trace: Trace | None = None,
    event_hooks: HooksLike = None,
    max_redirects: int = 20,
    trust_env: bool = True,
    retries: int | Retry = 1,
    keepalive_expiry: float | None = 30.0,
) -> Response:
    """Send an OPTIONS request on a throwaway session; the keywords are ``request``'s."""
    return request(
        "OPTIONS", url, params, data, headers, cookies, files, auth, timeout, allow_redirects,
        proxies, hooks, stream, verify, cert, json, trace=trace, event_hooks=event_hooks,
        max_redirects=max_redirects, trust_env=trust_env, retries=retries,
        keepalive_expiry=keepalive_expiry,
    )  # fmt: skip


def delete(
    url: str,
    params: ParamsLike = None,
    *,
    data: DataLike = None,
    headers: HeadersLike | None = None,
    cookies: CookiesLike | None = None,
    files: FilesLike = None,
    auth: AuthLike = None,
    timeout: TimeoutLike = UNSET,
    allow_redirects: bool = True,
    proxies: Mapping[str, str] | None = None,
    hooks: HooksLike = None,
    stream: bool = False,
    verify: tls.VerifyLike | None = None,
    cert: tls.CertLike = None,
    json: Any = None,
    trace: Trace | None = None,
    event_hooks: HooksLike = None,
    max_redirects: int = 20,
    trust_env: bool = True,
    retries: int | Retry = 1,
    keepalive_expiry: float | None = 30.0,
) -> Response:
    """Send a DELETE request on a throwaway session; the keywords are ``request``'s."""
    return request(
        "DELETE", url, params, data, headers, cookies, files, auth, timeout, allow_redirects,
        proxies, hooks, stream, verify, cert, json, trace=trace, event_hooks=event_hooks,
        max_redirects=max_redirects, trust_env=trust_env, retries=retries,
        keepalive_expiry=keepalive_expiry,
    )  # fmt: skip


def post(
    url: str,
    data: DataLike = None,
    json: Any = None,
    *,
    params: ParamsLike = None,
    headers: HeadersLike | None = None,
    cookies: CookiesLike | None = None,
    files: FilesLike = None,
    auth: AuthLike = None,
    timeout: TimeoutLike = UNSET,
    allow_redirects: bool = True,
    proxies: Mapping[str, str] | None = None,
    hooks: HooksLike = None,
    stream: bool = False,
    verify: tls.VerifyLike | None = None,
    cert: tls.CertLike = None,
    trace: Trace | None = None,
    event_hooks: HooksLike = None,
    max_redirects: int = 20,
    trust_env: bool = True,
    retries: int | Retry = 1,
    keepalive_expiry: float | None = 30.0,
) -> Response:
    """Send a POST request with ``data`` or ``json`` on a throwaway session; the keywords
    are ``request``'s."""
    return request(
        "POST", url, params, data, headers, cookies, files, auth, timeout, allow_redirects,
        proxies, hooks, stream, verify, cert, json, trace=trace, event_hooks=event_hooks,
        max_redirects=max_redirects, trust_env=trust_env, retries=retries,
        keepalive_expiry=keepalive_expiry,
    )  # fmt: skip


def put(
    url: str,
    data: DataLike = None,
    *,
    json: Any = None,
    params: ParamsLike = None,
    headers: HeadersLike | None = None,
    cookies: CookiesLike | None = None,
    files: FilesLike = None,
    auth: AuthLike = None,
    timeout: TimeoutLike = UNSET,
    allow_redirects: bool = True,
    proxies: Mapping[str, str] | None = None,
    hooks: HooksLike = None,
    stream: bool = False,
    verify: tls.VerifyLike | None = None,
    cert: tls.CertLike = None,
    trace: Trace | None = None,
    event_hooks: HooksLike = None,
    max_redirects: int = 20,
    trust_env: bool = True,
    retries: int | Retry = 1,
    keepalive_expiry: float | None = 30.0,
) -> Response:
    """Send a PUT request on a throwaway session; the keywords are ``request``'s."""
    return request(
        "PUT", url, params, data, headers, cookies, files, auth, timeout, allow_redirects,
        proxies, hooks, stream, verify, cert, json, trace=trace, event_hooks=event_hooks,
        max_redirects=max_redirects, trust_env=trust_env, retries=retries,
        keepalive_expiry=keepalive_expiry,
    )  # fmt: skip


def patch(
    url: str,
    data: DataLike = None,
    *,
    json: Any = None,
    params: ParamsLike = None,
    headers: HeadersLike | None = None,
    cookies: CookiesLike | None = None,
    files: FilesLike = None,
    auth: AuthLike = None,
    timeout: TimeoutLike = UNSET,
    allow_redirects: bool = True,
    proxies: Mapping[str, str] | None = None,
    hooks: HooksLike = None,
    stream: bool = False,
    verify: tls.VerifyLike | None = None,
    cert: tls.CertLike = None,
    trace: Trace | None = None,
    event_hooks: HooksLike = None,
    max_redirects: int = 20,
    trust_env: bool = True,
    retries: int | Retry = 1,
    keepalive_expiry: float | None = 30.0,
) -> Response:
    """Send a PATCH request on a throwaway session; the keywords are ``request``'s."""
    return request(
        "PATCH", url, params, data, headers, cookies, files, auth, timeout, allow_redirects,
        proxies, hooks, stream, verify, cert, json, trace=trace, event_hooks=event_hooks,
        max_redirects=max_redirects, trust_env=trust_env, retries=retries,
        keepalive_expiry=keepalive_expiry,
    )  # fmt: skip
