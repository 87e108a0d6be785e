"""The ``keepalive`` command: curl-like requests over one ``Session``, showing where time went.

Every URL (each repeated ``-n`` times) goes over the same session, so the command shows what
the library is for: with ``-v`` each request gets a timing waterfall, the connection it used,
whether that connection was reused and, when the pool closed one, why. The reasons come from
the pool's own DEBUG log (``retired ...``), which ``-v`` listens to for the run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from http import HTTPStatus
from typing import BinaryIO, TextIO

from ._version import __version__
from .exceptions import HTTPStatusError, KeepaliveError
from .models import Timeout
from .response import Response
from .session import Session

__all__ = ["main"]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2  # what argparse uses
EXIT_HTTP = 22  # curl's code for --fail
EXIT_INTERRUPTED = 130

_FORM = "application/x-www-form-urlencoded"
_BAR_WIDTH = 40
_CHUNK = 65536
_OTHER_SHOWN = 0.0001  # seconds outside the phases worth a mention on the total line

_EPILOG = """\
Examples:
  keepalive -v -n 5 https://example.org/     new against reused latency, per request
  keepalive -L -o page.html https://example.org/
  keepalive --json '{"name": "Ada"}' --fail https://example.org/api

Reading -v:
  Per request: the connection's id, new or reused, then the phases in order (dns, connect,
  tls with "resumed" when the TLS session was resumed, send, wait for the first byte,
  receive the body), each bar starting where the previous phase ended. "-" marks a phase
  that did not happen (no dns, connect or tls on a reused connection, no tls over http);
  the total line notes time spent between phases. "connection N retired after M requests:
  why" says when and why the pool closed a connection.

Bodies and headers:
  -d and --data-binary imply POST unless -X says otherwise, and a Content-Type of
  application/x-www-form-urlencoded unless -H gives one (as curl does). -d @FILE reads FILE
  and drops its CR and LF characters; --data-binary @FILE sends it byte for byte; @- reads
  standard input. --json sends JSON (text or @FILE) with Content-Type and Accept set to
  application/json. -H 'Name: value' replaces a default header the first time and adds a
  field after that; -H 'Name:' removes it.

Output:
  Standard output gets each response's status line and body (a newline is added after a
  body that lacks one). With -o FILE the bodies are streamed into FILE, byte for byte, and
  standard output keeps the status lines; FILE is created when the first body arrives.
  -v, -n summaries, the -o progress bar (on a terminal) and errors go to standard error,
  coloured on a terminal unless NO_COLOR is set.

Exit status:
  0    every request got a response
  1    transport or other error (connect, TLS, timeout, protocol, file): one line on stderr
  2    bad command line (including an unreadable @FILE or invalid --json)
  22   --fail and a 4xx/5xx response (as curl): its body is not shown; nothing more is sent
  130  interrupted
"""


class _UsageError(Exception):
    """A command-line value that cannot be used; reported through argparse (exit 2)."""


class _Failure(Exception):
    """Something outside HTTP went wrong (the -o file): one line on stderr, exit 1."""


# -- the command line ------------------------------------------------------------------------------


def _count(minimum: int, what: str) -> Callable[[str], int]:
    """An argparse ``type`` for a whole number of at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            message = f"{what} must be a whole number, not {text!r}"
            raise argparse.ArgumentTypeError(message) from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{what} must be at least {minimum}, not {value}")
        return value

    return parse


