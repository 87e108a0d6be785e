"""The session's ``Request`` and ``Response``: a ``RawResponse`` plus decoding and conveniences.

Decoding is bounded: a streamed body costs one decoder piece of memory whatever its
compression ratio (see ``decoders``), ``read()``/``content`` refuse a decoded body larger
than ``Response.max_decoded_size``, and ``iter_lines`` refuses a line longer than its
``max_line_length``. Any ``DecodingError`` closes the response before it propagates, so an
exception kept alive never holds a connection or a pool slot.
"""

from __future__ import annotations

import codecs
import datetime
import http
import io
import json as jsonlib
import re
import types
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from email.message import Message
from typing import TYPE_CHECKING, Any, AnyStr, Generic, Literal, cast, overload
from urllib.parse import urlsplit

from ._async.connection import AsyncRawResponse, arechunk
from .connection import RawResponse, rechunk
from .cookies import CookieJar, CookiesLike
from .decoders import Decoder, make_decoder
from .exceptions import (
    DecodingError,
    HTTPStatusError,
    InvalidArgument,
    InvalidArgumentType,
    JSONDecodeError,
    ResponseClosed,
    ResponseNotRead,
)
from .models import Headers, HeadersLike, Timings
from .urls import DEFAULT_PORTS, split_url

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = [
    "DEFAULT_MAX_DECODED_SIZE",
    "DEFAULT_MAX_LINE_LENGTH",
    "HOOK_EVENTS",
    "REDIRECT_STATUSES",
    "HookFunction",
    "PreparedRequest",
    "Request",
    "Response",
    "hook_lists",
]

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

DEFAULT_MAX_DECODED_SIZE: int | None = 256 * 1024 * 1024
"""The default ``Response.max_decoded_size``: the most bytes ``read()``/``content`` decode
from a compressed body (256 MiB); ``None`` means no limit. Streaming is never capped."""

DEFAULT_MAX_LINE_LENGTH = 1024 * 1024
"""The default ``max_line_length`` of ``iter_lines`` (1 MiB, in characters or bytes)."""

# Line breaks for iter_lines: CRLF, LF or a lone CR, as io's universal newlines and the
# event-stream format read them (the Unicode separators str.splitlines knows are data).
_BREAKS_STR = re.compile(r"\r\n|\r|\n")
_BREAKS_BYTES = re.compile(rb"\r\n|\r|\n")


HookFunction = Callable[..., Any]
"""A hook: called with the ``Request`` (event ``"request"``) or the ``Response`` (event
``"response"``); a response hook may return a ``Response`` to use instead."""

HOOK_EVENTS = ("request", "response")


def _decoded_argument(what: str, value: bytes, encoding: str) -> str:
    """A bytes ``method``/``url`` as text, as requests accepts them."""
    try:
        return value.decode(encoding)
    except UnicodeDecodeError as exc:
        raise InvalidArgument(f"{what} {value!r} is not {encoding.upper()}: {exc}") from exc


def hook_lists(hooks: object, what: str = "hooks") -> dict[str, list[HookFunction]]:
    """``{"request": [...], "response": [...]}`` from what a caller gave: a mapping of event
    to one callable or a list of them (requests takes both), or None. An unknown event or
    something not callable raises ``InvalidArgument``/``InvalidArgumentType`` naming it."""
    lists: dict[str, list[HookFunction]] = {"request": [], "response": []}
    if hooks is None:
        return lists
    if not isinstance(hooks, Mapping):
        raise InvalidArgumentType(
            f"{what} must be a dict such as {{'response': [callable]}}, not {type(hooks).__name__}"
        )
    for event, given in hooks.items():
        if event not in lists:
            raise InvalidArgument(
                f"{what}: unknown event {event!r}; the events are 'request' and 'response'"
            )
        functions = [given] if callable(given) else given
        if not isinstance(functions, Iterable) or isinstance(functions, str | bytes):
            raise InvalidArgumentType(
                f"{what}[{event!r}] must be a callable or a list of them, "
                f"not {type(given).__name__}"
            )
        for function in functions:
            if not callable(function):
                raise InvalidArgumentType(
                    f"{what}[{event!r}]: {function!r} is not callable"
                )
            lists[event].append(function)
    return lists


