"""The command line (keepalive/cli.py), end to end against the in-process test server.

Most tests run ``main([...])`` in this process and read what it printed; a few run
``python -m keepalive`` as a real process, to see the exit status and stderr a shell sees.
"""

from __future__ import annotations

import io
import logging
import os
import pty
import random
import re
import select
import socket
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from conftest import MakeServer
from testserver import ReceivedRequest, Reply, ServerSide, TestServer

import keepalive
from keepalive.cli import main

ROOT = Path(keepalive.__file__).resolve().parent.parent  # the checkout the tests import
MIB = 1 << 20


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``main(argv)`` in this process: (exit status, stdout, stderr)."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_process(*argv: str) -> subprocess.CompletedProcess[str]:
    """``python -m keepalive argv`` as a real process, bounded in time."""
    return subprocess.run(
        [sys.executable, "-m", "keepalive", *argv],
        cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def blocks(err: str) -> list[str]:
    """The -v waterfall blocks of stderr, one per hop (each begins with ``#N``)."""
    found: list[str] = []
    for line in err.splitlines():
        if line.startswith("#"):
            found.append("")
        if found:
            found[-1] += line + "\n"
    return found


def connection(block: str) -> tuple[int, str]:
    """From a block's title: the connection id (process-wide) and "new" or "reused"."""
    found = re.search(r"  connection (\d+) (new|reused)$", block.splitlines()[0])
    assert found is not None, block
    return int(found[1]), found[2]


def refused_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def routes(request: ReceivedRequest, side: ServerSide) -> Reply:
    if request.target == "/old":
        return Reply(302, [("Location", "/new")], b"moved")
    if request.target == "/missing":
        return Reply(404, [("Content-Type", "text/plain")], b"no such page")
    if request.target == "/close":
        return Reply(200, [], b"bye", close=True)
    if request.target == "/slow":
        time.sleep(1.0)
    return Reply(200, [], f"{request.method} {request.target}".encode() + request.body)


@pytest.fixture
def app_server(make_server: MakeServer) -> TestServer:
    return make_server(routes)


@pytest.fixture(autouse=True)
def plain_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No proxy from the environment (the command honours them, as curl does), no NO_COLOR."""
    for name in ("NO_COLOR", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    yield


class Terminal(io.StringIO):
    """Standard error as a terminal would be: ``isatty()`` is true."""

    def isatty(self) -> bool:
        return True


# -- plain requests ------------------------------------------------------------------------------


def test_get_prints_status_line_and_body(
    no_fd_leak: None, server: TestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, server.url + "/hello")
    assert (code, err) == (0, "")
    assert out == "HTTP/1.1 200 OK\nGET /hello conn=1\n"  # a newline added after the body


def test_several_urls_share_one_connection(
    server: TestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, server.url + "/a", server.url + "/b")
    assert code == 0
    assert "GET /a conn=1\n" in out and "GET /b conn=1\n" in out
    assert server.connections == 1


def test_verbose_shows_the_waterfall_and_reuse(
    server: TestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    logger = logging.getLogger("keepalive")
    level, handlers = logger.level, list(logger.handlers)
    code, out, err = run(capsys, "-v", "-n", "3", server.url + "/")
    assert code == 0
    assert out.count("HTTP/1.1 200 OK\n") == 3
    first, second, third = blocks(err)
    assert first.startswith(f"#1 GET {server.url}/ -> 200 OK  connection ")
    assert second.startswith(f"#2 GET {server.url}/ -> 200 OK  connection ")
    assert third.startswith(f"#3 GET {server.url}/ -> 200 OK  connection ")
    number, how = connection(first)
    assert how == "new"
    assert connection(second) == connection(third) == (number, "reused")
    for phase in ("dns", "connect", "tls", "send", "wait", "receive", "total"):
        assert f"\n   {phase} " in second
    # What did not happen says so: no TLS over http, no DNS/connect/TLS on a reused connection.
    assert re.search(r"\n   tls +- +\|\n", first)
    assert re.search(r"\n   connect +\d+\.\d ms \|", first)
    for phase in ("dns", "connect", "tls"):
        assert re.search(rf"\n   {phase} +- +\|\n", second), second
    assert "|#" in first  # the bars are drawn
    assert "\x1b[" not in err  # not a terminal: no colour
    summary = [line for line in err.splitlines() if line.startswith("summary")]
    assert len(summary) == 1
    assert "new connection" in summary[0] and "median of 2" in summary[0]
    assert "new/reused" in summary[0]
    assert server.connections == 1
    # -v listened to the library's log only while it ran.
    assert (logger.level, logger.handlers) == (level, handlers)


def test_summary_says_when_nothing_was_reused(
    app_server: TestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "-n", "2", app_server.url + "/close")
    assert code == 0
    assert "none on a reused connection" in err
    assert "#1" not in err  # no waterfall without -v


def test_verbose_tells_why_a_connection_was_retired(
    app_server: TestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "-v", "-n", "2", app_server.url + "/close")
    assert code == 0
    first, second = blocks(err)
    (one, how_one), (two, how_two) = connection(first), connection(second)
    assert (how_one, how_two) == ("new", "new") and one != two
    for block, number in ((first, one), (second, two)):
        retired = [line for line in block.splitlines() if " retired " in line]
        assert len(retired) == 1, block
        # The reason is the pool's own words (they name the close the server asked for).
        assert re.fullmatch(rf"   connection {number} retired after 1 request: .*close.*",
                            retired[0]), retired[0]  # fmt: skip
    assert app_server.connections == 2


# -- what reaches the server -----------------------------------------------------------------------


def test_method_headers_and_data_reach_the_server(
    server: TestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, _ = run(
        capsys, "-X", "PUT", "-H", "X-One: 1", "-H", "X-One: 2", "-H", "User-Agent: cli-test",
        "-H", "Accept:", "-d", "a=1&b=2", server.url + "/put",
    )  # fmt: skip
    assert code == 0
    request = server.requests[-1]
    assert (request.method, request.target, request.body) == ("PUT", "/put", b"a=1&b=2")
    assert request.header_list("X-One") == ["1", "2"]
    assert request.header("User-Agent") == "cli-test"
    assert request.header("Accept") is None  # 'Accept:' removed the default
    assert request.header("Content-Type") == "application/x-www-form-urlencoded"


def test_data_without_method_means_post(
    server: TestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "-d", "x", server.url + "/")[0] == 0
    assert run(capsys, "--data-binary", "y", "-H", "Content-Type: text/plain", server.url)[0] == 0
    first, second = server.requests
    assert (first.method, first.body) == ("POST", b"x")
    assert (second.method, second.body) == ("POST", b"y")
    assert second.header_list("Content-Type") == ["text/plain"]  # -H wins over the default


def test_json_body(server: TestServer, capsys: pytest.CaptureFixture[str]) -> None:
    text = '{"name": "k\u00e9", "n": [1, 2]}'
    code, out, _ = run(capsys, "--json", text, server.url + "/j")
    assert code == 0 and out.startswith("HTTP/1.1 200 OK\n")
    request = server.requests[-1]
    assert (request.method, request.body) == ("POST", text.encode())  # sent as given
    assert request.header("Content-Type") == "application/json"
    assert request.header("Accept") == "application/json"


def test_data_from_a_file(
    make_server: MakeServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    server = make_server(lambda request, side: Reply(200, [], b"ok"))  # no echo of the bytes
    path = tmp_path / "body"
    path.write_bytes(b"a=1\r\nb=2\n\x00\xff")
    assert run(capsys, "-d", f"@{path}", server.url + "/d")[0] == 0
    assert run(capsys, "--data-binary", f"@{path}", server.url + "/b")[0] == 0
    (path.parent / "doc.json").write_text('{"a": 1}\n')
    assert run(capsys, "--json", f"@{tmp_path / 'doc.json'}", server.url + "/j")[0] == 0
    bodies = [r.body for r in server.requests]
    assert bodies == [b"a=1b=2\x00\xff", b"a=1\r\nb=2\n\x00\xff", b'{"a": 1}\n']


# -- output --------------------------------------------------------------------------------------


def test_output_file_is_byte_exact(
    no_fd_leak: None, make_server: MakeServer, capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:  # fmt: skip
    body = random.Random(7).randbytes(MIB)
    server = make_server(lambda request, side: Reply(200, [], body))
    target = tmp_path / "out.bin"
    code, out, err = run(capsys, "-o", str(target), server.url + "/file")
    assert (code, out, err) == (0, "HTTP/1.1 200 OK\n", "")  # no progress bar off a terminal
    assert target.read_bytes() == body


def test_output_streams_without_holding_the_body(
    make_server: MakeServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    size, piece = 32 * MIB, bytes(range(256)) * 256  # 64 KiB

    def app(request: ReceivedRequest, side: ServerSide) -> Reply:
        pieces = (piece for _ in range(size // len(piece)))
        return Reply(200, [("Content-Length", str(size))], pieces)

    server = make_server(app)
    target = tmp_path / "big.bin"
    tracemalloc.start()
    try:
        code = main(["-o", str(target), server.url + "/big"])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert code == 0
    assert target.stat().st_size == size
    with target.open("rb") as file:
        assert file.read(len(piece)) == piece
    assert peak < size // 4, f"peak {peak} bytes while saving {size}: the body was held"


def test_progress_bar_and_colour_on_a_terminal(
    make_server: MakeServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    server = make_server(lambda request, side: Reply(200, [], b"z" * MIB))
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["-v", "-o", str(tmp_path / "f"), server.url]) == 0
    shown = terminal.getvalue()
    assert "\r[" in shown and "100%" in shown and "1.0 MiB / 1.0 MiB" in shown
    assert "\x1b[32m200 OK\x1b[0m" in shown  # the status in green
    assert (tmp_path / "f").read_bytes() == b"z" * MIB

    monkeypatch.setenv("NO_COLOR", "1")
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["-v", "-o", str(tmp_path / "g"), server.url]) == 0
    assert "\x1b[" not in terminal.getvalue()
    assert "100%" in terminal.getvalue()  # the bar is not colour: it stays


# -- exit status and errors ----------------------------------------------------------------------


def test_fail_exits_22_on_404(app_server: TestServer, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--fail", app_server.url + "/missing", app_server.url + "/")
    assert code == 22
    assert out == ""  # neither the failed body nor the requests after it
    assert err.count("\n") == 1 and err.startswith("keepalive: error: ")
    assert "404 Not Found" in err
    assert len(app_server.requests) == 1
    code, out, _ = run(capsys, app_server.url + "/missing")  # without --fail: just shown
    assert code == 0 and out == "HTTP/1.1 404 Not Found\nno such page\n"


def test_refused_port_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, f"http://127.0.0.1:{refused_port()}/")
    assert (code, out) == (1, "")
    assert err.count("\n") == 1 and err.startswith("keepalive: error: ")
    assert "ConnectError" in err


def test_timeout_applies_to_every_phase(
    app_server: TestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    code, _, err = run(capsys, "--timeout", "0.2", app_server.url + "/slow")
    assert code == 1 and "ReadTimeout" in err
    assert time.monotonic() - started < 0.9


@pytest.mark.parametrize(
    "argv",
    [
        ["-H", "no colon"],
        ["-n", "0"],
        ["--timeout", "0"],
        ["--json", "{not json"],
        ["-d", "@/nonexistent/body"],
        ["-d", "x", "--json", "{}"],
        ["-k", "--cacert", "ca.pem"],
    ],
)
def test_bad_command_lines_exit_2(
    server: TestServer, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    code, out, err = run(capsys, *argv, server.url)
    assert (code, out) == (2, "")
    assert err.splitlines()[-1].startswith("keepalive: error: ")
    assert server.requests == []  # nothing was sent


# -- TLS and redirects -----------------------------------------------------------------------------


def test_https_with_cacert_and_insecure(
    tls_server: TestServer, ca_path: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "--cacert", ca_path, tls_server.url + "/secure")
    assert code == 0 and out == "HTTP/1.1 200 OK\nGET /secure conn=1\n"
    code, out, err = run(capsys, tls_server.url + "/")  # the test CA is not trusted by default
    assert (code, out) == (1, "")
    assert err.count("\n") == 1 and "TLSError" in err
    code, out, _ = run(capsys, "-k", tls_server.url + "/insecure")
    assert code == 0 and "GET /insecure" in out


def test_https_waterfall_says_when_tls_resumed(
    make_server: MakeServer, ca_path: str, capsys: pytest.CaptureFixture[str]
) -> None:
    server = make_server(lambda request, side: Reply(200, [], b"t", close=True), tls=True)
    code, _, err = run(capsys, "-v", "-n", "2", "--cacert", ca_path, server.url)
    assert code == 0
    first, second = blocks(err)
    tls_lines = [next(x for x in b.splitlines() if x.startswith("   tls ")) for b in blocks(err)]
    assert connection(first)[1] == connection(second)[1] == "new"
    assert not tls_lines[0].endswith("resumed")
    assert tls_lines[1].endswith("resumed") == server.tls_resumed[1]
    assert " 0.0 ms" not in tls_lines[0]  # a handshake takes time


def test_location_follows_redirects(
    app_server: TestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, app_server.url + "/old")
    assert code == 0 and out == "HTTP/1.1 302 Found\nmoved\n"  # not followed by default
    code, out, err = run(capsys, "-L", "-v", app_server.url + "/old")
    assert code == 0 and out == "HTTP/1.1 200 OK\nGET /new\n"
    hop, final = blocks(err)
    assert hop.startswith(f"#1 GET {app_server.url}/old -> 302 Found")
    assert final.startswith(f"#1 GET {app_server.url}/new -> 200 OK")
    code, _, err = run(capsys, "-L", "--max-redirs", "0", app_server.url + "/old")
    assert code == 1 and "TooManyRedirects" in err
    assert [r.target for r in app_server.requests] == ["/old", "/old", "/new", "/old"]


# -- as a real process ---------------------------------------------------------------------------


def test_process_get_and_verbose(server: TestServer) -> None:
    done = run_process("-v", "-n", "2", server.url + "/p")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "HTTP/1.1 200 OK\nGET /p conn=1\n" * 2
    assert [connection(block)[1] for block in blocks(done.stderr)] == ["new", "reused"]
    assert "Traceback" not in done.stderr


def test_process_refused_port() -> None:
    done = run_process(f"http://127.0.0.1:{refused_port()}/")
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("keepalive: error: ")


def test_process_help_documents_exit_codes() -> None:
    done = run_process("--help")
    assert done.returncode == 0
    assert "--fail" in done.stdout and "22" in done.stdout and "NO_COLOR" in done.stdout


def test_unwritable_output_is_one_line_and_nothing_is_sent(
    server: TestServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "no-such-dir" / "out.bin"
    code, out, err = run(capsys, "-o", str(target), server.url + "/")
    assert (code, out) == (1, "")
    assert err == f"keepalive: error: -o: cannot write {str(target)!r}: no such directory\n"
    assert server.requests == []


def test_process_body_from_standard_input(server: TestServer) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "keepalive", "--data-binary", "@-", server.url + "/in"],
        cwd=ROOT, input=b"from\nstdin\x00", capture_output=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert server.requests[-1].body == b"from\nstdin\x00"
    assert done.stdout.startswith(b"HTTP/1.1 200 OK\nPOST /in conn=1")


def test_process_plain_when_piped(server: TestServer, tmp_path: Path) -> None:
    """Off a terminal: no colour codes and no progress bar, even with -v and -o."""
    done = run_process("-v", "-o", str(tmp_path / "f"), server.url + "/x")
    assert done.returncode == 0, done.stderr
    assert "\x1b[" not in done.stderr and "\r" not in done.stderr
    assert done.stderr.startswith(f"#1 GET {server.url}/x -> 200 OK  connection ")


def test_process_colour_and_progress_on_a_real_terminal(
    make_server: MakeServer, tmp_path: Path
) -> None:
    """Standard error on a pseudo-terminal: the status is coloured and -o draws a meter."""
    server = make_server(lambda request, side: Reply(200, [], b"p" * MIB))
    leader, follower = pty.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "keepalive", "-v", "-o", str(tmp_path / "f"), server.url],
            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=follower,
        )  # fmt: skip
        os.close(follower)
        follower = -1
        shown = b""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # read until the child closes the terminal
            ready, _, _ = select.select([leader], [], [], 1.0)
            if not ready:
                continue
            try:
                piece = os.read(leader, 65536)
            except OSError:  # EIO: the child closed its end
                break
            if not piece:
                break
            shown += piece
        assert process.wait(timeout=60) == 0, shown
        assert process.stdout is not None
        assert process.stdout.read() == b"HTTP/1.1 200 OK\n"
        process.stdout.close()
    finally:
        os.close(leader)
        if follower >= 0:
            os.close(follower)
    text = shown.decode()
    assert "\x1b[32m200 OK\x1b[0m" in text
    assert "100%" in text and "1.0 MiB / 1.0 MiB" in text
    assert (tmp_path / "f").read_bytes() == b"p" * MIB


def test_console_script_is_installed() -> None:
    """pyproject's ``keepalive`` script points at main, and the installed one runs."""
    scripts = [e for e in entry_points(group="console_scripts") if e.name == "keepalive"]
    assert [e.value for e in scripts] == ["keepalive.cli:main"]
    assert scripts[0].load() is main
    script = Path(sys.executable).parent / "keepalive"
    assert script.exists(), f"no {script}: install the project (pip install -e .)"
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, f"keepalive {keepalive.__version__}\n")


