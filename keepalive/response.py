"""The session's ``Request`` and ``Response``: a ``RawResponse`` plus decoding and conveniences."""

from __future__ import annotations

import codecs
import datetime
import json as jsonlib
from collections.abc import Callable, Iterator
from email.message import Message
from typing import Any

from .connection import RawResponse, rechunk
from .decoders import Decoder, make_decoder
from .exceptions import DecodingError, HTTPStatusError
from .models import Headers, Timings

__all__ = ["REDIRECT_STATUSES", "Request", "Response"]

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


class Request:
    """What was sent: method, URL and the header fields as written."""

    __slots__ = ("headers", "method", "url")

    def __init__(self, method: str, url: str, headers: Headers) -> None:
        self.method = method
        self.url = url
        self.headers = headers

    def __repr__(self) -> str:
        return f"<Request [{self.method} {self.url}]>"


def _charset(content_type: str | None) -> str | None:
    if not content_type:
        return None
    msg = Message()
    msg["content-type"] = content_type
    charset = msg.get_param("charset")
    if not isinstance(charset, str):
        return None
    charset = charset.strip("'\" ").lower()
    try:
        codecs.lookup(charset)
    except LookupError:
        return None
    return charset


class Response:
    """An HTTP response as a ``requests``/``httpx`` user knows it, over a pooled connection.

    With ``stream=False`` (the default) the body was read before the session returned it
    and the connection is already back in the pool; with ``stream=True`` read it with
    ``iter_bytes``/``iter_lines``/``read`` and close it (or use ``with``).
    """

    __slots__ = (
        "_closers",
        "_content",
        "_encoding",
        "_raw",
        "cookies",
        "history",
        "request",
        "url",
    )

    def __init__(self, raw: RawResponse, request: Request, url: str) -> None:
        self._raw = raw
        self.request = request
        self.url = url
        self.history: list[Response] = []
        self.cookies: dict[str, str] = {}
        self._content: bytes | None = None
        self._encoding: str | None = None
        self._closers: list[Callable[[], None]] = []

    # -- the head ---------------------------------------------------------------------------------

    @property
    def status_code(self) -> int:
        return self._raw.status_code

    @property
    def reason(self) -> str:
        return self._raw.reason

    @property
    def http_version(self) -> str:
        return self._raw.http_version

    @property
    def headers(self) -> Headers:
        return self._raw.headers

    @property
    def reused(self) -> bool:
        return self._raw.reused

    @property
    def connection_id(self) -> int:
        return self._raw.connection_id

    @property
    def timings(self) -> Timings:
        return self._raw.timings

    @property
    def elapsed(self) -> datetime.timedelta:
        return datetime.timedelta(seconds=self._raw.elapsed_seconds)

    @property
    def ok(self) -> bool:
        return self._raw.status_code < 400

    @property
    def is_redirect(self) -> bool:
        return self._raw.status_code in REDIRECT_STATUSES and "location" in self.headers

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

    def _decoder(self) -> Decoder | None:
        raw = self._raw
        if raw.has_header(b"content-encoding"):
            return make_decoder(", ".join(raw.headers.get_list("content-encoding")))
        return None

    def read(self) -> bytes:
        """The whole decoded body; the connection is free once this returns."""
        content = self._content
        if content is None:
            decoder = self._decoder()
            if decoder is None:
                content = self._raw.read()
            else:
                content = b"".join(self._decoded(self._raw.iter_raw(), decoder))
            self._content = content
            self._run_closers()
        return content

    @property
    def content(self) -> bytes:
        return self.read()

    def _decoded(self, chunks: Iterator[bytes], decoder: Decoder) -> Iterator[bytes]:
        seen = False
        for chunk in chunks:
            seen = True
            out = decoder.decode(chunk)
            if out:
                yield out
        if seen:  # an empty body (HEAD, 204, 304) has nothing to flush or to be truncated
            tail = decoder.flush()
            if tail:
                yield tail

    def iter_bytes(self, chunk_size: int | None = None) -> Iterator[bytes]:
        """The decoded body as it arrives; in pieces of ``chunk_size`` when given."""
        if self._content is not None:
            content = self._content
            yield from rechunk(iter([content]), chunk_size) if chunk_size else iter([content])
            return
        try:
            decoder = self._decoder()
            if decoder is None:
                yield from self._raw.iter_raw(chunk_size)
            else:
                decoded = self._decoded(self._raw.iter_raw(), decoder)
                yield from rechunk(decoded, chunk_size) if chunk_size else decoded
        finally:
            if self._raw.is_complete:
                self._run_closers()

    iter_content = iter_bytes

    def iter_raw(self, chunk_size: int | None = None) -> Iterator[bytes]:
        """The body exactly as it came off the wire, without content decoding."""
        try:
            yield from self._raw.iter_raw(chunk_size)
        finally:
            if self._raw.is_complete:
                self._run_closers()

    def iter_text(self, chunk_size: int | None = None) -> Iterator[str]:
        decoder = codecs.getincrementaldecoder(self.encoding or "utf-8")(errors="replace")
        for chunk in self.iter_bytes(chunk_size):
            text = decoder.decode(chunk)
            if text:
                yield text
        tail = decoder.decode(b"", final=True)
        if tail:
            yield tail

    def iter_lines(self) -> Iterator[str]:
        """Decoded text, one line at a time, without line endings."""
        pending = ""
        for text in self.iter_text():
            pending += text
            lines = pending.splitlines(keepends=True)
            pending = lines.pop() if lines and not lines[-1].endswith(("\n", "\r")) else ""
            for line in lines:
                yield line.rstrip("\r\n")
        if pending:
            yield pending

    @property
    def encoding(self) -> str | None:
        """The charset used by ``text``: declared, else UTF-8 when it fits, else ISO-8859-1."""
        if self._encoding is None:
            declared = _charset(self.headers.get("content-type"))
            if declared is not None:
                self._encoding = declared
            else:
                try:
                    self.read().decode("utf-8")
                    self._encoding = "utf-8"
                except UnicodeDecodeError:
                    self._encoding = "iso-8859-1"  # maps every byte: lossless fallback
        return self._encoding

    @encoding.setter
    def encoding(self, value: str | None) -> None:
        self._encoding = value

    @property
    def text(self) -> str:
        content = self.read()
        if not content:
            return ""
        return content.decode(self.encoding or "utf-8", errors="replace")

    def json(self, **kwargs: Any) -> Any:
        """The body parsed as JSON (``json.loads`` detects UTF-8/16/32 per RFC 8259)."""
        try:
            return jsonlib.loads(self.read(), **kwargs)
        except (ValueError, UnicodeDecodeError) as exc:
            raise DecodingError(f"the body from {self.url} is not valid JSON: {exc}") from exc

    # -- life cycle ----------------------------------------------------------------------------

    def _run_closers(self) -> None:
        closers, self._closers = self._closers, []
        for close in closers:
            close()

    def close(self) -> None:
        """End the response; the connection goes back to the pool or is closed."""
        self._raw.close()
        self._run_closers()

    def __enter__(self) -> Response:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Response [{self.status_code} {self.reason}]>"

