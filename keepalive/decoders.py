"""Streaming decoders for HTTP content codings (RFC 9110 section 8.4.1), bounded in memory.

A decoder is sans-I/O: ``decode(chunk)`` is a generator of the plain bytes that chunk
completes, in pieces of at most ``PIECE_SIZE`` bytes, and ``finish()`` ends the stream,
raising ``DecodingError`` when it stopped short (a gzip member without its trailer, a brotli
stream without its last meta-block). Whatever the compression ratio, one step of one decoder
holds one piece of output, so a streamed body costs O(piece) memory: a 10 MB gzip "bomb"
that inflates to 1 GiB comes out 128 KiB at a time, and a reader that stops after the
first KiB never makes the rest. How each library is held to that bound:

* zlib (gzip, deflate): ``decompress(data, max_length)``, resumed from ``unconsumed_tail``.
* brotli >= 1.2 (and brotlicffi >= 1.2): ``process(data, output_buffer_limit=...)``, then
  ``process(b"")`` until the decoder wants input again. Older bindings have no output
  limit; they are fed ``_BROTLI_SLICE`` input bytes at a time, which bounds a step by that
  slice times brotli's largest expansion (a few MiB per input byte): install brotli >= 1.2.
* zstandard: its push API (``decompressobj``) returns all the output of its input at once,
  and its bounded readers pull their input. So ``_ZstdFraming`` follows the frame and block
  headers (RFC 8878 section 3.1.1) and the decoder is fed at most one block's end per call;
  a block regenerates at most 128 KiB (Block_Maximum_Size), so each call is bounded.

Stacked codings (``gzip, br``) run one decoder per coding, each fed the pieces of the one
before, so every stage stays bounded; at most ``MAX_CODINGS`` are undone.

Every foreign error (``zlib.error``, ``brotli.error``, ``zstandard.ZstdError``) is
translated to ``DecodingError`` with the original chained as ``__cause__``.
"""

from __future__ import annotations

import importlib
import zlib
from collections.abc import Iterator
from types import ModuleType
from typing import Any, Protocol

from .exceptions import DecodingError

__all__ = [
    "ACCEPT_ENCODING",
    "MAX_CODINGS",
    "PIECE_SIZE",
    "Decoder",
    "make_decoder",
    "supported_encodings",
]

PIECE_SIZE = 128 * 1024
"""The most plain bytes one decoding step yields (zstd's largest block, RFC 8878 3.1.1.2.4)."""

MAX_CODINGS = 5
"""The most content codings undone for one body (urllib3 2.x allows as many); a longer
``Content-Encoding`` list is refused: no server stacks more than two in practice."""


class Decoder(Protocol):
    """A streaming decoder: feed each chunk to ``decode`` (exhausting it), then ``finish``."""

    def decode(self, data: bytes) -> Iterator[bytes]:
        """The plain bytes ``data`` completes, in pieces of at most ``PIECE_SIZE`` bytes."""
        ...

    def finish(self) -> None:
        """End of the body: raise ``DecodingError`` when the coded stream is incomplete."""
        ...


def _optional_module(*names: str) -> ModuleType | None:
    """The first of ``names`` that imports, or None: optional codecs stay optional."""
    for name in names:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None


def _has_output_limit(module: ModuleType) -> bool:
    """Whether this brotli binding's ``process`` takes ``output_buffer_limit`` (>= 1.2)."""
    try:
        module.Decompressor().process(b"", output_buffer_limit=PIECE_SIZE)
    except TypeError:
        return False
    return True


def _pick_brotli() -> tuple[ModuleType | None, bool]:
    """The brotli binding to use and whether it bounds its output; a bounded one wins.

    brotlicffi has the same Decompressor API as Google's brotli binding.
    """
    fallback: ModuleType | None = None
    for name in ("brotli", "brotlicffi"):
        module = _optional_module(name)
        if module is None:
            continue
        if _has_output_limit(module):
            return module, True
        fallback = fallback or module
    return fallback, False


_brotli, _brotli_limited = _pick_brotli()
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


def _pieces(out: bytes) -> Iterator[bytes]:
    """``out`` cut to ``PIECE_SIZE`` pieces (for a library whose own bound is looser)."""
    if len(out) <= PIECE_SIZE:
        yield out
        return
    view = memoryview(out)
    for start in range(0, len(out), PIECE_SIZE):
        yield bytes(view[start : start + PIECE_SIZE])


# ----------------------------------------------------------------------------- zlib


