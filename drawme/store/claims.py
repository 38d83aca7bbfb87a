"""Claims and leases: the worker's half of a job's life.

A claim takes the fairest queued job (the rule of `scheduling.claim_order`) and leases it to one
worker; the worker extends the lease with heartbeats, and an expired lease puts the job back in the
queue with one more attempt (or fails it after max_attempts). Every transition checks the lease, so
a worker that lost its job can never overwrite what the new owner does.

The claim is one statement on both engines. SQLite runs it under BEGIN IMMEDIATE (claims are
serialised by the one write lock); PostgreSQL adds `FOR UPDATE OF jobs SKIP LOCKED`, so concurrent
claimers pass over a row another claim holds instead of waiting for it (as Solid Queue, Oban and
River do), and falls back to the whole-queue form of the rule when every candidate head is held.

A batch claim (`claim_batch`, for GPU workers that paint several jobs at once) is that claim plus,
in the same transaction, other users' queued jobs of the same shape (`jobs.batch_key`), one per
user, in the claim's order; on PostgreSQL they too are locked with SKIP LOCKED. Every job of a batch
has its own lease, so each is heartbeaten, completed or failed on its own.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from drawme.models import FailureCode, Job, JobProgress, JobStatus, LeaseLost, WorkerInfo
from drawme.store import blobs, jobs
from drawme.store.db import Dialect, Tx
from drawme.store.scheduling import FAIRNESS_WINDOW, WORKER_FRESH, Queued, one_per_user

log = logging.getLogger(__name__)

# The fairest queued job, as a sort of one row per waiting user: each user's next job (highest
# priority, then oldest: the user's first entry in jobs_queue) with that user's starts in the
# fairness window (index jobs_user_started). The waiting users are found by a loose index scan of
# jobs_queue, one recursive step per user ("the first queued entry above this user"), so the cost
# follows the number of waiting users, never the length of the queue (a `DISTINCT` over the queued
# rows read all of them). Only the first CANDIDATES heads in that order go on to be locked.
CANDIDATES = 64
RECENT_STARTS = (
    "(SELECT COUNT(*) FROM jobs AS recent WHERE recent.user_id = heads.user_id AND recent.started_at >= ?)"
)
# SQLite: one scalar subquery per value (it has no LATERAL); its planner always joins on the rowid.
SQLITE_HEAD = (
    "(SELECT head.{column} FROM jobs AS head WHERE head.status = 'queued' AND head.user_id = heads.user_id"
    " ORDER BY head.priority DESC, head.id LIMIT 1)"
)
SQLITE_HEADS = f"""
WITH RECURSIVE heads (user_id) AS (
    SELECT (SELECT user_id FROM jobs WHERE status = 'queued' ORDER BY user_id LIMIT 1)
    UNION ALL
    SELECT (SELECT jobs.user_id FROM jobs WHERE jobs.status = 'queued' AND jobs.user_id > heads.user_id
            ORDER BY jobs.user_id LIMIT 1)
    FROM heads WHERE heads.user_id IS NOT NULL
)
SELECT jobs.id FROM (
    SELECT {SQLITE_HEAD.format(column="id")} AS id, {SQLITE_HEAD.format(column="priority")} AS priority,
        {RECENT_STARTS} AS started
    FROM heads WHERE heads.user_id IS NOT NULL
    ORDER BY started, priority DESC, id LIMIT {CANDIDATES}
) AS candidates JOIN jobs ON jobs.id = candidates.id WHERE jobs.status = 'queued'
ORDER BY candidates.started, candidates.priority DESC, candidates.id LIMIT 1"""
# PostgreSQL: each recursive step reads the next user's whole head (user, priority, id) in one
# index-only probe (LATERAL), and the candidates are locked through the primary key (`id = ANY`),
# a plan that cannot turn into a hash join over the queue whatever the statistics say (a fresh,
# never-analysed table included).
POSTGRES_HEADS = f"""
WITH RECURSIVE heads (user_id, priority, id) AS (
    (SELECT user_id, priority, id FROM jobs WHERE status = 'queued'
     ORDER BY user_id, priority DESC, id LIMIT 1)
    UNION ALL
    SELECT next.user_id, next.priority, next.id FROM heads CROSS JOIN LATERAL (
        SELECT jobs.user_id, jobs.priority, jobs.id FROM jobs
        WHERE jobs.status = 'queued' AND jobs.user_id > heads.user_id
        ORDER BY jobs.user_id, jobs.priority DESC, jobs.id LIMIT 1
    ) AS next
), candidates AS (
    SELECT id FROM heads ORDER BY {RECENT_STARTS}, priority DESC, id LIMIT {CANDIDATES}
)
SELECT jobs.id FROM jobs WHERE jobs.id = ANY(ARRAY(SELECT id FROM candidates)) AND jobs.status = 'queued'
ORDER BY array_position(ARRAY(SELECT id FROM candidates), jobs.id) LIMIT 1"""
HEADS = {Dialect.SQLITE: SQLITE_HEADS, Dialect.POSTGRES: POSTGRES_HEADS}

# PostgreSQL only, when every candidate head is locked by a concurrent claim: the same rule over
# whole queues. A queued job's turn is its user's recent starts plus its place among that user's
# queued jobs; the first CANDIDATES in that order are joined back to `jobs` to be locked.
TURNS = f"""
WITH recent AS (
    SELECT user_id, COUNT(*) AS started FROM jobs WHERE started_at >= ? GROUP BY user_id
), turns AS (
    SELECT jobs.id, jobs.priority,
           ROW_NUMBER() OVER (PARTITION BY jobs.user_id ORDER BY jobs.priority DESC, jobs.id) - 1
           + COALESCE(recent.started, 0) AS turn
    FROM jobs LEFT JOIN recent ON recent.user_id = jobs.user_id
    WHERE jobs.status = 'queued'
    ORDER BY turn, jobs.priority DESC, jobs.id LIMIT {CANDIDATES}
)
SELECT jobs.id FROM turns JOIN jobs ON jobs.id = turns.id WHERE jobs.status = 'queued'
ORDER BY turns.turn, turns.priority DESC, jobs.id LIMIT 1"""

CLAIM_LOCK = {
    Dialect.SQLITE: "",  # BEGIN IMMEDIATE already excludes every other writer
    Dialect.POSTGRES: " FOR UPDATE OF jobs SKIP LOCKED",
}

CLAIM = (
    "UPDATE jobs SET status = 'running', lease_owner = ?, lease_expires_at = ?, started_at = ?,"
    " cancel_requested = 0, progress_scale = 0, progress_scales = 0, progress_step = 0,"
    " progress_total = 0, progress_work = NULL, eta_seconds = NULL, losses = NULL, preview_key = NULL"
    " WHERE id = ({next_job}) AND status = 'queued' RETURNING *"
)

# A batch's companions (`claim_batch`): other users' queued jobs of the first job's shape, read through
# jobs_batch (priority, then age) at most `batch_window(limit)` rows, whatever the queue's length, then
# put in the claim's order of heads (the user's recent starts, priority, age); `one_per_user` picks.
BATCH_CANDIDATES = f"""
SELECT heads.id, heads.user_id, heads.priority, heads.size FROM (
    SELECT id, user_id, priority, size FROM jobs
    WHERE status = 'queued' AND batch_key = ? AND user_id <> ?
    ORDER BY priority DESC, id LIMIT ?
) AS heads ORDER BY {RECENT_STARTS}, heads.priority DESC, heads.id"""
BATCH_READ_PER_JOB = 8
# Each pick is claimed by CLAIM itself, its next job being that id: a primary-key lookup on both
# engines whatever the statistics say. PostgreSQL locks it with SKIP LOCKED (a pick another claim
# holds is passed over); SQLite's BEGIN IMMEDIATE already excludes every other claim.
PICK = "SELECT id FROM jobs WHERE id = ? AND status = 'queued'"


def batch_window(limit: int) -> int:
    """How many queued jobs of one shape a batch claim reads at most: a few per place in the batch."""
    return max(CANDIDATES, BATCH_READ_PER_JOB * limit)


async def claim_row(tx: Tx, worker_id: str, lease_seconds: float, now: float) -> Any | None:
    """`claim`'s work: the claimed job's row (with its batch_key), or None when nothing is queued."""
    args = (worker_id, now + lease_seconds, now, now - FAIRNESS_WINDOW)
    row = await tx.row(CLAIM.format(next_job=HEADS[tx.dialect] + CLAIM_LOCK[tx.dialect]), args)
    if row is None and tx.dialect is Dialect.POSTGRES:  # every head may be held by another claim
        row = await tx.row(CLAIM.format(next_job=TURNS + CLAIM_LOCK[tx.dialect]), args)
    await tx.execute("UPDATE workers SET heartbeat_at = ? WHERE id = ?", (now, worker_id))
    return row


async def claim(tx: Tx, worker_id: str, lease_seconds: float, now: float) -> Job | None:
    row = await claim_row(tx, worker_id, lease_seconds, now)
    return jobs.to_job(row) if row else None


async def claim_batch(tx: Tx, worker_id: str, lease_seconds: float, limit: int, now: float) -> list[Job]:
    """The fairest job (exactly `claim`), then up to `limit - 1` queued jobs of its batch_key, one per
    other user, in claim order; each with its own lease. The first-claimed job comes first."""
    if limit < 1:
        raise ValueError(f"a batch holds at least one job, not {limit}")
    first = await claim_row(tx, worker_id, lease_seconds, now)
    if first is None:
        return []
    batch = [first]
    if limit > 1:
        batch += await claim_companions(tx, first, worker_id, lease_seconds, limit, now)
    return [jobs.to_job(row) for row in batch]


async def claim_companions(
    tx: Tx, first: Any, worker_id: str, lease_seconds: float, limit: int, now: float
) -> list[Any]:
    """Claim up to `limit - 1` companions of the claimed row `first`; their rows, in claim order."""
    rows = await tx.rows(
        BATCH_CANDIDATES,
        (first["batch_key"], first["user_id"], batch_window(limit), now - FAIRNESS_WINDOW),
    )
    candidates = [Queued(row["id"], row["user_id"], row["priority"], row["size"]) for row in rows]
    order = {job.id: index for index, job in enumerate(candidates)}
    users = {first["user_id"]}
    claimed: list[Any] = []
    statement = CLAIM.format(next_job=PICK + CLAIM_LOCK[tx.dialect])
    while len(claimed) < limit - 1:
        picks = one_per_user(candidates, limit - 1 - len(claimed), users)
        if not picks:
            break
        for job in picks:
            row = await tx.row(statement, (worker_id, now + lease_seconds, now, job.id))
            if row is not None:
                claimed.append(row)
                users.add(job.user_id)
        # A pick that was not claimed is held or taken by another claim: try that user's next one.
        tried = {job.id for job in picks}
        candidates = [job for job in candidates if job.id not in tried]
    return sorted(claimed, key=lambda row: order[row["id"]])


async def leased(tx: Tx, job_id: int, worker_id: str) -> Any:
    """The job's row, locked, if `worker_id` still holds its lease; else LeaseLost."""
    row = await tx.row("SELECT * FROM jobs WHERE id = ?" + tx.for_update, (job_id,))
    if row is None:
        raise LeaseLost(f"job {job_id} no longer exists")
    if row["status"] != JobStatus.RUNNING or row["lease_owner"] != worker_id:
        raise LeaseLost(
            f"job {job_id} is {row['status']} and leased to {row['lease_owner']!r}, not to {worker_id!r}"
        )
    return row


