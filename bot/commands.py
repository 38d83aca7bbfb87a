"""The slash commands and their buttons: /start /help /styles /weights /size /colors /status
/cancel /forget /stats, plus gentle answers to anything else."""

from __future__ import annotations

import asyncio
import io
import logging
import re
import time
from dataclasses import replace

from telegram import InputMediaPhoto, Update

from bot import keyboards, texts
from bot.context import BotContext, services
from bot.i18n import Words, words
from bot.jobs import available_sizes, gpu_available
from drawme.config import SIZE_NAMES
from drawme.models import Blend, IllegalTransition, JobStatus
from drawme.presets import PRESETS, thumbnail

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


async def start(update: Update, context: BotContext) -> None:
    """Greet and explain in three steps."""
    await update.message.reply_text(words(update)(texts.START, name=update.effective_user.first_name))


async def help_command(update: Update, context: BotContext) -> None:
    """List the commands."""
    await update.message.reply_text(texts.help_text(words(update)))


async def styles(update: Update, context: BotContext) -> None:
    """The preset gallery: thumbnails as an album, then the keyboard to pick one."""
    w = words(update)
    file_ids = context.bot_data.preset_file_ids
    media = []
    for preset_id, preset in PRESETS.items():
        # Upload each thumbnail once; afterwards Telegram's file id is enough.
        photo = file_ids.get(preset_id) or await asyncio.to_thread(_jpeg, preset)
        media.append(InputMediaPhoto(photo, caption=texts.preset_caption(w, preset_id)))
    sent = await update.message.reply_media_group(media)
    for preset_id, message in zip(PRESETS, sent, strict=False):
        if message.photo:
            file_ids[preset_id] = message.photo[-1].file_id
    photo_id = (await services(context).backend.get_conversation(update.effective_user.id)).pending_photo
    intro = w(texts.STYLES_INTRO_WITH_PHOTO if photo_id else texts.STYLES_INTRO)
    await update.message.reply_text(intro, reply_markup=keyboards.presets(w, photo_id))


def _jpeg(preset) -> bytes:
    buffer = io.BytesIO()
    thumbnail(preset).save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def parse_weights(args: list[str], current: Blend) -> Blend | None:
    """`style=2 content=0.5 tv=0` applied to `current`; None if anything is malformed or out of range."""
    text = " ".join(args)
    pairs = _PAIR.findall(text)
    if not pairs or _PAIR.sub("", text).strip(" ,;"):
        return None
    changes: dict[str, float] = {}
    for key, raw in pairs:
        name = WEIGHT_ALIASES.get(key.lower())
        if name is None:
            return None
        try:
            changes[name] = float(raw)
        except ValueError:
            return None
    try:
        return replace(current, **changes)  # Blend checks finite and within WEIGHT_MIN..WEIGHT_MAX
    except ValueError:
        return None


def step_weight(value: float, direction: str) -> float:
    """The next value up or down the ladder from `value` (which may lie between rungs)."""
    if direction == "up":
        return next((rung for rung in WEIGHT_LADDER if rung > value + 1e-9), WEIGHT_LADDER[-1])
    return next((rung for rung in reversed(WEIGHT_LADDER) if rung < value - 1e-9), WEIGHT_LADDER[0])


async def weights(update: Update, context: BotContext) -> None:
    """Show the blend with ± buttons, or set it directly: /weights style=2 content=0.5 tv=0."""
    w = words(update)
    backend = services(context).backend
    user_id = update.effective_user.id
    settings = await backend.get_settings(user_id)
    if context.args:
        blend = parse_weights(context.args, settings.blend)
        if blend is None:
            await update.message.reply_text(texts.weights_usage(w))
            return
        await backend.save_settings(user_id, replace(settings, blend=blend))
        await update.message.reply_text(f"{w(texts.WEIGHTS_SAVED)}\n\n{texts.weights(w, blend)}")
        return
    await update.message.reply_text(texts.weights(w, settings.blend), reply_markup=keyboards.weights(w))


