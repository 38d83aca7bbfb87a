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
    etas = scheduling.etas(queued, {}, running, now=100.0, per_pixel=per_pixel, capacity=2)
    assert etas[10] == (0, pytest.approx(5.0))  # 10 s expected, 5 s elapsed
    assert etas[11] == (0, 2.0)  # the worker's own estimate wins
    assert etas[1] == (2, pytest.approx(7.0 / 2 + 10.0))
    assert etas[2] == (3, pytest.approx(17.0 / 2 + 40.0))


def test_etas_of_a_long_queue_shrink_with_the_fleets_total_capacity():
    """One GPU worker painting 16 jobs per batch drains a queue ~16 times faster than one job at a
    time: each job's duration is the batch's wall time, and 16 of them run side by side."""
    per_pixel = 6.5 / 512**2  # a job in a full batch of 16 at 512 px: the batch's 6.5 s
    queued = [Queued(i, i, 0, 512) for i in range(1, 201)]  # 200 users' jobs
    one = scheduling.etas(queued, {}, [], now=0.0, per_pixel=per_pixel, capacity=1)
    sixteen = scheduling.etas(queued, {}, [], now=0.0, per_pixel=per_pixel, capacity=16)
    assert one[200] == (199, pytest.approx(200 * 6.5))
    assert sixteen[200] == (199, pytest.approx(199 * 6.5 / 16 + 6.5))  # same place, shorter wait
    assert one[200][1] / sixteen[200][1] == pytest.approx(16, rel=0.08)
    # The brief's case: 20 queued jobs said ~130 s with one slot; with 16 it is ~15 s.
    twenty = queued[:20]
    assert scheduling.etas(twenty, {}, [], 0.0, per_pixel, 1)[20][1] == pytest.approx(130.0)
    assert scheduling.etas(twenty, {}, [], 0.0, per_pixel, 16)[20][1] == pytest.approx(14.22, abs=0.01)
    # Running jobs' remaining time is shared by the slots too: a full running batch is done in
    # one batch time, after which the next job takes one more.
    running = [Running(1000 + i, 512, started_at=0.0, eta_seconds=None) for i in range(16)]
    after_batch = scheduling.etas(queued[:1], {}, running, now=0.0, per_pixel=per_pixel, capacity=16)
    assert after_batch[1] == (16, pytest.approx(6.5 + 6.5))
    assert all(after_batch[1000 + i] == (0, pytest.approx(6.5)) for i in range(16))
    # No capacity reported (or nonsense) counts as one slot.
    assert scheduling.etas(queued, {}, [], 0.0, per_pixel, 0) == one


def test_queue_drain_wait_and_midnight():
    assert scheduling.queue_drain_wait(0.001, 100, 4) == pytest.approx(2.5)
    assert scheduling.queue_drain_wait(0.001, 100, 0) == pytest.approx(10.0)  # no live worker: one
    assert scheduling.queue_drain_wait(0.001, 100, 16) == pytest.approx(10.0 / 16)  # one batching GPU
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


def test_painting_remaining_trusts_the_measured_time_first_and_the_paintings_pace_at_the_end():
    # A painting this worker finishes in 240 s, one second of set-up and its first coarse step in:
    # the bare extrapolation said 453 s (the "about 11 min" of issue 25); the measured time says 240.
    assert 1.09 * (1 - 0.0024) / 0.0024 > 450
    first = scheduling.painting_remaining(1.09, 0.0024, expected=240.0)
    assert first == pytest.approx(240.0 - 1.09, rel=0.01)
    assert scheduling.painting_remaining(0.0, 0.0, expected=240.0) == 240.0
    assert scheduling.painting_remaining(250.0, 1.0, expected=240.0) == 0.0
    # Halfway, on time: both agree. Twice as slow as expected: the pace counts as much as the memory.
    assert scheduling.painting_remaining(120.0, 0.5, expected=240.0) == pytest.approx(120.0)
    assert scheduling.painting_remaining(240.0, 0.5, expected=240.0) == pytest.approx(0.5 * 120 + 0.5 * 240)
    # Late in the painting its own pace leads.
    late = scheduling.painting_remaining(900.0, 0.9, expected=240.0)
    assert late is not None and abs(late - 100.0) < abs(late - 24.0)


def test_painting_remaining_without_a_measurement_waits_for_enough_work():
    work = scheduling.MIN_EXTRAPOLATED_WORK
    assert scheduling.painting_remaining(1.0, 0.01, expected=None) is None
    assert scheduling.painting_remaining(1.0, 0.0, expected=None) is None
    assert scheduling.painting_remaining(20.0, work, expected=None) == pytest.approx(20.0 * (1 - work) / work)


def test_measured_seconds_per_pixel_is_none_without_history():
    assert scheduling.measured_seconds_per_pixel(None, None) is None
    assert scheduling.measured_seconds_per_pixel(30.0, 100) == pytest.approx(0.3)
