"""An engine worker serves Prometheus metrics on ENGINE_METRICS_PORT (issue 27): painting time and
queue wait, failures by code, busy or idle, memory, and the queue, parsed with prometheus_client."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

from drawme.config import CommonConfig, EngineConfig
from drawme.decoding import ImageCode
from drawme.models import JobStatus
from drawme.store import JobStore
from engine.metrics import EngineMetrics
from engine.worker import Worker
from tests.bot.conftest import free_port
from tests.bot.test_bot_conversation import eventually
from tests.bot.test_bot_metrics import Samples, scrape
from tests.sides import WorkerSide

from . import sleepy_painter
from .helpers import submit


async def test_an_engine_worker_serves_its_metrics(tmp_path: Path) -> None:
    common = CommonConfig(data_dir=tmp_path / "data")
    port = free_port()
    config = EngineConfig(common=common, device="cpu", lease_seconds=2.0, poll_seconds=0.05, worker_id="w1")
    store = await JobStore.open(common)
    worker = Worker(
        replace(config, metrics_port=port),
        WorkerSide(store),
        sleepy_painter.Painter(device="cpu", steps=4, delay=0.01),
        metrics=EngineMetrics(),
    )
    serving = asyncio.create_task(worker.serve())
    try:
        good = await submit(store, user_id=1)
        bad = await submit(store, user_id=2, style_bytes=b"not a picture")
        for job in (good, bad):
            assert await eventually(lambda j=job: _ended(store, j.id))
        samples = await eventually(lambda: _scraped_with_workers(port))
    finally:
        worker.stop()
        await serving
        await store.close()
    assert samples[("drawme_job_duration_seconds_count", ())] == 1
    assert samples[("drawme_job_wait_seconds_count", ())] == 2
    assert samples[("drawme_job_failures_total", (("code", str(ImageCode.NOT_AN_IMAGE)),))] == 1
    assert samples[("drawme_worker_busy", ())] == 0
    assert samples[("drawme_device_memory_bytes", (("device", "cpu"),))] > 0
    assert samples[("drawme_workers", (("state", "live"),))] == 1


async def _ended(store: JobStore, job_id: int) -> bool:
    return (await store.get(job_id)).status in (JobStatus.DONE, JobStatus.FAILED)


async def _scraped_with_workers(port: int) -> Samples | None:
    samples = await scrape(port)
    return samples if samples.get(("drawme_workers", (("state", "live"),))) else None
