"""A worker whose painter batches: several users' jobs claimed together, painted in one batch by the
real engine (on the CPU, tiny pictures), each job finishing, cancelling or failing on its own."""

from __future__ import annotations

import asyncio
import io
import logging

import pytest
import torch
from PIL import Image

from drawme.models import FailureCode, JobStatus, PaintParams
from engine import worker as worker_module
from engine.painter import Painter
from engine.recipes import DEFAULT
from engine.worker import Worker
from tests.sides import WorkerSide

from .helpers import picture_bytes, submit, wait_for

torch.set_num_threads(1)


class NoFaces:
    def detect(self, image):
        return []


class BatchingPainter(Painter):
    """The real painter, told that three jobs fit in a batch (on the CPU it would say one)."""

    def __init__(self, out_of_memory: bool = False) -> None:
        super().__init__(device="cpu", face_detector=NoFaces())
        self.batches: list[int] = []
        self.out_of_memory = out_of_memory

    def batch_limit(self, options):
        return 3

    def paint_batch(self, requests):
        self.batches.append(len(requests))
        if self.out_of_memory and len(requests) > 1:
            raise torch.OutOfMemoryError("CUDA out of memory (test)")
        return super().paint_batch(requests)


async def registered(worker: Worker, store) -> list:
    """The `workers` rows once `worker.serve()` has registered itself (the worker is stopped after)."""
    serving = asyncio.create_task(worker.serve())
    try:
        for _ in range(200):
            if await store.workers():
                break
            await asyncio.sleep(0.01)
        return await store.workers()
    finally:
        worker.stop()
        await asyncio.wait_for(serving, timeout=10)


async def three_jobs(store, recipe: str = "draft") -> list:
    return [await submit(store, user, params=PaintParams(size=64, recipe=recipe)) for user in (1, 2, 3)]


async def test_three_users_jobs_are_painted_in_one_batch(config, store, caplog):
    jobs = await three_jobs(store)
    painter = BatchingPainter()
    worker = Worker(config, WorkerSide(store), painter)
    with caplog.at_level(logging.INFO, logger="engine.worker"):
        first = await worker.run_once()
    assert first.id == jobs[0].id
    assert painter.batches == [3]
    for job in jobs:
        final = await store.get(job.id)
        assert final.status == JobStatus.DONE and final.lease_owner is None
        assert final.progress.step == final.progress.total == 30
        with Image.open(io.BytesIO(await store.get_result(job.id))) as image:
            assert image.format == "PNG" and max(image.size) == 64
        assert await store.get_preview(job.id) is not None
    assert sum("batch=3" in record.getMessage() for record in caplog.records) == 3


async def test_a_job_cancelled_mid_batch_stops_alone(config, store):
    jobs = await three_jobs(store, recipe="default")  # the default's steps: time to cancel one
    steps = sum(stage.steps for stage in DEFAULT.stages)
    worker = Worker(config, WorkerSide(store), BatchingPainter())
    painting = asyncio.create_task(worker.run_once())
    await wait_for(store, jobs[1].id, lambda job: job.progress.step >= 3)
    await store.cancel(jobs[1].id)
    await asyncio.wait_for(painting, 120)
    cancelled = await store.get(jobs[1].id)
    assert cancelled.status == JobStatus.CANCELLED and cancelled.progress.step < steps
    assert await store.get_result(jobs[1].id) is None
    for number in (0, 2):
        final = await store.get(jobs[number].id)
        assert final.status == JobStatus.DONE and final.progress.step == steps


async def test_a_job_that_cannot_start_fails_alone(config, store):
    jobs = [
        await submit(store, 1, params=PaintParams(size=64, recipe="draft")),
        await submit(store, 2, params=PaintParams(size=64, recipe="draft"), style_preset="retired_preset"),
        await submit(store, 3, params=PaintParams(size=64, recipe="draft")),
    ]
    painter = BatchingPainter()
    await Worker(config, WorkerSide(store), painter).run_once()
    assert painter.batches == [2]
    failed = await store.get(jobs[1].id)
    assert failed.status == JobStatus.FAILED and failed.error == FailureCode.UNKNOWN_PRESET
    for number in (0, 2):
        assert (await store.get(jobs[number].id)).status == JobStatus.DONE


