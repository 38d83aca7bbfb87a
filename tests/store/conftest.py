"""Fixtures for the job store: a real SQLite file in a tmp dir and a clock the test moves by hand."""

from __future__ import annotations

import pytest

from drawme.config import CommonConfig, Limits
from drawme.store import SqliteJobStore

from .helpers import Clock


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def common(tmp_path) -> CommonConfig:
    return CommonConfig(data_dir=tmp_path / "data", limits=Limits())


@pytest.fixture
async def store(common, clock):
    opened = await SqliteJobStore.open(common, clock=clock)
    yield opened
    await opened.close()