async def heartbeat(tx: Tx, job_id: int, worker_id: str, lease_seconds: float, now: float) -> bool:
    """Extend the lease. Returns True if the user asked to cancel."""
    row = await leased(tx, job_id, worker_id)
    await tx.execute("UPDATE jobs SET lease_expires_at = ? WHERE id = ?", (now + lease_seconds, job_id))
    await tx.execute("UPDATE workers SET heartbeat_at = ? WHERE id = ?", (now, worker_id))
    return bool(row["cancel_requested"])


async def report_progress(
    tx: Tx, job_id: int, worker_id: str, progress: JobProgress, preview: bytes | None, now: float
) -> None:
    """Record how far the painting is; a new preview replaces the job's previous one."""
    row = await leased(tx, job_id, worker_id)
    preview_key = row["preview_key"]
    if preview is not None:
        preview_key = blobs.preview_key(job_id, progress.scale, progress.step)
        await blobs.put(tx, preview_key, preview, now)
        await blobs.delete_like(tx, blobs.previews_of(job_id), keep=preview_key)
    await jobs.update(
        tx,
        job_id,
        progress_scale=progress.scale,
        progress_scales=progress.scales,
        progress_step=progress.step,
        progress_total=progress.total,
        progress_work=progress.work,
        eta_seconds=progress.eta_seconds,
        preview_key=preview_key,
        losses=json.dumps(progress.losses),
    )
    await tx.notify()


