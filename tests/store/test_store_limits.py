"""Fair-use limits refuse a submit inside the same transaction, saying which limit and when it frees."""

from __future__ import annotations

import pytest

from drawme.models import Limit, LimitExceeded
from drawme.store import DAY, DEFAULT_SECONDS_PER_PIXEL

from .helpers import START, open_store, submit


async def test_per_user_limit_names_itself_and_when_it_frees(store, clock):
    for _ in range(3):
        await submit(store, 1)
    with pytest.raises(LimitExceeded) as refused:
        await submit(store, 1)
    assert refused.value.limit is Limit.PER_USER
    refusal = refused.value.refusal
    assert (refusal.count, refusal.allowed) == (3, 3)
    assert refusal.wait_seconds > 0 and refusal.retry_at == clock.now + refusal.wait_seconds
    await submit(store, 2)  # other users are not affected
    # Once one of them is finished, the user may submit again.
    first = (await store.jobs_of(1))[0]
    await store.cancel(first.id)
    await submit(store, 1)


async def test_global_queue_cap(common, clock):
    store = await open_store(common, clock, max_queue=2)
    try:
        await submit(store, 1)
        await submit(store, 2)
        with pytest.raises(LimitExceeded) as refused:
            await submit(store, 3)
        assert refused.value.limit is Limit.QUEUE_FULL
        assert (refused.value.refusal.count, refused.value.refusal.allowed) == (2, 2)
        assert refused.value.retry_at > clock.now
        await store.claim("w", 30)  # a running job no longer counts against the queue
        await submit(store, 3)
    finally:
        await store.close()


async def test_a_full_queues_wait_counts_the_live_workers_total_capacity(common, clock):
    store = await open_store(common, clock, max_queue=1)
    try:
        await submit(store, 1)

        async def wait() -> float:
            with pytest.raises(LimitExceeded) as refused:
                await submit(store, 2)
            assert refused.value.limit is Limit.QUEUE_FULL
            return refused.value.refusal.wait_seconds

        one_job = DEFAULT_SECONDS_PER_PIXEL * 64 * 64  # no history yet
        assert await wait() == pytest.approx(one_job)  # no live worker: one slot
        await store.register_worker("gpu-1", "cuda", capacity=8)
        assert await wait() == pytest.approx(one_job / 8)
        await store.register_worker("cpu-1", "cpu")
        assert await wait() == pytest.approx(one_job / 9)
    finally:
        await store.close()


async def test_daily_quota_resets_at_midnight_utc(common, clock):
    store = await open_store(common, clock, daily_quota=2)
    try:
        for _ in range(2):
            job = await submit(store, 1)
            await store.cancel(job.id)  # cancelled jobs still count: the quota is per submit
        with pytest.raises(LimitExceeded) as refused:
            await submit(store, 1)
        assert refused.value.limit is Limit.DAILY_QUOTA
        assert refused.value.refusal.allowed == 2
        assert refused.value.retry_at == START - START % DAY + DAY
        assert refused.value.refusal.wait_seconds == pytest.approx(refused.value.retry_at - clock.now)
        await store.forget(1)  # forgetting one's data does not reset the quota
        with pytest.raises(LimitExceeded):
            await submit(store, 1)
        clock.now = refused.value.retry_at + 1
        await submit(store, 1)
    finally:
        await store.close()


async def test_banned_user_is_refused(store):
    await store.set_banned(9)
    with pytest.raises(LimitExceeded) as refused:
        await submit(store, 9)
    assert refused.value.limit is Limit.BANNED
    await store.set_banned(9, False)
    await submit(store, 9)
