"""The brush size: 🖌 Bigger / Finer strokes under a painting, and `brush=` in /weights.

Real PTB against the fake Bot API; the painting is driven by hand through the store (HandWorker).
"""

from __future__ import annotations

import io
from dataclasses import replace

from PIL import Image

from drawme.models import BRUSH_SCALES, Job, NoteCode, PaintNote
from tests.bot.conftest import HandWorker, RunningBot
from tests.bot.test_bot_conversation import queued_job, send_photo_and_get_keyboard
from tests.fake_telegram import FakeTelegram


async def _paint(bot: RunningBot, telegram: FakeTelegram, worker: HandWorker, job: Job) -> tuple[int, str]:
    """Paint `job` by hand; the message id and caption of the painting the bot sends for it."""
    sent = len(telegram.calls("sendPhoto", chat_id=job.user_id))
    claimed = await worker.claim()
    assert claimed.id == job.id
    await worker.finish(claimed)
    await telegram.wait_for(
        lambda: len(telegram.calls("sendPhoto", chat_id=job.user_id)) > sent, what=f"the painting of {job.id}"
    )
    message_id, content = telegram.last_message(job.user_id, "In the style of")
    return message_id, content["caption"]


def worker_painting() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), "orange").save(buffer, "PNG")
    return buffer.getvalue()


async def _tap(
    bot: RunningBot, telegram: FakeTelegram, message_id: int, action: str, job: Job, count: int
) -> Job:
    """Tap `action` under `job`'s painting; the job it queues, the user's `count`th."""
    telegram.press(job.user_id, message_id, f"r:{action}:{job.id}:{job.user_id}")
    return await queued_job(bot, job.user_id, count)


async def _first_painting(
    bot: RunningBot, telegram: FakeTelegram, worker: HandWorker, user_id: int
) -> tuple[Job, int, str]:
    message_id, _ = await send_photo_and_get_keyboard(telegram, user_id)
    image_id = (await bot.store.get_conversation(user_id)).pending_photo
    telegram.press(user_id, message_id, f"p:starry_night:{image_id}")
    first = await queued_job(bot, user_id)
    result_id, caption = await _paint(bot, telegram, worker, first)
    return first, result_id, caption


async def test_bigger_strokes_repaints_with_a_bigger_brush_up_to_the_largest(
    bot: RunningBot, telegram: FakeTelegram, worker: HandWorker, user_id: int
) -> None:
    first, result_id, caption = await _first_painting(bot, telegram, worker, user_id)
    assert first.params.style_scale == 1.0 and "brush" not in caption  # the default goes unsaid
    buttons = dict(telegram.buttons(user_id, result_id))
    assert buttons["🖌 Bigger strokes"] == f"r:bigger:{first.id}:{user_id}"
    assert buttons["🖌 Finer strokes"] == f"r:finer:{first.id}:{user_id}"
    downloads = len(telegram.calls("download"))

    bigger = await _tap(bot, telegram, result_id, "bigger", first, 2)
    assert bigger.params == replace(first.params, style_scale=1.4)  # nothing else changed
    assert (bigger.content_image_id, bigger.style_preset) == (first.content_image_id, "starry_night")
    assert (await bot.store.get(first.id)).params.style_scale == 1.0, "the first painting's job is untouched"
    result_id, caption = await _paint(bot, telegram, worker, bigger)
    assert "bigger brush strokes" in caption

    biggest = await _tap(bot, telegram, result_id, "bigger", bigger, 3)
    assert biggest.params.style_scale == BRUSH_SCALES[-1] == 2.0
    result_id, caption = await _paint(bot, telegram, worker, biggest)
    assert "bigger brush strokes" in caption

    # At the end: answered, told in plain words, nothing queued.
    answers = len(telegram.calls("answerCallbackQuery"))
    telegram.press(user_id, result_id, f"r:bigger:{biggest.id}:{user_id}")
    await telegram.wait_for(
        lambda: "That painting already has the biggest brush strokes I paint. 🖌 Try “Finer strokes”."
        in telegram.texts(user_id)
    )
    assert len(telegram.calls("answerCallbackQuery")) == answers + 1
    assert len(await bot.store.jobs_of(user_id, active_only=False)) == 3
    # One tap back lands on the rung it came from.
    telegram.press(user_id, result_id, f"r:finer:{biggest.id}:{user_id}")
    assert (await queued_job(bot, user_id, 4)).params.style_scale == 1.4
    assert len(telegram.calls("download")) == downloads, "no picture was downloaded again"


