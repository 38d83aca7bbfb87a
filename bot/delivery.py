"""Telling users how their paintings are doing: one status message per job, edited as it goes, then
the painting itself.

The JobQueue calls `Delivery.poll` every `BotConfig.poll_seconds` (the fallback), and `start_waking`'s task
calls it at once when the store signals a change (PostgreSQL: LISTEN/NOTIFY from any machine; SQLite:
only this process's own commits). It reads the store's undelivered jobs and hands each chat's jobs
to its own task, so a slow upload or a refused call in one chat never holds up another. Per job,
the status message is edited at most once per `edit_interval` and only when the content changes
(Telegram refuses "message is not modified" and rate-limits eager editors). What it shows and when
it was last edited live in the store (`Display`), so this holds across restarts and instances:
only the instance holding a job's delivery lease edits its messages, and an edit's content is
recorded before the call (`unconfirmed`) and confirmed after it, so an answer lost to a crash or a
timeout never leads to an edit Telegram would refuse.

Each Telegram error means something for that job alone (see `_deliver_safely`): a 429 pauses that
chat for `retry_after`; a timeout or network error retries that job later with backoff; a user who
blocked the bot (403) or a chat that no longer exists has their queued jobs cancelled and is sent
nothing more. The job stays undelivered until `mark_delivered` succeeds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial

from telegram import Bot, InlineKeyboardMarkup, InputMediaPhoto
from telegram.constants import ChatAction
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError
from telegram.ext import Application
from telegram.ext import Job as ScheduledJob

from bot import keyboards, texts
from bot.context import BotContext
from bot.flood import retry_seconds
from bot.i18n import Words, words_for
from bot.metrics import BotMetrics
from drawme import health
from drawme.backend import BotBackend
from drawme.config import BotConfig
from drawme.models import Display, IllegalTransition, Job, JobStatus, QueueInfo, StoreUnavailable

log = logging.getLogger(__name__)

MAX_BACKOFF = 60.0
# A just-submitted job gets its status message from the submitting handler; only if none appears
# within this many seconds (e.g. the bot died in between) does the poller post one itself.
STATUS_GRACE = 10.0
# BadRequest descriptions meaning the chat is gone for the bot, like a 403 (lower case).
CHAT_GONE = ("chat not found", "user is deactivated", "bot was blocked", "bot was kicked")


@dataclass
class JobDelivery:
    """One job's delivery as this instance holds it: what its status message shows (`display`, as the
    store records it, so an edit is sent only when it changes) and what only this instance keeps."""

    display: Display
    retry_at: float = float("-inf")
    failures: int = 0
    lost_message_id: int | None = None  # a status message the user deleted; never edit it again
    words: Words | None = None  # the user's language, looked up once per job


def _edited_at(display: Display) -> float:
    """When the status message was last posted or edited (wall clock); -inf if never."""
    return float("-inf") if display.edited_at is None else display.edited_at


class Delivery:
    """Progress edits, previews and results for every undelivered job."""

    def __init__(
        self,
        backend: BotBackend,
        config: BotConfig,
        clock: Callable[[], float] = time.time,
        metrics: BotMetrics | None = None,
    ) -> None:
        # The wall clock: edit times are compared with those other instances (and a restarted
        # process) recorded in the store.
        self.backend = backend
        self.config = config
        self.clock = clock
        self.metrics = metrics
        self.deliveries: dict[int, JobDelivery] = {}
        self.unreachable: set[int] = set()  # chats that blocked the bot or are gone (from the store)
        self._chat_retry_at: dict[int, float] = {}  # chat -> when Telegram lets us send again
        self._sending: dict[int, asyncio.Task] = {}  # chat -> its delivery task of an earlier tick
        self._busy = False
        self._again = False  # a poll came while one was reading: read once more
        self._look_again: set[int] = set()  # chats skipped while their task was still sending
        self._waker: asyncio.Task | None = None  # runs the poll when the store signals a change
        self._due = float("inf")  # when something put off (a throttled edit, a retry) is due
        self._sooner = asyncio.Event()  # _due moved earlier
        # Each job is delivered by one bot instance at a time: this one's name and lease.
        self.owner = config.instance_name
        self.lease_seconds = max(5.0, 10 * config.poll_seconds)
        self._mine: set[int] = set()  # jobs this instance held at the last tick
        self._leased_until = float("-inf")  # when the leases taken at the last tick run out

    async def remember(self, job_id: int, message_id: int, text: str) -> None:
        """The submitting handler posted the status message with `text`: record it at once."""
        display = Display(status_message_id=message_id, text=text, edited_at=self.clock())
        self.deliveries[job_id] = JobDelivery(display)
        await self.backend.save_display(job_id, display)

    async def release(self) -> None:
        """Stopping cleanly: no more wake-ups; other instances may take over this one's jobs at once."""
        if self._waker is not None:
            self._waker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._waker
        health.forget(self.config.common, health.beat_name("bot", self.owner))
        await self.backend.release_deliveries(self.owner)

    def start_waking(self, poll: ScheduledJob, application: Application) -> None:
        """Run `poll` (the JobQueue's repeating job) as soon as the store signals a change, so
        progress and results go out at once instead of at the next tick; `release` stops it."""
        self._waker = asyncio.create_task(self._wake_on_changes(poll, application), name="delivery:wake")

    async def _wake_on_changes(self, poll: ScheduledJob, application: Application) -> None:
        while True:
            try:
                timeout = max(0.0, min(self.config.poll_seconds, self._due - self.clock()))
                self._sooner.clear()
                change = asyncio.ensure_future(self.backend.wait_for_change(timeout))
                sooner = asyncio.ensure_future(self._sooner.wait())
                try:
                    await asyncio.wait((change, sooner), return_when=asyncio.FIRST_COMPLETED)
                finally:
                    change.cancel()
                    sooner.cancel()
                changed = change.done() and not change.cancelled() and change.result()
                if changed or self.clock() >= self._due:
                    self._due = float("inf")
                    await poll.run(application)
            except StoreUnavailable:  # the store logs the outage; the repeating poll carries on
                await asyncio.sleep(self.config.poll_seconds)
            except Exception:  # the repeating poll still delivers; try again after a pause
                log.warning("delivery wake-up failed", exc_info=True)
                await asyncio.sleep(self.config.poll_seconds)

    def _come_back(self, at: float) -> None:
        """Something was put off until `at` (clock time): the waker polls then, not at the next tick."""
        if at < self._due:
            self._due = at
            self._sooner.set()  # the waker recomputes its timeout

    async def poll(self, context: BotContext) -> None:
        """JobQueue callback (and the store's wake-ups): start delivering to every chat that has
        undelivered jobs. A call while one is reading is not lost: that one reads once more."""
        if not context.application.running:  # shutting down
            return
        if self._busy:
            self._again = True
            return
        self._busy = True
        try:
            self._again = True
            while self._again and context.application.running:
                self._again = False
                await self._poll_once(context)
        finally:
            self._busy = False

    async def _poll_once(self, context: BotContext) -> None:
        # Chats still being delivered to since an earlier tick are skipped; the others had no
        # task running when the store is read below, so what it says about them is current.
        busy_chats = set(self._sending)
        jobs = await self.backend.undelivered()
        health.beat(self.config.common, health.beat_name("bot", self.owner), undelivered=len(jobs))
        # One replay of the queue for all waiting jobs, not one per job: the poll stays cheap.
        queue = await self.backend.positions() if any(j.status is JobStatus.QUEUED for j in jobs) else {}
        # Only the jobs no other bot instance is delivering (one transaction for all of them).
        claiming = self.clock()
        claimed = await self.backend.claim_deliveries(self.owner, [j.id for j in jobs], self.lease_seconds)
        self._leased_until = claiming + self.lease_seconds
        self.unreachable = await self.backend.unreachable_among(
            sorted({j.chat_id for j in jobs if j.id in claimed})
        )
        by_chat: dict[int, list[Job]] = {}
        for job in jobs:
            if job.id not in claimed:
                continue
            recorded, mine = claimed[job.id], self.deliveries.get(job.id)
            # New to us, or someone (the instance whose handler posted the status message, or the
            # one that held the lease meanwhile) recorded something newer: as recorded.
            newer = recorded.edited_at is not None and recorded.edited_at > (
                _edited_at(mine.display) if mine else 0.0
            )
            if job.id not in self._mine or mine is None or newer:
                self.deliveries[job.id] = JobDelivery(recorded)
            by_chat.setdefault(job.chat_id, []).append(job)
        self._mine = set(claimed)
        if not context.application.running:  # it stopped while we read: no new sends now
            return
        for chat_id, chat_jobs in by_chat.items():
            if chat_id in self._sending:
                self._look_again.add(chat_id)  # what changed for it is read when its task ends
                continue
            if chat_id in busy_chats:  # its task ended while we read: what we read may be stale
                self._again = True
                continue
            # Application.create_task: PTB awaits these at shutdown, so no send is cut short.
            task = context.application.create_task(
                self._deliver_chat(context.bot, chat_id, chat_jobs, queue), name=f"deliver:{chat_id}"
            )
            self._sending[chat_id] = task
            task.add_done_callback(partial(self._chat_done, context, chat_id))
        current = {job.id for job in jobs}
        for job_id in [job_id for job_id in self.deliveries if job_id not in current]:
            del self.deliveries[job_id]

    def _chat_done(self, context: BotContext, chat_id: int, _task: object) -> None:
        """A chat's task ended; if a poll skipped that chat meanwhile, look again now."""
        self._sending.pop(chat_id, None)
        if chat_id in self._look_again and context.application.running:
            self._look_again.discard(chat_id)
            context.application.create_task(self.poll(context), name="delivery:again")

    async def _deliver_chat(
        self, bot: Bot, chat_id: int, jobs: list[Job], queue: dict[int, QueueInfo]
    ) -> None:
        """One chat's jobs, oldest first; whatever happens here stays in this chat."""
        for job in jobs:
            if job.id not in self._mine or self.clock() > self._leased_until - self.lease_seconds / 2:
                return  # another instance may hold its lease now: the next tick claims again
            if chat_id in self.unreachable:
                await self._settle_unreachable(job)
                continue
            if self.clock() < self._chat_retry_at.get(chat_id, float("-inf")):
                self._come_back(self._chat_retry_at[chat_id])
                return  # Telegram asked us to leave this chat alone for a while
            await self._deliver_safely(bot, job, queue)

    async def _deliver_safely(self, bot: Bot, job: Job, queue: dict[int, QueueInfo]) -> None:
        """Deliver one job; each failure means something for this job (and chat) only."""
        delivery = self.deliveries.setdefault(
            job.id, JobDelivery(Display(status_message_id=job.status_message_id))
        )
        if delivery.display.status_message_id is None and job.status_message_id != delivery.lost_message_id:
            delivery.display = replace(delivery.display, status_message_id=job.status_message_id)
        if self.clock() < delivery.retry_at:
            self._come_back(delivery.retry_at)
            return
        try:
            if delivery.words is None:  # the language the user asked in (bot.jobs.queue_painting keeps it)
                delivery.words = words_for((await self.backend.get_settings(job.user_id)).language)
            await self._deliver(bot, job, delivery, delivery.words, queue)
            delivery.failures = 0
        except IllegalTransition as moved:  # it changed meanwhile (e.g. cancelled): next tick sees it
            log.info("job moved on while delivering: %s", moved, extra={"job_id": job.id})
        except RetryAfter as flood:  # the rate limiter already retried: leave this chat alone a while
            wait = retry_seconds(flood)
            delivery.retry_at = self._chat_retry_at[job.chat_id] = self.clock() + wait
            log.warning("flood control: retrying in %.0f s", wait, extra={"job_id": job.id})
        except Forbidden as error:  # blocked, deactivated or kicked: nobody to tell any more
            await self._chat_gone(job, error)
        except BadRequest as error:
            if any(reason in error.message.lower() for reason in CHAT_GONE):
                await self._chat_gone(job, error)
            else:  # a request Telegram refused for this job only
                self._back_off(delivery)
                log.error(
                    "delivery refused: %s", error, extra={"job_id": job.id, "attempts": delivery.failures}
                )
        except TelegramError as error:  # timeouts and network trouble: the same job again, later
            self._back_off(delivery)
            log.warning(
                "delivery postponed: %s", error, extra={"job_id": job.id, "attempts": delivery.failures}
            )
        except StoreUnavailable:  # the store logs the outage once: this job again later
            self._back_off(delivery)
        except Exception:  # this job again later, the others carry on
            self._back_off(delivery)
            log.exception("delivery failed", extra={"job_id": job.id})

    async def _chat_gone(self, job: Job, error: TelegramError) -> None:
        """The user blocked the bot or the chat is gone: cancel their queued jobs, send nothing more."""
        log.info(
            "chat unreachable (%s): cancelling its jobs",
            error.message,
            extra={"job_id": job.id, "user_id": job.user_id, "event": "unreachable"},
        )
        await self.backend.mark_unreachable(job.chat_id)  # a restart or another instance knows it too
        self.unreachable.add(job.chat_id)
        for other in await self.backend.jobs_of(job.user_id, active_only=True):
            if other.chat_id == job.chat_id:
                await self._settle_unreachable(other)
        await self._settle_unreachable(job)

    async def _settle_unreachable(self, job: Job) -> None:
        """A job of an unreachable chat: stop it if it is still to come, close it if it has ended."""
        try:
            if job.status in (JobStatus.QUEUED, JobStatus.RUNNING):
                if not job.cancel_requested:
                    await self.backend.cancel(job.id)
            elif job.status is not JobStatus.DELIVERED:
                await self.backend.mark_delivered(job.id, None)
        except (IllegalTransition, StoreUnavailable):
            pass  # it moved on meanwhile (e.g. finished), or the store is away: the next tick settles it
        except Exception:
            log.exception("could not settle a job of an unreachable chat", extra={"job_id": job.id})

    def _back_off(self, delivery: JobDelivery) -> None:
        delivery.failures += 1
        delivery.retry_at = self.clock() + min(MAX_BACKOFF, 2.0 ** (delivery.failures - 1))

    async def _deliver(
        self, bot: Bot, job: Job, delivery: JobDelivery, w: Words, queue: dict[int, QueueInfo]
    ) -> None:
        if job.status is JobStatus.DONE:
            await self._send_result(bot, job, delivery, w)
        elif job.status is JobStatus.FAILED:
            await self._finish(bot, job, delivery, w(texts.FAILED, error=texts.failure(w, job)))
        elif job.status is JobStatus.CANCELLED:
            await self._finish(bot, job, delivery, w(texts.CANCELLED))
        elif job.status is JobStatus.RUNNING and job.cancel_requested:  # the worker stops within a step
            await self._show(bot, job, delivery, w(texts.STOPPING), None, None)
        elif job.status is JobStatus.QUEUED:
            info = queue.get(job.id) or await self.backend.position(job.id)  # queued since the replay
            await self._show(bot, job, delivery, texts.queued(w, info), None, keyboards.cancel(w, job))
        elif job.status is JobStatus.RUNNING:
            await self._show(
                bot,
                job,
                delivery,
                texts.painting(w, job.progress),
                job.progress.preview_key,
                keyboards.cancel(w, job),
            )

    async def _show(
        self,
        bot: Bot,
        job: Job,
        delivery: JobDelivery,
        text: str,
        preview: str | None,
        buttons: InlineKeyboardMarkup | None,
    ) -> None:
        """Bring the status message (with its `buttons`) up to date: throttled, and only when
        something changed."""
        new_preview = preview is not None and preview != delivery.display.preview_key
        if not new_preview and text == delivery.display.text:
            return
        if delivery.display.status_message_id is None:
            if job.status_message_id is None and time.time() - job.created_at < STATUS_GRACE:
                return  # the submitting handler is about to register its status message
            message = await bot.send_message(job.chat_id, text, reply_markup=buttons)
            await self._status_is(job, delivery, message.message_id, text)
            return
        if delivery.display.stale_message_ids:  # superseded ones left by a crash: removed first
            await self._clear_stale(bot, job, delivery)
        if self.clock() - _edited_at(delivery.display) < self.config.edit_interval:
            self._come_back(_edited_at(delivery.display) + self.config.edit_interval)
            return
        data = await self.backend.get_preview(job.id) if new_preview else None
        if data is None and text == delivery.display.text:
            return  # the new preview is gone already, and the text is what it shows
        if data is not None and not delivery.display.is_photo:  # the first preview replaces the text status
            await self._first_preview(bot, job, delivery, text, preview, data, buttons)
        else:
            await self._edit(bot, job, delivery, text, preview if data is not None else None, data, buttons)

    async def _edit(
        self,
        bot: Bot,
        job: Job,
        delivery: JobDelivery,
        text: str,
        preview: str | None = None,
        data: bytes | None = None,
        buttons: InlineKeyboardMarkup | None = None,
    ) -> bool:
        """Edit the status message to `text` (and the preview `data`, named `preview`) under `buttons`.
        What it will show is recorded first, marked unconfirmed, and confirmed once Telegram answers;
        an answer never heard leaves it unconfirmed. False when the edit did not happen (settled
        otherwise)."""
        before = delivery.display
        delivery.display = display = replace(
            before,
            text=text,
            preview_key=before.preview_key if preview is None else preview,
            unconfirmed=True,
            edited_at=self.clock(),
        )
        await self.backend.save_display(job.id, display)
        try:
            if data is not None:
                photo = InputMediaPhoto(data, caption=text)
                await bot.edit_message_media(
                    photo, job.chat_id, display.status_message_id, reply_markup=buttons
                )
            elif display.is_photo:
                await bot.edit_message_caption(
                    job.chat_id, display.status_message_id, caption=text, reply_markup=buttons
                )
            else:
                await bot.edit_message_text(
                    text, job.chat_id, display.status_message_id, reply_markup=buttons
                )
        except BadRequest as error:
            if "not modified" not in error.message.lower():  # refused: it shows what it showed
                delivery.display = before
                if not self._settle(delivery, error):
                    await self.backend.save_display(job.id, delivery.display)
                    raise
                await self.backend.save_display(job.id, delivery.display)
                return False
            # It already shows this: taken as information, recorded below, never sent again.
            log.info("status message was already up to date", extra={"job_id": job.id})
        except (Forbidden, RetryAfter):  # refused before anything happened
            delivery.display = before
            await self.backend.save_display(job.id, before)
            raise
        # The interval runs from Telegram's answer, so the next edit reaches it at least that much later.
        delivery.display = replace(delivery.display, unconfirmed=False, edited_at=self.clock())
        await self.backend.save_display(job.id, delivery.display)
        return True

    async def _first_preview(
        self,
        bot: Bot,
        job: Job,
        delivery: JobDelivery,
        text: str,
        preview: str | None,
        data: bytes,
        buttons: InlineKeyboardMarkup | None,
    ) -> None:
        """The first preview replaces the text status with a photo (a new message, then the old deleted)."""
        message = await bot.send_photo(job.chat_id, data, caption=text, reply_markup=buttons)
        display = delivery.display
        if display.status_message_id is not None:  # to delete once the new one is recorded
            display = replace(
                display, stale_message_ids=(*display.stale_message_ids, display.status_message_id)
            )
        delivery.display = replace(display, preview_key=preview)
        await self._status_is(job, delivery, message.message_id, text, is_photo=True)
        await self._clear_stale(bot, job, delivery)

    async def _status_is(
        self, job: Job, delivery: JobDelivery, message_id: int, text: str, is_photo: bool = False
    ) -> None:
        """A new status message: recorded the moment Telegram answers, before anything else."""
        delivery.display = replace(
            delivery.display,
            status_message_id=message_id,
            is_photo=is_photo,
            text=text,
            edited_at=self.clock(),
            unconfirmed=False,
        )
        await self.backend.save_display(job.id, delivery.display)

    async def _clear_stale(self, bot: Bot, job: Job, delivery: JobDelivery) -> None:
        """Delete superseded status messages, then record that they are gone."""
        if not delivery.display.stale_message_ids:
            return
        for message_id in delivery.display.stale_message_ids:
            await _delete_quietly(bot, job.chat_id, message_id)
        delivery.display = replace(delivery.display, stale_message_ids=())
        await self.backend.save_display(job.id, delivery.display)

    def _delivered(self, job: Job) -> None:
        if self.metrics is not None and job.finished_at is not None:
            self.metrics.delivery_lag.observe(max(0.0, time.time() - job.finished_at))

    @staticmethod
    def _settle(delivery: JobDelivery, error: BadRequest) -> bool:
        """Learn from a refused edit; True when the next tick can simply carry on."""
        reason = error.message.lower()
        if "no text in the message" in reason:
            # A preview photo from before a restart: edit its caption next time.
            delivery.display = replace(delivery.display, is_photo=True)
            return True
        if "message to edit not found" in reason:
            delivery.lost_message_id = delivery.display.status_message_id  # deleted: post a fresh one
            delivery.display = replace(delivery.display, status_message_id=None, text=None)
            return True
        return False

    async def _send_result(self, bot: Bot, job: Job, delivery: JobDelivery, w: Words) -> None:
        """Send the painting, then record it at once, so a retry or a restart never sends it twice."""
        if delivery.display.result_message_id is None:
            painting = await self.backend.get_result(job.id)
            if painting is None:
                log.error("finished job has no result file", extra={"job_id": job.id})
                await self._finish(bot, job, delivery, w(texts.FAILED, error=""))
                return
            await bot.send_chat_action(job.chat_id, ChatAction.UPLOAD_PHOTO)
            message = await bot.send_photo(
                job.chat_id,
                painting,
                caption=texts.result_caption(w, job),
                # Share only when inline mode is on in @BotFather (getMe says so): it needs it.
                reply_markup=keyboards.result(w, job, share=bool(bot.supports_inline_queries)),
            )
            delivery.display = replace(
                delivery.display,
                result_message_id=message.message_id,
                # The largest size's file id: inline mode shares the painting by it, with no new upload.
                result_file_id=message.photo[-1].file_id if message.photo else None,
            )
            await self.backend.save_display(job.id, delivery.display)  # sent: never again
        # The painting replaces the progress; delete it before closing the job, so a crash in
        # between leaves the job open and the next try deletes it (a second delete is harmless).
        for message_id in (*delivery.display.stale_message_ids, delivery.display.status_message_id):
            await _delete_quietly(bot, job.chat_id, message_id)
        await self.backend.mark_delivered(job.id, delivery.display.result_message_id)
        self._delivered(job)
        log.info(
            "painting delivered", extra={"job_id": job.id, "user_id": job.user_id, "status": "delivered"}
        )

    async def _finish(self, bot: Bot, job: Job, delivery: JobDelivery, text: str) -> None:
        """A failed or cancelled job: the status message says so (or a new message if there is none)."""
        display = delivery.display
        if display.status_message_id is not None and display.text == text and display.unconfirmed:
            # The edit saying it went unanswered: it may not say it, and the same edit again could be
            # refused. Say it in a fresh message; the old one goes.
            delivery.display = display = replace(
                display,
                stale_message_ids=(*display.stale_message_ids, display.status_message_id),
                status_message_id=None,
                text=None,
            )
        if display.status_message_id is not None and display.text != text:
            if self.clock() - _edited_at(display) < self.config.edit_interval:
                self._come_back(_edited_at(display) + self.config.edit_interval)
                return
            if not await self._edit(bot, job, delivery, text):
                return  # settled (e.g. it was a photo after all, or deleted): the next tick goes on
        if delivery.display.status_message_id is None:
            message = await bot.send_message(job.chat_id, text)
            await self._status_is(job, delivery, message.message_id, text)  # told: never tell again
        await self._clear_stale(bot, job, delivery)
        await self.backend.mark_delivered(job.id, delivery.display.status_message_id)
        self._delivered(job)
        log.info("outcome delivered", extra={"job_id": job.id, "status": job.status.value})


async def _delete_quietly(bot: Bot, chat_id: int, message_id: int | None) -> None:
    """Remove a superseded status message; if that fails, it merely lingers."""
    if message_id is None:
        return
    try:
        await bot.delete_message(chat_id, message_id)
    except TelegramError as error:
        log.debug("could not delete status message: %s", error)
