"""Streaming decoders for HTTP content codings (RFC 9110 section 8.4.1).

The session feeds a response body through ``make_decoder(content_encoding)`` chunk by chunk
as it arrives: ``decode(chunk)`` returns whatever plain bytes that chunk completes and
``flush()`` ends the stream, raising ``DecodingError`` when it stopped short (a gzip member
without its trailer, a brotli stream without its last meta-block). Nothing buffers the
whole body, so memory follows the size of one chunk and its expansion, never of the body.

Every foreign error (``zlib.error``, ``brotli.error``, ``zstandard.ZstdError``) is
translated to ``DecodingError`` with the original chained as ``__cause__``.
"""

from __future__ import annotations

import importlib
import zlib
from collections.abc import Callable
from types import ModuleType
from typing import Any, Protocol

from .exceptions import DecodingError

__all__ = ["ACCEPT_ENCODING", "Decoder", "make_decoder", "supported_encodings"]


class Decoder(Protocol):
    """A streaming decoder: feed chunks to ``decode``, then call ``flush`` once at the end."""

    def decode(self, data: bytes) -> bytes: ...

    def flush(self) -> bytes: ...


def _optional_module(*names: str) -> ModuleType | None:
    """The first of ``names`` that imports, or None: optional codecs stay optional."""
    for name in names:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None


# brotlicffi has the same Decompressor API as Google's brotli binding (process, is_finished).
_brotli = _optional_module("brotli", "brotlicffi")
_zstandard = _optional_module("zstandard")

_SUPPORTED: tuple[str, ...] = (
    ("gzip", "deflate")
    + (("br",) if _brotli is not None else ())
    + (("zstd",) if _zstandard is not None else ())
)

ACCEPT_ENCODING: str = ", ".join(_SUPPORTED)
"""The ``Accept-Encoding`` value naming every coding this installation can decode."""


def supported_encodings() -> tuple[str, ...]:
    """The content codings this installation decodes (computed once, at import)."""
    return _SUPPORTED


