"""A request normalised once, at the edge: header pairs, the body and how to replay it.

Every layer above the protocol used to look at the caller's headers and body in its own way
(the pool for ``Idempotency-Key``, the session for 307/308, Digest for its re-send, the
connection for framing). Here they are turned once into what the rest reads: a list of
``(name, value)`` pairs and a ``RequestBody`` that knows its length and can rewind itself
to where it started (Go's ``GetBody``), whichever attempt asks.
"""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from typing import IO, Any, Union

from .exceptions import InvalidArgumentType, LocalProtocolError
from .models import Headers

__all__ = [
    "IDEMPOTENT_METHODS",
    "BodyLike",
    "HeaderPairs",
    "RequestBody",
    "header_pairs",
    "is_idempotent",
    "make_body",
]

BodyLike = Union[bytes, bytearray, memoryview, str, IO[bytes], Iterable[bytes], None]
HeaderPairs = Union[Iterable[tuple[str | bytes, str | bytes]], Mapping[str, str], None]

# RFC 9110 section 9.2.2; a request with an Idempotency-Key header counts too
# (docs/design.md, reuse rule 6).
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})

FILE_CHUNK = 64 * 1024


def header_pairs(headers: Any) -> list[Any]:
    """The caller's headers as a new list of ``(name, value)`` pairs (str or bytes kept).

    Accepts ``None``, ``keepalive.Headers`` (repeats kept), any mapping, or an iterable of
    pairs; the one place that knows these shapes.
    """
    if headers is None:
        return []
    if type(headers) is list:  # the connection's and the pool's own callers
        return headers.copy()
    if type(headers) is Headers:
        return headers.multi_items()  # already a new list
    multi = getattr(headers, "multi_items", None)
    if multi is not None:
        return list(multi())
    if isinstance(headers, Mapping):
        return list(headers.items())
    try:
        pairs = list(headers)
    except TypeError:
        raise InvalidArgumentType(
            f"headers must be a mapping or pairs of (name, value), not {type(headers).__name__}"
        ) from None
    return pairs


def is_idempotent(method: str | bytes, pairs: list[Any]) -> bool:
    """May this request be sent twice? RFC 9110 section 9.2.2, or an ``Idempotency-Key``."""
    name = method.decode("ascii", "replace") if isinstance(method, bytes) else method
    if name.upper() in IDEMPOTENT_METHODS:
        return True
    for key, _ in pairs:
        lowered = key.lower()
        if lowered == "idempotency-key" or lowered == b"idempotency-key":
            return True
    return False


def _file_length(body: Any) -> int | None:
    """Bytes left in a file object from its current position, when that can be known."""
    try:
        info = os.fstat(body.fileno())
        if stat.S_ISREG(info.st_mode):  # a pipe, socket or device has no meaningful size
            return max(0, info.st_size - int(body.tell()))
        return None
    except (AttributeError, OSError, ValueError):
        pass
    try:
        here = body.tell()
        body.seek(0, 2)
        end = body.tell()  # not seek()'s result: a file-like object may return None there
        body.seek(here)
        return max(0, int(end) - int(here))
    except (AttributeError, OSError, ValueError, TypeError):
        return None


class RequestBody:
    """A request body made once per request: in-memory bytes, or a stream to read.

    ``data`` holds in-memory content (``b""`` for none); ``stream`` a file object or an
    iterable; ``length`` the size when known (``None`` means chunked). ``rewind()`` puts a
    replayable body back where it was when the request was built, for a retry, a 307/308
    or an authentication re-send alike.
    """

    __slots__ = ("_start", "data", "length", "stream")

    def __init__(self, data: bytes | bytearray | memoryview = b"", stream: Any = None) -> None:
        self.data = data
        self.stream = stream
        self._start: int | None = None
        if stream is None:
            self.length: int | None = len(data)
        elif hasattr(stream, "read"):
            self.length = _file_length(stream)
            try:
                self._start = int(stream.tell())
            except (AttributeError, OSError, ValueError):
                self._start = None
        else:
            self.length = None

    @property
    def replayable(self) -> bool:
        """In memory, or a file whose start offset is known."""
        return self.stream is None or self._start is not None

    def rewind(self) -> bool:
        """Make the next read start where the first did; False when that is impossible."""
        if self.stream is None:
            return True
        if self._start is None:
            return False
        try:
            self.stream.seek(self._start)
        except (AttributeError, OSError, ValueError):
            return False
        return True

    def chunks(self) -> Iterator[bytes | bytearray | memoryview]:
        """The streamed content piece by piece (bytes; str is sent as UTF-8)."""
        stream = self.stream
        if not hasattr(stream, "__iter__") and hasattr(stream, "__aiter__"):
            raise LocalProtocolError(
                "an async iterable body can only be sent by the async API (AsyncSession)"
            )
        if hasattr(stream, "read"):
            while True:
                chunk = stream.read(FILE_CHUNK)
                if not chunk:
                    return
                yield chunk.encode("utf-8") if isinstance(chunk, str) else chunk
        for chunk in stream:
            if isinstance(chunk, str):
                chunk = chunk.encode("utf-8")
            elif not isinstance(chunk, bytes | bytearray | memoryview):
                raise LocalProtocolError(
                    f"a streamed body yielded {type(chunk).__name__}; it must yield bytes"
                )
            yield chunk


    async def achunks(self) -> AsyncIterator[bytes | bytearray | memoryview]:
        """``chunks()`` for the async API, which also takes an async iterable body."""
        stream = self.stream
        if hasattr(stream, "__aiter__"):
            async for chunk in stream:
                if isinstance(chunk, str):
                    chunk = chunk.encode("utf-8")
                elif not isinstance(chunk, bytes | bytearray | memoryview):
                    raise LocalProtocolError(
                        f"a streamed body yielded {type(chunk).__name__}; it must yield bytes"
                    )
                yield chunk
            return
        for chunk in self.chunks():
            yield chunk


EMPTY_BODY = RequestBody()


def make_body(body: Any) -> RequestBody:
    """Normalise what a caller passed as a body; ``LocalProtocolError`` for a wrong type."""
    if body is None:
        return EMPTY_BODY
    if isinstance(body, RequestBody):
        return body
    if isinstance(body, bytes | bytearray | memoryview):
        return RequestBody(body) if body else EMPTY_BODY
    if isinstance(body, str):
        return RequestBody(body.encode("utf-8")) if body else EMPTY_BODY
    if hasattr(body, "read"):
        return RequestBody(stream=body)
    if (isinstance(body, Iterable) or hasattr(body, "__aiter__")) and not isinstance(
        body, Mapping
    ):
        return RequestBody(stream=body)
    raise LocalProtocolError(
        f"cannot send a body of type {type(body).__name__}: "
        "give bytes, str, a file object or an iterable of bytes"
    )
