"""The same 20-line script written for requests.Session runs with only the import changed."""

from __future__ import annotations

import types

import pytest
import thirdparty

import keepalive

try:
    import requests
except ImportError as exc:
    raise ImportError("this test compares with requests: pip install -e '.[test]'") from exc


SCRIPT = """
def run(http, base):
    s = http.Session()
    s.headers.update({"User-Agent": "porter/1.0", "X-Team": "core"})
    r = s.get(base + "/get", params={"q": "keep alive", "n": 3})
    r.raise_for_status()
    args = r.json()["args"]
    posted = s.post(base + "/post", json={"ids": [1, 2]}).json()["json"]
    form = s.post(base + "/post", data={"a": "1"}).json()["form"]
    basic = s.get(base + "/basic-auth/u/p", auth=("u", "p")).status_code
    s.get(base + "/cookies/set", params={"flavour": "oat"})
    jar = s.get(base + "/cookies", cookies={"extra": "1"}).json()["cookies"]
    streamed = b"".join(s.get(base + "/bytes/3000", stream=True).iter_content(1024))
    missing = s.get(base + "/status/404")
    try:
        missing.raise_for_status()
        failed = None
    except Exception as exc:
        failed = type(exc).__name__
    agent = s.get(base + "/user-agent").json()["user-agent"]
    s.close()
    return [args, posted, form, basic, jar, len(streamed), missing.status_code, failed, agent]
"""


def _run(module: types.ModuleType, base: str) -> list[object]:
    namespace: dict[str, object] = {}
    exec(SCRIPT, namespace)
    return namespace["run"](module, base)  # type: ignore[operator, no-any-return]


def test_script_ports_from_requests(
    httpbin: thirdparty.Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    theirs = _run(requests, httpbin.url)
    ours = _run(keepalive, httpbin.url)
    assert theirs[-2] == "HTTPError" and ours[-2] == "HTTPStatusError"
    assert ours[:-2] == theirs[:-2]
    assert ours[-1] == theirs[-1] == "porter/1.0"
    assert ours[0] == {"q": "keep alive", "n": "3"} and ours[4] == {"flavour": "oat", "extra": "1"}