async def weight_button(update: Update, context: BotContext) -> None:
    """`w:<name>:<up|down>` or `w:reset`: change, save, and update the message in place."""
    query = update.callback_query
    w = words(update)
    parts = query.data.split(":")
    reset = parts[1:] == ["reset"]
    if not reset and not (len(parts) == 3 and parts[1] in keyboards.WEIGHT_NAMES):
        await query.answer(w(texts.STALE_BUTTON))
        return
    await query.answer()  # first, before the store: the button stops spinning at once
    backend = services(context).backend
    settings = await backend.get_settings(query.from_user.id)
    if reset:
        blend = Blend()
    else:
        name = parts[1]
        blend = replace(settings.blend, **{name: step_weight(getattr(settings.blend, name), parts[2])})
    if blend == settings.blend:
        return  # at the limit already: the message shows it, and Telegram refuses an edit to the same text
    await backend.save_settings(query.from_user.id, replace(settings, blend=blend))
    await query.edit_message_text(texts.weights(w, blend), reply_markup=keyboards.weights(w))


async def size(update: Update, context: BotContext) -> None:
    """small / medium / large buttons with their pixel sizes (bigger when a GPU is painting)."""
    svc = services(context)
    w = words(update)
    settings = await svc.backend.get_settings(update.effective_user.id)
    await update.message.reply_text(
        await _size_text(w, context, settings.size),
        reply_markup=keyboards.sizes(w, await available_sizes(svc), settings.size),
    )


async def _size_text(w: Words, context: BotContext, current: str) -> str:
    svc = services(context)
    px = (await available_sizes(svc)).as_dict().get(current)
    text = w(texts.SIZE, current=w(texts.SIZE_NOW, name=texts.size_name(w, current), px=px))
    return f"{text}\n{w(texts.SIZE_GPU_NOTE)}" if await gpu_available(svc) else text


async def size_button(update: Update, context: BotContext) -> None:
    """`s:<name>`: save the size and tick it."""
    query = update.callback_query
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
    backend = services(context).backend
    settings = await backend.get_settings(update.effective_user.id)
    now_on = not getattr(settings, setting)
    await backend.save_settings(update.effective_user.id, replace(settings, **{setting: now_on}))
    await update.message.reply_text(words(update)(on if now_on else off))


async def status(update: Update, context: BotContext) -> None:
    """The user's queued and running paintings, with position or progress."""
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


async def forget(update: Update, context: BotContext) -> None:
    """Ask before deleting everything about the user."""
    w = words(update)
    await update.message.reply_text(w(texts.FORGET_ASK), reply_markup=keyboards.forget(w))


async def forget_button(update: Update, context: BotContext) -> None:
    """`f:yes` deletes the user's images, jobs, files and settings; `f:no` keeps them."""
    query = update.callback_query
    await query.answer()
    w = words(update)
    if query.data != f"{keyboards.FORGET}:yes":
        await query.edit_message_text(w(texts.FORGET_KEPT))
        return
    files = await services(context).backend.forget(query.from_user.id)
    log.info("user forgotten", extra={"user_id": query.from_user.id, "event": "forget"})
    await query.edit_message_text(w.plural(texts.FORGET_DONE, files))


async def stats(update: Update, context: BotContext) -> None:
    """Admins only (the handler's filter): queue length, oldest job, throughput, failures."""
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
    await update.message.reply_text(words(update)(texts.UNKNOWN_COMMAND))


async def anything_else(update: Update, context: BotContext) -> None:
    """The catch-all: any message that is not a command, a picture or text gets a plain-words answer."""
    message = update.effective_message
    answer = next(
        (answer for kind, answer in texts.NOT_A_PICTURE.items() if getattr(message, kind, None)),
        texts.NOT_A_PICTURE_OTHER,
    )
    await message.reply_text(words(update)(answer))


async def text(update: Update, context: BotContext) -> None:
    """Plain text: a nudge towards what to send next."""
    conversation = await services(context).backend.get_conversation(update.effective_user.id)
    waiting = conversation.pending_photo is not None
    await update.message.reply_text(
        words(update)(texts.UNKNOWN_TEXT_WAITING if waiting else texts.UNKNOWN_TEXT)
    )
