"""The interoperability suite against real third-party servers. A package: its modules
import each other relatively (``from .suite import ...``), and the shared helpers
(``thirdparty``, ``blocking_async``) by name, as ``tests/`` is on the path (pyproject.toml)."""
