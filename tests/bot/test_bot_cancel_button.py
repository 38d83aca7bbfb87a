"""✖ Cancel under each status message cancels that painting only; /cancel still cancels them all."""

from __future__ import annotations

from bot import texts
from bot.i18n import ENGLISH
from drawme.models import JobStatus
from tests.bot.conftest import HandWorker, RunningBot
from tests.bot.test_bot_conversation import eventually, queued_job, send_photo_and_get_keyboard
from tests.bot.test_bot_delivery import delivered
from tests.fake_telegram import FakeTelegram

CANCEL = ENGLISH(texts.CANCEL_BUTTON)


async def order(bot: RunningBot, telegram: FakeTelegram, user_id: int, count: int) -> tuple[int, int]:
    """Order painting number `count`; returns (job id, its status message id)."""
    message_id, buttons = await send_photo_and_get_keyboard(telegram, user_id)
    telegram.press(user_id, message_id, buttons[0][1])
    job = await queued_job(bot, user_id, count)
    status = await eventually(lambda: _status_message(bot, job.id))
    return job.id, status


async def _status_message(bot: RunningBot, job_id: int) -> int | None:
    return (await bot.store.get(job_id)).status_message_id


def cancel_data(telegram: FakeTelegram, user_id: int, message_id: int) -> str:
    buttons = telegram.buttons(user_id, message_id)
    assert [label for label, _ in buttons] == [CANCEL]
    return buttons[0][1]


async def test_the_cancel_button_cancels_that_painting_only(
    bot: RunningBot, telegram: FakeTelegram, worker: HandWorker, user_id: int
) -> None:
    first, first_status = await order(bot, telegram, user_id, 1)
    second, second_status = await order(bot, telegram, user_id, 2)
    # The first one starts painting: its status message (now a preview photo) keeps the button.
    job = await worker.claim()
    assert job.id == first
    await worker.progress(job, step=10, preview_color="red")
    await telegram.wait_for(lambda: telegram.calls("sendPhoto", chat_id=user_id), what="the preview")
    preview_status = await eventually(
        lambda: _changed(bot, first, first_status)
    )  # the preview replaced the text status
    cancel_data(telegram, user_id, preview_status)

    # Cancel the queued second one: cancelled at once, its message says so and loses the button.
    telegram.press(user_id, second_status, cancel_data(telegram, user_id, second_status))
    await eventually(lambda: _told(bot, second))
    assert (await bot.store.get(second)).status is JobStatus.CANCELLED
    await telegram.wait_for(
        lambda: telegram.messages[(user_id, second_status)].get("text") == ENGLISH(texts.CANCELLED)
    )
    assert "reply_markup" not in telegram.messages[(user_id, second_status)]
    answers = telegram.calls("answerCallbackQuery")
    assert answers and answers[-1].ok
    assert (await bot.store.get(first)).cancel_requested is False  # the other painting carries on

    # Cancel the running first one: the worker is asked to stop, the message says it is stopping.
    telegram.press(user_id, preview_status, cancel_data(telegram, user_id, preview_status))
    await eventually(lambda: _cancel_requested(bot, first))
    await telegram.wait_for(
        lambda: telegram.messages[(user_id, preview_status)].get("caption") == ENGLISH(texts.STOPPING),
        what="the stopping caption",
    )
    assert "reply_markup" not in telegram.messages[(user_id, preview_status)]


async def test_a_finished_painting_says_so_when_its_cancel_is_tapped(
    bot: RunningBot, telegram: FakeTelegram, worker: HandWorker, user_id: int
) -> None:
    job_id, status = await order(bot, telegram, user_id, 1)
    data = cancel_data(telegram, user_id, status)
    job = await worker.claim()
    await worker.finish(job)
    await eventually(lambda: delivered(bot.store, job_id))
    calls = len(telegram.requests)
    telegram.press(user_id, status, data)  # a tap that raced the painting's arrival
    await telegram.wait_for(
        lambda: ENGLISH(texts.ALREADY_FINISHED) in telegram.texts(user_id), what="already finished"
    )
    after = [c.method for c in telegram.requests[calls:] if c.method != "getUpdates"]
    assert after.index("answerCallbackQuery") < after.index("sendMessage")  # answered first
    assert (await bot.store.get(job_id)).status is JobStatus.DELIVERED


async def test_cancel_still_cancels_everything(bot: RunningBot, telegram: FakeTelegram, user_id: int) -> None:
    first, _ = await order(bot, telegram, user_id, 1)
    second, _ = await order(bot, telegram, user_id, 2)
    telegram.send_text(user_id, "/cancel")
    for job_id in (first, second):
        await eventually(lambda job_id=job_id: _told(bot, job_id))
        assert (await bot.store.get(job_id)).status is JobStatus.CANCELLED


async def _changed(bot: RunningBot, job_id: int, old: int) -> int | None:
    current = await _status_message(bot, job_id)
    return current if current not in (None, old) else None


async def _told(bot: RunningBot, job_id: int) -> bool:
    """The job has ended and its user has been told."""
    return (await bot.store.get(job_id)).delivered_at is not None


async def _cancel_requested(bot: RunningBot, job_id: int) -> bool:
    return (await bot.store.get(job_id)).cancel_requested