async def complete(tx: Tx, job_id: int, worker_id: str, result: bytes, note: str | None, now: float) -> Job:
    """running -> done, with the painting's bytes stored in the same transaction."""
    await leased(tx, job_id, worker_id)
    key = blobs.result_key(job_id)
    await blobs.put(tx, key, result, now)
    return await jobs.finish(tx, job_id, JobStatus.DONE, now, result_key=key, note=note, eta_seconds=0.0)


async def fail(tx: Tx, job_id: int, worker_id: str, error: str, now: float) -> Job:
    await leased(tx, job_id, worker_id)
    return await jobs.finish(tx, job_id, JobStatus.FAILED, now, error=error)


async def mark_cancelled(tx: Tx, job_id: int, worker_id: str, now: float) -> Job:
    await leased(tx, job_id, worker_id)
    return await jobs.finish(tx, job_id, JobStatus.CANCELLED, now)


async def release(tx: Tx, job_id: int, worker_id: str, now: float) -> Job:
    """running -> queued without counting an attempt (clean shutdown)."""
    row = await leased(tx, job_id, worker_id)
    if row["cancel_requested"]:  # the user wanted it gone anyway
        return await jobs.finish(tx, job_id, JobStatus.CANCELLED, now)
    await tx.notify()  # another worker may take it at once
    return await jobs.update(
        tx, job_id, status=JobStatus.QUEUED, lease_owner=None, lease_expires_at=None, eta_seconds=None
    )


