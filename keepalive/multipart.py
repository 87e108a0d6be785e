"""``multipart/form-data`` bodies (RFC 7578) for the session's ``files=`` argument.

``encode_multipart`` builds the whole body in memory and returns it with its
``Content-Type`` value: plain ``data`` fields first, then files, each part with a
``Content-Disposition: form-data`` header naming it.
"""

from __future__ import annotations

import mimetypes
import os
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from .exceptions import LocalProtocolError

__all__ = ["DataFields", "FileContent", "FileSpec", "FilesLike", "encode_multipart"]


class _Readable(Protocol):
    def read(self) -> bytes | str: ...


FileContent = bytes | str | _Readable
FileSpec = (
    FileContent
    | tuple[str | None, FileContent]
    | tuple[str | None, FileContent, str | None]
    | tuple[str | None, FileContent, str | None, Mapping[str, str]]
)
FieldValue = str | bytes | int | float
# Sequence (not Iterable) for the pairs form: a union of Mapping and Iterable defeats
# mypy's inference of dict literals with mixed tuple values. Any iterable works at runtime.
DataFields = Mapping[str, FieldValue | Sequence[FieldValue]] | Sequence[tuple[str, FieldValue]]
FilesLike = Mapping[str, FileSpec] | Sequence[tuple[str, FileSpec]]

# RFC 2046 section 5.1.1: 1 to 70 characters from bchars, not ending in a space.
_BOUNDARY_RE = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")
_TOKEN_RE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# What browsers (the HTML standard's form encoding) and requests escape in names.
_NAME_ESCAPES = str.maketrans({'"': "%22", "\r": "%0D", "\n": "%0A"})


def _quoted(value: str) -> bytes:
    # RFC 7578 section 4.2: names and filenames go in quoted strings, as UTF-8.
    return b'"' + value.translate(_NAME_ESCAPES).encode("utf-8") + b'"'


def _as_bytes(value: bytes | str, what: str) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    raise LocalProtocolError(f"{what} must be bytes or str, not {type(value).__name__}")


def _read_content(content: object, what: str) -> bytes:
    """The bytes of a part: bytes, str (UTF-8) or anything with ``read()``."""
    if isinstance(content, bytes | str):
        return _as_bytes(content, what)
    if isinstance(content, bytearray | memoryview):
        return bytes(content)
    read = getattr(content, "read", None)
    if callable(read):
        return _as_bytes(read(), what)
    raise LocalProtocolError(
        f"{what} must be bytes, str or a file object, not {type(content).__name__}"
    )


def _file_name(content: object) -> str | None:
    """The base name of a file object's ``name``, when it has a usable one."""
    name = getattr(content, "name", None)
    if isinstance(name, str) and name and not (name.startswith("<") and name.endswith(">")):
        return os.path.basename(name)
    return None


def _header_line(name: str, value: str, what: str) -> bytes:
    if not _TOKEN_RE.fullmatch(name):
        raise LocalProtocolError(f"invalid header name {name!r} in {what}")
    if any(c in value for c in "\r\n\x00"):
        raise LocalProtocolError(f"header {name!r} in {what} contains CR, LF or NUL")
    return f"{name}: {value}\r\n".encode()


def _pairs(items: Iterable[object], what: str) -> list[tuple[str, object]]:
    """Check that ``items`` is a sequence of ``(name, value)`` pairs with str or bytes names
    (bytes read as UTF-8, as requests reads them)."""
    if isinstance(items, str | bytes):
        raise LocalProtocolError(f"{what} must be a mapping or (name, value) pairs")
    pairs: list[tuple[str, object]] = []
    for item in items:
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str | bytes)):
            raise LocalProtocolError(f"{what} must be (name, value) pairs, got {item!r}")
        name, value = item
        if isinstance(name, bytes):
            try:
                name = name.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise LocalProtocolError(f"{what}: name {name!r} is not UTF-8") from exc
        pairs.append((name, value))
    return pairs


