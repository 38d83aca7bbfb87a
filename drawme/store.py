"""The durable job store: one SQLite file shared by the bot process and every engine worker.

`SqliteJobStore` is the one implementation of `drawme.backend.JobBackend`. All SQL of the project
lives here (and the DDL in `drawme.schema`). Each process opens its own connection; SQLite's WAL
mode lets readers run while one writer writes, and every read-then-write happens in a single
`BEGIN IMMEDIATE` transaction so two processes can never both act on the same stale read.

Times come from an injected clock so tests can move time (leases, quotas, retention).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import heapq
import json
import logging
import math
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import aiosqlite

from drawme import botstate, schema
from drawme.config import CommonConfig
from drawme.models import (
    Conversation,
    Display,
    IllegalTransition,
    Job,
    JobProgress,
    JobRequest,
    JobStatus,
    LeaseLost,
    LimitExceeded,
    PaintParams,
    QueueInfo,
    Stats,
    StoredImage,
    StoreUnavailable,
    UserSettings,
    WorkerInfo,
)

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000
FAIRNESS_WINDOW = 3600.0  # "started recently" for fair claiming
DAY = 86_400.0
# Without history: a CPU paints 384 px in about a minute; ETAs scale with the pixel count.
DEFAULT_SECONDS_PER_PIXEL = 60.0 / (384 * 384)
ETA_HISTORY = 50  # finished jobs the duration estimate looks at
WORKER_FRESH = 120.0  # a worker that beat within this many seconds counts for ETAs

ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)

# How many jobs the user in `queued_users.user_id` started since the bound time (index jobs_user_started).
RECENT_STARTS = (
    "(SELECT COUNT(*) FROM jobs AS recent WHERE recent.user_id = queued_users.user_id"
    " AND recent.started_at >= ?)"
)
# The fairest queued job: among each user's next job (highest priority, then oldest), the one of the
# user with the fewest recent starts, then by priority and age. Only one row per waiting user is
# sorted, so the cost follows the number of waiting users, not the length of the queue.
NEXT_JOB = (
    "SELECT heads.id FROM (SELECT queued_users.user_id AS user_id,"
    "   (SELECT id FROM jobs AS head WHERE head.status = 'queued' AND head.user_id = queued_users.user_id"
    "    ORDER BY head.priority DESC, head.id LIMIT 1) AS id,"
    f"  {RECENT_STARTS} AS started"
    "   FROM (SELECT DISTINCT user_id FROM jobs WHERE status = 'queued') AS queued_users) AS heads"
    " JOIN jobs ON jobs.id = heads.id ORDER BY heads.started, jobs.priority DESC, jobs.id LIMIT 1"
)
FINISHED = (JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.DELIVERED)


@contextlib.asynccontextmanager
async def _unavailable_on_sqlite_errors() -> AsyncIterator[None]:
    """sqlite3's "database is locked" and I/O errors become the backend-neutral StoreUnavailable."""
    try:
        yield
    except sqlite3.OperationalError as error:
        raise StoreUnavailable(str(error)) from error


def _in(values: Iterable[str]) -> str:
    return "(" + ",".join(f"'{value}'" for value in values) + ")"


def _sniff_extension(data: bytes) -> str:
    if data[:3] == b"\xff\xd8\xff":
        return ".jpg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return ".png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp"
    return ".bin"


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temp, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temp, path)  # readers see the old file or the whole new one, never half


def _format_wait(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return "about a minute"
    minutes = math.ceil(seconds / 60)
    if minutes < 90:
        return f"about {minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"about {hours} h {minutes:02d} min"


@functools.lru_cache(maxsize=1024)
def _params(text: str) -> PaintParams:
    """Parsed PaintParams by their JSON (immutable, and most jobs share a few settings): keeps the
    bot's frequent poll cheap."""
    return PaintParams.from_json(json.loads(text))


def _job(row: sqlite3.Row) -> Job:
    return Job(
        id=row["id"],
        user_id=row["user_id"],
        chat_id=row["chat_id"],
        status=JobStatus(row["status"]),
        params=_params(row["params"]),
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
            preview_path=row["preview_path"],
            losses=json.loads(row["losses"]) if row["losses"] else {},
            work=row["progress_work"],
        ),
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        delivered_at=row["delivered_at"],
        result_path=row["result_path"],
        error=row["error"],
        status_message_id=row["status_message_id"],
        cancel_requested=bool(row["cancel_requested"]),
        lease_owner=row["lease_owner"],
        lease_expires_at=row["lease_expires_at"],
        note=row["note"],
    )


def _image(row: sqlite3.Row) -> StoredImage:
    return StoredImage(
        id=row["id"],
        owner_id=row["owner_id"],
        sha256=row["sha256"],
        path=row["path"],
        width=row["width"],
        height=row["height"],
    )