async def requeue_expired(tx: Tx, max_attempts: int, now: float) -> int:
    """Expired leases go back to queued with attempts+1, or to failed after max_attempts."""
    lock = " FOR UPDATE SKIP LOCKED" if tx.dialect is Dialect.POSTGRES else ""
    expired = await tx.rows(
        "SELECT id, attempts, cancel_requested FROM jobs WHERE status = 'running' AND lease_expires_at < ?"
        + lock,
        (now,),
    )
    for row in expired:
        attempts = row["attempts"] + 1
        if row["cancel_requested"]:
            status, error, finished = JobStatus.CANCELLED, None, now
        elif attempts >= max_attempts:
            status, error, finished = JobStatus.FAILED, str(FailureCode.CRASHED), now
        else:
            status, error, finished = JobStatus.QUEUED, None, None
        await jobs.update(
            tx,
            row["id"],
            status=status,
            attempts=attempts,
            error=error,
            finished_at=finished,
            lease_owner=None,
            lease_expires_at=None,
            eta_seconds=None,
        )
        log.warning(
            "lease of job %d expired: now %s",
            row["id"],
            status,
            extra={"job_id": row["id"], "status": str(status), "attempts": attempts},
        )
    if expired:
        await tx.notify()
    return len(expired)


# --- the worker list ---------------------------------------------------------------------------


async def register_worker(
    tx: Tx, worker_id: str, device: str, now: float, capacity: int = 1, max_size: int | None = None
) -> None:
    """Add or refresh a worker's row; `capacity` (jobs it paints at once) and `max_size` (the largest
    long side it paints) replace the old ones. `capacity < 1` raises ValueError."""
    if capacity < 1:
        raise ValueError(f"a worker paints at least one job at once, not {capacity}")
    await tx.execute(
        "INSERT INTO workers (id, device, heartbeat_at, capacity, max_size) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET device = excluded.device, heartbeat_at = excluded.heartbeat_at,"
        " capacity = excluded.capacity, max_size = excluded.max_size",
        (worker_id, device, now, capacity, max_size),
    )


async def unregister_worker(tx: Tx, worker_id: str) -> None:
    await tx.execute("DELETE FROM workers WHERE id = ?", (worker_id,))


async def workers(tx: Tx, now: float) -> list[WorkerInfo]:
    """Every registered worker with its last heartbeat, newest first; those silent for longer than
    WORKER_FRESH are marked stale (hung, or gone without unregistering)."""
    rows = await tx.rows("SELECT * FROM workers ORDER BY heartbeat_at DESC")
    return [
        WorkerInfo(
            row["id"],
            row["device"],
            row["heartbeat_at"],
            row["capacity"],
            row["max_size"],
            stale=row["heartbeat_at"] < now - WORKER_FRESH,
        )
        for row in rows
    ]
