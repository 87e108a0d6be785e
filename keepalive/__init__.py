"""keepalive: an HTTP/1.1 client that gets persistent connections right."""

from ._async.connection import AsyncHTTPConnection, AsyncRawResponse
from ._async.pool import AsyncConnectionPool
from ._async.session import AsyncSession
from ._version import __version__
from .api import delete, get, head, options, patch, post, put, request
from .auth import Auth, BasicAuth, BearerAuth, DigestAuth
from .connection import ConnectionState, HTTPConnection, Proxy, RawResponse
from .cookies import CookieJar, DomainPolicy
from .exceptions import (
    ConnectError,
    ConnectTimeout,
    CookieConflict,
    DecodingError,
    HTTPStatusError,
    InvalidArgument,
    InvalidArgumentType,
    InvalidURL,
    JSONDecodeError,
    KeepaliveError,
    LocalProtocolError,
    PoolClosed,
    PoolTimeout,
    ProxyError,
    ReadTimeout,
    RemoteProtocolError,
    ResponseClosed,
    ResponseNotRead,
    RetryError,
    ServerDisconnected,
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
from .retry import Retry
from .session import Session
from .transports import ASGITransport, MockTransport, WSGITransport

__all__ = [
    "ASGITransport",
    "AsyncConnectionPool",
    "AsyncHTTPConnection",
    "AsyncRawResponse",
    "AsyncSession",
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
    "DomainPolicy",
    "HTTPConnection",
    "HTTPStatusError",
    "Headers",
    "InvalidArgument",
    "InvalidArgumentType",
    "InvalidURL",
    "JSONDecodeError",
    "KeepaliveError",
    "LocalProtocolError",
    "MockTransport",
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
    "ResponseNotRead",
    "Retry",
    "RetryError",
    "ServerDisconnected",
    "Session",
    "StreamConsumed",
    "TLSError",
    "Timeout",
    "TimeoutError",
    "Timings",
    "TooManyRedirects",
    "TransportError",
    "WSGITransport",
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
