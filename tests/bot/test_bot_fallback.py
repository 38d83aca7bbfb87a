"""Text the bot does not expect gets an answer that knows where the user stands: the paintings to tap
for a waiting photo, the painting in progress, the buttons of the last painting — never a blind
"send me a photo" to someone who just got one."""

from __future__ import annotations

from bot import texts
from bot.conversation import STYLE_TAP
from bot.i18n import ENGLISH
from drawme.models import JobStatus
from tests.bot.conftest import HandWorker, RunningBot
from tests.bot.test_bot_conversation import eventually, queued_job, send_photo_and_get_keyboard
from tests.bot.test_bot_delivery import delivered, order_painting
from tests.fake_telegram import FakeTelegram


async def answer_to(telegram: FakeTelegram, user_id: int, text: str, expected: str) -> int:
    """Send `text`; the message id of the bot's answer, which starts with `expected`."""
    telegram.send_text(user_id, text)
    await telegram.wait_for(
        lambda: any(t.startswith(expected) for t in telegram.texts(user_id)), what=expected
    )
    message_id, _ = telegram.last_message(user_id, expected)
    return message_id


async def test_a_new_user_is_told_to_send_a_photo(
    bot: RunningBot, telegram: FakeTelegram, user_id: int
) -> None:
    message_id = await answer_to(telegram, user_id, "hello", ENGLISH(texts.UNKNOWN_TEXT))
    assert telegram.buttons(user_id, message_id) == []


async def test_a_waiting_photo_gets_the_paintings_to_tap(
    bot: RunningBot, telegram: FakeTelegram, user_id: int
) -> None:
    _, photo_buttons = await send_photo_and_get_keyboard(telegram, user_id)
    message_id = await answer_to(telegram, user_id, "what now?", ENGLISH(texts.UNKNOWN_TEXT_WAITING))
    buttons = telegram.buttons(user_id, message_id)
    assert buttons == photo_buttons  # the same paintings, for the same photo
    telegram.press(user_id, message_id, buttons[1][1])
    job = await queued_job(bot, user_id)
    assert job.style_preset == "the_scream"


async def test_text_during_a_painting_says_it_is_on_its_way(
    bot: RunningBot, telegram: FakeTelegram, user_id: int
) -> None:
    await order_painting(bot, telegram, user_id)
    await answer_to(telegram, user_id, "hurry up", ENGLISH(texts.UNKNOWN_TEXT_BUSY))


async def test_text_after_a_painting_offers_its_buttons(
    bot: RunningBot, telegram: FakeTelegram, worker: HandWorker, user_id: int
) -> None:
    job = await order_painting(bot, telegram, user_id)
    await worker.finish(await worker.claim())
    await eventually(lambda: delivered(bot.store, job.id))
    expected = ENGLISH(texts.UNKNOWN_TEXT_AFTER, style="Starry Night · Van Gogh")
    message_id = await answer_to(telegram, user_id, "thanks!", expected)
    assert ENGLISH(texts.UNKNOWN_TEXT) not in telegram.texts(user_id)
    buttons = dict(telegram.buttons(user_id, message_id))
    assert buttons[ENGLISH(texts.MORE_STYLE)] == f"r:more:{job.id}:{user_id}"
    telegram.press(user_id, message_id, buttons[ENGLISH(texts.MORE_STYLE)])
    again = await queued_job(bot, user_id, 2)
    assert again.params.blend.style == STYLE_TAP * job.params.blend.style
    assert again.status is JobStatus.QUEUED
