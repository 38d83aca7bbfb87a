"""The seam between "the bot submits a job" and "a GPU worker runs it", one protocol per side.

The bot talks only to a `BotBackend`, an engine worker only to a `WorkerBackend`; both extend
`Backend`, what either side may ask. The implementation of both is `drawme.store.JobStore`, on
SQLite (one machine) or PostgreSQL (many machines), chosen by DATABASE_URL; a second backend plugs
in by implementing the two protocols. Job files (input pictures, previews, paintings) cross this seam
as bytes: nobody outside the store knows where they are kept. Each method is documented here once.

The operator's tools (requeue, force-fail, retention on demand, bans, backup: `engine admin`) are
neither side's: they are methods of `JobStore` alone, which the admin CLI opens itself.
docs/ARCHITECTURE.md describes both database engines.
"""

from __future__ import annotations

from typing import Any, Protocol

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


class Backend(Protocol):
    """What both sides ask of the store."""

    async def stats(self) -> Stats:
        """The queue's figures (by status, oldest queued, throughput, workers), for /stats and metrics."""

    async def wait_for_change(self, timeout: float) -> bool:
        """Wait up to `timeout` s for a change in the jobs (a new job, progress, an outcome), so a
        poller reacts at once. PostgreSQL: LISTEN/NOTIFY from any process. SQLite: changes made by
        this process; otherwise it simply times out (the caller polls). True when woken by a change;
        a change since the last call returns at once."""

    async def close(self) -> None: ...


class BotBackend(Backend, Protocol):
    """What the bot needs: submit jobs, follow and deliver them, and keep its own state."""

    # --- images and jobs -----------------------------------------------------------------------
    async def store_image(
        self, owner_id: int, data: bytes, width: int, height: int, conversation: Conversation | None = None
    ) -> StoredImage:
        """Keep an input image (deduplicated by content hash per owner) and return its record.
        With `conversation`, set the user's conversation in the same transaction (pending_photo=0:
        this very image is the photo now waiting for its style)."""

    async def get_image(self, image_id: int) -> StoredImage | None: ...

    async def get_result(self, job_id: int) -> bytes | None:
        """The finished painting (PNG); None if there is none (yet, or any more)."""

    async def get_preview(self, job_id: int) -> bytes | None:
        """The latest scale-end preview (JPEG) of a job; `job.progress.preview_key` changes with it."""

    async def submit(
        self, request: JobRequest, *, origin: int | None = None, conversation: Conversation | None = None
    ) -> Job:
        """Queue a job. Raises `LimitExceeded` whose `refusal` says which limit and when it frees.
        `origin` (the Telegram update id) makes it idempotent: that update's job, if it made one
        already, is returned. `conversation` is saved in the same transaction."""

    async def job_of_origin(self, update_id: int) -> Job | None:
        """The job that Telegram update made, if any."""

    async def get(self, job_id: int) -> Job | None: ...

    async def jobs_of(self, user_id: int, active_only: bool = True) -> list[Job]: ...

    async def position(self, job_id: int) -> QueueInfo: ...

    async def positions(self) -> dict[int, QueueInfo]:
        """Every active job's position at once (one replay of the claim order on one snapshot, for
        the bot's poll)."""

    async def cancel(self, job_id: int) -> Job:
        """Queued: cancelled at once. Running: cancel_requested, the worker stops within a step."""

    async def undelivered(self) -> list[Job]:
        """Jobs whose user has not yet been told the outcome: active ones (for progress) and
        finished ones with `delivered_at` unset, oldest first. The bot polls this."""

    async def mark_delivered(self, job_id: int, message_id: int | None) -> Job:
        """done -> delivered (recording the sent message id); failed/cancelled: sets delivered_at."""

    async def workers(self) -> list[WorkerInfo]:
        """The registered workers (live or stale): what devices paint and the largest size offered."""

    # --- the bot's own state (drawme/store/botstate.py) ------------------------------------------
    async def claim_deliveries(
        self, owner: str, job_ids: list[int], lease_seconds: float
    ) -> dict[int, Display]:
        """Lease these jobs' delivery to bot instance `owner` where no other instance holds it;
        returns the leased jobs with what their messages show."""

    async def release_deliveries(self, owner: str) -> None: ...

    async def save_display(self, job_id: int, display: Display) -> None:
        """Record what the job's messages show, the moment Telegram answered."""

    async def mark_unreachable(self, chat_id: int) -> None:
        """The chat blocked the bot or is gone: nothing more is sent to it, across restarts and bot
        instances, until it asks for a painting again (`submit` clears the mark)."""

    async def unreachable_among(self, chat_ids: list[int]) -> set[int]:
        """Which of these chats are marked unreachable."""

    async def recent_paintings(self, user_id: int, limit: int) -> list[SharedPainting]:
        """The user's paintings that reached them (`Display.result_file_id` recorded), newest first,
        at most `limit`; another user's are never among them. For inline mode's sharing."""

    async def get_conversation(self, user_id: int) -> Conversation: ...

    async def save_conversation(self, user_id: int, conversation: Conversation) -> None: ...

    async def inbox_add(self, update_id: int, body: str, owner: str, user_id: int | None = None) -> bool:
        """Record a Telegram update (from `user_id`: `forget` deletes it) before it is confirmed;
        False if it was handled already."""

    async def inbox_done(self, update_id: int) -> None: ...

    async def inbox_leftovers(self, owner: str, stale_after: float) -> list[tuple[int, str]]:
        """Updates recorded but never handled (a crash): `owner`'s own, and others' older than
        `stale_after` seconds. They become `owner`'s to handle."""

    async def get_settings(self, user_id: int) -> UserSettings: ...

    async def save_settings(self, user_id: int, settings: UserSettings) -> None: ...

    # --- the user's data: /forget and /export ----------------------------------------------------
    async def forget(self, user_id: int) -> int:
        """Delete every image, job, file and setting of a user, and their updates in the inbox.
        Returns the number of files removed."""

    async def export_user(self, user_id: int) -> dict[str, Any]:
        """Everything stored about one user (a data request): settings, images, jobs, and the keys
        of their files (`files`), whose bytes `export_files` gives."""

    async def export_files(self, keys: list[str]) -> dict[str, bytes]:
        """The bytes of the given keys (from `export_user(...)["files"]`); missing ones are left out."""


