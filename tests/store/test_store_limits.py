"""Fair-use limits refuse a submit inside the same transaction, saying which limit and when it frees."""

from __future__ import annotations

import pytest

from drawme.models import LimitExceeded
from drawme.store import DAY

from .helpers import START, open_store, submit


async def test_per_user_limit_names_itself_and_when_it_frees(store, clock):
    for _ in range(3):
        await submit(store, 1)
    with pytest.raises(LimitExceeded) as refused:
        await submit(store, 1)
    assert refused.value.limit == "per_user"
    assert "3 paintings in progress" in refused.value.message and "limit is 3" in refused.value.message
    assert "ready in" in refused.value.message
    assert refused.value.retry_at is not None and refused.value.retry_at > clock.now
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
        assert refused.value.limit == "queue_full"
        assert "queue is full" in refused.value.message and "try again in" in refused.value.message
        assert refused.value.retry_at > clock.now
        await store.claim("w", 30)  # a running job no longer counts against the queue
        await submit(store, 3)
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
        assert refused.value.limit == "daily_quota"
        assert "daily quota" in refused.value.message and "00:00 UTC" in refused.value.message
        assert refused.value.retry_at == START - START % DAY + DAY
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
    assert refused.value.limit == "banned"
    await store.set_banned(9, False)
    await submit(store, 9)
