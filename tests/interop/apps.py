"""The tiny apps the interop suite serves: one ASGI app and one WSGI app with the same routes.

Every server under test (uvicorn, hypercorn, gunicorn, waitress, and the backend behind
nginx and apache2) serves these routes, so one test body runs against all of them:

=====================  ===================================================================
``GET|HEAD /conn``     body ``"<peer port>\\n"``: the client port of the server-side TCP
                       connection this response went out on (also in ``X-Peer-Port``)
``GET|HEAD /big``      :data:`BIG_SIZE` bytes of :func:`big_body`, in 64 KiB pieces
``GET|HEAD /text``     :data:`TEXT_BODY`; gzip-encoded when the request accepts gzip
``POST|PUT /echo``     the request body back (chunked or sized); ``X-Body-Length`` is its
                       length and ``X-Request-Count`` how often this ``X-Request-Id`` has
                       reached ``/echo`` so far, this request included
``GET /count?id=ID``   how often a request with ``X-Request-Id: ID`` reached ``/echo``
=====================  ===================================================================

Every response carries ``X-Peer-Port`` and ``X-Conn-Requests`` (requests seen on that peer
port so far). Behind a reverse proxy the proxy passes the client's port in ``X-Peer-Port``
and the app reports that instead of the proxy's own.

The counters live in process memory, so a server must run these apps in one process
(one worker; threads are fine, the counters are locked).
"""

from __future__ import annotations

import functools
import gzip
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

BIG_SIZE = 10 * 1024 * 1024
PIECE = 64 * 1024
_PATTERN = bytes(range(256)) * (PIECE // 256)
TEXT_BODY = b"".join(b"line %05d: the quick brown fox jumps over the lazy dog\n" % i
                     for i in range(2000))

ROUTES = ("/conn", "/big", "/text", "/echo", "/count")


def big_body() -> bytes:
    """The whole ``/big`` body (a repeating 0..255 byte pattern), for comparing downloads."""
    return _PATTERN * (BIG_SIZE // PIECE)


class _Counters:
    """Thread-safe request counters: per ``/echo`` request id, and per peer port."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._echo: Counter[str] = Counter()
        self._per_port: Counter[int] = Counter()

    def seen_on_port(self, port: int) -> int:
        with self._lock:
            self._per_port[port] += 1
            return self._per_port[port]

    def echoed(self, request_id: str) -> int:
        with self._lock:
            self._echo[request_id] += 1
            return self._echo[request_id]

    def echo_count(self, request_id: str) -> int:
        with self._lock:
            return self._echo[request_id]


COUNTERS = _Counters()


class _Reply:
    """What a route answers: status, headers and the body as an iterable of pieces."""

    def __init__(self, status: int, headers: list[tuple[str, str]], body: Iterable[bytes],
                 length: int) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.length = length


def _handle(method: str, path: str, query: str, headers: dict[str, str], peer_port: int,
            body: bytes) -> _Reply:
    """Route one request; shared by the ASGI and WSGI front ends."""
    forwarded = headers.get("x-peer-port")
    if forwarded and forwarded.isdigit():
        peer_port = int(forwarded)
    conn_requests = COUNTERS.seen_on_port(peer_port)
    common = [("X-Peer-Port", str(peer_port)), ("X-Conn-Requests", str(conn_requests))]
    text = ("text/plain", "text/plain; charset=utf-8")
    head_or_get = method in ("GET", "HEAD")

    if path == "/conn" and head_or_get:
        payload = b"%d\n" % peer_port
        return _sized(200, common, text[1], payload)
    if path == "/big" and head_or_get:
        pieces = (_PATTERN for _ in range(BIG_SIZE // PIECE))
        return _Reply(200, [*common, ("Content-Type", "application/octet-stream"),
                            ("Content-Length", str(BIG_SIZE))], pieces, BIG_SIZE)
    if path == "/text" and head_or_get:
        accept = headers.get("accept-encoding", "")
        if "gzip" in accept:
            packed = gzip.compress(TEXT_BODY, compresslevel=6, mtime=0)
            reply = _sized(200, [*common, ("Content-Encoding", "gzip")], text[1], packed)
        else:
            reply = _sized(200, common, text[1], TEXT_BODY)
        reply.headers.append(("Vary", "Accept-Encoding"))
        return reply
    if path == "/echo" and method in ("POST", "PUT"):
        extra = [("X-Body-Length", str(len(body)))]
        request_id = headers.get("x-request-id")
        if request_id:
            extra.append(("X-Request-Count", str(COUNTERS.echoed(request_id))))
        return _sized(200, [*common, *extra], "application/octet-stream", body)
    if path == "/count" and head_or_get:
        request_id = parse_qs(query).get("id", [""])[0]
        return _sized(200, common, text[1], b"%d\n" % COUNTERS.echo_count(request_id))
    if path in ROUTES:
        return _sized(405, common, text[1], b"method not allowed\n")
    return _sized(404, common, text[1], b"not found\n")


def _sized(status: int, headers: list[tuple[str, str]], content_type: str,
           payload: bytes) -> _Reply:
    full = [*headers, ("Content-Type", content_type), ("Content-Length", str(len(payload)))]
    return _Reply(status, full, [payload], len(payload))


# --------------------------------------------------------------------------- ASGI

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


async def asgi_app(scope: Scope, receive: Receive, send: Send) -> None:
    """The routes above as an ASGI 3 application (HTTP only; lifespan is acknowledged)."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    client = scope.get("client") or ("", 0)
    reply = _handle(scope["method"], scope["path"], scope["query_string"].decode("latin-1"),
                    headers, int(client[1]), b"".join(chunks))
    await send({
        "type": "http.response.start",
        "status": reply.status,
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers],
    })
    if scope["method"] == "HEAD":
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    for piece in reply.body:
        await send({"type": "http.response.body", "body": piece, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


# --------------------------------------------------------------------------- WSGI

StartResponse = Callable[..., Any]
_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed"}


def wsgi_app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """The routes above as a WSGI application (reads sized and chunked request bodies)."""
    method = environ["REQUEST_METHOD"]
    body = b""
    if method in ("POST", "PUT"):
        # gunicorn and waitress both de-chunk wsgi.input and end it at the body's end, so a
        # plain read() serves Content-Length and chunked uploads alike.
        body = environ["wsgi.input"].read()
    headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items()
               if k.startswith("HTTP_")}
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").lower()] = environ[key]
    reply = _handle(method, environ.get("PATH_INFO", "/"), environ.get("QUERY_STRING", ""),
                    headers, int(environ.get("REMOTE_PORT") or 0), body)
    start_response(f"{reply.status} {_REASONS.get(reply.status, 'Unknown')}", reply.headers)
    if method == "HEAD":
        return []
    return reply.body


@functools.cache
def _httpbin() -> Callable[..., Iterable[bytes]]:
    """httpbin's Flask app, imported on first use so the other servers do not need Flask."""
    from httpbin import app  # type: ignore[import-untyped]  # in the `test` extra

    flask_app: Callable[..., Iterable[bytes]] = app
    return flask_app


def wsgi_app_with_httpbin(environ: dict[str, Any],
                          start_response: StartResponse) -> Iterable[bytes]:
    """Our routes, and httpbin's (``/get``, ``/gzip``, ``/anything``, ...) for every other path."""
    if environ.get("PATH_INFO", "/") in ROUTES:
        return wsgi_app(environ, start_response)
    return _httpbin()(environ, start_response)