def _shape(line: str) -> str:
    """A -v line with what varies between runs (numbers, URLs, bars) blotted out."""
    line = re.sub(r"\x1b\[\d+m", "", line)
    line = re.sub(r"  \([\d.]+ ms in no phase above\)$|  resumed$", "", line)  # timing-dependent
    line = re.sub(r"https?://\S+", "URL", line)
    line = re.sub(r"\|[ #]*$", "|", line)  # a short phase may round to no bar at all
    line = re.sub(r"\d+(\.\d+)?", "N", line)
    return re.sub(r" +", " ", line).rstrip()


def test_the_guide_shows_what_the_command_prints(
    make_server: MakeServer, ca_path: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """docs/guide/cli.md's sample -v output has the lines a real run prints, line for line."""
    guide = (ROOT / "docs" / "guide" / "cli.md").read_text(encoding="utf-8")
    samples = re.findall(r"```text\n(#1 .*?)```", guide, re.S)
    assert len(samples) == 2 and "  resumed\n" in samples[1]
    server = make_server(tls=True)
    shown = []
    for extra in ([], ["-H", "Connection: close"]):
        code, _, err = run(capsys, "-v", "-n", str(3 - len(extra) // 2), *extra,
                           "--cacert", ca_path, server.url + "/get")  # fmt: skip
        assert code == 0, err
        shown.append([_shape(line) for line in err.splitlines()])
    for sample, real in zip(samples, shown, strict=True):
        assert [_shape(line) for line in sample.splitlines()] == real


def test_output_file_is_left_alone_when_nothing_arrives(
    app_server: TestServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """-o creates (or truncates) its file only for a body: a --fail response or a refused
    connection leaves an earlier download as it was."""
    target = tmp_path / "page.html"
    target.write_bytes(b"yesterday's copy")
    code, _, err = run(capsys, "--fail", "-o", str(target), app_server.url + "/missing")
    assert code == 22 and "404" in err
    code, _, err = run(capsys, "-o", str(target), f"http://127.0.0.1:{refused_port()}/")
    assert code == 1 and "ConnectError" in err
    assert target.read_bytes() == b"yesterday's copy"
    code, out, _ = run(capsys, "-o", str(target), app_server.url + "/today")
    assert (code, out) == (0, "HTTP/1.1 200 OK\n")
    assert target.read_bytes() == b"GET /today"


def test_output_to_a_directory_is_refused_before_sending(
    server: TestServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, "-o", str(tmp_path), server.url + "/")
    assert code == 1
    assert err == f"keepalive: error: -o: {str(tmp_path)!r} is a directory\n"
    assert server.requests == []


def test_redirect_hop_tells_its_own_retirement(
    make_server: MakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """With -L, a connection closed after a redirect is told under that hop, not the last."""

    def app(request: ReceivedRequest, side: ServerSide) -> Reply:
        if request.target == "/old":
            return Reply(301, [("Location", "/new")], b"", close=True)
        return Reply(200, [], b"here")

    server = make_server(app)
    code, _, err = run(capsys, "-v", "-L", server.url + "/old")
    assert code == 0
    hop, final = blocks(err)
    (first, _), (second, _) = connection(hop), connection(final)
    assert first != second
    assert re.search(rf"\n   connection {first} retired after 1 request: .*close", hop), hop
    assert f"connection {first} retired" not in final
