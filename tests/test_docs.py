"""Every code example in README.md and docs/ runs, against servers on loopback.

The examples are written for readers: they name public hosts (``https://httpbin.org``) and
conventional paths (``/etc/ssl/internal-ca.pem``). Before a page runs, this test replaces
those names with servers and files it made (``PLACEHOLDERS``), so the docs read naturally
and the tests need no network. The rules for writers (CONTRIBUTING.md repeats them):

* Every fenced block names its language. ````` ```python ````` blocks run;
  ````` ```python no-run ````` marks a fragment that cannot (at most ``MAX_NO_RUN`` in all).
  A block in another language that holds keepalive Python code fails the test.
* The blocks of one page run in order in one namespace, like a notebook (a later block may
  use what an earlier one made), in a fresh temporary directory, with the proxy, CA bundle
  and ``.netrc`` settings of the environment cleared. A block with top-level ``await`` runs
  under ``asyncio.run``. A page must close every connection it opens.
* ``print(x)  # text`` claims that the print writes ``text``, and the test checks it, with
  ``...`` standing for anything: each line a print on that line writes must match.
* In ````` ```sh ````` blocks, lines that run the ``keepalive`` command run (as
  ``python -m keepalive``) and must exit 0, or the status a trailing ``# exit N`` names.
  Every other shell line must match one of ``SHELL_RULES``, which says how it is checked
  and, when it is not run as written (``make test`` would run the suite inside the suite),
  why not. A shell line no rule covers fails the test.
* ````` ```text ````` blocks are output or diagrams, not code: nothing runs them. The
  command line's sample waterfall (docs/guide/cli.md) is compared with real output in
  tests/test_cli.py.

Besides running the examples: every relative link in README.md, CONTRIBUTING.md,
CHANGELOG.md and docs/ leads to a file (and heading) that exists, docs/index.md links every
page, and each guide page has an example that runs (docstrings: tests/test_public_api_docs.py).
"""

from __future__ import annotations

import ast
import asyncio
import builtins
import gc
import importlib.metadata
import inspect
import io
import logging
import os
import re
import shlex
import subprocess
import sys
import time
import tokenize
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import thirdparty
import trustme
from proxy_servers import HTTPSProxy, Socks5Server
from testserver import open_fds

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
MAX_NO_RUN = 5  # python blocks marked no-run, in all the docs
CLI_TIMEOUT = 60.0  # seconds for one `keepalive` command of a shell block
FD_SETTLE = 2.0  # seconds the local servers get to close their side of the page's sockets
SHELL_LANGUAGES = {"sh", "shell", "bash", "console"}
T = TypeVar("T")


def doc_files() -> list[Path]:
    """README.md, the project's other pages and every page under docs/, in a stable order."""
    return [README, ROOT / "CONTRIBUTING.md", ROOT / "CHANGELOG.md", *sorted(DOCS.rglob("*.md"))]


def page_id(path: Path) -> str:
    return str(path.relative_to(ROOT))


# -- the blocks ------------------------------------------------------------------------------------


@dataclass
class Block:
    """One fenced code block: where it starts (the line after the fence), its info string."""

    path: Path
    line: int  # 1-based line of the block's first line of code
    language: str
    flags: tuple[str, ...]
    code: str

    @property
    def where(self) -> str:
        return f"{page_id(self.path)}:{self.line}"

    @property
    def runs(self) -> bool:
        return self.language == "python" and "no-run" not in self.flags


def blocks_of(path: Path) -> list[Block]:
    """The fenced blocks of a Markdown file; an indented fence (in a list) is dedented."""
    found: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    opened: tuple[int, str, str] | None = None  # (line index, indent, info)
    body: list[str] = []
    for index, line in enumerate(lines):
        stripped = line.lstrip(" ")
        indent = line[: len(line) - len(stripped)]
        if opened is None:
            if stripped.startswith("```"):
                opened, body = (index, indent, stripped[3:].strip()), []
            continue
        if stripped.rstrip() == "```" and indent == opened[1]:
            start, fence_indent, info = opened
            words = info.split()
            code = "\n".join(
                text[len(fence_indent) :] if text.startswith(fence_indent) else text.lstrip()
                for text in body
            )
            found.append(
                Block(path, start + 2, words[0] if words else "", tuple(words[1:]), code + "\n")
            )
            opened = None
            continue
        body.append(line)
    assert opened is None, f"{page_id(path)}:{opened[0] + 1}: a fence is never closed"
    return found


