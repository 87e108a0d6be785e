"""The SOCKS5 client handshake, sans I/O: the bytes to send and what the proxy's bytes mean.

RFC 1928 (SOCKS5) with the username/password sub-negotiation of RFC 1929. The network
backends (``socks5_handshake`` in ``_network.py`` and ``_async_network.py``) write what
this object returns and read at most ``bytes_needed`` bytes at a time, so not one byte of
what follows the proxy's last reply (TLS, HTTP) is ever taken by the handshake.

Whether the origin's name is sent as a domain name (``socks5h``: the proxy resolves it) or
resolved here first (``socks5``) is the backend's choice; see ``Proxy.remote_dns`` for why
both exist. Every failure, a malformed reply included, is a ``ProxyError`` that names the
proxy and, for a refused request, the meaning of the proxy's reply code.
"""

from __future__ import annotations

import enum
import ipaddress

from .exceptions import InvalidArgument, InvalidURL, ProxyError

__all__ = ["REPLY_MEANINGS", "Socks5Handshake"]

_VERSION = 0x05
_AUTH_VERSION = 0x01  # RFC 1929 section 2: the sub-negotiation's own version
_NO_AUTH, _USER_PASS, _NO_ACCEPTABLE = 0x00, 0x02, 0xFF
_CMD_CONNECT = 0x01
_ATYP_IPV4, _ATYP_DOMAIN, _ATYP_IPV6 = 0x01, 0x03, 0x04

# RFC 1928 section 6: the REP field of the proxy's reply.
REPLY_MEANINGS = {
    0x01: "general SOCKS server failure",
    0x02: "connection not allowed by ruleset",
    0x03: "network unreachable",
    0x04: "host unreachable",
    0x05: "connection refused by the destination host",
    0x06: "TTL expired",
    0x07: "command not supported",
    0x08: "address type not supported",
}

_METHOD_NAMES = {0x00: "no authentication", 0x01: "GSSAPI", 0x02: "username/password"}


class _Step(enum.Enum):
    METHOD = "the method choice"
    AUTH = "the authentication answer"
    REPLY = "the CONNECT reply"
    DONE = "nothing"


