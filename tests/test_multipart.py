"""multipart/form-data bodies, parsed back by the stdlib email parser and by httpbin."""

from __future__ import annotations

import email.parser
import email.policy
import http.client
import io
import json
import re
from email.message import EmailMessage
from pathlib import Path

import pytest
import thirdparty

from keepalive.exceptions import LocalProtocolError
from keepalive.multipart import encode_multipart

BINARY = bytes(range(256)) + b"\r\n--not-a-boundary\r\n" + bytes(range(255, -1, -1))


def parse(content_type: str, body: bytes) -> list[EmailMessage]:
    """Parse a multipart body back into its parts with the stdlib's MIME parser."""
    raw = f"Content-Type: {content_type}\r\n\r\n".encode() + body
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    assert message.is_multipart()
    assert not message.defects, message.defects
    parts = list(message.iter_parts())
    for part in parts:
        assert isinstance(part, EmailMessage)
        assert not part.defects, part.defects
    return parts  # type: ignore[return-value]


def summary(part: EmailMessage) -> tuple[str | None, str | None, str, bytes]:
    """(field name, filename, content type, payload bytes) of one part."""
    name = part.get_param("name", header="content-disposition")
    assert part.get_content_disposition() == "form-data"
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return str(name), part.get_filename(), part.get_content_type(), payload


# ----------------------------------------------------------------------------- round trips


def test_round_trip_fields_then_files() -> None:
    content_type, body = encode_multipart(
        {"title": "caf\u00e9", "tags": ["a", "b"], "count": 3, "raw": b"\x00\xff"},
        {
            "doc": ("report.pdf", BINARY),
            "note": ("note.txt", "plain text \u2713", "text/plain; charset=utf-8"),
            "blob": b"no name",
        },
    )
    assert content_type.startswith("multipart/form-data; boundary=")
    parts = [summary(p) for p in parse(content_type, body)]
    assert parts == [
        ("title", None, "text/plain", "caf\u00e9".encode()),
        ("tags", None, "text/plain", b"a"),
        ("tags", None, "text/plain", b"b"),
        ("count", None, "text/plain", b"3"),
        ("raw", None, "text/plain", b"\x00\xff"),
        ("doc", "report.pdf", "application/pdf", BINARY),
        ("note", "note.txt", "text/plain", "plain text \u2713".encode()),
        ("blob", "blob", "application/octet-stream", b"no name"),
    ]


def test_data_and_files_as_pairs_keep_their_order() -> None:
    content_type, body = encode_multipart(
        [("b", "2"), ("a", "1"), ("b", "3")],
        [("f", ("2.txt", b"two")), ("f", ("1.txt", b"one"))],
    )
    parts = [summary(p)[:2] for p in parse(content_type, body)]
    assert parts == [("b", None), ("a", None), ("b", None), ("f", "2.txt"), ("f", "1.txt")]


def test_wire_format_is_exact() -> None:
    content_type, body = encode_multipart(
        {"k": "v"}, {"f": ("a.txt", b"x", None, {"X-Extra": "1"})}, boundary="BOUNDARY"
    )
    assert content_type == "multipart/form-data; boundary=BOUNDARY"
    assert body == (
        b"--BOUNDARY\r\n"
        b'Content-Disposition: form-data; name="k"\r\n'
        b"\r\n"
        b"v\r\n"
        b"--BOUNDARY\r\n"
        b'Content-Disposition: form-data; name="f"; filename="a.txt"\r\n'
        b"Content-Type: text/plain\r\n"
        b"X-Extra: 1\r\n"
        b"\r\n"
        b"x\r\n"
        b"--BOUNDARY--\r\n"
    )


def test_files_only_and_nothing_at_all() -> None:
    content_type, body = encode_multipart(None, {"f": b"1"})
    assert [summary(p)[0] for p in parse(content_type, body)] == ["f"]
    content_type, body = encode_multipart(None, {}, boundary="b")
    assert body == b"--b--\r\n"


# ----------------------------------------------------------------------------- names and types


def test_names_and_filenames_are_escaped_like_browsers() -> None:
    # RFC 7578 section 4.2 / the HTML standard: '"' -> %22, CR -> %0D, LF -> %0A.
    _, body = encode_multipart(
        {'we"ird\r\nname': "v"}, {"f": ('evil"\r\nX-Injected: 1.txt', b"x")}, boundary="b"
    )
    assert b'name="we%22ird%0D%0Aname"' in body
    assert b'filename="evil%22%0D%0AX-Injected: 1.txt"' in body
    assert b"\r\nX-Injected" not in body


