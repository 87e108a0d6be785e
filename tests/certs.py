"""The one maker of test certificates: a trustme CA, server certificates, PEM files, contexts.

Every TLS peer in the tests (the loopback servers, the proxies, the third-party servers)
gets its certificate here, and every client trusts exactly one test CA and never the
system store, so a test can only pass against the server it started.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

try:
    import trustme
except ImportError as exc:  # fail loudly, never skip
    raise ImportError(
        "tests need trustme: run `make test` or pip install -e '.[test]'"
    ) from exc

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def new_ca() -> trustme.CA:
    """A fresh certificate authority, trusted by nothing until a test says so."""
    return trustme.CA()


def write_ca(ca: trustme.CA, path: Path | str) -> str:
    """Write the CA certificate as PEM to ``path`` (for ``verify=``); returns the path."""
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def server_context(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    """A server-side context with a fresh certificate from ``ca`` for ``names``
    (``LOOPBACK_NAMES`` when none are given)."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*(names or LOOPBACK_NAMES)).configure_cert(ctx)
    return ctx


def client_context(ca: trustme.CA | str, *, alpn: Sequence[str] = ()) -> ssl.SSLContext:
    """A verifying client context that trusts only ``ca`` (a CA, or the path of its PEM file),
    offering the ``alpn`` protocols when given."""
    if isinstance(ca, str):
        ctx = ssl.create_default_context(cafile=ca)
    else:
        ctx = ssl.create_default_context(cadata=ca.cert_pem.bytes().decode())
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    return ctx


@dataclass(frozen=True)
class TLSFiles:
    """A CA and a server certificate issued by it, as PEM files (for servers in child
    processes, which read their certificate from disk)."""

    ca_path: str
    cert_path: str
    key_path: str


def write_server_files(ca: trustme.CA, directory: Path, *names: str) -> TLSFiles:
    """Write ``ca.pem``, ``server.pem`` (the certificate chain) and ``server.key`` for a fresh
    certificate for ``names`` (``LOOPBACK_NAMES`` when none are given) into ``directory``."""
    leaf = ca.issue_cert(*(names or LOOPBACK_NAMES))
    files = TLSFiles(
        str(directory / "ca.pem"),
        str(directory / "server.pem"),
        str(directory / "server.key"),
    )
    write_ca(ca, files.ca_path)
    leaf.private_key_pem.write_to_path(files.key_path)
    Path(files.cert_path).write_bytes(
        b"".join(pem.bytes() for pem in leaf.cert_chain_pems)
    )
    return files
