"""The painting conversation: a photo, then a style (a preset tap or a second picture), then a job.

`context.user_data` only holds what is still being decided (a photo waiting for its style); the
buttons carry image and job ids themselves, so they keep working after a bot restart.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from telegram import Message, Update
from telegram.constants import ChatAction
from telegram.ext import ContextTypes

from bot import keyboards, texts
from bot.jobs import queue_painting, services
from bot.uploads import receive_picture
from drawme.imaging import ImageError
from drawme.models import WEIGHT_MAX, Job, PaintParams, StyleRef
from drawme.presets import PRESETS

log = logging.getLogger(__name__)

PENDING_PHOTO = "pending_photo"  # user_data: image id of a photo waiting for its style
PENDING_PRESET = "pending_preset"  # user_data: preset chosen (via /styles) before any photo
PENDING_MIX = "pending_mix"  # user_data: job id whose painting the next picture is mixed into
ALBUM_DELAY = 1.0  # seconds to wait for the other parts of an album


async def picture(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A photo or file: the user's photo, or the style when a photo is already waiting for one."""
    message = update.effective_message
    if message.media_group_id:
        _collect_album_part(message, context)
        return
    await _take_picture(message, context)


async def _take_picture(message: Message, context: ContextTypes.DEFAULT_TYPE) -> None:
    backend = services(context).backend
    try:
        stored = await receive_picture(context, message)
    except ImageError as refused:
        await message.reply_text(refused.user_message)
        return
    user_id, chat_id = message.from_user.id, message.chat_id
    mix_into = context.user_data.pop(PENDING_MIX, None)
    if mix_into is not None and (job := await backend.get(mix_into)) is not None:
        await _queue_mix(context, job, StyleRef(image_id=stored.id))
        return
    waiting_photo = context.user_data.pop(PENDING_PHOTO, None)
    if waiting_photo is not None:
        await queue_painting(context, user_id, chat_id, waiting_photo, style_image_id=stored.id)
        return
    chosen_preset = context.user_data.pop(PENDING_PRESET, None)
    if chosen_preset in PRESETS:
        await queue_painting(context, user_id, chat_id, stored.id, style_preset=chosen_preset)
        return
    busy = bool(await backend.jobs_of(user_id, active_only=True))
    context.user_data[PENDING_PHOTO] = stored.id
    intro = texts.GOT_PHOTO_WHILE_BUSY if busy else texts.GOT_PHOTO
    await message.reply_text(f"{intro}\n{texts.SEND_STYLE_HINT}", reply_markup=keyboards.presets(stored.id))


