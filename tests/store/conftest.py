"""Fixtures for the job store: every test runs on SQLite and on PostgreSQL (a fresh schema each),
with a clock the test moves by hand. `@pytest.mark.sqlite_only` keeps a test to SQLite (its file),
`@pytest.mark.postgres_only` to PostgreSQL (row locks)."""

from __future__ import annotations

import pytest

from drawme.config import CommonConfig, Limits
from drawme.store import open_store

from .helpers import Clock

BACKENDS = ("sqlite", "postgres")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker
        only = "sqlite" if marker("sqlite_only") else "postgres" if marker("postgres_only") else None
        metafunc.parametrize("backend", [only] if only else BACKENDS)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def common(tmp_path, backend, request) -> CommonConfig:
    url = request.getfixturevalue("postgres_url") if backend == "postgres" else ""
    return CommonConfig(data_dir=tmp_path / "data", limits=Limits(), database_url=url)


@pytest.fixture
async def store(common, clock):
    opened = await open_store(common, clock=clock)
    yield opened
    await opened.close()


@pytest.fixture
async def second_store(store, common, clock):
    """Another connection to the same store, as a second process would have."""
    opened = await open_store(common, clock=clock)
    yield opened
    await opened.close()
