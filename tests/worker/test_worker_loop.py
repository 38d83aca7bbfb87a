"""The worker loop in-process, with a fake painter that has engine.painter's API (sleepy_painter)."""

from __future__ import annotations

import asyncio
import errno
import io
import logging
import os
from dataclasses import replace

import pytest
from PIL import Image

from drawme import health
from drawme.config import CommonConfig, EngineConfig, Limits
from drawme.decoding import ImageCode
from drawme.models import (
    Blend,
    FailureCode,
    JobStatus,
    NoteCode,
    PaintNote,
    PaintParams,
    StoreUnavailable,
    StyleRef,
)
from drawme.store import JobStore, open_store
from engine import worker as worker_module
from engine.worker import Worker, max_size_for
from tests import postgres
from tests.bot.test_bot_outage import Database
from tests.sides import WorkerSide

from . import sleepy_painter
from .helpers import picture_bytes, submit, wait_for


def make_worker(config, store, **painter_settings) -> tuple[Worker, sleepy_painter.Painter]:
    settings = {"steps": 6, "delay": 0.01, **painter_settings}
    painter = sleepy_painter.Painter(device="cpu", **settings)
    return Worker(config, WorkerSide(store), painter), painter


async def test_paints_a_job_end_to_end(config, store, caplog):
    job = await submit(store, params=PaintParams(size=64, blend=Blend(content=2.0, style=0.5, tv=0.0)))
    worker, painter = make_worker(config, store)
    with caplog.at_level(logging.INFO, logger="engine.worker"):
        final = await worker.run_once()

    assert final.status == JobStatus.DONE and final.id == job.id
    with Image.open(io.BytesIO(await store.get_result(final.id))) as image:
        assert image.format == "PNG" and max(image.size) == 64
    assert final.note is None and final.error is None and final.lease_owner is None
    assert painter.calls[0] == job.params  # as stored: the blend and all
    # Progress and a scale-end preview reached the store.
    assert final.progress.step == final.progress.total == 6
    with Image.open(io.BytesIO(await store.get_preview(job.id))) as preview:
        assert preview.format == "JPEG"
    assert final.progress.preview_key is not None
    # One log line per state change, with the job's fields.
    lines = [r for r in caplog.records if getattr(r, "job_id", None) == job.id]
    assert [r.status for r in lines] == ["running", "done"]
    assert lines[-1].user_id == 1 and lines[-1].size == 64 and lines[-1].duration >= 0
    assert await worker.run_once() is None  # nothing left


async def test_cancel_while_running_stops_the_painting(config, store):
    job = await submit(store)
    worker, _ = make_worker(config, store, steps=400, delay=0.02)
    task = asyncio.create_task(worker.run_once())
    await wait_for(store, job.id, lambda j: j.status == JobStatus.RUNNING and j.progress.step > 0)
    await store.cancel(job.id)
    final = await asyncio.wait_for(task, timeout=10)
    assert final.status == JobStatus.CANCELLED
    assert final.result_key is None and await store.get_result(job.id) is None


async def test_stop_releases_the_job_without_an_attempt(config, store):
    job = await submit(store)
    worker, _ = make_worker(config, store, steps=400, delay=0.02)
    task = asyncio.create_task(worker.run_once())
    await wait_for(store, job.id, lambda j: j.progress.step > 0)
    worker.stop()
    final = await asyncio.wait_for(task, timeout=10)
    assert final.status == JobStatus.QUEUED and final.attempts == 0 and final.lease_owner is None


async def test_unreadable_style_fails_with_the_users_message(config, store):
    job = await submit(store, style_bytes=b"this is not a picture at all")
    worker, _ = make_worker(config, store)
    final = await worker.run_once()
    assert final.id == job.id and final.status == JobStatus.FAILED
    assert final.error == ImageCode.NOT_AN_IMAGE


async def test_unknown_preset_and_crashes_give_short_messages(config, store, caplog):
    unknown = await submit(store, style_preset="mona_lisa")
    worker, painter = make_worker(config, store)
    assert (await worker.run_once()).error == FailureCode.UNKNOWN_PRESET

    crashing = await submit(store, user_id=2)

    def explode(*args, **kwargs):
        raise ValueError("matrix is singular, see line 42")

    painter.paint = explode
    with caplog.at_level(logging.ERROR, logger="engine.worker"):
        final = await worker.run_once()
    assert final.id == crashing.id and final.error == FailureCode.PAINT_ERROR
    assert "singular" not in final.error  # the traceback goes to the log, not to the user
    assert any(record.exc_info for record in caplog.records)
    assert unknown.id != crashing.id


async def test_out_of_memory_retries_once_smaller(config, store):
    pytest.importorskip("torch")  # the worker recognises torch.OutOfMemoryError
    job = await submit(store, params=PaintParams(size=100))
    worker, painter = make_worker(config, store, out_of_memory_above=80)
    final = await worker.run_once()
    assert final.id == job.id and final.status == JobStatus.DONE
    assert [options.size for options in painter.calls] == [100, 70]
    assert PaintNote.parse(final.note) == PaintNote(NoteCode.OOM_SHRUNK, 70)

    always = await submit(store, user_id=2, params=PaintParams(size=100))
    worker, painter = make_worker(config, store, out_of_memory_above=10)
    final = await worker.run_once()
    assert final.id == always.id and final.status == JobStatus.FAILED
    assert final.error == FailureCode.OUT_OF_MEMORY and len(painter.calls) == 2


