"""Claim order: the user with the fewest jobs started in the last hour first, then priority, then age."""

from __future__ import annotations

import asyncio
import random

import pytest

from drawme.store import FAIRNESS_WINDOW

from .helpers import open_store, submit


async def claim_all(store, worker="w") -> list[int]:
    order = []
    while (job := await store.claim(worker, 30)) is not None:
        order.append(job.id)
    return order


async def test_one_users_many_jobs_do_not_starve_another(common, clock):
    store = await open_store(common, clock, max_queued_per_user=20)
    try:
        greedy = [(await submit(store, 1)).id for _ in range(20)]
        clock.advance(1)
        modest = (await submit(store, 2)).id
        order = await claim_all(store)
    finally:
        await store.close()
    assert order[:2] == [greedy[0], modest]
    assert order[2:] == greedy[1:]


async def test_three_users_recent_history_and_priority(store, clock):
    # User 3 already had two paintings started in the last hour.
    for _ in range(2):
        job = await submit(store, 3)
        await store.claim("w", 30)
        await store.force_fail(job.id)
    a = [(await submit(store, 1)).id for _ in range(3)]
    c = (await submit(store, 3)).id
    b = (await submit(store, 2)).id

    # position() predicts the claim order before anything is claimed.
    positions = {job_id: (await store.position(job_id)).ahead for job_id in [*a, b, c]}
    # positions() gives the same answer for the whole queue in one go (the bot's poll uses it).
    assert {job_id: info.ahead for job_id, info in (await store.positions()).items()} == positions

    order = await claim_all(store)
    # a1 (tie at 0 started, older), b (0 < 1), a2 (1 < 2), a3 (2 = 2, older than c), c.
    assert order == [a[0], b, a[1], a[2], c]
    assert positions == {job_id: index for index, job_id in enumerate(order)}


async def test_history_older_than_the_window_does_not_count(store, clock):
    for _ in range(2):
        job = await submit(store, 3)
        await store.claim("w", 30)
        await store.force_fail(job.id)
    clock.advance(FAIRNESS_WINDOW + 1)
    first = (await submit(store, 1)).id
    second = (await submit(store, 3)).id
    third = (await submit(store, 1)).id
    assert await claim_all(store) == [first, second, third]


async def test_priority_breaks_ties_between_equal_users(store):
    low = (await submit(store, 1)).id
    high = (await submit(store, 2, priority=5)).id
    assert await claim_all(store) == [high, low]


async def test_claim_order_over_sparse_user_ids_matches_the_rule(common, clock):
    """The claim walks waiting users by a loose index scan (the next queued user id above the last
    one): with Telegram-sized, far-apart ids, mixed priorities and recent history, the jobs are
    claimed in exactly the order `scheduling.claim_order` (behind `positions()`) predicts."""
    rng = random.Random(5)
    users = [12, 7, 2**40 + 3, 5_000_000_000, 2**51]
    store = await open_store(common, clock, max_queued_per_user=10, max_queue=100)
    try:
        for user in (2**40 + 3, 2**40 + 3, 12):  # started within the fairness window
            job = await submit(store, user)
            await store.claim("w", 30)
            await store.force_fail(job.id)
        for _ in range(24):
            await submit(store, rng.choice(users), priority=rng.choice([0, 0, 1, 5]))
            clock.advance(1)
        predicted = {job_id: info.ahead for job_id, info in (await store.positions()).items()}
        order = await claim_all(store)
    finally:
        await store.close()
    assert len(order) == 24
    assert order == sorted(predicted, key=predicted.__getitem__)


@pytest.mark.postgres_only  # SQLite serialises claims with its one write lock
async def test_postgres_claim_falls_back_to_whole_queues_when_every_head_is_held(common, clock):
    """While another transaction holds both users' heads, a claim takes the next job by turn (the
    older of the two second jobs) instead of waiting or returning nothing."""
    import psycopg

    store = await open_store(common, clock, max_queued_per_user=10)
    try:
        heads = [(await submit(store, 1)).id, (await submit(store, 2)).id]
        second_of_1, second_of_2 = (await submit(store, 1)).id, (await submit(store, 2)).id
        async with await psycopg.AsyncConnection.connect(common.database_url) as other:
            await other.execute("SELECT id FROM jobs WHERE id = ANY(%s) FOR UPDATE", (heads,))
            assert (await asyncio.wait_for(store.claim("w1", 30), 5)).id == second_of_1
            assert (await asyncio.wait_for(store.claim("w2", 30), 5)).id == second_of_2
            assert await store.claim("w3", 30) is None  # only held heads are left
            await other.rollback()
        assert sorted([(await store.claim("w3", 30)).id, (await store.claim("w4", 30)).id]) == heads
    finally:
        await store.close()