async def test_a_batch_out_of_gpu_memory_is_painted_one_at_a_time(config, store, caplog):
    jobs = await three_jobs(store)
    painter = BatchingPainter(out_of_memory=True)
    worker = Worker(config, WorkerSide(store), painter)
    with caplog.at_level(logging.WARNING, logger="engine.worker"):
        await worker.run_once()
    assert painter.batches == [3, 1, 1, 1]
    for job in jobs:
        final = await store.get(job.id)
        assert final.status == JobStatus.DONE and final.error is None
    assert any("one at a time" in record.getMessage() for record in caplog.records)
    assert worker.batch_limit() == 1  # half of 3: later claims take one job
    assert FailureCode.OUT_OF_MEMORY not in {(await store.get(job.id)).error for job in jobs}


class BreakingPainter(BatchingPainter):
    """A painter that breaks, batch or not, on one photo (the 120×90 one): a job's data as a bug meets it."""

    def batch_limit(self, options):
        return 4

    def paint_batch(self, requests):
        self.batches.append(len(requests))
        if any(request.content.size == (120, 90) for request in requests):
            raise RuntimeError("an engine bug met one photo")
        return super(BatchingPainter, self).paint_batch(requests)


async def test_a_batch_that_breaks_is_painted_one_at_a_time_and_only_the_culprit_fails(config, store, caplog):
    from drawme.models import JobRequest

    jobs = await three_jobs(store)
    odd = await store.store_image(4, picture_bytes((120, 90)), 120, 90)
    culprit = await store.submit(JobRequest(4, 4, odd.id, PaintParams(size=64, recipe="draft"), "udnie"))
    painter = BreakingPainter()
    worker = Worker(config, WorkerSide(store), painter)
    with caplog.at_level(logging.ERROR, logger="engine.worker"):
        while await worker.run_once() is not None:
            pass
    for job in jobs:
        assert (await store.get(job.id)).status == JobStatus.DONE
    failed = await store.get(culprit.id)
    assert failed.status == JobStatus.FAILED and failed.error == FailureCode.PAINT_ERROR
    assert any("one at a time" in record.getMessage() for record in caplog.records)
    assert painter.batches == [4, 1, 1, 1, 1]
    assert worker.batch_limit() == 4  # not memory: later claims still take whole batches


@pytest.mark.parametrize("max_batch, expected", [(1, 1), (2, 2), (16, 3)])
async def test_the_claim_takes_what_fits_within_max_batch(config, store, max_batch, expected):
    from dataclasses import replace

    worker = Worker(replace(config, max_batch=max_batch), WorkerSide(store), BatchingPainter())
    assert worker.batch_limit() == expected


async def test_the_worker_registers_its_batch_size_as_its_capacity(config, store, monkeypatch):
    """The `workers` row says how many jobs the worker paints at once, so queue ETAs count it."""
    worker = Worker(config, WorkerSide(store), BatchingPainter(out_of_memory=True))
    assert [(w.worker_id, w.capacity) for w in await registered(worker, store)] == [("test-worker", 3)]
    assert await store.workers() == []

    # After a batch ran out of memory the worker claims one job at a time; its next idle beat says so.
    await three_jobs(store)
    await worker.run_once()
    assert worker.batch_limit() == 1
    monkeypatch.setattr(worker_module, "HEALTH_INTERVAL", 0.0)
    await worker._idle_beat()
    assert [(w.worker_id, w.capacity) for w in await store.workers()] == [("test-worker", 1)]


async def test_a_cpu_worker_registers_one_job_at_a_time(config, store):
    worker = Worker(config, WorkerSide(store), Painter(device="cpu", face_detector=NoFaces()))
    workers = await registered(worker, store)
    assert [(w.worker_id, w.device, w.capacity) for w in workers] == [("test-worker", "cpu", 1)]
    # And the largest size it paints, so the bot's /size offers nothing larger.
    assert [w.max_size for w in workers] == [worker.max_size] and worker.max_size > 0
