"""Jobs as rows: conversion to the shared models, reads, and the bot's transitions (cancel, status
message, delivered). Every function takes an open transaction (`db.Tx`)."""

from __future__ import annotations

import functools
import json
from typing import Any

from drawme.models import (
    IllegalTransition,
    Job,
    JobProgress,
    JobStatus,
    PaintParams,
    StoredImage,
)
from drawme.store.db import Tx

ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)
FINISHED = (JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.DELIVERED)


def sql_in(values: tuple[JobStatus, ...]) -> str:
    """A literal `IN (...)` list of statuses (enum values only, never user input)."""
    return "(" + ",".join(f"'{value}'" for value in values) + ")"


@functools.lru_cache(maxsize=1024)
def parse_params(text: str) -> PaintParams:
    """Parsed PaintParams by their JSON (immutable, and most jobs share a few settings): keeps the
    bot's frequent poll cheap."""
    return PaintParams.from_json(json.loads(text))


def to_job(row: Any) -> Job:
    return Job(
        id=row["id"],
        user_id=row["user_id"],
        chat_id=row["chat_id"],
        status=JobStatus(row["status"]),
        params=parse_params(row["params"]),
        content_image_id=row["content_image_id"],
        style_preset=row["style_preset"],
        style_image_id=row["style_image_id"],
        priority=row["priority"],
        attempts=row["attempts"],
        progress=JobProgress(
            scale=row["progress_scale"],
            scales=row["progress_scales"],
            step=row["progress_step"],
            total=row["progress_total"],
            eta_seconds=row["eta_seconds"],
            preview_key=row["preview_key"],
            losses=json.loads(row["losses"]) if row["losses"] else {},
            work=row["progress_work"],
        ),
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        delivered_at=row["delivered_at"],
        result_key=row["result_key"],
        error=row["error"],
        status_message_id=row["status_message_id"],
        cancel_requested=bool(row["cancel_requested"]),
        lease_owner=row["lease_owner"],
        lease_expires_at=row["lease_expires_at"],
        note=row["note"],
    )


def to_image(row: Any) -> StoredImage:
    return StoredImage(
        id=row["id"],
        owner_id=row["owner_id"],
        sha256=row["sha256"],
        key=row["key"],
        width=row["width"],
        height=row["height"],
    )


async def ensure_user(tx: Tx, user_id: int, now: float) -> None:
    await tx.execute(
        "INSERT INTO users (id, created_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING", (user_id, now)
    )


async def get(tx: Tx, job_id: int) -> Job | None:
    row = await tx.row("SELECT * FROM jobs WHERE id = ?", (job_id,))
    return to_job(row) if row else None


async def jobs_of(tx: Tx, user_id: int, active_only: bool) -> list[Job]:
    status = f" AND status IN {sql_in(ACTIVE)}" if active_only else ""
    rows = await tx.rows(f"SELECT * FROM jobs WHERE user_id = ?{status} ORDER BY id", (user_id,))
    return [to_job(row) for row in rows]


async def undelivered(tx: Tx) -> list[Job]:
    """Cheap: a partial index holds only the rows with `delivered_at IS NULL`."""
    rows = await tx.rows("SELECT * FROM jobs WHERE delivered_at IS NULL ORDER BY id")
    return [to_job(row) for row in rows]


async def row_for_update(tx: Tx, job_id: int) -> Any:
    row = await tx.row("SELECT * FROM jobs WHERE id = ?" + tx.for_update, (job_id,))
    if row is None:
        raise KeyError(f"no job {job_id}")
    return row


async def update(tx: Tx, job_id: int, **values: Any) -> Job:
    columns = ", ".join(f"{name} = ?" for name in values)
    row = await tx.row(f"UPDATE jobs SET {columns} WHERE id = ? RETURNING *", (*values.values(), job_id))
    return to_job(row)


async def finish(tx: Tx, job_id: int, status: JobStatus, now: float, **values: Any) -> Job:
    """Move a job to a final status: stamp finished_at, give up its lease, wake the bots."""
    await tx.notify()
    return await update(
        tx, job_id, status=status, finished_at=now, lease_owner=None, lease_expires_at=None, **values
    )


async def cancel(tx: Tx, job_id: int, now: float) -> Job:
    """Queued: cancelled at once. Running: cancel_requested, the worker stops within a step."""
    row = await row_for_update(tx, job_id)
    status = JobStatus(row["status"])
    if status == JobStatus.QUEUED:
        await tx.notify()
        return await update(tx, job_id, status=JobStatus.CANCELLED, finished_at=now)
    if status == JobStatus.RUNNING:
        return await update(tx, job_id, cancel_requested=1)
    raise IllegalTransition(f"job {job_id} is {status}; only queued or running jobs can be cancelled")


async def mark_delivered(tx: Tx, job_id: int, message_id: int | None, now: float) -> Job:
    """done -> delivered (recording the sent message id); failed/cancelled: sets delivered_at."""
    row = await row_for_update(tx, job_id)
    status = JobStatus(row["status"])
    message = message_id if message_id is not None else row["status_message_id"]
    if status == JobStatus.DONE:
        return await update(
            tx, job_id, status=JobStatus.DELIVERED, delivered_at=now, status_message_id=message
        )
    if status in (JobStatus.FAILED, JobStatus.CANCELLED) and row["delivered_at"] is None:
        return await update(tx, job_id, delivered_at=now, status_message_id=message)
    already = " and already delivered" if row["delivered_at"] else ""
    raise IllegalTransition(f"job {job_id} is {status}{already}; cannot deliver it")