class Socks5Handshake:
    """One client handshake: greeting, method choice, optional auth, CONNECT, reply.

    ``greeting()`` gives the first bytes to send; then, until ``done``, read at most
    ``bytes_needed`` bytes and pass them to ``receive_data``, which returns the next bytes
    to send (``b""`` when there are none). ``b""`` passed in means the proxy closed.
    Afterwards ``bound_address`` holds the (host, port) the proxy connected from.
    """

    __slots__ = ("_buffer", "_credentials", "_request", "_step", "bound_address", "where")

    def __init__(
        self,
        where: str,
        host: str,
        port: int,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.where = where  # the proxy, for messages
        self._step = _Step.METHOD
        self._buffer = bytearray()
        self._credentials = None if username is None else _credentials(username, password or "")
        self._request = _connect_request(host, port)
        self.bound_address: tuple[str, int] | None = None

    # -- what to send, what to read -------------------------------------------------------------

    def greeting(self) -> bytes:
        """VER, NMETHODS, METHODS (RFC 1928 section 3): username/password is offered only
        when credentials were given; "no authentication" always, so an open proxy works."""
        if self._credentials is None:
            return bytes((_VERSION, 1, _NO_AUTH))
        return bytes((_VERSION, 2, _NO_AUTH, _USER_PASS))

    @property
    def done(self) -> bool:
        return self._step is _Step.DONE

    @property
    def bytes_needed(self) -> int:
        """The most bytes the current reply may still have (0 once done): a read of at
        most this many never swallows bytes that follow the handshake."""
        step = self._step
        have = len(self._buffer)
        if step is _Step.DONE:
            return 0
        if step is not _Step.REPLY:
            return 2 - have
        if have < 5:
            return 5 - have  # VER REP RSV ATYP and the first address byte
        return _reply_length(self._buffer, self.where) - have

    def receive_data(self, data: bytes | bytearray | memoryview) -> bytes:
        """Take the proxy's bytes; return what to send next (``b""``: nothing yet)."""
        if self._step is _Step.DONE:
            if data:
                raise ProxyError(f"{self.where} sent bytes after its SOCKS5 reply")
            return b""
        if not data:
            raise ProxyError(
                f"{self.where} closed the connection while {self._step.value} of the SOCKS5 "
                "handshake was expected"
            )
        self._buffer += data
        out = b""
        # Each pass consumes one complete reply; a reader that over-delivers is still
        # parsed in order, and at most three replies exist.
        for _ in range(3):
            before = len(self._buffer)
            out += self._advance()
            if self.done or len(self._buffer) == before:
                break
        if self.done and self._buffer:
            raise ProxyError(f"{self.where} sent bytes after its SOCKS5 reply")
        return out

    # -- the three replies ----------------------------------------------------------------------

    def _advance(self) -> bytes:
        step, buffer = self._step, self._buffer
        if step is _Step.METHOD:
            if len(buffer) < 2:
                return b""
            version, method = buffer[0], buffer[1]
            del buffer[:2]
            self._check_version(version, _VERSION)
            return self._method_chosen(method)
        if step is _Step.AUTH:
            if len(buffer) < 2:
                return b""
            version, status = buffer[0], buffer[1]
            del buffer[:2]
            # RFC 1929 says 0x01; some servers answer with the SOCKS version, 0x05.
            self._check_version(version, _AUTH_VERSION, _VERSION)
            if status != 0x00:
                raise ProxyError(
                    f"{self.where} rejected the SOCKS5 username/password (status 0x{status:02x})"
                )
            self._step = _Step.REPLY
            return self._request
        if step is _Step.REPLY:
            return self._reply()
        return b""

    def _check_version(self, version: int, *expected: int) -> None:
        if version not in expected:
            raise ProxyError(
                f"{self.where} is not a SOCKS5 proxy: its reply starts with 0x{version:02x}, "
                f"expected 0x{expected[0]:02x} ({self._step.value})"
            )

    def _method_chosen(self, method: int) -> bytes:
        if method == _NO_AUTH:
            self._step = _Step.REPLY
            return self._request
        if method == _USER_PASS and self._credentials is not None:
            self._step = _Step.AUTH
            return self._credentials
        if method == _NO_ACCEPTABLE:
            wanted = "no authentication" if self._credentials is None else "either method"
            raise ProxyError(
                f"{self.where} accepts none of the SOCKS5 authentication methods offered "
                f"({wanted}); does it need a username and password?"
            )
        name = _METHOD_NAMES.get(method, f"method 0x{method:02x}")
        raise ProxyError(f"{self.where} chose SOCKS5 authentication {name}, which was not offered")

    def _reply(self) -> bytes:
        """VER REP RSV ATYP BND.ADDR BND.PORT (RFC 1928 section 6); the address is 4, 16
        or 1 + n bytes long, by ATYP."""
        buffer = self._buffer
        if len(buffer) >= 2:
            self._check_version(buffer[0], _VERSION)
            code = buffer[1]
            if code != 0x00:
                # A refusing server may close after these two bytes: decide on them alone.
                meaning = REPLY_MEANINGS.get(code, "unassigned reply code")
                raise ProxyError(
                    f"{self.where} refused the SOCKS5 CONNECT: {meaning} (reply 0x{code:02x})"
                )
        if len(buffer) < 5:
            return b""
        length = _reply_length(buffer, self.where)
        if len(buffer) < length:
            return b""
        atyp = buffer[3]
        if atyp == _ATYP_IPV4:
            host = str(ipaddress.IPv4Address(bytes(buffer[4:8])))
        elif atyp == _ATYP_IPV6:
            host = str(ipaddress.IPv6Address(bytes(buffer[4:20])))
        else:
            host = bytes(buffer[5 : 5 + buffer[4]]).decode("ascii", "replace")
        port = int.from_bytes(buffer[length - 2 : length], "big")
        self.bound_address = (host, port)
        del buffer[:length]
        self._step = _Step.DONE
        return b""


def _reply_length(buffer: bytearray, where: str) -> int:
    """The whole reply's length, known once its first five bytes are in."""
    atyp = buffer[3]
    if atyp == _ATYP_IPV4:
        return 4 + 4 + 2
    if atyp == _ATYP_IPV6:
        return 4 + 16 + 2
    if atyp == _ATYP_DOMAIN:
        return 4 + 1 + buffer[4] + 2
    raise ProxyError(f"{where} sent a malformed SOCKS5 reply: unknown address type 0x{atyp:02x}")


def _credentials(username: str, password: str) -> bytes:
    """VER ULEN UNAME PLEN PASSWD (RFC 1929 section 2): each field at most 255 bytes."""
    user = username.encode("utf-8")
    secret = password.encode("utf-8")
    if not 0 < len(user) < 256:
        raise InvalidArgument(
            f"SOCKS5 proxy username must be 1 to 255 bytes in UTF-8, not {len(user)}"
        )
    if len(secret) > 255:
        raise InvalidArgument(
            f"SOCKS5 proxy password must be at most 255 bytes in UTF-8, not {len(secret)}"
        )
    return bytes((_AUTH_VERSION, len(user))) + user + bytes((len(secret),)) + secret


def _connect_request(host: str, port: int) -> bytes:
    """VER CMD RSV ATYP DST.ADDR DST.PORT (RFC 1928 section 4): an IP literal as its
    4 or 16 bytes, anything else as a length-prefixed domain name for the proxy to resolve."""
    if not 0 < port < 65536:
        raise InvalidURL(f"bad port {port!r} for the SOCKS5 CONNECT to {host}")
    head = bytes((_VERSION, _CMD_CONNECT, 0x00))
    tail = port.to_bytes(2, "big")
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    else:
        atyp = _ATYP_IPV4 if address.version == 4 else _ATYP_IPV6
        return head + bytes((atyp,)) + address.packed + tail
    try:
        name = host.encode("ascii")  # URLs reach here IDNA-encoded already
    except UnicodeEncodeError:
        raise InvalidURL(f"host {host!r} is not ASCII: IDNA-encode it for SOCKS5") from None
    if not 0 < len(name) < 256:
        raise InvalidURL(f"host name of {len(name)} bytes cannot be sent to a SOCKS5 proxy")
    return head + bytes((_ATYP_DOMAIN, len(name))) + name + tail
