"""The painting conversation: a photo, then a style (a preset tap or a second picture), then a job.

What is still being decided (a photo waiting for its style, a style chosen first) is the user's
`Conversation` in the job store, saved in the same transaction as the upload or the submit, so a
crash at any instant neither forgets the photo nor swaps photo and style. The buttons carry image
and job ids themselves, so they keep working after a bot restart.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from telegram import Message, Update
from telegram.constants import ChatAction

from bot import keyboards, texts
from bot.commands import step_weight
from bot.context import BotContext, services
from bot.i18n import Words, words
from bot.jobs import queue_painting
from bot.language import load_choice
from bot.uploads import receive_picture
from drawme.decoding import ImageError
from drawme.models import (
    BRUSH_SCALES,
    WEIGHT_MAX,
    Conversation,
    IllegalTransition,
    Job,
    JobStatus,
    PaintParams,
    StyleRef,
)
from drawme.presets import PRESETS

log = logging.getLogger(__name__)

WAITING = Conversation(pending_photo=0)  # store_image: this very picture now waits for its style
DECIDED = Conversation()  # nothing waits any more
ALBUM_DELAY = 1.0  # seconds to wait for the other parts of an album


async def picture(update: Update, context: BotContext) -> None:
    """A photo or file: the user's photo, or the style when a photo is already waiting for one."""
    assert update.effective_message is not None
    message = update.effective_message
    if message.media_group_id:
        _collect_album_part(update.update_id, message, context)
        return
    await _take_picture(message, context, update.update_id)


async def _take_picture(message: Message, context: BotContext, origin: int | None) -> None:
    assert message.from_user is not None
    w = words(message)
    backend = services(context).backend
    user_id, chat_id = message.from_user.id, message.chat_id
    conversation = await backend.get_conversation(user_id)
    waiting = (
        conversation.pending_photo is not None
        or conversation.pending_preset in PRESETS
        or conversation.pending_mix is not None
    )
    try:
        # A new photo is remembered as waiting in the same transaction that stores it.
        stored = await receive_picture(context, message, None if waiting else WAITING)
    except ImageError as refused:
        await message.reply_text(texts.image_refused(w, refused))
        return
    if conversation.pending_mix is not None:  # "Mix with another style", then this picture
        job = await backend.get(conversation.pending_mix)
        if job is not None and job.user_id == user_id:
            await _queue_mix(w, context, job, StyleRef(image_id=stored.id), origin=origin)
            return
        conversation = Conversation(pending_photo=stored.id)  # that painting is gone: a new photo
        await backend.save_conversation(user_id, conversation)
    # The waiting photo itself again (resent, or handled again after a crash) simply keeps waiting.
    if conversation.pending_photo not in (None, stored.id):
        await queue_painting(
            w,
            context,
            user_id,
            chat_id,
            conversation.pending_photo,
            style_image_id=stored.id,
            origin=origin,
            conversation=DECIDED,
        )
        return
    if conversation.pending_preset in PRESETS:
        await queue_painting(
            w,
            context,
            user_id,
            chat_id,
            stored.id,
            style_preset=conversation.pending_preset,
            origin=origin,
            conversation=DECIDED,
        )
        return
    busy = bool(await backend.jobs_of(user_id, active_only=True))
    intro = w(texts.GOT_PHOTO_WHILE_BUSY if busy else texts.GOT_PHOTO)
    await message.reply_text(
        f"{intro}\n{w(texts.SEND_STYLE_HINT)}", reply_markup=keyboards.presets(w, stored.id)
    )


def _collect_album_part(update_id: int, message: Message, context: BotContext) -> None:
    """Albums arrive as one update per picture; gather them and decide once they are all in.

    The parts' updates stay undone in the inbox until the album is decided, so an album gathered
    when the bot dies is gathered again from the inbox after the restart."""
    assert (
        message.media_group_id is not None and message.from_user is not None and context.job_queue is not None
    )
    parts = context.bot_data.albums.setdefault(message.media_group_id, [])
    parts.append((update_id, message))
    if (inbox := services(context).inbox) is not None:
        inbox.defer(update_id)
    if len(parts) == 1:
        context.job_queue.run_once(
            _album_complete,
            ALBUM_DELAY,
            data=message.media_group_id,
            chat_id=message.chat_id,
            user_id=message.from_user.id,
            name=f"album:{message.media_group_id}",
        )


async def _album_complete(context: BotContext) -> None:
    """Decide the album, then mark its parts' updates handled."""
    assert context.job is not None and isinstance(context.job.data, str)
    gathered = context.bot_data.albums.pop(context.job.data)
    try:
        await load_choice(context, context.job.user_id)  # a job runs outside the album's updates
        parts = sorted((m for _, m in gathered), key=lambda m: m.message_id)
        # The album's first update names its job, so deciding it again after a crash makes no second one.
        await _decide_album(parts, context, origin=min(update_id for update_id, _ in gathered))
    finally:
        if (inbox := services(context).inbox) is not None:
            await inbox.finish([update_id for update_id, _ in gathered])


