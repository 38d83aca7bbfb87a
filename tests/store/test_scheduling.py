"""The scheduling rules as pure functions: claim order, a batch's one job per user, and ETAs, without a
database."""

from __future__ import annotations

import pytest

from drawme.store import scheduling
from drawme.store.scheduling import DAY, DEFAULT_SECONDS_PER_PIXEL, Queued, Running


def test_claim_order_interleaves_users_by_recent_starts():
    queued = [Queued(i, 1, 0, 100) for i in (1, 2, 3)] + [Queued(4, 2, 0, 100), Queued(5, 3, 0, 100)]
    # User 3 started two jobs recently, user 2 none, user 1 none.
    order = scheduling.claim_order(queued, {3: 2})
    assert [job.id for job in order] == [1, 4, 2, 3, 5]


def test_claim_order_priority_beats_age_within_a_user_and_between_equals():
    queued = [Queued(1, 1, 0, 64), Queued(2, 1, 5, 64), Queued(3, 2, 1, 64)]
    assert [job.id for job in scheduling.claim_order(queued, {})] == [2, 3, 1]


def test_seconds_per_pixel_falls_back_without_history():
    assert scheduling.seconds_per_pixel(None, None) == DEFAULT_SECONDS_PER_PIXEL
    assert scheduling.seconds_per_pixel(0.0, 100) == DEFAULT_SECONDS_PER_PIXEL
    assert scheduling.seconds_per_pixel(20.0, 10_000) == pytest.approx(0.002)


def test_etas_share_the_backlog_between_workers():
    per_pixel = 0.001  # 10 s for 100 px
    running = [Running(10, 100, started_at=95.0, eta_seconds=None), Running(11, 100, 99.0, eta_seconds=2.0)]
    queued = [Queued(1, 1, 0, 100), Queued(2, 2, 0, 200)]
    etas = scheduling.etas(queued, {}, running, now=100.0, per_pixel=per_pixel, workers=2)
    assert etas[10] == (0, pytest.approx(5.0))  # 10 s expected, 5 s elapsed
    assert etas[11] == (0, 2.0)  # the worker's own estimate wins
    assert etas[1] == (2, pytest.approx(7.0 / 2 + 10.0))
    assert etas[2] == (3, pytest.approx(17.0 / 2 + 40.0))


def test_queue_drain_wait_and_midnight():
    assert scheduling.queue_drain_wait(0.001, 100, 4) == pytest.approx(2.5)
    assert scheduling.queue_drain_wait(0.001, 100, 0) == pytest.approx(10.0)  # no live worker: one
    assert scheduling.next_midnight(3 * DAY + 5) == 4 * DAY
    assert scheduling.next_midnight(3 * DAY) == 4 * DAY


def test_one_per_user_keeps_each_users_first_in_the_given_order():
    # Already in claim order (not id order): user 5's job 9 comes before its job 1.
    candidates = [Queued(9, 5, 0, 64), Queued(1, 5, 0, 64), Queued(3, 6, 2, 64), Queued(4, 7, 0, 64)]
    candidates += [Queued(2, 8, 0, 64), Queued(6, 6, 0, 64), Queued(7, 9, 0, 64)]
    assert [job.id for job in scheduling.one_per_user(candidates, 10)] == [9, 3, 4, 2, 7]
    assert [job.id for job in scheduling.one_per_user(candidates, 10, exclude={5, 8})] == [3, 4, 7]
    assert [job.id for job in scheduling.one_per_user(candidates, 2, exclude=[6])] == [9, 4]
    assert scheduling.one_per_user(candidates, 0) == []
    assert scheduling.one_per_user([], 3) == []
    assert scheduling.one_per_user(candidates, 3, exclude={5, 6, 7, 8, 9}) == []
