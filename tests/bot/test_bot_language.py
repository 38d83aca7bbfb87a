"""The bot speaks the user's language: Telegram's `language_code` picks the catalog, for the replies,
the buttons, the command menu, and the messages the delivery sends later."""

from __future__ import annotations

from pathlib import Path

from drawme.store import JobStore
from tests.bot.conftest import HandWorker, RunningBot, bot_config, photo_bytes
from tests.bot.test_bot_conversation import _find, queued_job
from tests.fake_telegram import FakeTelegram


async def test_a_russian_user_gets_russian_from_start_to_painting(
    bot: RunningBot, telegram: FakeTelegram, worker: HandWorker, user_id: int
) -> None:
    english = user_id + 1
    telegram.languages[user_id] = "ru-RU"
    telegram.send_text(user_id, "/start")
    telegram.send_text(english, "/start")
    await telegram.wait_for(lambda: telegram.texts(user_id) and telegram.texts(english))
    assert telegram.texts(user_id)[0].startswith(f"Привет, User{user_id}! 👋")
    assert telegram.texts(english)[0].startswith(f"Hi User{english}! 👋")

    # The menu: English for everyone, Russian for Russian clients.
    assert telegram.menu(english)[0]["description"] == "How it works"
    assert telegram.menu(user_id)[0]["description"] == "Как это работает"
    # And "What can this bot do?", shown before Start, in both.
    assert telegram.profile[("description", "")].startswith("I paint your photo")
    assert telegram.profile[("description", "ru")].startswith("Я рисую ваше фото")
    assert telegram.profile[("short_description", "ru")].startswith("Ваше фото")

    telegram.send_photo(user_id, photo_bytes())
    await telegram.wait_for(lambda: any("Фото получено" in t for t in telegram.texts(user_id)))
    message_id, _ = telegram.last_message(user_id, "Фото получено")
    buttons = dict(telegram.buttons(user_id, message_id))
    telegram.press(user_id, message_id, buttons["Большая волна · Хокусай"])
    job = await queued_job(bot, user_id)
    assert job.style_preset == "great_wave"
    await telegram.wait_for(lambda: any(t.startswith("⏳ В очереди") for t in telegram.texts(user_id)))
    assert (await bot.store.get_settings(user_id)).language == "ru"  # for what is sent later

    # What the delivery sends later, outside any update from the user, is Russian too.
    claimed = await worker.claim()
    await worker.progress(claimed, step=10, preview_color="red")
    preview = await telegram.wait_for(lambda: telegram.calls("sendPhoto", chat_id=user_id))
    assert "🎨 Рисую… ▓▓░░░░░░ 33%" in preview[0].text and "осталось ~10 с" in preview[0].text
    await worker.finish(claimed)
    result_id, result = await telegram.wait_for(lambda: _find(telegram, user_id, "В стиле"))
    assert "🖼 В стиле: Большая волна · Хокусай" in result["caption"]
    assert "×" not in result["caption"]  # nothing changed from the defaults: no line about it
    labels = [label for label, _ in telegram.buttons(user_id, result_id)]
    assert "➕ Больше стиля" in labels and "⬇️ Полное разрешение" in labels

    # A button answered in Russian too.
    before = len(telegram.calls("answerCallbackQuery"))
    telegram.press(user_id, result_id, "r:explode:1")
    answers = await telegram.wait_for(lambda: telegram.calls("answerCallbackQuery")[before:])
    assert answers[0].params.get("text") == "Эта кнопка устарела."


async def test_language_switches_and_remembers_the_choice(
    telegram: FakeTelegram, store: JobStore, tmp_path: Path, worker: HandWorker, user_id: int
) -> None:
    """An English Telegram app, Russian by choice: replies, buttons, the menu and later messages;
    remembered across a restart of the bot; and back to the app's language on request."""
    bot = await RunningBot(bot_config(telegram, tmp_path), store).start()
    try:
        await _choose_russian(telegram, user_id)
        assert (await store.get_settings(user_id)).chosen_language == "ru"
    finally:
        await bot.stop()  # remembered in the store, not in the bot's memory
    restarted = await RunningBot(bot_config(telegram, tmp_path), store).start()
    try:
        await _after_restart(telegram, worker, user_id)
    finally:
        await restarted.stop()


async def _choose_russian(telegram: FakeTelegram, user_id: int) -> None:
    telegram.send_text(user_id, "/language")
    await telegram.wait_for(lambda: any("Which language" in t for t in telegram.texts(user_id)))
    message_id, _ = telegram.last_message(user_id, "Which language")
    buttons = telegram.buttons(user_id, message_id)
    assert [label for label, _ in buttons] == ["English", "Русский", "✅ 📱 My Telegram app's"]
    telegram.press(user_id, message_id, dict(buttons)["Русский"])
    await telegram.wait_for(
        lambda: telegram.messages[(user_id, message_id)]["text"].startswith("Готово: теперь я говорю")
    )
    assert [label for label, _ in telegram.buttons(user_id, message_id)][1] == "✅ Русский"
    assert telegram.menu(user_id)[0]["description"] == "Как это работает"  # this chat's menu


async def _after_restart(telegram: FakeTelegram, worker: HandWorker, user_id: int) -> None:
    telegram.send_text(user_id, "/help")
    await telegram.wait_for(lambda: any("/styles —" in t for t in telegram.texts(user_id)))
    assert telegram.texts(user_id)[-1].startswith("Как это работает")
    telegram.send_photo(user_id, photo_bytes())
    await telegram.wait_for(lambda: any("Фото получено" in t for t in telegram.texts(user_id)))
    photo_id, _ = telegram.last_message(user_id, "Фото получено")
    telegram.press(user_id, photo_id, dict(telegram.buttons(user_id, photo_id))["Крик · Мунк"])
    claimed = await worker.claim()
    await worker.finish(claimed)
    await telegram.wait_for(lambda: _find(telegram, user_id, "В стиле"), what="a Russian caption")

    telegram.send_text(user_id, "/language")
    await telegram.wait_for(lambda: telegram.texts(user_id)[-1].startswith("На каком языке"))
    message_id, _ = telegram.last_message(user_id, "На каком языке")
    app = dict(telegram.buttons(user_id, message_id))["📱 Язык моего приложения Telegram"]
    telegram.press(user_id, message_id, app)
    await telegram.wait_for(
        lambda: telegram.messages[(user_id, message_id)]["text"].startswith("Done: I follow")
    )
    assert telegram.menu(user_id)[0]["description"] == "How it works"
    telegram.send_text(user_id, "/start")
    await telegram.wait_for(lambda: telegram.texts(user_id)[-1].startswith("Hi User"))
