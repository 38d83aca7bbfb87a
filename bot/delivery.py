"""Telling users how their paintings are doing: one status message per job, edited as it goes, then
the painting itself.

The JobQueue calls `Delivery.poll` every `BotConfig.poll_seconds`. It reads the store's undelivered
jobs and, per job, edits the status message at most once per `edit_interval` and only when the content
changes (Telegram refuses "message is not modified" and rate-limits eager editors). A Telegram error
just postpones that job to a later tick with backoff: the job stays undelivered until `mark_delivered`
succeeds, so a painting finished while the bot was down is delivered after the restart, exactly once.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from telegram import Bot, InputMediaPhoto
from telegram.constants import ChatAction
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError
from telegram.ext import ContextTypes

from bot import keyboards, texts
from drawme import health
from drawme.backend import JobBackend
from drawme.config import BotConfig
from drawme.models import Job, JobStatus, QueueInfo

log = logging.getLogger(__name__)

MAX_BACKOFF = 60.0
# A just-submitted job gets its status message from the submitting handler; only if none appears
# within this many seconds (e.g. the bot died in between) does the poller post one itself.
STATUS_GRACE = 10.0


@dataclass
class Shown:
    """What one job's status message shows right now, so an edit is sent only when it changes."""

    message_id: int | None = None
    is_photo: bool = False  # the status became a preview photo: edit its caption/media
    content: str | None = None
    preview_path: str | None = None
    edited_at: float = float("-inf")
    retry_at: float = float("-inf")
    failures: int = 0
    result_message_id: int | None = None  # sent, but mark_delivered has not succeeded yet
    lost_message_id: int | None = None  # a status message the user deleted; never edit it again


