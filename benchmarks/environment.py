"""The machine the figures were taken on, and how the harness divides its CPUs.

The server (and the delay proxy) get the last CPU the harness may use, the clients the first,
when there are at least two; on one CPU nothing is pinned and the report says so.
"""

from __future__ import annotations

import datetime
import os
import platform
import socket
import ssl
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@dataclass
class CpuPlan:
    client: set[int] | None
    server: int | None
    available: int = 1  # CPUs the harness could use before it pinned itself

    @classmethod
    def choose(cls, pin: bool = True) -> CpuPlan:
        available = sorted(os.sched_getaffinity(0))
        if not pin or len(available) < 2:
            return cls(None, None, len(available))
        return cls({available[0]}, available[-1], len(available))

    def pin_clients(self) -> None:
        if self.client is not None:
            os.sched_setaffinity(0, self.client)

    def describe(self) -> str:
        if self.server is None:
            return "not pinned (fewer than two CPUs, or --no-pin)"
        return f"clients on CPU {sorted(self.client or [])}, server on CPU {self.server}"


def clear_proxy_environment() -> list[str]:
    """Loopback must not go through a proxy from the environment; return what was removed."""
    removed = []
    for name in list(os.environ):
        if name.lower() in PROXY_VARIABLES:
            removed.append(name)
            del os.environ[name]
    return removed


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _sysctl(name: str) -> str | None:
    try:
        with open("/proc/sys/" + name.replace(".", "/")) as f:
            return " ".join(f.read().split())
    except OSError:
        return None


def _git(*args: str) -> str | None:
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        out = subprocess.run(["git", *args], cwd=here, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def describe(cpus: CpuPlan, versions: dict[str, Any], load_at_start: tuple[float, ...]
             ) -> dict[str, Any]:
    return {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "python_build": " ".join(platform.python_build()),
        "platform": platform.platform(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_available": cpus.available,
        "pinning": cpus.describe(),
        "openssl": ssl.OPENSSL_VERSION,
        "load_average_at_start": [round(x, 2) for x in load_at_start],
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "sysctl": {k: _sysctl(k) for k in ("net.core.rmem_max", "net.ipv4.tcp_rmem",
                                          "net.ipv4.tcp_wmem", "net.ipv4.tcp_tw_reuse")},
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--", "keepalive")),
        "versions": versions,
    }


def machine_line(env: dict[str, Any]) -> str:
    """One line for tables and the README: what the figures were taken on."""
    return (f"{env['cpu_model']}, {env['cpus_available']} CPUs ({env['pinning']}), "
            f"Python {env['python']}, {env['openssl']}, {env['platform']}")
