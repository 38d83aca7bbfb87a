"""Queueing paintings: the user's settings frozen into `PaintParams`, limits explained in words."""

from __future__ import annotations

import logging
from dataclasses import replace

from bot import keyboards, texts
from bot.context import BotContext, Services, services
from bot.i18n import Words
from drawme.config import Sizes
from drawme.models import Conversation, Job, JobRequest, LimitExceeded, PaintParams, UserSettings

log = logging.getLogger(__name__)


async def gpu_available(svc: Services) -> bool:
    """BotConfig.gpu when set, otherwise whether a CUDA worker has registered with the store."""
    if svc.config.gpu is not None:
        return svc.config.gpu
    return any(worker.device == "cuda" for worker in await svc.backend.workers())


async def available_sizes(svc: Services) -> Sizes:
    """What /size offers and new jobs are painted at: the configured sizes (bigger when a GPU paints),
    none larger than the largest size any registered worker paints (its MAX_SIZE, its device's
    "large", its memory), so a job is never painted smaller than it was offered."""
    sizes = await configured_sizes(svc)
    limits = [worker.max_size for worker in await svc.backend.workers() if worker.max_size]
    return sizes.within(max(limits)) if limits else sizes


async def configured_sizes(svc: Services) -> Sizes:
    """PAINT_SIZES, or the CPU or GPU defaults, before any worker's limit."""
    return svc.config.sizes_for(await gpu_available(svc))


async def params_for(svc: Services, settings: UserSettings) -> PaintParams:
    """The user's current settings as the frozen parameters of a new job."""
    sizes = (await available_sizes(svc)).as_dict()
    return PaintParams(
        size=sizes.get(settings.size, sizes["medium"]),
        blend=settings.blend,
        preserve_colors=settings.preserve_colors,
        recipe=svc.config.recipe,
        protect_faces=settings.protect_faces,
        style_scale=settings.style_scale,
    )


async def queue_painting(
    w: Words,
    context: BotContext,
    user_id: int,
    chat_id: int,
    content_image_id: int,
    *,
    style_preset: str | None = None,
    style_image_id: int | None = None,
    params: PaintParams | None = None,
    origin: int | None = None,
    conversation: Conversation | None = None,
) -> Job | None:
    """Submit a job and post its one status message, in the user's language (`w`, remembered for the
    job's later messages). A refused submit is explained; returns None.

    `origin` is the update asking for it: handling that update again (after a crash) finds its job
    instead of making a second one. `conversation` is saved with the submit, in one transaction."""
    svc = services(context)
    settings = await svc.backend.get_settings(user_id)
    if params is None:
        params = await params_for(svc, settings)
    request = JobRequest(
        user_id=user_id,
        chat_id=chat_id,
        content_image_id=content_image_id,
        params=params,
        style_preset=style_preset,
        style_image_id=style_image_id,
    )
    try:
        job = await svc.backend.submit(request, origin=origin, conversation=conversation)
    except LimitExceeded as refusal:
        if conversation is not None:
            await svc.backend.save_conversation(user_id, conversation)
        await context.bot.send_message(chat_id, w(texts.LIMIT, message=texts.refusal(w, refusal.refusal)))
        return None
    if job.status_message_id is not None or job.delivered_at is not None:
        return job  # this update was handled before a crash: its status message exists
    log.info("job queued", extra={"job_id": job.id, "user_id": user_id, "size": params.size})
    remembered = replace(settings, last_preset=style_preset or settings.last_preset, language=w.language)
    if remembered != settings:  # the delivery speaks the language the user asked in
        await svc.backend.save_settings(user_id, remembered)
    text = texts.queued(w, await svc.backend.position(job.id))
    status = await context.bot.send_message(chat_id, text, reply_markup=keyboards.cancel(w, job))
    await svc.delivery.remember(job.id, status.message_id, text)
    return job
