"""One-shot requests: each call makes its own ``Session`` and closes it afterwards."""

from __future__ import annotations

from typing import Any

from .response import Response
from .session import Session

__all__ = ["delete", "get", "head", "options", "patch", "post", "put", "request"]

_SESSION_ARGS = frozenset({"max_redirects", "trust_env", "proxies", "retries", "keepalive_expiry"})


def request(method: str, url: str, **kwargs: Any) -> Response:
    """Send one request on a throwaway session.

    With ``stream=True`` the session stays open until the response is read or closed.
    """
    session_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in _SESSION_ARGS}
    session = Session(**session_kwargs)
    try:
        response = session.request(method, url, **kwargs)
    except BaseException:
        session.close()
        raise
    if kwargs.get("stream"):
        response._closers.append(session.close)
    else:
        session.close()
    return response


def get(url: str, **kwargs: Any) -> Response:
    return request("GET", url, **kwargs)


def head(url: str, **kwargs: Any) -> Response:
    kwargs.setdefault("allow_redirects", False)
    return request("HEAD", url, **kwargs)


def options(url: str, **kwargs: Any) -> Response:
    return request("OPTIONS", url, **kwargs)


def delete(url: str, **kwargs: Any) -> Response:
    return request("DELETE", url, **kwargs)


def post(url: str, data: Any = None, json: Any = None, **kwargs: Any) -> Response:
    return request("POST", url, data=data, json=json, **kwargs)


def put(url: str, data: Any = None, **kwargs: Any) -> Response:
    return request("PUT", url, data=data, **kwargs)


def patch(url: str, data: Any = None, **kwargs: Any) -> Response:
    return request("PATCH", url, data=data, **kwargs)
