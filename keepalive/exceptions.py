"""Every error keepalive raises.

The hierarchy is the contract in docs/design.md: callers catch these names, never a raw
``socket``/``ssl``/``h11`` exception (the network backend, ``_network.translate``, and the
protocol translate those where they arise). The original is always chained as ``__cause__``.

requests' names are fitted into the hierarchy (the end of this module), so code written for
``requests.exceptions`` catches the same failures: ``RequestException`` is ``KeepaliveError``,
``ConnectionError`` the base of what breaks a connection (``ConnectTimeout`` too, not
``ReadTimeout``, as in requests), ``HTTPError`` is ``HTTPStatusError`` and so on.
"""

from __future__ import annotations

import builtins
import json as _json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .response import Request, Response

__all__ = [
    "ChunkedEncodingError",
    "ConnectError",
    "ConnectTimeout",
    "ConnectionError",
    "ContentDecodingError",
    "CookieConflict",
    "DecodingError",
    "HTTPError",
    "HTTPStatusError",
    "InvalidArgument",
    "InvalidArgumentType",
    "InvalidHeader",
    "InvalidHeaderType",
    "InvalidJSONError",
    "InvalidProxyURL",
    "InvalidSchema",
    "InvalidURL",
    "JSONDecodeError",
    "KeepaliveError",
    "LocalProtocolError",
    "MissingSchema",
    "PoolClosed",
    "PoolTimeout",
    "ProxyError",
    "ReadTimeout",
    "RemoteProtocolError",
    "RequestException",
    "ResponseClosed",
    "ResponseNotRead",
    "RetryError",
    "SSLError",
    "ServerDisconnected",
    "StreamConsumed",
    "StreamConsumedError",
    "TLSError",
    "Timeout",
    "TimeoutError",
    "TooManyRedirects",
    "TransportError",
    "UnrewindableBodyError",
    "WriteTimeout",
]


class KeepaliveError(Exception):
    """Base of every error raised by keepalive (requests' ``RequestException``).

    ``response`` and ``request`` are the response and request the error is about, or None,
    as on requests' exceptions; both may be given as keywords, and a ``response`` alone
    brings its ``request`` along.
    """

    response: Response | None = None
    request: Request | None = None

    def __init__(
        self, *args: object, response: Response | None = None, request: Request | None = None
    ) -> None:
        super().__init__(*args)
        if response is not None:
            self.response = response
            if request is None:
                request = getattr(response, "request", None)
        if request is not None:
            self.request = request


class TransportError(KeepaliveError):
    """Something went wrong on the wire."""


class ConnectionError(TransportError):
    """The connection could not be made or broke: requests' ``ConnectionError``.

    The base of ``ConnectError`` (so ``TLSError``), ``ProxyError``, ``RemoteProtocolError``
    and ``ConnectTimeout``; a ``ReadTimeout`` is not one, as in requests.
    """


class ConnectError(ConnectionError):
    """DNS failure, connection refused, host unreachable."""


class TLSError(ConnectError):
    """The TLS handshake or certificate verification failed."""


class ProxyError(ConnectionError):
    """The proxy refused the request or broke the tunnel."""


class TimeoutError(TransportError, builtins.TimeoutError):
    """A phase ran out of time; also a built-in ``TimeoutError``."""


class ConnectTimeout(TimeoutError, ConnectionError):
    """Connecting (TCP or TLS) took longer than ``timeout.connect``."""


class ReadTimeout(TimeoutError):
    """No byte arrived within ``timeout.read``."""


class WriteTimeout(TimeoutError):
    """The socket accepted no byte within ``timeout.write``."""


class PoolTimeout(TimeoutError):
    """No connection became available within ``timeout.pool``."""


class RemoteProtocolError(ConnectionError):
    """The server broke HTTP/1.1: malformed head, bad framing, closed mid-message."""


class LocalProtocolError(KeepaliveError, ValueError):
    """The caller asked for something illegal (bad header, method or body type)."""


class InvalidURL(KeepaliveError, ValueError):
    """The URL cannot be sent: no host, unsupported scheme, bad port."""


class MissingSchema(InvalidURL):
    """The URL has no scheme (``example.com/x``); requests' name for it."""


class InvalidSchema(InvalidURL):
    """The URL's scheme is not ``http`` or ``https``; requests' name for it."""