async def test_losing_the_lease_discards_the_painting(config, store):
    job = await submit(store)
    worker, _ = make_worker(config, store, steps=400, delay=0.02)
    task = asyncio.create_task(worker.run_once())
    await wait_for(store, job.id, lambda j: j.progress.step > 0)
    await store.force_fail(job.id)  # the job is no longer this worker's
    assert await asyncio.wait_for(task, timeout=10) is None
    final = await store.get(job.id)
    assert final.status == JobStatus.FAILED and final.error == FailureCode.STOPPED
    assert await store.get_result(job.id) is None


async def test_a_mixed_job_paints_with_every_style_and_its_blend(config, store):
    uploaded = await store.store_image(1, picture_bytes(color=(20, 200, 90)), 96, 72)
    params = PaintParams(
        size=64,
        protect_faces=False,
        mix=(StyleRef(preset="the_scream"), StyleRef(image_id=uploaded.id)),
        mix_blend=(0.5, 0.3, 0.2),
    )
    await submit(store, params=params)
    worker, painter = make_worker(config, store)
    final = await worker.run_once()
    assert final.status == JobStatus.DONE
    assert painter.styles_seen == [3]
    assert painter.calls[0] == params  # its mix_blend and protect_faces as queued


async def test_a_mix_whose_picture_is_gone_fails_in_words(config, store):
    await submit(store, params=PaintParams(size=64, mix=(StyleRef(image_id=987654),)))
    worker, _ = make_worker(config, store)
    final = await worker.run_once()
    assert final.status == JobStatus.FAILED and final.error == FailureCode.MISSING_INPUT


async def test_size_is_clamped_to_the_device(config):
    assert max_size_for(config, "cpu") == 512 and max_size_for(config, "cuda") == 1024


async def test_a_job_larger_than_the_device_allows_is_painted_smaller(config, store):
    job = await submit(store, params=PaintParams(size=2048))
    worker, painter = make_worker(config, store)
    final = await worker.run_once()
    assert final.id == job.id and painter.calls[0].size == 512
    assert PaintNote.parse(final.note) == PaintNote(NoteCode.SIZE_CAPPED, 512)


async def test_a_full_store_hands_the_job_back_and_pauses(config, store, monkeypatch):
    job = await submit(store)
    worker, painter = make_worker(config, store)

    async def disk_full(*args, **kwargs):
        raise StoreUnavailable(os.strerror(errno.ENOSPC))

    monkeypatch.setattr(store, "complete", disk_full)
    released = await worker.run_once()
    assert released.id == job.id and released.status == JobStatus.QUEUED and released.attempts == 0
    assert await worker.run_once() is None  # paused: the job waits instead of failing over and over
    assert len(painter.calls) == 1 and (await store.get(job.id)).status == JobStatus.QUEUED



async def test_worker_applies_the_retention_period_while_serving(tmp_path):
    common = CommonConfig(data_dir=tmp_path / "data", limits=Limits(retention_days=0))
    config = EngineConfig(common=common, device="cpu", lease_seconds=2.0, poll_seconds=0.05)
    store = await JobStore.open(common)
    worker, _ = make_worker(config, store)
    try:
        job = await submit(store)
        painted = await worker.run_once()
        assert painted.status == JobStatus.DONE and await store.get_result(job.id) is not None

        # Serving purges what is past the (zero-day) retention period, files too.
        serving = asyncio.create_task(worker.serve())
        await wait_for(store, job.id, lambda j: j is None, timeout=10)
        assert await store.get_result(job.id) is None
        assert await store.get_image_bytes(job.content_image_id) is None
        worker.stop()
        await asyncio.wait_for(serving, timeout=10)
    finally:
        await store.close()


async def test_retention_runs_while_the_worker_is_busy(tmp_path, monkeypatch):
    """A busy fleet still deletes old files: retention does not wait for an idle moment."""
    common = CommonConfig(data_dir=tmp_path / "data", limits=Limits(retention_days=0))
    config = EngineConfig(common=common, device="cpu", lease_seconds=2.0, poll_seconds=0.05)
    monkeypatch.setattr(worker_module, "RETENTION_CHECK", 0.1)
    store = await JobStore.open(common)
    try:
        # Another process has just purged: the next turn comes in 1.5 s, when the worker is busy.
        assert await store.purge_if_due("elsewhere", 1.5) is not None
        old = await submit(store, user_id=1)
        worker, _ = make_worker(config, store)
        assert (await worker.run_once()).id == old.id
        long = await submit(store, user_id=2)
        busy, _ = make_worker(config, store, steps=1000, delay=0.02)
        serving = asyncio.create_task(busy.serve())
        await wait_for(store, long.id, lambda j: j.status == JobStatus.RUNNING and j.progress.step > 0)
        assert await store.get(old.id) is not None  # not yet due
        await wait_for(store, old.id, lambda j: j is None, timeout=10)  # purged while painting
        assert (await store.get(long.id)).status == JobStatus.RUNNING
        busy.stop()
        await asyncio.wait_for(serving, timeout=10)
    finally:
        await store.close()


