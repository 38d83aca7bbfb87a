"""Batch claims: the fairest job plus other users' queued jobs of the same shape (`jobs.batch_key`), one
per user, each with its own lease; on PostgreSQL, concurrent batch claims never share a job."""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from drawme import painting
from drawme.models import JobRequest, JobStatus, LeaseLost, PaintParams
from drawme.store import Dialect, claims
from tests import postgres

from .helpers import jpeg_bytes, open_store

ROOT = Path(__file__).resolve().parents[2]
_colors = itertools.count(1)


async def submit(store, user_id, *, width=64, height=64, size=64, recipe="default", priority=0):
    """A job of `user_id` on a fresh photo recorded as `width` x `height`, painted at long side `size`."""
    n = next(_colors)  # far-apart colours, so no two photos compress to the same bytes (one image)
    data = jpeg_bytes((n * 53 % 256, n * 97 % 256, n * 29 % 256), size=16 + 8 * (n // 256))
    image = await store.store_image(user_id, data, width, height)
    request = JobRequest(
        user_id=user_id,
        chat_id=user_id,
        content_image_id=image.id,
        params=PaintParams(size=size, recipe=recipe),
        style_preset="udnie",
        priority=priority,
    )
    return await store.submit(request)


async def batch_key(store, job_id):
    rows = await store.db.rows("SELECT batch_key FROM jobs WHERE id = ?", (job_id,))
    return rows[0]["batch_key"]


async def start_one(store, user_id, **shape):
    """A job of `user_id` claimed and failed at once: the user now has one start in the fairness window."""
    job = await submit(store, user_id, **shape)
    assert (await store.claim("earlier", 30)).id == job.id
    await store.force_fail(job.id)


async def test_submit_records_the_shape_from_the_photos_stored_size(store):
    wide = await submit(store, 1, width=640, height=480, size=384)
    tall = await submit(store, 2, width=480, height=640, size=384, recipe="seed")
    assert await batch_key(store, wide.id) == painting.batch_key("default", 384, 640, 480)
    assert await batch_key(store, wide.id) == "default:384x288"
    assert await batch_key(store, tall.id) == painting.batch_key("seed", 384, 480, 640) == "seed:288x384"


async def test_a_batch_takes_one_job_of_each_other_user_of_the_same_shape(common, clock):
    store = await open_store(common, clock, max_queued_per_user=10)
    try:
        first = await submit(store, 1)
        second_of_1 = await submit(store, 1)
        mates = [await submit(store, user) for user in (2, 3, 4)]
        second_of_2 = await submit(store, 2)
        others = [
            await submit(store, 5, size=96),  # another size
            await submit(store, 6, width=128, height=64),  # another aspect: 64x32
            await submit(store, 7, recipe="seed"),  # another recipe
            await submit(store, 8, width=640, height=640),  # another photo size, the same canvas
        ]
        batch = await store.claim_batch("w", 30, 10)
        assert [job.id for job in batch] == [first.id, *(job.id for job in mates), others[3].id]
        assert len({job.user_id for job in batch}) == len(batch), "one job per user"
        for job in batch:
            assert job.status == JobStatus.RUNNING and job.lease_owner == "w"
            assert job.started_at == clock.now and job.lease_expires_at == clock.now + 30
            assert (await store.get(job.id)).status == JobStatus.RUNNING
            assert await batch_key(store, job.id) == "default:64x64"
        for left in (second_of_1, second_of_2, *others[:3]):
            assert (await store.get(left.id)).status == JobStatus.QUEUED
        # The next batch: the other shapes each alone (nothing else queued has their key), one
        # second job of the same shape per user.
        taken = [[job.id for job in await store.claim_batch("w", 30, 10)] for _ in range(4)]
        assert sorted(map(len, taken)) == [1, 1, 1, 2]
        assert [second_of_1.id, second_of_2.id] in taken
        assert await store.claim_batch("w", 30, 10) == []
    finally:
        await store.close()


async def test_companions_come_in_claim_order_and_the_limit_holds(store, clock):
    await start_one(store, 2)  # user 2 started a job in the fairness window
    a = await submit(store, 1)
    b = await submit(store, 2)
    c = await submit(store, 3)
    d = await submit(store, 4, priority=5)
    e = await submit(store, 5)
    # The first is claim's own pick (user 4: no starts, highest priority); then users without starts
    # by priority and age (1, 3, 5); user 2's start puts it last, so the limit leaves it out.
    batch = await store.claim_batch("w", 30, 4)
    assert [job.id for job in batch] == [d.id, a.id, c.id, e.id]
    assert (await store.get(b.id)).status == JobStatus.QUEUED
    assert [job.id for job in await store.claim_batch("w", 30, 4)] == [b.id]


async def test_companions_in_order_of_recent_starts_then_priority(store, clock):
    await start_one(store, 3)
    await start_one(store, 3)
    await start_one(store, 2)
    first = await submit(store, 1)
    by_three = await submit(store, 3, priority=9)  # two starts: last, whatever its priority
    by_two = await submit(store, 2, priority=9)  # one start
    by_four = await submit(store, 4)  # no start
    batch = await store.claim_batch("w", 30, 4)
    assert [job.id for job in batch] == [first.id, by_four.id, by_two.id, by_three.id]


async def test_cancelled_running_and_finished_jobs_are_never_taken(store, clock):
    running = await submit(store, 3)
    assert (await store.claim("other", 30)).id == running.id
    done = await submit(store, 4)
    assert (await store.claim("other", 30)).id == done.id
    await store.complete(done.id, "other", b"png")
    failed = await submit(store, 6)
    assert (await store.claim("other", 30)).id == failed.id
    await store.fail(failed.id, "other", "broken")
    cancelled = await submit(store, 2)
    await store.cancel(cancelled.id)
    first = await submit(store, 1)
    mate = await submit(store, 5)
    batch = await store.claim_batch("w", 30, 10)
    assert [job.id for job in batch] == [first.id, mate.id]
    assert (await store.get(running.id)).lease_owner == "other"
    assert (await store.get(running.id)).status == JobStatus.RUNNING
    assert (await store.get(done.id)).status == JobStatus.DONE
    assert (await store.get(failed.id)).status == JobStatus.FAILED
    assert (await store.get(cancelled.id)).status == JobStatus.CANCELLED


async def test_one_users_long_queue_does_not_crowd_out_the_others(common, clock):
    """More of the first user's jobs than a batch reads candidates: the other user's job still joins."""
    crowd = claims.batch_window(2) + 6
    store = await open_store(
        common, clock, max_queued_per_user=crowd + 1, max_queue=crowd + 10, daily_quota=crowd + 1
    )
    try:
        mine = [await submit(store, 1) for _ in range(crowd)]
        other = await submit(store, 2)
        batch = await store.claim_batch("w", 30, 2)
        assert [job.id for job in batch] == [mine[0].id, other.id]
    finally:
        await store.close()


async def _twin(common, tmp_path, clock, **limits):
    """Another, empty store of the same engine (its own file or schema), on the same clock."""
    url = postgres.server().fresh_url() if common.database_url else ""
    return await open_store(replace(common, data_dir=tmp_path / "twin", database_url=url), clock, **limits)


async def test_a_batch_of_one_is_exactly_a_claim(common, clock, tmp_path):
    """The same submits on two stores: one drained by `claim`, one by `claim_batch(limit=1)`."""
    one = await open_store(common, clock, max_queued_per_user=10)
    two = await _twin(common, tmp_path, clock, max_queued_per_user=10)
    try:
        for store in (one, two):
            await start_one(store, 2)
        for user, priority in [(1, 0), (2, 0), (1, 0), (3, 2), (2, 0), (4, 0), (1, 1)]:
            for store in (one, two):
                await submit(store, user, priority=priority)
            clock.advance(1)
        claimed, batched = [], []
        while (job := await one.claim("w", 30)) is not None:
            claimed.append(job)
            batch = await two.claim_batch("w", 30, 1)
            assert len(batch) == 1
            batched += batch
            clock.advance(1)
        assert await two.claim_batch("w", 30, 1) == []
        assert len(claimed) == 7
        assert batched == claimed  # every field: ids, owners, leases, start times, progress
    finally:
        await one.close()
        await two.close()


async def test_limit_below_one_is_refused_and_an_empty_queue_gives_nothing(store):
    with pytest.raises(ValueError):
        await store.claim_batch("w", 30, 0)
    assert await store.claim_batch("w", 30, 3) == []
    job = await submit(store, 1)
    with pytest.raises(ValueError):
        await store.claim_batch("w", 30, -1)
    assert (await store.get(job.id)).status == JobStatus.QUEUED, "a refused call claims nothing"


async def test_every_job_of_a_batch_has_its_own_lease(store, clock):
    a, b, c, d = [await submit(store, user) for user in (1, 2, 3, 4)]
    batch = await store.claim_batch("w", 10, 4)
    assert [job.id for job in batch] == [a.id, b.id, c.id, d.id]
    await store.cancel(c.id)
    clock.advance(8)
    assert [await store.heartbeat(job.id, "w", 10) for job in (a, b, c)] == [False, False, True]
    clock.advance(8)  # d's lease (not renewed) has expired; the others' have not
    assert await store.requeue_expired() == 1
    after = {job.id: await store.get(job.id) for job in (a, b, c, d)}
    assert after[d.id].status == JobStatus.QUEUED and after[d.id].attempts == 1
    assert all(after[job.id].status == JobStatus.RUNNING for job in (a, b, c))
    with pytest.raises(LeaseLost):
        await store.heartbeat(d.id, "w", 10)
    assert (await store.complete(a.id, "w", b"png-a")).status == JobStatus.DONE
    assert (await store.fail(b.id, "w", "broken")).status == JobStatus.FAILED
    assert (await store.mark_cancelled(c.id, "w")).status == JobStatus.CANCELLED
    assert await store.get_result(a.id) == b"png-a"
    assert (await store.get(b.id)).error == "broken"
    again = await store.claim_batch("w2", 10, 4)
    assert [job.id for job in again] == [d.id] and again[0].lease_owner == "w2"


async def test_the_batch_reads_use_their_indexes(store):
    """The candidates come from jobs_batch (bounded by the window, not the queue); a pick never does
    (SQLite: a rowid lookup; PostgreSQL's choice on a one-row table says nothing, on a large one it
    is jobs_pkey)."""
    first = await submit(store, 1)
    pick = claims.CLAIM.format(next_job=claims.PICK + claims.CLAIM_LOCK[store.dialect])
    async with store.db.transaction() as tx:
        if tx.dialect is Dialect.POSTGRES:
            await tx.execute("SET LOCAL enable_seqscan = off")  # a tiny table would be scanned anyway

            async def plan(sql, args):
                return "\n".join(row[0] for row in await tx.rows("EXPLAIN " + sql, args))

            primary_key = ""
        else:

            async def plan(sql, args):
                return "\n".join(row["detail"] for row in await tx.rows("EXPLAIN QUERY PLAN " + sql, args))

            primary_key = "INTEGER PRIMARY KEY"
        candidates = await plan(claims.BATCH_CANDIDATES, ("default:64x64", 2, claims.batch_window(4), 0.0))
        picked = await plan(pick, ("w", 1.0, 1.0, first.id))
    assert "jobs_batch" in candidates, candidates
    assert primary_key in picked and "jobs_batch" not in picked, picked


@pytest.mark.postgres_only  # SQLite serialises claims with its one write lock
async def test_postgres_batch_skips_a_companion_another_claim_holds(common, clock):
    import psycopg

    store = await open_store(common, clock, max_queued_per_user=10)
    try:
        first = await submit(store, 1)
        held, next_of_2 = await submit(store, 2), await submit(store, 2)
        of_3 = await submit(store, 3)
        async with await psycopg.AsyncConnection.connect(common.database_url) as other:
            await other.execute("SELECT id FROM jobs WHERE id = %s FOR UPDATE", (held.id,))
            batch = await asyncio.wait_for(store.claim_batch("w", 30, 3), 5)  # no waiting on the lock
            assert [job.id for job in batch] == [first.id, next_of_2.id, of_3.id]
            assert (await store.get(held.id)).status == JobStatus.QUEUED
            await other.rollback()
        assert [job.id for job in await store.claim_batch("w", 30, 3)] == [held.id]
    finally:
        await store.close()


@pytest.mark.postgres_only
async def test_postgres_two_batch_claims_at_once_never_share_a_job(common, clock):
    """Two processes start claiming batches of four at the same instant until the queue is empty:
    every job is claimed exactly once, and every batch is one shape, one job per user."""
    store = await open_store(common, clock, max_queued_per_user=5, max_queue=500)
    try:
        shapes = [{}, {"size": 96}, {"width": 128, "height": 64}]
        submitted = {}
        for round_ in range(4):
            for user in range(1, 16):
                job = await submit(store, user, **shapes[(user + round_) % 3])
                submitted[job.id] = await batch_key(store, job.id)
    finally:
        await store.close()
    script = Path(__file__).with_name("claim_batches_at.py")
    start = time.time() + 2.0  # both processes are up and waiting by then
    racers = [
        subprocess.Popen(
            [sys.executable, str(script), str(start), "4", name, str(common.data_dir), common.database_url],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},  # this checkout's code, not an installed one
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name in ("p1", "p2")
    ]
    outputs = [racer.communicate(timeout=60)[0] for racer in racers]
    assert [racer.returncode for racer in racers] == [0, 0], outputs
    batches = [
        [tuple(map(int, pair.split(":"))) for pair in line.split()]
        for output in outputs
        for line in output.splitlines()
    ]
    claimed = [job for batch in batches for job, _ in batch]
    assert sorted(claimed) == sorted(submitted), "every job once, none twice"
    assert any(len(batch) > 1 for batch in batches)
    for batch in batches:
        assert 1 <= len(batch) <= 4
        assert len({user for _, user in batch}) == len(batch), f"one job per user: {batch}"
        assert len({submitted[job] for job, _ in batch}) == 1, f"one shape: {batch}"
