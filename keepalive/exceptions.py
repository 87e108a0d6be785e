"""Every error keepalive raises, and the one place where foreign errors are translated.

The hierarchy is the contract in SPEC.md: callers catch these names, never a raw
``socket``/``ssl``/``h11`` exception. The original error is always chained as ``__cause__``.
"""

from __future__ import annotations

import builtins
import socket
import ssl
from typing import TYPE_CHECKING, Any

import h11

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
    "KeepaliveError",
    "LocalProtocolError",
    "PoolClosed",
    "PoolTimeout",
    "ProxyError",
    "ReadTimeout",
    "RemoteProtocolError",
    "ResponseClosed",
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


# Phases passed to ``translate`` decide which timeout class a socket timeout becomes.
CONNECT, READ, WRITE = "connect", "read", "write"
_TIMEOUTS: dict[str, type[TimeoutError]] = {
    CONNECT: ConnectTimeout,
    READ: ReadTimeout,
    WRITE: WriteTimeout,
}


def translate(exc: BaseException, phase: str, where: str) -> KeepaliveError:
    """Map a foreign exception met during ``phase`` (connect/read/write) to a keepalive one.

    This is the single translation table of the library; callers ``raise translate(...)
    from exc``. ``where`` names the peer (``host:port``) so every message says which one.
    """
    if isinstance(exc, KeepaliveError):
        return exc
    if isinstance(exc, builtins.TimeoutError | socket.timeout):
        return _TIMEOUTS[phase](f"{phase} timed out ({where})")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return TLSError(f"certificate verify failed for {where}: {exc.verify_message}")
    if isinstance(exc, ssl.SSLError):
        if phase == CONNECT:
            return TLSError(f"TLS handshake with {where} failed: {exc}")
        return RemoteProtocolError(f"TLS error from {where} during {phase}: {exc}")
    if isinstance(exc, h11.RemoteProtocolError):
        return RemoteProtocolError(f"{where} broke HTTP/1.1: {exc}")
    if isinstance(exc, h11.LocalProtocolError):
        return LocalProtocolError(f"illegal request for {where}: {exc}")
    if isinstance(exc, socket.gaierror):
        return ConnectError(f"cannot resolve {where}: {exc.strerror or exc}")
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc) or type(exc).__name__
        if phase == CONNECT:
            return ConnectError(f"cannot connect to {where}: {reason}")
        return RemoteProtocolError(f"connection to {where} failed during {phase}: {reason}")
    return TransportError(f"{type(exc).__name__} talking to {where}: {exc}")


def peer_closed(exc: BaseException) -> bool:
    """True when ``exc`` means the peer had closed the connection (reset, broken pipe, EOF).

    The pool retries only these, and only on reused connections (SPEC.md rule 6).
    """
    cause: Any = exc.__cause__ if isinstance(exc, KeepaliveError) else exc
    if isinstance(exc, ServerDisconnected):
        return True
    return isinstance(
        cause, ConnectionResetError | BrokenPipeError | ConnectionAbortedError | ssl.SSLEOFError
    )


class ServerDisconnected(RemoteProtocolError):
    """The server closed the connection before sending any byte of a response.

    Internal subclass: on a reused connection this is the classic keep-alive race (the
    server timed the connection out as we reused it), which the pool may retry.
    """