async def test_worker_on_postgres_paints_a_job_it_is_woken_for(tmp_path, postgres_url):
    """The same worker on PostgreSQL: no shared disk (its own DATA_DIR), woken by NOTIFY."""
    common = CommonConfig(data_dir=tmp_path / "engine-host", database_url=postgres_url)
    config = EngineConfig(common=common, device="cpu", lease_seconds=2.0, poll_seconds=30.0)
    store = await open_store(common)
    bot_side = await open_store(replace(common, data_dir=tmp_path / "bot-host"))
    worker, _ = make_worker(config, store)
    serving = asyncio.create_task(worker.serve())
    try:
        await asyncio.sleep(0.5)  # idle, waiting on its LISTEN connection (the poll is 30 s)
        job = await submit(bot_side, style_bytes=picture_bytes(color=(20, 200, 90)))
        done = await wait_for(bot_side, job.id, lambda j: j.status == JobStatus.DONE, timeout=20)
        with Image.open(io.BytesIO(await bot_side.get_result(done.id))) as image:
            assert image.format == "PNG"
        assert await bot_side.get_preview(done.id) is not None
    finally:
        worker.stop()
        await asyncio.wait_for(serving, timeout=10)
        await bot_side.close()
        await store.close()


def test_the_production_command_has_no_painter_flag(capsys):
    with pytest.raises(SystemExit) as exit:
        worker_module.main(["--painter", "worker.sleepy_painter"])
    assert exit.value.code == 2 and "unrecognized arguments: --painter" in capsys.readouterr().err


async def test_each_worker_beats_its_own_heartbeat_and_row(config, store):
    """Two workers on one data directory and store: each writes its own heartbeat file (by
    WORKER_ID) and its own row in `workers`; one that stops removes both."""
    first, _ = make_worker(config, store)
    second, _ = make_worker(replace(config, worker_id="second-worker"), store)
    serving = [asyncio.create_task(worker.serve()) for worker in (first, second)]
    try:
        for name in ("engine-test-worker", "engine-second-worker"):
            for _ in range(100):
                if health.read(config.common, name):
                    break
                await asyncio.sleep(0.05)
            assert health.read(config.common, name)["device"] == "cpu"
        assert health.check(config.common, "engine", instance="second-worker")[0]
        rows = {worker.worker_id: worker for worker in await store.workers()}
        assert set(rows) == {"test-worker", "second-worker"} and not any(w.stale for w in rows.values())
        second.stop()
        await asyncio.wait_for(serving[1], timeout=10)
        assert health.read(config.common, "engine-second-worker") is None, "its file goes with it"
        assert not health.check(config.common, "engine", instance="second-worker")[0]
        assert [worker.worker_id for worker in await store.workers()] == ["test-worker"]
        assert health.check(config.common, "engine", instance="test-worker")[0]
    finally:
        for worker in (first, second):
            worker.stop()
        await asyncio.gather(*serving)


async def test_a_worker_paints_on_through_a_database_outage(tmp_path, caplog):
    """Every connection dropped while it paints, then the database closed for a while as the
    painting ends: the worker stores the painting once the database is back (nothing painted again),
    and logs no traceback."""
    database = Database(postgres.server())
    try:
        common = CommonConfig(data_dir=tmp_path / "engine-host", database_url=database.url)
        config = EngineConfig(common=common, device="cpu", lease_seconds=10.0, poll_seconds=0.05)
        store = await open_store(common)
        observer = await open_store(replace(common, data_dir=tmp_path / "observer"))
        worker, painter = make_worker(config, store, steps=60, delay=0.05)
        serving = asyncio.create_task(worker.serve())
        try:
            job = await submit(observer)
            await wait_for(observer, job.id, lambda j: j.progress.step > 5, timeout=20)
            database.drop_connections()
            await wait_for(observer, job.id, lambda j: j.progress.step > 30, timeout=20)
            database.go_away()
            await asyncio.sleep(4.0)  # the painting ends meanwhile; storing it waits
            database.come_back()
            done = await wait_for(observer, job.id, lambda j: j.status == JobStatus.DONE, timeout=20)
            assert done.attempts == 0 and len(painter.calls) == 1, "painted once"
        finally:
            worker.stop()
            await asyncio.wait_for(serving, timeout=20)
            await observer.close()
            await store.close()
    finally:
        database.drop()
    outages = [r for r in caplog.records if r.name == "drawme.store.db" and r.levelno == logging.WARNING]
    # At most once per outage (the pool may also simply wait out a short one: then not at all).
    assert len(outages) <= 2, [r.getMessage() for r in outages]
    assert not [r for r in caplog.records if r.exc_info and r.levelno >= logging.WARNING]
