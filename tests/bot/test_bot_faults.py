"""The bot under Telegram's faults: a blocked user, a flood, a 429 for one chat. Each of these once
held up everyone else; the checks go by the order of requests in the fake's record, never by time."""

from __future__ import annotations

import asyncio

from bot import texts
from drawme.models import JobStatus
from drawme.store import JobStore
from tests.bot.conftest import HandWorker, RunningBot, bot_config, photo_bytes
from tests.bot.test_bot_conversation import eventually, queued_job, send_photo_and_get_keyboard
from tests.bot.test_bot_delivery import delivered, order_painting, results
from tests.fake_telegram import FakeTelegram


def _index(telegram: FakeTelegram, predicate) -> int:
    """Position in the fake's record of the first successful request matching `predicate`."""
    return next(i for i, call in enumerate(telegram.requests) if call.ok and predicate(call))


async def test_a_blocked_user_stalls_nobody_and_is_sent_nothing_more(
    bot: RunningBot, telegram: FakeTelegram, worker: HandWorker, user_id: int
) -> None:
    blocker, other = user_id, user_id + 50_000
    running = await order_painting(bot, telegram, blocker)
    job = await worker.claim()
    assert job.id == running.id
    message_id, buttons = await send_photo_and_get_keyboard(telegram, blocker, "coffee")
    telegram.press(blocker, message_id, buttons[0][1])
    waiting = await queued_job(bot, blocker, count=2)  # a second one, still queued
    theirs = await order_painting(bot, telegram, other)

    telegram.block(blocker)
    await worker.progress(job, step=10)  # the status edit meets 403
    # The blocked user's queued job is cancelled, the running one asked to stop.
    assert await eventually(lambda: _status_is(bot, waiting.id, JobStatus.CANCELLED))
    assert (await bot.store.get(job.id)).cancel_requested
    assert await eventually(lambda: _delivered_at(bot, waiting.id))

    # Everyone else is served as if nothing happened.
    other_job = await worker.claim()
    assert other_job.id == theirs.id
    await worker.finish(other_job)
    assert await eventually(lambda: delivered(bot.store, theirs.id))
    assert len(results(telegram, other)) == 1

    await bot.store.mark_cancelled(job.id, worker.worker_id)  # the worker honours the cancel
    assert await eventually(lambda: _delivered_at(bot, job.id))
    await asyncio.sleep(0.5)  # a few more ticks
    refused = telegram.calls(chat_id=blocker, ok=False)
    assert [c.status for c in refused] == [403], "one refused call, then nothing more to that chat"


async def test_chat_not_found_is_treated_like_a_block(
    bot: RunningBot, telegram: FakeTelegram, worker: HandWorker, user_id: int
) -> None:
    order = await order_painting(bot, telegram, user_id)
    job = await worker.claim()
    telegram.lose_chat(user_id)
    await worker.finish(job)
    found = await eventually(lambda: _delivered_at(bot, order.id))
    assert found.status is JobStatus.DELIVERED  # settled: nobody to tell any more
    await asyncio.sleep(0.5)
    assert len(telegram.calls(chat_id=user_id, ok=False)) == 1


async def test_a_flood_from_one_user_gets_one_slow_down_and_others_go_first(
    bot: RunningBot, telegram: FakeTelegram, user_id: int
) -> None:
    flooder, other = user_id, user_id + 50_000
    picture = photo_bytes()
    for _ in range(30):
        telegram.send_photo(flooder, picture)
    telegram.send_text(other, "/help")
    await telegram.wait_for(lambda: telegram.texts(other), what="the other user's answer")
    await telegram.wait_for(lambda: texts.SLOW_DOWN in telegram.texts(flooder), what="slow down")
    await asyncio.sleep(1.0)  # let the flooder's burst be answered in full

    answers = telegram.texts(flooder)
    assert answers.count(texts.SLOW_DOWN) == 1, "one 'slow down' for the whole burst"
    assert len(answers) <= bot.config.chat_burst + 1, "the burst is not handled photo by photo"
    downloads = {c.params["file_id"] for c in telegram.calls("getFile")}
    assert len(downloads) <= bot.config.chat_burst
    # The other user's answer came before the flooder's burst had been answered.
    last_flood_answer = max(
        i
        for i, c in enumerate(telegram.requests)
        if c.ok and c.chat_id == flooder and c.method == "sendMessage"
    )
    assert _index(telegram, lambda c: c.chat_id == other and c.method == "sendMessage") < last_flood_answer


async def test_a_429_for_one_chat_does_not_pause_the_others(
    bot: RunningBot, telegram: FakeTelegram, user_id: int
) -> None:
    flooded, other = user_id, user_id + 50_000
    telegram.limit_per_chat(burst=1, window=3.0)  # the second message within 3 s gets 429, retry 3 s
    telegram.send_text(flooded, "/help")
    await telegram.wait_for(lambda: telegram.texts(flooded))
    telegram.send_text(flooded, "/start")
    await telegram.wait_for(lambda: telegram.calls(chat_id=flooded, ok=False), what="the 429")
    telegram.send_text(other, "/help")
    await telegram.wait_for(lambda: len(telegram.texts(flooded)) == 2, timeout=10, what="the retried answer")
    await telegram.wait_for(lambda: telegram.texts(other))
    # The flooded chat waited out its retry_after; the other chat's answer did not wait with it.
    retried = max(i for i, c in enumerate(telegram.requests) if c.ok and c.chat_id == flooded)
    assert _index(telegram, lambda c: c.chat_id == other) < retried
    refused = telegram.calls(chat_id=flooded, ok=False)
    assert all(c.status == 429 for c in refused) and len(refused) == 1


async def _status_is(bot: RunningBot, job_id: int, status: JobStatus):
    job = await bot.store.get(job_id)
    return job if job.status is status else None


async def _delivered_at(bot: RunningBot, job_id: int):
    job = await bot.store.get(job_id)
    return job if job.delivered_at is not None else None


async def test_the_blocked_mark_outlives_a_restart_until_the_user_comes_back(
    telegram: FakeTelegram, store: JobStore, worker: HandWorker, tmp_path, user_id: int
) -> None:
    """The mark is in the store: a restarted bot sends a blocked chat nothing (not even one more
    refused call) for the job that ended while it was down, until the user asks for a painting again."""
    config = bot_config(telegram, tmp_path)
    first = await RunningBot(config, store).start()
    try:
        await order_painting(first, telegram, user_id)
        job = await worker.claim()
        telegram.block(user_id)
        await worker.progress(job, step=10)  # the status edit meets 403
        assert await eventually(lambda: _cancel_asked(store, job.id))
    finally:
        await first.stop()
    await store.mark_cancelled(job.id, worker.worker_id)  # the worker stops while the bot is down
    second = await RunningBot(config, store).start()
    try:
        assert await eventually(lambda: _told(store, job.id)), "closed without a word"
        assert [c.status for c in telegram.calls(chat_id=user_id, ok=False)] == [403]
        assert not [c for c in telegram.calls(chat_id=user_id) if c.at > telegram.calls(ok=False)[-1].at]
        telegram.blocked.discard(user_id)  # they unblock the bot and ask again: served as before
        await order_painting(second, telegram, user_id)
        again = await worker.claim()
        await worker.finish(again)
        assert await eventually(lambda: delivered(store, again.id))
        assert len(results(telegram, user_id)) == 1
    finally:
        await second.stop()


async def _cancel_asked(store: JobStore, job_id: int) -> bool:
    return (await store.get(job_id)).cancel_requested


async def _told(store: JobStore, job_id: int) -> bool:
    return (await store.get(job_id)).delivered_at is not None