def cli_lines(block: Block) -> list[tuple[int, str]]:
    """The lines of a shell block that run the ``keepalive`` command: (line, text)."""
    found = []
    for offset, text in enumerate(block.code.splitlines()):
        command = text.strip().removeprefix("$ ")
        if command.startswith(("keepalive ", "python -m keepalive ")):
            found.append((block.line + offset, command))
    return found


ALL_BLOCKS = {path: blocks_of(path) for path in doc_files()}
RUNNABLE_PAGES = [
    path
    for path, blocks in ALL_BLOCKS.items()
    if any(b.runs or (b.language in SHELL_LANGUAGES and cli_lines(b)) for b in blocks)
]


# -- the local stand-ins for what the docs name ----------------------------------------------------


@dataclass
class DocServers:
    """Servers and files standing in for the hosts and paths the docs name, made on demand
    (a page that names no proxy starts none) and stopped at teardown."""

    request: pytest.FixtureRequest
    workdir: Path
    _made: dict[str, Any] = field(default_factory=dict)
    _stops: list[Callable[[], None]] = field(default_factory=list)

    def _once(self, name: str, make: Callable[[], T]) -> T:
        if name not in self._made:
            self._made[name] = make()
        made: T = self._made[name]
        return made

    @property
    def httpbin(self) -> thirdparty.Server:
        server: thirdparty.Server = self.request.getfixturevalue("httpbin")
        return server

    @property
    def httpbin_tls(self) -> thirdparty.Server:
        server: thirdparty.Server = self.request.getfixturevalue("httpbin_tls")
        return server

    @property
    def http_proxy(self) -> HTTPSProxy:
        def make() -> HTTPSProxy:
            proxy = HTTPSProxy(None)  # a plain-HTTP forward proxy: CONNECT and absolute form
            self._stops.append(proxy.stop)
            return proxy

        return self._once("http_proxy", make)

    @property
    def socks(self) -> Socks5Server:
        def make() -> Socks5Server:
            server = Socks5Server()
            self._stops.append(server.stop)
            return server

        return self._once("socks", make)

    def client_cert(self, part: str) -> str:
        def make() -> tuple[str, str]:
            ca: trustme.CA = self.request.getfixturevalue("ca")
            leaf = ca.issue_cert("client.example")
            cert, key = self.workdir / "client.pem", self.workdir / "client.key"
            leaf.cert_chain_pems[0].write_to_path(str(cert))
            leaf.private_key_pem.write_to_path(str(key))
            return str(cert), str(key)

        cert, key = self._once("client_cert", make)
        return cert if part == "cert" else key

    def stop(self) -> None:
        for stop in reversed(self._stops):
            stop()


def _host_port(server: thirdparty.Server | HTTPSProxy | Socks5Server) -> str:
    return f"127.0.0.1:{server.port}"


# What the docs write -> what the test puts there. Longest first, one pass, so a replacement
# is never replaced again.
PLACEHOLDERS: dict[str, Callable[[DocServers], str]] = {
    "https://httpbin.org": lambda env: env.httpbin.url,  # httpbin under gunicorn, plain HTTP
    "http://httpbin.org": lambda env: env.httpbin.url,
    '"httpbin.org", 80': lambda env: f'"127.0.0.1", {env.httpbin.port}',
    # An https server whose certificate comes from a private CA, and that CA's bundle.
    "https://internal.example": lambda env: env.httpbin_tls.url,
    "/etc/ssl/internal-ca.pem": lambda env: str(env.httpbin_tls.ca_path),
    # A client certificate and its key (the test servers do not ask for one).
    "/etc/ssl/client.pem": lambda env: env.client_cert("cert"),
    "/etc/ssl/client.key": lambda env: env.client_cert("key"),
    # A forward HTTP proxy (CONNECT and absolute form) and a SOCKS5 server, on loopback.
    "proxy.example:3128": lambda env: _host_port(env.http_proxy),
    "proxy.example:1080": lambda env: _host_port(env.socks),
}
_PLACEHOLDER_RE = re.compile(
    "|".join(re.escape(text) for text in sorted(PLACEHOLDERS, key=len, reverse=True))
)