async def _decide_album(parts: list[Message], context: BotContext, origin: int) -> None:
    """An album of two is photo + style; one picture is just a photo; more gets an explanation."""
    if len(parts) == 1:
        await _take_picture(parts[0], context, origin)
        return
    w = words(parts[0])
    if len(parts) > 2:
        await parts[0].reply_text(w.plural(texts.ALBUM_TOO_MANY, len(parts)))
        return
    stored = []
    for index, part in enumerate(parts):
        try:
            stored.append(await receive_picture(context, part))
        except ImageError as refused:
            await part.reply_text(w(texts.ALBUM_PART[index], reason=texts.image_refused(w, refused)))
            return
    first = parts[0]
    assert first.from_user is not None
    await queue_painting(
        w,
        context,
        first.from_user.id,
        first.chat_id,
        stored[0].id,
        style_image_id=stored[1].id,
        origin=origin,
        conversation=DECIDED,
    )


async def preset_chosen(update: Update, context: BotContext) -> None:
    """A tap on a painting (`p:<preset>:<image id>`): paint that photo, or remember it for the next one."""
    query = update.callback_query
    assert query is not None and query.data is not None and update.effective_chat is not None
    w = words(update)
    preset_id, image_id, _ = keyboards.fields(query.data)
    if preset_id not in PRESETS or not image_id.isdigit():
        await query.answer(w(texts.STALE_BUTTON))
        return
    await query.answer(texts.preset_label(w, preset_id))
    user_id, chat_id = query.from_user.id, update.effective_chat.id
    backend = services(context).backend
    conversation = await backend.get_conversation(user_id)
    content_id = int(image_id) or conversation.pending_photo
    if not content_id:
        await backend.save_conversation(user_id, Conversation(pending_preset=preset_id))
        title = texts.preset_title(w, preset_id)
        await context.bot.send_message(chat_id, w(texts.PICK_STYLE_FIRST_PHOTO, title=title))
        return
    image = await backend.get_image(content_id)
    if image is None or image.owner_id != user_id:
        await context.bot.send_message(chat_id, w(texts.EXPIRED))
        return
    await queue_painting(
        w,
        context,
        user_id,
        chat_id,
        content_id,
        style_preset=preset_id,
        origin=update.update_id,
        conversation=DECIDED if conversation.pending_photo == content_id else None,
    )


async def _answer_job_button(
    update: Update, context: BotContext, job_id: str, owner: str, toast: str | None = None
) -> Job | None:
    """Answer a tap on a job's button first (PTB's advice: the spinner stops at once), from what the
    button carries; then the job it names, if it is still there and the tapper's own, else None
    (and the user is told why)."""
    query = update.callback_query
    assert query is not None and update.effective_chat is not None
    w = words(update)
    if not job_id.isdigit():
        await query.answer(w(texts.STALE_BUTTON))
        return None
    if owner and owner != str(query.from_user.id):
        await query.answer(w(texts.NOT_YOURS), show_alert=True)
        return None
    await query.answer(toast)
    job = await services(context).backend.get(int(job_id))
    if job is None or job.user_id != query.from_user.id:  # purged or forgotten; or an old button
        await context.bot.send_message(
            update.effective_chat.id, w(texts.STALE_BUTTON if job is None else texts.NOT_YOURS)
        )
        return None
    return job


async def result_action(update: Update, context: BotContext) -> None:
    """A button under a painting (`r:<action>:<job id>:<owner>`): a variation, another style, the PNG."""
    assert update.callback_query is not None and update.callback_query.data is not None
    action, job_id, owner = keyboards.fields(update.callback_query.data)
    if action not in keyboards.RESULT_ACTIONS:
        job_id = ""  # forged or from a future version: expired
    job = await _answer_job_button(update, context, job_id, owner)
    if job is None:
        return
    w = words(update)
    backend = services(context).backend
    if action == "full":
        await _send_full_resolution(w, job, context)
    elif action in texts.BRUSH_AT_END and _variation(job.params, action) == job.params:
        await context.bot.send_message(job.chat_id, w(texts.BRUSH_AT_END[action]))  # nothing to repaint
    elif await backend.get_image(job.content_image_id) is None:
        await context.bot.send_message(job.chat_id, w(texts.EXPIRED))  # removed by retention or /forget
    elif action == "another":
        await backend.save_conversation(job.user_id, Conversation(pending_photo=job.content_image_id))
        await context.bot.send_message(
            job.chat_id, w(texts.PICK_ANOTHER), reply_markup=keyboards.presets(w, job.content_image_id)
        )
    elif action == "mix":
        # A preset button below, or a picture: the next one sent is mixed in.
        await backend.save_conversation(job.user_id, Conversation(pending_mix=job.id))
        await context.bot.send_message(
            job.chat_id, w(texts.PICK_MIX), reply_markup=keyboards.mix_presets(w, job)
        )
    else:
        await _repaint(w, context, job, _variation(job.params, action), origin=update.update_id)


