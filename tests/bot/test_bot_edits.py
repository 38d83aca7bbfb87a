"""An edit is sent only when it changes something (issue 27): the display recorded in the store is
what edits are compared with, across restarts (kills at the worst moments) and bot instances, and
edits of one message stay EDIT_INTERVAL apart. The fake Bot API refuses "message is not modified"
exactly as Telegram does and counts those refusals."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

from drawme.models import FailureCode, Job
from drawme.store import JobStore
from tests.bot.conftest import TEST_ENV, HandWorker, RunningBot, bot_config, photo_bytes, webhook_env
from tests.bot.test_bot_conversation import eventually, send_photo_and_get_keyboard
from tests.bot.test_bot_crashes import BotProcess
from tests.bot.test_bot_delivery import delivered, order_painting, results
from tests.fake_telegram import FakeTelegram

EDIT_INTERVAL = float(TEST_ENV["EDIT_INTERVAL"])


def edit_gaps(telegram: FakeTelegram) -> list[float]:
    """Seconds between consecutive edits of each message, whoever sent them."""
    edits: dict[tuple[int | None, int], list[float]] = {}
    for call in telegram.calls(ok=None):
        if call.method.startswith("editMessage"):
            edits.setdefault((call.chat_id, int(call.params["message_id"])), []).append(call.at)
    return [later - earlier for times in edits.values() for earlier, later in itertools.pairwise(times)]


def assert_steady(telegram: FakeTelegram) -> None:
    refused = telegram.refusals()
    assert not refused, [(c.method, c.chat_id, c.params.get("message_id")) for c in refused]
    gaps = edit_gaps(telegram)
    assert all(gap >= EDIT_INTERVAL * 0.9 for gap in gaps), sorted(gaps)[:5]


async def test_not_modified_is_recorded_and_never_sent_again(
    telegram: FakeTelegram, store: JobStore, worker: HandWorker, tmp_path: Path, user_id: int
) -> None:
    """The store's record is wrong (as a lost write would leave it): Telegram's "not modified" is
    taken as information, recorded, and the same edit is never sent again."""
    config = bot_config(telegram, tmp_path)
    first = await RunningBot(config, store).start()
    try:
        await order_painting(first, telegram, user_id)
        job = await worker.claim()
        await worker.progress(job, step=10)
        await telegram.wait_for(lambda: telegram.calls("editMessageText", chat_id=user_id), what="an edit")
    finally:
        await first.stop()
    async with store.db.transaction() as tx:  # it forgets what the message shows
        await tx.execute("UPDATE deliveries SET text = 'something else' WHERE job_id = ?", (job.id,))
    second = await RunningBot(config, store).start()
    try:
        await telegram.wait_for(lambda: telegram.refusals(chat_id=user_id), what="the refused edit")
        for step in (10, 10, 10):  # wake-ups with nothing new to show
            await worker.progress(job, step=step)
            await asyncio.sleep(EDIT_INTERVAL)
        assert len(telegram.refusals(chat_id=user_id)) == 1, "never sent again"
        display = (await store.claim_deliveries(config.instance_name, [job.id], 5))[job.id]
        assert display.text is not None and display.text.startswith("🎨") and not display.unconfirmed
        await worker.progress(job, step=20)  # something new: edited again, after the interval
        await telegram.wait_for(lambda: len(telegram.calls("editMessageText", chat_id=user_id)) == 2)
    finally:
        await second.stop()
    assert edit_gaps(telegram) and min(edit_gaps(telegram)) >= EDIT_INTERVAL * 0.9


async def _progress_until(worker: HandWorker, jobs: list[Job], done: asyncio.Event, step: list[int]) -> None:
    """Keep the painting going (text only at first, then a new preview every fourth step) until `done`."""
    while not done.is_set():
        step[0] += 1
        preview = "red" if step[0] >= 15 and step[0] % 4 == 0 else None
        for job in jobs:
            await worker.progress(job, step=step[0], total=400, preview_color=preview)
        await asyncio.sleep(0.1)


async def test_kills_at_every_edit_leave_no_refused_edit(
    telegram: FakeTelegram, tmp_path: Path, user_id: int
) -> None:
    """The chaos run: three users' paintings in progress while the bot is killed inside an edit after
    Telegram made it, before it did, inside a preview's upload and inside a failure's message; each
    time a new process takes over. Every painting and failure reaches its user, no edit is refused,
    and edits of one message stay EDIT_INTERVAL apart across the processes."""
    store = await JobStore.open(bot_config(telegram, tmp_path).common)
    bots: list[BotProcess] = []

    async def new_bot() -> BotProcess:
        bot = await BotProcess(telegram, tmp_path).start()
        bots.append(bot)
        return bot

    users = [user_id, user_id + 100, user_id + 200]
    done, step = asyncio.Event(), [0]
    progress: asyncio.Task | None = None
    try:
        bot = await new_bot()
        for user in users:
            message_id, buttons = await send_photo_and_get_keyboard(telegram, user)
            telegram.press(user, message_id, buttons[0][1])
            await telegram.wait_for(
                lambda u=user: any("Queued" in t for t in telegram.texts(u)), what="queued"
            )
        worker = HandWorker(store, tmp_path)
        jobs = [await worker.claim() for _ in users]
        progress = asyncio.create_task(_progress_until(worker, jobs, done, step))
        for method, after in (
            ("editMessageText", True),
            ("sendPhoto", True),
            ("editMessageCaption", True),
            ("editMessageCaption", False),
            ("editMessageMedia", True),
        ):
            telegram.kill_inside(method, bot.pid, after=after, when=lambda call: call.chat_id in users)
            await bot.killed()
            bot = await new_bot()
        done.set()
        await progress
        # One fails: killed just after Telegram showed the failure, so the restarted bot is unsure.
        await worker.store.fail(jobs[0].id, worker.worker_id, FailureCode.PAINT_ERROR.value)
        shown = (await store.claim_deliveries("crash-test", [jobs[0].id], 5))[jobs[0].id]
        edit = "editMessageCaption" if shown.is_photo else "editMessageText"
        telegram.kill_inside(edit, bot.pid, when=lambda call: "couldn't" in call.text)
        await bot.killed()
        bot = await new_bot()
        for job in jobs[1:]:
            await worker.finish(job)
        for job in jobs[1:]:
            assert await eventually(lambda j=job: delivered(store, j.id), timeout=30)
        assert await eventually(lambda: _told(store, jobs[0].id), timeout=30)
    finally:
        done.set()
        if progress is not None:
            await progress
        for bot in bots:
            bot.stop()
        await store.close()
    assert_steady(telegram)
    for user in users[1:]:
        assert len(results(telegram, user)) == 1
    failure = [m for (chat, _), m in telegram.messages.items() if chat == users[0] and "couldn't" in _text(m)]
    assert len(failure) == 1, "the failure is said, once, in the chat"


def _text(message: dict) -> str:
    return message.get("text") or message.get("caption") or ""


async def _told(store: JobStore, job_id: int) -> bool:
    return (await store.get(job_id)).delivered_at is not None


async def test_two_instances_edit_in_turn_without_refusals(
    telegram: FakeTelegram, store: JobStore, tmp_path: Path, user_id: int
) -> None:
    """Two webhook bots on one store: each job's messages are edited only by the instance holding its
    lease, never refused, EDIT_INTERVAL apart; one stops mid-painting and the other carries on."""
    bots = []
    for name in ("bot-a", "bot-b"):
        config = bot_config(telegram, tmp_path, BOT_INSTANCE=name, **webhook_env())
        bots.append(await RunningBot(config, await JobStore.open(config.common)).start())
    telegram.balance([bot.config.webhook_url for bot in bots])
    users = [user_id + n for n in range(4)]
    done, step = asyncio.Event(), [0]
    progress: asyncio.Task | None = None
    try:
        for user in users:
            telegram.send_photo(user, photo_bytes("chelsea"))
            await telegram.wait_for(lambda u=user: telegram.texts(u), what="the photo's answer")
            telegram.send_photo(user, photo_bytes("coffee"))
        worker = HandWorker(store, tmp_path)
        jobs = [await worker.claim() for _ in users]
        progress = asyncio.create_task(_progress_until(worker, jobs, done, step))
        await asyncio.sleep(3 * EDIT_INTERVAL)
        await bots[1].stop()  # its leases go to the other at once
        telegram.balance([bots[0].config.webhook_url])
        await asyncio.sleep(3 * EDIT_INTERVAL)
        done.set()
        await progress
        for job in jobs:
            await worker.finish(job)
        for job in jobs:
            assert await eventually(lambda j=job: delivered(store, j.id), timeout=20)
    finally:
        done.set()
        if progress is not None:
            await progress
        for bot in bots:
            if bot.application.running:
                await bot.stop()
            await bot.store.close()
    assert_steady(telegram)
    assert len(telegram.calls("editMessageCaption")) + len(telegram.calls("editMessageText")) >= len(users)
    for user in users:
        assert len(results(telegram, user)) == 1
