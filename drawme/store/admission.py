"""Admission: a submit checks the fair-use limits inside its own transaction, then queues the job.

Refusals are data (`models.Refusal`); the bot words them. The checks and the insert share one
transaction, so two submits can never both take the last place: SQLite's BEGIN IMMEDIATE serialises
writers, and on PostgreSQL a transaction-scoped advisory lock serialises submits (they are few and
short next to claims, which stay concurrent).
"""

from __future__ import annotations

import json

from drawme.config import Limits
from drawme.models import Job, JobRequest, Limit, LimitExceeded, Refusal
from drawme.painting import batch_key
from drawme.store import jobs, queue, scheduling
from drawme.store.db import Dialect, Tx
from drawme.store.scheduling import DAY

SUBMIT_LOCK = 0x73756200  # pg_advisory_xact_lock key of submits ("sub")


async def batch_key_of(tx: Tx, request: JobRequest) -> str | None:
    """The job's `painting.batch_key` (recipe and canvas shape), from its photo's stored size; None
    when the photo is unknown (the insert's foreign key then refuses the job as before)."""
    image = await tx.row("SELECT width, height FROM images WHERE id = ?", (request.content_image_id,))
    if image is None:
        return None
    return batch_key(request.params.recipe, request.params.size, image["width"], image["height"])


async def submit(tx: Tx, request: JobRequest, limits: Limits, now: float) -> Job:
    """Queue a job. Raises `LimitExceeded` naming the limit and when it frees up."""
    if tx.dialect is Dialect.POSTGRES:
        await tx.execute("SELECT pg_advisory_xact_lock(?)", (SUBMIT_LOCK,))
    today = int(now // DAY)
    await jobs.ensure_user(tx, request.user_id, now)
    user = await tx.one("SELECT banned, quota_day, quota_used FROM users WHERE id = ?", (request.user_id,))
    if user["banned"]:
        raise LimitExceeded(Refusal(Limit.BANNED))
    used_today = user["quota_used"] if user["quota_day"] == today else 0
    if used_today >= limits.daily_quota:
        resets = scheduling.next_midnight(now)
        raise LimitExceeded(
            Refusal(Limit.DAILY_QUOTA, limits.daily_quota, used_today, resets - now, resets)
        )
    mine = await tx.value(
        f"SELECT COUNT(*) FROM jobs WHERE status IN {jobs.sql_in(jobs.ACTIVE)} AND user_id = ?",
        (request.user_id,),
    )
    if mine >= limits.max_queued_per_user:
        etas = await queue.etas(tx, now)
        waits = [
            etas[job.id][1] for job in await jobs.jobs_of(tx, request.user_id, True) if job.id in etas
        ]
        wait = min(waits) if waits else None
        raise LimitExceeded(
            Refusal(
                Limit.PER_USER,
                limits.max_queued_per_user,
                mine,
                wait,
                None if wait is None else now + wait,
            )
        )
    queued = await tx.value("SELECT COUNT(*) FROM jobs WHERE status = 'queued'")
    if queued >= limits.max_queue:
        wait = scheduling.queue_drain_wait(
            await queue.seconds_per_pixel(tx), request.params.size, await queue.worker_capacity(tx, now)
        )
        raise LimitExceeded(Refusal(Limit.QUEUE_FULL, limits.max_queue, queued, wait, now + wait))
    await tx.execute(
        "UPDATE users SET quota_day = ?, quota_used = ? WHERE id = ?",
        (today, used_today + 1, request.user_id),
    )
    row = await tx.row(
        "INSERT INTO jobs (user_id, chat_id, content_image_id, style_preset, style_image_id, params,"
        " size, priority, created_at, batch_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
        (
            request.user_id,
            request.chat_id,
            request.content_image_id,
            request.style_preset,
            request.style_image_id,
            json.dumps(request.params.to_json()),
            request.params.size,
            request.priority,
            now,
            await batch_key_of(tx, request),
        ),
    )
    await tx.notify()  # an idle worker starts it at once
    return jobs.to_job(row)
