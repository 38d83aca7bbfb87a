"""Retention and /forget: delete finished jobs, their pictures, previews and paintings.

Retention runs on a schedule that does not depend on an idle worker: every worker asks
`purge_if_due` now and then, busy or not, and a row in `maintenance` acts as a lease so that one
process at a time (on any machine) runs it, once per interval.
"""

from __future__ import annotations

import logging
from typing import Any

from drawme.models import JobStatus
from drawme.store import blobs, jobs
from drawme.store.db import Tx

log = logging.getLogger(__name__)

RETENTION_TASK = "retention"


async def _delete_jobs(tx: Tx, rows: list[Any]) -> tuple[list[str], int, int]:
    """Delete job rows and their previews. Returns their result keys (for the caller to delete with
    the rest) and the previews' count and bytes."""
    previews = size = 0
    for row in rows:
        await tx.execute("DELETE FROM jobs WHERE id = ?", (row["id"],))
        count, length = await blobs.delete_like(tx, blobs.previews_of(row["id"]))
        previews, size = previews + count, size + length
    return [row["result_key"] for row in rows if row["result_key"]], previews, size


async def _delete_images(tx: Tx, rows: list[Any]) -> list[str]:
    """Delete image rows; return the keys no remaining row refers to."""
    keys = []
    for row in rows:
        await tx.execute("DELETE FROM images WHERE id = ?", (row["id"],))
        if await tx.row("SELECT 1 FROM images WHERE key = ?", (row["key"],)) is None:
            keys.append(row["key"])
    return keys


async def _mixed_in_images(tx: Tx) -> set[int]:
    """The pictures that remaining jobs mix in as extra styles (`PaintParams.mix`)."""
    rows = await tx.rows("SELECT params FROM jobs WHERE params LIKE ?", ("%image_id%",))
    return {
        style.image_id
        for row in rows
        for style in jobs.parse_params(row["params"]).mix
        if style.image_id is not None
    }


async def purge(tx: Tx, cutoff: float, now: float) -> dict[str, int]:
    """Delete what finished (or was uploaded) before `cutoff`. Returns the counts."""
    finished = jobs.sql_in((JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.DELIVERED))
    old_jobs = await tx.rows(
        f"SELECT id, result_key FROM jobs WHERE status IN {finished}"
        " AND COALESCE(finished_at, created_at) < ?",
        (cutoff,),
    )
    keys, previews, previews_size = await _delete_jobs(tx, old_jobs)
    # An input goes once it is old and no remaining job refers to it: as its photo, its style, or a
    # style mixed in (kept in the job's params, so a queued mix, or a result's "shift the mix" button,
    # still finds its picture).
    old_images = await tx.rows(
        "SELECT id, key FROM images WHERE created_at < ? AND NOT EXISTS (SELECT 1 FROM jobs"
        " WHERE content_image_id = images.id OR style_image_id = images.id)",
        (cutoff,),
    )
    mixed_in = await _mixed_in_images(tx) if old_images else set()
    old_images = [row for row in old_images if row["id"] not in mixed_in]
    keys += await _delete_images(tx, old_images)
    # Previews of jobs that no longer exist (e.g. a row deleted by hand).
    orphans = await tx.rows(
        "SELECT key FROM blobs WHERE key LIKE ? AND created_at < ?", ("previews/%", cutoff)
    )
    live = {row[0] for row in await tx.rows("SELECT preview_key FROM jobs WHERE preview_key IS NOT NULL")}
    keys += [row[0] for row in orphans if row[0] not in live]
    files, size = await blobs.delete(tx, keys)
    await tx.execute("DELETE FROM workers WHERE heartbeat_at < ?", (now - 86_400.0,))
    counts = {
        "jobs": len(old_jobs),
        "images": len(old_images),
        "files": files + previews,
        "bytes": size + previews_size,
    }
    return counts


async def forget(tx: Tx, user_id: int) -> int:
    """Delete every image, job, file and setting of a user. Returns the number of files removed.

    The ban flag and today's quota count stay (just those two numbers), so /forget cannot be used to
    dodge a ban or the daily quota."""
    rows = await tx.rows("SELECT id, result_key FROM jobs WHERE user_id = ?", (user_id,))
    keys, previews, _ = await _delete_jobs(tx, rows)
    images = await tx.rows("SELECT id, key FROM images WHERE owner_id = ?", (user_id,))
    keys += await _delete_images(tx, images)
    await tx.execute("UPDATE users SET settings = NULL WHERE id = ?", (user_id,))
    files, _ = await blobs.delete(tx, keys)
    return files + previews


async def take_turn(tx: Tx, task: str, owner: str, interval: float, now: float) -> bool:
    """True if `owner` may run `task` now: it was never run, or its interval has passed. The row
    moves on at once, so every other process sees "not due" until the next interval."""
    await tx.execute(
        "INSERT INTO maintenance (task, due_at, owner) VALUES (?, ?, NULL) ON CONFLICT (task) DO NOTHING",
        (task, now),
    )
    row = await tx.row(
        "UPDATE maintenance SET due_at = ?, owner = ? WHERE task = ? AND due_at <= ? RETURNING task",
        (now + interval, owner, task, now),
    )
    return row is not None