async def test_finer_strokes_repaints_with_a_finer_brush_down_to_the_finest(
    bot: RunningBot, telegram: FakeTelegram, worker: HandWorker, user_id: int
) -> None:
    first, result_id, _ = await _first_painting(bot, telegram, worker, user_id)
    finer = await _tap(bot, telegram, result_id, "finer", first, 2)
    assert finer.params == replace(first.params, style_scale=0.7)
    result_id, caption = await _paint(bot, telegram, worker, finer)
    assert "finer brush strokes" in caption

    finest = await _tap(bot, telegram, result_id, "finer", finer, 3)
    assert finest.params.style_scale == BRUSH_SCALES[0] == 0.5
    result_id, caption = await _paint(bot, telegram, worker, finest)
    assert "finer brush strokes" in caption
    telegram.press(user_id, result_id, f"r:finer:{finest.id}:{user_id}")
    await telegram.wait_for(
        lambda: "That painting already has the finest brush strokes I paint. 🖌 Try “Bigger strokes”."
        in telegram.texts(user_id)
    )
    jobs = await bot.store.jobs_of(user_id, active_only=False)
    assert sorted(job.params.style_scale for job in jobs) == [0.5, 0.7, 1.0], "nothing more was queued"


async def test_a_size_capped_by_the_bigger_brush_is_said_so(
    bot: RunningBot, telegram: FakeTelegram, worker: HandWorker, user_id: int
) -> None:
    first, result_id, _ = await _first_painting(bot, telegram, worker, user_id)
    bigger = await _tap(bot, telegram, result_id, "bigger", first, 2)
    claimed = await worker.claim()
    # What the engine's worker does when the bigger brush does not fit its memory at the full size.
    assert claimed.id == bigger.id
    note = PaintNote(NoteCode.SIZE_CAPPED, 64).encode()
    await bot.store.complete(claimed.id, worker.worker_id, worker_painting(), note)
    await telegram.wait_for(lambda: len(telegram.calls("sendPhoto", chat_id=user_id)) == 2)
    caption = telegram.calls("sendPhoto", chat_id=user_id)[-1].text
    assert caption.endswith("Painted at 64 px, the largest this painter makes with brush strokes this big.")


async def test_the_brush_in_weights_by_buttons_and_by_arguments(
    bot: RunningBot, telegram: FakeTelegram, worker: HandWorker, user_id: int
) -> None:
    telegram.send_text(user_id, "/weights")
    await telegram.wait_for(lambda: telegram.texts(user_id))
    message_id, content = telegram.last_message(user_id, "Your blend")
    assert "🖌 Brush ×1:" in content["text"]
    assert ("🖌 Brush +", "w:brush:up") in telegram.buttons(user_id, message_id)
    for shown in ("×1.4", "×2"):
        telegram.press(user_id, message_id, "w:brush:up")
        await telegram.wait_for(
            lambda s=shown: f"Brush {s}:" in telegram.messages[(user_id, message_id)]["text"]
        )
    edits = len(telegram.calls("editMessageText", chat_id=user_id))
    telegram.press(user_id, message_id, "w:brush:up")  # at the end: answered, not edited
    await telegram.wait_for(lambda: len(telegram.calls("answerCallbackQuery")) == 3)
    assert len(telegram.calls("editMessageText", chat_id=user_id)) == edits
    assert (await bot.store.get_settings(user_id)).style_scale == 2.0
    telegram.press(user_id, message_id, "w:reset")
    await telegram.wait_for(lambda: "Brush ×1:" in telegram.messages[(user_id, message_id)]["text"])
    assert (await bot.store.get_settings(user_id)).style_scale == 1.0

    telegram.send_text(user_id, "/weights brush=3")
    await telegram.wait_for(lambda: telegram.texts(user_id)[-1].startswith("Usage: /weights"))
    usage = telegram.texts(user_id)[-1]
    assert "brush=1.4 sets the brush size, from 0.5 (finest strokes) to 2 (biggest)." in usage
    telegram.send_text(user_id, "/weights style_scale=0.5")
    await telegram.wait_for(lambda: telegram.texts(user_id)[-1].startswith("Saved"))
    assert "Brush ×0.5:" in telegram.texts(user_id)[-1]

    # The brush is frozen into the next job, and its painting says so.
    message_id, buttons = await send_photo_and_get_keyboard(telegram, user_id)
    telegram.press(user_id, message_id, buttons[0][1])
    job = await queued_job(bot, user_id)
    assert job.params.style_scale == 0.5
    _, caption = await _paint(bot, telegram, worker, job)
    assert "finer brush strokes" in caption
