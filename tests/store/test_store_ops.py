"""Operations the admin CLI and the bot's status lines rely on: backup, export, stats, ETA, polling."""

from __future__ import annotations

import sqlite3

import pytest

from drawme.models import JobStatus
from drawme.store import DEFAULT_SECONDS_PER_PIXEL, SqliteJobStore

from .helpers import submit


async def paint(store, clock, job, seconds: float, worker: str = "w") -> None:
    assert (await store.claim(worker, 30)).id == job.id
    clock.advance(seconds)
    await store.complete(job.id, worker, b"png")


@pytest.mark.sqlite_only  # PostgreSQL: pg_dump
async def test_backup_is_a_consistent_copy_while_another_connection_writes(store, common, clock, tmp_path):
    other = await SqliteJobStore.open(common, clock=clock)
    try:
        for user in range(3):
            await submit(other, user)
        dest = tmp_path / "backups" / "drawme.sqlite3"
        await store.backup(dest)
        await submit(other, 10)  # after the backup: not in it
    finally:
        await other.close()
    copy = sqlite3.connect(dest)
    try:
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert copy.execute("SELECT COUNT(*) FROM jobs").fetchone() == (3,)
    finally:
        copy.close()


async def test_export_user_lists_settings_jobs_and_files(store, clock):
    job = await submit(store, 4)
    await paint(store, clock, job, 10)
    await submit(store, 5)
    exported = await store.export_user(4)
    assert exported["user_id"] == 4 and exported["settings"]["size"] == "medium"
    assert [j["id"] for j in exported["jobs"]] == [job.id] and exported["jobs"][0]["status"] == "done"
    image = await store.get_image(job.content_image_id)
    assert exported["files"] == sorted([image.path, f"results/{job.id}.png"])
    files = await store.export_files(exported["files"])
    assert files[f"results/{job.id}.png"] == b"png"
    assert files[image.path] == await store.get_image_bytes(image.id)


async def test_stats_and_workers(store, clock):
    await store.register_worker("gpu-1", "cuda")
    first = await submit(store, 1)
    await paint(store, clock, first, 40)
    await submit(store, 2)
    clock.advance(5)
    await submit(store, 3)
    stats = await store.stats()
    assert (stats.queued, stats.running, stats.done_last_hour) == (2, 0, 1)
    assert stats.oldest_queued_age == pytest.approx(5)
    assert stats.avg_duration_seconds == pytest.approx(40)
    assert stats.users_today == 3
    assert [(w.worker_id, w.device) for w in stats.workers] == [("gpu-1", "cuda")]
    await store.unregister_worker("gpu-1")
    assert await store.workers() == []


async def test_eta_uses_history_and_counts_the_jobs_ahead(store, clock):
    nothing_yet = await submit(store, 1, size=100)
    info = await store.position(nothing_yet.id)
    assert info.ahead == 0 and info.eta_seconds == pytest.approx(DEFAULT_SECONDS_PER_PIXEL * 100 * 100)
    await paint(store, clock, nothing_yet, 20)  # 20 s for 100 px: 2 ms per pixel

    running = await submit(store, 2, size=100)
    queued = await submit(store, 3, size=200)
    await store.claim("w", 30)
    clock.advance(5)
    assert (await store.position(running.id)).eta_seconds == pytest.approx(15)  # 20 expected - 5 elapsed
    info = await store.position(queued.id)
    assert info.ahead == 1 and info.eta_seconds == pytest.approx(15 + 80)  # then 200² px at 2 ms/px
    finished = await store.position(nothing_yet.id)
    assert finished.eta_seconds is None


async def test_undelivered_is_what_the_bot_still_has_to_tell(store, clock):
    queued = await submit(store, 1)
    done = await submit(store, 2)
    await submit(store, 3)
    claimed = await store.claim("w", 30)
    assert claimed.id == queued.id
    await store.cancel(claimed.id)
    await store.mark_cancelled(claimed.id, "w")
    await paint(store, clock, done, 1)
    await store.mark_delivered(done.id, 5)
    pending = await store.undelivered()
    assert [job.status for job in pending] == [JobStatus.CANCELLED, JobStatus.QUEUED]
    await store.mark_delivered(queued.id, None)
    assert [job.status for job in await store.undelivered()] == [JobStatus.QUEUED]
