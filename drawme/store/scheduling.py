"""Scheduling and ETAs as pure functions: who is next, and roughly when each job is done.

No database here: the store reads the rows and hands them over, so the rules are tested directly.
The claim itself (SQL in `claims.py`) follows the same rule as `claim_order`: a queued job's turn is
the number of jobs its user started in the fairness window plus its place among that user's queued
jobs (by priority, then age); the lowest turn goes first, then priority, then age. So one user's
twenty jobs never starve another user's one. A batch claim adds to the fairest job other users' jobs
of its shape, one per user, in the same order (`one_per_user`).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

DAY = 86_400.0
FAIRNESS_WINDOW = 3600.0  # "started recently" for fair claiming
# Without history: a 2-core CPU paints the default at 384 px in 15–25 s (bfloat16 / float32,
# docs/PERFORMANCE.md); ETAs scale with the pixel count.
DEFAULT_SECONDS_PER_PIXEL = 20.0 / (384 * 384)
ETA_HISTORY = 50  # finished jobs the duration estimate looks at
WORKER_FRESH = 120.0  # a worker that beat within this many seconds counts for ETAs
# Without a measured time per pixel, a painting's own pace is trusted once this much of its work is done
# (the default recipe's first, coarse stage is a fifth of its work).
MIN_EXTRAPOLATED_WORK = 0.2


@dataclass(frozen=True)
class Queued:
    id: int
    user_id: int
    priority: int
    size: int  # output long side, px


@dataclass(frozen=True)
class Running:
    id: int
    size: int
    started_at: float | None
    eta_seconds: float | None  # the worker's own estimate, when it has reported one


def measured_seconds_per_pixel(seconds: float | None, pixels: float | None) -> float | None:
    """Painting time per output pixel (long side squared) of finished paintings; None without any."""
    return seconds / pixels if seconds and pixels else None


def seconds_per_pixel(seconds: float | None, pixels: float | None) -> float:
    """Recent painting time per output pixel (long side squared), or the default without history."""
    return measured_seconds_per_pixel(seconds, pixels) or DEFAULT_SECONDS_PER_PIXEL


def painting_remaining(elapsed: float, work: float, expected: float | None) -> float | None:
    """Seconds a painting still needs, `elapsed` s in with `work` (0..1) of its planned work done.

    `expected`: its whole time as measured on this worker (its seconds per pixel of finished paintings
    times this one's pixels), or None without such a measurement. Extrapolating the work done alone
    overstates early on, several times over: the set-up comes first, and a coarse step costs more per
    pixel than a fine one, so a 4-minute painting said "about 11 min left" after its first step. So the
    worker's measured time leads at first and the painting's own pace takes over as its work is done
    (each weighed by its share: the expectation by the work left, the extrapolation by the work done).
    Without a measurement the extrapolation alone, and only from MIN_EXTRAPOLATED_WORK on: before that
    no estimate is better than a wrong one."""
    work = min(1.0, max(0.0, work))
    extrapolated = elapsed * (1.0 - work) / work if work > 0 else None
    if expected is None:
        return extrapolated if work >= MIN_EXTRAPOLATED_WORK else None
    foreseen = expected * (1.0 - work)
    if extrapolated is None:
        return foreseen
    return (1.0 - work) * foreseen + work * extrapolated


def claim_order(queued: Iterable[Queued], started: Mapping[int, int]) -> list[Queued]:
    """The queued jobs in the order workers will claim them, if nothing new arrives.

    `started`: user id -> jobs started in the fairness window. Each claim adds one to its user's count."""
    per_user: dict[int, list[Queued]] = {}
    for job in sorted(queued, key=lambda job: (job.user_id, -job.priority, job.id)):
        per_user.setdefault(job.user_id, []).append(job)
    heap = [(started.get(user, 0), -jobs[0].priority, jobs[0].id, user, 0) for user, jobs in per_user.items()]
    heapq.heapify(heap)
    order = []
    while heap:
        count, _, _, user, index = heapq.heappop(heap)
        order.append(per_user[user][index])
        if index + 1 < len(per_user[user]):
            following = per_user[user][index + 1]
            heapq.heappush(heap, (count + 1, -following.priority, following.id, user, index + 1))
    return order


def one_per_user(candidates: Iterable[Queued], n: int, exclude: Iterable[int] = ()) -> list[Queued]:
    """A batch's companions: from `candidates` already in claim order, the first of each user, none
    of the users in `exclude` (the batch's first job's, say), at most `n`. So a batch takes one job
    per user and one user's queue never crowds out the others'."""
    taken = set(exclude)
    picked: list[Queued] = []
    for job in candidates:
        if len(picked) >= n:
            break
        if job.user_id not in taken:
            taken.add(job.user_id)
            picked.append(job)
    return picked


def running_remaining(running: Iterable[Running], now: float, per_pixel: float) -> dict[int, float]:
    """Seconds each running job still needs: its worker's estimate, else the history's."""
    remaining = {}
    for job in running:
        if job.eta_seconds is not None:
            remaining[job.id] = job.eta_seconds
        else:
            expected = per_pixel * job.size**2
            remaining[job.id] = max(0.0, expected - (now - (job.started_at or now)))
    return remaining


def etas(
    queued: Iterable[Queued],
    started: Mapping[int, int],
    running: Iterable[Running],
    now: float,
    per_pixel: float,
    capacity: int,
) -> dict[int, tuple[int, float]]:
    """job id -> (jobs ahead, seconds until done) for every active job.

    `capacity`: jobs the live workers paint at once, all together (the sum of their batch sizes; a
    worker that paints one job at a time counts 1). The work ahead is shared by that many slots; a
    queued job starts once that work is drained. `per_pixel` comes from each job's own duration, and
    a job painted in a batch of 16 lasts the whole batch's wall time, so capacity × per-job duration
    is the fleet's throughput (16 jobs per batch time). With jobs of mixed shapes a batch may run
    less than full, so for such a queue this is the optimistic end."""
    capacity = max(1, capacity)
    remaining = running_remaining(running, now, per_pixel)
    result = {job_id: (0, seconds) for job_id, seconds in remaining.items()}
    backlog = sum(remaining.values())
    for ahead, job in enumerate(claim_order(queued, started)):
        duration = per_pixel * job.size**2
        result[job.id] = (len(remaining) + ahead, backlog / capacity + duration)
        backlog += duration
    return result


def queue_drain_wait(per_pixel: float, size: int, capacity: int) -> float:
    """Roughly how long until a full queue has room again: one job's time over the live workers'
    total capacity (as in `etas`)."""
    return per_pixel * size * size / max(1, capacity)


def next_midnight(now: float) -> float:
    """The next 00:00 UTC (the daily quota resets then)."""
    return (int(now // DAY) + 1) * DAY