def _inflate(stream: Any, data: bytes, coding: str) -> Iterator[bytes]:
    """Inflate ``data`` through a zlib decompress object, ``PIECE_SIZE`` bytes per step.

    Stops at the end of the stream (the bytes after it stay in ``stream.unused_data``).
    A step that filled its piece may have left output inside zlib even with no input
    left, so only a short step with nothing left over means "needs more input".
    """
    while True:
        try:
            out: bytes = stream.decompress(data, PIECE_SIZE)
        except zlib.error as exc:
            raise DecodingError(f"body is not valid {coding} data: {exc}") from exc
        if out:
            yield out
        if stream.eof:
            return
        data = stream.unconsumed_tail
        if not data and len(out) < PIECE_SIZE:
            return


class _GzipDecoder:
    """gzip: a series of members (RFC 1952 section 2.2), each inflated in bounded steps."""

    __slots__ = ("_members", "_stream")

    def __init__(self) -> None:
        self._stream: Any = None  # zlib's decompress object has no public type
        self._members = 0

    def decode(self, data: bytes) -> Iterator[bytes]:
        while data:
            stream = self._stream
            if stream is None:
                if self._members:
                    # Like the stdlib gzip module, accept zero padding after a member.
                    data = data.lstrip(b"\x00")
                    if not data:
                        return
                stream = self._stream = zlib.decompressobj(16 + zlib.MAX_WBITS)
            yield from _inflate(stream, data, "gzip")
            if not stream.eof:
                return
            data = stream.unused_data
            self._stream = None
            self._members += 1

    def finish(self) -> None:
        if self._stream is not None:
            raise DecodingError("gzip body ended before the end of its stream")


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
        self._stream: Any = None

    def decode(self, data: bytes) -> Iterator[bytes]:
        stream = self._stream
        if stream is None:
            data = self._head + data
            if len(data) < 2:
                self._head = data
                return
            self._head = b""
            wbits = zlib.MAX_WBITS if _is_zlib_header(data) else -zlib.MAX_WBITS
            stream = self._stream = zlib.decompressobj(wbits)
        if stream.eof:
            if data:
                raise DecodingError("deflate body has data after the end of its stream")
            return
        yield from _inflate(stream, data, "deflate")
        if stream.eof and stream.unused_data:
            raise DecodingError("deflate body has data after the end of its stream")

    def finish(self) -> None:
        if self._stream is None:
            if self._head:
                raise DecodingError("deflate body ended after one byte")
            return  # an empty body stays empty (HEAD, 204, 304)
        if not self._stream.eof:
            raise DecodingError("deflate body ended before the end of its stream")


# ----------------------------------------------------------------------------- brotli

# brotli < 1.2 has no output limit: feed it this many input bytes per call instead.
_BROTLI_SLICE = 64
# The binding grows its output buffer in blocks (32 KiB, 64 KiB, 128 KiB...) and stops once
# the limit is reached, so it can overshoot: a quarter piece keeps a step under a piece.
_BROTLI_LIMIT = PIECE_SIZE // 4


class _BrotliDecoder:
    """``br`` (RFC 7932) through the optional ``brotli`` or ``brotlicffi`` package."""

    __slots__ = ("_error", "_fed", "_limited", "_stream")

    def __init__(self, module: ModuleType, *, limited: bool) -> None:
        self._stream: Any = module.Decompressor()
        self._error: type[BaseException] = module.error
        self._limited = limited
        self._fed = False

    def decode(self, data: bytes) -> Iterator[bytes]:
        if not data:
            return
        self._fed = True
        if self._stream.is_finished():
            raise DecodingError("br body has data after the end of its stream")
        if self._limited:
            yield from self._bounded(data)
            return
        for start in range(0, len(data), _BROTLI_SLICE):
            out = self._process(data[start : start + _BROTLI_SLICE])
            if out:
                yield from _pieces(out)

    def _bounded(self, data: bytes) -> Iterator[bytes]:
        # After a step that hit the limit, the decoder takes only empty input until it
        # can accept more (brotli's own rule); a short step means it needs more input.
        stream = self._stream
        while True:
            out = self._process(data, _BROTLI_LIMIT)
            data = b""
            if out:
                yield from _pieces(out)
            if stream.is_finished():
                return
            if len(out) < _BROTLI_LIMIT and stream.can_accept_more_data():
                return

    def _process(self, data: bytes, limit: int | None = None) -> bytes:
        try:
            if limit is None:
                out: bytes = self._stream.process(data)
            else:
                out = self._stream.process(data, output_buffer_limit=limit)
        except self._error as exc:
            raise DecodingError(f"body is not valid br data: {exc}") from exc
        return out

    def finish(self) -> None:
        if self._fed and not self._stream.is_finished():
            raise DecodingError("br body ended before the end of its stream")


