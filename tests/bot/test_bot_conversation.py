"""Whole conversations: photo + preset, photo + photo, albums, result buttons, progress and delivery.

The store is real; the painting is driven by hand through the store's worker API (HandWorker), so
these tests are quick and deterministic. test_bot_painting.py does the same with the real engine.
"""

from __future__ import annotations

import asyncio
import itertools

from bot.conversation import STYLE_TAP
from drawme.models import FailureCode, JobStatus, StyleRef
from drawme.presets import PRESETS
from tests.bot.conftest import HandWorker, RunningBot, bot_config, photo_bytes
from tests.fake_telegram import MAX_CALLBACK_DATA, FakeTelegram


async def send_photo_and_get_keyboard(telegram: FakeTelegram, user_id: int, name: str = "chelsea"):
    before = _acks(telegram, user_id)
    telegram.send_photo(user_id, photo_bytes(name))
    await telegram.wait_for(lambda: _acks(telegram, user_id) > before, what="photo ack")
    message_id, _ = telegram.last_message(user_id, "Got your photo")
    return message_id, telegram.buttons(user_id, message_id)


def _acks(telegram: FakeTelegram, user_id: int) -> int:
    return sum("Got your photo" in text for text in telegram.texts(user_id))


async def queued_job(bot: RunningBot, user_id: int, count: int = 1):
    jobs = await asyncio.wait_for(_jobs(bot, user_id, count), 10)
    return jobs[-1]


async def _jobs(bot: RunningBot, user_id: int, count: int):
    while len(jobs := await bot.store.jobs_of(user_id, active_only=False)) < count:
        await asyncio.sleep(0.05)
    return sorted(jobs, key=lambda job: job.id)


async def test_photo_then_preset_is_painted_with_progress_and_delivered(
    bot: RunningBot, telegram: FakeTelegram, worker: HandWorker, user_id: int
) -> None:
    message_id, buttons = await send_photo_and_get_keyboard(telegram, user_id)
    assert "send me any picture to use as the style" in telegram.texts(user_id)[0]
    assert buttons[0][0] == "Starry Night · Van Gogh"
    assert len(buttons) == len(PRESETS)
    assert all(len(data.encode()) <= MAX_CALLBACK_DATA for _, data in buttons)

    telegram.press(
        user_id, message_id, dict((label, data) for label, data in buttons)["The Great Wave · Hokusai"]
    )
    job = await queued_job(bot, user_id)
    assert job.style_preset == "great_wave" and job.style_image_id is None
    assert job.params.size == 80 and job.params.recipe == "draft"  # default "medium" of PAINT_SIZES=64,80,96
    await telegram.wait_for(
        lambda: any(t.startswith("⏳ Queued: you're next") for t in telegram.texts(user_id))
    )
    assert (await bot.store.get(job.id)).status_message_id is not None

    job = await worker.claim()
    await worker.progress(job, step=10, preview_color="red")
    # The first preview replaces the text status with a photo whose caption shows the progress.
    preview = await telegram.wait_for(
        lambda: telegram.calls("sendPhoto", chat_id=user_id), what="preview photo"
    )
    assert "Painting… ▓▓░░░░░░ 33%" in preview[0].text and preview[0].files
    await worker.progress(job, step=20, preview_color="blue")
    await telegram.wait_for(lambda: telegram.calls("editMessageMedia", chat_id=user_id), what="new preview")
    await worker.progress(job, step=25)
    await telegram.wait_for(
        lambda: telegram.calls("editMessageCaption", chat_id=user_id), what="caption edit"
    )
    painting = await worker.finish(job)

    sent = await telegram.wait_for(
        lambda: (
            len(telegram.calls("sendPhoto", chat_id=user_id)) == 2
            and telegram.calls("sendPhoto", chat_id=user_id)
        )
    )
    result = sent[-1]
    assert result.files["photo"] == len(painting)
    style, size = result.text.split("\n")  # nothing changed from the defaults: no line about it
    assert style == "🖼 In the style of The Great Wave · Hokusai" and size.startswith("80 px")
    keyboard = [b for row in result.params["reply_markup"]["inline_keyboard"] for b in row]
    actions = ("more", "less", "bigger", "finer", "colors", "faces", "another", "mix", "full")
    assert [b.get("callback_data") for b in keyboard] == [
        *(f"r:{action}:{job.id}:{user_id}" for action in actions),
        None,  # Share switches to inline mode instead (test_bot_sharing.py)
    ]
    actions = [c.params.get("action") for c in telegram.calls("sendChatAction", chat_id=user_id)]
    assert "upload_photo" in actions
    delivered = await eventually(lambda: _delivered(bot, job.id))
    assert delivered.status is JobStatus.DELIVERED
    assert delivered.delivered_at is not None
    await asyncio.sleep(0.5)  # a few more poll ticks: nothing is sent twice
    assert len(telegram.calls("sendPhoto", chat_id=user_id)) == 2
    assert not telegram.calls(chat_id=user_id, ok=False), "no request was refused by Telegram"
    _assert_throttled(telegram, user_id, bot.config.edit_interval)