class WorkerBackend(Backend, Protocol):
    """What an engine worker needs: register, claim under a lease, paint from bytes, report, end."""

    async def register_worker(
        self, worker_id: str, device: str, capacity: int = 1, max_size: int | None = None
    ) -> None:
        """Add or refresh the worker's row (it then counts as live for ETAs). `capacity` is how many
        jobs this worker paints at once (a GPU worker's batch size, 1 otherwise); `max_size` the
        largest long side it paints (the bot offers no larger size); registering again updates both.
        `capacity < 1` raises ValueError."""

    async def unregister_worker(self, worker_id: str) -> None:
        """A worker that stops cleanly leaves the list at once."""

    async def seconds_per_pixel(self) -> float | None:
        """The fleet's recent painting time per output pixel (long side squared) from its finished
        jobs, as measured; None before the first. A fresh worker's expectation (ETAs while painting)."""

    async def claim(self, worker_id: str, lease_seconds: float) -> Job | None:
        """Atomically take the fairest queued job and lease it to `worker_id`."""

    async def claim_batch(self, worker_id: str, lease_seconds: float, limit: int) -> list[Job]:
        """Atomically take up to `limit` jobs that paint on canvases of one shape, for one batch.

        The first is exactly what `claim` would take; if `limit > 1`, up to `limit - 1` more queued
        jobs with its `batch_key` (same recipe and canvas size) join it, at most one per user and
        none of the first job's user, in the fair claim order. Each job gets its own lease, so each
        is heartbeaten, completed, failed or released on its own. The first-claimed job comes first;
        an empty list when nothing is queued. `limit < 1` raises ValueError."""

    async def get_image_bytes(self, image_id: int) -> bytes | None:
        """An input picture's bytes (the worker paints from these); None once it is gone."""

    async def heartbeat(self, job_id: int, worker_id: str, lease_seconds: float) -> bool:
        """Extend the lease. Returns True if the user asked to cancel. Raises if the lease was lost."""

    async def report_progress(
        self, job_id: int, worker_id: str, progress: JobProgress, preview: bytes | None = None
    ) -> None:
        """Record progress; `preview` (JPEG bytes) replaces the job's previous preview."""

    async def complete(self, job_id: int, worker_id: str, result: bytes, note: str | None = None) -> Job:
        """running -> done; `result` is the painting (PNG bytes, never empty: ValueError), stored in
        the same transaction."""

    async def fail(self, job_id: int, worker_id: str, error: str) -> Job:
        """running -> failed; `error` is a FailureCode or an ImageCode (the bot words it)."""

    async def mark_cancelled(self, job_id: int, worker_id: str) -> Job:
        """running -> cancelled, after the worker honoured cancel_requested."""

    async def release(self, job_id: int, worker_id: str) -> Job:
        """running -> queued without counting an attempt (clean shutdown)."""

    async def requeue_expired(self) -> int:
        """Expired leases go back to queued with attempts+1, or to failed after max_attempts."""

    async def purge_if_due(self, owner: str, interval: float) -> dict[str, int] | None:
        """Retention (finished jobs, inputs, previews and results older than RETENTION_DAYS), if no
        process on any machine ran it in the last `interval` s; the counts removed, else None."""
