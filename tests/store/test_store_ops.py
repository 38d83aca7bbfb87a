"""Operations the admin CLI and the bot's status lines rely on: backup, export, stats, ETA, polling."""

from __future__ import annotations

import sqlite3

import pytest

from drawme.models import JobStatus
from drawme.store import DEFAULT_SECONDS_PER_PIXEL, JobStore, queue
from drawme.store.scheduling import WORKER_FRESH

from .helpers import submit


async def paint(store, clock, job, seconds: float, worker: str = "w") -> None:
    assert (await store.claim(worker, 30)).id == job.id
    clock.advance(seconds)
    await store.complete(job.id, worker, b"png")


@pytest.mark.sqlite_only  # PostgreSQL: pg_dump
async def test_backup_is_a_consistent_copy_while_another_connection_writes(store, common, clock, tmp_path):
    other = await JobStore.open(common, clock=clock)
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
    assert exported["files"] == sorted([image.key, f"results/{job.id}.png"])
    files = await store.export_files(exported["files"])
    assert files[f"results/{job.id}.png"] == b"png"
    assert files[image.key] == await store.get_image_bytes(image.id)


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
    assert [(w.worker_id, w.device, w.capacity) for w in stats.workers] == [("gpu-1", "cuda", 1)]
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


async def capacity(store, clock) -> int:
    async with store.db.transaction(write=False) as tx:
        return await queue.worker_capacity(tx, clock.now)


async def test_workers_capacity_is_stored_updated_and_summed_over_live_workers(store, clock):
    assert await capacity(store, clock) == 1  # nobody registered: ETAs assume one slot
    await store.register_worker("cpu-1", "cpu")  # the callers from before capacity: one job at a time
    await store.register_worker("gpu-1", "cuda", capacity=16)
    assert {(w.worker_id, w.capacity) for w in await store.workers()} == {("cpu-1", 1), ("gpu-1", 16)}
    assert await capacity(store, clock) == 17
    assert {(w.worker_id, w.capacity) for w in (await store.stats()).workers} == {("cpu-1", 1), ("gpu-1", 16)}

    # Registering again replaces it (a batch that ran out of memory halves the worker's batch size).
    await store.register_worker("gpu-1", "cuda", capacity=8)
    assert {(w.worker_id, w.capacity) for w in await store.workers()} == {("cpu-1", 1), ("gpu-1", 8)}
    assert await capacity(store, clock) == 9

    # Only fresh workers count: cpu-1 stops beating, gpu-1 keeps beating (its idle re-register).
    clock.advance(WORKER_FRESH / 2)
    await store.register_worker("gpu-1", "cuda", capacity=8)
    clock.advance(WORKER_FRESH / 2 + 1)
    assert await capacity(store, clock) == 8
    clock.advance(WORKER_FRESH)
    assert await capacity(store, clock) == 1  # nobody fresh: one slot, never zero
    await store.register_worker("cpu-1", "cpu")  # back, with the default again
    assert await capacity(store, clock) == 1
    await store.register_worker("gpu-1", "cuda", capacity=3)
    assert await capacity(store, clock) == 4
    await store.unregister_worker("gpu-1")
    assert await capacity(store, clock) == 1

    with pytest.raises(ValueError):
        await store.register_worker("gpu-1", "cuda", capacity=0)
    assert [w.worker_id for w in await store.workers()] == ["cpu-1"]


async def test_eta_divides_the_queue_by_the_live_workers_total_capacity(store, clock):
    history = await submit(store, 1, size=100)
    await paint(store, clock, history, 20)  # 20 s for 100 px: a job in a batch lasts the batch's time
    queued = [await submit(store, user, size=100) for user in range(2, 20)]  # 18 users, one job each

    def waits(positions):
        return [positions[job.id].eta_seconds for job in queued]

    # No live worker: one slot, each job waits for all the ones before it.
    positions = await store.positions()
    assert [positions[job.id].ahead for job in queued] == list(range(18))
    assert waits(positions) == pytest.approx([ahead * 20 + 20 for ahead in range(18)])

    # One GPU worker painting 16 jobs per batch: the same order, 16 times the throughput.
    await store.register_worker("gpu-1", "cuda", capacity=16)
    positions = await store.positions()
    assert [positions[job.id].ahead for job in queued] == list(range(18))
    assert waits(positions) == pytest.approx([ahead * 20 / 16 + 20 for ahead in range(18)])
    assert (await store.position(queued[-1].id)).eta_seconds == pytest.approx(17 * 20 / 16 + 20)

    # Plus a CPU worker (one at a time): 17 slots. A stale worker's capacity no longer counts.
    await store.register_worker("cpu-1", "cpu")
    assert (await store.position(queued[-1].id)).eta_seconds == pytest.approx(17 * 20 / 17 + 20)
    clock.advance(WORKER_FRESH + 1)
    await store.register_worker("cpu-1", "cpu")
    assert (await store.position(queued[-1].id)).eta_seconds == pytest.approx(17 * 20 + 20)

    # A running batch's remaining time is shared by the slots too.
    await store.register_worker("gpu-1", "cuda", capacity=16)
    batch = await store.claim_batch("gpu-1", 30, 16)
    assert len(batch) == 16
    clock.advance(5)
    positions = await store.positions()
    assert all(positions[job.id].eta_seconds == pytest.approx(15) for job in batch)  # 20 - 5
    left = [job for job in queued if job.id not in {claimed.id for claimed in batch}]
    assert [positions[job.id].ahead for job in left] == [16, 17]
    # 16 × 15 s running over 17 slots, then the jobs ahead in the queue, then its own 20 s.
    assert [positions[job.id].eta_seconds for job in left] == pytest.approx(
        [16 * 15 / 17 + 20, (16 * 15 + 20) / 17 + 20]
    )


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
