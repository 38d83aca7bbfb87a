"""The slash commands and their buttons: /start /help /styles /weights /size /colors /status
/cancel /stats, plus gentle answers to anything else."""

from __future__ import annotations

import asyncio
import io
import logging
import re
import time
from dataclasses import replace
from typing import Any

from telegram import InputMediaPhoto, Update

from bot import keyboards, texts
from bot.context import BotContext, services
from bot.i18n import Words, words
from bot.jobs import available_sizes, configured_sizes, gpu_available
from drawme.config import SIZE_NAMES
from drawme.models import BRUSH_SCALES, Blend, IllegalTransition, JobStatus, UserSettings
from drawme.presets import PRESETS, Preset, thumbnail

log = logging.getLogger(__name__)

# /weights accepts our names and the seed script's (--content_weight...) spelled as key=value.
WEIGHT_ALIASES = {
    "style": "style",
    "style_weight": "style",
    "content": "content",
    "content_weight": "content",
    "photo": "content",
    "tv": "tv",
    "tv_weight": "tv",
    "smoothness": "tv",
}
_PAIR = re.compile(r"([A-Za-z_]+)\s*[=:]\s*([^\s,;]+)")
# The ± buttons step along this ladder, so a few taps cover the useful range.
WEIGHT_LADDER = (0.0, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
# The brush size (`style_scale`, as the CLI's --style_scale) is set in /weights too, by either name.
BRUSH_ALIASES = ("brush", "style_scale")


async def start(update: Update, context: BotContext) -> None:
    """Greet and explain in three steps."""
    assert update.message is not None and update.effective_user is not None
    await update.message.reply_text(words(update)(texts.START, name=update.effective_user.first_name))


async def help_command(update: Update, context: BotContext) -> None:
    """List the commands."""
    assert update.message is not None
    await update.message.reply_text(texts.help_text(words(update)))


async def styles(update: Update, context: BotContext) -> None:
    """The preset gallery: thumbnails as an album, then the keyboard to pick one."""
    assert update.message is not None and update.effective_user is not None
    w = words(update)
    file_ids = context.bot_data.preset_file_ids
    media = []
    for preset_id, preset in PRESETS.items():
        # Upload each thumbnail once; afterwards Telegram's file id is enough.
        cached = file_ids.get(preset_id)
        photo: str | bytes = cached if cached else await asyncio.to_thread(_jpeg, preset)
        media.append(InputMediaPhoto(photo, caption=texts.preset_caption(w, preset_id)))
    sent = await update.message.reply_media_group(media)
    for preset_id, message in zip(PRESETS, sent, strict=False):
        if message.photo:
            file_ids[preset_id] = message.photo[-1].file_id
    photo_id = (await services(context).backend.get_conversation(update.effective_user.id)).pending_photo
    intro = w(texts.STYLES_INTRO_WITH_PHOTO if photo_id else texts.STYLES_INTRO)
    await update.message.reply_text(intro, reply_markup=keyboards.presets(w, photo_id))


def _jpeg(preset: Preset) -> bytes:
    buffer = io.BytesIO()
    thumbnail(preset).save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def parse_weights(args: list[str], current: UserSettings) -> UserSettings | None:
    """`style=2 content=0.5 tv=0 brush=1.4` applied to `current`; None if anything is malformed or out of
    range."""
    text = " ".join(args)
    pairs = _PAIR.findall(text)
    if not pairs or _PAIR.sub("", text).strip(" ,;"):
        return None
    changes: dict[str, float] = {}
    brush = current.style_scale
    for key, raw in pairs:
        name = WEIGHT_ALIASES.get(key.lower())
        try:
            value = float(raw)
        except ValueError:
            return None
        if key.lower() in BRUSH_ALIASES:
            if not BRUSH_SCALES[0] <= value <= BRUSH_SCALES[-1]:  # NaN compares false: refused too
                return None
            brush = value
        elif name is None:
            return None
        else:
            changes[name] = value
    try:
        blend = replace(current.blend, **changes)  # Blend checks finite and within WEIGHT_MIN..WEIGHT_MAX
    except ValueError:
        return None
    return replace(current, blend=blend, style_scale=brush)


def step_weight(value: float, direction: str, ladder: tuple[float, ...] = WEIGHT_LADDER) -> float:
    """The next value up or down `ladder` from `value` (which may lie between rungs); the end stays."""
    if direction == "up":
        return next((rung for rung in ladder if rung > value + 1e-9), ladder[-1])
    return next((rung for rung in reversed(ladder) if rung < value - 1e-9), ladder[0])


async def weights(update: Update, context: BotContext) -> None:
    """Show the blend and brush with ± buttons, or set them directly: /weights style=2 tv=0 brush=1.4."""
    assert update.message is not None and update.effective_user is not None
    w = words(update)
    backend = services(context).backend
    user_id = update.effective_user.id
    settings = await backend.get_settings(user_id)
    if context.args:
        chosen = parse_weights(context.args, settings)
        if chosen is None:
            await update.message.reply_text(texts.weights_usage(w))
            return
        await backend.save_settings(user_id, chosen)
        await update.message.reply_text(f"{w(texts.WEIGHTS_SAVED)}\n\n{texts.weights(w, chosen)}")
        return
    await update.message.reply_text(texts.weights(w, settings), reply_markup=keyboards.weights(w))


async def weight_button(update: Update, context: BotContext) -> None:
    """`w:<name>:<up|down>` (a weight or the brush) or `w:reset`: change, save, and update the message in
    place."""
    query = update.callback_query
    assert query is not None and query.data is not None
    w = words(update)
    parts = query.data.split(":")
    reset = parts[1:] == ["reset"]
    if not reset and not (len(parts) == 3 and parts[1] in (*keyboards.WEIGHT_NAMES, keyboards.BRUSH)):
        await query.answer(w(texts.STALE_BUTTON))
        return
    await query.answer()  # first, before the store: the button stops spinning at once
    backend = services(context).backend
    settings = await backend.get_settings(query.from_user.id)
    if reset:
        chosen = replace(settings, blend=Blend(), style_scale=UserSettings.style_scale)
    elif parts[1] == keyboards.BRUSH:
        chosen = replace(settings, style_scale=step_weight(settings.style_scale, parts[2], BRUSH_SCALES))
    else:
        name = parts[1]
        blend = replace(settings.blend, **{name: step_weight(getattr(settings.blend, name), parts[2])})
        chosen = replace(settings, blend=blend)
    if chosen == settings:
        return  # at the limit already: the message shows it, and Telegram refuses an edit to the same text
    await backend.save_settings(query.from_user.id, chosen)
    await query.edit_message_text(texts.weights(w, chosen), reply_markup=keyboards.weights(w))


async def size(update: Update, context: BotContext) -> None:
    """small / medium / large buttons with their pixel sizes (bigger when a GPU is painting)."""
    assert update.message is not None and update.effective_user is not None
    svc = services(context)
    w = words(update)
    settings = await svc.backend.get_settings(update.effective_user.id)
    await update.message.reply_text(
        await _size_text(w, context, settings.size),
        reply_markup=keyboards.sizes(w, await available_sizes(svc), settings.size),
    )


async def _size_text(w: Words, context: BotContext, current: str) -> str:
    svc = services(context)
    sizes = await available_sizes(svc)
    px = sizes.as_dict().get(current)
    lines = [w(texts.SIZE, current=w(texts.SIZE_NOW, name=texts.size_name(w, current), px=px))]
    if await gpu_available(svc):
        lines.append(w(texts.SIZE_GPU_NOTE))
    if sizes.large < (await configured_sizes(svc)).large:  # a painter here makes nothing larger
        lines.append(w(texts.SIZE_LIMIT_NOTE, px=sizes.large))
    return "\n".join(lines)


async def size_button(update: Update, context: BotContext) -> None:
    """`s:<name>`: save the size and tick it."""
    query = update.callback_query
    assert query is not None and query.data is not None
    w = words(update)
    name = query.data.split(":")[1]
    if name not in SIZE_NAMES:
        await query.answer(w(texts.STALE_BUTTON))
        return
    await query.answer(w(texts.SIZE_SAVED, name=texts.size_name(w, name)))  # first, before the store
    svc = services(context)
    sizes = await available_sizes(svc)
    settings = await svc.backend.get_settings(query.from_user.id)
    if settings.size != name:
        await svc.backend.save_settings(query.from_user.id, replace(settings, size=name))
        await query.edit_message_text(
            await _size_text(w, context, name), reply_markup=keyboards.sizes(w, sizes, name)
        )


async def colors(update: Update, context: BotContext) -> None:
    """Toggle keep-my-colours (luminance-only transfer)."""
    await _toggle(update, context, "preserve_colors", texts.COLORS_ON, texts.COLORS_OFF)


async def faces(update: Update, context: BotContext) -> None:
    """Toggle protect-faces (on by default): faces kept close to the photo, or painted over."""
    await _toggle(update, context, "protect_faces", texts.FACES_ON, texts.FACES_OFF)


async def _toggle(update: Update, context: BotContext, setting: str, on: str, off: str) -> None:
    """Flip one on/off user setting, save it, and say which way it now stands."""
    assert update.message is not None and update.effective_user is not None
    backend = services(context).backend
    settings = await backend.get_settings(update.effective_user.id)
    now_on: Any = not getattr(settings, setting)
    await backend.save_settings(update.effective_user.id, replace(settings, **{setting: now_on}))
    await update.message.reply_text(words(update)(on if now_on else off))


async def status(update: Update, context: BotContext) -> None:
    """The user's queued and running paintings, with position or progress."""
    assert update.message is not None and update.effective_user is not None
    backend = services(context).backend
    w = words(update)
    jobs = await backend.jobs_of(update.effective_user.id, active_only=True)
    if not jobs:
        await update.message.reply_text(w(texts.STATUS_NONE))
        return
    lines = [w(texts.STATUS_HEADER)]
    for job in jobs:
        if job.status is JobStatus.QUEUED:
            state = texts.queued(w, await backend.position(job.id))
        else:
            state = texts.painting(w, job.progress)
        lines.append(w(texts.STATUS_LINE, id=job.id, style=texts.style_name(w, job), state=state))
    await update.message.reply_text("\n".join(lines))


async def cancel(update: Update, context: BotContext) -> None:
    """Cancel the user's queued or running paintings."""
    assert update.message is not None and update.effective_user is not None
    backend = services(context).backend
    stopping = cancelled = 0
    for job in await backend.jobs_of(update.effective_user.id, active_only=True):
        try:
            result = await backend.cancel(job.id)
        except IllegalTransition:
            continue  # it finished a moment ago; the result is on its way
        if result.status is JobStatus.CANCELLED:
            cancelled += 1
        else:
            stopping += 1
    answer = texts.CANCEL_RUNNING if stopping else texts.CANCEL_DONE if cancelled else texts.CANCEL_NONE
    await update.message.reply_text(words(update)(answer))


async def stats(update: Update, context: BotContext) -> None:
    """Admins only (the handler's filter): queue length, oldest job, throughput, failures."""
    assert update.message is not None
    numbers = await services(context).backend.stats()
    w = words(update)
    live = [worker for worker in numbers.workers if not worker.stale]
    stale = [worker for worker in numbers.workers if worker.stale]
    workers = ", ".join(f"{worker.worker_id} ({worker.device})" for worker in live) or w(texts.NONE)
    silent = ", ".join(
        w(texts.WORKER_SILENT, worker=worker.worker_id, ago=texts.age(w, time.time() - worker.heartbeat_at))
        for worker in stale
    )
    text = w(
        texts.STATS,
        queued=numbers.queued,
        running=numbers.running,
        oldest=texts.age(w, numbers.oldest_queued_age),
        done=numbers.done_last_hour,
        failed=numbers.failed_last_hour,
        avg=texts.age(w, numbers.avg_duration_seconds),
        users=numbers.users_today,
        workers=workers,
    )
    await update.message.reply_text(f"{text}\n{w(texts.STALE_WORKERS, workers=silent)}" if stale else text)


async def unknown_command(update: Update, context: BotContext) -> None:
    """Any other /command (including /stats for non-admins)."""
    assert update.message is not None
    await update.message.reply_text(words(update)(texts.UNKNOWN_COMMAND))


async def anything_else(update: Update, context: BotContext) -> None:
    """The catch-all: any message that is not a command, a picture or text gets a plain-words answer."""
    assert update.effective_message is not None
    message = update.effective_message
    answer = next(
        (answer for kind, answer in texts.NOT_A_PICTURE.items() if getattr(message, kind, None)),
        texts.NOT_A_PICTURE_OTHER,
    )
    await message.reply_text(words(update)(answer))


async def edited(update: Update, context: BotContext) -> None:
    """An edited message: a changed text or caption is answered (only new messages are acted on);
    other edits, such as a shared live location moving, need no answer."""
    message = update.edited_message
    if message is not None and (message.text or message.caption):
        await message.reply_text(words(update)(texts.EDITED))


async def text(update: Update, context: BotContext) -> None:
    """Plain text: a nudge towards what to send next, from where the user stands — the paintings
    to tap for a waiting photo, their painting in progress, or the buttons of their last painting."""
    assert update.message is not None and update.effective_user is not None
    w = words(update)
    backend = services(context).backend
    user_id = update.effective_user.id
    conversation = await backend.get_conversation(user_id)
    if conversation.pending_photo is not None:
        buttons = keyboards.presets(w, conversation.pending_photo)
        await update.message.reply_text(w(texts.UNKNOWN_TEXT_WAITING), reply_markup=buttons)
        return
    if conversation.pending_preset in PRESETS:
        title = texts.preset_title(w, conversation.pending_preset)
        await update.message.reply_text(w(texts.PICK_STYLE_FIRST_PHOTO, title=title))
        return
    jobs = await backend.jobs_of(user_id, active_only=False)
    if any(not job.status.finished for job in jobs):
        await update.message.reply_text(w(texts.UNKNOWN_TEXT_BUSY))
        return
    last = next((job for job in reversed(jobs) if job.status is JobStatus.DELIVERED), None)
    if last is not None and await backend.get_image(last.content_image_id) is not None:
        share = bool(context.bot.supports_inline_queries)
        await update.message.reply_text(
            w(texts.UNKNOWN_TEXT_AFTER, style=texts.style_name(w, last)),
            reply_markup=keyboards.result(w, last, share=share),
        )
        return
    await update.message.reply_text(w(texts.UNKNOWN_TEXT))
