"""TLS settings: lazily built, shared ``SSLContext`` objects and TLS session resumption.

``ssl.create_default_context()`` loads the whole CA store (~16 ms), so no context is built
until the first https connection needs it, and equal settings share one context. The last
resumable session per (context, host, port) is remembered and offered to the next new
connection (docs/design.md, reuse rule 10).
"""

from __future__ import annotations

import os
import ssl
import threading
import weakref
from typing import Union

from .exceptions import TLSError

__all__ = ["CertLike", "VerifyLike", "context_for", "remember_session", "saved_session", "tls_key"]

VerifyLike = Union[bool, str, "os.PathLike[str]", ssl.SSLContext]
CertLike = Union[str, "os.PathLike[str]", tuple[str, str], tuple[str, str, str], None]

_contexts: dict[tuple[object, ...], ssl.SSLContext] = {}
_contexts_lock = threading.Lock()


def tls_key(verify: VerifyLike, cert: CertLike) -> tuple[object, ...]:
    """A hashable identity of the TLS settings; it joins the pool key (docs/design.md,
    reuse rule 2).

    A caller's own ``SSLContext`` is keyed by identity: two contexts are never assumed equal.
    """
    if isinstance(verify, ssl.SSLContext):
        return ("context", id(verify), verify)
    if isinstance(verify, os.PathLike):
        verify = os.fspath(verify)
    if isinstance(cert, os.PathLike):
        cert = os.fspath(cert)
    return (verify, cert)


def context_for(verify: VerifyLike = True, cert: CertLike = None) -> ssl.SSLContext:
    """The ``SSLContext`` for these settings, built on first use and cached."""
    if isinstance(verify, ssl.SSLContext):
        return verify
    key = tls_key(verify, cert)
    ctx = _contexts.get(key)
    if ctx is not None:
        return ctx
    with _contexts_lock:
        ctx = _contexts.get(key)
        if ctx is None:
            ctx = _build_context(verify, cert)
            _contexts[key] = ctx
    return ctx


def _build_context(verify: bool | str | os.PathLike[str], cert: CertLike) -> ssl.SSLContext:
    try:
        if verify is False:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        elif verify is True:
            # Honours SSL_CERT_FILE / SSL_CERT_DIR through OpenSSL's default paths.
            ctx = ssl.create_default_context()
        else:
            path = os.fspath(verify)
            if os.path.isdir(path):
                ctx = ssl.create_default_context(capath=path)
            else:
                # An explicit CA bundle replaces the system store; nothing from the
                # environment may widen it.
                ctx = ssl.create_default_context(cafile=path)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_alpn_protocols(["http/1.1"])
        if cert is not None:
            if isinstance(cert, tuple):
                ctx.load_cert_chain(*cert)
            else:
                ctx.load_cert_chain(os.fspath(cert))
    except (OSError, ssl.SSLError) as exc:
        raise TLSError(
            f"cannot build TLS settings (verify={verify!r}, cert={cert!r}): {exc}"
        ) from exc
    return ctx


# Sessions are bound to the SSL_CTX that made them (CPython refuses a session from another
# context), so the store is keyed by context first; a weak key lets a context die freely.
_sessions: weakref.WeakKeyDictionary[ssl.SSLContext, dict[tuple[str, int], ssl.SSLSession]] = (
    weakref.WeakKeyDictionary()
)
_sessions_lock = threading.Lock()


def saved_session(ctx: ssl.SSLContext, host: str, port: int) -> ssl.SSLSession | None:
    """The last resumable session for this origin under ``ctx``, if any."""
    per_ctx = _sessions.get(ctx)
    return None if per_ctx is None else per_ctx.get((host, port))


def remember_session(
    session: ssl.SSLSession | None, ctx: ssl.SSLContext, host: str, port: int
) -> None:
    """Save a connection's TLS session for the next connection, when it has a ticket.

    Called after a full response was read: TLS 1.3 tickets arrive after the handshake, so
    right after ``do_handshake()`` the session is usually not resumable yet.
    """
    if session is None or not session.has_ticket:
        return
    with _sessions_lock:
        per_ctx = _sessions.get(ctx)
        if per_ctx is None:
            per_ctx = _sessions[ctx] = {}
        per_ctx[(host, port)] = session
