"""Session-wide fixtures: the PostgreSQL test server (see tests/postgres.py)."""

from __future__ import annotations

import pytest

from tests import postgres

_skipped: str | None = None


@pytest.fixture
def postgres_url() -> str:
    """A postgresql:// URL of a fresh, empty schema on the test server."""
    return postgres.server().fresh_url()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    global _skipped
    _skipped = postgres.finish()


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if _skipped:
        terminalreporter.write_line(f"PostgreSQL half skipped: {_skipped}. Set TEST_DATABASE_URL to run it.")