class _Stream(Protocol):
    """The part of a zlib-style decompress object the member chain relies on."""

    def decompress(self, data: bytes) -> bytes: ...

    @property
    def eof(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...


class _MemberChain:
    """Decodes a concatenation of self-delimiting members (gzip members, zstd frames).

    Each member gets a fresh decompress object; the bytes after one member's end start
    the next. The stream is complete only when the last member reached its end.
    """

    __slots__ = ("_coding", "_errors", "_factory", "_members", "_skip_zeros", "_stream")

    def __init__(
        self,
        coding: str,
        factory: Callable[[], _Stream],
        errors: tuple[type[BaseException], ...],
        *,
        skip_zeros: bool,
    ) -> None:
        self._coding = coding
        self._factory = factory
        self._errors = errors
        self._skip_zeros = skip_zeros
        self._stream: _Stream | None = None
        self._members = 0

    def decode(self, data: bytes) -> bytes:
        out: list[bytes] = []
        while data:
            if self._stream is None:
                if self._members and self._skip_zeros:
                    # Like the stdlib gzip module, accept zero padding after a member.
                    data = data.lstrip(b"\x00")
                    if not data:
                        break
                self._stream = self._factory()
            try:
                out.append(self._stream.decompress(data))
            except self._errors as exc:
                raise DecodingError(
                    f"body is not valid {self._coding} data: {exc}"
                ) from exc
            if self._stream.eof:
                data = self._stream.unused_data
                self._stream = None
                self._members += 1
            else:
                data = b""
        return b"".join(out)

    def flush(self) -> bytes:
        if self._stream is not None:
            raise DecodingError(f"{self._coding} body ended before the end of its stream")
        return b""


def _gzip_decoder() -> _MemberChain:
    # RFC 1952 section 2.2: a gzip file is a series of members; decode them all.
    return _MemberChain(
        "gzip",
        lambda: zlib.decompressobj(16 + zlib.MAX_WBITS),
        (zlib.error,),
        skip_zeros=True,
    )


def _is_zlib_header(head: bytes) -> bool:
    # RFC 1950 section 2.2: CM (low nibble of CMF) is 8 for deflate, CINFO <= 7, and
    # CMF*256 + FLG is a multiple of 31. A raw deflate stream rarely passes all three.
    cmf, flg = head[0], head[1]
    return cmf & 0x0F == 8 and cmf >> 4 <= 7 and (cmf << 8 | flg) % 31 == 0


class _DeflateDecoder:
    """``deflate`` is zlib-wrapped (RFC 9110 section 8.4.1.2), but some servers send raw
    deflate (RFC 1951); the first two bytes tell which."""

    __slots__ = ("_head", "_stream")

    def __init__(self) -> None:
        self._head = b""
        self._stream: Any = None  # zlib's decompress object has no public type

    def decode(self, data: bytes) -> bytes:
        if self._stream is None:
            data = self._head + data
            if len(data) < 2:
                self._head = data
                return b""
            self._head = b""
            wbits = zlib.MAX_WBITS if _is_zlib_header(data) else -zlib.MAX_WBITS
            self._stream = zlib.decompressobj(wbits)
        if self._stream.eof:
            if data:
                raise DecodingError("deflate body has data after the end of its stream")
            return b""
        try:
            out: bytes = self._stream.decompress(data)
        except zlib.error as exc:
            raise DecodingError(f"body is not valid deflate data: {exc}") from exc
        if self._stream.eof and self._stream.unused_data:
            raise DecodingError("deflate body has data after the end of its stream")
        return out

    def flush(self) -> bytes:
        if self._stream is None:
            if self._head:
                raise DecodingError("deflate body ended after one byte")
            return b""  # an empty body stays empty (HEAD, 204, 304)
        if not self._stream.eof:
            raise DecodingError("deflate body ended before the end of its stream")
        return b""


class _BrotliDecoder:
    """``br`` (RFC 7932) through the optional ``brotli`` or ``brotlicffi`` package."""

    __slots__ = ("_error", "_fed", "_stream")

    def __init__(self, module: ModuleType) -> None:
        self._stream: Any = module.Decompressor()
        self._error: type[BaseException] = module.error
        self._fed = False

    def decode(self, data: bytes) -> bytes:
        if not data:
            return b""
        self._fed = True
        try:
            if self._stream.is_finished():
                raise DecodingError("br body has data after the end of its stream")
            out: bytes = self._stream.process(data)
        except self._error as exc:
            raise DecodingError(f"body is not valid br data: {exc}") from exc
        return out

    def flush(self) -> bytes:
        if self._fed and not self._stream.is_finished():
            raise DecodingError("br body ended before the end of its stream")
        return b""


def _zstd_decoder(module: ModuleType) -> _MemberChain:
    # RFC 9659 section 3: zstd content coding uses windows of at most 8 MiB; refusing
    # larger ones bounds the decoder's memory whatever the server claims.
    decompressor = module.ZstdDecompressor(max_window_size=8 * 1024 * 1024)
    # RFC 8878 section 3.1: a zstd stream is a series of frames (skippable ones included).
    return _MemberChain(
        "zstd", decompressor.decompressobj, (module.ZstdError,), skip_zeros=False
    )


class _ChainDecoder:
    """Several codings: undo them in the reverse of the order they were applied
    (RFC 9110 section 8.4)."""

    __slots__ = ("_decoders",)

    def __init__(self, decoders: list[Decoder]) -> None:
        self._decoders = decoders  # already in decoding order

    def decode(self, data: bytes) -> bytes:
        for decoder in self._decoders:
            if not data:
                break
            data = decoder.decode(data)
        return data

    def flush(self) -> bytes:
        data = b""
        for decoder in self._decoders:
            data = decoder.decode(data) + decoder.flush() if data else decoder.flush()
        return data


def _decoder_for(coding: str) -> Decoder:
    if coding in ("gzip", "x-gzip"):  # x-gzip: RFC 9110 section 8.4.1.3
        return _gzip_decoder()
    if coding == "deflate":
        return _DeflateDecoder()
    if coding == "br":
        if _brotli is None:
            raise DecodingError("body is br-encoded; install 'brotli' to decode it")
        return _BrotliDecoder(_brotli)
    if coding == "zstd":
        if _zstandard is None:
            raise DecodingError("body is zstd-encoded; install 'zstandard' to decode it")
        return _zstd_decoder(_zstandard)
    raise DecodingError(f"unsupported Content-Encoding {coding!r}")


def make_decoder(content_encoding: str | None) -> Decoder | None:
    """A fresh decoder for a ``Content-Encoding`` value, or None when there is nothing to undo.

    Raises ``DecodingError`` naming an unknown coding (or an optional one not installed).
    """
    if not content_encoding:
        return None
    codings = [c.strip().lower() for c in content_encoding.split(",")]
    # Codings are listed in the order they were applied; decode last-applied first.
    decoders = [_decoder_for(c) for c in reversed(codings) if c and c != "identity"]
    if not decoders:
        return None
    if len(decoders) == 1:
        return decoders[0]
    return _ChainDecoder(decoders)