class Delivery:
    """Progress edits, previews and results for every undelivered job."""

    def __init__(self, backend: JobBackend, config: BotConfig, clock: Callable[[], float] = time.monotonic):
        self.backend = backend
        self.config = config
        self.clock = clock
        self.shown: dict[int, Shown] = {}
        self._busy = False

    def remember(self, job_id: int, message_id: int, text: str) -> None:
        """The submitting handler posted the status message with `text`; don't repeat it."""
        self.shown[job_id] = Shown(message_id=message_id, content=text, edited_at=self.clock())

    async def poll(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        """JobQueue callback: one pass over the undelivered jobs."""
        if self._busy:  # the previous pass is still sending (e.g. a large upload); skip this tick
            return
        self._busy = True
        try:
            jobs = await self.backend.undelivered()
            health.beat(self.config.common, "bot", undelivered=len(jobs))
            # One replay of the queue for all waiting jobs, not one per job: the poll stays cheap.
            queue = await self.backend.positions() if any(j.status is JobStatus.QUEUED for j in jobs) else {}
            for job in jobs:
                await self._deliver_safely(context.bot, job, queue)
            current = {job.id for job in jobs}
            for job_id in [job_id for job_id in self.shown if job_id not in current]:
                del self.shown[job_id]
        finally:
            self._busy = False

    async def _deliver_safely(self, bot: Bot, job: Job, queue: dict[int, QueueInfo]) -> None:
        shown = self.shown.setdefault(job.id, Shown(message_id=job.status_message_id))
        if shown.message_id is None and job.status_message_id != shown.lost_message_id:
            shown.message_id = job.status_message_id
        if self.clock() < shown.retry_at:
            return
        try:
            await self._deliver(bot, job, shown, queue)
            shown.failures = 0
        except RetryAfter as flood:
            shown.retry_at = self.clock() + _seconds(flood)
            log.warning("flood control: retrying in %.0f s", _seconds(flood), extra={"job_id": job.id})
        except Forbidden:
            # The user blocked the bot: there is nobody to tell. Stop trying.
            log.info("user unreachable; giving up delivery", extra={"job_id": job.id, "user_id": job.user_id})
            await self.backend.mark_delivered(job.id, None)
        except TelegramError as error:  # network trouble, or a request Telegram refused
            self._back_off(shown)
            log.warning("delivery postponed: %s", error, extra={"job_id": job.id, "attempts": shown.failures})
        except Exception:
            self._back_off(shown)
            log.exception("delivery failed", extra={"job_id": job.id})

    def _back_off(self, shown: Shown) -> None:
        shown.failures += 1
        shown.retry_at = self.clock() + min(MAX_BACKOFF, 2.0 ** (shown.failures - 1))

    async def _deliver(self, bot: Bot, job: Job, shown: Shown, queue: dict[int, QueueInfo]) -> None:
        if job.status is JobStatus.DONE:
            await self._send_result(bot, job, shown)
        elif job.status is JobStatus.FAILED:
            await self._finish(bot, job, shown, texts.FAILED.format(error=texts.failure(job)))
        elif job.status is JobStatus.CANCELLED:
            await self._finish(bot, job, shown, texts.CANCELLED)
        elif job.status is JobStatus.QUEUED:
            info = queue.get(job.id) or await self.backend.position(job.id)  # queued since the replay
            await self._show(bot, job, shown, texts.queued(info))
        elif job.status is JobStatus.RUNNING:
            await self._show(bot, job, shown, texts.painting(job.progress), job.progress.preview_key)

    async def _show(self, bot: Bot, job: Job, shown: Shown, text: str, preview: str | None = None) -> None:
        """Bring the status message up to date: throttled, and only when something changed."""
        new_preview = preview is not None and preview != shown.preview_path
        if not new_preview and text == shown.content:
            return
        if shown.message_id is None:
            if job.status_message_id is None and time.time() - job.created_at < STATUS_GRACE:
                return  # the submitting handler is about to register its status message
            message = await bot.send_message(job.chat_id, text)
            await self._status_is(job, shown, message.message_id, text)
            return
        if self.clock() - shown.edited_at < self.config.edit_interval:
            return
        try:
            data = await self.backend.get_preview(job.id) if new_preview else None
            if data is not None:
                await self._show_preview(bot, job, shown, text, data)
                shown.preview_path = preview
            elif shown.is_photo:
                await bot.edit_message_caption(job.chat_id, shown.message_id, caption=text)
            else:
                await bot.edit_message_text(text, job.chat_id, shown.message_id)
        except BadRequest as error:
            if not self._settle(shown, error):
                raise
            return
        shown.content = text
        shown.edited_at = self.clock()

    async def _show_preview(self, bot: Bot, job: Job, shown: Shown, text: str, data: bytes) -> None:
        """The first preview replaces the text status with a photo; later ones swap its picture."""
        if shown.is_photo:
            await bot.edit_message_media(InputMediaPhoto(data, caption=text), job.chat_id, shown.message_id)
            return
        message = await bot.send_photo(job.chat_id, data, caption=text)
        old = shown.message_id
        await self._status_is(job, shown, message.message_id, text, is_photo=True)
        await _delete_quietly(bot, job.chat_id, old)

    async def _status_is(
        self, job: Job, shown: Shown, message_id: int, text: str, is_photo: bool = False
    ) -> None:
        shown.message_id, shown.is_photo, shown.content = message_id, is_photo, text
        shown.edited_at = self.clock()
        await self.backend.set_status_message(job.id, message_id)

    @staticmethod
    def _settle(shown: Shown, error: BadRequest) -> bool:
        """Learn from a refused edit; True when the next tick can simply carry on."""
        reason = error.message.lower()
        if "not modified" in reason:
            return True  # it already shows this; nothing to do
        if "no text in the message" in reason:
            shown.is_photo = True  # a preview photo from before a restart: edit its caption next time
            return True
        if "message to edit not found" in reason:
            shown.lost_message_id, shown.message_id = shown.message_id, None  # deleted: post a fresh one
            shown.content = None
            return True
        return False

    async def _send_result(self, bot: Bot, job: Job, shown: Shown) -> None:
        """Send the painting, then record it at once, so a retry or a restart never sends it twice."""
        if shown.result_message_id is None:
            painting = await self.backend.get_result(job.id)
            if painting is None:
                log.error("finished job has no result file", extra={"job_id": job.id})
                await self._finish(bot, job, shown, texts.FAILED.format(error=""))
                return
            await bot.send_chat_action(job.chat_id, ChatAction.UPLOAD_PHOTO)
            message = await bot.send_photo(
                job.chat_id,
                painting,
                caption=texts.result_caption(job, keyboards.preset_label(job.style_preset)),
                reply_markup=keyboards.result(job),
            )
            shown.result_message_id = message.message_id
        await self.backend.mark_delivered(job.id, shown.result_message_id)
        log.info(
            "painting delivered", extra={"job_id": job.id, "user_id": job.user_id, "status": "delivered"}
        )
        await _delete_quietly(bot, job.chat_id, shown.message_id)  # the painting replaces the progress

    async def _finish(self, bot: Bot, job: Job, shown: Shown, text: str) -> None:
        """A failed or cancelled job: the status message says so (or a new message if there is none)."""
        message_id = shown.message_id
        if message_id is not None and shown.content != text:
            try:
                if shown.is_photo:
                    await bot.edit_message_caption(job.chat_id, message_id, caption=text)
                else:
                    await bot.edit_message_text(text, job.chat_id, message_id)
            except BadRequest as error:
                if not self._settle(shown, error):
                    raise
                if shown.is_photo and shown.message_id is not None:
                    return  # it was a photo after all: edit its caption on the next tick
                message_id = shown.message_id
        if message_id is None:
            message_id = (await bot.send_message(job.chat_id, text)).message_id
        shown.content = text
        await self.backend.mark_delivered(job.id, message_id)
        log.info("outcome delivered", extra={"job_id": job.id, "status": job.status.value})


def _seconds(flood: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22 warns about int vs timedelta; both are fine here
        warnings.simplefilter("ignore")
        value = flood.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


async def _delete_quietly(bot: Bot, chat_id: int, message_id: int | None) -> None:
    """Remove a superseded status message; if that fails, it merely lingers."""
    if message_id is None:
        return
    try:
        await bot.delete_message(chat_id, message_id)
    except TelegramError as error:
        log.debug("could not delete status message: %s", error)
