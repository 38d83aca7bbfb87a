"""Webhook mode: Telegram POSTs updates to the bot, which checks Telegram's secret token."""

from __future__ import annotations

import aiohttp
import pytest

from drawme.config import BotConfig, ConfigError
from tests.bot.conftest import RunningBot, bot_config, webhook_env
from tests.bot.test_bot_conversation import queued_job, send_photo_and_get_keyboard
from tests.fake_telegram import FakeTelegram


async def test_webhook_mode_registers_with_a_secret_and_serves_the_conversation(
    telegram: FakeTelegram, store, tmp_path, user_id: int
) -> None:
    config = bot_config(telegram, tmp_path, **webhook_env())
    bot = await RunningBot(config, store).start()
    try:
        (registered,) = telegram.calls("setWebhook")
        assert registered.params["url"] == config.webhook_url
        assert registered.params["secret_token"] == config.webhook_secret_token
        assert not telegram.calls("getUpdates", ok=None), "no polling in webhook mode"

        message_id, buttons = await send_photo_and_get_keyboard(telegram, user_id)
        telegram.press(user_id, message_id, buttons[0][1])
        assert (await queued_job(bot, user_id)).style_preset is not None

        # Anyone else POSTing to the address is turned away.
        async with aiohttp.ClientSession() as session:
            forged = {
                "update_id": 999,
                "message": {"message_id": 1, "date": 0, "chat": {"id": 1, "type": "private"}},
            }
            async with session.post(
                config.webhook_url, json=forged, headers={"X-Telegram-Bot-Api-Secret-Token": "guess"}
            ) as answer:
                assert answer.status == 403
    finally:
        await bot.stop()


def test_webhook_settings() -> None:
    base = {"BOT_TOKEN": "1:abc"}
    assert BotConfig.from_env(base).webhook_url == ""  # polling stays the default
    config = BotConfig.from_env(
        {**base, "WEBHOOK_URL": "https://bot.example.com/tg/hook", "WEBHOOK_PORT": "8080"}
    )
    assert config.webhook_path == "tg/hook" and config.webhook_port == 8080
    assert (
        config.webhook_secret_token
        == BotConfig.from_env({**base, "WEBHOOK_URL": "https://x/y"}).webhook_secret_token
    )
    assert "abc" not in config.webhook_secret_token
    with pytest.raises(ConfigError):
        BotConfig.from_env({**base, "WEBHOOK_URL": "bot.example.com"})
    with pytest.raises(ConfigError):
        BotConfig.from_env({**base, "WEBHOOK_SECRET": "has spaces"})
