"""The operator's operations on the store: requeue, force-fail, stats, a user's export, and SQLite's
backup and restore (PostgreSQL is backed up with pg_dump; see deploy/README.md).

`engine/admin.py` is the command line; everything that knows SQL or the database file is here.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from drawme.config import CommonConfig
from drawme.models import FailureCode, IllegalTransition, Job, JobStatus, Stats, UserSettings
from drawme.store import blobs, jobs
from drawme.store.db import Tx
from drawme.store.scheduling import DAY

SQLITE_MAGIC = b"SQLite format 3\x00"


async def requeue(tx: Tx, job_id: int) -> Job:
    """Put a stuck running job or a failed one back in the queue, with fresh attempts."""
    row = await jobs.row_for_update(tx, job_id)
    if row["status"] not in (JobStatus.RUNNING, JobStatus.FAILED):
        raise IllegalTransition(
            f"job {job_id} is {row['status']}; only running or failed jobs can be requeued"
        )
    await tx.notify()
    return await jobs.update(
        tx,
        job_id,
        status=JobStatus.QUEUED,
        attempts=0,
        error=None,
        finished_at=None,
        delivered_at=None,
        lease_owner=None,
        lease_expires_at=None,
        cancel_requested=0,
        eta_seconds=None,
    )


async def force_fail(tx: Tx, job_id: int, now: float) -> Job:
    """Fail a queued or running job as stopped by an operator (FailureCode.STOPPED)."""
    row = await jobs.row_for_update(tx, job_id)
    if row["status"] not in jobs.ACTIVE:
        raise IllegalTransition(f"job {job_id} is {row['status']}; only queued or running jobs can fail")
    return await jobs.finish(tx, job_id, JobStatus.FAILED, now, error=str(FailureCode.STOPPED))


async def stats(tx: Tx, now: float) -> Stats:
    row = await tx.one(
        "SELECT"
        " (SELECT COUNT(*) FROM jobs WHERE status = 'queued'),"
        " (SELECT COUNT(*) FROM jobs WHERE status = 'running'),"
        " (SELECT MIN(created_at) FROM jobs WHERE status = 'queued'),"
        " (SELECT COUNT(*) FROM jobs WHERE status IN ('done', 'delivered') AND finished_at >= ?),"
        " (SELECT COUNT(*) FROM jobs WHERE status = 'failed' AND finished_at >= ?),"
        " (SELECT AVG(finished_at - started_at) FROM jobs WHERE status IN ('done', 'delivered')"
        "   AND finished_at >= ?),"
        " (SELECT COUNT(DISTINCT user_id) FROM jobs WHERE created_at >= ?)",
        (now - 3600, now - 3600, now - DAY, now - DAY),
    )
    from drawme.store import claims  # the worker list lives with the leases

    return Stats(
        queued=row[0],
        running=row[1],
        oldest_queued_age=now - row[2] if row[2] is not None else None,
        done_last_hour=row[3],
        failed_last_hour=row[4],
        avg_duration_seconds=row[5],
        users_today=row[6],
        workers=await claims.workers(tx, now),
    )


async def export_user(tx: Tx, user_id: int) -> dict[str, Any]:
    """Everything stored about one user (for a data request): settings, jobs, and the keys of their
    files (`files`); read the bytes with `blobs.get`."""
    user = await tx.row("SELECT * FROM users WHERE id = ?", (user_id,))
    images = await tx.rows("SELECT * FROM images WHERE owner_id = ? ORDER BY id", (user_id,))
    rows = await tx.rows("SELECT * FROM jobs WHERE user_id = ? ORDER BY id", (user_id,))
    settings = UserSettings.from_json(json.loads(user["settings"])) if user and user["settings"] else None
    exported_jobs = []
    for row in rows:
        job = asdict(jobs.to_job(row))
        job["status"] = str(job["status"])
        exported_jobs.append(job)
    return {
        "user_id": user_id,
        "settings": (settings or UserSettings()).to_json(),
        "banned": bool(user["banned"]) if user else False,
        "images": [asdict(jobs.to_image(row)) for row in images],
        "jobs": exported_jobs,
        "files": sorted(
            {row["key"] for row in images}
            | {row["result_key"] for row in rows if row["result_key"]}
            | {row["preview_key"] for row in rows if row["preview_key"]}
        ),
    }


async def export_files(tx: Tx, keys: list[str]) -> dict[str, bytes]:
    found = {}
    for key in keys:
        data = await blobs.get(tx, key)
        if data is not None:
            found[key] = data
    return found


# --- SQLite's database file ----------------------------------------------------------------------


def temp_beside(dest: Path) -> Path:
    return dest.with_name(f".{dest.name}.{os.getpid()}.tmp")


def check_sqlite_file(source: Path) -> None:
    if not source.is_file():
        raise ValueError(f"{source} is not a file")
    with source.open("rb") as file:
        if file.read(len(SQLITE_MAGIC)) != SQLITE_MAGIC:
            raise ValueError(f"{source} is not an SQLite database")


async def restore_sqlite(common: CommonConfig, source: Path, open_and_check: Any) -> Path | None:
    """Replace the SQLite database by the backup `source`; returns where the old one was kept.

    The backup is first copied next to the database and opened as a job store by `open_and_check`
    (which checks it and runs any migrations), then moved into place with one atomic rename."""
    check_sqlite_file(source)
    common.data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".restore-", dir=common.data_dir) as staging:
        staged = replace(common, data_dir=Path(staging))
        shutil.copyfile(source, staged.db_path)
        try:
            await open_and_check(staged)
        except Exception as error:
            raise ValueError(f"{source} is not a usable drawme database: {error}") from None
        kept = _set_aside(common.db_path)
        staged.db_path.replace(common.db_path)
    return kept


def _set_aside(db_path: Path) -> Path | None:
    """Rename the current database (and its WAL files, which belong to it alone) out of the way."""
    if not db_path.exists():
        return None
    kept = db_path.with_name(f"{db_path.name}.before-restore-{time.strftime('%Y%m%d-%H%M%S')}")
    db_path.replace(kept)
    for suffix in ("-wal", "-shm"):
        companion = db_path.with_name(db_path.name + suffix)
        if companion.exists():
            companion.replace(kept.with_name(kept.name + suffix))
    return kept
