"""The blocking connection and pool are generated from their async source and kept current."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import unasync

ROOT = Path(__file__).resolve().parent.parent


def test_generated_blocking_modules_are_current() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "unasync.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_generator_renames_and_drops_async_only_lines() -> None:
    source = (
        "from .._async_network import open_tcp\n"
        "class AsyncThing:\n"
        "    async def aread(self) -> bytes:\n"
        "        async with self._lock:\n"
        "            return await self._conn.aread()\n"
        "    # unasync: async-only\n"
        "    async def aclose(self) -> None: ...\n"
        "    # unasync: end\n"
    )
    out = unasync.unasync(source, "x.py")
    assert "from ._network import open_tcp" in out
    assert "    def read(self) -> bytes:" in out
    assert "        with self._lock:" in out
    assert "return self._conn.read()" in out
    assert "close" not in out and "await" not in out and "async" not in out.split("\n", 2)[2]