async def eventually(check, timeout: float = 10.0):
    """Await `check()` until it returns something truthy (and return it), or fail."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if value := await check():
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {check}")


async def _delivered(bot: RunningBot, job_id: int):
    """The job once the bot has recorded its outcome as told to the user, else None."""
    job = await bot.store.get(job_id)
    return job if job.delivered_at is not None else None


def _assert_throttled(telegram: FakeTelegram, chat_id: int, interval: float) -> None:
    """At most one edit per interval per message (with a little slack for timer jitter)."""
    edits: dict[int, list[float]] = {}
    for call in telegram.calls(chat_id=chat_id):
        if call.method.startswith("editMessage"):
            edits.setdefault(int(call.params["message_id"]), []).append(call.at)
    for times in edits.values():
        assert all(b - a >= interval * 0.9 for a, b in itertools.pairwise(times)), times


async def test_second_picture_is_the_style(bot: RunningBot, telegram: FakeTelegram, user_id: int) -> None:
    await send_photo_and_get_keyboard(telegram, user_id, "chelsea")
    telegram.send_document(user_id, photo_bytes("coffee", fmt="PNG"), "style.png", "image/png")
    job = await queued_job(bot, user_id)
    content, style = (
        await bot.store.get_image(job.content_image_id),
        await bot.store.get_image(job.style_image_id),
    )
    assert job.style_preset is None and content.owner_id == style.owner_id == user_id
    assert content.sha256 != style.sha256
    await telegram.wait_for(lambda: any("Queued" in t for t in telegram.texts(user_id)))

    # The next photo starts a new request (the job still runs) and says so.
    await send_photo_and_get_keyboard(telegram, user_id, "astronaut")
    assert "starts a new request" in telegram.texts(user_id)[-1]


async def test_album_of_two_is_photo_plus_style(
    bot: RunningBot, telegram: FakeTelegram, user_id: int
) -> None:
    telegram.send_album(user_id, [photo_bytes("chelsea"), photo_bytes("coffee")])
    job = await queued_job(bot, user_id)
    assert job.style_image_id is not None
    content = await bot.store.get_image(job.content_image_id)
    assert (content.width, content.height) == (96, 64)  # chelsea is landscape: the first part is the photo
    await telegram.wait_for(lambda: any("Queued" in t for t in telegram.texts(user_id)))
    assert not any("Got your photo" in t for t in telegram.texts(user_id))


async def test_album_of_three_is_explained(bot: RunningBot, telegram: FakeTelegram, user_id: int) -> None:
    telegram.send_album(user_id, [photo_bytes("chelsea")] * 3)
    reply = await telegram.wait_for(lambda: telegram.texts(user_id))
    assert "album has 3 pictures" in reply[0] and "exactly two" in reply[0]
    assert not await bot.store.jobs_of(user_id, active_only=False)
    assert not telegram.calls("getFile"), "nothing is downloaded for an album we won't use"


async def test_style_first_via_gallery_then_photo(
    bot: RunningBot, telegram: FakeTelegram, user_id: int
) -> None:
    telegram.send_text(user_id, "/styles")
    album = await telegram.wait_for(lambda: telegram.calls("sendMediaGroup", chat_id=user_id))
    assert len(album[0].params["media"]) == len(PRESETS) and len(album[0].files) == len(PRESETS)
    message_id, _ = await telegram.wait_for(lambda: _find(telegram, user_id, "Tap one"))
    assert all(data.endswith(":0") for _, data in telegram.buttons(user_id, message_id))
    telegram.press(user_id, message_id, "p:udnie:0")
    await telegram.wait_for(lambda: any("Now send me your photo" in t for t in telegram.texts(user_id)))
    telegram.send_photo(user_id, photo_bytes())
    job = await queued_job(bot, user_id)
    assert job.style_preset == "udnie"
    assert (await bot.store.get_settings(user_id)).last_preset == "udnie"

    # A second /styles reuses Telegram's file ids instead of uploading the thumbnails again.
    telegram.send_text(user_id, "/styles")
    await telegram.wait_for(lambda: len(telegram.calls("sendMediaGroup", chat_id=user_id)) == 2)
    assert not telegram.calls("sendMediaGroup", chat_id=user_id)[1].files


def _find(telegram: FakeTelegram, chat_id: int, text: str):
    try:
        return telegram.last_message(chat_id, text)
    except AssertionError:
        return None


async def test_result_buttons_queue_variations_without_reupload(
    bot: RunningBot, telegram: FakeTelegram, worker: HandWorker, user_id: int
) -> None:
    message_id, _ = await send_photo_and_get_keyboard(telegram, user_id)
    telegram.press(user_id, message_id, f"p:starry_night:{(await _pending_photo(bot, user_id))}")
    first = await queued_job(bot, user_id)
    painting = await worker.finish(await worker.claim())
    await telegram.wait_for(lambda: telegram.calls("sendPhoto", chat_id=user_id))
    result_id, _ = telegram.last_message(user_id, "In the style of")
    downloads = len(telegram.calls("download"))

    telegram.press(user_id, result_id, f"r:more:{first.id}:{user_id}")
    more = await queued_job(bot, user_id, 2)
    assert more.params.blend.style == STYLE_TAP and more.content_image_id == first.content_image_id
    assert more.style_preset == "starry_night"
    telegram.press(user_id, result_id, f"r:colors:{first.id}:{user_id}")
    colours = await queued_job(bot, user_id, 3)
    assert colours.params.preserve_colors and colours.params.blend.style == 1.0
    assert len(telegram.calls("download")) == downloads, "no photo was downloaded again"

    telegram.press(user_id, result_id, f"r:full:{first.id}:{user_id}")
    document = await telegram.wait_for(lambda: telegram.calls("sendDocument", chat_id=user_id))
    assert document[0].files["document"] == len(painting)

    telegram.press(user_id, result_id, f"r:another:{first.id}:{user_id}")
    await telegram.wait_for(lambda: _find(telegram, user_id, "Pick another painting"))
    picker_id, _ = telegram.last_message(user_id, "Pick another painting")
    assert all(
        data.endswith(f":{first.content_image_id}") for _, data in telegram.buttons(user_id, picker_id)
    )

    # Someone else's button does nothing but say so.
    telegram.press(user_id + 50_000, result_id, f"r:more:{first.id}:{user_id}")
    answer = await telegram.wait_for(
        lambda: [
            c for c in telegram.calls("answerCallbackQuery") if "someone else" in c.params.get("text", "")
        ]
    )
    assert answer and len(await bot.store.jobs_of(user_id, active_only=False)) == 3
    # A button sent before buttons carried their owner: answered first, then the job says whose it is.
    telegram.press(user_id + 50_000, result_id, f"r:more:{first.id}")
    await telegram.wait_for(lambda: "someone else" in " ".join(telegram.texts(user_id + 50_000)))
    assert len(await bot.store.jobs_of(user_id, active_only=False)) == 3
    telegram.press(user_id, result_id, f"r:more:{first.id}")  # its owner: it still works
    assert (await queued_job(bot, user_id, 4)).params.blend.style == STYLE_TAP


async def test_face_button_and_mixing_styles_from_the_result(
    bot: RunningBot, telegram: FakeTelegram, worker: HandWorker, user_id: int
) -> None:
    message_id, _ = await send_photo_and_get_keyboard(telegram, user_id)
    telegram.press(user_id, message_id, f"p:starry_night:{(await _pending_photo(bot, user_id))}")
    first = await queued_job(bot, user_id)
    assert first.params.protect_faces and not first.params.mix  # faces are protected by default
    await worker.finish(await worker.claim())
    await telegram.wait_for(lambda: telegram.calls("sendPhoto", chat_id=user_id))
    result_id, _ = telegram.last_message(user_id, "In the style of")
    labels = dict(telegram.buttons(user_id, result_id))
    assert labels["🙂 Paint my face over"] == f"r:faces:{first.id}:{user_id}"
    assert labels["🧪 Mix with another style"] == f"r:mix:{first.id}:{user_id}"

    telegram.press(user_id, result_id, f"r:faces:{first.id}:{user_id}")
    painted_over = await queued_job(bot, user_id, 2)
    assert not painted_over.params.protect_faces and painted_over.style_preset == "starry_night"

    telegram.press(user_id, result_id, f"r:mix:{first.id}:{user_id}")
    picker_id, _ = await telegram.wait_for(lambda: _find(telegram, user_id, "Pick a painting to mix in"))
    assert f"x:the_scream:{first.id}:{user_id}" in [data for _, data in telegram.buttons(user_id, picker_id)]
    telegram.press(user_id, picker_id, f"x:the_scream:{first.id}:{user_id}")
    mixed = await queued_job(bot, user_id, 3)
    assert mixed.style_preset == "starry_night" and mixed.content_image_id == first.content_image_id
    assert mixed.params.mix == (StyleRef(preset="the_scream"),) and mixed.params.mix_blend == (0.5, 0.5)

    await worker.claim()  # painted_over: left running
    await worker.finish(await worker.claim())
    mix_result, _ = await telegram.wait_for(
        lambda: _find(telegram, user_id, "Mix: 50% Starry Night + 50% The Scream")
    )
    labels = dict(telegram.buttons(user_id, mix_result))
    assert labels["◀️ More Starry Night"] == f"r:mixa:{mixed.id}:{user_id}"
    assert labels["More The Scream ▶️"] == f"r:mixb:{mixed.id}:{user_id}"
    telegram.press(user_id, mix_result, f"r:mixa:{mixed.id}:{user_id}")
    shifted = await queued_job(bot, user_id, 4)
    assert shifted.params.mix_blend == (0.7, 0.3) and shifted.params.mix == mixed.params.mix

    # Or a picture: after "Mix with another style", the next picture sent is mixed in.
    telegram.press(user_id, result_id, f"r:mix:{first.id}:{user_id}")
    await telegram.wait_for(lambda: len([t for t in telegram.texts(user_id) if "mix in" in t]) == 2)
    telegram.send_photo(user_id, photo_bytes("coffee"))
    with_picture = await queued_job(bot, user_id, 5)
    (style,) = with_picture.params.mix
    assert style.image_id is not None and style.image_id != first.content_image_id
    assert with_picture.style_preset == "starry_night" and with_picture.params.mix_blend == (0.5, 0.5)


async def _pending_photo(bot: RunningBot, user_id: int) -> int:
    return (await bot.store.get_conversation(user_id)).pending_photo


async def test_cancel_queued_and_running(
    bot: RunningBot, telegram: FakeTelegram, worker: HandWorker, user_id: int
) -> None:
    telegram.send_text(user_id, "/cancel")
    await telegram.wait_for(lambda: any("nothing to cancel" in t for t in telegram.texts(user_id)))

    message_id, buttons = await send_photo_and_get_keyboard(telegram, user_id)
    telegram.press(user_id, message_id, buttons[0][1])
    job = await queued_job(bot, user_id)
    telegram.send_text(user_id, "/cancel")
    await telegram.wait_for(lambda: any(t == "OK, cancelled. ❌" for t in telegram.texts(user_id)))
    assert (await bot.store.get(job.id)).status is JobStatus.CANCELLED
    status_id = (await bot.store.get(job.id)).status_message_id
    await telegram.wait_for(
        lambda: telegram.messages.get((user_id, status_id), {}).get("text") == "❌ Cancelled."
    )

    telegram.press(user_id, message_id, buttons[1][1])
    job = await queued_job(bot, user_id, 2)
    running = await worker.claim()
    assert running.id == job.id
    telegram.send_text(user_id, "/cancel")
    await telegram.wait_for(lambda: any("Stopping your painting" in t for t in telegram.texts(user_id)))
    assert await bot.store.heartbeat(job.id, worker.worker_id, 60) is True  # the worker learns of it
    await bot.store.mark_cancelled(job.id, worker.worker_id)
    status_id = (await bot.store.get(job.id)).status_message_id
    await telegram.wait_for(
        lambda: telegram.messages.get((user_id, status_id), {}).get("text") == "❌ Cancelled."
    )
    assert await eventually(lambda: _delivered(bot, job.id))
    assert not await bot.store.undelivered()


async def test_failed_painting_is_explained(
    bot: RunningBot, telegram: FakeTelegram, worker: HandWorker, user_id: int
) -> None:
    message_id, buttons = await send_photo_and_get_keyboard(telegram, user_id)
    telegram.press(user_id, message_id, buttons[2][1])
    job = await worker.claim()
    await bot.store.fail(job.id, worker.worker_id, str(FailureCode.MISSING_INPUT))
    status_id = (await queued_job(bot, user_id)).status_message_id
    text = await telegram.wait_for(
        lambda: (
            telegram.messages.get((user_id, status_id), {}).get("text", "").startswith("Sorry")
            and telegram.messages[(user_id, status_id)]["text"]
        )
    )
    assert "The picture for this painting is gone (perhaps deleted). Please send it again." in text
    assert (await eventually(lambda: _delivered(bot, job.id))).status is JobStatus.FAILED


async def test_forged_or_stale_buttons_are_answered_not_crashed(
    bot: RunningBot, telegram: FakeTelegram, user_id: int
) -> None:
    for data in (
        "p:not_a_painting:1",
        "p:udnie",
        "r:more:abc",
        "r:explode:1",
        "x:udnie:abc",
        "w:",
        "s:huge",
    ):
        telegram.press(user_id, 1, data)
    answers = await telegram.wait_for(
        lambda: len(telegram.calls("answerCallbackQuery")) == 7 and telegram.calls("answerCallbackQuery")
    )
    assert all(call.params.get("text") == "That button has expired." for call in answers)
    assert not telegram.texts(user_id), "no apology: nothing went wrong"
    # A well-formed button whose painting is gone is answered at once, before the store is asked;
    # then the chat says why.
    telegram.press(user_id, 1, f"r:more:999999:{user_id}")
    await telegram.wait_for(lambda: "That button has expired." in telegram.texts(user_id))
    assert telegram.calls("answerCallbackQuery")[-1].params.get("text") is None
    assert await bot.store.jobs_of(user_id, active_only=False) == []


async def test_a_photo_waiting_for_its_style_survives_a_bot_restart(
    telegram: FakeTelegram, store, tmp_path, user_id: int
) -> None:
    config = bot_config(telegram, tmp_path)
    first = await RunningBot(config, store).start()
    try:
        await send_photo_and_get_keyboard(telegram, user_id, "chelsea")
    finally:
        await first.stop()

    second = await RunningBot(config, store).start()
    try:
        telegram.send_photo(user_id, photo_bytes("coffee"))  # after the restart: this is the style
        job = await queued_job(second, user_id)
    finally:
        await second.stop()
    content, style = await store.get_image(job.content_image_id), await store.get_image(job.style_image_id)
    assert content.owner_id == style.owner_id == user_id
    assert content.id < style.id and job.style_preset is None
