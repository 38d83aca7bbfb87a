"""Sharing: the Share button under each painting and inline mode, which lists only the asking user's
own paintings (by the file ids Telegram gave them when they were sent), end to end through the fake
Bot API; no Share button while inline mode is off; and the fake's inline answers refused the way
Telegram refuses them."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from telegram import InlineQueryResultArticle, InputTextMessageContent
from telegram.error import BadRequest
from telegram.ext import InlineQueryHandler

from bot import sharing, texts
from bot.i18n import ENGLISH
from drawme.models import Job, JobStatus
from drawme.store import JobStore
from tests.bot.conftest import HandWorker, RunningBot, bot_config
from tests.bot.test_bot_conversation import eventually, queued_job, send_photo_and_get_keyboard
from tests.fake_telegram import FakeTelegram

ANYWHERE = {"query": "", "allow_user_chats": True, "allow_group_chats": True, "allow_channel_chats": True}


async def paint(bot: RunningBot, telegram: FakeTelegram, worker: HandWorker, user_id: int, nth: int) -> Job:
    """The user's `nth` painting, ordered with the first preset and delivered."""
    message_id, buttons = await send_photo_and_get_keyboard(telegram, user_id)
    telegram.press(user_id, message_id, buttons[0][1])
    job = await queued_job(bot, user_id, count=nth)
    assert (await worker.claim()).id == job.id
    await worker.finish(job)

    async def delivered() -> bool:
        return (await bot.store.get(job.id)).status is JobStatus.DELIVERED

    assert await eventually(delivered)
    return job


def sent_painting(telegram: FakeTelegram, user_id: int, nth: int) -> tuple[int, str]:
    """The `nth` painting's message id and the file id Telegram gave its (largest) photo."""
    call = [c for c in telegram.calls("sendPhoto", chat_id=user_id) if "In the style of" in c.text][nth - 1]
    message_id, content = telegram.last_message(user_id, call.text)
    return message_id, content["photo"][-1]["file_id"]


async def answer(telegram: FakeTelegram, query: dict) -> dict:
    """The bot's answer to an inline query (its parameters), once it came."""
    return await telegram.wait_for(lambda: telegram.inline_answers.get(query["id"]), what="the inline answer")


async def test_an_inline_query_lists_only_the_asking_users_own_paintings(
    bot: RunningBot, telegram: FakeTelegram, worker: HandWorker, user_id: int
) -> None:
    first = await paint(bot, telegram, worker, user_id, 1)
    message_id, first_file = sent_painting(telegram, user_id, 1)
    # The Share button sits next to "Full resolution" and opens the chat picker, any kind of chat.
    labels = [label for label, _ in telegram.buttons(user_id, message_id)]
    assert labels[-2:] == ["⬇️ Full resolution", texts.SHARE]
    assert dict(telegram.buttons(user_id, message_id))[texts.SHARE] == "", "no callback data"
    share = telegram.button(user_id, message_id, texts.SHARE)
    assert share["switch_inline_query_chosen_chat"] == ANYWHERE

    # Tapping Share, then picking a chat: the bot's answer offers that painting by its file id.
    listed = await answer(telegram, telegram.switch_inline(user_id, message_id, texts.SHARE))
    assert listed["is_personal"] is True and listed["cache_time"] == sharing.CACHE_SECONDS
    assert "button" not in listed
    assert listed["results"] == [
        {
            "type": "photo",
            "id": str(first.id),
            "photo_file_id": first_file,
            "caption": texts.share_caption(ENGLISH, "starry_night"),
        }
    ]

    second = await paint(bot, telegram, worker, user_id, 2)
    _, second_file = sent_painting(telegram, user_id, 2)
    results = (await answer(telegram, telegram.inline_query(user_id, chat_type="group")))["results"]
    assert [(r["id"], r["photo_file_id"]) for r in results] == [
        (str(second.id), second_file),
        (str(first.id), first_file),
    ], "newest first"

    # Someone else typing @bot sees none of them: a button to the bot to make their own instead.
    other = user_id + 100_000
    theirs = await answer(telegram, telegram.inline_query(other, "cat"))
    assert theirs["results"] == []
    assert theirs["button"] == {"text": texts.SHARE_NONE, "start_parameter": sharing.START_PARAMETER}
    assert theirs["is_personal"] is True, "Telegram must not show one user's answer to another"
    # The button opens the bot with /start share: the usual greeting that explains how.
    telegram.send_text(other, f"/start {sharing.START_PARAMETER}")
    await telegram.wait_for(lambda: any("I paint your photos" in t for t in telegram.texts(other)))

    # After /forget, nothing is left to share.
    telegram.send_text(user_id, "/forget")
    await telegram.wait_for(lambda: any("can't be undone" in t for t in telegram.texts(user_id)))
    ask_id, _ = telegram.last_message(user_id, "can't be undone")
    telegram.press(user_id, ask_id, "f:yes")
    await telegram.wait_for(lambda: telegram.messages[(user_id, ask_id)]["text"].startswith("Done."))
    forgotten = await answer(telegram, telegram.inline_query(user_id))
    assert forgotten["results"] == [] and forgotten["button"]["start_parameter"] == "share"