class Request:
    """A request, before and after it is prepared (requests' ``Request`` and
    ``PreparedRequest`` are this one class; ``PreparedRequest`` is an alias).

    Built by a caller, it describes what to send: ``Request("POST", url, data={...})``,
    then ``session.prepare_request(req)`` or ``session.send(req)``; a ``None`` header value
    removes that session header. Prepared, and as ``response.request``, it is what was
    sent: the final ``url`` (query included), ``headers`` as written (cookies and
    ``Authorization`` too) and ``body``: the bytes sent, or None for no body or a streamed
    one. A request hook may change ``headers`` before they are written.
    """

    __slots__ = (
        "_body", "_dropped", "_generated", "_hooks", "_prepared", "_stream", "auth", "cookies",
        "data", "files", "headers", "json", "method", "params", "url",
    )  # fmt: skip

    def __init__(
        self,
        method: str | bytes = "GET",
        url: str | bytes = "",
        headers: HeadersLike | Mapping[str, str | None] | None = None,
        body: bytes | str | None = None,
        *,
        params: Any = None,
        data: Any = None,
        json: Any = None,
        files: Any = None,
        cookies: Any = None,
        auth: Any = None,
        hooks: Mapping[str, HookFunction | Iterable[HookFunction]] | None = None,
    ) -> None:
        """Describe a request; the keywords mean what they mean to ``Session.request``.
        ``body`` gives the bytes to send as they are (a ``str`` as UTF-8), for a request
        made ready by hand, as a transport receives one. As in requests, ``method`` and
        ``url`` may be left out and set later, and may be bytes (ASCII and UTF-8)."""
        if isinstance(method, bytes):
            method = _decoded_argument("method", method, "ascii")
        elif not isinstance(method, str):
            raise InvalidArgumentType(
                f"method must be a str such as 'GET', not {type(method).__name__}"
            )
        if isinstance(url, bytes):
            url = _decoded_argument("url", url, "utf-8")
        elif not isinstance(url, str):
            raise InvalidArgumentType(f"url must be a str, not {type(url).__name__}")
        self.method = method.upper()
        self.url = url
        self._dropped: tuple[str, ...] = ()
        if isinstance(headers, Headers):
            self.headers = headers
        else:
            self.headers = Headers()
            dropped: list[str] = []
            if headers is not None:
                pairs = headers.items() if isinstance(headers, Mapping) else headers
                for name, value in pairs:
                    if value is not None:
                        self.headers[name] = value  # Headers checks both types
                    elif isinstance(name, str | bytes):
                        dropped.append(name if isinstance(name, str) else name.decode("latin-1"))
                    else:
                        raise InvalidArgumentType(
                            f"header name {name!r} must be str or bytes, not {type(name).__name__}"
                        )
            self._dropped = tuple(dropped)
        self.files = files
        self.data = data
        self.params = params
        self.auth = auth
        self.cookies = cookies
        self.json = json
        self._hooks: dict[str, list[HookFunction]] | None = hook_lists(hooks)
        self._body: bytes | bytearray | memoryview | None = None
        self._stream: Any = None
        self._generated: Mapping[str, str] = _NOTHING_GENERATED
        self._prepared = False
        if body is not None:
            self.body = body

    @classmethod
    def _sent(
        cls,
        method: str,
        url: str,
        headers: Headers,
        body: bytes | bytearray | memoryview | None = None,
        stream: Any = None,
    ) -> Request:
        """A prepared request as the session builds one per hop, without the checks."""
        self = cls.__new__(cls)
        self.method = method
        self.url = url
        self.headers = headers
        self._body = body
        self._stream = stream
        self.files = self.data = self.params = self.auth = self.cookies = self.json = None
        self._hooks = None  # made when asked for: most requests never are
        self._dropped = ()
        self._generated = _NOTHING_GENERATED
        self._prepared = True
        return self

    @property
    def hooks(self) -> dict[str, list[HookFunction]]:
        """``{"request": [...], "response": [...]}``: the hooks this request runs."""
        hooks = self._hooks
        if hooks is None:
            hooks = self._hooks = {"request": [], "response": []}
        return hooks

    @hooks.setter
    def hooks(self, value: Mapping[str, HookFunction | Iterable[HookFunction]] | None) -> None:
        self._hooks = hook_lists(value)

    @property
    def body(self) -> bytes | None:
        """The body sent: bytes, or None when there is none or it was streamed."""
        body = self._body
        if body is None or type(body) is bytes:
            return body
        return bytes(body)

    @body.setter
    def body(self, value: bytes | bytearray | memoryview | str | Any) -> None:
        # requests lets a caller replace a prepared body; a stream (file, iterator) is sent
        # as it is, a str as UTF-8.
        self._stream = None
        if value is None or isinstance(value, bytes | bytearray | memoryview):
            self._body = value
        elif isinstance(value, str):
            self._body = value.encode("utf-8")
        else:
            self._body = None
            self._stream = value

    @property
    def path_url(self) -> str:
        """The path and query of ``url``, as the request line carries them."""
        parts = urlsplit(self.url)
        path = parts.path or "/"
        return f"{path}?{parts.query}" if parts.query else path

    def register_hook(self, event: str, hook: HookFunction | Iterable[HookFunction]) -> None:
        """Add a hook (or several) for ``event``: ``"request"`` or ``"response"``."""
        for name, functions in hook_lists({event: hook}).items():
            self.hooks.setdefault(name, []).extend(functions)

    def deregister_hook(self, event: str, hook: HookFunction) -> bool:
        """Remove ``hook`` from ``event``; whether it was there."""
        try:
            self.hooks[event].remove(hook)
        except (KeyError, ValueError):
            return False
        return True

    def prepare(self) -> Request:
        """requests' ``Request.prepare()``: this request made ready to send on its own,
        without a session's settings: no default headers, cookies, params or
        environment, as requests prepares it. The URL is checked (``MissingSchema``,
        ``InvalidURL``) and requoted, the body encoded and ``Content-Length``,
        ``Authorization`` and ``Cookie`` set from this request's own arguments.
        ``session.send(prepared)`` sends it; ``session.prepare_request(req)`` merges a
        session's settings instead."""
        from .session import Session  # that module imports this one

        with Session(trust_env=False) as bare:
            bare.headers = Headers()
            prepared = bare.prepare_request(self)
        url = prepared.url
        if ":" not in url or urlsplit(url).scheme.lower() in DEFAULT_PORTS:
            # MissingSchema / InvalidURL now, as requests does; a URL of another scheme
            # (``mailto:``, ``http+unix:``) is left for a transport to judge.
            split_url(url)
        return prepared

    def copy(self) -> Request:
        """A copy whose headers and hooks can change without touching this one."""
        new = Request.__new__(Request)
        for name in Request.__slots__:
            setattr(new, name, getattr(self, name))
        new.headers = self.headers.copy()
        new._hooks = {event: list(functions) for event, functions in self.hooks.items()}
        new._generated = dict(self._generated)
        return new

    def __repr__(self) -> str:
        return f"<Request [{self.method} {self.url}]>"


PreparedRequest = Request
"""requests' name for a request ready to send; keepalive has one class for both."""

_NOTHING_GENERATED: Mapping[str, str] = types.MappingProxyType({})


def _charset(content_type: str | None) -> str | None:
    """The declared charset when it names a codec that can decode text, else None.

    Codecs such as ``base64`` or ``rot13`` turn bytes into bytes, and ``idna``,
    ``punycode`` or ``undefined`` cannot replace what they fail to decode: a body that
    declares one is treated as if it declared none.
    """
    if not content_type:
        return None
    msg = Message()
    msg["content-type"] = content_type
    charset = msg.get_param("charset")
    if not isinstance(charset, str):
        return None
    charset = charset.strip("'\" ").lower()
    try:
        info = codecs.lookup(charset)
    except (LookupError, ValueError, TypeError):  # ValueError: an embedded NUL
        return None
    if not getattr(info, "_is_text_encoding", True):
        return None
    try:
        b"\xff".decode(charset, "replace")
    except Exception:  # any failure of any registered codec means: not usable here
        return None
    return charset


