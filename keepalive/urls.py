"""URL splitting for the pool and session: origin, request target, IDNA hosts, ``InvalidURL``.

``urllib.parse`` does the splitting; this module adds what sending needs (a default port, an
ASCII host, a request-target that is never empty) and caches the result, since a client
sends to the same few URLs over and over.
"""

from __future__ import annotations

import functools
from typing import NamedTuple
from urllib.parse import SplitResult, urlsplit

from .exceptions import InvalidURL

__all__ = ["DEFAULT_PORTS", "Origin", "ascii_host", "split_url"]

DEFAULT_PORTS = {"http": 80, "https": 443}


class Origin(NamedTuple):
    """Where a request goes (RFC 6454 origin) and what to put on its request line."""

    scheme: str
    host: str  # ASCII (IDNA-encoded), without IPv6 brackets
    port: int
    target: str  # origin-form request-target: path and query (RFC 9112 section 3.2.1)


def ascii_host(host: str) -> str:
    """``host`` in ASCII: IDNA 2003 encoding (the stdlib codec) for internationalised names."""
    if host.isascii():
        return host.lower()
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise InvalidURL(f"cannot encode host {host!r} for DNS: {exc}") from exc


@functools.lru_cache(maxsize=1024)
def split_url(url: str) -> Origin:
    """Split an absolute http(s) URL; raise ``InvalidURL`` naming what is wrong."""
    if not isinstance(url, str):
        raise InvalidURL(f"URL must be a str, not {type(url).__name__}")
    try:
        parts: SplitResult = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise InvalidURL(f"bad URL {url!r}: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        if not scheme:
            raise InvalidURL(f"no scheme in URL {url!r}: did you mean 'http://{url}'?")
        raise InvalidURL(f"unsupported scheme {scheme!r} in {url!r}: use http or https")
    host = parts.hostname
    if not host:
        raise InvalidURL(f"no host in URL {url!r}")
    if any(c in host for c in " \t\r\n/\\@"):
        raise InvalidURL(f"bad host {host!r} in URL {url!r}")
    if port == 0:
        raise InvalidURL(f"bad port 0 in URL {url!r}")
    target = parts.path or "/"
    if parts.query:
        target = f"{target}?{parts.query}"
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in target):
        raise InvalidURL(f"URL {url!r} has spaces or control characters in its path or query")
    return Origin(scheme, ascii_host(host), port or DEFAULT_PORTS[scheme], target)
