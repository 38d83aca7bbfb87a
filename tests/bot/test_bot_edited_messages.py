"""Edited messages: a plain answer for an edited text or caption, silence for a moving live location,
never the apology for an error; and Telegram is asked only for the update types the bot handles."""

from __future__ import annotations

from pathlib import Path

from bot import texts
from bot.i18n import ENGLISH
from tests.bot.conftest import RunningBot, photo_bytes
from tests.bot.test_bot_crashes import BotProcess
from tests.fake_telegram import FakeTelegram

EDITED = ENGLISH(texts.EDITED)
ERROR = ENGLISH(texts.ERROR)


async def test_an_edited_command_or_text_gets_a_plain_answer_not_an_apology(
    bot: RunningBot, telegram: FakeTelegram, user_id: int
) -> None:
    command = telegram.send_text(user_id, "/start")
    await telegram.wait_for(lambda: any("Hi User" in t for t in telegram.texts(user_id)), what="greeting")
    telegram.edit_text(user_id, command, "/help")
    await telegram.wait_for(lambda: EDITED in telegram.texts(user_id), what="the answer to the edit")
    words = telegram.send_text(user_id, "hello")
    telegram.edit_text(user_id, words, "hello there")
    await telegram.wait_for(lambda: telegram.texts(user_id).count(EDITED) == 2, what="second answer")
    assert ERROR not in telegram.texts(user_id)


async def test_an_edited_caption_is_answered_and_a_moving_location_is_not(
    bot: RunningBot, telegram: FakeTelegram, user_id: int
) -> None:
    photo = telegram.send_photo(user_id, photo_bytes(), caption="me")
    await telegram.wait_for(lambda: any("Got your photo" in t for t in telegram.texts(user_id)))
    location = telegram.send_other(user_id, "location")
    await telegram.wait_for(lambda: any("location" in t for t in telegram.texts(user_id)))
    before = len(telegram.texts(user_id))
    telegram.move_location(user_id, location, 48.53)
    telegram.edit_text(user_id, photo, "me, painted")
    await telegram.wait_for(lambda: EDITED in telegram.texts(user_id), what="the answer to the edit")
    assert telegram.texts(user_id)[before:] == [EDITED]  # the location's move got nothing
    assert ERROR not in telegram.texts(user_id)


async def test_the_bot_asks_telegram_only_for_the_updates_it_handles(
    telegram: FakeTelegram, tmp_path: Path, user_id: int
) -> None:
    """`python -m bot` as in production: Telegram keeps a member update (someone adding the bot to a
    group, a reaction) to itself, and the bot answers messages as before."""
    process = await BotProcess(telegram, tmp_path).start()
    try:
        await telegram.wait_for(lambda: telegram.calls("getUpdates"), what="the first poll")
        asked = telegram.calls("getUpdates")[-1].params["allowed_updates"]
        assert set(asked) == {"message", "edited_message", "callback_query", "inline_query"}
        telegram.push_update(
            message_reaction={
                "chat": {"id": user_id, "type": "private"},
                "message_id": 1,
                "date": 0,
                "old_reaction": [],
                "new_reaction": [{"type": "emoji", "emoji": "👍"}],
            }
        )
        telegram.send_text(user_id, "/help")
        await telegram.wait_for(lambda: any("/styles" in t for t in telegram.texts(user_id)), what="help")
        assert [next(iter(set(u) - {"update_id"})) for u in telegram.not_delivered] == ["message_reaction"]
    finally:
        process.stop()
