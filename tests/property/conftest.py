"""Hypothesis profiles for the property suite, and module-wide loopback servers.

Profiles: ``ci`` (the default: the whole suite in about three minutes on two cores, with
the same examples on every run), ``explore`` (the same budget, fresh random examples each
run: for hunting intermittent failures) and ``thorough`` (twenty times the examples, random,
for long local runs). pytest-timeout's 120 s per test is raised for the property tests.
Each property sizes its budget as a share of the profile's ``max_examples``
(``harness.budget``), so a profile scales the whole suite at once::

    .venv/bin/python -m pytest tests/property --hypothesis-profile=thorough
    HYPOTHESIS_PROFILE=thorough make test

``--hypothesis-profile`` is read by hypothesis's pytest plugin when pytest configures,
which is before this file is imported unless pytest was started on ``tests/property``
itself (then this is an initial conftest); from the repository root, use the variable.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from testserver import ScriptedServer

_SLOW_IS_FINE = [
    HealthCheck.too_slow,
    HealthCheck.data_too_large,
    HealthCheck.large_base_example,
    HealthCheck.filter_too_much,
]

settings.register_profile(
    "ci",
    # The same examples on every CI run: a red build then means a change, not a lucky draw.
    # Fresh random examples are the explore and thorough profiles' job.
    derandomize=True,
    max_examples=100,
    deadline=None,
    suppress_health_check=_SLOW_IS_FINE,
    print_blob=True,
)
settings.register_profile(
    "explore",
    # The ci budget with fresh random examples each run: for hunting intermittent failures.
    max_examples=100,
    deadline=None,
    suppress_health_check=_SLOW_IS_FINE,
    print_blob=True,
)
settings.register_profile(
    "thorough",
    max_examples=2000,
    deadline=None,
    suppress_health_check=_SLOW_IS_FINE,
    print_blob=True,
)


def pytest_configure(config: pytest.Config) -> None:
    if not config.getoption("hypothesis_profile", None):
        settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # A hang guard sized for properties: a test runs many examples (bounded by the profile,
    # each example by its own socket timeouts), so the global 120 s per test is too tight
    # on a loaded two-core machine; a thorough run takes as long as it takes.
    limit = 600 if settings.get_current_profile_name() == "ci" else 3600
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.timeout(limit))


@pytest.fixture(scope="module")
def scripted() -> Iterator[ScriptedServer]:
    """One scripted loopback server for a whole module; examples swap its behaviour."""
    server = ScriptedServer()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def origins() -> Iterator[list[ScriptedServer]]:
    """Three scripted servers: three origins for one pool."""
    servers = [ScriptedServer() for _ in range(3)]
    yield servers
    for server in servers:
        server.stop()