def _collect_album_part(message: Message, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Albums arrive as one update per picture; gather them and decide once they are all in."""
    albums: dict[str, list[Message]] = context.bot_data.setdefault("albums", {})
    parts = albums.setdefault(message.media_group_id, [])
    parts.append(message)
    if len(parts) == 1:
        context.job_queue.run_once(
            _album_complete,
            ALBUM_DELAY,
            data=message.media_group_id,
            chat_id=message.chat_id,
            user_id=message.from_user.id,
            name=f"album:{message.media_group_id}",
        )


async def _album_complete(context: ContextTypes.DEFAULT_TYPE) -> None:
    """An album of two is photo + style; one picture is just a photo; more gets an explanation."""
    parts = sorted(context.bot_data["albums"].pop(context.job.data), key=lambda m: m.message_id)
    if len(parts) == 1:
        await _take_picture(parts[0], context)
        return
    if len(parts) > 2:
        await parts[0].reply_text(texts.ALBUM_TOO_MANY.format(count=len(parts)))
        return
    stored = []
    for index, part in enumerate(parts):
        try:
            stored.append(await receive_picture(context, part))
        except ImageError as refused:
            await part.reply_text(f"{texts.ALBUM_PART[index]}: {refused.user_message}")
            return
    context.user_data.pop(PENDING_PHOTO, None)
    first = parts[0]
    await queue_painting(
        context, first.from_user.id, first.chat_id, stored[0].id, style_image_id=stored[1].id
    )


async def preset_chosen(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A tap on a painting (`p:<preset>:<image id>`): paint that photo, or remember it for the next one."""
    query = update.callback_query
    preset_id, image_id = keyboards.fields(query.data)
    if preset_id not in PRESETS or not image_id.isdigit():
        await query.answer(texts.STALE_BUTTON)
        return
    await query.answer(keyboards.preset_label(preset_id))
    user_id, chat_id = query.from_user.id, update.effective_chat.id
    content_id = int(image_id) or context.user_data.get(PENDING_PHOTO)
    if not content_id:
        context.user_data[PENDING_PRESET] = preset_id
        await context.bot.send_message(
            chat_id, texts.PICK_STYLE_FIRST_PHOTO.format(title=PRESETS[preset_id].title)
        )
        return
    image = await services(context).backend.get_image(content_id)
    if image is None or image.owner_id != user_id:
        await context.bot.send_message(chat_id, texts.EXPIRED)
        return
    if context.user_data.get(PENDING_PHOTO) == content_id:
        del context.user_data[PENDING_PHOTO]
    await queue_painting(context, user_id, chat_id, content_id, style_preset=preset_id)


async def result_action(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A button under a painting (`r:<action>:<job id>`): a variation, another style, or the PNG."""
    query = update.callback_query
    action, job_id = keyboards.fields(query.data)
    backend = services(context).backend
    job = await backend.get(int(job_id)) if job_id.isdigit() and action in keyboards.RESULT_ACTIONS else None
    if job is None:
        await query.answer(texts.STALE_BUTTON)
        return
    if job.user_id != query.from_user.id:
        await query.answer(texts.NOT_YOURS, show_alert=True)
        return
    await query.answer()
    if action == "full":
        await _send_full_resolution(job, context)
    elif await backend.get_image(job.content_image_id) is None:
        await context.bot.send_message(job.chat_id, texts.EXPIRED)  # removed by retention or /forget
    elif action == "another":
        context.user_data.pop(PENDING_MIX, None)
        context.user_data[PENDING_PHOTO] = job.content_image_id
        await context.bot.send_message(
            job.chat_id, texts.PICK_ANOTHER, reply_markup=keyboards.presets(job.content_image_id)
        )
    elif action == "mix":
        context.user_data[PENDING_MIX] = job.id  # or a picture: the next one sent is mixed in
        markup = keyboards.mix_presets(job.id)
        await context.bot.send_message(job.chat_id, texts.PICK_MIX, reply_markup=markup)
    else:
        await queue_painting(
            context,
            job.user_id,
            job.chat_id,
            job.content_image_id,
            style_preset=job.style_preset,
            style_image_id=job.style_image_id,
            params=_variation(job.params, action),
        )


async def mix_chosen(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A tap on a painting to mix in (`x:<preset>:<job id>`): repaint that job half and half with it."""
    query = update.callback_query
    preset_id, job_id = keyboards.fields(query.data)
    job = (
        await services(context).backend.get(int(job_id))
        if job_id.isdigit() and preset_id in PRESETS
        else None
    )
    if job is None:
        await query.answer(texts.STALE_BUTTON)
        return
    if job.user_id != query.from_user.id:
        await query.answer(texts.NOT_YOURS, show_alert=True)
        return
    await query.answer(keyboards.preset_label(preset_id))
    context.user_data.pop(PENDING_MIX, None)
    await _queue_mix(context, job, StyleRef(preset=preset_id))


async def _queue_mix(context: ContextTypes.DEFAULT_TYPE, job: Job, style: StyleRef) -> None:
    """Repaint `job` half and half with its own style and `style`."""
    if await services(context).backend.get_image(job.content_image_id) is None:
        await context.bot.send_message(job.chat_id, texts.EXPIRED)
        return
    params = replace(job.params, mix=(style,), mix_blend=(0.5, 0.5))
    await queue_painting(
        context,
        job.user_id,
        job.chat_id,
        job.content_image_id,
        style_preset=job.style_preset,
        style_image_id=job.style_image_id,
        params=params,
    )


MIX_STEP = 0.2  # how far one tap shifts a two-style mix
MIX_MIN = 0.1  # neither style drops out entirely: that is "Another style"


def _variation(params: PaintParams, action: str) -> PaintParams:
    """More style doubles the style weight, less halves it; colours and faces toggle; mixa/b shift a mix."""
    blend = params.blend
    if action == "more":
        return replace(params, blend=replace(blend, style=min(WEIGHT_MAX, blend.style * 2 or 1.0)))
    if action == "less":
        return replace(params, blend=replace(blend, style=blend.style / 2))
    if action == "faces":
        return replace(params, faces=not params.faces)
    if action in ("mixa", "mixb") and len(params.mix) == 1:
        first = (params.mix_blend[0] / sum(params.mix_blend)) if params.mix_blend else 0.5
        first += MIX_STEP if action == "mixa" else -MIX_STEP
        first = round(min(1 - MIX_MIN, max(MIX_MIN, first)), 2)
        return replace(params, mix_blend=(first, round(1 - first, 2)))
    return replace(params, preserve_colors=not params.preserve_colors)


async def _send_full_resolution(job: Job, context: ContextTypes.DEFAULT_TYPE) -> None:
    path = services(context).config.common.data_dir / job.result_path if job.result_path else None
    if path is None or not path.is_file():
        await context.bot.send_message(job.chat_id, texts.EXPIRED)
        return
    await context.bot.send_chat_action(job.chat_id, ChatAction.UPLOAD_DOCUMENT)
    await context.bot.send_document(
        job.chat_id, path.read_bytes(), filename=f"drawme-{job.id}.png", caption=texts.FULL_RES_CAPTION
    )
