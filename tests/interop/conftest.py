"""Fixtures for the interoperability suite.

Each test module lists its server profiles in ``PROFILES``. Every test that takes the
``profile`` argument runs once per profile that has the features named by its ``@needs(...)``
decorator (``suite.needs``). The parameter is module-scoped, so pytest runs all tests of one
profile together, and each server starts once per module and stops before the next one.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import thirdparty

import keepalive

from . import suite
from .suite import Profile, open_session


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "profile" not in metafunc.fixturenames:
        return
    profiles: list[Profile] = list(getattr(metafunc.module, "PROFILES", []))
    wanted: frozenset[str] = getattr(metafunc.function, "needs", frozenset())
    chosen = [p for p in profiles if wanted <= p.features]
    if not chosen:
        # An empty parameter set would make pytest skip the test; fail loudly instead.
        raise ValueError(f"{metafunc.definition.nodeid}: no profile in "
                         f"{metafunc.module.__name__}.PROFILES has features {sorted(wanted)}")
    metafunc.parametrize("profile", chosen, ids=[p.name for p in chosen], scope="module")


@pytest.fixture(autouse=True, params=["sync", "async"])
def api(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every interop test runs once against Session and once against AsyncSession."""
    suite.API["name"] = request.param
    yield request.param
    suite.API["name"] = "sync"


@pytest.fixture(scope="module")
def server(profile: Profile) -> Iterator[thirdparty.Server]:
    """The profile's server over plain HTTP, started once per module."""
    with profile.start(False) as running:
        yield running


@pytest.fixture(scope="module")
def tls_server(profile: Profile) -> Iterator[thirdparty.Server]:
    """The profile's server over HTTPS with a fresh trustme CA (``.ca_path``)."""
    with profile.start(True) as running:
        yield running


@pytest.fixture
def session(profile: Profile, server: thirdparty.Server) -> Iterator[keepalive.Session]:
    """A fresh Session (fresh pool and stats) with the profile's default headers."""
    with open_session(profile) as opened:
        yield opened


@pytest.fixture
def tls_session(profile: Profile,
                tls_server: thirdparty.Server) -> Iterator[keepalive.Session]:
    """A fresh Session that trusts the TLS server's CA."""
    with open_session(profile, verify=tls_server.ca_path) as opened:
        yield opened