def localise(text: str, env: DocServers) -> str:
    """``text`` with every placeholder replaced by its local stand-in."""
    return _PLACEHOLDER_RE.sub(lambda m: PLACEHOLDERS[m.group(0)](env), text)


# Variables that would send the examples elsewhere than the local servers.
_ENV_CLEARED = (
    "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
)  # fmt: skip


@pytest.fixture
def doc_env(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[DocServers]:
    """Local stand-ins, a clean environment and a fresh working directory for one page."""
    for name in _ENV_CLEARED:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))  # never the user's ~/.netrc
    saved = dict(os.environ)  # examples may set variables: put them all back afterwards
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    env = DocServers(request, tmp_path)
    # Examples may turn on logging: the levels and handlers go back as they were.
    loggers = [logging.getLogger(), logging.getLogger("keepalive")]
    levels = [(logger, logger.level, list(logger.handlers)) for logger in loggers]
    try:
        yield env
    finally:
        env.stop()
        os.environ.clear()
        os.environ.update(saved)
        for logger, level, handlers in levels:
            logger.setLevel(level)
            logger.handlers[:] = handlers


# -- running a page --------------------------------------------------------------------------------


class PrintRecorder:
    """``print`` for the examples: prints, and records what each line of the page printed."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.by_line: dict[int, list[str]] = defaultdict(list)

    def __call__(self, *args: Any, sep: str | None = " ", end: str | None = "\n",
                 file: Any = None, flush: bool = False) -> None:  # fmt: skip
        if file is not None and file is not sys.stdout:
            builtins.print(*args, sep=sep, end=end, file=file, flush=flush)
            return
        text = (" " if sep is None else sep).join(str(arg) for arg in args)
        builtins.print(text, end=end, flush=flush)
        caller = sys._getframe(1)
        if caller.f_code.co_filename == self.filename:
            self.by_line[caller.f_lineno].append(text)


def claimed_outputs(code: str) -> dict[int, str]:
    """Line number -> the output a ``print(...)  # output`` on that line claims."""
    print_lines = {
        node.lineno
        for node in ast.walk(ast.parse(code))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "print"
        and node.lineno == node.end_lineno
    }
    claims = {}
    for token in tokenize.generate_tokens(io.StringIO(code).readline):
        if token.type == tokenize.COMMENT and token.start[0] in print_lines:
            claims[token.start[0]] = token.string.lstrip("#").strip()
    return claims


def output_pattern(claim: str) -> re.Pattern[str]:
    """The claim as a pattern: ``...`` matches anything, the rest literally."""
    return re.compile(".*".join(re.escape(part) for part in claim.split("...")), re.S)


def run_python(block: Block, code: str, namespace: dict[str, Any]) -> None:
    # Padded so that line numbers in tracebacks and prints are the Markdown file's own.
    source = "\n" * (block.line - 1) + code
    filename = str(block.path)
    compiled = compile(
        source, filename, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True
    )
    recorder: PrintRecorder = namespace["print"]
    if compiled.co_flags & inspect.CO_COROUTINE:
        asyncio.run(eval(compiled, namespace))  # top-level await
    else:
        exec(compiled, namespace)
    for line, claim in claimed_outputs(source).items():
        printed = recorder.by_line.get(line)
        assert printed, f"{page_id(block.path)}:{line}: claims {claim!r} but never printed"
        pattern = output_pattern(claim)
        for text in printed:
            assert pattern.fullmatch(text), (
                f"{page_id(block.path)}:{line}: printed {text!r}, the docs say {claim!r}"
            )


