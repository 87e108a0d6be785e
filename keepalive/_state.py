"""Values shared by the blocking and the asyncio connection: lifecycle, proxy, cycle end."""

from __future__ import annotations

import enum
import ssl
from collections.abc import Callable
from typing import Any, NamedTuple

__all__ = ["PROXY_SCHEMES", "ConnectionState", "CycleEnd", "Proxy", "Trace"]

Trace = Callable[[str, dict[str, Any]], None]
"""A tracing callback: called with an event name and a dict of details (docs/design.md)."""

# The proxy kinds the network layer speaks (``Proxy.scheme``).
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")


class ConnectionState(enum.Enum):
    """Where a connection is in its life: NEW, ACTIVE, IDLE (may carry the next request),
    CLOSED (never again)."""

    NEW = "NEW"
    ACTIVE = "ACTIVE"
    IDLE = "IDLE"
    CLOSED = "CLOSED"


class Proxy(NamedTuple):
    """A proxy to reach the origin through: its kind, where it listens, what to tell it.

    ``scheme`` is one of ``PROXY_SCHEMES``: ``http`` (plain HTTP to the proxy: absolute-form
    requests for http origins, CONNECT for https ones), ``https`` (the same over TLS to the
    proxy, verified with ``ssl_context``, or the default trust store when it is None),
    ``socks5`` and ``socks5h`` (RFC 1928, with ``username``/``password`` per RFC 1929).
    ``headers`` go to HTTP(S) proxies only (e.g. ``Proxy-Authorization``).
    """

    host: str
    port: int
    headers: tuple[tuple[str, str], ...] = ()
    scheme: str = "http"
    username: str | None = None
    password: str | None = None
    ssl_context: ssl.SSLContext | None = None

    @property
    def is_socks(self) -> bool:
        """A SOCKS proxy: a byte tunnel for every origin, never an absolute-form request."""
        return self.scheme == "socks5" or self.scheme == "socks5h"

    @property
    def remote_dns(self) -> bool:
        """Whether the proxy resolves the origin's name (``socks5h``; the ``h`` is curl's
        spelling) rather than this host (``socks5``). Both exist because each is right
        somewhere: the proxy's resolver sees names only its network knows (internal hosts,
        Tor's .onion) and keeps lookups off the local network; local resolution honours
        this host's hosts file and split-horizon DNS and works with proxies that refuse
        domain names (address type 3). HTTP(S) proxies always resolve the origin themselves.
        """
        return self.scheme != "socks5"

    @property
    def where(self) -> str:
        """``scheme://host:port`` of the proxy, for messages (never the credentials)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def __repr__(self) -> str:
        # The password stays out of logs and tracebacks.
        secret = "" if self.password is None else ", password='***'"
        user = "" if self.username is None else f", username={self.username!r}"
        return f"Proxy({self.where!r}{user}{secret})"


class CycleEnd(NamedTuple):
    """How one request/response cycle ended, reported once to the connection's owner."""

    kept: bool  # the connection is IDLE and may carry another request
    reason: str  # why it was not kept ("" when kept)
    reused: bool  # the connection had carried an earlier request
    request_sent: bool  # some byte of the request reached the wire
    response_started: bool  # some byte of the response arrived
    idle_timeout_hint: float | None  # the server's Keep-Alive: timeout=, if it sent one
    since_head: float  # seconds from the response head's arrival to this report
    trace: Trace | None = None  # the cycle's tracing callback, for the owner's events