class _Tx:
    """The transaction interface drawme.botstate is written against, over one aiosqlite connection."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def execute(self, sql: str, args: Iterable[Any] = ()) -> None:
        await self._db.execute(sql, tuple(args))

    async def rows(self, sql: str, args: Iterable[Any] = ()) -> list[sqlite3.Row]:
        async with self._db.execute(sql, tuple(args)) as cursor:
            return list(await cursor.fetchall())

    async def row(self, sql: str, args: Iterable[Any] = ()) -> sqlite3.Row | None:
        async with self._db.execute(sql, tuple(args)) as cursor:
            return await cursor.fetchone()


class SqliteJobStore:
    """The job store on one SQLite file. Open with `await SqliteJobStore.open(common)`."""

    def __init__(self, common: CommonConfig, db: aiosqlite.Connection, clock: Callable[[], float]) -> None:
        self.common = common
        self.limits = common.limits
        self._db = db
        self._clock = clock
        # One connection, many coroutines (the worker's heartbeat and progress tasks): a transaction
        # must not interleave with another coroutine's statements on the same connection.
        self._lock = asyncio.Lock()

    # --- lifecycle ---------------------------------------------------------------------------

    @classmethod
    async def open(cls, common: CommonConfig, *, clock: Callable[[], float] = time.time) -> SqliteJobStore:
        """Create the data directories and the database if needed, migrate it, and connect."""
        for directory in (common.data_dir, common.images_dir, common.results_dir, common.previews_dir):
            directory.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(common.db_path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        db.row_factory = sqlite3.Row
        try:
            await db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            await db.execute("PRAGMA journal_mode = WAL")
            await db.execute("PRAGMA synchronous = NORMAL")  # durable across app crashes in WAL mode
            await db.execute("PRAGMA foreign_keys = ON")
            store = cls(common, db, clock)
            await store._migrate()
        except BaseException:
            await db.close()
            raise
        return store

    async def close(self) -> None:
        await self._db.close()

    async def schema_version(self) -> int:
        async with self._db.execute("SELECT MAX(version) FROM schema_version") as cursor:
            row = await cursor.fetchone()
        return row[0] or 0

    async def _migrate(self) -> None:
        async with self._transaction() as db:
            await db.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY,"
                " applied_at REAL NOT NULL)"
            )
            async with db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version") as cursor:
                current = (await cursor.fetchone())[0]
            if current > schema.LATEST:
                raise RuntimeError(
                    f"the database is at schema v{current}, newer than this code "
                    f"(v{schema.LATEST}); upgrade drawme"
                )
            for version in range(current + 1, schema.LATEST + 1):
                for statement in schema.MIGRATIONS[version - 1].split(";\n"):
                    if statement.strip():
                        await db.execute(statement)
                await db.execute("INSERT INTO schema_version VALUES (?, ?)", (version, self._clock()))
                log.info("job store migrated to schema v%d", version)

    @contextlib.asynccontextmanager
    async def _transaction(self, mode: str = "IMMEDIATE") -> AsyncIterator[aiosqlite.Connection]:
        """BEGIN IMMEDIATE takes the write lock up front, so a read-then-write never races.

        Read-only snapshots use mode="DEFERRED" and do not block writers (WAL)."""
        async with self._lock, _unavailable_on_sqlite_errors():
            await self._db.execute(f"BEGIN {mode}")
            try:
                yield self._db
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
            await self._db.execute("COMMIT")

    async def _read(self, sql: str, args: Iterable[Any] = ()) -> list[sqlite3.Row]:
        async with self._lock, _unavailable_on_sqlite_errors(), self._db.execute(sql, tuple(args)) as cursor:
            return list(await cursor.fetchall())

    @staticmethod
    async def _rows(db: aiosqlite.Connection, sql: str, args: Iterable[Any] = ()) -> list[sqlite3.Row]:
        async with db.execute(sql, tuple(args)) as cursor:
            return list(await cursor.fetchall())

    @staticmethod
    async def _row(db: aiosqlite.Connection, sql: str, args: Iterable[Any] = ()) -> sqlite3.Row | None:
        async with db.execute(sql, tuple(args)) as cursor:
            return await cursor.fetchone()

    def _abs(self, relative: str) -> Path:
        return self.common.data_dir / relative

    def _rel(self, path: Path) -> str:
        return path.relative_to(self.common.data_dir).as_posix()

    async def _ensure_user(self, db: aiosqlite.Connection, user_id: int) -> None:
        await db.execute(
            "INSERT OR IGNORE INTO users (id, created_at) VALUES (?, ?)", (user_id, self._clock())
        )

    # --- images ------------------------------------------------------------------------------

    async def store_image(
        self,
        owner_id: int,
        data: bytes,
        width: int,
        height: int,
        conversation: Conversation | None = None,
    ) -> StoredImage:
        """Keep an input image (deduplicated by content hash per owner) and return its record.
        With `conversation`, the user's conversation becomes that in the same transaction, where
        `pending_photo=0` means this very image (a photo now waiting for its style)."""
        digest = hashlib.sha256(data).hexdigest()
        # One folder per owner: /forget and retention never touch a file another user still needs.
        path = self.common.images_dir / str(owner_id) / f"{digest}{_sniff_extension(data)}"
        if not path.exists():
            await asyncio.to_thread(_write_atomically, path, data)
        async with self._transaction() as db:
            await self._ensure_user(db, owner_id)
            await db.execute(
                "INSERT INTO images (owner_id, sha256, path, width, height, bytes, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (owner_id, sha256) DO UPDATE SET created_at ="
                " excluded.created_at",  # a re-sent picture lives another retention period
                (owner_id, digest, self._rel(path), width, height, len(data), self._clock()),
            )
            row = await self._row(
                db, "SELECT * FROM images WHERE owner_id = ? AND sha256 = ?", (owner_id, digest)
            )
            if conversation is not None:
                if conversation.pending_photo == 0:
                    conversation = replace(conversation, pending_photo=row["id"])
                await botstate.save_conversation(_Tx(db), owner_id, conversation, self._clock())
        return _image(row)

    # --- the bot's state: displays and delivery leases, conversations, the inbox -----------------

    async def claim_deliveries(
        self, owner: str, job_ids: list[int], lease_seconds: float
    ) -> dict[int, Display]:
        async with self._transaction() as db:
            return await botstate.claim_deliveries(_Tx(db), owner, job_ids, lease_seconds, self._clock())

    async def release_deliveries(self, owner: str) -> None:
        async with self._transaction() as db:
            await botstate.release_deliveries(_Tx(db), owner)

    async def save_display(self, job_id: int, display: Display) -> None:
        async with self._transaction() as db:
            await botstate.save_display(_Tx(db), job_id, display)

    async def get_conversation(self, user_id: int) -> Conversation:
        async with self._transaction("DEFERRED") as db:
            return await botstate.get_conversation(_Tx(db), user_id)

    async def save_conversation(self, user_id: int, conversation: Conversation) -> None:
        async with self._transaction() as db:
            await botstate.save_conversation(_Tx(db), user_id, conversation, self._clock())

    async def inbox_add(self, update_id: int, body: str, owner: str) -> bool:
        async with self._transaction() as db:
            return await botstate.inbox_add(_Tx(db), update_id, body, owner, self._clock())

    async def inbox_done(self, update_id: int) -> None:
        async with self._transaction() as db:
            await botstate.inbox_done(_Tx(db), update_id, self._clock())

    async def inbox_leftovers(self, owner: str, stale_after: float) -> list[tuple[int, str]]:
        async with self._transaction() as db:
            return await botstate.inbox_leftovers(_Tx(db), owner, stale_after, self._clock())

    async def get_image(self, image_id: int) -> StoredImage | None:
        rows = await self._read("SELECT * FROM images WHERE id = ?", (image_id,))
        return _image(rows[0]) if rows else None

    def image_path(self, image: StoredImage) -> Path:
        """Where an image's bytes lie on disk."""
        return self._abs(image.path)

    # --- settings and bans -------------------------------------------------------------------

    async def get_settings(self, user_id: int) -> UserSettings:
        rows = await self._read("SELECT settings FROM users WHERE id = ?", (user_id,))
        if not rows or not rows[0]["settings"]:
            return UserSettings()
        return UserSettings.from_json(json.loads(rows[0]["settings"]))

    async def save_settings(self, user_id: int, settings: UserSettings) -> None:
        async with self._transaction() as db:
            await self._ensure_user(db, user_id)
            await db.execute(
                "UPDATE users SET settings = ? WHERE id = ?", (json.dumps(settings.to_json()), user_id)
            )

    async def set_banned(self, user_id: int, banned: bool = True) -> None:
        """Ban (or unban) a user: their submits are refused; jobs already queued still run."""
        async with self._transaction() as db:
            await self._ensure_user(db, user_id)
            await db.execute("UPDATE users SET banned = ? WHERE id = ?", (int(banned), user_id))

    # --- submitting --------------------------------------------------------------------------

    async def submit(
        self, request: JobRequest, *, origin: int | None = None, conversation: Conversation | None = None
    ) -> Job:
        """Queue a job. Raises `LimitExceeded` naming the limit and when it frees up.

        `origin` (a Telegram update id) makes the submit idempotent: the update's job, if it made
        one already, is returned instead. `conversation` is saved in the same transaction."""
        now = self._clock()
        today = int(now // DAY)
        async with self._transaction() as db:
            if origin is not None and (made := await botstate.job_of_origin(_Tx(db), origin)) is not None:
                return _job(await self._get_for_update(db, made))
            await self._ensure_user(db, request.user_id)
            user = await self._row(
                db, "SELECT banned, quota_day, quota_used FROM users WHERE id = ?", (request.user_id,)
            )
            if user["banned"]:
                raise LimitExceeded("banned", "Sorry, you can't order paintings here any more.")
            used_today = user["quota_used"] if user["quota_day"] == today else 0
            if used_today >= self.limits.daily_quota:
                resets = (today + 1) * DAY
                raise LimitExceeded(
                    "daily_quota",
                    f"You have used all {self.limits.daily_quota} paintings of your daily quota. It resets "
                    f"at 00:00 UTC, in {_format_wait(resets - now)}.",
                    resets,
                )
            counts = await self._row(
                db,
                f"SELECT COUNT(*) AS mine FROM jobs WHERE status IN {_in(ACTIVE)} AND user_id = ?",
                (request.user_id,),
            )
            if counts["mine"] >= self.limits.max_queued_per_user:
                waits = await self._eta_of_users_jobs(db, request.user_id, now)
                retry_at = now + min(waits) if waits else None
                when = f" Your next one should be ready in {_format_wait(min(waits))}." if waits else ""
                raise LimitExceeded(
                    "per_user",
                    f"You already have {counts['mine']} paintings in progress (the limit is "
                    f"{self.limits.max_queued_per_user} at a time). Please wait until one is done.{when}",
                    retry_at,
                )
            queued = await self._row(db, "SELECT COUNT(*) FROM jobs WHERE status = 'queued'")
            if queued[0] >= self.limits.max_queue:
                wait = await self._seconds_per_job(db, request.params.size) / await self._worker_count(
                    db, now
                )
                raise LimitExceeded(
                    "queue_full",
                    f"The painting queue is full right now ({queued[0]} waiting, the limit is "
                    f"{self.limits.max_queue}). Please try again in {_format_wait(wait)}.",
                    now + wait,
                )
            await db.execute(
                "UPDATE users SET quota_day = ?, quota_used = ? WHERE id = ?",
                (today, used_today + 1, request.user_id),
            )
            row = await self._row(
                db,
                "INSERT INTO jobs (user_id, chat_id, content_image_id, style_preset, style_image_id, params,"
                " size, priority, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
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
                ),
            )
            await botstate.submitted(_Tx(db), row["id"], request.user_id, origin, conversation, now)
        return _job(row)

    async def job_of_origin(self, update_id: int) -> Job | None:
        async with self._transaction("DEFERRED") as db:
            job_id = await botstate.job_of_origin(_Tx(db), update_id)
            return _job(await self._get_for_update(db, job_id)) if job_id is not None else None

    # --- reading jobs ------------------------------------------------------------------------

    async def get(self, job_id: int) -> Job | None:
        rows = await self._read("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return _job(rows[0]) if rows else None

    async def jobs_of(self, user_id: int, active_only: bool = True) -> list[Job]:
        status = f" AND status IN {_in(ACTIVE)}" if active_only else ""
        rows = await self._read(f"SELECT * FROM jobs WHERE user_id = ?{status} ORDER BY id", (user_id,))
        return [_job(row) for row in rows]

    async def undelivered(self) -> list[Job]:
        """Jobs whose user has not been told the outcome yet (active ones too), oldest first.

        Cheap: a partial index holds only the rows with `delivered_at IS NULL`."""
        rows = await self._read("SELECT * FROM jobs WHERE delivered_at IS NULL ORDER BY id")
        return [_job(row) for row in rows]

    # --- queue position and ETA --------------------------------------------------------------

    async def _seconds_per_pixel(self, db: aiosqlite.Connection) -> float:
        """Recent painting time per output pixel (long side squared), or a default without history."""
        row = await self._row(
            db,
            "SELECT SUM(finished_at - started_at), SUM(size * size) FROM"
            " (SELECT finished_at, started_at, size FROM jobs WHERE status IN ('done', 'delivered')"
            " AND started_at IS NOT NULL AND finished_at IS NOT NULL ORDER BY finished_at DESC LIMIT ?)",
            (ETA_HISTORY,),
        )
        seconds, pixels = row[0], row[1]
        return seconds / pixels if seconds and pixels else DEFAULT_SECONDS_PER_PIXEL

    async def _seconds_per_job(self, db: aiosqlite.Connection, size: int) -> float:
        """Recent average painting time, scaled to `size`² pixels."""
        return await self._seconds_per_pixel(db) * size * size

    async def _worker_count(self, db: aiosqlite.Connection, now: float) -> int:
        row = await self._row(
            db, "SELECT COUNT(*) FROM workers WHERE heartbeat_at >= ?", (now - WORKER_FRESH,)
        )
        return max(1, row[0])

    async def _claim_order(self, db: aiosqlite.Connection, now: float) -> list[sqlite3.Row]:
        """The queued jobs in the order workers will claim them, if nothing new arrives.

        Replays the claim rule: the user with the fewest jobs started in the fairness window goes
        first (their highest-priority, oldest job), then that user's count grows by one."""
        rows = await self._rows(
            db,
            "SELECT id, user_id, priority, size FROM jobs WHERE status = 'queued'"
            " ORDER BY user_id, priority DESC, id",
        )
        started = {
            row[0]: row[1]
            for row in await self._rows(
                db,
                f"SELECT user_id, {RECENT_STARTS} FROM (SELECT DISTINCT user_id FROM jobs"
                " WHERE status = 'queued') AS queued_users",
                (now - FAIRNESS_WINDOW,),
            )
        }
        per_user: dict[int, list[sqlite3.Row]] = {}
        for row in rows:
            per_user.setdefault(row["user_id"], []).append(row)
        heap = [
            (started.get(user, 0), -jobs[0]["priority"], jobs[0]["id"], user, 0)
            for user, jobs in per_user.items()
        ]
        heapq.heapify(heap)
        order = []
        while heap:
            count, _, _, user, index = heapq.heappop(heap)
            order.append(per_user[user][index])
            if index + 1 < len(per_user[user]):
                following = per_user[user][index + 1]
                heapq.heappush(heap, (count + 1, -following["priority"], following["id"], user, index + 1))
        return order

    async def _running_remaining(
        self, db: aiosqlite.Connection, now: float, per_pixel: float
    ) -> dict[int, float]:
        remaining = {}
        for row in await self._rows(
            db, "SELECT id, size, started_at, eta_seconds FROM jobs WHERE status = 'running'"
        ):
            if row["eta_seconds"] is not None:
                remaining[row["id"]] = row["eta_seconds"]
            else:
                expected = per_pixel * row["size"] ** 2
                remaining[row["id"]] = max(0.0, expected - (now - (row["started_at"] or now)))
        return remaining

    async def _etas(self, db: aiosqlite.Connection, now: float) -> dict[int, tuple[int, float]]:
        """job id -> (jobs ahead, seconds until done) for every active job."""
        workers = await self._worker_count(db, now)
        per_pixel = await self._seconds_per_pixel(db)
        running = await self._running_remaining(db, now, per_pixel)
        result = {job_id: (0, seconds) for job_id, seconds in running.items()}
        # The work ahead is shared by the live workers; a job starts once that work is drained.
        backlog = sum(running.values())
        for ahead, row in enumerate(await self._claim_order(db, now)):
            duration = per_pixel * row["size"] ** 2
            result[row["id"]] = (len(running) + ahead, backlog / workers + duration)
            backlog += duration
        return result

    async def _eta_of_users_jobs(self, db: aiosqlite.Connection, user_id: int, now: float) -> list[float]:
        etas = await self._etas(db, now)
        mine = await self._rows(
            db, f"SELECT id FROM jobs WHERE user_id = ? AND status IN {_in(ACTIVE)}", (user_id,)
        )
        return [etas[row["id"]][1] for row in mine if row["id"] in etas]

    async def position(self, job_id: int) -> QueueInfo:
        """How many jobs are ahead of `job_id` (running ones included) and roughly when it is done."""
        return (await self.positions()).get(job_id, QueueInfo(ahead=0, eta_seconds=None))

    async def positions(self) -> dict[int, QueueInfo]:
        """`position` of every queued job, from one replay of the claim order."""
        async with self._transaction("DEFERRED") as db:  # a consistent snapshot of the whole queue
            etas = await self._etas(db, self._clock())
        return {
            job_id: QueueInfo(ahead=ahead, eta_seconds=seconds) for job_id, (ahead, seconds) in etas.items()
        }

    # --- the bot's transitions ---------------------------------------------------------------

    async def _get_for_update(self, db: aiosqlite.Connection, job_id: int) -> sqlite3.Row:
        row = await self._row(db, "SELECT * FROM jobs WHERE id = ?", (job_id,))
        if row is None:
            raise KeyError(f"no job {job_id}")
        return row

    async def _update(self, db: aiosqlite.Connection, job_id: int, **values: Any) -> Job:
        columns = ", ".join(f"{name} = ?" for name in values)
        row = await self._row(
            db, f"UPDATE jobs SET {columns} WHERE id = ? RETURNING *", (*values.values(), job_id)
        )
        return _job(row)

    async def _finish(self, db: aiosqlite.Connection, job_id: int, status: JobStatus, **values: Any) -> Job:
        """Move a job to a final status: stamp finished_at and give up its lease."""
        return await self._update(
            db,
            job_id,
            status=status,
            finished_at=self._clock(),
            lease_owner=None,
            lease_expires_at=None,
            **values,
        )

    async def cancel(self, job_id: int) -> Job:
        """Queued: cancelled at once. Running: cancel_requested, the worker stops within a step."""
        async with self._transaction() as db:
            row = await self._get_for_update(db, job_id)
            status = JobStatus(row["status"])
            if status == JobStatus.QUEUED:
                return await self._update(db, job_id, status=JobStatus.CANCELLED, finished_at=self._clock())
            if status == JobStatus.RUNNING:
                return await self._update(db, job_id, cancel_requested=1)
            raise IllegalTransition(f"job {job_id} is {status}; only queued or running jobs can be cancelled")

    async def set_status_message(self, job_id: int, message_id: int) -> None:
        async with self._transaction() as db:
            await self._get_for_update(db, job_id)
            await self._update(db, job_id, status_message_id=message_id)

    async def mark_delivered(self, job_id: int, message_id: int | None) -> Job:
        """done -> delivered (recording the sent message id); failed/cancelled: sets delivered_at."""
        async with self._transaction() as db:
            row = await self._get_for_update(db, job_id)
            status = JobStatus(row["status"])
            message = message_id if message_id is not None else row["status_message_id"]
            if status == JobStatus.DONE:
                return await self._update(
                    db,
                    job_id,
                    status=JobStatus.DELIVERED,
                    delivered_at=self._clock(),
                    status_message_id=message,
                )
            if status in (JobStatus.FAILED, JobStatus.CANCELLED) and row["delivered_at"] is None:
                return await self._update(db, job_id, delivered_at=self._clock(), status_message_id=message)
            raise IllegalTransition(
                f"job {job_id} is {status}"
                f"{' and already delivered' if row['delivered_at'] else ''}; cannot deliver it"
            )

    # --- the worker's half -------------------------------------------------------------------

    async def register_worker(self, worker_id: str, device: str) -> None:
        """Announce (or refresh) a worker; the bot reads `workers()` to learn whether a GPU is there."""
        async with self._transaction() as db:
            await db.execute(
                "INSERT INTO workers (id, device, heartbeat_at) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE"
                " SET device = excluded.device, heartbeat_at = excluded.heartbeat_at",
                (worker_id, device, self._clock()),
            )

    async def unregister_worker(self, worker_id: str) -> None:
        """A worker that shuts down cleanly leaves the list at once."""
        async with self._transaction() as db:
            await db.execute("DELETE FROM workers WHERE id = ?", (worker_id,))

    async def workers(self) -> list[WorkerInfo]:
        rows = await self._read("SELECT * FROM workers ORDER BY heartbeat_at DESC")
        return [WorkerInfo(row["id"], row["device"], row["heartbeat_at"]) for row in rows]

    async def claim(self, worker_id: str, lease_seconds: float) -> Job | None:
        """Atomically take the fairest queued job and lease it to `worker_id`.

        Fairest: the user with the fewest jobs started in the last hour first, then priority, then
        age, so one user's twenty jobs never starve another user's one."""
        now = self._clock()
        async with self._transaction() as db:
            row = await self._row(
                db,
                "UPDATE jobs SET status = 'running', lease_owner = ?, lease_expires_at = ?, started_at = ?,"
                " cancel_requested = 0, progress_scale = 0, progress_scales = 0, progress_step = 0,"
                " progress_total = 0, progress_work = NULL, eta_seconds = NULL, losses = NULL"
                f" WHERE id = ({NEXT_JOB}) AND status = 'queued' RETURNING *",
                (worker_id, now + lease_seconds, now, now - FAIRNESS_WINDOW),
            )
            await db.execute("UPDATE workers SET heartbeat_at = ? WHERE id = ?", (now, worker_id))
        return _job(row) if row else None

    async def _leased(self, db: aiosqlite.Connection, job_id: int, worker_id: str) -> sqlite3.Row:
        row = await self._row(db, "SELECT * FROM jobs WHERE id = ?", (job_id,))
        if row is None:
            raise LeaseLost(f"job {job_id} no longer exists")
        if row["status"] != JobStatus.RUNNING or row["lease_owner"] != worker_id:
            raise LeaseLost(
                f"job {job_id} is {row['status']} and leased to {row['lease_owner']!r}, not to {worker_id!r}"
            )
        return row

    async def heartbeat(self, job_id: int, worker_id: str, lease_seconds: float) -> bool:
        """Extend the lease. Returns True if the user asked to cancel. Raises `LeaseLost` if it was lost."""
        now = self._clock()
        async with self._transaction() as db:
            row = await self._leased(db, job_id, worker_id)
            await db.execute(
                "UPDATE jobs SET lease_expires_at = ? WHERE id = ?", (now + lease_seconds, job_id)
            )
            await db.execute("UPDATE workers SET heartbeat_at = ? WHERE id = ?", (now, worker_id))
        return bool(row["cancel_requested"])

    async def report_progress(self, job_id: int, worker_id: str, progress: JobProgress) -> None:
        """Record how far the painting is (the bot edits its status message from this)."""
        async with self._transaction() as db:
            await self._leased(db, job_id, worker_id)
            await self._update(
                db,
                job_id,
                progress_scale=progress.scale,
                progress_scales=progress.scales,
                progress_step=progress.step,
                progress_total=progress.total,
                progress_work=progress.work,
                eta_seconds=progress.eta_seconds,
                preview_path=progress.preview_path,
                losses=json.dumps(progress.losses),
            )

    async def complete(self, job_id: int, worker_id: str, result_path: str, note: str | None = None) -> Job:
        """running -> done. `result_path` (relative to DATA_DIR) must already be fully written."""
        if not self._abs(result_path).is_file():
            raise FileNotFoundError(f"the result {result_path} of job {job_id} does not exist")
        async with self._transaction() as db:
            await self._leased(db, job_id, worker_id)
            return await self._finish(
                db, job_id, JobStatus.DONE, result_path=result_path, note=note, eta_seconds=0.0
            )

    async def fail(self, job_id: int, worker_id: str, error: str) -> Job:
        """running -> failed with a user-readable message."""
        async with self._transaction() as db:
            await self._leased(db, job_id, worker_id)
            return await self._finish(db, job_id, JobStatus.FAILED, error=error)

    async def mark_cancelled(self, job_id: int, worker_id: str) -> Job:
        """running -> cancelled, after the worker honoured cancel_requested."""
        async with self._transaction() as db:
            await self._leased(db, job_id, worker_id)
            return await self._finish(db, job_id, JobStatus.CANCELLED)

    async def release(self, job_id: int, worker_id: str) -> Job:
        """running -> queued without counting an attempt (clean shutdown)."""
        async with self._transaction() as db:
            row = await self._leased(db, job_id, worker_id)
            if row["cancel_requested"]:  # the user wanted it gone anyway
                return await self._finish(db, job_id, JobStatus.CANCELLED)
            return await self._update(
                db, job_id, status=JobStatus.QUEUED, lease_owner=None, lease_expires_at=None, eta_seconds=None
            )

    def _crash_message(self) -> str:
        return (
            f"Sorry, this painting failed {self.limits.max_attempts} times because the painter stopped"
            " unexpectedly. Please try again, perhaps with a smaller size."
        )

    async def requeue_expired(self) -> int:
        """Expired leases go back to queued with attempts+1, or to failed after max_attempts."""
        now = self._clock()
        async with self._transaction() as db:
            expired = await self._rows(
                db,
                "SELECT id, attempts, cancel_requested FROM jobs"
                " WHERE status = 'running' AND lease_expires_at < ?",
                (now,),
            )
            for row in expired:
                attempts = row["attempts"] + 1
                if row["cancel_requested"]:
                    status, error, finished = JobStatus.CANCELLED, None, now
                elif attempts >= self.limits.max_attempts:
                    status, error, finished = JobStatus.FAILED, self._crash_message(), now
                else:
                    status, error, finished = JobStatus.QUEUED, None, None
                await self._update(
                    db,
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
        return len(expired)

    # --- operations (the admin CLI) ----------------------------------------------------------

    async def requeue(self, job_id: int) -> Job:
        """An admin puts a stuck running job or a failed one back in the queue, with fresh attempts."""
        async with self._transaction() as db:
            row = await self._get_for_update(db, job_id)
            if row["status"] not in (JobStatus.RUNNING, JobStatus.FAILED):
                raise IllegalTransition(
                    f"job {job_id} is {row['status']}; only running or failed jobs can be requeued"
                )
            return await self._update(
                db,
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

    async def force_fail(self, job_id: int, error: str) -> Job:
        """An admin fails a queued or running job; `error` is what the user is told."""
        async with self._transaction() as db:
            row = await self._get_for_update(db, job_id)
            if row["status"] not in ACTIVE:
                raise IllegalTransition(
                    f"job {job_id} is {row['status']}; only queued or running jobs can fail"
                )
            return await self._finish(db, job_id, JobStatus.FAILED, error=error)

    async def stats(self) -> Stats:
        now = self._clock()
        row = (
            await self._read(
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
        )[0]
        return Stats(
            queued=row[0],
            running=row[1],
            oldest_queued_age=now - row[2] if row[2] is not None else None,
            done_last_hour=row[3],
            failed_last_hour=row[4],
            avg_duration_seconds=row[5],
            users_today=row[6],
            workers=await self.workers(),
        )

    async def export_user(self, user_id: int) -> dict[str, Any]:
        """Everything stored about one user (for a data request): settings, jobs, file paths."""
        async with self._transaction("DEFERRED") as db:
            user = await self._row(db, "SELECT * FROM users WHERE id = ?", (user_id,))
            images = await self._rows(db, "SELECT * FROM images WHERE owner_id = ? ORDER BY id", (user_id,))
            jobs = await self._rows(db, "SELECT * FROM jobs WHERE user_id = ? ORDER BY id", (user_id,))
        settings = UserSettings.from_json(json.loads(user["settings"])) if user and user["settings"] else None
        exported_jobs = []
        for row in jobs:
            job = asdict(_job(row))
            job["status"] = str(job["status"])
            exported_jobs.append(job)
        return {
            "user_id": user_id,
            "data_dir": str(self.common.data_dir),
            "settings": (settings or UserSettings()).to_json(),
            "banned": bool(user["banned"]) if user else False,
            "images": [asdict(_image(row)) for row in images],
            "jobs": exported_jobs,
            "files": sorted(
                {row["path"] for row in images}
                | {row["result_path"] for row in jobs if row["result_path"]}
                | {row["preview_path"] for row in jobs if row["preview_path"]}
            ),
        }

    async def backup(self, dest: Path) -> None:
        """A consistent copy of the database at `dest`, via SQLite's online backup (safe while running)."""
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        temp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
        temp.unlink(missing_ok=True)
        async with self._lock:
            target = await aiosqlite.connect(temp)
            try:
                await self._db.backup(target)
            finally:
                await target.close()
        os.replace(temp, dest)

    # --- retention ---------------------------------------------------------------------------

    def _previews_of(self, job_ids: set[int]) -> list[Path]:
        """Preview files are named "<job id>-<scale>-<step>.jpg"; one listing finds them all."""
        names = {str(job_id) for job_id in job_ids}
        return [path for path in self.common.previews_dir.glob("*-*") if path.name.split("-")[0] in names]

    @staticmethod
    def _unlink(paths: Iterable[Path]) -> tuple[int, int]:
        count = size = 0
        for path in paths:
            try:
                length = path.stat().st_size
                path.unlink()
            except FileNotFoundError:
                continue
            count, size = count + 1, size + length
        return count, size

    async def _delete_jobs(self, db: aiosqlite.Connection, jobs: list[sqlite3.Row]) -> list[Path]:
        """Delete job rows; return their result files (deleted after the commit)."""
        for row in jobs:
            await db.execute("DELETE FROM jobs WHERE id = ?", (row["id"],))
        return [self._abs(row["result_path"]) for row in jobs if row["result_path"]]

    async def _delete_images(self, db: aiosqlite.Connection, images: list[sqlite3.Row]) -> list[Path]:
        """Delete image rows; return the files no remaining row refers to."""
        files = []
        for row in images:
            await db.execute("DELETE FROM images WHERE id = ?", (row["id"],))
            # Keep a file while any row still refers to it (never the case for per-owner paths).
            if await self._row(db, "SELECT 1 FROM images WHERE path = ?", (row["path"],)) is None:
                files.append(self._abs(row["path"]))
        return files

    async def purge(self, older_than_seconds: float | None = None) -> dict[str, int]:
        """Delete finished jobs, inputs, previews and results older than the retention period, with
        their files, and stray files a crashed worker left behind. Returns what was removed."""
        age = self.limits.retention_days * DAY if older_than_seconds is None else older_than_seconds
        now = self._clock()
        cutoff = now - age
        async with self._transaction() as db:
            jobs = await self._rows(
                db,
                f"SELECT * FROM jobs WHERE status IN {_in(FINISHED)}"
                " AND COALESCE(finished_at, created_at) < ?",
                (cutoff,),
            )
            files = await self._delete_jobs(db, jobs)
            # An input goes once it is old and no remaining job refers to it.
            images = await self._rows(
                db,
                "SELECT * FROM images WHERE created_at < ? AND NOT EXISTS (SELECT 1 FROM jobs"
                " WHERE content_image_id = images.id OR style_image_id = images.id)",
                (cutoff,),
            )
            files += await self._delete_images(db, images)
            await db.execute("DELETE FROM workers WHERE heartbeat_at < ?", (now - DAY,))
            remaining = {row[0] for row in await self._rows(db, "SELECT id FROM jobs")}
            referenced = {
                row[0]
                for row in await self._rows(
                    db,
                    "SELECT result_path FROM jobs WHERE result_path IS NOT NULL"
                    " UNION SELECT path FROM images",
                )
            }
        files += self._previews_of({row["id"] for row in jobs})
        # Leftovers of crashed workers (temp files, results never recorded) once they are old.
        files += [
            path
            for directory in (self.common.results_dir, self.common.previews_dir)
            for path in directory.rglob("*")
            if path.is_file()
            and self._rel(path) not in referenced
            and path.name.split("-")[0] not in {str(job_id) for job_id in remaining}
            and path.stat().st_mtime < cutoff
        ]
        removed, size = await asyncio.to_thread(self._unlink, files)
        log.info("retention: removed %d jobs, %d images, %d files", len(jobs), len(images), removed)
        return {"jobs": len(jobs), "images": len(images), "files": removed, "bytes": size}

    async def forget(self, user_id: int) -> int:
        """Delete every image, job, file and setting of a user. Returns the number of files removed.

        The ban flag and today's quota count stay (just those two numbers), so /forget cannot be
        used to dodge a ban or the daily quota."""
        async with self._transaction() as db:
            jobs = await self._rows(db, "SELECT * FROM jobs WHERE user_id = ?", (user_id,))
            files = await self._delete_jobs(db, jobs)
            images = await self._rows(db, "SELECT * FROM images WHERE owner_id = ?", (user_id,))
            files += await self._delete_images(db, images)
            await db.execute("UPDATE users SET settings = NULL WHERE id = ?", (user_id,))
            await botstate.forget(_Tx(db), user_id)
        files += self._previews_of({row["id"] for row in jobs})
        removed, _ = await asyncio.to_thread(self._unlink, files)
        return removed