def run_cli(block: Block, env: DocServers) -> None:
    for line, command in cli_lines(block):
        words = shlex.split(localise(command, env), comments=True)
        words = words[3:] if words[:3] == ["python", "-m", "keepalive"] else words[1:]
        if ">" in words:  # `> /dev/null`: output is captured here anyway
            words = words[: words.index(">")]
        expected = re.search(r"#\s*exit\s+(\d+)\s*$", command)
        result = subprocess.run(
            [sys.executable, "-m", "keepalive", *words],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=CLI_TIMEOUT,
        )  # fmt: skip
        want = int(expected.group(1)) if expected else 0
        assert result.returncode == want, (
            f"{page_id(block.path)}:{line}: `{command}` exited {result.returncode}, "
            f"not {want}\n{result.stderr[-2000:]}"
        )


@pytest.mark.parametrize("path", RUNNABLE_PAGES, ids=page_id)
def test_examples_run(path: Path, doc_env: DocServers) -> None:
    """Every python block of the page runs, prints what it claims, and leaks no socket;
    every `keepalive` command of its shell blocks exits as it says."""
    blocks = ALL_BLOCKS[path]
    page_text = "".join(b.code for b in blocks)
    localise(page_text, doc_env)  # start what the page needs before counting descriptors
    gc.collect()
    fds_before = open_fds()
    namespace: dict[str, Any] = {"__name__": "__main__", "print": PrintRecorder(str(path))}
    for block in blocks:
        if block.runs:
            run_python(block, localise(block.code, doc_env), namespace)
        elif block.language in SHELL_LANGUAGES:
            run_cli(block, doc_env)
    # Counted while the page's names are still alive, so that a session left open is found
    # (dropping it would let the garbage collector close its sockets for it). The local
    # proxies close their side of a tunnel on their own threads: they get a moment (bounded).
    gc.collect()
    deadline = time.monotonic() + FD_SETTLE
    while open_fds() > fds_before and time.monotonic() < deadline:
        time.sleep(0.05)
    leaked = open_fds() - fds_before
    namespace.clear()
    assert leaked <= 0, f"{page_id(path)} left {leaked} sockets or files open: close them"


# -- the other shell lines -------------------------------------------------------------------------


@dataclass(frozen=True)
class ShellRule:
    """How one kind of shell line in the docs is checked, and why it is not simply run."""

    pattern: str  # a regular expression the command (comment and leading VAR=x removed) matches
    check: str  # one of the checks of test_shell_lines_are_checked
    why: str


SHELL_RULES = [
    ShellRule(r"(python -m )?keepalive\b.*", "keepalive",
              "runs as written against the local stand-ins, in test_examples_run"),
    ShellRule(r"make (test|lint|bench|interop)\b.*", "make",
              "not run: each target runs a whole tier (minutes), the benchmark, or installs "
              "system servers as root; `make -n` proves the target and its variables are "
              "right, and every option in BENCH_ARGS must be one benchmarks/__main__.py knows"),
    ShellRule(r"pip install \S+", "pip",
              "not run: it would reinstall keepalive into the environment under test; the "
              "extras it names must exist in pyproject.toml"),
    ShellRule(r"\.ci/run", "executable",
              "not run: it is lint, test and interop in one; the script must exist and be "
              "executable"),
    ShellRule(r"\.venv/bin/python tests/unasync\.py --check", "run",
              "runs as written (a second at most): the generated modules are current"),
    ShellRule(r"\.venv/bin/python tests/unasync\.py", "executable-python",
              "not run: it rewrites keepalive/{connection,pool,session}.py, which a test must "
              "not do; the --check line beside it runs"),
    ShellRule(r"\.venv/bin/python -m pytest (\S+) -q", "pytest",
              "not run: that is a tier of the suite (minutes) inside the suite; the path must "
              "exist and collect"),
    ShellRule(r"\.venv/bin/python -m interop\.probe_servers.*", "help",
              "not run as written: the probe takes minutes and needs nginx and Apache; run "
              "with --help, which proves the invocation (PYTHONPATH, module path) works"),
]
SHELL_TIMEOUT = 120.0  # seconds for one checked shell line
_ENV_PREFIX = re.compile(r"^([A-Z_][A-Z0-9_]*)=(\S+) +")


@dataclass(frozen=True)
class ShellLine:
    where: str
    command: str  # without the comment and any leading VAR=value
    env: dict[str, str]

    @property
    def words(self) -> list[str]:
        return shlex.split(self.command)