class InvalidProxyURL(InvalidURL):
    """A proxy URL without a usable host or port; requests' name for it."""


class InvalidArgument(KeepaliveError, ValueError):
    """A caller's argument has a value keepalive cannot use; the message names the argument."""


class InvalidArgumentType(InvalidArgument, TypeError):
    """A caller's argument has the wrong type; also a ``TypeError`` (and an ``InvalidArgument``)."""


class InvalidHeaderType(InvalidArgumentType, LocalProtocolError):
    """A header name or value that is neither ``str`` nor ``bytes``: an
    ``InvalidArgumentType`` naming the header, and requests' ``InvalidHeader`` too."""


class InvalidJSONError(LocalProtocolError):
    """``json=`` cannot be serialised (NaN, an object ``json`` does not know); requests'
    name, a ``LocalProtocolError`` (a ``ValueError``)."""


class UnrewindableBodyError(LocalProtocolError):
    """A streamed request body had to be sent again (a redirect keeping the method, a 401
    challenge) but cannot be rewound; requests' name for it."""


class TooManyRedirects(KeepaliveError):
    """More than ``max_redirects`` hops."""


class HTTPStatusError(KeepaliveError):
    """Raised by ``Response.raise_for_status()`` for 4xx and 5xx responses."""

    response: Response
    request: Request

    def __init__(
        self, *args: object, response: Response | None = None, request: Request | None = None
    ) -> None:
        # requests lets its HTTPError be made bare (``HTTPError()``, as a test double does):
        # ``response`` is then None. raise_for_status() always gives both.
        super().__init__(*args, response=response, request=request)


class DecodingError(KeepaliveError):
    """A body claims a content encoding it does not have."""


class CookieConflict(KeepaliveError, LookupError):
    """``CookieJar.get`` found several cookies of that name; pass ``domain`` or ``path``."""


class PoolClosed(KeepaliveError, RuntimeError):
    """The pool (or the session that owns it) was closed; it sends nothing more."""


class StreamConsumed(KeepaliveError):
    """The body was already read; it cannot be read again."""


class ResponseClosed(KeepaliveError):
    """The response was closed before its body was read."""


class ResponseNotRead(KeepaliveError):
    """``content``/``text``/``json()`` of an async response whose body was not read yet:
    ``await response.aread()`` first."""


class ServerDisconnected(RemoteProtocolError):
    """The server closed the connection before any byte of its response arrived.

    On a reused connection this is the classic keep-alive race: the server timed the
    connection out as we reused it. ``request_sent`` says whether any byte of the request
    reached the wire: when it did, the server may have processed the request, so only an
    idempotent one is safe to send again (the pool does that itself, reuse rule 6).
    """

    def __init__(self, message: str, *, request_sent: bool = True, reused: bool = False) -> None:
        super().__init__(message)
        self.request_sent = request_sent
        self.reused = reused

    @property
    def may_have_been_processed(self) -> bool:
        """Whether the server might have acted on the request before closing."""
        return self.request_sent


class RetryError(KeepaliveError):
    """A ``Retry`` budget ran out. ``.response`` is the last response (None when the last
    attempt ended in an error) and ``.reason`` that error or a short text such as
    ``"status 503"``."""

    def __init__(
        self,
        message: str,
        *,
        response: Response | None = None,
        reason: str | BaseException | None = None,
    ) -> None:
        super().__init__(message, response=response)
        self.reason = reason


class JSONDecodeError(DecodingError, _json.JSONDecodeError):
    """``Response.json()`` found no valid JSON; also a ``json.JSONDecodeError`` (so a
    ``ValueError``), built as one: ``JSONDecodeError(msg, doc, pos)``."""


# requests' names (requests.exceptions) for the same failures. Where requests has a class of
# its own and keepalive raises the same failure under another name, the name is an alias,
# so that ``except`` catches it under either spelling. ``Timeout`` here is the exception;
# ``keepalive.Timeout`` stays the settings class (the README's porting table).
RequestException = KeepaliveError
HTTPError = HTTPStatusError
SSLError = TLSError
Timeout = TimeoutError
ContentDecodingError = DecodingError
ChunkedEncodingError = RemoteProtocolError  # a body cut short or badly framed
InvalidHeader = LocalProtocolError  # a header name or value with CR, LF or NUL
StreamConsumedError = StreamConsumed
