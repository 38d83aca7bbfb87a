"""Privacy, said and done: /privacy in both languages with the retention period, /export the user's own
zip (the operator's `admin export` archive), and /forget deleting their raw updates in the inbox too."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

from bot import texts
from bot.i18n import ENGLISH
from drawme.store import JobStore
from tests.bot.conftest import HandWorker, RunningBot, bot_config
from tests.bot.test_bot_conversation import eventually
from tests.bot.test_bot_delivery import delivered, order_painting
from tests.fake_telegram import FakeTelegram


async def test_privacy_says_what_is_kept_for_how_long_in_both_languages(
    telegram: FakeTelegram, store: JobStore, tmp_path: Path, user_id: int
) -> None:
    bot = await RunningBot(bot_config(telegram, tmp_path, RETENTION_DAYS="3"), store).start()
    try:
        russian = user_id + 1
        telegram.languages[russian] = "ru"
        telegram.send_text(user_id, "/privacy")
        telegram.send_text(russian, "/privacy")
        await telegram.wait_for(lambda: telegram.texts(user_id) and telegram.texts(russian))
        english_text, russian_text = telegram.texts(user_id)[0], telegram.texts(russian)[0]
        assert english_text.startswith("🔒 What I keep about you") and "deleted 3 days after" in english_text
        assert "/export" in english_text and "/forget" in english_text
        assert russian_text.startswith("🔒 Что я о вас храню") and "через 3 дня" in russian_text
        message_id, _ = telegram.last_message(user_id, "What I keep")
        labels = [label for label, _ in telegram.buttons(user_id, message_id)]
        assert labels == [ENGLISH(texts.EXPORT_BUTTON), ENGLISH(texts.FORGET_BUTTON)]
        assert {"privacy", "export"} <= {c["command"] for c in telegram.menu(user_id)}
    finally:
        await bot.stop()


async def test_export_sends_the_users_own_zip(
    bot: RunningBot, telegram: FakeTelegram, worker: HandWorker, user_id: int
) -> None:
    job = await order_painting(bot, telegram, user_id)
    painting = await worker.finish(await worker.claim())
    await eventually(lambda: delivered(bot.store, job.id))
    someone_else = user_id + 1
    await order_painting(bot, telegram, someone_else)

    telegram.send_text(user_id, "/export")
    sent = await telegram.wait_for(lambda: telegram.calls("sendDocument", chat_id=user_id), what="the zip")
    upload = sent[0].files["document"]
    assert upload.filename == "drawme-my-data.zip"
    assert sent[0].text == ENGLISH.plural(texts.EXPORT_CAPTION, 2)  # the photo and the painting
    with zipfile.ZipFile(io.BytesIO(upload.data)) as archive:
        record = json.loads(archive.read("user.json"))
        files = {name: archive.read(name) for name in archive.namelist() if name.startswith("files/")}
    # The same record and files as the operator's export, and nobody else's.
    assert record == json.loads(json.dumps(await bot.store.export_user(user_id), default=str))
    assert [j["id"] for j in record["jobs"]] == [job.id]
    assert painting in files.values() and len(files) == 2
    assert telegram.calls("sendChatAction", chat_id=user_id)[-1].params["action"] == "upload_document"


async def test_the_privacy_buttons_export_and_ask_before_deleting(
    bot: RunningBot, telegram: FakeTelegram, user_id: int
) -> None:
    telegram.send_text(user_id, "/privacy")
    await telegram.wait_for(lambda: telegram.texts(user_id))
    message_id, _ = telegram.last_message(user_id, "What I keep")
    buttons = dict(telegram.buttons(user_id, message_id))
    telegram.press(user_id, message_id, buttons[ENGLISH(texts.EXPORT_BUTTON)])
    await telegram.wait_for(lambda: telegram.calls("sendDocument", chat_id=user_id), what="the zip")
    telegram.press(user_id, message_id, buttons[ENGLISH(texts.FORGET_BUTTON)])
    await telegram.wait_for(lambda: ENGLISH(texts.FORGET_ASK) in telegram.texts(user_id), what="the question")
    ask_id, _ = telegram.last_message(user_id, ENGLISH(texts.FORGET_ASK))
    assert [label for label, _ in telegram.buttons(user_id, ask_id)] == [
        ENGLISH(texts.FORGET_YES),
        ENGLISH(texts.FORGET_NO),
    ]


async def test_forget_deletes_the_users_raw_updates_too(
    bot: RunningBot, telegram: FakeTelegram, user_id: int
) -> None:
    someone_else = user_id + 1
    await order_painting(bot, telegram, user_id)
    telegram.send_text(someone_else, "hello")
    await telegram.wait_for(lambda: telegram.texts(someone_else))
    assert await inbox_of(bot.store, user_id) and await inbox_of(bot.store, someone_else)

    telegram.send_text(user_id, "/forget")
    await telegram.wait_for(lambda: ENGLISH(texts.FORGET_ASK) in telegram.texts(user_id))
    ask_id, _ = telegram.last_message(user_id, ENGLISH(texts.FORGET_ASK))
    telegram.press(user_id, ask_id, dict(telegram.buttons(user_id, ask_id))[ENGLISH(texts.FORGET_YES)])
    await telegram.wait_for(
        lambda: telegram.messages[(user_id, ask_id)]["text"].startswith("Done. Everything about you")
    )
    # Nothing of theirs is left in the inbox (the tap itself is marked done without coming back).
    await eventually(lambda: _none_left(bot.store, user_id))
    assert await inbox_of(bot.store, someone_else)
    assert await bot.store.jobs_of(user_id, active_only=False) == []


async def inbox_of(store: JobStore, user_id: int) -> list[str]:
    async with store.db.transaction(write=False) as tx:
        rows = await tx.rows("SELECT body FROM inbox WHERE user_id = ?", (user_id,))
    return [row["body"] for row in rows]


async def _none_left(store: JobStore, user_id: int) -> bool:
    async with store.db.transaction(write=False) as tx:
        rows = await tx.rows("SELECT body FROM inbox WHERE body LIKE ?", (f'%"id": {user_id}%',))
    return not rows
