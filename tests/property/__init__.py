"""The property-based tests (hypothesis). A package: its modules import each other
relatively (``from .strategies import ...``), and the shared helpers (``testserver``,
``certs``, ``blocking_async``) by name, as ``tests/`` is on the path (pyproject.toml)."""
