"""Fixtures for the worker: a real store in a tmp DATA_DIR, an engine config with short leases."""

from __future__ import annotations

import pytest

from drawme.config import CommonConfig, EngineConfig
from drawme.store import JobStore


@pytest.fixture
def common(tmp_path) -> CommonConfig:
    return CommonConfig(data_dir=tmp_path / "data")


@pytest.fixture
def config(common) -> EngineConfig:
    return EngineConfig(
        common=common, device="cpu", lease_seconds=2.0, poll_seconds=0.05, worker_id="test-worker"
    )


@pytest.fixture
async def store(common):
    opened = await JobStore.open(common)
    yield opened
    await opened.close()