def _sniff(content: bytes) -> str:
    """The charset of an undeclared body: UTF-8 when it all fits, else ISO-8859-1."""
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return "iso-8859-1"  # maps every byte: lossless fallback
    return "utf-8"


def _decode_text(content: bytes, encoding: str | None) -> str:
    if encoding is not None:
        try:
            return content.decode(encoding, errors="replace")
        except Exception:  # a user-set codec that cannot decode text: fall back
            pass
    return content.decode(_sniff(content))


class _TextDecoder:
    """Bytes to text as they arrive: the known charset, or else UTF-8 up to the first
    byte that is not UTF-8 and ISO-8859-1 from that byte on (every byte maps)."""

    __slots__ = ("_decoder", "_latin1", "_sniffing")

    def __init__(self, encoding: str | None) -> None:
        self._latin1 = False
        self._sniffing = True
        decoder: codecs.IncrementalDecoder | None = None
        if encoding is not None:
            try:
                decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
                self._sniffing = False
            except Exception:  # a user-set charset that is no text codec
                decoder = None
        self._decoder = decoder or codecs.getincrementaldecoder("utf-8")()

    def decode(self, data: bytes, final: bool = False) -> str:
        if self._latin1:
            return data.decode("iso-8859-1")
        try:
            return self._decoder.decode(data, final)
        except UnicodeDecodeError as exc:
            if not self._sniffing:
                return self._fall_back(data, final)
            # exc.object is what the decoder held plus ``data``; all before exc.start
            # is valid UTF-8.
            self._latin1 = True
            whole: bytes = exc.object
            return whole[: exc.start].decode("utf-8") + whole[exc.start :].decode("iso-8859-1")
        except Exception:  # a declared codec failing on this body (utf-16 cut short...)
            return self._fall_back(data, final)

    def _fall_back(self, data: bytes, final: bool) -> str:
        held = getattr(self._decoder, "buffer", b"")
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._sniffing = True
        return self.decode((held if isinstance(held, bytes) else b"") + data, final)


def _check_chunk_size(chunk_size: object) -> None:
    if chunk_size is None:
        return
    if not isinstance(chunk_size, int) or isinstance(chunk_size, bool):
        raise InvalidArgumentType(
            f"chunk_size must be an int or None, not {type(chunk_size).__name__}"
        )
    if chunk_size <= 0:
        raise InvalidArgument(f"chunk_size must be a positive number of bytes, not {chunk_size}")


def _check_limit(name: str, value: object) -> None:
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidArgumentType(f"{name} must be an int or None, not {type(value).__name__}")
    if value < 0:
        raise InvalidArgument(f"{name} must be >= 0 (or None for no limit), not {value}")


def _parse_links(values: list[str]) -> dict[str, dict[str, str]]:
    """``Link`` header fields (RFC 8288 section 3) keyed by ``rel``, else by URL."""
    links: dict[str, dict[str, str]] = {}
    for value in values:
        pos = 0
        while True:
            target = _LINK_TARGET.match(value, pos)
            if target is not None:
                link = {"url": target.group(1).strip()}
                pos = target.end()
                while (param := _LINK_PARAM.match(value, pos)) is not None:
                    pos = param.end()
                    name, raw = param.group(1).lower(), param.group(2) or ""
                    if raw.startswith('"'):
                        raw = _QUOTED_PAIR.sub(r"\1", raw[1:-1])
                    # Section 3.3: a second "rel" is ignored; so is any repeated parameter.
                    link.setdefault(name, raw.strip())
                links[link.get("rel") or link["url"]] = link
            comma = value.find(",", pos)  # skip anything unparsable up to the next link
            if comma < 0:
                break
            pos = comma + 1
    return links


_LINK_TARGET = re.compile(r"[\s,]*<([^>]*)>")
_LINK_PARAM = re.compile(r'\s*;\s*([^\s;,=]+)\s*(?:=\s*("(?:[^"\\]|\\.)*"|[^;,]*))?')
_QUOTED_PAIR = re.compile(r"\\(.)")


class _RawBody(io.RawIOBase):
    """``Response.raw``: the undecoded body as a read-only file; reading consumes it.

    ``read(n)`` returns ``n`` bytes unless the body ends first; ``close()`` closes the
    response (the connection is drained back to the pool or closed).
    """

    def __init__(self, raw: RawResponse) -> None:
        super().__init__()
        self._raw = raw
        self._chunks: Iterator[bytes] | None = None
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def _next(self) -> memoryview | None:
        """The unread rest of the current chunk, or None at the end of the body."""
        if self.closed:
            raise ResponseClosed("the response's raw body file was closed")
        pending = self._pending
        while not pending:
            if self._chunks is None:
                self._chunks = self._raw.iter_raw()
            chunk = next(self._chunks, None)
            if chunk is None:
                return None
            pending = memoryview(chunk)
        return pending

    def readinto(self, buffer: WriteableBuffer) -> int:
        target = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(target):
            pending = self._next()
            if pending is None:
                break
            n = min(len(target) - filled, len(pending))
            target[filled : filled + n] = pending[:n]
            self._pending = pending[n:]
            filled += n
        return filled

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        parts: list[bytes] = []
        while size > 0:
            pending = self._next()
            if pending is None:
                break
            parts.append(bytes(pending[:size]))
            self._pending = pending[size:]
            size -= len(parts[-1])
        return b"".join(parts)

    def readall(self) -> bytes:
        parts: list[bytes] = []
        while (pending := self._next()) is not None:
            parts.append(bytes(pending))
            self._pending = memoryview(b"")
        return b"".join(parts)

    def close(self) -> None:
        if not self.closed:
            super().close()
            self._raw.close()

    def __del__(self) -> None:
        # io closes a file it collects; a dropped body is the RawResponse's to release
        # (without I/O), never a drain from inside the garbage collector.
        pass


class _FileSource:
    """What a ``RawResponse`` reads its body through, over a caller's file object (a
    ``Response.raw`` set by hand) instead of a connection."""

    __slots__ = ("_file",)

    id = 0
    where = "a file object"
    _in_cycle = False

    def __init__(self, file: Any) -> None:
        self._file = file

    def _read_body(self) -> bytes | None:
        data = self._file.read(_FILE_CHUNK)
        if isinstance(data, str):  # a text file, as requests tolerates: UTF-8 on the wire
            data = data.encode("utf-8")
        return bytes(data) if data else None

    def _abandon(self) -> None:
        close = getattr(self._file, "close", None)
        if callable(close):
            close()