def _seconds(text: str) -> float:
    """An argparse ``type`` for --timeout: a finite number of seconds above zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"the timeout must be above 0 seconds, not {text}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="keepalive",
        description="Send HTTP/1.1 requests over one keep-alive session and show the reuse.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("urls", nargs="+", metavar="URL", help="the URLs to request, in order")
    add("-X", "--request", dest="method", metavar="METHOD", help="the method (default GET)")
    add("-H", "--header", dest="headers", action="append", default=[], metavar="'NAME: VALUE'",
        help="a request header; repeatable")  # fmt: skip
    body = parser.add_mutually_exclusive_group()
    body.add_argument("-d", "--data", metavar="DATA", help="a body: text, @FILE or @-")
    body.add_argument("--data-binary", metavar="DATA",
                      help="a body sent byte for byte: text, @FILE or @-")  # fmt: skip
    body.add_argument("--json", metavar="JSON", help="a JSON body: text, @FILE or @-")
    add("-o", "--output", metavar="FILE", help="write the bodies to FILE instead of stdout")
    add("-v", "--verbose", action="store_true",
        help="per request: timing waterfall, connection reused or new, why one closed")  # fmt: skip
    add("-n", "--repeat", type=_count(1, "-n"), default=1, metavar="N",
        help="send each URL N times and compare new and reused connections")  # fmt: skip
    tls = parser.add_mutually_exclusive_group()
    tls.add_argument("--cacert", metavar="FILE", help="verify servers against this CA bundle")
    tls.add_argument("-k", "--insecure", action="store_true", help="do not verify certificates")
    add("-f", "--fail", action="store_true", help="exit 22 on a 4xx or 5xx response")
    add("-L", "--location", action="store_true", help="follow redirects")
    add("--max-redirs", type=_count(0, "--max-redirs"), default=20, metavar="N",
        help="give up after N redirects with -L (default 20)")  # fmt: skip
    add("--timeout", type=_seconds, metavar="SECONDS",
        help="limit for each phase: connect, read, write, pool wait")  # fmt: skip
    add("-V", "--version", action="version", version=f"keepalive {__version__}")
    return parser


def _read_value(value: str, option: str) -> tuple[bytes, bool]:
    """``value`` as bytes, read from a file for ``@FILE`` (``@-``: stdin); and whether it was."""
    if not value.startswith("@"):
        return os.fsencode(value), False  # the bytes the shell gave us, even if not UTF-8
    path = value[1:]
    try:
        if path == "-":
            return sys.stdin.buffer.read(), True
        with open(path, "rb") as file:
            return file.read(), True
    except OSError as exc:
        raise _UsageError(f"{option}: cannot read {path!r}: {exc.strerror or exc}") from None


def _request_body(args: argparse.Namespace) -> tuple[bytes | None, dict[str, str]]:
    """The request body and the headers it implies (unless the user gave them with -H)."""
    if args.json is not None:
        data, _ = _read_value(args.json, "--json")
        try:
            json.loads(data)
        except ValueError as exc:
            raise _UsageError(f"--json: not valid JSON: {exc}") from None
        return data, {"Content-Type": "application/json", "Accept": "application/json"}
    if args.data is not None:
        data, from_file = _read_value(args.data, "-d")
        if from_file:  # curl's -d @file: line breaks are not part of the data
            data = data.replace(b"\r", b"").replace(b"\n", b"")
        return data, {"Content-Type": _FORM}
    if args.data_binary is not None:
        return _read_value(args.data_binary, "--data-binary")[0], {"Content-Type": _FORM}
    return None, {}


def _parse_headers(given: Sequence[str]) -> list[tuple[str, str]]:
    """-H values as (name, value) pairs; an empty value means "remove this header"."""
    pairs = []
    for text in given:
        name, colon, value = text.partition(":")
        if not colon or not name.strip():
            raise _UsageError(f"-H {text!r}: expected 'Name: value'")
        pairs.append((name.strip(), value.strip()))
    return pairs


def _apply_headers(session: Session, pairs: Sequence[tuple[str, str]]) -> None:
    """The first -H for a name replaces the session's default; later ones add a field."""
    seen: set[str] = set()
    for name, value in pairs:
        if name.lower() not in seen:
            seen.add(name.lower())
            session.headers.pop(name, None)
        if value:
            session.headers.add(name, value)


# -- what -v and -n show ---------------------------------------------------------------------------


