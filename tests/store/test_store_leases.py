"""Leases: claims are exclusive across connections and processes; expired leases come back or fail."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from drawme.models import FailureCode, JobStatus, LeaseLost, StoreUnavailable
from drawme.store import JobStore
from drawme.store import db as store_db

from .helpers import open_store, submit

ROOT = Path(__file__).resolve().parents[2]


async def test_expired_lease_goes_back_to_the_queue_with_an_attempt(store, clock):
    job = await submit(store, 1)
    await store.claim("crashed", lease_seconds=10)
    clock.advance(9)
    assert await store.requeue_expired() == 0  # not yet
    clock.advance(2)
    assert await store.requeue_expired() == 1
    again = await store.get(job.id)
    assert again.status == JobStatus.QUEUED and again.attempts == 1 and again.lease_owner is None
    with pytest.raises(LeaseLost):
        await store.heartbeat(job.id, "crashed", 10)  # the old worker learns it lost the job
    assert (await store.claim("fresh", 10)).id == job.id


async def test_heartbeat_keeps_the_lease(store, clock):
    job = await submit(store, 1)
    await store.claim("w", lease_seconds=10)
    for _ in range(5):
        clock.advance(8)
        await store.heartbeat(job.id, "w", 10)
        assert await store.requeue_expired() == 0
    assert (await store.get(job.id)).status == JobStatus.RUNNING


async def test_max_attempts_fails_the_job_with_a_message(store, clock):
    job = await submit(store, 1)
    for attempt in range(1, 4):
        assert (await store.claim(f"w{attempt}", 10)).id == job.id
        clock.advance(11)
        await store.requeue_expired()
    failed = await store.get(job.id)
    assert failed.status == JobStatus.FAILED and failed.attempts == 3
    assert failed.error == FailureCode.CRASHED  # the bot words it (bot.texts.failure)
    assert await store.claim("w4", 10) is None
    assert [j.id for j in await store.undelivered()] == [job.id]  # the user will be told


async def test_expired_lease_of_a_cancelled_job_cancels_it(store, clock):
    job = await submit(store, 1)
    await store.claim("w", 10)
    await store.cancel(job.id)
    clock.advance(11)
    await store.requeue_expired()
    assert (await store.get(job.id)).status == JobStatus.CANCELLED


async def test_two_connections_never_claim_the_same_job(common, clock):
    first = await open_store(common, clock, max_queued_per_user=100)
    second = await JobStore.open(common, clock=clock)
    try:
        submitted = {(await submit(first, user % 4)).id for user in range(40)}

        async def drain(store, name):
            taken = []
            while (job := await store.claim(name, 30)) is not None:
                taken.append(job.id)
                await asyncio.sleep(0)
            return taken

        one, two = await asyncio.gather(drain(first, "a"), drain(second, "b"))
    finally:
        await first.close()
        await second.close()
    assert not set(one) & set(two)
    assert sorted(one + two) == sorted(submitted)


async def test_two_processes_never_claim_the_same_job(common, clock):
    store = await open_store(common, clock, max_queued_per_user=100, max_queue=1000)
    try:
        submitted = {(await submit(store, user % 5)).id for user in range(150)}
    finally:
        await store.close()
    script = Path(__file__).with_name("claim_until_empty.py")
    processes = [
        subprocess.Popen(
            [sys.executable, str(script), str(common.data_dir), name, common.database_url],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},  # this checkout's code, not an installed one
            stdout=subprocess.PIPE,
            text=True,
        )
        for name in ("p1", "p2")
    ]
    outputs = [process.communicate(timeout=60)[0] for process in processes]
    assert [process.returncode for process in processes] == [0, 0]
    claimed = [[int(line) for line in output.split()] for output in outputs]
    assert not set(claimed[0]) & set(claimed[1])
    assert sorted(claimed[0] + claimed[1]) == sorted(submitted)


@pytest.mark.sqlite_only
async def test_a_database_locked_by_another_process_is_reported_as_unavailable(common, clock, monkeypatch):
    monkeypatch.setattr(store_db, "BUSY_TIMEOUT_MS", 200)  # give up quickly instead of after 10 s
    store = await JobStore.open(common, clock=clock)
    other = sqlite3.connect(common.db_path, isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
        with pytest.raises(StoreUnavailable, match="locked"):
            await submit(store, 1)
        other.execute("ROLLBACK")
        assert (await submit(store, 1)).status == JobStatus.QUEUED  # and it recovers once free
    finally:
        other.close()
        await store.close()


@pytest.mark.postgres_only  # SQLite serialises claims with its one write lock
async def test_postgres_claim_skips_a_row_another_claim_holds(common, clock):
    """SKIP LOCKED: while another transaction holds the only user's next job, a claim takes that
    user's following job instead of waiting (and the held one stays queued for its holder)."""
    import psycopg

    store = await open_store(common, clock, max_queued_per_user=10)
    try:
        first, second = await submit(store, 1), await submit(store, 1)
        async with await psycopg.AsyncConnection.connect(common.database_url) as other:
            await other.execute("SELECT id FROM jobs WHERE id = %s FOR UPDATE", (first.id,))
            claimed = await asyncio.wait_for(store.claim("w", 30), 5)  # no waiting on the lock
            assert claimed.id == second.id
            assert await store.claim("w2", 30) is None  # the held row is skipped, not taken twice
            await other.rollback()
        assert (await store.claim("w2", 30)).id == first.id
    finally:
        await store.close()
