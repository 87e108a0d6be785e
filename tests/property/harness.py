"""What only the property tests need besides the loopback servers: example budgets and a clock.

The servers they script (``ScriptedServer``, ``Peer``) and the descriptor counting
(``settled_fds``, ``assert_no_fd_leak``) live in ``testserver.py`` with the other tests'.
"""

from __future__ import annotations

from hypothesis import settings

__all__ = ["ManualClock", "budget"]


class ManualClock:
    """The pool's clock under test control: time moves only when ``advance`` says so."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def budget(fraction: float, least: int = 5) -> int:
    """``max_examples`` for one property: a share of the active profile's (see conftest.py)."""
    assert settings.default is not None
    return max(least, int(settings.default.max_examples * fraction))