async def test_an_answer_that_comes_too_late_is_let_go(
    bot: RunningBot, telegram: FakeTelegram, user_id: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    telegram.inline_query_seconds = 0.0  # every query has expired by the time the bot answers
    late = telegram.inline_query(user_id)
    await telegram.wait_for(lambda: telegram.calls("answerInlineQuery", ok=False), what="the refused answer")
    assert late["id"] not in telegram.inline_answers
    telegram.inline_query_seconds = 60.0
    assert (await answer(telegram, telegram.inline_query(user_id)))["results"] == [], "the bot carries on"
    messages = [record.getMessage() for record in caplog.records]
    assert "inline query expired before its answer" in messages
    assert "unhandled error" not in messages, "an expired query is no error"


async def test_without_inline_mode_paintings_come_without_a_share_button(
    telegram: FakeTelegram,
    store: JobStore,
    worker: HandWorker,
    tmp_path: Path,
    user_id: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    telegram.bot_user["supports_inline_queries"] = False  # @BotFather's /setinline never sent
    bot = await RunningBot(bot_config(telegram, tmp_path), store).start()
    try:
        assert any("inline mode is off" in record.getMessage() for record in caplog.records)
        await paint(bot, telegram, worker, user_id, 1)
        message_id, _ = sent_painting(telegram, user_id, 1)
        assert [label for label, _ in telegram.buttons(user_id, message_id)][-1] == "⬇️ Full resolution"
        assert texts.SHARE not in dict(telegram.buttons(user_id, message_id))
    finally:
        await bot.stop()


def article(result_id: str) -> InlineQueryResultArticle:
    return InlineQueryResultArticle(result_id, "t", InputTextMessageContent("x"))


@pytest.mark.parametrize(
    ("results", "refusal"),
    [
        ([article(str(i)) for i in range(51)], "RESULTS_TOO_MUCH"),
        ([article("1"), article("1")], "RESULT_ID_DUPLICATE"),
        ([article("x" * 65)], "RESULT_ID_INVALID"),
    ],
)
async def test_the_fake_refuses_inline_answers_as_telegram_does(
    bot: RunningBot, telegram: FakeTelegram, user_id: int, results: list, refusal: str
) -> None:
    own = next(h for h in bot.application.handlers[0] if isinstance(h, InlineQueryHandler))
    bot.application.remove_handler(own)  # the test answers by hand, not the bot
    query = telegram.inline_query(user_id)
    api = bot.application.bot
    with pytest.raises(BadRequest, match=f"(?i){refusal}"):  # PTB words it "Results_too_much"
        await api.answer_inline_query(query["id"], results)
    assert await api.answer_inline_query(query["id"], [article("ok")])
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):  # answered once already
        await api.answer_inline_query(query["id"], [article("ok")])
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):  # a query nobody asked
        await api.answer_inline_query("12345", [])
