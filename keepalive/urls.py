"""URL splitting for the pool and session: origin, request target, IDNA hosts, ``InvalidURL``.

``urllib.parse`` does the splitting; this module adds what sending needs (a default port, an
ASCII host, a request-target that is never empty) and caches the result, since a client
sends to the same few URLs over and over. ``requote_url`` turns a URL as people type it
(``https://bücher.example/straße?q=a b``) into one that can be sent, as requests does.
"""

from __future__ import annotations

import functools
import re
from typing import NamedTuple
from urllib.parse import SplitResult, quote, unquote, urlsplit, urlunsplit

from .exceptions import InvalidSchema, InvalidURL, MissingSchema

__all__ = [
    "DEFAULT_PORTS",
    "Origin",
    "ascii_host",
    "requote_url",
    "split_url",
    "split_userinfo",
]

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


class _HostWithoutScheme(MissingSchema, InvalidSchema):
    """``host:port`` without ``http://``: the scheme is missing, yet requests reads ``host``
    as a scheme and raises ``InvalidSchema``; either ``except`` catches this one."""


def _scheme_problem(url: str, scheme: str) -> InvalidURL:
    """Why ``url`` has no usable scheme, with the URL the caller probably meant:
    ``MissingSchema`` or ``InvalidSchema`` (requests' names)."""
    text = url.strip()
    if not scheme:
        if text.startswith("//"):  # scheme-relative (RFC 3986 section 4.2)
            return MissingSchema(f"no scheme in URL {url!r}: did you mean 'http:{text}'?")
        if text.startswith("/"):
            return MissingSchema(
                f"{url!r} is a relative URL: give an absolute one, such as 'http://HOST{text}'"
            )
        if _HOST_PORT.match(text):  # "10.0.0.1:3128": requests calls that InvalidSchema
            return _HostWithoutScheme(f"no scheme in URL {url!r}: did you mean 'http://{text}'?")
        return MissingSchema(f"no scheme in URL {url!r}: did you mean 'http://{text}'?")
    # urlsplit reads "localhost:8000" as scheme "localhost" and path "8000": a host and
    # port without "http://", not a scheme of its own.
    if _PORT_FIRST.match(text, len(scheme) + 1):
        return _HostWithoutScheme(f"no scheme in URL {url!r}: did you mean 'http://{text}'?")
    return InvalidSchema(f"unsupported scheme {scheme.lower()!r} in {url!r}: use http or https")


_PORT_FIRST = re.compile(r"[0-9]+(?:[/?#]|$)")
_HOST_PORT = re.compile(r"[^/?#:@]+:[0-9]+(?:[/?#]|$)")


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
        raise _scheme_problem(url, parts.scheme)
    host = parts.hostname
    if not host:
        raise InvalidURL(f"no host in URL {url!r}")
    if any(c in host for c in " \t\r\n/\\@") or host[0] in "*." or ".." in host:
        # A wildcard or an empty label (RFC 1035 section 2.3.1; a final "." is the root,
        # allowed) names no host: say so now rather than after a failed DNS lookup.
        raise InvalidURL(f"bad host {host!r} in URL {url!r}")
    if port == 0:
        raise InvalidURL(f"bad port 0 in URL {url!r}")
    target = parts.path or "/"
    if parts.query:
        target = f"{target}?{parts.query}"
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in target):
        raise InvalidURL(f"URL {url!r} has spaces or control characters in its path or query")
    if not target.isascii():
        # A request-target is ASCII (RFC 9112 section 3.2): anything else is sent as its
        # UTF-8 bytes percent-encoded (RFC 3986 section 2.1), the only reading there is.
        target = quote(target, safe=_SAFE)
    return Origin(scheme, ascii_host(host), port or DEFAULT_PORTS[scheme], target)


# What may stand unescaped in a URL (RFC 3986 section 2: reserved and unreserved
# characters, and "%" of an escape); requests' requote_uri keeps the same set.
_SAFE = "!#$%&'()*+,/:;=?@[]~"
_UNSAFE = re.compile(r"[^A-Za-z0-9\-._~!#$&'()*+,/:;=?@\[\]]|%(?![0-9A-Fa-f]{2})")
_LONE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@functools.lru_cache(maxsize=1024)
def requote_url(url: str) -> str:
    """``url`` ready to send, as requests prepares it: an internationalised host in IDNA
    (RFC 5891), and in the path, query and fragment every character a URL cannot hold
    (non-ASCII as its UTF-8 bytes, spaces, ``"<>\\^`{|}``) percent-encoded (RFC 3986
    section 2.1). Escapes already there (``%2F``) are kept as they are; a ``%`` that starts
    none becomes ``%25``. Control characters raise ``InvalidURL``: they are never part of a
    URL, and sending them escaped would hide a bug (or a header injection) in the caller.

    An http(s) URL with an empty path gets ``/`` (``http://host?q`` is ``http://host/?q``):
    the two are equivalent (RFC 3986 section 6.2.3) and requests shows the latter.

    A URL that needs nothing is returned as it is, after two regular-expression scans.
    """
    url = url.strip()
    if url.isascii() and _UNSAFE.search(url) is None:
        return _with_path(url)
    if _CONTROL.search(url):
        raise InvalidURL(f"URL {url!r} has control characters")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise InvalidURL(f"bad URL {url!r}: {exc}") from exc
    netloc = parts.netloc
    if not netloc.isascii():
        userinfo, at, hostport = netloc.rpartition("@")
        host, colon, port = hostport, "", ""
        if not hostport.startswith("[") and ":" in hostport:
            host, colon, port = hostport.rpartition(":")
        netloc = f"{userinfo}{at}{ascii_host(host)}{colon}{port}"

    def escape(part: str) -> str:
        return quote(_LONE_PERCENT.sub("%25", part), safe=_SAFE)

    path, query, fragment = (escape(p) for p in (parts.path, parts.query, parts.fragment))
    return _with_path(urlunsplit((parts.scheme, netloc, path, query, fragment)))


# An http(s) URL whose authority is followed by a query, a fragment or nothing: no path.
_NO_PATH = re.compile(r"[Hh][Tt][Tt][Pp][Ss]?://[^/?#]*(?=[?#]|\Z)")


def _with_path(url: str) -> str:
    match = _NO_PATH.match(url)
    if match is None:
        return url
    end = match.end()
    return f"{url[:end]}/{url[end:]}"


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