# ----------------------------------------------------------------------------- zstd

_ZSTD_MAGIC = 0xFD2FB528
_SKIPPABLE_MASK, _SKIPPABLE_MAGIC = 0xFFFFFFF0, 0x184D2A50
# What the next ``_need`` bytes of the stream are (RFC 8878 section 3.1).
_MAGIC, _DESCRIPTOR, _HEADER, _BLOCK_HEADER, _BLOCK, _CHECKSUM, _SKIP_SIZE, _SKIP = range(8)
_DICT_ID_SIZES = (0, 1, 2, 4)
_CONTENT_SIZE_SIZES = (0, 2, 4, 8)  # for Frame_Content_Size_flag 0 (1 when single-segment)


class _ZstdFraming:
    """Follows zstd frames and blocks (RFC 8878 section 3.1) to tell where each block ends.

    It reads only headers (magic numbers, frame header descriptor, 3-byte block headers,
    skippable frame sizes) and steps over block contents, so it costs a few operations
    per block. ``cuts(data)`` returns the offsets in ``data`` just after a block's end.
    """

    __slots__ = ("_checksum", "_field", "_last", "_need", "_step")

    def __init__(self) -> None:
        self._step = _MAGIC
        self._need = 4
        self._field = bytearray()  # a header field split across chunks
        self._last = False
        self._checksum = False

    @property
    def in_frame(self) -> bool:
        """True when the stream stopped inside a frame (a truncated body)."""
        return self._step != _MAGIC or bool(self._field)

    def cuts(self, data: bytes) -> list[int]:
        cuts: list[int] = []
        pos, end = 0, len(data)
        while pos < end:
            if self._step in (_BLOCK, _SKIP):  # contents: step over them
                take = min(self._need, end - pos)
                pos += take
                self._need -= take
                if self._need:
                    break
                if self._step == _SKIP:
                    self._expect(_MAGIC, 4)
                else:
                    cuts.append(pos)
                    self._end_block()
                continue
            field = self._field
            take = min(self._need - len(field), end - pos)
            field += data[pos : pos + take]
            pos += take
            if len(field) < self._need:
                break
            value = bytes(field)
            field.clear()
            if self._parse(value):
                cuts.append(pos)  # an empty block ends here
        return cuts

    def _expect(self, step: int, need: int) -> None:
        self._step, self._need = step, need

    def _end_block(self) -> None:
        if not self._last:
            self._expect(_BLOCK_HEADER, 3)
        elif self._checksum:
            self._expect(_CHECKSUM, 4)
        else:
            self._expect(_MAGIC, 4)

    def _parse(self, value: bytes) -> bool:
        """Act on a complete header field; True when it ended an empty block."""
        step = self._step
        number = int.from_bytes(value, "little")
        if step == _MAGIC:
            if number == _ZSTD_MAGIC:
                self._expect(_DESCRIPTOR, 1)
            elif number & _SKIPPABLE_MASK == _SKIPPABLE_MAGIC:
                self._expect(_SKIP_SIZE, 4)
            else:
                raise DecodingError(
                    f"body is not valid zstd data: no zstd frame starts with {value.hex()}"
                )
        elif step == _DESCRIPTOR:
            # RFC 8878 section 3.1.1.1.1: Frame_Content_Size_flag (bits 7-6),
            # Single_Segment_flag (5), Content_Checksum_flag (2), Dictionary_ID_flag (1-0).
            single = number >> 5 & 1
            self._checksum = bool(number >> 2 & 1)
            size = (
                (0 if single else 1)  # Window_Descriptor
                + _DICT_ID_SIZES[number & 3]
                + (_CONTENT_SIZE_SIZES[number >> 6] or single)
            )
            if size:
                self._expect(_HEADER, size)
            else:
                self._expect(_BLOCK_HEADER, 3)
        elif step == _HEADER:
            self._expect(_BLOCK_HEADER, 3)
        elif step == _BLOCK_HEADER:
            # RFC 8878 section 3.1.1.2: Last_Block (bit 0), Block_Type (2-1), Block_Size.
            self._last = bool(number & 1)
            block_type, block_size = number >> 1 & 3, number >> 3
            if block_type == 3:
                raise DecodingError("body is not valid zstd data: reserved block type")
            content = 1 if block_type == 1 else block_size  # an RLE block holds one byte
            if not content:
                self._end_block()
                return True
            self._expect(_BLOCK, content)
        elif step == _CHECKSUM:
            self._expect(_MAGIC, 4)
        elif step == _SKIP_SIZE:
            if number:
                self._expect(_SKIP, number)
            else:
                self._expect(_MAGIC, 4)
        return False


