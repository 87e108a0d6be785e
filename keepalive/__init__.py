"""keepalive: an HTTP/1.1 client that gets persistent connections right."""

from ._version import __version__
from .api import delete, get, head, options, patch, post, put, request
from .auth import Auth, BasicAuth, BearerAuth, DigestAuth
from .connection import ConnectionState, HTTPConnection, Proxy, RawResponse
from .cookies import CookieJar
from .exceptions import (
    ConnectError,
    ConnectTimeout,
    CookieConflict,
    DecodingError,
    HTTPStatusError,
    InvalidURL,
    KeepaliveError,
    LocalProtocolError,
    PoolClosed,
    PoolTimeout,
    ProxyError,
    ReadTimeout,
    RemoteProtocolError,
    ResponseClosed,
    StreamConsumed,
    TimeoutError,
    TLSError,
    TooManyRedirects,
    TransportError,
    WriteTimeout,
)
from .models import Headers, Timeout, Timings
from .pool import ConnectionPool
from .response import Request, Response
from .session import Session

__all__ = [
    "Auth",
    "BasicAuth",
    "BearerAuth",
    "ConnectError",
    "ConnectTimeout",
    "ConnectionPool",
    "ConnectionState",
    "CookieConflict",
    "CookieJar",
    "DecodingError",
    "DigestAuth",
    "HTTPConnection",
    "HTTPStatusError",
    "Headers",
    "InvalidURL",
    "KeepaliveError",
    "LocalProtocolError",
    "PoolClosed",
    "PoolTimeout",
    "Proxy",
    "ProxyError",
    "RawResponse",
    "ReadTimeout",
    "RemoteProtocolError",
    "Request",
    "Response",
    "ResponseClosed",
    "Session",
    "StreamConsumed",
    "TLSError",
    "Timeout",
    "TimeoutError",
    "Timings",
    "TooManyRedirects",
    "TransportError",
    "WriteTimeout",
    "__version__",
    "delete",
    "get",
    "head",
    "options",
    "patch",
    "post",
    "put",
    "request",
]
