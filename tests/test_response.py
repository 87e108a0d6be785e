"""Response decoding and streaming against the loopback server: bounded decompression, the
decoded-size cap, release before raising, text that never raises, lines, raw and links."""

from __future__ import annotations

import functools
import gzip
import io
import json
import pickle
import re
import shutil
import threading
import tracemalloc
import zlib
from collections.abc import Callable, Iterator

import brotli
import h11
import pytest
import zstandard
from conftest import MakeServer
from hypothesis import given, settings
from hypothesis import strategies as st
from testserver import ReceivedRequest, Reply, ServerSide, TestServer

import keepalive
from keepalive import response as response_module
from keepalive.decoders import PIECE_SIZE
from keepalive.exceptions import JSONDecodeError

MIB = 1 << 20
GIB = 1 << 30


# ----------------------------------------------------------------------------- bombs, made once


@functools.cache
def gzip_bomb() -> bytes:
    """One gzip member inflating to 1 GiB of zeros (about 1 MiB), made in a fraction of a
    second: after a full flush deflate restarts from an empty state, so every further MiB
    of zeros compresses to the very same bytes, which are repeated instead of recomputed."""
    zeros = bytes(MIB)
    deflater = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    first = deflater.compress(zeros) + deflater.flush(zlib.Z_FULL_FLUSH)
    segment = deflater.compress(zeros) + deflater.flush(zlib.Z_FULL_FLUSH)
    last = deflater.compress(zeros) + deflater.flush()
    crc = 0
    for _ in range(GIB // MIB):
        crc = zlib.crc32(zeros, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"  # RFC 1952 section 2.3, no name
    trailer = crc.to_bytes(4, "little") + (GIB % (1 << 32)).to_bytes(4, "little")
    return header + first + segment * (GIB // MIB - 2) + last + trailer


@functools.cache
def zstd_bomb() -> bytes:
    zeros = bytes(MIB)
    stream = zstandard.ZstdCompressor().compressobj()
    return b"".join([stream.compress(zeros) for _ in range(GIB // MIB)]) + stream.flush()


@functools.cache
def br_bomb() -> bytes:
    zeros = bytes(MIB)
    compressor = brotli.Compressor(quality=1)
    return b"".join([compressor.process(zeros) for _ in range(GIB // MIB)]) + compressor.finish()


BOMBS: dict[str, tuple[str, Callable[[], bytes]]] = {
    "/gzip": ("gzip", gzip_bomb),
    "/zstd": ("zstd", zstd_bomb),
    "/br": ("br", br_bomb),
    "/gzip-gzip": ("gzip, gzip", lambda: gzip.compress(gzip_bomb(), mtime=0)),
}


def bomb_app(req: ReceivedRequest, side: ServerSide) -> Reply:
    coding, make = BOMBS[req.target]
    return Reply(200, [("Content-Encoding", coding)], make())


@pytest.fixture
def bomb_server(make_server: MakeServer) -> TestServer:
    return make_server(bomb_app)


@pytest.fixture
def session() -> Iterator[keepalive.Session]:
    with keepalive.Session(trust_env=False, timeout=keepalive.Timeout(10.0)) as s:
        yield s


def serve_body(
    make_server: MakeServer, body: bytes, headers: list[tuple[str, str]] | None = None
) -> TestServer:
    return make_server(lambda req, side: Reply(200, list(headers or []), body))


# ----------------------------------------------------------------------------- 1. bounded


def test_a_streamed_gib_gzip_bomb_costs_chunk_memory(
    session: keepalive.Session, bomb_server: TestServer
) -> None:
    body = gzip_bomb()
    assert len(body) < 2 * MIB
    total = 0
    tracemalloc.start()
    try:
        with session.get(bomb_server.url + "/gzip", stream=True) as r:
            for chunk in r.iter_bytes(65536):
                assert len(chunk) == 65536
                assert chunk.count(0) == 65536
                total += len(chunk)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert total == GIB  # the gzip trailer (CRC, size) checked out at the end
    # Both ends of the loopback run in this process: the server's copy of the ~1 MiB
    # body is part of the peak. 1 GiB held anywhere would be far above this.
    assert peak < 24 * MIB, f"peak {peak / MIB:.1f} MiB"
    assert session.pool.stats()["active"] == 0


@pytest.mark.parametrize("path", sorted(BOMBS))
def test_the_first_kib_of_a_bomb_decodes_only_a_piece(
    session: keepalive.Session, bomb_server: TestServer, path: str
) -> None:
    BOMBS[path][1]()  # made before measuring
    tracemalloc.start()
    try:
        with session.get(bomb_server.url + path, stream=True) as r:
            chunks = r.iter_bytes(1024)
            first = next(chunks)
            peak = tracemalloc.get_traced_memory()[1]
            chunks.close()
    finally:
        tracemalloc.stop()
    assert first == bytes(1024)
    assert peak < 24 * MIB, f"peak {peak / MIB:.1f} MiB"
    assert session.pool.stats()["active"] == 0  # closed early: drained or closed, not held


@pytest.mark.parametrize("path", sorted(BOMBS))
def test_streamed_pieces_never_exceed_one_decoder_piece(
    session: keepalive.Session, bomb_server: TestServer, path: str
) -> None:
    with session.get(bomb_server.url + path, stream=True) as r:
        chunks = r.iter_bytes()  # as decoded: each piece is bounded by the decoder
        sizes = [len(next(chunks)) for _ in range(64)]
        chunks.close()
    assert all(0 < size <= PIECE_SIZE for size in sizes)


def test_too_many_stacked_codings_name_the_header(
    session: keepalive.Session, make_server: MakeServer
) -> None:
    coding = ", ".join(["gzip"] * 6)
    server = serve_body(make_server, b"x" * 10, [("Content-Encoding", coding)])
    with pytest.raises(keepalive.DecodingError, match=r"Content-Encoding 'gzip, gzip.*6 codings"):
        session.get(server.url)
    assert session.pool.stats()["active"] == 0


# ----------------------------------------------------------------------------- 2. the cap


def test_the_default_cap_is_256_mib_and_set_on_each_response(
    session: keepalive.Session, server: TestServer
) -> None:
    assert response_module.DEFAULT_MAX_DECODED_SIZE == 256 * MIB
    assert session.get(server.url).max_decoded_size == 256 * MIB


def test_content_of_a_bomb_raises_at_the_cap_not_memory_error(
    session: keepalive.Session, bomb_server: TestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The module default applies to every new response (the real default decodes
    # 256 MiB before refusing: the same code, more time).
    monkeypatch.setattr(response_module, "DEFAULT_MAX_DECODED_SIZE", 4 * MIB)
    for path in sorted(BOMBS):
        with pytest.raises(keepalive.DecodingError) as info:
            session.get(bomb_server.url + path)
        message = str(info.value)
        assert "max_decoded_size (4,194,304 bytes)" in message
        assert "Session(max_decoded_size=" in message and bomb_server.url in message
    assert session.pool.stats()["active"] == 0


def test_the_cap_is_per_response_and_none_lifts_it(
    session: keepalive.Session, make_server: MakeServer
) -> None:
    plain = bytes(8 * MIB)
    server = serve_body(make_server, gzip.compress(plain), [("Content-Encoding", "gzip")])
    with session.get(server.url, stream=True) as r:
        r.max_decoded_size = MIB
        with pytest.raises(keepalive.DecodingError, match=r"\(1,048,576 bytes\)"):
            r.read()
    with session.get(server.url, stream=True) as r:
        r.max_decoded_size = None
        assert r.content == plain
    with session.get(server.url, stream=True) as r:
        r.max_decoded_size = 8 * MIB  # exactly the size: allowed
        assert len(r.content) == 8 * MIB
    # streaming is never capped
    with session.get(server.url, stream=True) as r:
        r.max_decoded_size = 1
        assert sum(len(c) for c in r.iter_bytes()) == 8 * MIB


def test_the_cap_ignores_bodies_without_content_coding(
    session: keepalive.Session, make_server: MakeServer
) -> None:
    server = serve_body(make_server, bytes(2 * MIB))
    with session.get(server.url, stream=True) as r:
        r.max_decoded_size = 1
        assert len(r.content) == 2 * MIB


@pytest.mark.parametrize(
    ("value", "error"),
    [(-1, ValueError), ("big", TypeError), (True, TypeError), (1.5, TypeError)],
)
def test_a_bad_cap_is_refused(
    session: keepalive.Session, server: TestServer, value: object, error: type[Exception]
) -> None:
    r = session.get(server.url)
    with pytest.raises(keepalive.InvalidArgument, match="max_decoded_size") as info:
        r.max_decoded_size = value  # type: ignore[assignment]
    assert isinstance(info.value, error)


# ----------------------------------------------------------------------------- 3. release


@pytest.mark.parametrize("size", [20, 300_000])  # under and over the 64 KiB drain budget
def test_decoding_errors_kept_alive_hold_no_connection(make_server: MakeServer, size: int) -> None:
    def app(req: ReceivedRequest, side: ServerSide) -> Reply:
        if req.target == "/bad":
            return Reply(200, [("Content-Encoding", "gzip")], b"not gzip at all " * (size // 16))
        return Reply(200, [], b"fine")

    server = make_server(app)
    errors: list[keepalive.DecodingError] = []
    with keepalive.Session(
        trust_env=False, max_connections_per_host=2, timeout=keepalive.Timeout(2.0)
    ) as s:
        for _ in range(6):
            with pytest.raises(keepalive.DecodingError) as info:
                s.get(server.url + "/bad")
            errors.append(info.value)  # with its traceback, frames and the response
        assert s.pool.stats()["active"] == 0
        for _ in range(3):
            assert s.get(server.url + "/ok").text == "fine"  # no PoolTimeout
        assert s.pool.stats()["active"] == 0
    assert len(errors) == 6 and all(e.__traceback__ is not None for e in errors)


def test_a_decoding_error_while_streaming_frees_the_connection(
    make_server: MakeServer,
) -> None:
    server = serve_body(make_server, b"garbage" * 1000, [("Content-Encoding", "br")])
    with keepalive.Session(trust_env=False, max_connections_per_host=1) as s:
        r = s.get(server.url, stream=True)
        with pytest.raises(keepalive.DecodingError, match="br"):
            list(r.iter_bytes())
        assert s.pool.stats()["active"] == 0  # before any close(), with r still alive
        with s.get(server.url, stream=True, timeout=2.0) as again:
            assert again.status_code == 200 and r.status_code == 200


# ----------------------------------------------------------------------------- 4. text, json

NOT_TEXT = ["base64", "rot13", "idna", "punycode", "hex", "zlib", "uu", "bz2", "undefined"]


@pytest.mark.parametrize("charset", [*NOT_TEXT, "no-such-charset", "x" * 300])
def test_a_charset_that_cannot_decode_text_falls_back(
    session: keepalive.Session, make_server: MakeServer, charset: str
) -> None:
    body = "caf\u00e9 \u2603\nline two\n".encode()
    server = serve_body(make_server, body, [("Content-Type", f"text/plain; charset={charset}")])
    r = session.get(server.url)
    assert r.encoding == "utf-8"
    assert r.text == body.decode()
    assert list(r.iter_lines()) == ["caf\u00e9 \u2603", "line two"]
    with session.get(server.url, stream=True) as streamed:
        assert "".join(streamed.iter_text()) == body.decode()


@pytest.mark.parametrize("charset", NOT_TEXT)
def test_a_charset_set_by_the_caller_that_cannot_decode_text_falls_back(
    session: keepalive.Session, make_server: MakeServer, charset: str
) -> None:
    server = serve_body(make_server, b"caf\xe9\n")
    r = session.get(server.url)
    r.encoding = charset
    assert r.text == "caf\u00e9\n"  # ISO-8859-1: not UTF-8
    with session.get(server.url, stream=True) as streamed:
        streamed.encoding = charset
        assert list(streamed.iter_lines()) == ["caf\u00e9"]


def test_a_declared_codec_failing_midway_falls_back(
    session: keepalive.Session, make_server: MakeServer
) -> None:
    # Python's incremental UTF-16 decoder raises UnicodeError for a stream without a BOM
    # (the one-shot decoder assumes little-endian): the text goes on as for no charset.
    server = serve_body(make_server, b"ab", [("Content-Type", "text/plain; charset=utf-16")])
    assert session.get(server.url).text == "\u6261"
    with session.get(server.url, stream=True) as r:
        assert "".join(r.iter_text()) == "ab"


def test_json_failures_are_one_error_of_three_kinds(
    session: keepalive.Session, make_server: MakeServer
) -> None:
    bodies = {
        "/deep": b"[" * 100_000,
        "/bad": b'{"a": 1,}',
        "/empty": b"",
        "/bytes": b'"\xff\xfe\xfd',
        "/nan": b"[1.5]",
    }
    server = make_server(lambda req, side: Reply(200, [], bodies[req.target]))
    for path in bodies:
        r = session.get(server.url + path)
        with pytest.raises(JSONDecodeError) as info:
            if path == "/nan":
                r.json(parse_float=lambda text: float("x" + text))  # the hook's ValueError
            else:
                r.json()
        error = info.value
        assert isinstance(error, keepalive.DecodingError)
        assert isinstance(error, json.JSONDecodeError) and isinstance(error, ValueError)
        assert f"the body from {server.url}{path} is not valid JSON" in str(error)
        assert isinstance(error.doc, str) and isinstance(error.pos, int) and error.lineno >= 1
        assert error.__cause__ is not None
    with pytest.raises(JSONDecodeError) as deep:
        session.get(server.url + "/deep").json()
    assert "nested too deeply" in str(deep.value)
    with pytest.raises(ValueError) as caught:
        session.get(server.url + "/bad").json()
    bad = caught.value
    assert isinstance(bad, JSONDecodeError) and bad.doc == '{"a": 1,}' and 7 <= bad.pos <= 8
    assert str(bad).endswith(f"line 1 column {bad.pos + 1} (char {bad.pos})")
    copy = pickle.loads(pickle.dumps(bad))
    assert type(copy) is JSONDecodeError and (copy.msg, copy.pos) == (bad.msg, bad.pos)


# ----------------------------------------------------------------------------- 5. lines


def test_iter_lines_joins_a_32_mib_line_in_linear_time(
    session: keepalive.Session, make_server: MakeServer
) -> None:
    # 32768 chunks of 1 KiB into one line: re-joining the line per chunk would copy
    # about 512 GB and run into the test timeout.
    body = b"x" * (32 * MIB) + b"\nend"
    server = serve_body(make_server, body)
    with session.get(server.url, stream=True) as r:
        lengths = [len(line) for line in r.iter_lines(1024, max_line_length=None)]
    assert lengths == [32 * MIB, 3]
    with session.get(server.url, stream=True) as r:
        lines = r.iter_lines(1024, decode_unicode=False, max_line_length=None)
        assert [len(line) for line in lines] == [32 * MIB, 3]


@pytest.mark.parametrize("decode_unicode", [None, False])
def test_a_line_over_max_line_length_raises_and_frees_the_connection(
    make_server: MakeServer, decode_unicode: bool | None
) -> None:
    body = b"short\n" + b"y" * (2 * MIB) + b"\nafter\n"
    server = serve_body(make_server, body)
    with keepalive.Session(trust_env=False, max_connections_per_host=1) as s:
        r = s.get(server.url, stream=True)
        lines = r.iter_lines(decode_unicode=decode_unicode)  # type: ignore[call-overload]
        assert next(lines) in ("short", b"short")
        with pytest.raises(keepalive.DecodingError, match=r"max_line_length \(1,048,576\)"):
            next(lines)
        assert s.pool.stats()["active"] == 0
        with s.get(server.url, stream=True) as r:
            lines = r.iter_lines(decode_unicode=decode_unicode, max_line_length=None)  # type: ignore[call-overload]
            assert [len(line) for line in lines] == [5, 2 * MIB, 5]
    assert response_module.DEFAULT_MAX_LINE_LENGTH == MIB


def test_an_endless_line_is_refused_before_it_is_held(
    session: keepalive.Session, make_server: MakeServer
) -> None:
    server = serve_body(make_server, b"z" * (4 * MIB))  # no line break at all
    with session.get(server.url, stream=True) as r:
        lines = r.iter_lines(4096, max_line_length=10_000)
        with pytest.raises(keepalive.DecodingError, match="max_line_length"):
            next(lines)
    assert session.pool.stats()["active"] == 0


LINES_BODY = "a\r\nb\r\n\r\nc\rd\n\ne\u2028f\r\r\ng"
LINES = ["a", "b", "", "c", "d", "", "e\u2028f", "", "g"]


@pytest.mark.parametrize("chunk_size", [None, 1, 2, 3, 4, 5, 7, 11])
def test_iter_lines_breaks_at_crlf_lf_and_cr_across_chunks(
    session: keepalive.Session, make_server: MakeServer, chunk_size: int | None
) -> None:
    # A CR ending one chunk and the LF starting the next are one break; U+2028 is data.
    server = serve_body(make_server, LINES_BODY.encode(), [("Content-Type", "text/plain")])
    with session.get(server.url, stream=True) as r:
        assert list(r.iter_lines(chunk_size)) == LINES
    with session.get(server.url, stream=True) as r:
        lines = list(r.iter_lines(chunk_size, decode_unicode=False))
        assert lines == [line.encode() for line in LINES]
    with session.get(server.url, stream=True) as r:
        assert list(r.iter_lines(chunk_size, decode_unicode=True)) == LINES


def test_a_crlf_split_between_two_network_chunks_is_one_break(
    session: keepalive.Session, make_server: MakeServer
) -> None:
    # The server writes "one\r" and "\ntwo\r\n" as separate HTTP chunks, waiting for the
    # client to have taken the first line in between, so they arrive apart.
    got_first, acked = threading.Event(), []

    def app(req: ReceivedRequest, side: ServerSide) -> None:
        headers = [("Transfer-Encoding", "chunked"), ("Content-Type", "text/plain; charset=utf-8")]
        head = h11.Response(status_code=200, headers=headers)
        side.send_raw(side.h11.send(head) + side.h11.send(h11.Data(data=b"one\r")))
        acked.append(got_first.wait(10))
        side.send_raw(
            side.h11.send(h11.Data(data=b"\ntwo\r\n")) + side.h11.send(h11.EndOfMessage())
        )

    server = make_server(app)
    with session.get(server.url, stream=True) as r:
        lines = r.iter_lines()
        assert next(lines) == "one"
        got_first.set()
        assert list(lines) == ["two"]
    assert acked == [True]


@pytest.mark.parametrize("chunk_size", [None, 1, 2, 3])
def test_iter_lines_with_a_delimiter_split_across_chunks(
    session: keepalive.Session, make_server: MakeServer, chunk_size: int | None
) -> None:
    body = "event: 1\ndata: x\n\nevent: 2\n\n\n\nlast"
    server = serve_body(make_server, body.encode())
    expected = ["event: 1\ndata: x", "event: 2", "", "last"]
    with session.get(server.url, stream=True) as r:
        assert list(r.iter_lines(chunk_size, delimiter="\n\n")) == expected
    with session.get(server.url, stream=True) as r:
        lines = list(r.iter_lines(chunk_size, decode_unicode=False, delimiter=b"\n\n"))
        assert lines == [line.encode() for line in expected]
    with (
        session.get(server.url, stream=True) as r,
        pytest.raises(keepalive.DecodingError, match="max_line_length"),
    ):
        list(r.iter_lines(chunk_size, delimiter="\n\n", max_line_length=10))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"chunk_size": 0}, ValueError, "chunk_size"),
        ({"chunk_size": "8"}, TypeError, "chunk_size"),
        ({"delimiter": b"\n"}, TypeError, "delimiter must be str"),
        ({"decode_unicode": False, "delimiter": "\n"}, TypeError, "delimiter must be bytes"),
        ({"delimiter": ""}, ValueError, "delimiter"),
        ({"max_line_length": -1}, ValueError, "max_line_length"),
        ({"max_line_length": 2.5}, TypeError, "max_line_length"),
        ({"decode_unicode": "yes"}, TypeError, "decode_unicode"),
    ],
)
def test_iter_lines_arguments_are_checked_at_the_call(
    session: keepalive.Session,
    server: TestServer,
    kwargs: dict[str, object],
    error: type[Exception],
    match: str,
) -> None:
    with session.get(server.url, stream=True) as r:
        with pytest.raises(keepalive.InvalidArgument, match=match) as info:
            r.iter_lines(**kwargs)  # type: ignore[call-overload]
        assert isinstance(info.value, error)
        assert r.read()  # nothing was consumed


def test_iter_content_has_the_requests_defaults(
    session: keepalive.Session, make_server: MakeServer
) -> None:
    server = serve_body(make_server, "h\u00e9llo".encode(), [("Content-Type", "text/plain")])
    with session.get(server.url, stream=True) as r:
        assert list(r.iter_content()) == [b"h", b"\xc3", b"\xa9", b"l", b"l", b"o"]
    with session.get(server.url, stream=True) as r:
        assert list(r.iter_content(decode_unicode=True)) == ["h", "\u00e9", "l", "l", "o"]
    with session.get(server.url, stream=True) as r:
        assert "".join(r.iter_content(None, True)) == "h\u00e9llo"
    with (
        session.get(server.url, stream=True) as r,
        pytest.raises(keepalive.InvalidArgumentType, match="chunk_size"),
    ):
        r.iter_content(chunk_size=1.5)  # type: ignore[call-overload]


# ----------------------------------------------------------------------------- 6. text flows


def event_stream_app(
    first: bytes, rest: bytes, got_first: threading.Event, acked: list[bool], coding: str = ""
) -> Callable[[ReceivedRequest, ServerSide], None]:
    """Sends ``first``, then waits (10 s at most) for the client to say it has the first
    line before sending ``rest``; ``acked`` records whether it did."""

    def app(req: ReceivedRequest, side: ServerSide) -> None:
        headers = [("Transfer-Encoding", "chunked"), ("Content-Type", "text/event-stream")]
        compress: Callable[[bytes, int], bytes] = lambda data, mode: data  # noqa: E731
        if coding:
            headers.append(("Content-Encoding", coding))
            deflater = zlib.compressobj(6, zlib.DEFLATED, 31)
            compress = lambda data, mode: deflater.compress(data) + deflater.flush(mode)  # noqa: E731
        side.send_raw(
            side.h11.send(h11.Response(status_code=200, headers=headers))
            + side.h11.send(h11.Data(data=compress(first, zlib.Z_SYNC_FLUSH)))
        )
        acked.append(got_first.wait(10))
        side.send_raw(
            side.h11.send(h11.Data(data=compress(rest, zlib.Z_FINISH)))
            + side.h11.send(h11.EndOfMessage())
        )

    return app


@pytest.mark.parametrize("coding", ["", "gzip"])
def test_lines_flow_before_the_body_ends(
    session: keepalive.Session, make_server: MakeServer, coding: str
) -> None:
    # No charset declared: the text is decided as it arrives, not after the last byte.
    got_first, acked = threading.Event(), []
    first, rest = "data: caf\u00e9\n\n".encode(), b"data: two\n\ndata: \xff\n"
    server = make_server(event_stream_app(first, rest, got_first, acked, coding))
    with session.get(server.url, stream=True) as r:
        lines = r.iter_lines()
        assert next(lines) == "data: caf\u00e9"
        got_first.set()
        # from the first byte that is not UTF-8 on, ISO-8859-1
        assert list(lines) == ["", "data: two", "", "data: \u00ff"]
    assert acked == [True]  # the server was still waiting when the first line arrived


def test_iter_text_flows_and_switches_to_latin1_at_the_first_bad_byte(
    session: keepalive.Session, make_server: MakeServer
) -> None:
    got_first, acked = threading.Event(), []
    server = make_server(event_stream_app(b"\xe2\x98", b"\x83 \xe9t\xe9", got_first, acked))
    got_first.set()
    with session.get(server.url, stream=True) as r:
        assert r.encoding is None  # not declared, not read: asking consumes nothing
        # a character split between chunks waits for its end; from the first byte that
        # is not UTF-8 on (the é of "été"), ISO-8859-1
        assert "".join(r.iter_text()) == "\u2603 \u00e9t\u00e9"
    assert acked == [True]


def test_encoding_of_a_read_body_keeps_its_rules(
    session: keepalive.Session, make_server: MakeServer
) -> None:
    bodies = {"/utf8": "\u2603".encode(), "/latin": b"caf\xe9", "/mixed": "\u2603\xe9".encode()}
    bodies["/mixed"] += b"\xff"
    server = make_server(lambda req, side: Reply(200, [], bodies[req.target]))
    assert session.get(server.url + "/utf8").encoding == "utf-8"
    assert session.get(server.url + "/latin").encoding == "iso-8859-1"
    mixed = session.get(server.url + "/mixed")
    assert mixed.encoding == "iso-8859-1"  # the whole body decides, once read
    assert mixed.text == bodies["/mixed"].decode("iso-8859-1")
    assert list(mixed.iter_lines()) == [mixed.text]
    with session.get(server.url + "/utf8", stream=True) as r:
        assert r.encoding is None
        assert r.text == "\u2603" and r.encoding == "utf-8"


# ----------------------------------------------------------------------------- 7. raw, links


def test_raw_is_the_undecoded_body_as_a_file(
    session: keepalive.Session, make_server: MakeServer
) -> None:
    plain = bytes(range(256)) * 4000
    coded = gzip.compress(plain, mtime=0)
    server = serve_body(make_server, coded, [("Content-Encoding", "gzip")])
    with session.get(server.url, stream=True) as r:
        raw = r.raw
        assert isinstance(raw, io.RawIOBase) and raw.readable() and not raw.writable()
        assert r.raw is raw
        assert raw.read(0) == b""
        head = raw.read(10)
        buffer = bytearray(1000)
        assert raw.readinto(buffer) == 1000
        rest = raw.read()
        assert head + bytes(buffer) + rest == coded
        assert raw.read(5) == b""
    assert session.pool.stats()["active"] == 0
    with session.get(server.url, stream=True) as r:
        sink = io.BytesIO()
        shutil.copyfileobj(r.raw, sink)
        assert sink.getvalue() == coded
        with pytest.raises(keepalive.StreamConsumed):
            r.read()


def test_closing_raw_closes_the_response(make_server: MakeServer) -> None:
    server = serve_body(make_server, b"q" * 500_000)
    with keepalive.Session(trust_env=False, max_connections_per_host=1) as s:
        r = s.get(server.url, stream=True)
        assert r.raw.read(3) == b"qqq"
        r.raw.close()
        assert r.raw.closed and s.pool.stats()["active"] == 0
        with pytest.raises(keepalive.ResponseClosed):
            r.raw.read(3)
        assert s.get(server.url, timeout=2.0).content == b"q" * 500_000


def test_links_follow_rfc_8288(session: keepalive.Session, make_server: MakeServer) -> None:
    headers = [
        (
            "Link",
            '<https://api.test/items?page=2>; rel="next", <https://api.test/items?page=9>;'
            ' rel=last; title="a, b; c \\"quoted\\""',
        ),
        ("Link", "</style.css>; REL=stylesheet; rel=ignored; type=text/css"),
        ("Link", '<https://no-rel.test/>; anchor="#x", garbage, </bare>'),
    ]
    server = serve_body(make_server, b"", headers)
    links = session.get(server.url).links
    assert links == {
        "next": {"url": "https://api.test/items?page=2", "rel": "next"},
        "last": {
            "url": "https://api.test/items?page=9",
            "rel": "last",
            "title": 'a, b; c "quoted"',
        },
        "stylesheet": {"url": "/style.css", "rel": "stylesheet", "type": "text/css"},
        "https://no-rel.test/": {"url": "https://no-rel.test/", "anchor": "#x"},
        "/bare": {"url": "/bare"},
    }
    assert session.get(serve_body(make_server, b"").url).links == {}


# ----------------------------------------------------------------------------- lines, property


@pytest.fixture(scope="module")
def echo() -> Iterator[tuple[TestServer, keepalive.Session]]:
    """A server answering each request with its body, and a session for it, per module."""
    server = TestServer(lambda req, side: Reply(200, [("Content-Type", "text/plain")], req.body))
    try:
        with keepalive.Session(trust_env=False, timeout=keepalive.Timeout(10.0)) as s:
            yield server, s
    finally:
        server.stop()


@settings(max_examples=150, deadline=None)
@given(
    text=st.text(alphabet="ab\r\n\u00e9", max_size=40),
    chunk_size=st.one_of(st.none(), st.integers(min_value=1, max_value=9)),
    delimiter=st.sampled_from([None, "\n", "\r\n", "\n\n", "ab\r"]),
    as_bytes=st.booleans(),
)
def test_iter_lines_matches_splitting_the_whole_text(
    echo: tuple[TestServer, keepalive.Session],
    text: str,
    chunk_size: int | None,
    delimiter: str | None,
    as_bytes: bool,
) -> None:
    # However the body is cut, the lines are those of the whole text split at once
    # (a final empty piece, after a last line break, is no line).
    server, session = echo
    expected = re.split(r"\r\n|\r|\n", text) if delimiter is None else text.split(delimiter)
    if expected[-1] == "":
        expected.pop()
    with session.post(server.url, data=text.encode(), stream=True) as r:
        if as_bytes:
            got = list(
                r.iter_lines(
                    chunk_size,
                    decode_unicode=False,
                    delimiter=None if delimiter is None else delimiter.encode(),
                )
            )
            assert got == [line.encode() for line in expected]
        else:
            assert list(r.iter_lines(chunk_size, delimiter=delimiter)) == expected