class _ZstdDecoder:
    """``zstd`` (RFC 8878, RFC 9659): a series of frames, skippable ones included, fed to
    zstandard at most one block end at a time so that each call yields at most 128 KiB."""

    __slots__ = ("_decompressor", "_error", "_framing", "_stream")

    def __init__(self, module: ModuleType) -> None:
        # RFC 9659 section 3: zstd content coding uses windows of at most 8 MiB; refusing
        # larger ones bounds the decoder's memory whatever the server claims.
        self._decompressor: Any = module.ZstdDecompressor(max_window_size=8 * 1024 * 1024)
        self._error: type[BaseException] = module.ZstdError
        self._framing = _ZstdFraming()
        self._stream: Any = None

    def decode(self, data: bytes) -> Iterator[bytes]:
        if not data:
            return
        start = 0
        for cut in self._framing.cuts(data):
            yield from self._feed(data[start:cut])
            start = cut
        if start < len(data):
            yield from self._feed(data[start:])

    def _feed(self, data: bytes) -> Iterator[bytes]:
        while data:
            if self._stream is None:
                self._stream = self._decompressor.decompressobj()
            try:
                out: bytes = self._stream.decompress(data)
            except self._error as exc:
                raise DecodingError(f"body is not valid zstd data: {exc}") from exc
            if out:
                yield from _pieces(out)
            if not self._stream.eof:
                return
            data = self._stream.unused_data  # the next frame starts here
            self._stream = None

    def finish(self) -> None:
        if self._stream is not None or self._framing.in_frame:
            raise DecodingError("zstd body ended before the end of its stream")


# ----------------------------------------------------------------------------- stacking


class _ChainDecoder:
    """Several codings: undo them in the reverse of the order they were applied
    (RFC 9110 section 8.4); each stage is fed the bounded pieces of the one before."""

    __slots__ = ("_decoders",)

    def __init__(self, decoders: list[Decoder]) -> None:
        self._decoders = decoders  # already in decoding order

    def decode(self, data: bytes) -> Iterator[bytes]:
        return self._through(0, data)

    def _through(self, stage: int, data: bytes) -> Iterator[bytes]:
        if stage == len(self._decoders):
            yield data
            return
        for piece in self._decoders[stage].decode(data):
            yield from self._through(stage + 1, piece)

    def finish(self) -> None:
        for decoder in self._decoders:
            decoder.finish()


def _decoder_for(coding: str) -> Decoder:
    if coding in ("gzip", "x-gzip"):  # x-gzip: RFC 9110 section 8.4.1.3
        return _GzipDecoder()
    if coding == "deflate":
        return _DeflateDecoder()
    if coding == "br":
        if _brotli is None:
            raise DecodingError("body is br-encoded; install 'brotli' to decode it")
        return _BrotliDecoder(_brotli, limited=_brotli_limited)
    if coding == "zstd":
        if _zstandard is None:
            raise DecodingError("body is zstd-encoded; install 'zstandard' to decode it")
        return _ZstdDecoder(_zstandard)
    raise DecodingError(f"unsupported Content-Encoding {coding[:40]!r}")


def make_decoder(content_encoding: str | None) -> Decoder | None:
    """A fresh decoder for a ``Content-Encoding`` value, or None when there is nothing to undo.

    Raises ``DecodingError`` naming an unknown coding (or an optional one not installed),
    or a header that stacks more than ``MAX_CODINGS`` codings.
    """
    if not content_encoding:
        return None
    codings = [c.strip().lower() for c in content_encoding.split(",")]
    codings = [c for c in codings if c and c != "identity"]
    if not codings:
        return None
    if len(codings) > MAX_CODINGS:
        shown = content_encoding if len(content_encoding) <= 80 else content_encoding[:77] + "..."
        raise DecodingError(
            f"Content-Encoding {shown!r} stacks {len(codings)} codings; "
            f"keepalive undoes at most {MAX_CODINGS}"
        )
    # Codings are listed in the order they were applied; decode last-applied first.
    decoders = [_decoder_for(c) for c in reversed(codings)]
    if len(decoders) == 1:
        return decoders[0]
    return _ChainDecoder(decoders)
