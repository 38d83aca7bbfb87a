"""Retention and /forget delete rows and their files; nothing still needed is touched."""

from __future__ import annotations

from dataclasses import replace

from drawme.models import JobProgress, JobRequest, StyleRef
from drawme.store import DAY

from .helpers import jpeg_bytes, submit


async def finish(store, job, worker="w") -> None:
    """Paint `job` as a worker would: a preview, then the painting, then the bot delivers it."""
    await store.claim(worker, 30)
    await store.report_progress(job.id, worker, JobProgress(scale=1, scales=1, step=5, total=5), b"jpeg")
    await store.complete(job.id, worker, b"png")
    await store.mark_delivered(job.id, 1)


async def test_purge_removes_old_jobs_inputs_and_files(store, clock):
    old = await submit(store, 1, color=(1, 2, 3))
    await finish(store, old)

    clock.advance(8 * DAY)
    recent = await submit(store, 2, color=(4, 5, 6))
    await finish(store, recent)
    waiting = await submit(store, 3, color=(7, 8, 9))

    removed = await store.purge()

    assert removed["jobs"] == 1 and removed["images"] == 1
    assert removed["files"] == 3  # input, result, preview
    assert removed["bytes"] > len(b"pngjpeg")
    assert await store.get(old.id) is None
    assert await store.get_image_bytes(old.content_image_id) is None
    assert await store.get_result(old.id) is None and await store.get_preview(old.id) is None
    for kept in (recent, waiting):
        job = await store.get(kept.id)
        assert job is not None
        assert await store.get_image_bytes(job.content_image_id) is not None
    assert await store.get_result(recent.id) == b"png" and await store.get_preview(recent.id) == b"jpeg"
    assert (await store.purge())["files"] == 0  # nothing left to do


async def test_purge_keeps_old_inputs_of_jobs_still_queued(store, clock):
    job = await submit(store, 1)
    clock.advance(30 * DAY)
    removed = await store.purge()
    assert removed["images"] == 0
    assert await store.get_image_bytes(job.content_image_id) is not None


async def test_purge_with_explicit_age(store, clock):
    job = await submit(store, 1)
    await finish(store, job)
    clock.advance(120)
    assert (await store.purge(older_than_seconds=300))["jobs"] == 0
    assert (await store.purge(older_than_seconds=60))["jobs"] == 1


async def test_purge_if_due_runs_once_per_interval_across_stores(store, clock, second_store):
    job = await submit(store, 1)
    await finish(store, job)
    clock.advance(8 * DAY)
    first = await store.purge_if_due("w1", 3600)
    assert first is not None and first["jobs"] == 1
    assert await second_store.purge_if_due("w2", 3600) is None  # another process: not its turn yet
    assert await store.purge_if_due("w1", 3600) is None
    clock.advance(3601)
    assert await second_store.purge_if_due("w2", 3600) == {"jobs": 0, "images": 0, "files": 0, "bytes": 0}


async def test_forget_deletes_a_users_data_and_files_only(store):
    mine = await submit(store, 1)
    await finish(store, mine)
    theirs = await submit(store, 2, color=(1, 80, 160))  # the very same picture as user 1's
    mine_image = await store.get_image(mine.content_image_id)
    theirs_image = await store.get_image(theirs.content_image_id)
    assert mine_image.sha256 == theirs_image.sha256

    removed = await store.forget(1)

    assert removed == 3  # the input, the result and the preview
    assert await store.get(mine.id) is None and await store.get_image(mine_image.id) is None
    assert await store.jobs_of(1, active_only=False) == []
    assert await store.get_image_bytes(mine_image.id) is None and await store.get_result(mine.id) is None
    assert await store.get_image_bytes(theirs_image.id) is not None and await store.get(theirs.id) is not None
    assert await store.get_settings(1) == await store.get_settings(999)  # back to the defaults


async def test_purge_keeps_old_pictures_that_remaining_jobs_mix_in(store, clock):
    """A picture mixed in as a second style lives in the job's params, not in a column: it stays
    while a job that mixes it in remains (queued, or a result whose buttons shift the mix)."""
    mixed_in = await store.store_image(1, jpeg_bytes((9, 9, 9)), 64, 64)
    unused = await store.store_image(1, jpeg_bytes((8, 8, 8)), 64, 64)
    clock.advance(8 * DAY)
    job = await submit(store, 1)
    params = replace(job.params, mix=(StyleRef(image_id=mixed_in.id),), mix_blend=(0.5, 0.5))
    request = JobRequest(
        user_id=1, chat_id=1, content_image_id=job.content_image_id, params=params, style_preset="udnie"
    )
    mix = await store.submit(request)

    removed = await store.purge()

    assert removed["images"] == 1 and await store.get_image_bytes(unused.id) is None
    assert await store.get_image_bytes(mixed_in.id) is not None
    await finish(store, job)
    await finish(store, mix)
    clock.advance(8 * DAY)
    await store.purge()
    assert await store.get_image_bytes(mixed_in.id) is None  # its last job is gone: so is it