def test_non_ascii_filename_is_sent_as_utf8() -> None:
    content_type, body = encode_multipart(None, {"f": ("r\u00e9sum\u00e9.txt", b"x")})
    assert 'filename="r\u00e9sum\u00e9.txt"'.encode() in body
    assert summary(parse(content_type, body)[0])[1] == "r\u00e9sum\u00e9.txt"


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("a.png", "image/png"),
        ("a.json", "application/json"),
        ("a.unknownext", "application/octet-stream"),
        ("noext", "application/octet-stream"),
    ],
)
def test_content_type_is_guessed_from_filename(filename: str, expected: str) -> None:
    _, body = encode_multipart(None, {"f": (filename, b"x")}, boundary="b")
    assert f"Content-Type: {expected}\r\n".encode() in body


def test_explicit_content_type_wins() -> None:
    _, body = encode_multipart(None, {"f": ("a.png", b"x", "text/csv")}, boundary="b")
    assert b"Content-Type: text/csv\r\n" in body
    assert b"image/png" not in body


def test_part_without_filename() -> None:
    content_type, body = encode_multipart(None, {"f": (None, b"{}", "application/json")})
    [part] = parse(content_type, body)
    assert summary(part) == ("f", None, "application/json", b"{}")


# ----------------------------------------------------------------------------- file objects


def test_real_file_uses_its_base_name(tmp_path: Path) -> None:
    path = tmp_path / "upload.csv"
    path.write_bytes(b"a,b\r\n1,2\r\n")
    with path.open("rb") as f:
        content_type, body = encode_multipart(None, {"sheet": f})
    [part] = parse(content_type, body)
    assert summary(part) == ("sheet", "upload.csv", "text/csv", b"a,b\r\n1,2\r\n")


def test_text_file_and_tuple_with_file_object(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("h\u00e9llo", encoding="utf-8")
    with path.open("r", encoding="utf-8") as f:
        content_type, body = encode_multipart(None, {"a": f, "b": ("given.bin", io.BytesIO(b"io"))})
    parts = [summary(p) for p in parse(content_type, body)]
    assert parts == [
        ("a", "t.txt", "text/plain", "h\u00e9llo".encode()),
        ("b", "given.bin", "application/octet-stream", b"io"),
    ]


def test_file_object_without_name_uses_field_name() -> None:
    content_type, body = encode_multipart(None, {"upload": io.BytesIO(b"data")})
    assert summary(parse(content_type, body)[0])[:2] == ("upload", "upload")


# ----------------------------------------------------------------------------- boundary


def test_random_boundary() -> None:
    first, _ = encode_multipart({"a": "1"}, {})
    second, _ = encode_multipart({"a": "1"}, {})
    boundary = first.split("boundary=")[1]
    assert re.fullmatch(r"[0-9a-f]{32}", boundary)
    assert first != second


def test_boundary_needing_quotes_is_quoted() -> None:
    content_type, body = encode_multipart({"a": "1"}, {}, boundary="with space:and=more")
    assert content_type == 'multipart/form-data; boundary="with space:and=more"'
    assert summary(parse(content_type, body)[0])[3] == b"1"


@pytest.mark.parametrize("boundary", ["", "x" * 71, "ends with space ", "bad\r\n", "semi;colon"])
def test_invalid_boundary_is_refused(boundary: str) -> None:
    with pytest.raises(LocalProtocolError, match="boundary"):
        encode_multipart({"a": "1"}, {}, boundary=boundary)


def test_boundary_inside_the_data_is_refused() -> None:
    with pytest.raises(LocalProtocolError, match="occurs"):
        encode_multipart(None, {"f": b"xx\r\n--sep\r\n"}, boundary="sep")


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("data", "files"),
    [
        ({"a": None}, {}),
        ({"a": True}, {}),
        ({"a": object()}, {}),
        (b"a=1", {}),
        ([("a",)], {}),
        (None, {"f": 123}),
        (None, {"f": ("a", "b", "c", {}, "extra")}),
        (None, {"f": (b"bytes-name", b"x")}),
        (None, {"f": ("a.txt", b"x", "text/plain\r\nX-Evil: 1")}),
        (None, {"f": ("a.txt", b"x", None, {"Bad Name": "v"})}),
        (None, [("f",)]),
    ],
)
def test_bad_input_is_a_local_protocol_error(data: object, files: object) -> None:
    with pytest.raises(LocalProtocolError):
        encode_multipart(data, files)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- against httpbin


def test_httpbin_parses_what_we_send(httpbin: thirdparty.Server) -> None:
    content_type, body = encode_multipart(
        {"name": "caf\u00e9", "multi": ["1", "2"]},
        {
            "upload": ("hello.txt", b"hello world"),
            "other": ("x.bin", b"abc", "application/x-thing"),
        },
    )
    conn = http.client.HTTPConnection(httpbin.host, httpbin.port, timeout=10)
    try:
        conn.request("POST", "/post", body=body, headers={"Content-Type": content_type})
        response = conn.getresponse()
        echoed = json.loads(response.read())
    finally:
        conn.close()
    assert response.status == 200
    assert echoed["form"] == {"name": "caf\u00e9", "multi": ["1", "2"]}
    assert echoed["files"] == {"upload": "hello world", "other": "abc"}
    assert echoed["headers"]["Content-Type"] == content_type
