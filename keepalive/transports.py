"""Transports: what a session sends its requests through, and the ones keepalive ships.

A transport has ``handle_request(request) -> response`` (the async API calls
``handle_async_request``). The session builds the ``keepalive.Request`` (method, URL,
headers with cookies and auth applied, body as bytes) and applies redirects, cookies, hooks
and decoding to whatever comes back, so swapping the network out keeps every session rule
under test. ``Session(transport=...)`` replaces the default (the session's own connection
pool); ``Session.mount(prefix, transport)`` routes URLs by their longest matching prefix.

* ``MockTransport(handler)``: no socket at all; ``handler(request)`` returns a
  ``keepalive.Response`` (or an awaitable of one, for the async API).
* ``WSGITransport(app)``: calls a WSGI application in process (PEP 3333).
* ``ASGITransport(app)``: calls an ASGI application in process (async API only).
"""

from __future__ import annotations

import inspect
import io
import sys
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from .exceptions import InvalidArgumentType, RemoteProtocolError
from .models import Headers
from .response import Request, Response

__all__ = ["ASGITransport", "AsyncTransport", "MockTransport", "Transport", "WSGITransport"]


class Transport(Protocol):
    """What ``Session(transport=)`` and ``Session.mount`` accept."""

    def handle_request(self, request: Request) -> Any: ...


class AsyncTransport(Protocol):
    """What ``AsyncSession(transport=)`` and ``AsyncSession.mount`` accept."""

    async def handle_async_request(self, request: Request) -> Any: ...


Handler = Callable[[Request], "Response | Awaitable[Response]"]


class MockTransport:
    """Answers every request with ``handler(request)``, opening no socket.

    For tests of code built on a session: the handler sees exactly the request the
    session would have sent (headers, cookies, auth, body) and returns the response.
    """

    def __init__(self, handler: Handler) -> None:
        if not callable(handler):
            raise InvalidArgumentType(
                f"MockTransport needs a callable handler, not {type(handler).__name__}"
            )
        self.handler = handler

    def handle_request(self, request: Request) -> Response:
        """Answer ``request`` with ``handler(request)``; no socket is opened."""
        response = self.handler(request)
        if inspect.isawaitable(response):
            raise InvalidArgumentType(
                "the MockTransport handler returned an awaitable: use it with AsyncSession"
            )
        return _checked(response)

    async def handle_async_request(self, request: Request) -> Response:
        """The same for ``AsyncSession``; an awaitable the handler returns is awaited."""
        response = self.handler(request)
        if inspect.isawaitable(response):
            response = await response
        return _checked(response)

    def close(self) -> None:
        """Nothing to close: there are no connections."""


def _checked(response: object) -> Response:
    if not isinstance(response, Response):
        raise InvalidArgumentType(
            f"a MockTransport handler must return a keepalive.Response, not "
            f"{type(response).__name__}"
        )
    return response


def _body_bytes(request: Request) -> bytes:
    body = request.body
    return b"" if body is None else bytes(body)


class WSGITransport:
    """Sends requests to a WSGI application in this process (PEP 3333)."""

    def __init__(self, app: Callable[..., Iterable[bytes]], *, script_name: str = "") -> None:
        self.app = app
        self.script_name = script_name

    def handle_request(self, request: Request) -> Response:
        """Call the WSGI app with a PEP 3333 environ built from ``request``; the whole answer
        becomes a ``Response``."""
        parts = urlsplit(request.url)
        host = parts.hostname or "localhost"
        port = parts.port or (443 if parts.scheme == "https" else 80)
        body = _body_bytes(request)
        environ: dict[str, Any] = {
            "REQUEST_METHOD": request.method,
            "SCRIPT_NAME": self.script_name,
            "PATH_INFO": unquote(parts.path or "/"),
            "QUERY_STRING": parts.query,
            "SERVER_NAME": host,
            "SERVER_PORT": str(port),
            "SERVER_PROTOCOL": "HTTP/1.1",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": parts.scheme,
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            "CONTENT_LENGTH": str(len(body)),
        }
        for name, value in request.headers.multi_items():
            key = name.upper().replace("-", "_")
            if key == "CONTENT_TYPE":
                environ["CONTENT_TYPE"] = value
            elif key != "CONTENT_LENGTH":
                key = "HTTP_" + key
                environ[key] = f"{environ[key]},{value}" if key in environ else value
        started: list[Any] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            if exc_info is not None and started:
                raise exc_info[1].with_traceback(exc_info[2])
            started[:] = [status, headers]
            return lambda data: chunks.append(data)  # PEP 3333's write() callable

        chunks: list[bytes] = []
        result = self.app(environ, start_response)
        try:
            chunks.extend(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        if not started:
            raise RemoteProtocolError("the WSGI application never called start_response")
        status, headers = started
        code, _, reason = status.partition(" ")
        return Response(
            int(code), headers=Headers(headers), content=b"".join(chunks), reason=reason,
            request=request,
        )  # fmt: skip

    def close(self) -> None:
        """Nothing to close: the application runs in process."""


class ASGITransport:
    """Sends requests to an ASGI application in this process (HTTP scope, spec 2.x)."""

    def __init__(self, app: Callable[..., Awaitable[None]], *, root_path: str = "") -> None:
        self.app = app
        self.root_path = root_path

    async def handle_async_request(self, request: Request) -> Response:
        """Run the ASGI app on one HTTP scope built from ``request``; the whole answer
        becomes a ``Response``."""
        parts = urlsplit(request.url)
        host = parts.hostname or "localhost"
        port = parts.port or (443 if parts.scheme == "https" else 80)
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": request.method,
            "scheme": parts.scheme,
            "path": unquote(parts.path or "/"),
            "raw_path": (parts.path or "/").encode("ascii", "replace"),
            "query_string": parts.query.encode("ascii", "replace"),
            "root_path": self.root_path,
            "headers": [
                (name.lower().encode("latin-1"), value.encode("latin-1"))
                for name, value in request.headers.multi_items()
            ],
            "client": ("127.0.0.1", 0),
            "server": (host, port),
        }
        body = _body_bytes(request)
        sent_body = False
        status: int | None = None
        headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            nonlocal sent_body
            if not sent_body:
                sent_body = True
                return {"type": "http.request", "body": body, "more_body": False}
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                chunks.append(bytes(message.get("body", b"")))

        await self.app(scope, receive, send)
        if status is None:
            raise RemoteProtocolError("the ASGI application sent no http.response.start")
        return Response(
            status,
            headers=Headers([(n.decode("latin-1"), v.decode("latin-1")) for n, v in headers]),
            content=b"".join(chunks),
            request=request,
        )

    async def aclose(self) -> None:
        """Nothing to close: the application runs in process."""