_FILE_CHUNK = 64 * 1024

_CLOSED_BODY: Any = io.BytesIO()
_CLOSED_BODY.close()  # Response.raw of a response closed before it was asked for


class _ResponseCookies(CookieJar):
    """``Response.cookies``: a ``CookieJar`` that also compares equal to a mapping of the
    same names and values (``r.cookies == {"a": "1"}``)."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, CookieJar):
            return self.get_dict() == other.get_dict()
        if isinstance(other, Mapping):
            return self.get_dict() == dict(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


class _LineSplitter(Generic[AnyStr]):
    """Cuts text (or bytes) arriving in chunks into lines, in linear time.

    Each chunk is split once, and a line that spans chunks is joined once from its pieces;
    ``carry`` keeps the last ``len(delimiter) - 1`` units of an unfinished line, where a
    delimiter split between chunks may begin. The sync and async line iterators share it.
    """

    __slots__ = (
        "_breaks", "_carry", "_check", "_cr", "_delimiter", "_empty", "_keep", "_lf",
        "_limit", "_parts", "_pending", "_skip_lf", "as_bytes",
    )  # fmt: skip

    def __init__(
        self,
        breaks: re.Pattern[AnyStr],
        cr: AnyStr,
        lf: AnyStr,
        empty: AnyStr,
        delimiter: AnyStr | None,
        limit: int | None,
        check: Callable[[int, int | None], None],
        *,
        as_bytes: bool,
    ) -> None:
        self._breaks: re.Pattern[AnyStr] = breaks
        self._cr: AnyStr = cr
        self._lf: AnyStr = lf
        self._empty: AnyStr = empty
        self._delimiter: AnyStr | None = delimiter
        self._limit = limit
        self._check = check  # raises for a line over the limit
        self.as_bytes = as_bytes
        self._parts: list[AnyStr] = []
        self._pending = 0  # length of the unfinished line held in parts (and carry)
        self._carry: AnyStr = empty
        self._keep = len(delimiter) - 1 if delimiter is not None else 0
        self._skip_lf = False  # the last chunk ended in CR: an LF next completes a CRLF

    def feed(self, chunk: AnyStr) -> list[AnyStr]:
        """The lines this chunk completes."""
        if not chunk:
            return []
        limit, check = self._limit, self._check
        delimiter = self._delimiter
        if delimiter is None:
            if self._skip_lf and chunk.startswith(self._lf):
                chunk = chunk[1:]
            self._skip_lf = chunk.endswith(self._cr)
            pieces = self._breaks.split(chunk)
        else:
            chunk = self._carry + chunk
            self._pending -= len(self._carry)
            pieces = chunk.split(delimiter)
        lines: list[AnyStr] = []
        if len(pieces) > 1:
            self._parts.append(pieces[0])
            line = self._empty.join(self._parts)
            self._parts = []
            self._pending = 0
            check(len(line), limit)
            lines.append(line)
            for line in pieces[1:-1]:
                check(len(line), limit)
                lines.append(line)
        tail = pieces[-1]
        if self._keep:
            self._carry = tail[-self._keep :]
            tail = tail[: -self._keep]
        if tail:
            self._parts.append(tail)
        self._pending += len(tail) + len(self._carry)
        check(self._pending, limit)
        return lines

    def finish(self) -> list[AnyStr]:
        """The last line, when the body did not end with a line break."""
        self._parts.append(self._carry)
        last = self._empty.join(self._parts)
        self._parts = []
        self._carry = self._empty
        return [last] if last else []


class Response:
    """An HTTP response as a ``requests``/``httpx`` user knows it, over a pooled connection.

    With ``stream=False`` (the default) the body was read before the session returned it
    and the connection is already back in the pool; with ``stream=True`` read it with
    ``iter_bytes``/``iter_lines``/``read`` and close it (or use ``with``).
    """

    __slots__ = (
        "__dict__",  # requests lets a hook or caller hang its own attributes on a response
        "_body_file",
        "_closers",
        "_content",
        "_cookies",
        "_encoding",
        "_max_decoded_size",
        "_raw",
        "history",
        "request",
        "url",
    )

    def __init__(
        self,
        status_code: int = 200,
        *,
        headers: HeadersLike | None = None,
        content: bytes | str = b"",
        reason: str | None = None,
        request: Request | None = None,
        url: str | None = None,
    ) -> None:
        """A response made in memory, as a ``MockTransport`` handler returns one; the
        session then applies redirects, cookies, hooks and decoding as usual."""
        if isinstance(content, str):
            content = content.encode("utf-8")
        if not isinstance(content, bytes | bytearray):
            raise InvalidArgumentType(f"content must be bytes or str, not {type(content).__name__}")
        fields = Headers(headers) if headers is not None else Headers()
        if "content-length" not in fields:
            fields["Content-Length"] = str(len(content))
        items = [
            (name.encode("latin-1"), name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in fields.multi_items()
        ]
        if reason is None:
            try:
                reason = http.HTTPStatus(status_code).phrase
            except ValueError:
                reason = ""
        raw = RawResponse(None, status_code, reason.encode("latin-1"), b"1.1", items)
        raw._content = bytes(content)
        raw._done = True
        if url is None:
            url = request.url if request is not None else ""
        if request is None:
            request = Request._sent("GET", url, Headers())
        self._setup(raw, request, url)

    @classmethod
    def _from_raw(
        cls, raw: RawResponse | AsyncRawResponse, request: Request, url: str
    ) -> Response:
        """The response of a request the session sent, over ``raw``'s connection."""
        self = cls.__new__(cls)
        self._setup(raw, request, url)
        return self

    def _setup(self, raw: RawResponse | AsyncRawResponse, request: Request, url: str) -> None:
        self._raw: RawResponse | AsyncRawResponse = raw  # the latter for the async API
        self.request = request
        self.url = url
        self.history: list[Response] = []
        self._cookies: CookieJar | None = None
        self._content: bytes | None = None
        self._encoding: str | None = None
        self._closers: list[Callable[[], None]] = []
        self._max_decoded_size = DEFAULT_MAX_DECODED_SIZE
        self._body_file: Any = None  # r.raw: a _RawBody, or a file object set by hand

    # -- the head ---------------------------------------------------------------------------------

    @property
    def status_code(self) -> int:
        """The final status code, e.g. ``200`` (interim 1xx responses are skipped).
        Settable, as in requests (a response built by hand or changed by a hook)."""
        return self._raw.status_code

    @status_code.setter
    def status_code(self, value: int) -> None:
        self._raw.status_code = value

    @property
    def reason(self) -> str:
        """The reason phrase the server sent, e.g. ``"OK"`` (HTTP/1.1 allows it empty).
        Settable; bytes are read as UTF-8, else ISO-8859-1 (RFC 9110 section 5.5)."""
        return self._raw.reason

    @reason.setter
    def reason(self, value: str | bytes) -> None:
        if isinstance(value, bytes):
            try:
                text = value.decode("utf-8")
            except UnicodeDecodeError:
                text = value.decode("latin-1")
            value = text
        self._raw.reason = value

    @property
    def http_version(self) -> str:
        """``"HTTP/1.1"`` or ``"HTTP/1.0"``; a 1.0 answer is not kept alive."""
        return self._raw.http_version

    @property
    def headers(self) -> Headers:
        """The header fields: case-insensitive, in order, repeated fields kept (``get_list``).
        Settable to a mapping or ``Headers`` (a response built by hand, as in requests)."""
        return self._raw.headers

    @headers.setter
    def headers(self, value: HeadersLike) -> None:
        fields = value if isinstance(value, Headers) else Headers(value)
        raw = self._raw
        # The raw response answers has_header() from its wire items: keep both in step.
        raw._items = [
            (name.encode("latin-1"), name.lower().encode("latin-1"), text.encode("latin-1"))
            for name, text in fields.multi_items()
        ]
        raw._headers = fields

    @property
    def reused(self) -> bool:
        """True when the connection had carried an earlier request: reuse, made visible."""
        return self._raw.reused

    @property
    def connection_id(self) -> int:
        """An integer naming the TCP connection this came over, unique in the process."""
        return self._raw.connection_id

    @property
    def timings(self) -> Timings:
        """Where this request's time went (``Timings``, seconds); ``dns``/``connect``/``tls`` are
        non-zero only on a new connection."""
        return self._raw.timings

    @property
    def elapsed(self) -> datetime.timedelta:
        """Time from sending to the end of the response head (requests' ``elapsed``)."""
        return datetime.timedelta(seconds=self._raw.elapsed_seconds)

    @property
    def ok(self) -> bool:
        """True for a status below 400; ``raise_for_status()`` raises otherwise."""
        return self._raw.status_code < 400

    @property
    def is_redirect(self) -> bool:
        """True for a 301, 302, 303, 307 or 308 with a ``Location``."""
        return self._raw.status_code in REDIRECT_STATUSES and "location" in self.headers

    @property
    def links(self) -> dict[str, dict[str, str]]:
        """The ``Link`` header fields (RFC 8288) as ``requests`` gives them: keyed by
        ``rel`` (else by URL), each a dict of ``url`` and the link's parameters."""
        raw = self._raw
        if not raw.has_header(b"link"):
            return {}
        return _parse_links(raw.headers.get_list("link"))

    @property
    def cookies(self) -> CookieJar:
        """The cookies this response set (its ``Set-Cookie`` fields, under the rules a
        session applies), as a dict-like jar: ``r.cookies["name"]``, ``get_dict()``,
        ``items()``. Compares equal to a dict of the same names and values."""
        jar = self._cookies
        if jar is None:
            jar = self._cookies = _ResponseCookies()
            raw = self._raw
            if raw.has_header(b"set-cookie") and self.url:
                jar.extract(self.url, raw.headers.get_list("set-cookie"))
        return jar

    @cookies.setter
    def cookies(self, value: CookiesLike) -> None:
        self._cookies = value if isinstance(value, CookieJar) else _ResponseCookies(value)

    def raise_for_status(self) -> Response:
        """Raise ``HTTPStatusError`` for a 4xx or 5xx status; return the response otherwise."""
        status = self._raw.status_code
        if status >= 400:
            kind = "Client" if status < 500 else "Server"
            raise HTTPStatusError(
                f"{kind} error '{status} {self.reason}' for url '{self.url}'", response=self
            )
        return self

    # -- the body ------------------------------------------------------------------------------

    @property
    def max_decoded_size(self) -> int | None:
        """The most bytes ``read()``/``content`` decode from a compressed body; beyond it
        they raise ``DecodingError``. ``None`` lifts the limit; streaming is not capped."""
        return self._max_decoded_size

    @max_decoded_size.setter
    def max_decoded_size(self, value: int | None) -> None:
        _check_limit("max_decoded_size", value)
        self._max_decoded_size = value

    @property
    def raw(self) -> Any:
        """The undecoded body as a read-only file object (``read(n)``, ``readinto``,
        ``close()``), as ``requests``' ``r.raw``; reading it consumes the stream. Once the
        body was read (``stream=False``, ``content``, ``read()``), it is at its end, as in
        requests: ``r.raw.read()`` gives ``b""``.

        Settable to a binary file object, as requests users do to build a response in a
        test: the body (``content``, ``iter_content``...) is then read from it, and
        ``close()`` closes it."""
        body = self._body_file
        if body is None:
            if self._content is not None:  # the stream was consumed into ``content``
                body = self._body_file = io.BytesIO()
            else:
                body = self._body_file = _RawBody(self._sync())
        return body

    @raw.setter
    def raw(self, value: Any) -> None:
        if not callable(getattr(value, "read", None)):
            raise InvalidArgumentType(f"raw must be a file object, not {type(value).__name__}")
        old = self._sync()
        raw = RawResponse(None, old.status_code, b"", b"1.1", old._items, old.timings)
        raw.reason, raw.http_version, raw._headers = old.reason, old.http_version, old._headers
        raw._conn = cast(Any, _FileSource(value))
        self._raw = raw
        self._body_file = value
        self._content = None

    def _decoder(self) -> Decoder | None:
        raw = self._raw
        if raw.has_header(b"content-encoding"):
            return make_decoder(", ".join(raw.headers.get_list("content-encoding")))
        return None

    def _sync(self) -> RawResponse:
        raw = self._raw
        if isinstance(raw, AsyncRawResponse):
            raise ResponseNotRead(
                f"the response from {self.url} came from the async API: use aread(), "
                "aiter_bytes(), aiter_lines() or aclose()"
            )
        return raw

    def _async(self) -> AsyncRawResponse:
        raw = self._raw
        if not isinstance(raw, AsyncRawResponse) and raw._conn is None:
            # Made in memory (a transport's answer): the same bytes serve either API.
            twin = AsyncRawResponse(None, raw.status_code, b"", b"1.1", raw._items, raw.timings)
            twin.reason, twin.http_version = raw.reason, raw.http_version
            twin._content, twin._done = raw._content, raw._done
            self._raw = raw = twin
        if not isinstance(raw, AsyncRawResponse):
            raise ResponseNotRead(
                f"the response from {self.url} came from the blocking API: use read(), "
                "iter_bytes(), iter_lines() or close()"
            )
        return raw

    def _close_on_error(self) -> None:
        """A body that cannot be decoded is abandoned: free its connection before raising,
        so that the exception (and its traceback) holds no pool slot."""
        self._raw.abort()
        self._run_closers()

    def read(self) -> bytes:
        """The whole decoded body; the connection is free once this returns (or raises)."""
        content = self._content
        if content is None:
            raw = self._sync()
            encoded = raw.has_header(b"content-encoding")
            content = self._read_decoded() if encoded else raw.read()
            self._content = content
            self._run_closers()
        return content

    def _read_decoded(self) -> bytes:
        try:
            decoder = self._decoder()
            if decoder is None:  # only "identity"
                return self._sync().read()
            limit = self._max_decoded_size
            parts: list[bytes] = []
            size = 0
            for piece in self._decoded(decoder):
                size += len(piece)
                if limit is not None and size > limit:
                    raise DecodingError(
                        f"the body from {self.url} decodes to more than max_decoded_size "
                        f"({limit:,} bytes); lift the limit with Session(max_decoded_size=N "
                        "or None), or set response.max_decoded_size after stream=True, "
                        "or stream it with iter_bytes()"
                    )
                parts.append(piece)
        except DecodingError:
            self._close_on_error()
            raise
        return b"".join(parts)

    @property
    def content(self) -> bytes:
        """The decoded body (read now if need be; with the async API, ``await aread()``
        first, or use ``stream=False``)."""
        content = self._content
        if content is None:
            if isinstance(self._raw, AsyncRawResponse):
                raise ResponseNotRead(
                    f"the body from {self.url} has not been read: await response.aread() first"
                )
            content = self.read()
        return content

    def _decoded(self, decoder: Decoder) -> Iterator[bytes]:
        seen = False
        for chunk in self._sync().iter_raw():
            seen = True
            yield from decoder.decode(chunk)
        if seen:  # an empty body (HEAD, 204, 304) has nothing to flush or to be truncated
            decoder.finish()

    def iter_bytes(self, chunk_size: int | None = None) -> Iterator[bytes]:
        """The decoded body as it arrives; in pieces of ``chunk_size`` when given.

        Memory stays at one chunk (or one decoder piece of 128 KiB) whatever the
        body's compression ratio.
        """
        _check_chunk_size(chunk_size)
        return self._iter_bytes(chunk_size)

    def _iter_bytes(self, chunk_size: int | None) -> Iterator[bytes]:
        if self._content is not None:
            content = self._content
            yield from rechunk(iter([content]), chunk_size) if chunk_size else iter([content])
            return
        try:
            decoder = self._decoder()
            if decoder is None:
                yield from self._sync().iter_raw(chunk_size)
            else:
                decoded = self._decoded(decoder)
                yield from rechunk(decoded, chunk_size) if chunk_size else decoded
        except DecodingError:
            self._close_on_error()
            raise
        finally:
            if self._raw.is_complete:
                self._run_closers()

    @overload
    def iter_content(
        self, chunk_size: int | None = ..., decode_unicode: Literal[False] = ...
    ) -> Iterator[bytes]: ...

    @overload
    def iter_content(
        self, chunk_size: int | None = ..., *, decode_unicode: Literal[True]
    ) -> Iterator[str]: ...

    @overload
    def iter_content(
        self, chunk_size: int | None, decode_unicode: Literal[True]
    ) -> Iterator[str]: ...

    @overload
    def iter_content(
        self, chunk_size: int | None = ..., decode_unicode: bool = ...
    ) -> Iterator[bytes] | Iterator[str]: ...

    def iter_content(
        self, chunk_size: int | None = 1, decode_unicode: bool = False
    ) -> Iterator[bytes] | Iterator[str]:
        """``requests``' spelling of ``iter_bytes``, with its defaults: ``chunk_size=1``
        (pass a size, or ``None`` for chunks as they arrive); ``decode_unicode=True``
        yields text decoded as ``iter_text`` does."""
        if decode_unicode:
            _check_chunk_size(chunk_size)
            return self._iter_text(chunk_size)
        return self.iter_bytes(chunk_size)

    def iter_raw(self, chunk_size: int | None = None) -> Iterator[bytes]:
        """The body exactly as it came off the wire, without content decoding."""
        _check_chunk_size(chunk_size)
        return self._iter_raw(chunk_size)

    def _iter_raw(self, chunk_size: int | None) -> Iterator[bytes]:
        try:
            yield from self._sync().iter_raw(chunk_size)
        finally:
            if self._raw.is_complete:
                self._run_closers()

    def iter_text(self, chunk_size: int | None = None) -> Iterator[str]:
        """The decoded body as text, as it arrives (``chunk_size`` counts bytes).

        The charset is the one set on ``encoding`` or declared; without either, the
        text is UTF-8 up to the first byte that is not, and ISO-8859-1 from there on,
        so an event stream flows without waiting for the end of the body.
        """
        _check_chunk_size(chunk_size)
        return self._iter_text(chunk_size)

    def _iter_text(self, chunk_size: int | None) -> Iterator[str]:
        decoder = _TextDecoder(self._known_encoding())
        for chunk in self.iter_bytes(chunk_size):
            text = decoder.decode(chunk)
            if text:
                yield text
        tail = decoder.decode(b"", final=True)
        if tail:
            yield tail

    @overload
    def iter_lines(
        self,
        chunk_size: int | None = ...,
        decode_unicode: Literal[True] | None = ...,
        delimiter: str | None = ...,
        *,
        max_line_length: int | None = ...,
    ) -> Iterator[str]: ...

    @overload
    def iter_lines(
        self,
        chunk_size: int | None,
        decode_unicode: Literal[False],
        delimiter: bytes | None = ...,
        *,
        max_line_length: int | None = ...,
    ) -> Iterator[bytes]: ...

    @overload
    def iter_lines(
        self,
        chunk_size: int | None = ...,
        *,
        decode_unicode: Literal[False],
        delimiter: bytes | None = ...,
        max_line_length: int | None = ...,
    ) -> Iterator[bytes]: ...

    def iter_lines(
        self,
        chunk_size: int | None = None,
        decode_unicode: bool | None = None,
        delimiter: str | bytes | None = None,
        *,
        max_line_length: int | None = DEFAULT_MAX_LINE_LENGTH,
    ) -> Iterator[str] | Iterator[bytes]:
        """The body one line at a time, without line endings, as lines arrive.

        Lines end at CRLF, LF or a lone CR (a CRLF split between two chunks is one
        break); with ``delimiter``, at exactly that string instead. A blank line is
        yielded as ``""``; a final line needs no ending. Lines are ``str`` decoded as by
        ``iter_text`` (keepalive's documented default, also ``decode_unicode=True``), or
        ``bytes`` when ``decode_unicode=False`` is given, as ``requests`` yields them.
        ``chunk_size`` (bytes) re-cuts the body first; the default ``None`` takes data as
        it arrives, so that no line waits for a chunk to fill. A line longer than
        ``max_line_length`` (characters or bytes; default 1 MiB, ``None`` for no limit)
        raises ``DecodingError`` and closes the response, bounding the memory one line
        can take.
        """
        splitter = self._line_splitter(chunk_size, decode_unicode, delimiter, max_line_length)
        if splitter.as_bytes:
            return self._lines(self.iter_bytes(chunk_size), splitter)
        return self._lines(self._iter_text(chunk_size), splitter)

    def _line_splitter(
        self,
        chunk_size: int | None,
        decode_unicode: bool | None,
        delimiter: str | bytes | None,
        max_line_length: int | None,
    ) -> _LineSplitter[Any]:
        """Check ``iter_lines``' arguments; the splitter that cuts its lines."""
        _check_chunk_size(chunk_size)
        _check_limit("max_line_length", max_line_length)
        if decode_unicode is not None and not isinstance(decode_unicode, bool):
            raise InvalidArgumentType(
                f"decode_unicode must be a bool or None, not {type(decode_unicode).__name__}"
            )
        as_bytes = decode_unicode is False
        if delimiter is not None:
            wanted = bytes if as_bytes else str
            if not isinstance(delimiter, wanted):
                raise InvalidArgumentType(
                    f"delimiter must be {wanted.__name__} when lines are "
                    f"{wanted.__name__}, not {type(delimiter).__name__}"
                )
            if not delimiter:
                raise InvalidArgument("delimiter must not be empty")
        if as_bytes:
            assert not isinstance(delimiter, str)
            return _LineSplitter(
                _BREAKS_BYTES, b"\r", b"\n", b"", delimiter, max_line_length,
                self._check_line, as_bytes=True,
            )  # fmt: skip
        assert not isinstance(delimiter, bytes)
        return _LineSplitter(
            _BREAKS_STR, "\r", "\n", "", delimiter, max_line_length,
            self._check_line, as_bytes=False,
        )  # fmt: skip

    def _lines(
        self, chunks: Iterator[Any], splitter: _LineSplitter[Any]
    ) -> Iterator[Any]:
        for chunk in chunks:
            yield from splitter.feed(chunk)
        yield from splitter.finish()

    async def _alines(
        self, chunks: AsyncIterator[Any], splitter: _LineSplitter[Any]
    ) -> AsyncIterator[Any]:
        async for chunk in chunks:
            for line in splitter.feed(chunk):
                yield line
        for line in splitter.finish():
            yield line

    def _check_line(self, length: int, limit: int | None) -> None:
        if limit is not None and length > limit:
            self._close_on_error()
            raise DecodingError(
                f"a line of the body from {self.url} is longer than max_line_length "
                f"({limit:,}); pass iter_lines(max_line_length=N or None) to allow it"
            )

    def _known_encoding(self) -> str | None:
        """The charset for text without reading the body: set, declared, or (for a body
        already read) sniffed; None when only the bytes still to come can tell."""
        if self._encoding is None and self._content is None:
            declared = _charset(self.headers.get("content-type"))
            if declared is not None:
                self._encoding = declared
            return declared
        return self.encoding

    @property
    def encoding(self) -> str | None:
        """The charset used by ``text``: set, else declared, else UTF-8 when the body fits,
        else ISO-8859-1. ``None`` for a streamed body not yet read that declares none
        (reading this property never consumes the stream)."""
        if self._encoding is None:
            declared = _charset(self.headers.get("content-type"))
            if declared is not None:
                self._encoding = declared
            elif self._content is not None:
                self._encoding = _sniff(self._content)
        return self._encoding

    @encoding.setter
    def encoding(self, value: str | None) -> None:
        self._encoding = value

    @property
    def text(self) -> str:
        """The body as text by ``encoding``; a charset that cannot decode text (``base64``,
        ``idna``...) is ignored as an unknown one is. Never raises for the bytes."""
        content = self.content
        if not content:
            return ""
        return _decode_text(content, self.encoding)

    def json(self, **kwargs: Any) -> Any:
        """The body parsed as JSON (``json.loads`` detects UTF-8/16/32 per RFC 8259).

        Every failure raises ``keepalive.JSONDecodeError``: also a ``json.JSONDecodeError``
        and a ``ValueError``, and a ``DecodingError``.
        """
        content = self.content
        where = f"the body from {self.url} is not valid JSON"
        try:
            return jsonlib.loads(content, **kwargs)
        except jsonlib.JSONDecodeError as exc:
            raise JSONDecodeError(f"{where}: {exc.msg}", exc.doc, exc.pos) from exc
        except UnicodeDecodeError as exc:
            # Not UTF-8/16/32 (RFC 8259 section 8.1): ``doc`` is the body as ``text`` reads
            # it, as in requests.
            raise JSONDecodeError(f"{where}: {exc.reason}", self.text, 0) from exc
        except RecursionError as exc:
            doc = _json_doc(content)
            raise JSONDecodeError(f"{where}: nested too deeply to parse", doc, 0) from exc
        except ValueError as exc:  # from a parse_float/object_hook the caller gave
            raise JSONDecodeError(f"{where}: {exc}", _json_doc(content), 0) from exc

    # -- life cycle ----------------------------------------------------------------------------

    def _run_closers(self) -> None:
        closers, self._closers = self._closers, []
        for close in closers:
            close()

    def close(self) -> None:
        """End the response; the connection goes back to the pool or is closed (a file
        object set as ``raw`` is closed)."""
        self._sync().close()
        body = self._body_file
        if body is None:  # r.raw asked for later reads as closed, as in requests
            self._body_file = _CLOSED_BODY
        else:  # r.raw, or the file object set as r.raw
            body.close()
        self._run_closers()

    def __iter__(self) -> Iterator[bytes]:
        """The body in pieces, as requests' ``for chunk in response`` (``iter_content(128)``)."""
        return self.iter_content(128)

    def __bool__(self) -> bool:
        """``ok``, as in requests: ``if response:`` is false for a 4xx or 5xx status."""
        return self._raw.status_code < 400

    def __enter__(self) -> Response:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the async API (responses of AsyncSession) --------------------------------------------

    async def aread(self) -> bytes:
        """The whole decoded body; the connection is free once this returns (or raises)."""
        content = self._content
        if content is None:
            raw = self._async()
            if raw.has_header(b"content-encoding"):
                content = await self._aread_decoded()
            else:
                content = await raw.aread()
            self._content = content
            self._run_closers()
        return content

    async def _aread_decoded(self) -> bytes:
        try:
            decoder = self._decoder()
            if decoder is None:  # only "identity"
                data: bytes = await self._async().aread()
                return data
            limit = self._max_decoded_size
            parts: list[bytes] = []
            size = 0
            async for piece in self._adecoded(decoder):
                size += len(piece)
                if limit is not None and size > limit:
                    raise DecodingError(
                        f"the body from {self.url} decodes to more than max_decoded_size "
                        f"({limit:,} bytes); lift the limit with AsyncSession("
                        "max_decoded_size=N or None), or stream it with aiter_bytes()"
                    )
                parts.append(piece)
        except DecodingError:
            self._close_on_error()
            raise
        return b"".join(parts)

    async def _adecoded(self, decoder: Decoder) -> AsyncIterator[bytes]:
        seen = False
        async for chunk in self._async().aiter_raw():
            seen = True
            for piece in decoder.decode(chunk):
                yield piece
        if seen:
            decoder.finish()

    def aiter_bytes(self, chunk_size: int | None = None) -> AsyncIterator[bytes]:
        """``iter_bytes`` for the async API: the decoded body as it arrives."""
        _check_chunk_size(chunk_size)
        return self._aiter_bytes(chunk_size)

    async def _aiter_bytes(self, chunk_size: int | None) -> AsyncIterator[bytes]:
        if self._content is not None:
            content = self._content
            step = chunk_size or len(content) or 1
            for i in range(0, len(content), step):
                yield content[i : i + step]
            return
        try:
            decoder = self._decoder()
            if decoder is None:
                async for piece in self._async().aiter_raw(chunk_size):
                    yield piece
            else:
                decoded = self._adecoded(decoder)
                pieces = arechunk(decoded, chunk_size) if chunk_size else decoded
                async for piece in pieces:
                    yield piece
        except DecodingError:
            self._close_on_error()
            raise
        finally:
            if self._raw.is_complete:
                self._run_closers()

    def aiter_raw(self, chunk_size: int | None = None) -> AsyncIterator[bytes]:
        """``iter_raw`` for the async API: the body as it came off the wire."""
        _check_chunk_size(chunk_size)
        return self._aiter_raw(chunk_size)

    async def _aiter_raw(self, chunk_size: int | None) -> AsyncIterator[bytes]:
        try:
            async for piece in self._async().aiter_raw(chunk_size):
                yield piece
        finally:
            if self._raw.is_complete:
                self._run_closers()

    def aiter_text(self, chunk_size: int | None = None) -> AsyncIterator[str]:
        """``iter_text`` for the async API."""
        _check_chunk_size(chunk_size)
        return self._aiter_text(chunk_size)

    async def _aiter_text(self, chunk_size: int | None) -> AsyncIterator[str]:
        decoder = _TextDecoder(self._known_encoding())
        async for chunk in self.aiter_bytes(chunk_size):
            text = decoder.decode(chunk)
            if text:
                yield text
        tail = decoder.decode(b"", final=True)
        if tail:
            yield tail

    def aiter_lines(
        self,
        chunk_size: int | None = None,
        decode_unicode: bool | None = None,
        delimiter: str | bytes | None = None,
        *,
        max_line_length: int | None = DEFAULT_MAX_LINE_LENGTH,
    ) -> AsyncIterator[Any]:
        """``iter_lines`` for the async API (same arguments, same line rules)."""
        splitter = self._line_splitter(chunk_size, decode_unicode, delimiter, max_line_length)
        if splitter.as_bytes:
            return self._alines(self.aiter_bytes(chunk_size), splitter)
        return self._alines(self._aiter_text(chunk_size), splitter)

    async def aclose(self) -> None:
        """End the response; the connection goes back to the pool or is closed."""
        await self._async().aclose()
        self._run_closers()

    async def __aenter__(self) -> Response:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<Response [{self.status_code} {self.reason}]>"


def _json_doc(content: bytes) -> str:
    """The text ``json.loads`` saw, for the ``doc`` of a ``JSONDecodeError``."""
    return content.decode(jsonlib.detect_encoding(content), "replace")
