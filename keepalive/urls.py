"""URL splitting for the pool and session: origin, request target, IDNA hosts, ``InvalidURL``.

``urllib.parse`` does the splitting; this module adds what sending needs (a default port, an
ASCII host, a request-target that is never empty) and caches the result, since a client
sends to the same few URLs over and over.
"""

from __future__ import annotations

import functools
import re
from typing import NamedTuple
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

from .exceptions import InvalidURL

__all__ = ["DEFAULT_PORTS", "Origin", "ascii_host", "split_url", "split_userinfo"]

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


def _scheme_problem(url: str, scheme: str) -> str:
    """Why ``url`` has no usable scheme, with the URL the caller probably meant."""
    text = url.strip()
    if not scheme:
        if text.startswith("//"):  # scheme-relative (RFC 3986 section 4.2)
            return f"no scheme in URL {url!r}: did you mean 'http:{text}'?"
        if text.startswith("/"):
            return f"{url!r} is a relative URL: give an absolute one, such as 'http://HOST{text}'"
        return f"no scheme in URL {url!r}: did you mean 'http://{text}'?"
    # urlsplit reads "localhost:8000" as scheme "localhost" and path "8000": a host and
    # port without "http://", not a scheme of its own.
    if _PORT_FIRST.match(text, len(scheme) + 1):
        return f"no scheme in URL {url!r}: did you mean 'http://{text}'?"
    return f"unsupported scheme {scheme.lower()!r} in {url!r}: use http or https"


_PORT_FIRST = re.compile(r"[0-9]+(?:[/?#]|$)")


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
        raise InvalidURL(_scheme_problem(url, parts.scheme))
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


def split_userinfo(url: str) -> tuple[str, tuple[str, str] | None]:
    """``url`` without its ``user:password@`` part, and that pair percent-decoded (RFC 3986
    section 3.2.1), as requests decodes it; None when the URL carries no userinfo.

    The userinfo never goes on the wire as part of a URL: not in the request line (even the
    absolute form sent to a proxy), the ``Host`` header, cookie matching or ``response.url``.
    A missing password is the empty string.
    """
    try:
        parts = urlsplit(url)
        user, password = parts.username, parts.password
    except ValueError as exc:
        raise InvalidURL(f"bad URL {url!r}: {exc}") from exc
    if user is None:
        return url, None
    netloc = parts.netloc.rpartition("@")[2]
    bare = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return bare, (unquote(user), unquote(password or ""))
