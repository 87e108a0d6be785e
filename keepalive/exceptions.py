"""Every error keepalive raises.

The hierarchy is the contract in docs/design.md: callers catch these names, never a raw
``socket``/``ssl``/``h11`` exception (the network backend, ``_network.translate``, and the
protocol translate those where they arise). The original is always chained as ``__cause__``.
"""

from __future__ import annotations

import builtins
import json as _json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .response import Response

__all__ = [
    "ConnectError",
    "ConnectTimeout",
    "CookieConflict",
    "DecodingError",
    "HTTPStatusError",
    "InvalidArgument",
    "InvalidArgumentType",
    "InvalidURL",
    "JSONDecodeError",
    "KeepaliveError",
    "LocalProtocolError",
    "PoolClosed",
    "PoolTimeout",
    "ProxyError",
    "ReadTimeout",
    "RemoteProtocolError",
    "ResponseClosed",
    "ResponseNotRead",
    "RetryError",
    "ServerDisconnected",
    "StreamConsumed",
    "TLSError",
    "TimeoutError",
    "TooManyRedirects",
    "TransportError",
    "WriteTimeout",
]


class KeepaliveError(Exception):
    """Base of every error raised by keepalive."""


class TransportError(KeepaliveError):
    """Something went wrong on the wire."""


class ConnectError(TransportError):
    """DNS failure, connection refused, host unreachable."""


class TLSError(ConnectError):
    """The TLS handshake or certificate verification failed."""


class ProxyError(TransportError):
    """The proxy refused the request or broke the tunnel."""


class TimeoutError(TransportError, builtins.TimeoutError):
    """A phase ran out of time; also a built-in ``TimeoutError``."""


class ConnectTimeout(TimeoutError):
    """Connecting (TCP or TLS) took longer than ``timeout.connect``."""


class ReadTimeout(TimeoutError):
    """No byte arrived within ``timeout.read``."""


class WriteTimeout(TimeoutError):
    """The socket accepted no byte within ``timeout.write``."""


class PoolTimeout(TimeoutError):
    """No connection became available within ``timeout.pool``."""


class RemoteProtocolError(TransportError):
    """The server broke HTTP/1.1: malformed head, bad framing, closed mid-message."""


class LocalProtocolError(KeepaliveError, ValueError):
    """The caller asked for something illegal (bad header, method or body type)."""


class InvalidURL(KeepaliveError, ValueError):
    """The URL cannot be sent: no host, unsupported scheme, bad port."""


class InvalidArgument(KeepaliveError, ValueError):
    """A caller's argument has a value keepalive cannot use; the message names the argument."""


class InvalidArgumentType(InvalidArgument, TypeError):
    """A caller's argument has the wrong type; also a ``TypeError`` (and an ``InvalidArgument``)."""


class TooManyRedirects(KeepaliveError):
    """More than ``max_redirects`` hops."""


class HTTPStatusError(KeepaliveError):
    """Raised by ``Response.raise_for_status()`` for 4xx and 5xx responses."""

    def __init__(self, message: str, *, response: Response) -> None:
        super().__init__(message)
        self.response = response
        self.request = response.request


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
        super().__init__(message)
        self.response = response
        self.reason = reason


class JSONDecodeError(DecodingError, _json.JSONDecodeError):
    """``Response.json()`` found no valid JSON; also a ``json.JSONDecodeError`` (so a
    ``ValueError``), built as one: ``JSONDecodeError(msg, doc, pos)``."""
