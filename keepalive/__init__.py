"""keepalive: an HTTP/1.1 client that gets persistent connections right."""

from ._version import __version__
from .connection import ConnectionState, HTTPConnection, Proxy, RawResponse
from .exceptions import (
    ConnectError,
    ConnectTimeout,
    DecodingError,
    HTTPStatusError,
    InvalidURL,
    KeepaliveError,
    LocalProtocolError,
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

__all__ = [
    "ConnectError",
    "ConnectTimeout",
    "ConnectionState",
    "DecodingError",
    "HTTPConnection",
    "HTTPStatusError",
    "Headers",
    "InvalidURL",
    "KeepaliveError",
    "LocalProtocolError",
    "PoolTimeout",
    "Proxy",
    "ProxyError",
    "RawResponse",
    "ReadTimeout",
    "RemoteProtocolError",
    "ResponseClosed",
    "StreamConsumed",
    "TLSError",
    "TimeoutError",
    "Timeout",
    "Timings",
    "TooManyRedirects",
    "TransportError",
    "WriteTimeout",
    "__version__",
]
