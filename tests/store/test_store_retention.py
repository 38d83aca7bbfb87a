"""Retention and /forget delete rows and their files; nothing still needed is touched."""

from __future__ import annotations

import os

from drawme.store import DAY

from .helpers import submit


def write(store, relative: str) -> str:
    """A file written "now" by the store's clock (the stray-file sweep looks at modification times)."""
    path = store.common.data_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * 10)
    os.utime(path, (store._clock(), store._clock()))
    return relative


async def finish(store, job, worker="w") -> None:
    await store.claim(worker, 30)
    write(store, f"previews/{job.id}-1-5.jpg")
    await store.complete(job.id, worker, write(store, f"results/{job.id}-abc.png"))
    await store.mark_delivered(job.id, 1)


async def test_purge_removes_old_jobs_inputs_and_files(store, clock):
    old = await submit(store, 1, color=(1, 2, 3))
    await finish(store, old)
    old_input = store.image_path(await store.get_image(old.content_image_id))
    stray = store.common.data_dir / write(store, "results/.99-half.png.123.tmp")  # a crashed worker's

    clock.advance(8 * DAY)
    recent = await submit(store, 2, color=(4, 5, 6))
    await finish(store, recent)
    waiting = await submit(store, 3, color=(7, 8, 9))

    removed = await store.purge()

    assert removed["jobs"] == 1 and removed["images"] == 1
    assert removed["files"] == 4  # input, result, preview, stray
    assert await store.get(old.id) is None
    assert not old_input.exists() and not stray.exists()
    assert not (store.common.data_dir / f"results/{old.id}-abc.png").exists()
    assert not (store.common.previews_dir / f"{old.id}-1-5.jpg").exists()
    for kept in (recent, waiting):
        job = await store.get(kept.id)
        assert job is not None
        assert store.image_path(await store.get_image(job.content_image_id)).exists()
    assert (store.common.data_dir / (await store.get(recent.id)).result_path).exists()


async def test_purge_keeps_old_inputs_of_jobs_still_queued(store, clock):
    job = await submit(store, 1)
    clock.advance(30 * DAY)
    removed = await store.purge()
    assert removed["images"] == 0
    assert store.image_path(await store.get_image(job.content_image_id)).exists()


async def test_purge_with_explicit_age(store, clock):
    job = await submit(store, 1)
    await finish(store, job)
    clock.advance(120)
    assert (await store.purge(older_than_seconds=300))["jobs"] == 0
    assert (await store.purge(older_than_seconds=60))["jobs"] == 1


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
    assert not store.image_path(mine_image).exists()
    assert store.image_path(theirs_image).exists() and await store.get(theirs.id) is not None
    assert await store.get_settings(1) == await store.get_settings(999)  # back to the defaults