def shell_lines() -> list[ShellLine]:
    found = []
    for blocks in ALL_BLOCKS.values():
        for block in blocks:
            if block.language not in SHELL_LANGUAGES:
                continue
            for offset, text in enumerate(block.code.splitlines()):
                words = shlex.split(text.strip().removeprefix("$ "), comments=True)
                if not words:
                    continue
                command, env = shlex.join(words), {}
                while match := _ENV_PREFIX.match(command):
                    env[match.group(1)] = match.group(2)
                    command = command[match.end() :]
                where = f"{page_id(block.path)}:{block.line + offset}"
                found.append(ShellLine(where, command, env))
    return found


SHELL_LINES = shell_lines()


def _rule(line: ShellLine) -> ShellRule:
    rules = [rule for rule in SHELL_RULES if re.fullmatch(rule.pattern, line.command)]
    assert rules, (
        f"{line.where}: `{line.command}` is a shell line no rule in SHELL_RULES covers; "
        "add one that says how the test checks it (or why it cannot)"
    )
    return rules[0]


def _run_line(line: ShellLine, words: list[str]) -> subprocess.CompletedProcess[str]:
    """Run from the repository root, with this interpreter for ``.venv/bin/python``."""
    words = [sys.executable if w == ".venv/bin/python" else w for w in words]
    return subprocess.run(
        words, cwd=ROOT, env={**os.environ, **line.env}, stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=SHELL_TIMEOUT,
    )  # fmt: skip


def _profiles() -> set[str]:
    text = (ROOT / "tests" / "property" / "conftest.py").read_text(encoding="utf-8")
    return set(re.findall(r"register_profile\(\s*[\"'](\w+)[\"']", text))


@pytest.mark.parametrize("line", SHELL_LINES, ids=lambda line: line.where)
def test_shell_lines_are_checked(line: ShellLine) -> None:
    """Every shell line of the docs works as written, or is checked as far as a test can."""
    rule = _rule(line)
    words = line.words
    if "HYPOTHESIS_PROFILE" in line.env:
        assert line.env["HYPOTHESIS_PROFILE"] in _profiles(), (
            f"{line.where}: no hypothesis profile {line.env['HYPOTHESIS_PROFILE']!r}"
        )
    if rule.check == "keepalive":
        path = ROOT / line.where.rpartition(":")[0]
        assert path in RUNNABLE_PAGES  # test_examples_run runs it
    elif rule.check == "make":
        done = _run_line(line, ["make", "-n", *words[1:]])
        assert done.returncode == 0, f"{line.where}: `make -n` failed:\n{done.stderr}"
        bench_args = " ".join(w.partition("=")[2] for w in words if w.startswith("BENCH_ARGS="))
        source = (ROOT / "benchmarks" / "__main__.py").read_text(encoding="utf-8")
        unknown = [w for w in shlex.split(bench_args) if w.startswith("--")
                   and f'"{w}"' not in source]  # fmt: skip
        assert not unknown, f"{line.where}: the benchmark has no option {unknown}"
    elif rule.check == "pip":
        extras = re.search(r"\[([\w,]+)\]", words[-1])
        known = set(importlib.metadata.metadata("keepalive").get_all("Provides-Extra") or [])
        wanted = set(extras.group(1).split(",")) if extras else set()
        assert wanted <= known, f"{line.where}: no extra {sorted(wanted - known)}"
        assert words[-1].startswith("."), f"{line.where}: install from the checkout"
    elif rule.check in ("executable", "executable-python"):
        target = ROOT / (words[1] if rule.check == "executable-python" else words[0])
        assert target.is_file(), f"{line.where}: no {target}"
        if rule.check == "executable":
            assert os.access(target, os.X_OK), f"{line.where}: {target} is not executable"
    elif rule.check == "pytest":
        done = _run_line(line, [*words, "--collect-only"])
        assert done.returncode == 0, f"{line.where}: does not collect:\n{done.stdout[-2000:]}"
    elif rule.check == "run":
        done = _run_line(line, words)
        assert done.returncode == 0, f"{line.where}: exited {done.returncode}\n{done.stderr}"
    elif rule.check == "help":
        done = _run_line(line, [*words, "--help"])
        assert done.returncode == 0 and "usage:" in done.stdout, (
            f"{line.where}: `{line.command} --help` failed:\n{done.stderr[-2000:]}"
        )
    else:
        raise AssertionError(f"SHELL_RULES names an unknown check {rule.check!r}")


