"""Delivery under trouble: flood control, network errors, a flaky store, a deleted status message,
and a bot restart between "painting done" and "delivered" — each painting reaches the user once."""

from __future__ import annotations

import asyncio
import itertools

from drawme.models import Job, JobStatus, StoreUnavailable
from drawme.store import JobStore
from tests.bot.conftest import HandWorker, RunningBot, bot_config
from tests.bot.test_bot_conversation import eventually, queued_job, send_photo_and_get_keyboard
from tests.fake_telegram import FakeTelegram
from tests.sides import BotSide


async def order_painting(bot: RunningBot, telegram: FakeTelegram, user_id: int) -> Job:
    message_id, buttons = await send_photo_and_get_keyboard(telegram, user_id)
    telegram.press(user_id, message_id, buttons[0][1])
    job = await queued_job(bot, user_id)
    await telegram.wait_for(lambda: any("Queued" in t for t in telegram.texts(user_id)))
    return job


def results(telegram: FakeTelegram, user_id: int) -> list:
    return [c for c in telegram.calls("sendPhoto", chat_id=user_id) if "In the style of" in c.text]


async def delivered(store: JobStore, job_id: int) -> Job | None:
    job = await store.get(job_id)
    return job if job.status is JobStatus.DELIVERED else None


async def test_flood_control_during_progress(
    bot: RunningBot, telegram: FakeTelegram, worker: HandWorker, user_id: int
) -> None:
    await order_painting(bot, telegram, user_id)
    job = await worker.claim()
    # More 429s than the rate limiter retries: delivery backs off and tries again on a later tick.
    telegram.flood(times=3, retry_after=1)
    await worker.progress(job, step=15, preview_color="red")
    await telegram.wait_for(
        lambda: telegram.calls("sendPhoto", chat_id=user_id), what="the preview, eventually"
    )
    refused = [c for c in telegram.calls(chat_id=user_id, ok=False)]
    assert len(refused) == 3 and all(c.status == 429 for c in refused)
    for earlier, later in itertools.pairwise(refused):
        assert later.at - earlier.at >= 0.9  # retry_after was honoured

    await worker.finish(job)
    assert await eventually(lambda: delivered(bot.store, job.id))
    assert len(results(telegram, user_id)) == 1


async def test_network_errors_are_retried_and_the_painting_sent_once(
    bot: RunningBot, telegram: FakeTelegram, worker: HandWorker, user_id: int
) -> None:
    await order_painting(bot, telegram, user_id)
    job = await worker.claim()
    telegram.fail_next("sendPhoto", times=2)
    await worker.finish(job)
    assert await eventually(lambda: delivered(bot.store, job.id))
    assert len(telegram.calls("sendPhoto", chat_id=user_id, ok=False)) == 2
    assert len(results(telegram, user_id)) == 1


class FlakyStore(BotSide):
    """The bot's side of the real store, whose first mark_delivered fails as a locked database would."""

    failures = 1

    async def mark_delivered(self, job_id: int, message_id: int | None) -> Job:
        if self.failures:
            self.failures -= 1
            raise StoreUnavailable("database is locked")
        return await self._store.mark_delivered(job_id, message_id)


async def test_store_failure_after_sending_does_not_send_twice(
    telegram: FakeTelegram, tmp_path, user_id: int
) -> None:
    config = bot_config(telegram, tmp_path)
    store = await JobStore.open(config.common)
    flaky = FlakyStore(store)
    bot = await RunningBot(config, store, flaky).start()
    try:
        await order_painting(bot, telegram, user_id)
        hand = HandWorker(store, tmp_path)
        job = await hand.claim()
        await hand.finish(job)
        found = await eventually(lambda: delivered(store, job.id))
        assert found.status is JobStatus.DELIVERED and flaky.failures == 0
        assert len(results(telegram, user_id)) == 1
    finally:
        await bot.stop()
        await store.close()


async def test_deleted_status_message_is_replaced(
    bot: RunningBot, telegram: FakeTelegram, worker: HandWorker, user_id: int
) -> None:
    order = await order_painting(bot, telegram, user_id)
    old_status = (await bot.store.get(order.id)).status_message_id
    del telegram.messages[(user_id, old_status)]  # the user deleted it
    job = await worker.claim()
    await worker.progress(job, step=3)
    # A replacement status comes after STATUS_GRACE (10 s) at the earliest: room for a loaded machine.
    await telegram.wait_for(
        lambda: any("Painting… " in t for t in telegram.texts(user_id)), timeout=60, what="a new status"
    )
    assert (await bot.store.get(job.id)).status_message_id != old_status


async def test_restart_between_done_and_delivered(
    telegram: FakeTelegram, store: JobStore, worker: HandWorker, tmp_path, user_id: int
) -> None:
    config = bot_config(telegram, tmp_path)
    first = await RunningBot(config, store).start()
    job = await order_painting(first, telegram, user_id)
    await first.stop()

    await worker.finish(await worker.claim())  # the engine finishes while the bot is down
    assert (await store.get(job.id)).status is JobStatus.DONE

    second = await RunningBot(config, store).start()
    try:
        assert await eventually(lambda: delivered(store, job.id))
    finally:
        await second.stop()
    third = await RunningBot(config, store).start()
    try:
        await asyncio.sleep(1.0)  # ten store polls: time enough to (wrongly) deliver it again
    finally:
        await third.stop()
    assert len(results(telegram, user_id)) == 1, "delivered exactly once across restarts"
    leftovers = [m for m in telegram.messages.values() if "Queued" in m.get("text", "")]
    assert not leftovers, "the progress message made way for the painting"
