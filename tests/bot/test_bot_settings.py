"""Settings commands (/weights, /size, /colors), /status, /forget and fair-use limits."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.commands import parse_weights, step_weight
from drawme.models import WEIGHT_MAX, Blend, UserSettings
from drawme.store import JobStore
from tests.bot.conftest import RunningBot, bot_config
from tests.bot.test_bot_conversation import queued_job, send_photo_and_get_keyboard
from tests.fake_telegram import FakeTelegram


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["style=2", "content=0.5", "tv=0"], Blend(content=0.5, style=2.0, tv=0.0)),
        (["style_weight=3", "content_weight=0.25", "tv_weight=1.5"], Blend(content=0.25, style=3.0, tv=1.5)),
        (["style", "=", "4"], Blend(style=4.0)),
        (["style=2,", "tv=0.5"], Blend(style=2.0, tv=0.5)),
    ],
)
def test_parse_weights_accepts_both_spellings(args: list[str], expected: Blend) -> None:
    assert parse_weights(args, UserSettings()) == UserSettings(blend=expected)


@pytest.mark.parametrize(
    "args",
    [
        ["style=nan"],
        ["style=inf"],
        ["style=-1"],
        [f"style={WEIGHT_MAX + 1}"],
        ["colour=2"],
        ["style=two"],
        ["more", "style"],
        ["style=2", "please"],
        ["brush=nan"],
        ["brush=0.4"],
        ["style_scale=2.5"],
        ["brush=big"],
    ],
)
def test_parse_weights_refuses_garbage(args: list[str]) -> None:
    assert parse_weights(args, UserSettings()) is None


def test_weight_ladder_steps_and_stops_at_the_bounds() -> None:
    assert step_weight(1.0, "up") == 1.5 and step_weight(1.0, "down") == 0.75
    assert step_weight(1.2, "up") == 1.5 and step_weight(1.2, "down") == 1.0  # from between rungs
    assert step_weight(WEIGHT_MAX, "up") == WEIGHT_MAX and step_weight(0.0, "down") == 0.0


async def test_weights_by_buttons_and_by_arguments(
    bot: RunningBot, telegram: FakeTelegram, user_id: int
) -> None:
    telegram.send_text(user_id, "/weights")
    await telegram.wait_for(lambda: telegram.texts(user_id))
    message_id, content = telegram.last_message(user_id, "Your blend")
    assert "Style ×1" in content["text"]
    telegram.press(user_id, message_id, "w:style:up")
    await telegram.wait_for(lambda: "Style ×1.5" in telegram.messages[(user_id, message_id)]["text"])
    telegram.press(user_id, message_id, "w:tv:down")
    await telegram.wait_for(lambda: "Smoothness ×0.75" in telegram.messages[(user_id, message_id)]["text"])
    assert (await bot.store.get_settings(user_id)).blend == Blend(style=1.5, tv=0.75)

    telegram.press(user_id, message_id, "w:reset")
    await telegram.wait_for(lambda: "Style ×1\n" in telegram.messages[(user_id, message_id)]["text"])
    edits = len(telegram.calls("editMessageText", chat_id=user_id))
    telegram.press(user_id, message_id, "w:reset")  # already the defaults: answered, not edited
    await telegram.wait_for(lambda: len(telegram.calls("answerCallbackQuery")) == 4)
    assert len(telegram.calls("editMessageText", chat_id=user_id)) == edits
    assert not telegram.calls(ok=False), "never an edit Telegram refuses as not modified"

    telegram.send_text(user_id, "/weights style=2 content_weight=0.5 tv=0")
    await telegram.wait_for(lambda: any(t.startswith("Saved") for t in telegram.texts(user_id)))
    assert (await bot.store.get_settings(user_id)).blend == Blend(content=0.5, style=2.0, tv=0.0)
    telegram.send_text(user_id, "/weights style=lots")
    await telegram.wait_for(lambda: telegram.texts(user_id)[-1].startswith("Usage: /weights"))
    assert (await bot.store.get_settings(user_id)).blend.style == 2.0

    # The blend is frozen into the next job.
    message_id, buttons = await send_photo_and_get_keyboard(telegram, user_id)
    telegram.press(user_id, message_id, buttons[0][1])
    job = await queued_job(bot, user_id)
    assert job.params.blend == Blend(content=0.5, style=2.0, tv=0.0)


async def test_size_and_colours_are_frozen_into_new_jobs(
    bot: RunningBot, telegram: FakeTelegram, user_id: int
) -> None:
    telegram.send_text(user_id, "/size")
    await telegram.wait_for(lambda: telegram.texts(user_id))
    message_id, _ = telegram.last_message(user_id, "How big")
    assert [label for label, _ in telegram.buttons(user_id, message_id)] == [
        "Small · 64 px",
        "✅ Medium · 80 px",
        "Large · 96 px",
    ]
    telegram.press(user_id, message_id, "s:large")
    await telegram.wait_for(lambda: "✅ Large · 96 px" in str(telegram.messages[(user_id, message_id)]))
    telegram.send_text(user_id, "/colors")
    await telegram.wait_for(lambda: any("Keep my colours: on" in t for t in telegram.texts(user_id)))

    message_id, buttons = await send_photo_and_get_keyboard(telegram, user_id)
    telegram.press(user_id, message_id, buttons[0][1])
    job = await queued_job(bot, user_id)
    assert job.params.size == 96 and job.params.preserve_colors


async def test_protect_faces_is_on_by_default_and_faces_turns_it_off(
    bot: RunningBot, telegram: FakeTelegram, user_id: int
) -> None:
    message_id, buttons = await send_photo_and_get_keyboard(telegram, user_id)
    telegram.press(user_id, message_id, buttons[0][1])
    assert (await queued_job(bot, user_id)).params.protect_faces
    telegram.send_text(user_id, "/faces")
    await telegram.wait_for(lambda: any("Protect faces: off" in t for t in telegram.texts(user_id)))
    assert not (await bot.store.get_settings(user_id)).protect_faces
    telegram.press(user_id, message_id, buttons[1][1])
    assert not (await queued_job(bot, user_id, 2)).params.protect_faces
    telegram.send_text(user_id, "/faces")
    await telegram.wait_for(lambda: any("Protect faces: on" in t for t in telegram.texts(user_id)))


async def test_status_lists_active_jobs(bot: RunningBot, telegram: FakeTelegram, user_id: int) -> None:
    telegram.send_text(user_id, "/status")
    await telegram.wait_for(lambda: any("Nothing in progress" in t for t in telegram.texts(user_id)))
    message_id, buttons = await send_photo_and_get_keyboard(telegram, user_id)
    telegram.press(user_id, message_id, buttons[0][1])
    job = await queued_job(bot, user_id)
    telegram.send_text(user_id, "/status")
    reply = await telegram.wait_for(
        lambda: [t for t in telegram.texts(user_id) if t.startswith("Your paintings")]
    )
    assert f"#{job.id} Starry Night · Van Gogh" in reply[0] and "Queued: you're next" in reply[0]


async def test_forget_asks_then_deletes_everything(
    bot: RunningBot, telegram: FakeTelegram, user_id: int
) -> None:
    message_id, buttons = await send_photo_and_get_keyboard(telegram, user_id)
    telegram.press(user_id, message_id, buttons[0][1])
    job = await queued_job(bot, user_id)
    assert await bot.store.get_image_bytes(job.content_image_id) is not None

    telegram.send_text(user_id, "/forget")
    await telegram.wait_for(lambda: any("can't be undone" in t for t in telegram.texts(user_id)))
    ask_id, _ = telegram.last_message(user_id, "can't be undone")
    telegram.press(user_id, ask_id, "f:no")
    await telegram.wait_for(lambda: telegram.messages[(user_id, ask_id)]["text"] == "OK, I kept everything.")
    assert await bot.store.get_image_bytes(job.content_image_id) is not None

    telegram.send_text(user_id, "/forget")
    await telegram.wait_for(lambda: sum("can't be undone" in t for t in telegram.texts(user_id)) == 2)
    ask_id, _ = telegram.last_message(user_id, "can't be undone")
    telegram.press(user_id, ask_id, "f:yes")
    await telegram.wait_for(
        lambda: telegram.messages[(user_id, ask_id)]["text"].startswith("Done. Everything")
    )
    assert await bot.store.get_image_bytes(job.content_image_id) is None
    assert await bot.store.jobs_of(user_id, active_only=False) == []
    assert (await bot.store.get_conversation(user_id)).pending_photo is None


async def test_limits_are_explained(telegram: FakeTelegram, tmp_path: Path, user_id: int) -> None:
    """MAX_QUEUED_PER_USER=1: a second painting is refused in words (the store's message)."""
    config = bot_config(telegram, tmp_path, MAX_QUEUED_PER_USER="1")
    limited = await JobStore.open(config.common)
    running = await RunningBot(config, limited).start()
    try:
        message_id, buttons = await send_photo_and_get_keyboard(telegram, user_id)
        telegram.press(user_id, message_id, buttons[0][1])
        await queued_job(running, user_id)
        telegram.press(user_id, message_id, buttons[1][1])
        refusal = await telegram.wait_for(
            lambda: [t for t in telegram.texts(user_id) if t.startswith("I can't take")]
        )
        assert len(await limited.jobs_of(user_id, active_only=False)) == 1
        assert "the limit is 1 at a time" in refusal[0]  # the store's own words, as is
    finally:
        await running.stop()
        await limited.close()


async def test_sizes_follow_the_engine_device(telegram: FakeTelegram, tmp_path: Path, user_id: int) -> None:
    config = bot_config(telegram, tmp_path, PAINT_SIZES="")  # the real CPU/GPU defaults
    store = await JobStore.open(config.common)
    running = await RunningBot(config, store).start()
    try:
        telegram.send_text(user_id, "/size")
        await telegram.wait_for(lambda: telegram.texts(user_id))
        cpu_id, _ = telegram.last_message(user_id, "How big")
        assert [label for label, _ in telegram.buttons(user_id, cpu_id)][2] == "Large · 512 px"

        await store.register_worker("gpu-box", "cuda")
        telegram.send_text(user_id, "/size")
        await telegram.wait_for(lambda: len(telegram.texts(user_id)) == 2)
        gpu_id, content = telegram.last_message(user_id, "How big")
        assert [label for label, _ in telegram.buttons(user_id, gpu_id)] == [
            "Small · 512 px",
            "✅ Medium · 768 px",
            "Large · 1024 px",
        ]
        assert "GPU" in content["text"]
    finally:
        await running.stop()
        await store.close()


async def test_size_offers_nothing_larger_than_the_painters_make(
    telegram: FakeTelegram, tmp_path: Path, user_id: int
) -> None:
    """PAINT_SIZES' large (96 px here) above what the only worker paints (80 px: its MAX_SIZE or its
    device's cap): /size shows the size it will really get and says why, and the job asks for it."""
    store = await JobStore.open(bot_config(telegram, tmp_path).common)
    await store.register_worker("small-box", "cpu", max_size=80)
    bot = await RunningBot(bot_config(telegram, tmp_path), store).start()
    try:
        telegram.send_text(user_id, "/size")
        await telegram.wait_for(lambda: telegram.texts(user_id))
        message_id, content = telegram.last_message(user_id, "How big")
        labels = [label for label, _ in telegram.buttons(user_id, message_id)]
        assert labels == ["Small · 64 px", "✅ Medium · 80 px", "Large · 80 px"]
        assert "up to 80 px" in content["text"]
        telegram.press(user_id, message_id, "s:large")
        await telegram.wait_for(lambda: "✅ Large · 80 px" in str(telegram.messages[(user_id, message_id)]))
        message_id, buttons = await send_photo_and_get_keyboard(telegram, user_id)
        telegram.press(user_id, message_id, buttons[0][1])
        job = await queued_job(bot, user_id)
        assert job.params.size == 80  # painted as offered: no "painted smaller" surprise
    finally:
        await bot.stop()
        await store.close()
