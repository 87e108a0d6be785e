"""Streaming content decoders: round trips, chunk boundaries, truncation and lying bodies."""

from __future__ import annotations

import functools
import gzip
import itertools
import random
import tracemalloc
import zlib
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keepalive.decoders import (
    ACCEPT_ENCODING,
    MAX_CODINGS,
    PIECE_SIZE,
    Decoder,
    _BrotliDecoder,
    make_decoder,
    supported_encodings,
)
from keepalive.exceptions import DecodingError

try:
    import brotli
    import zstandard
except ImportError as exc:  # fail loudly, never skip
    raise ImportError("decoder tests need brotli and zstandard: pip install -e '.[test]'") from exc

TEXT = b"keepalive keeps connections alive. " * 2000 + bytes(range(256))


def gzip_bytes(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def zlib_bytes(data: bytes) -> bytes:
    return zlib.compress(data)


def raw_deflate_bytes(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


def br_bytes(data: bytes) -> bytes:
    return bytes(brotli.compress(data))


def zstd_bytes(data: bytes) -> bytes:
    return zstandard.ZstdCompressor().compress(data)


ENCODERS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip_bytes,
    "deflate": zlib_bytes,
    "br": br_bytes,
    "zstd": zstd_bytes,
}


def feed(decoder: Decoder, data: bytes) -> bytes:
    """Everything one ``decode`` step yields, joined."""
    return b"".join(decoder.decode(data))


def decode_in_chunks(decoder: Decoder, data: bytes, size: int) -> bytes:
    out = [feed(decoder, data[i : i + size]) for i in range(0, len(data), size)]
    decoder.finish()
    return b"".join(out)


def decoder_for(coding: str) -> Decoder:
    decoder = make_decoder(coding)
    assert decoder is not None, coding
    return decoder


# ----------------------------------------------------------------------------- registry


def test_supported_encodings_lists_every_installed_codec() -> None:
    assert supported_encodings() == ("gzip", "deflate", "br", "zstd")
    assert ACCEPT_ENCODING == "gzip, deflate, br, zstd"


@pytest.mark.parametrize("value", [None, "", "identity", "IDENTITY", " identity , "])
def test_no_decoder_when_nothing_to_undo(value: str | None) -> None:
    assert make_decoder(value) is None


def test_unknown_coding_is_named() -> None:
    with pytest.raises(DecodingError, match="compress"):
        make_decoder("compress")
    with pytest.raises(DecodingError, match="snappy"):
        make_decoder("gzip, snappy")


# ----------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("coding", sorted(ENCODERS))
@pytest.mark.parametrize("chunk", [1, 7, 4096, 1 << 20])
def test_round_trip_any_chunking(coding: str, chunk: int) -> None:
    body = ENCODERS[coding](TEXT)
    assert decode_in_chunks(decoder_for(coding), body, chunk) == TEXT


@pytest.mark.parametrize("coding", ["GZIP", "x-gzip", " Deflate ", "BR", "Zstd"])
def test_coding_names_are_case_insensitive_and_aliased(coding: str) -> None:
    encoder = ENCODERS[coding.strip().lower().removeprefix("x-")]
    assert decode_in_chunks(decoder_for(coding), encoder(b"abc"), 2) == b"abc"


@pytest.mark.parametrize("coding", sorted(ENCODERS))
def test_empty_body_decodes_to_empty(coding: str) -> None:
    # HEAD, 204 and 304 responses carry Content-Encoding but no body.
    decoder = decoder_for(coding)
    assert feed(decoder, b"") == b""
    decoder.finish()


@pytest.mark.parametrize("coding", sorted(ENCODERS))
def test_output_streams_before_the_body_ends(coding: str) -> None:
    # Nothing buffers the whole body: plain bytes come out while input is still arriving.
    words = [b"alpha", b"beta", b"gamma", b"delta", b"keep", b"alive", b"\n", b" "]
    plain = b"".join(random.Random(7).choices(words, k=200_000))
    body = ENCODERS[coding](plain)
    decoder = decoder_for(coding)
    chunks = [body[i : i + 4096] for i in range(0, len(body), 4096)]
    outputs = [feed(decoder, c) for c in chunks]
    first = next(i for i, out in enumerate(outputs) if out)
    assert first < len(chunks) - 1
    assert max(len(out) for out in outputs) < len(plain)
    decoder.finish()
    assert b"".join(outputs) == plain


# ----------------------------------------------------------------------------- gzip


def test_gzip_multi_member() -> None:
    body = gzip_bytes(b"first ") + gzip_bytes(b"second ") + gzip_bytes(b"third")
    for chunk in (1, 5, len(body)):
        assert decode_in_chunks(decoder_for("gzip"), body, chunk) == b"first second third"


def test_gzip_zero_padding_after_member_is_accepted() -> None:
    body = gzip_bytes(b"data") + b"\x00" * 10
    assert decode_in_chunks(decoder_for("gzip"), body, 3) == b"data"


def test_gzip_trailing_garbage_is_an_error() -> None:
    decoder = decoder_for("gzip")
    with pytest.raises(DecodingError, match="gzip") as info:
        feed(decoder, gzip_bytes(b"data") + b"<html>")
    assert isinstance(info.value.__cause__, zlib.error)


def test_gzip_missing_trailer_is_truncated() -> None:
    body = gzip_bytes(TEXT)[:-8]  # CRC32 and ISIZE cut off
    decoder = decoder_for("gzip")
    assert feed(decoder, body) == TEXT  # all the data was there...
    with pytest.raises(DecodingError, match="ended"):
        decoder.finish()  # ...but the member never finished


def test_gzip_cut_in_the_middle_is_truncated() -> None:
    body = gzip_bytes(TEXT)
    decoder = decoder_for("gzip")
    feed(decoder, body[: len(body) // 2])
    with pytest.raises(DecodingError):
        decoder.finish()


def test_gzip_label_on_plain_text_is_an_error() -> None:
    decoder = decoder_for("gzip")
    with pytest.raises(DecodingError) as info:
        feed(decoder, b"<html>not compressed at all</html>")
    assert isinstance(info.value.__cause__, zlib.error)


# ----------------------------------------------------------------------------- deflate


@pytest.mark.parametrize("chunk", [1, 2, 3, 100000])
def test_raw_deflate_is_detected(chunk: int) -> None:
    assert decode_in_chunks(decoder_for("deflate"), raw_deflate_bytes(TEXT), chunk) == TEXT


@pytest.mark.parametrize("level", [0, 1, 6, 9])
def test_zlib_wrapped_deflate_every_level(level: int) -> None:
    # The zlib header's FLEVEL bits differ per level; all must be recognised.
    body = zlib.compress(TEXT, level)
    assert decode_in_chunks(decoder_for("deflate"), body, 1000) == TEXT


def test_deflate_truncated() -> None:
    decoder = decoder_for("deflate")
    feed(decoder, zlib_bytes(TEXT)[:-4])  # adler32 missing
    with pytest.raises(DecodingError, match="ended"):
        decoder.finish()


def test_deflate_single_byte_body_is_truncated() -> None:
    decoder = decoder_for("deflate")
    assert feed(decoder, b"x") == b""
    with pytest.raises(DecodingError):
        decoder.finish()


def test_deflate_data_after_end_is_an_error() -> None:
    decoder = decoder_for("deflate")
    with pytest.raises(DecodingError, match="after the end"):
        feed(decoder, zlib_bytes(b"abc") + b"junk")
    decoder = decoder_for("deflate")
    feed(decoder, zlib_bytes(b"abc"))
    with pytest.raises(DecodingError, match="after the end"):
        feed(decoder, b"more")


def test_deflate_label_on_plain_text_is_an_error() -> None:
    decoder = decoder_for("deflate")
    with pytest.raises(DecodingError):
        feed(decoder, b"hello world, this is plain text")
        decoder.finish()


# ----------------------------------------------------------------------------- brotli


def test_brotli_truncated() -> None:
    decoder = decoder_for("br")
    feed(decoder, br_bytes(TEXT)[:-3])
    with pytest.raises(DecodingError, match="ended"):
        decoder.finish()


def test_brotli_garbage_is_an_error_with_cause() -> None:
    decoder = decoder_for("br")
    with pytest.raises(DecodingError) as info:
        feed(decoder, b"hello plain text, not brotli")
    assert isinstance(info.value.__cause__, brotli.error)


def test_brotli_data_after_end_is_an_error() -> None:
    decoder = decoder_for("br")
    assert feed(decoder, br_bytes(b"abc")) == b"abc"
    with pytest.raises(DecodingError):
        feed(decoder, b"more")


# ----------------------------------------------------------------------------- zstd


def test_zstd_multiple_frames() -> None:
    body = zstd_bytes(b"one ") + zstd_bytes(b"two ") + zstd_bytes(b"three")
    for chunk in (1, 9, len(body)):
        assert decode_in_chunks(decoder_for("zstd"), body, chunk) == b"one two three"


def test_zstd_skippable_frame_is_skipped() -> None:
    skippable = (0x184D2A50).to_bytes(4, "little") + (3).to_bytes(4, "little") + b"abc"
    body = skippable + zstd_bytes(b"payload")
    assert decode_in_chunks(decoder_for("zstd"), body, 4) == b"payload"


def test_zstd_streamed_frame_without_content_size() -> None:
    compressor = zstandard.ZstdCompressor().compressobj()
    body = compressor.compress(TEXT) + compressor.flush()
    assert decode_in_chunks(decoder_for("zstd"), body, 333) == TEXT


def test_zstd_truncated() -> None:
    decoder = decoder_for("zstd")
    feed(decoder, zstd_bytes(TEXT)[:-5])
    with pytest.raises(DecodingError, match="ended"):
        decoder.finish()


def test_zstd_garbage_is_an_error() -> None:
    with pytest.raises(DecodingError, match="zstd") as info:
        feed(decoder_for("zstd"), b"hello plain text, not zstd")
    assert info.value.__cause__ is None  # the frame magic is wrong: no frame to hand zstd


def test_zstd_corrupt_frame_is_an_error_with_cause() -> None:
    body = bytearray(zstandard.ZstdCompressor(write_checksum=True).compress(TEXT))
    body[20:40] = b"\xff" * 20  # inside the first block: the checksum cannot match
    with pytest.raises(DecodingError, match="zstd") as info:
        decode_in_chunks(decoder_for("zstd"), bytes(body), 1000)
    assert isinstance(info.value.__cause__, zstandard.ZstdError)


def test_zstd_window_over_8_mib_is_refused() -> None:
    # RFC 9659 section 3 caps the window at 8 MiB; a larger one is a memory bomb risk.
    params = zstandard.ZstdCompressionParameters.from_level(3, window_log=24)
    compressor = zstandard.ZstdCompressor(compression_params=params).compressobj()
    body = compressor.compress(TEXT) + compressor.flush()
    with pytest.raises(DecodingError, match="zstd"):
        feed(decoder_for("zstd"), body)


# ----------------------------------------------------------------------------- stacked


def test_stacked_codings_decode_in_reverse_order() -> None:
    # "gzip, br": gzip was applied first, then br, so br comes off first.
    body = br_bytes(gzip_bytes(TEXT))
    assert decode_in_chunks(decoder_for("gzip, br"), body, 100) == TEXT
    body = gzip_bytes(zstd_bytes(raw_deflate_bytes(TEXT)))
    assert decode_in_chunks(decoder_for("deflate, zstd, gzip"), body, 1) == TEXT


def test_stacked_codings_ignore_identity() -> None:
    body = zlib_bytes(TEXT)
    assert decode_in_chunks(decoder_for("identity, deflate"), body, 50) == TEXT


def test_stacked_truncation_is_reported() -> None:
    decoder = decoder_for("gzip, br")
    feed(decoder, br_bytes(gzip_bytes(TEXT)[:-8]))
    with pytest.raises(DecodingError):
        decoder.finish()


def test_stacked_in_wrong_order_is_an_error() -> None:
    decoder = decoder_for("br, gzip")  # claims br then gzip; body was gzip then br
    with pytest.raises(DecodingError):
        feed(decoder, br_bytes(gzip_bytes(TEXT)))
        decoder.finish()


# ----------------------------------------------------------------------------- properties


@settings(max_examples=60, deadline=None)
@given(
    data=st.binary(max_size=5000),
    coding=st.sampled_from([*sorted(ENCODERS), "gzip, br", "deflate, zstd"]),
    cuts=st.lists(st.integers(min_value=0, max_value=6000), max_size=8),
)
def test_any_split_decodes_to_the_original(data: bytes, coding: str, cuts: list[int]) -> None:
    body = data
    for name in (c.strip() for c in coding.split(",")):
        body = ENCODERS[name](body)
    points = sorted({min(c, len(body)) for c in cuts} | {0, len(body)})
    decoder = decoder_for(coding)
    out = b"".join(feed(decoder, body[a:b]) for a, b in itertools.pairwise(points))
    decoder.finish()
    assert out == data


@settings(max_examples=60, deadline=None)
@given(data=st.binary(min_size=1, max_size=2000), coding=st.sampled_from(sorted(ENCODERS)))
def test_any_truncation_is_detected(data: bytes, coding: str) -> None:
    body = ENCODERS[coding](data)
    for cut in {1, len(body) // 2, len(body) - 1}:
        decoder = decoder_for(coding)
        with pytest.raises(DecodingError):
            feed(decoder, body[:cut])
            decoder.finish()


# ----------------------------------------------------------------------------- bounded memory

MIB = 1 << 20


@functools.cache
def zeros_compressed(coding: str, mib: int) -> bytes:
    """``mib`` MiB of zeros in ``coding`` (stacked codings listed as applied), made once."""
    zeros = bytes(MIB)
    body = b""
    for name in (c.strip() for c in coding.split(",")):
        if body:
            body = ENCODERS[name](body)
            continue
        if name == "br":
            compressor = brotli.Compressor(quality=1)
            body = b"".join([compressor.process(zeros) for _ in range(mib)]) + compressor.finish()
        elif name == "zstd":
            stream = zstandard.ZstdCompressor().compressobj()
            body = b"".join([stream.compress(zeros) for _ in range(mib)]) + stream.flush()
        else:
            wbits = 31 if name == "gzip" else 15
            deflater = zlib.compressobj(9, zlib.DEFLATED, wbits)
            body = b"".join([deflater.compress(zeros) for _ in range(mib)]) + deflater.flush()
    return body


BOMBS = ["gzip", "deflate", "br", "zstd", "gzip, gzip", "zstd, br, deflate"]


@pytest.mark.parametrize("coding", BOMBS)
def test_a_bomb_comes_out_in_bounded_pieces(coding: str) -> None:
    # 64 MiB of output from a body of a few KiB, fed in one chunk: no step makes more
    # than one piece, and the pieces add up.
    body = zeros_compressed(coding, 64)
    assert len(body) < 200_000
    decoder = decoder_for(coding)
    tracemalloc.start()
    try:
        total = 0
        for piece in decoder.decode(body):
            assert 0 < len(piece) <= PIECE_SIZE
            total += len(piece)
        decoder.finish()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert total == 64 * MIB
    assert peak < 8 * PIECE_SIZE, f"peak {peak} bytes"


@pytest.mark.parametrize("coding", BOMBS)
def test_the_first_piece_of_a_bomb_costs_one_piece(coding: str) -> None:
    body = zeros_compressed(coding, 64)
    tracemalloc.start()
    try:
        pieces = decoder_for(coding).decode(body)
        first = next(pieces)
        peak = tracemalloc.get_traced_memory()[1]
        pieces.close()
    finally:
        tracemalloc.stop()
    assert first == bytes(len(first)) and 0 < len(first) <= PIECE_SIZE
    assert peak < 8 * PIECE_SIZE, f"peak {peak} bytes"


def test_brotli_without_an_output_limit_is_fed_in_slices() -> None:
    # brotli < 1.2 has no output_buffer_limit: the decoder feeds it slices of input and
    # cuts what comes out to pieces. The real binding, driven the old way.
    decoder = _BrotliDecoder(brotli, limited=False)
    body = br_bytes(TEXT)
    pieces = [decoder.decode(body[i : i + 1000]) for i in range(0, len(body), 1000)]
    out = b"".join(b"".join(p) for p in pieces)
    decoder.finish()
    assert out == TEXT
    bomb = _BrotliDecoder(brotli, limited=False)
    assert all(len(p) <= PIECE_SIZE for p in bomb.decode(zeros_compressed("br", 16)))
    bomb.finish()


@pytest.mark.parametrize("count", [1, 5])
def test_up_to_max_codings_are_undone(count: int) -> None:
    assert MAX_CODINGS == 5
    coding = ", ".join(["gzip"] * count)
    body = TEXT
    for _ in range(count):
        body = gzip_bytes(body)
    assert decode_in_chunks(decoder_for(coding), body, 333) == TEXT


def test_more_than_max_codings_are_refused_naming_the_header() -> None:
    with pytest.raises(DecodingError, match=r"Content-Encoding 'gzip, .*' stacks 6 codings"):
        make_decoder(", ".join(["gzip"] * 6))
    # identity undoes nothing and does not count
    assert make_decoder(", ".join(["identity"] * 20 + ["gzip"])) is not None
    with pytest.raises(DecodingError, match=r"stacks 1000 codings; keepalive undoes at most 5"):
        make_decoder(", ".join(["br"] * 1000))


# ----------------------------------------------------------------------------- zstd framing


def zstd_frame_with(block_header: bytes, content: bytes) -> bytes:
    # magic, descriptor 0 (a window descriptor, no checksum, no content size), window 8 KiB
    return (0xFD2FB528).to_bytes(4, "little") + b"\x00\x00" + block_header + content


def test_zstd_reserved_block_type_is_an_error() -> None:
    header = (1 | 3 << 1 | 10 << 3).to_bytes(3, "little")  # last block, type 3
    with pytest.raises(DecodingError, match="reserved block type"):
        feed(decoder_for("zstd"), zstd_frame_with(header, b"x" * 10))


@pytest.mark.parametrize("chunk", [1, 2, 5, 100])
def test_zstd_hand_made_blocks(chunk: int) -> None:
    # A raw block, an empty raw block and an RLE block, split at every size.
    raw = (0 | 0 << 1 | 3 << 3).to_bytes(3, "little") + b"abc"
    empty = (0 | 0 << 1 | 0 << 3).to_bytes(3, "little")
    rle = (1 | 1 << 1 | 5 << 3).to_bytes(3, "little") + b"z"
    body = zstd_frame_with(raw + empty + rle, b"")
    assert decode_in_chunks(decoder_for("zstd"), body, chunk) == b"abczzzzz"


@pytest.mark.parametrize("chunk", [1, 3, 64, 100000])
def test_zstd_checksums_and_empty_frames(chunk: int) -> None:
    checked = zstandard.ZstdCompressor(write_checksum=True, write_content_size=False)
    empty_skippable = (0x184D2A5F).to_bytes(4, "little") + bytes(4)
    body = checked.compress(TEXT) + empty_skippable + zstd_bytes(b"") + checked.compress(b"end")
    assert decode_in_chunks(decoder_for("zstd"), body, chunk) == TEXT + b"end"


def test_zstd_cut_inside_a_header_is_truncated() -> None:
    body = zstd_bytes(TEXT)
    for cut in (2, 5, 7):
        decoder = decoder_for("zstd")
        feed(decoder, body[:cut])
        with pytest.raises(DecodingError, match="ended"):
            decoder.finish()