def test_shell_rules_are_used() -> None:
    """A rule no line matches any more is stale: drop it."""
    used = {_rule(line).pattern for line in SHELL_LINES}
    assert used == {rule.pattern for rule in SHELL_RULES}, (
        f"unused rules: {sorted({r.pattern for r in SHELL_RULES} - used)}"
    )


# -- the blocks are marked -------------------------------------------------------------------------

# Python that uses keepalive, in a block that does not say it is Python.
_LOOKS_LIKE_PYTHON = re.compile(r"^\s*(import keepalive|from keepalive\b)|\bkeepalive\.\w+\(", re.M)


def test_every_block_says_what_it_is() -> None:
    """Every block names its language; keepalive code is in python blocks; few are no-run."""
    unmarked = [b.where for blocks in ALL_BLOCKS.values() for b in blocks if not b.language]
    assert not unmarked, f"blocks without a language (write ```python, ```sh, ```text): {unmarked}"
    hidden = [
        b.where
        for blocks in ALL_BLOCKS.values()
        for b in blocks
        if b.language != "python" and _LOOKS_LIKE_PYTHON.search(b.code)
    ]
    assert not hidden, f"keepalive code outside a python block, so never run: {hidden}"
    no_run = [b.where for blocks in ALL_BLOCKS.values() for b in blocks
              if b.language == "python" and not b.runs]  # fmt: skip
    assert len(no_run) <= MAX_NO_RUN, (
        f"{len(no_run)} python blocks are marked no-run (at most {MAX_NO_RUN}): {no_run}; "
        "make them run against the placeholders in tests/test_docs.py"
    )
    running = sum(b.runs for blocks in ALL_BLOCKS.values() for b in blocks)
    assert running >= 30, f"only {running} python blocks found: is the fence parser broken?"


def test_readme_quick_start_runs_first() -> None:
    """The README's first python block is the quick start, and it runs."""
    first = next(b for b in ALL_BLOCKS[README] if b.language == "python")
    assert first.runs and "https://httpbin.org" in first.code


def test_each_guide_page_has_a_running_example() -> None:
    guide = sorted((DOCS / "guide").glob("*.md"))
    assert guide, "docs/guide/ has no pages"
    without = [page_id(p) for p in guide if p not in RUNNABLE_PAGES]
    assert not without, f"guide pages without an example that runs: {without}"


# -- links -----------------------------------------------------------------------------------------

_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)|!\[[^\]]*\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]|<[^>]+>", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    counts: dict[str, int] = defaultdict(int)
    in_fence = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        elif not in_fence and line.startswith("#"):
            base = slug(line.lstrip("#"))
            found.add(base if counts[base] == 0 else f"{base}-{counts[base]}")
            counts[base] += 1
    return found


def test_relative_links_resolve() -> None:
    """Every relative link (and #anchor) in README.md and docs/ leads somewhere real."""
    broken = []
    for path in doc_files():
        text = path.read_text(encoding="utf-8")
        text = re.sub(r"^ *```.*?^ *```", "", text, flags=re.S | re.M)  # links in code do not count
        for match in _LINK.finditer(text):
            target = match.group(1) or match.group(2)
            if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
                continue
            file_part, _, anchor = target.partition("#")
            resolved = (path.parent / file_part).resolve() if file_part else path
            if not resolved.exists():
                broken.append(f"{page_id(path)}: {target} (no such file)")
            elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
                broken.append(f"{page_id(path)}: {target} (no such heading)")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_index_links_every_page() -> None:
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    linked = {(DOCS / m.group(1)).resolve() for m in re.finditer(r"\]\(([^)#\s]+\.md)", index)}
    missing = [page_id(p) for p in DOCS.rglob("*.md") if p.name != "index.md" and p not in linked]
    assert not missing, f"docs/index.md does not link: {missing}"
