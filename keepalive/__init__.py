"""keepalive: an HTTP/1.1 client that gets persistent connections right."""

from . import structures  # requests.structures.CaseInsensitiveDict, under this name too
from ._async.connection import AsyncHTTPConnection, AsyncRawResponse
from ._async.pool import AsyncConnectionPool
from ._async.session import AsyncSession
from ._version import __version__
from .api import delete, get, head, options, patch, post, put, request
from .auth import Auth, BasicAuth, BearerAuth, DigestAuth
from .connection import ConnectionState, HTTPConnection, Proxy, RawResponse
from .cookies import CookieJar, DomainPolicy
from .exceptions import (
    ChunkedEncodingError,
    ConnectError,
    ConnectionError,
    ConnectTimeout,
    ContentDecodingError,
    CookieConflict,
    DecodingError,
    HTTPError,
    HTTPStatusError,
    InvalidArgument,
    InvalidArgumentType,
    InvalidHeader,
    InvalidSchema,
    InvalidURL,
    JSONDecodeError,
    KeepaliveError,
    LocalProtocolError,
    MissingSchema,
    PoolClosed,
    PoolTimeout,
    ProxyError,
    ReadTimeout,
    RemoteProtocolError,
    RequestException,
    ResponseClosed,
    ResponseNotRead,
    RetryError,
    ServerDisconnected,
    SSLError,
    StreamConsumed,
    StreamConsumedError,
    TimeoutError,
    TLSError,
    TooManyRedirects,
    TransportError,
    WriteTimeout,
)
from .models import Headers, Timeout, Timings
from .pool import ConnectionPool
from .response import PreparedRequest, Request, Response
from .retry import Retry
from .session import Session
from .status_codes import codes

# requests' exception names are all in ``keepalive.exceptions``; the ones that do not collide
# with keepalive's own names are imported above as well. ``keepalive.Timeout`` is the settings
# class: requests' ``Timeout`` exception is ``keepalive.TimeoutError`` (or
# ``keepalive.exceptions.Timeout``).
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
    "ChunkedEncodingError",
    "ConnectError",
    "ConnectTimeout",
    "ConnectionError",
    "ConnectionPool",
    "ConnectionState",
    "ContentDecodingError",
    "CookieConflict",
    "CookieJar",
    "DecodingError",
    "DigestAuth",
    "DomainPolicy",
    "HTTPConnection",
    "HTTPError",
    "HTTPStatusError",
    "Headers",
    "InvalidArgument",
    "InvalidArgumentType",
    "InvalidHeader",
    "InvalidSchema",
    "InvalidURL",
    "JSONDecodeError",
    "KeepaliveError",
    "LocalProtocolError",
    "MissingSchema",
    "MockTransport",
    "PoolClosed",
    "PoolTimeout",
    "PreparedRequest",
    "Proxy",
    "ProxyError",
    "RawResponse",
    "ReadTimeout",
    "RemoteProtocolError",
    "Request",
    "RequestException",
    "Response",
    "ResponseClosed",
    "ResponseNotRead",
    "Retry",
    "RetryError",
    "SSLError",
    "ServerDisconnected",
    "Session",
    "StreamConsumed",
    "StreamConsumedError",
    "TLSError",
    "Timeout",
    "TimeoutError",
    "Timings",
    "TooManyRedirects",
    "TransportError",
    "WSGITransport",
    "WriteTimeout",
    "__version__",
    "codes",
    "delete",
    "get",
    "head",
    "options",
    "patch",
    "post",
    "put",
    "request",
    "structures",
]
