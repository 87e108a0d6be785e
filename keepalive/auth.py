"""HTTP authentication schemes the session can apply: Basic, Bearer and Digest.

The session talks to an ``Auth`` through two calls: ``auth_header`` gives the
``Authorization`` value for the first attempt, and ``retry_header``, shown the response,
may give a value to send the request once more with (Digest answers a 401 challenge this
way). Both return None when there is nothing to send.

Digest (RFC 7616) theory of operation: the first request to an origin goes out bare; its
401 carries a challenge (realm, nonce, algorithm, qop) that ``retry_header`` answers. The
challenge is then remembered per origin, so later requests to that origin carry a digest
for the same nonce straight away, counting ``nc`` up under a lock. When the server stops
accepting that nonce (``stale=true``, or simply a new nonce in a new 401), the next
``retry_header`` adopts the new one and restarts the count.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .exceptions import LocalProtocolError
from .models import Headers
from .urls import split_url

__all__ = [
    "Auth",
    "AuthBase",
    "AuthLike",
    "BasicAuth",
    "BearerAuth",
    "DigestAuth",
    "HTTPBasicAuth",
    "HTTPDigestAuth",
    "coerce_auth",
]


class Auth:
    """Base class: sends nothing. Subclasses override one or both hooks."""

    __slots__ = ()

    def auth_header(self, method: str, url: str) -> str | None:
        """The ``Authorization`` value for the first attempt at ``method url``, or None."""
        return None

    def retry_header(
        self, method: str, url: str, status_code: int, headers: Headers
    ) -> str | None:
        """After a response: an ``Authorization`` value to resend the request with, or None
        to keep the response. Called once per request; the session resends at most once."""
        return None


def _utf8(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def _check_header_safe(what: str, value: str) -> None:
    if any(c in value for c in "\r\n\x00"):
        raise LocalProtocolError(f"{what} must not contain CR, LF or NUL")


class BasicAuth(Auth):
    """``Authorization: Basic`` (RFC 7617); ``str`` credentials are sent as UTF-8."""

    __slots__ = ("_header", "username")

    def __init__(self, username: str | bytes, password: str | bytes) -> None:
        user, secret = _utf8(username), _utf8(password)
        # RFC 7617 section 2: the user-id and password are joined by the first colon, so
        # a user-id containing one cannot be sent.
        if b":" in user:
            raise LocalProtocolError("a Basic auth username must not contain ':'")
        self.username = username
        token = base64.b64encode(user + b":" + secret).decode("ascii")
        self._header = f"Basic {token}"

    def auth_header(self, method: str, url: str) -> str | None:
        return self._header

    def __repr__(self) -> str:
        return f"BasicAuth(username={self.username!r}, password='***')"


class BearerAuth(Auth):
    """``Authorization: Bearer <token>`` (RFC 6750 section 2.1)."""

    __slots__ = ("_header",)

    def __init__(self, token: str) -> None:
        _check_header_safe("a bearer token", token)
        self._header = f"Bearer {token}"

    def auth_header(self, method: str, url: str) -> str | None:
        return self._header

    def __repr__(self) -> str:
        return "BearerAuth(token='***')"


# --------------------------------------------------------------------------- challenges

# RFC 9110 section 11.6.1: challenge = auth-scheme [ 1*SP ( token68 / #auth-param ) ],
# auth-param = token BWS "=" BWS ( token / quoted-string ); one field may hold several
# challenges, separated by the same commas that separate parameters.
_TOKEN_RE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_TOKEN68_RE = re.compile(r"[A-Za-z0-9._~+/-]+=*(?=[ \t]*(?:,|$))")
_QUOTED_RE = re.compile(r'"((?:[^"\\]|\\.)*)"', re.DOTALL)
_QUOTED_PAIR_RE = re.compile(r"\\(.)", re.DOTALL)


def _skip_ws(value: str, pos: int) -> int:
    while pos < len(value) and value[pos] in " \t":
        pos += 1
    return pos


def parse_challenges(value: str) -> list[tuple[str, dict[str, str]]]:
    """Split a ``WWW-Authenticate`` value into ``(scheme, params)`` pairs.

    Schemes and parameter names are lower-cased; quoted values are unescaped. Malformed
    pieces are skipped rather than raised: a bad challenge just cannot be answered.
    """
    challenges: list[tuple[str, dict[str, str]]] = []
    params: dict[str, str] | None = None
    pos, end = 0, len(value)
    while pos < end:
        if value[pos] in " \t,":
            pos += 1
            continue
        token = _TOKEN_RE.match(value, pos)
        if token is None:  # garbage: resume after the next comma
            comma = value.find(",", pos)
            pos = end if comma < 0 else comma + 1
            continue
        after = _skip_ws(value, token.end())
        if params is not None and after < end and value[after] == "=":
            start = _skip_ws(value, after + 1)
            quoted = _QUOTED_RE.match(value, start)
            bare = None if quoted else _TOKEN_RE.match(value, start)
            if quoted:
                param, pos = _QUOTED_PAIR_RE.sub(r"\1", quoted.group(1)), quoted.end()
            elif bare:
                param, pos = bare.group(), bare.end()
            else:
                param, pos = "", start
            # RFC 9110 section 11.2: a parameter name occurs at most once; keep the first.
            params.setdefault(token.group().lower(), param)
            continue
        params = {}
        challenges.append((token.group().lower(), params))
        pos = after
        if after > token.end():
            token68 = _TOKEN68_RE.match(value, after)
            if token68:  # e.g. "Negotiate abc==": no parameters to keep for Digest
                pos = token68.end()
    return challenges


# --------------------------------------------------------------------------- digest

_HASHES: dict[str, Callable[[bytes], str]] = {
    "MD5": lambda data: hashlib.md5(data, usedforsecurity=False).hexdigest(),
    "SHA-256": lambda data: hashlib.sha256(data).hexdigest(),
}


@dataclass(frozen=True, slots=True)
class _Challenge:
    """The parts of a Digest challenge that shape our answer."""

    realm: str
    nonce: str
    opaque: str | None
    algorithm: str | None  # as the server spelt it; None when it sent none (MD5)
    hash_name: str  # key of _HASHES
    session: bool  # a "-sess" algorithm
    qop: str | None  # "auth", or None for the RFC 2069 form
    userhash: bool


def _digest_challenge(params: dict[str, str]) -> _Challenge | None:
    """A challenge we can answer, or None (no nonce, unknown algorithm, qop we cannot do)."""
    nonce = params.get("nonce")
    if not nonce:
        return None
    algorithm = params.get("algorithm")
    name = (algorithm or "MD5").upper()
    session = name.endswith("-SESS")
    hash_name = name[: -len("-SESS")] if session else name
    if hash_name not in _HASHES:
        return None
    offered = {q.strip().lower() for q in params.get("qop", "").split(",")}
    # We never claim auth-int (it would need the body). A server offering only auth-int,
    # or no qop at all, gets the RFC 2069 form, which has no cnonce.
    qop = "auth" if "auth" in offered else None
    if session and qop is None:
        return None  # RFC 7616 section 3.4.2: -sess A1 needs the cnonce only qop brings
    return _Challenge(
        realm=params.get("realm", ""),
        nonce=nonce,
        opaque=params.get("opaque"),
        algorithm=algorithm,
        hash_name=hash_name,
        session=session,
        qop=qop,
        userhash=params.get("userhash", "").lower() == "true",
    )


def _pick_challenge(fields: list[str]) -> tuple[bool, _Challenge | None]:
    """(whether any Digest challenge was offered, the first one we can answer).

    RFC 7616 section 3.7: servers list challenges in order of preference.
    """
    offered = False
    for field in fields:
        for scheme, params in parse_challenges(field):
            if scheme == "digest":
                offered = True
                challenge = _digest_challenge(params)
                if challenge is not None:
                    return True, challenge
    return offered, None


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _wire_bytes(value: str) -> bytes:
    # Values from a response head are latin-1 views of the bytes on the wire (Headers
    # decodes them so); hash those bytes, not a re-encoding of them.
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")


def _split_url(url: str) -> tuple[str, str]:
    """(origin, request-target) of an absolute URL.

    The origin is normalised (RFC 6454: scheme, host, port with the default filled in), so
    ``http://h`` and ``http://H:80`` share one remembered challenge.
    """
    scheme, host, port, target = split_url(url)
    return f"{scheme}://{host}:{port}", target


class _NonceState:
    __slots__ = ("challenge", "count")

    def __init__(self, challenge: _Challenge) -> None:
        self.challenge = challenge
        self.count = 0  # requests sent with this nonce so far (nc)


def _random_cnonce() -> str:
    return secrets.token_hex(16)


class DigestAuth(Auth):
    """``Authorization: Digest`` (RFC 7616): MD5, SHA-256 and their ``-sess`` variants.

    ``cnonce_factory`` exists for tests that replay the RFC's examples; by default each
    request gets a fresh 128-bit cnonce from ``secrets``. A non-ASCII username is sent as
    ``username*`` (RFC 7616 section 3.4.4) unless the server asked for ``userhash``.
    """

    __slots__ = ("_lock", "_new_cnonce", "_password", "_states", "username")

    def __init__(
        self,
        username: str,
        password: str,
        *,
        cnonce_factory: Callable[[], str] | None = None,
    ) -> None:
        self.username = username
        self._password = password
        self._new_cnonce = cnonce_factory or _random_cnonce
        self._lock = threading.Lock()
        self._states: dict[str, _NonceState] = {}  # origin -> the nonce we answer there

    def auth_header(self, method: str, url: str) -> str | None:
        if not self._states:  # no challenge seen yet: nothing to send
            return None
        origin, target = _split_url(url)
        with self._lock:
            state = self._states.get(origin)
            if state is None:
                return None
            state.count += 1
            challenge, count = state.challenge, state.count
        return self._answer(challenge, method, target, count)

    def retry_header(
        self, method: str, url: str, status_code: int, headers: Headers
    ) -> str | None:
        if status_code != 401:
            return None
        offered, challenge = _pick_challenge(headers.get_list("WWW-Authenticate"))
        if not offered:
            return None
        origin, target = _split_url(url)
        with self._lock:
            if challenge is None:  # only challenges we cannot answer: stop guessing
                self._states.pop(origin, None)
                return None
            state = self._states.get(origin)
            if state is None or state.challenge.nonce != challenge.nonce:
                # A new nonce (stale=true or not) restarts the count (RFC 7616 section 3.4).
                state = self._states[origin] = _NonceState(challenge)
            else:
                state.challenge = challenge
            state.count += 1
            count = state.count
        return self._answer(challenge, method, target, count)

    def _answer(self, challenge: _Challenge, method: str, uri: str, count: int) -> str:
        """The Authorization value for one request (RFC 7616 section 3.4)."""
        digest = _HASHES[challenge.hash_name]
        realm = _wire_bytes(challenge.realm)
        nonce = _wire_bytes(challenge.nonce)
        user = self.username.encode("utf-8")
        ha1 = digest(user + b":" + realm + b":" + self._password.encode("utf-8"))
        ha2 = digest(method.encode("utf-8") + b":" + uri.encode("utf-8"))
        nc = f"{count:08x}"
        cnonce = self._new_cnonce() if challenge.qop else ""
        if challenge.session:
            ha1 = digest(f"{ha1}:".encode() + nonce + f":{cnonce}".encode())
        if challenge.qop:
            tail = f":{nc}:{cnonce}:{challenge.qop}:{ha2}".encode()
            response = digest(ha1.encode() + b":" + nonce + tail)
        else:
            response = digest(ha1.encode() + b":" + nonce + f":{ha2}".encode())

        if challenge.userhash:
            # RFC 7616 section 3.4.4: the username is hidden as H(username ":" realm).
            fields = [f"username={_quote(digest(user + b':' + realm))}"]
        elif self.username.isascii():
            fields = [f"username={_quote(self.username)}"]
        else:
            # RFC 7616 section 3.4.4 with RFC 8187 encoding; keeps the header ASCII.
            fields = [f"username*=UTF-8''{urllib.parse.quote(self.username, safe='')}"]
        # The order of the parameters carries no meaning (RFC 7616 section 3.4); this is
        # requests' order, which servers written against requests may expect.
        fields += [
            f"realm={_quote(challenge.realm)}",
            f"nonce={_quote(challenge.nonce)}",
            f"uri={_quote(uri)}",
            f"response={_quote(response)}",
        ]
        if challenge.opaque is not None:
            fields.append(f"opaque={_quote(challenge.opaque)}")
        if challenge.algorithm:
            fields.append(f"algorithm={challenge.algorithm}")
        if challenge.qop:
            # qop is a token, unquoted (RFC 7616 section 3.4); requests quotes it.
            fields += [f"qop={challenge.qop}", f"nc={nc}", f"cnonce={_quote(cnonce)}"]
        if challenge.userhash:
            fields.append("userhash=true")
        return "Digest " + ", ".join(fields)

    def __repr__(self) -> str:
        return f"DigestAuth(username={self.username!r}, password='***')"


AuthLike = tuple[str | bytes, str | bytes] | Auth


def coerce_auth(auth: AuthLike | None) -> Auth | None:
    """``None`` stays None, an ``Auth`` is used as is, a ``(user, password)`` tuple means Basic.

    Anything else raises ``LocalProtocolError`` naming its type.
    """
    if auth is None or isinstance(auth, Auth):
        return auth
    if (
        isinstance(auth, tuple)
        and len(auth) == 2
        and all(isinstance(part, str | bytes) for part in auth)
    ):
        return BasicAuth(auth[0], auth[1])
    raise LocalProtocolError(
        "auth must be a (username, password) tuple or a keepalive.Auth, "
        f"not {type(auth).__name__}"
    )


# requests' spellings (``requests.auth``): ``import keepalive as requests`` then
# ``requests.auth.HTTPBasicAuth(user, password)`` runs unchanged.
HTTPBasicAuth = BasicAuth
HTTPDigestAuth = DigestAuth


class AuthBase:
    """requests' base for custom auth: a callable that gets the ``Request`` about to be
    sent and returns it (typically with a header added). The session calls it per hop,
    never for another origin."""

    def __call__(self, r: Any) -> Any:
        return r


def _basic_auth_str(username: str | bytes, password: str | bytes) -> str:
    """requests' helper: the ``Authorization`` value Basic auth sends for these
    credentials (UTF-8, RFC 7617 section 2.1), as ``BasicAuth`` writes it."""
    return BasicAuth(username, password)._header