class _Style:
    """ANSI colour for a terminal (https://no-color.org: ``NO_COLOR`` turns it off)."""

    def __init__(self, stream: TextIO) -> None:
        self.enabled = stream.isatty() and not os.environ.get("NO_COLOR")

    def __call__(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.enabled and text else text

    def status(self, status: int, text: str) -> str:
        return self(text, "32" if status < 300 else "33" if status < 400 else "31")


class _RetiredLog(logging.Handler):
    """Keeps the pool's ``retired <connection> (why)`` messages until ``-v`` prints them.

    The pool logs each retirement at DEBUG with the connection as the first argument
    (keepalive/_async/pool.py, ``_retire``); this handler turns that into
    ``connection 3 retired after 2 requests: why``, the words the waterfall uses. A message
    of another shape is kept as the library wrote it.
    """

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("retired "):
            self.messages.append(_retirement(message, record.args))

    def take(self) -> list[str]:
        messages, self.messages = self.messages, []
        return messages


def _retirement(message: str, args: object) -> str:
    """``retired <HTTPConnection #3 ...> (why)`` as ``connection 3 retired ...: why``."""
    conn = args[0] if isinstance(args, tuple) and args else None
    number, count = getattr(conn, "id", None), getattr(conn, "request_count", None)
    prefix = f"retired {conn!r} "
    if not isinstance(number, int) or not message.startswith(prefix):
        return message
    why = message[len(prefix) :]
    if why.startswith("(") and why.endswith(")"):
        why = why[1:-1]
    served = ""
    if isinstance(count, int):
        served = f" after {count} request{'' if count == 1 else 's'}"
    return f"connection {number} retired{served}: {why}"


@contextlib.contextmanager
def _listening(handler: logging.Handler) -> Iterator[None]:
    """Attach ``handler`` to the ``keepalive`` logger at DEBUG for a while, then restore it."""
    logger = logging.getLogger("keepalive")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _status(response: Response) -> str:
    """``200 OK``; the standard phrase when the server sent none (HTTP/1.1 allows that)."""
    reason = response.reason
    if not reason:
        with contextlib.suppress(ValueError):
            reason = HTTPStatus(response.status_code).phrase
    return f"{response.status_code} {reason}".rstrip()


def _waterfall(number: int, response: Response, style: _Style) -> list[str]:
    """One hop's timing: each phase a bar starting where the previous one ended.

    A phase that could not happen (DNS, connect and TLS on a reused connection, TLS over
    plain http) shows ``-`` rather than a measured 0.0. Time inside the exchange that falls in
    no phase (framing the request, setting up the socket) is shown on the total's line, so
    that the rows add up.
    """
    t = response.timings
    how = style("reused", "32") if response.reused else style("new", "33")
    status = style.status(response.status_code, _status(response))
    lines = [
        f"#{number} {response.request.method} {response.url} -> {status}  "
        f"connection {response.connection_id} {how}"
    ]
    phases = [
        ("dns", t.dns), ("connect", t.connect), ("tls", t.tls),
        ("send", t.send), ("wait", t.wait), ("receive", t.receive),
    ]  # fmt: skip
    skipped = {"dns", "connect", "tls"} if response.reused else set()
    if not str(response.url).startswith("https:"):
        skipped.add("tls")
    measured = sum(seconds for _, seconds in phases)
    scale = _BAR_WIDTH / max(t.total, measured, 1e-9)
    start = 0.0
    for name, seconds in phases:
        if name in skipped and seconds == 0.0:
            lines.append(f"   {name:<8}{'-':>7}    |")
            continue
        left, right = round(start * scale), round((start + seconds) * scale)
        note = "  resumed" if name == "tls" and t.tls_resumed else ""
        bar = " " * left + style("#" * (right - left), "36") if right > left else ""
        lines.append(f"   {name:<8}{seconds * 1000:7.1f} ms |{bar}{note}")
        start += seconds
    other = t.total - measured
    rest = f"  ({other * 1000:.1f} ms in no phase above)" if other >= _OTHER_SHOWN else ""
    lines.append(f"   {'total':<8}{t.total * 1000:7.1f} ms{rest}")
    return lines


def _summary(url: str, runs: Sequence[tuple[float, bool]]) -> str:
    """New against reused latency for one URL sent ``-n`` times: ``runs`` = (seconds, reused)."""
    new = [seconds for seconds, reused in runs if not reused]
    old = [seconds for seconds, reused in runs if reused]
    head = f"{url}: {len(runs)} requests"
    if not old:
        return f"{head}, none on a reused connection (-v tells why each one was retired)"
    median = statistics.median(old)
    if not new:
        return f"{head}, all on a reused connection: median {median * 1000:.1f} ms"
    ratio = f", new/reused {new[0] / median:.1f}x" if median > 0 else ""
    return (
        f"{head}: new connection {new[0] * 1000:.1f} ms (the first), "
        f"reused {median * 1000:.1f} ms (median of {len(old)}){ratio}"
    )


def _size(count: float) -> str:
    """A byte count for the progress bar: ``512 B``, ``1.5 MiB``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


class _Progress:
    """A download meter on a terminal: bytes so far out of Content-Length, redrawn in place."""

    def __init__(self, stream: TextIO, total: int | None) -> None:
        self.stream = stream
        self.total = total
        self.done = 0
        self.drawn = 0.0

    def update(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        if now - self.drawn >= 0.1:  # ten redraws a second are plenty
            self.drawn = now
            self.draw()

    def draw(self) -> None:
        if self.total:
            part = min(self.done / self.total, 1.0)
            bar = "#" * round(part * 30)
            line = f"[{bar:<30}] {part:4.0%}  {_size(self.done)} / {_size(self.total)}"
        else:
            line = _size(self.done)
        self.stream.write(f"\r{line}")
        self.stream.flush()

    def finish(self) -> None:
        self.draw()
        self.stream.write("\n")


def _content_length(response: Response) -> int | None:
    """The decoded size when the head tells it (not for a compressed body)."""
    if "content-encoding" in response.headers:
        return None
    value = response.headers.get("content-length")
    return int(value) if value is not None and value.isdigit() else None


# -- running ---------------------------------------------------------------------------------------


class _Run:
    """One invocation: the session, where output goes and what ``-v`` has to say."""

    def __init__(self, args: argparse.Namespace, session: Session, body: bytes | None,
                 headers: dict[str, str]) -> None:  # fmt: skip
        self.args = args
        self.session = session
        self.body = body
        self.headers = headers  # what the body implies, per request
        self.method = str(args.method or ("POST" if body is not None else "GET"))
        self.out: BinaryIO = sys.stdout.buffer
        self.err: TextIO = sys.stderr
        self.style = _Style(self.err)
        self.sink: BinaryIO | None = None  # the -o file, opened by the first body written
        self.files = contextlib.ExitStack()
        self.retired = _RetiredLog() if args.verbose else None
        self.number = 0

    def all(self) -> int:
        """Every URL, ``-n`` times each, in order; a summary per URL sent more than once."""
        for url in self.args.urls:
            runs = [self.one(url) for _ in range(self.args.repeat)]
            if len(runs) > 1:
                self.err.write(f"{self.style('summary', '1')} {_summary(url, runs)}\n")
        return EXIT_OK

    def one(self, url: str) -> tuple[float, bool]:
        """Send one request, show it; return its time over every hop and whether all reused."""
        self.number += 1
        response = self.session.request(
            self.method, url, data=self.body, headers=self.headers,
            allow_redirects=self.args.location, stream=True,
        )  # fmt: skip
        failed = self.args.fail and response.status_code >= 400
        try:
            if not failed:
                line = f"{response.http_version} {_status(response)}\n"
                self.out.write(line.encode("latin-1", "replace"))
                self.write_body(response)
        finally:
            response.close()
        if self.retired is not None:
            self.report(response)
        if failed:
            message = f"{response.url} returned {_status(response)} (--fail)"
            raise HTTPStatusError(message, response=response)
        hops = [*response.history, response]
        return sum(h.timings.total for h in hops), all(h.reused for h in hops)

    def write_body(self, response: Response) -> None:
        """Stream the body to the -o file (with a meter on a terminal) or to stdout."""
        sink = self.out if self.args.output is None else self.output()
        progress = None
        if sink is not self.out and self.err.isatty():
            progress = _Progress(self.err, _content_length(response))
        last = b""
        try:
            for chunk in response.iter_bytes(_CHUNK):
                sink.write(chunk)
                last = chunk or last
                if progress is not None:
                    progress.update(len(chunk))
        finally:
            if progress is not None:  # ends the meter's line, also before an error message
                progress.finish()
        if sink is self.out and last and not last.endswith(b"\n"):
            self.out.write(b"\n")
        self.out.flush()

    def output(self) -> BinaryIO:
        """The -o file, created (or truncated) only now that there is a body to put in it,
        so that a failed request (--fail, a refused connection) leaves an existing file be."""
        if self.sink is None:
            path = self.args.output
            try:
                # Closed by self.files, which the run's ExitStack holds.
                self.sink = self.files.enter_context(open(path, "wb"))  # noqa: SIM115
            except OSError as exc:
                raise _Failure(f"-o: cannot write {path!r}: {exc.strerror or exc}") from None
        return self.sink

    def report(self, response: Response) -> None:
        """``-v``: the waterfall of every hop of ``response`` (redirects first)."""
        hops = [*response.history, response]
        taken = self.retired.take() if self.retired is not None else []
        lines: list[str] = []
        for index, hop in enumerate(hops):
            lines += _waterfall(self.number, hop, self.style)
            # A redirect's connection retired mid-chain is told under the last hop it served.
            if any(later.connection_id == hop.connection_id for later in hops[index + 1 :]):
                continue
            mine = f"connection {hop.connection_id} retired "
            lines += [self._retired(m) for m in taken if m.startswith(mine)]
            taken = [m for m in taken if not m.startswith(mine)]
        self.print([*lines, *(self._retired(m) for m in taken)])

    def _retired(self, message: str) -> str:
        return f"   {self.style(message, '35')}"

    def print(self, lines: list[str]) -> None:
        """Write ``lines`` and then the retirements logged since the last call to stderr."""
        taken = self.retired.take() if self.retired is not None else []
        lines = [*lines, *(self._retired(message) for message in taken)]
        if lines:
            self.err.write("".join(f"{line}\n" for line in lines))
            self.err.flush()


def _error(message: str) -> None:
    """The one line an error gets on stderr: ``keepalive: error: what went wrong``."""
    style = _Style(sys.stderr)
    text = " ".join(message.split()) or "unknown error"
    sys.stderr.write(f"keepalive: {style('error:', '31')} {text}\n")
    sys.stderr.flush()


def _check_writable(path: str) -> None:
    """Refuse an -o path that could not be written before anything is sent (it is created
    only when the first body arrives)."""
    if os.path.isdir(path):
        raise _Failure(f"-o: {path!r} is a directory")
    if os.path.exists(path):
        problem = None if os.access(path, os.W_OK) else "permission denied"
    else:
        folder = os.path.dirname(os.path.abspath(path))
        problem = (
            "no such directory" if not os.path.isdir(folder)
            else None if os.access(folder, os.W_OK | os.X_OK)
            else "permission denied"
        )  # fmt: skip
    if problem is not None:
        raise _Failure(f"-o: cannot write {path!r}: {problem}")


def _run(args: argparse.Namespace) -> int:
    """Send every request of the command over one session; raise what went wrong."""
    body, implied = _request_body(args)
    pairs = _parse_headers(args.headers)
    if args.output is not None:
        _check_writable(args.output)
    given = {name.lower() for name, _ in pairs}
    headers = {name: value for name, value in implied.items() if name.lower() not in given}
    verify: bool | str = False if args.insecure else (args.cacert or True)
    sys.stdout.flush()  # the body goes to the byte layer below it
    with contextlib.ExitStack() as stack:
        session = stack.enter_context(Session(verify=verify))
        session.max_redirects = args.max_redirs
        if args.timeout is not None:
            session.timeout = Timeout(args.timeout)
        _apply_headers(session, pairs)
        run = _Run(args, session, body, headers)
        if run.retired is not None:
            stack.enter_context(_listening(run.retired))
        stack.enter_context(run.files)
        try:
            return run.all()
        finally:
            session.close()  # now, so that -v can tell the connections closing it retired
            run.print([])


def main(argv: list[str] | None = None) -> int:
    """Run the command with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    parser = _parser()
    try:
        try:
            return _run(parser.parse_args(argv))
        except _UsageError as exc:
            parser.error(str(exc))  # usage, the message, exit 2
    except SystemExit as exc:  # argparse: --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE if exc.code else EXIT_OK
    except HTTPStatusError as exc:
        _error(str(exc))
        return EXIT_HTTP
    except _Failure as exc:
        _error(str(exc))
        return EXIT_ERROR
    except KeepaliveError as exc:  # before OSError: keepalive.TimeoutError is one too
        _error(f"{exc} ({type(exc).__name__})")
        return EXIT_ERROR
    except BrokenPipeError:  # stdout closed early, as by `keepalive URL | head`
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
    except OSError as exc:  # the -o file, a full disk
        _error(str(exc))
        return EXIT_ERROR
    except KeyboardInterrupt:
        _error("interrupted")
        return EXIT_INTERRUPTED