def _field_pairs(data: DataFields | None) -> list[tuple[str, object]]:
    if data is None:
        return []
    if not isinstance(data, Mapping):
        return _pairs(data, "multipart data")
    pairs: list[tuple[str, object]] = []
    for name, value in data.items():
        if isinstance(value, Sequence) and not isinstance(value, str | bytes):
            pairs.extend((name, item) for item in value)
        else:
            pairs.append((name, value))
    return _pairs(pairs, "multipart data")


def _field_part(name: str, value: object) -> tuple[bytes, bytes]:
    if isinstance(value, bool) or not isinstance(value, str | bytes | int | float):
        raise LocalProtocolError(
            f"form field {name!r} must be str, bytes or a number, not {type(value).__name__}"
        )
    body = value if isinstance(value, bytes) else str(value).encode("utf-8")
    # RFC 7578 section 4.4: a part without Content-Type is text/plain.
    return b"Content-Disposition: form-data; name=" + _quoted(name) + b"\r\n", body


def _file_part(name: str, spec: object) -> tuple[bytes, bytes]:
    what = f"file {name!r}"
    extra: Mapping[str, str] = {}
    content_type: str | None = None
    if isinstance(spec, tuple):
        if not 2 <= len(spec) <= 4:
            raise LocalProtocolError(
                f"{what} must be (filename, content[, content_type[, headers]]), "
                f"not a tuple of {len(spec)}"
            )
        filename, content = spec[0], spec[1]
        if len(spec) > 2:
            content_type = spec[2]
        if len(spec) > 3:
            extra = spec[3]
        if filename is not None and not isinstance(filename, str):
            raise LocalProtocolError(f"{what}: filename must be str or None")
    else:
        content = spec
        # Servers treat a part as a file only when it has a filename: use the file's own
        # name, else the field name (as requests does).
        filename = _file_name(spec) or name
    body = _read_content(content, what)

    head = b"Content-Disposition: form-data; name=" + _quoted(name)
    if filename is not None:
        head += b"; filename=" + _quoted(filename)
    head += b"\r\n"
    if content_type is None and filename is not None:
        content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    elif content_type is None:
        content_type = "application/octet-stream"
    head += _header_line("Content-Type", content_type, what)
    for header, value in extra.items():
        head += _header_line(header, value, what)
    return head, body


def _file_pairs(files: FilesLike) -> list[tuple[str, object]]:
    # A file given as None is left out, as a None form field is (and as requests does).
    pairs = _pairs(files.items() if isinstance(files, Mapping) else files, "files")
    return [(name, spec) for name, spec in pairs if spec is not None]


def encode_multipart(
    data: DataFields | None,
    files: FilesLike,
    boundary: str | None = None,
) -> tuple[str, bytes]:
    """Build a ``multipart/form-data`` body; return ``(content_type_value, body)``.

    ``files`` values are bytes, str, file objects or ``(filename, content[, content_type[,
    headers]])`` tuples; a missing content type is guessed from the filename, else
    ``application/octet-stream``. The boundary is random unless given.
    """
    parts = [_field_part(name, value) for name, value in _field_pairs(data)]
    parts += [_file_part(name, spec) for name, spec in _file_pairs(files)]

    if boundary is None:
        boundary = secrets.token_hex(16)
        # 128 random bits cannot collide in practice; the check below stays cheap anyway.
        while any(("--" + boundary).encode() in body for _, body in parts):
            boundary = secrets.token_hex(16)
    else:
        if not _BOUNDARY_RE.fullmatch(boundary):
            raise LocalProtocolError(f"invalid multipart boundary {boundary!r} (RFC 2046)")
        # RFC 2046 section 5.1.1: the delimiter must not occur inside any part.
        if any(("--" + boundary).encode() in body for _, body in parts):
            raise LocalProtocolError(f"multipart boundary {boundary!r} occurs in the data")

    delimiter = b"--" + boundary.encode("ascii")
    chunks: list[bytes] = []
    for head, body in parts:
        chunks += [delimiter, b"\r\n", head, b"\r\n", body, b"\r\n"]
    chunks += [delimiter, b"--\r\n"]

    param = boundary if _TOKEN_RE.fullmatch(boundary) else f'"{boundary}"'
    return f"multipart/form-data; boundary={param}", b"".join(chunks)
