"""The Session tests again, against ``AsyncSession``: every test of ``test_session.py`` runs
with ``keepalive.Session`` replaced by an ``AsyncSession`` driven through the blocking names
(``tests/blocking_async.py``), so the async API is held to everything the sync one does."""

from __future__ import annotations

import pytest
from blocking_async import BlockingAsyncSession
from test_session import *  # noqa: F403 - the same tests, collected again here

import keepalive


@pytest.fixture(autouse=True)
def _async_api(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keepalive, "Session", BlockingAsyncSession)
