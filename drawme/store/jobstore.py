"""`JobStore`: the one implementation of the bot's and the worker's sides of the seam
(`drawme.backend.BotBackend` and `WorkerBackend`, which document each method), on SQLite or PostgreSQL.

Each method is one transaction that calls the module of its concern (admission, claims, jobs,
blobs, settings, retention, admin). Times come from an injected clock so tests can move time
(leases, quotas, retention). The operator's tools (bans, requeue, force-fail, retention on demand,
backup) are on this class alone, documented here: they are neither side's.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from drawme.backend import BotBackend, WorkerBackend
from drawme.config import CommonConfig
from drawme.models import (
    Conversation,
    Display,
    Job,
    JobProgress,
    JobRequest,
    QueueInfo,
    SharedPainting,
    Stats,
    StoredImage,
    UserSettings,
    WorkerInfo,
)
from drawme.store import admin, admission, blobs, botstate, claims, jobs, queue, retention, schema, settings
from drawme.store.db import Database, Dialect, PostgresDatabase, SqliteDatabase
from drawme.store.scheduling import DAY

log = logging.getLogger(__name__)


class JobStore(BotBackend, WorkerBackend):
    """The job store. Open with `await open_store(common)`; DATABASE_URL picks the engine."""

    def __init__(self, common: CommonConfig, db: Database, clock: Callable[[], float]) -> None:
        self.common = common
        self.limits = common.limits
        self.db = db
        self._clock = clock

    @property
    def dialect(self) -> Dialect:
        return self.db.dialect

    # --- lifecycle ---------------------------------------------------------------------------

    @classmethod
    async def open(cls, common: CommonConfig, *, clock: Callable[[], float] = time.time) -> JobStore:
        """Connect (SQLite file under DATA_DIR, or DATABASE_URL) and migrate under a lock."""
        if common.database_url:
            db: Database = await PostgresDatabase.connect(common.database_url, common.db_pool_size)
        else:
            db = await SqliteDatabase.connect(common.db_path)
        try:
            await schema.migrate(db, clock())
        except BaseException:
            await db.close()
            raise
        return cls(common, db, clock)

    async def close(self) -> None:
        await self.db.close()

    async def schema_version(self) -> int:
        """The schema migration the database is at."""
        async with self.db.transaction(write=False) as tx:
            return await schema.version(tx)

    async def wait_for_change(self, timeout: float) -> bool:
        return await self.db.wait_for_change(timeout)

    # --- images ------------------------------------------------------------------------------

    async def store_image(
        self,
        owner_id: int,
        data: bytes,
        width: int,
        height: int,
        conversation: Conversation | None = None,
    ) -> StoredImage:
        digest = await asyncio.to_thread(lambda: hashlib.sha256(data).hexdigest())
        key = blobs.image_key(owner_id, digest, data)
        now = self._clock()
        async with self.db.transaction() as tx:
            await jobs.ensure_user(tx, owner_id, now)
            await blobs.put(tx, key, data, now)
            row = await tx.one(
                "INSERT INTO images (owner_id, sha256, key, width, height, bytes, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (owner_id, sha256) DO UPDATE SET created_at ="
                " excluded.created_at RETURNING *",  # a re-sent picture lives another retention period
                (owner_id, digest, key, width, height, len(data), now),
            )
            if conversation is not None:
                if conversation.pending_photo == 0:
                    conversation = replace(conversation, pending_photo=row["id"])
                await botstate.save_conversation(tx, owner_id, conversation, now)
        return jobs.to_image(row)

    async def get_image(self, image_id: int) -> StoredImage | None:
        rows = await self.db.rows("SELECT * FROM images WHERE id = ?", (image_id,))
        return jobs.to_image(rows[0]) if rows else None

    async def get_image_bytes(self, image_id: int) -> bytes | None:
        async with self.db.transaction(write=False) as tx:
            key = await tx.value("SELECT key FROM images WHERE id = ?", (image_id,))
            return None if key is None else await blobs.get(tx, key)

    async def get_result(self, job_id: int) -> bytes | None:
        async with self.db.transaction(write=False) as tx:
            key = await tx.value("SELECT result_key FROM jobs WHERE id = ?", (job_id,))
            return None if key is None else await blobs.get(tx, key)

    async def get_preview(self, job_id: int) -> bytes | None:
        async with self.db.transaction(write=False) as tx:
            key = await tx.value("SELECT preview_key FROM jobs WHERE id = ?", (job_id,))
            return None if key is None else await blobs.get(tx, key)

    # --- settings and bans -------------------------------------------------------------------

    async def get_settings(self, user_id: int) -> UserSettings:
        async with self.db.transaction(write=False) as tx:
            return await settings.get(tx, user_id)

    async def save_settings(self, user_id: int, user_settings: UserSettings) -> None:
        async with self.db.transaction() as tx:
            await settings.save(tx, user_id, user_settings, self._clock())

    async def set_banned(self, user_id: int, banned: bool = True) -> None:
        """Ban (or unban) a user: their submits are refused."""
        async with self.db.transaction() as tx:
            await settings.set_banned(tx, user_id, banned, self._clock())

    # --- the bot's half ----------------------------------------------------------------------

    async def submit(
        self, request: JobRequest, *, origin: int | None = None, conversation: Conversation | None = None
    ) -> Job:
        now = self._clock()
        async with self.db.transaction() as tx:
            if origin is not None and (made := await botstate.job_of_origin(tx, origin)) is not None:
                job_made = await jobs.get(tx, made)
                assert job_made is not None  # the origin row is deleted with its job (ON DELETE CASCADE)
                return job_made
            job = await admission.submit(tx, request, self.limits, now)
            await botstate.submitted(tx, job.id, request.user_id, request.chat_id, origin, conversation, now)
            return job

    async def job_of_origin(self, update_id: int) -> Job | None:
        async with self.db.transaction(write=False) as tx:
            job_id = await botstate.job_of_origin(tx, update_id)
            return await jobs.get(tx, job_id) if job_id is not None else None

    # --- the bot's own state: displays and delivery leases, conversations, the inbox -------------

    async def claim_deliveries(
        self, owner: str, job_ids: list[int], lease_seconds: float
    ) -> dict[int, Display]:
        if not job_ids:
            return {}  # an idle bot's poll takes no write lock
        async with self.db.transaction() as tx:
            return await botstate.claim_deliveries(tx, owner, job_ids, lease_seconds, self._clock())

    async def release_deliveries(self, owner: str) -> None:
        async with self.db.transaction() as tx:
            await botstate.release_deliveries(tx, owner)

    async def save_display(self, job_id: int, display: Display) -> None:
        async with self.db.transaction() as tx:
            await botstate.save_display(tx, job_id, display)

    async def mark_unreachable(self, chat_id: int) -> None:
        async with self.db.transaction() as tx:
            await botstate.mark_unreachable(tx, chat_id, self._clock())

    async def unreachable_among(self, chat_ids: list[int]) -> set[int]:
        if not chat_ids:
            return set()
        async with self.db.transaction(write=False) as tx:
            return await botstate.unreachable_among(tx, chat_ids)

    async def recent_paintings(self, user_id: int, limit: int) -> list[SharedPainting]:
        async with self.db.transaction(write=False) as tx:
            return await botstate.recent_paintings(tx, user_id, limit)

    async def get_conversation(self, user_id: int) -> Conversation:
        async with self.db.transaction(write=False) as tx:
            return await botstate.get_conversation(tx, user_id)

    async def save_conversation(self, user_id: int, conversation: Conversation) -> None:
        async with self.db.transaction() as tx:
            await botstate.save_conversation(tx, user_id, conversation, self._clock())

    async def inbox_add(self, update_id: int, body: str, owner: str, user_id: int | None = None) -> bool:
        async with self.db.transaction() as tx:
            return await botstate.inbox_add(tx, update_id, body, owner, user_id, self._clock())

    async def inbox_done(self, update_id: int) -> None:
        async with self.db.transaction() as tx:
            await botstate.inbox_done(tx, update_id, self._clock())

    async def inbox_leftovers(self, owner: str, stale_after: float) -> list[tuple[int, str]]:
        async with self.db.transaction() as tx:
            return await botstate.inbox_leftovers(tx, owner, stale_after, self._clock())

    async def get(self, job_id: int) -> Job | None:
        async with self.db.transaction(write=False) as tx:
            return await jobs.get(tx, job_id)

    async def jobs_of(self, user_id: int, active_only: bool = True) -> list[Job]:
        async with self.db.transaction(write=False) as tx:
            return await jobs.jobs_of(tx, user_id, active_only)

    async def undelivered(self) -> list[Job]:
        async with self.db.transaction(write=False) as tx:
            return await jobs.undelivered(tx)

    async def position(self, job_id: int) -> QueueInfo:
        return (await self.positions()).get(job_id, QueueInfo(ahead=0, eta_seconds=None))

    async def positions(self) -> dict[int, QueueInfo]:
        async with self.db.transaction(write=False) as tx:
            return queue.as_queue_info(await queue.etas(tx, self._clock()))

    async def cancel(self, job_id: int) -> Job:
        async with self.db.transaction() as tx:
            return await jobs.cancel(tx, job_id, self._clock())

    async def mark_delivered(self, job_id: int, message_id: int | None) -> Job:
        async with self.db.transaction() as tx:
            return await jobs.mark_delivered(tx, job_id, message_id, self._clock())

    # --- the worker's half -------------------------------------------------------------------

    async def register_worker(
        self, worker_id: str, device: str, capacity: int = 1, max_size: int | None = None
    ) -> None:
        async with self.db.transaction() as tx:
            await claims.register_worker(tx, worker_id, device, self._clock(), capacity, max_size)

    async def unregister_worker(self, worker_id: str) -> None:
        async with self.db.transaction() as tx:
            await claims.unregister_worker(tx, worker_id)

    async def workers(self) -> list[WorkerInfo]:
        async with self.db.transaction(write=False) as tx:
            return await claims.workers(tx, self._clock())

    async def seconds_per_pixel(self) -> float | None:
        async with self.db.transaction(write=False) as tx:
            return await queue.measured_seconds_per_pixel(tx)

    async def claim(self, worker_id: str, lease_seconds: float) -> Job | None:
        async with self.db.transaction() as tx:
            return await claims.claim(tx, worker_id, lease_seconds, self._clock())

    async def claim_batch(self, worker_id: str, lease_seconds: float, limit: int) -> list[Job]:
        async with self.db.transaction() as tx:
            return await claims.claim_batch(tx, worker_id, lease_seconds, limit, self._clock())

    async def heartbeat(self, job_id: int, worker_id: str, lease_seconds: float) -> bool:
        async with self.db.transaction() as tx:
            return await claims.heartbeat(tx, job_id, worker_id, lease_seconds, self._clock())

    async def report_progress(
        self, job_id: int, worker_id: str, progress: JobProgress, preview: bytes | None = None
    ) -> None:
        async with self.db.transaction() as tx:
            await claims.report_progress(tx, job_id, worker_id, progress, preview, self._clock())

    async def complete(self, job_id: int, worker_id: str, result: bytes, note: str | None = None) -> Job:
        if not result:
            raise ValueError(f"the result of job {job_id} is empty")
        async with self.db.transaction() as tx:
            return await claims.complete(tx, job_id, worker_id, result, note, self._clock())

    async def fail(self, job_id: int, worker_id: str, error: str) -> Job:
        async with self.db.transaction() as tx:
            return await claims.fail(tx, job_id, worker_id, error, self._clock())

    async def mark_cancelled(self, job_id: int, worker_id: str) -> Job:
        async with self.db.transaction() as tx:
            return await claims.mark_cancelled(tx, job_id, worker_id, self._clock())

    async def release(self, job_id: int, worker_id: str) -> Job:
        async with self.db.transaction() as tx:
            return await claims.release(tx, job_id, worker_id, self._clock())

    async def requeue_expired(self) -> int:
        async with self.db.transaction() as tx:
            return await claims.requeue_expired(tx, self.limits.max_attempts, self._clock())

    # --- retention and /forget ----------------------------------------------------------------

    async def purge(self, older_than_seconds: float | None = None) -> dict[str, int]:
        """Delete finished jobs, inputs, previews and results older than the retention period."""
        age = self.limits.retention_days * DAY if older_than_seconds is None else older_than_seconds
        now = self._clock()
        async with self.db.transaction() as tx:
            counts = await retention.purge(tx, now - age, now)
        log.info(
            "retention: removed %d jobs, %d images, %d files",
            counts["jobs"],
            counts["images"],
            counts["files"],
        )
        return counts

    async def purge_if_due(self, owner: str, interval: float) -> dict[str, int] | None:
        # one process at a time across every machine: a row in `maintenance` is the lease
        async with self.db.transaction() as tx:
            due = await retention.take_turn(tx, retention.RETENTION_TASK, owner, interval, self._clock())
        return await self.purge() if due else None

    async def forget(self, user_id: int) -> int:
        async with self.db.transaction() as tx:
            files = await retention.forget(tx, user_id)
            await botstate.forget(tx, user_id)
        return files

    # --- operations (the admin CLI): this class's own, neither side's ---------------------------

    async def requeue(self, job_id: int) -> Job:
        """A stuck running or failed job back in the queue."""
        async with self.db.transaction() as tx:
            return await admin.requeue(tx, job_id)

    async def force_fail(self, job_id: int) -> Job:
        """End a job as failed; the user is told an operator stopped it."""
        async with self.db.transaction() as tx:
            return await admin.force_fail(tx, job_id, self._clock())

    async def stats(self) -> Stats:
        async with self.db.transaction(write=False) as tx:
            return await admin.stats(tx, self._clock())

    async def export_user(self, user_id: int) -> dict[str, Any]:
        async with self.db.transaction(write=False) as tx:
            return await admin.export_user(tx, user_id)

    async def export_files(self, keys: list[str]) -> dict[str, bytes]:
        async with self.db.transaction(write=False) as tx:
            return await admin.export_files(tx, keys)

    async def backup(self, dest: Path) -> None:
        """A consistent copy of an SQLite store at `dest` (online; safe while running). A PostgreSQL
        store is backed up with pg_dump (deploy/README.md)."""
        if not isinstance(self.db, SqliteDatabase):
            raise ValueError("this store is PostgreSQL: back it up with pg_dump (see deploy/README.md)")
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        temp = admin.temp_beside(dest)
        temp.unlink(missing_ok=True)
        try:
            await self.db.backup(temp)
            temp.replace(dest)
        finally:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()


async def open_store(common: CommonConfig, *, clock: Callable[[], float] = time.time) -> JobStore:
    """The job store DATABASE_URL names (empty: SQLite under DATA_DIR), migrated and ready."""
    return await JobStore.open(common, clock=clock)