async def cancel_chosen(update: Update, context: BotContext) -> None:
    """✖ Cancel under a status message (`c:<job id>:<owner>`): that painting only, or why not."""
    assert update.callback_query is not None and update.callback_query.data is not None
    job_id, owner, _ = keyboards.fields(update.callback_query.data)
    job = await _answer_job_button(update, context, job_id, owner)
    if job is None:
        return
    w = words(update)
    if job.status is JobStatus.CANCELLED or job.cancel_requested:
        await context.bot.send_message(job.chat_id, w(texts.ALREADY_CANCELLED))
        return
    try:
        await services(context).backend.cancel(job.id)  # the status message then says so
    except IllegalTransition:  # finished a moment ago (or earlier): the painting is on its way
        await context.bot.send_message(job.chat_id, w(texts.ALREADY_FINISHED))
        return
    log.info("job cancelled by its button", extra={"job_id": job.id, "user_id": job.user_id})


async def mix_chosen(update: Update, context: BotContext) -> None:
    """A tap on a painting to mix in (`x:<preset>:<job id>:<owner>`): repaint that job half and half."""
    assert update.callback_query is not None and update.callback_query.data is not None
    preset_id, job_id, owner = keyboards.fields(update.callback_query.data)
    if preset_id not in PRESETS:
        job_id = ""
    label = texts.preset_label(words(update), preset_id)
    job = await _answer_job_button(update, context, job_id, owner, toast=label)
    if job is not None:
        await _queue_mix(words(update), context, job, StyleRef(preset=preset_id), origin=update.update_id)


async def _queue_mix(w: Words, context: BotContext, job: Job, style: StyleRef, *, origin: int | None) -> None:
    """Repaint `job` half and half with its own style and `style`; a pending mix is settled with it."""
    if await services(context).backend.get_image(job.content_image_id) is None:
        await context.bot.send_message(job.chat_id, w(texts.EXPIRED))
        return
    params = replace(job.params, mix=(style,), mix_blend=(0.5, 0.5))
    await _repaint(w, context, job, params, origin=origin, conversation=DECIDED)


async def _repaint(
    w: Words,
    context: BotContext,
    job: Job,
    params: PaintParams,
    *,
    origin: int | None,
    conversation: Conversation | None = None,
) -> None:
    """A new job on `job`'s own pictures with other `params`: no re-upload."""
    await queue_painting(
        w,
        context,
        job.user_id,
        job.chat_id,
        job.content_image_id,
        style_preset=job.style_preset,
        style_image_id=job.style_image_id,
        params=params,
        origin=origin,
        conversation=conversation,
    )


# One tap of "➕ More style" multiplies the style weight by this, "➖ Less style" divides it: the painting
# barely changes between ×0.5 and ×2, and visibly at ×0.25 and ×4 (docs/ENGINE.md "Strength the user
# controls").
STYLE_TAP = 4.0
MIX_STEP = 0.2  # how far one tap shifts a two-style mix
MIX_MIN = 0.1  # neither style drops out entirely: that is "Another style"


def _variation(params: PaintParams, action: str) -> PaintParams:
    """More style multiplies the style weight by STYLE_TAP, less divides it; colours and faces toggle;
    mixa/b shift a mix; bigger/finer step the brush size (`style_scale`) one rung of BRUSH_SCALES,
    staying at its ends."""
    blend = params.blend
    if action == "more":
        return replace(params, blend=replace(blend, style=min(WEIGHT_MAX, blend.style * STYLE_TAP or 1.0)))
    if action == "less":
        return replace(params, blend=replace(blend, style=blend.style / STYLE_TAP))
    if action == "faces":
        return replace(params, protect_faces=not params.protect_faces)
    if action in ("bigger", "finer"):
        direction = "up" if action == "bigger" else "down"
        return replace(params, style_scale=step_weight(params.style_scale, direction, BRUSH_SCALES))
    if action in ("mixa", "mixb") and len(params.mix) == 1:
        first = (params.mix_blend[0] / sum(params.mix_blend)) if params.mix_blend else 0.5
        first += MIX_STEP if action == "mixa" else -MIX_STEP
        first = round(min(1 - MIX_MIN, max(MIX_MIN, first)), 2)
        return replace(params, mix_blend=(first, round(1 - first, 2)))
    return replace(params, preserve_colors=not params.preserve_colors)


async def _send_full_resolution(w: Words, job: Job, context: BotContext) -> None:
    painting = await services(context).backend.get_result(job.id)
    if painting is None:
        await context.bot.send_message(job.chat_id, w(texts.EXPIRED))
        return
    await context.bot.send_chat_action(job.chat_id, ChatAction.UPLOAD_DOCUMENT)
    await context.bot.send_document(
        job.chat_id, painting, filename=f"drawme-{job.id}.png", caption=w(texts.FULL_RES_CAPTION)
    )
