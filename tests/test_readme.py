"""The README's usage example runs as written, against a local httpbin instead of httpbin.org."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest
import thirdparty

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_usage_example_runs(
    monkeypatch: pytest.MonkeyPatch, httpbin: thirdparty.Server
) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README.md has no python example"
    example = blocks[0]
    assert "https://httpbin.org" in example
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    code = example.replace("https://httpbin.org", httpbin.url)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(README), "exec"), {})
    lines = out.getvalue().splitlines()
    assert lines[0] == "{'cookies': {'sessioncookie': '123456789'}}"
    assert re.fullmatch(r"True \d+ [0-9.e-]+", lines[1]), lines[1]
    assert "'opened': 1" in lines[2] and "'reused': 2" in lines[2] and "'requests': 3" in lines[2]
