"""Queueing paintings: the user's settings frozen into `PaintParams`, limits explained in words."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from telegram.ext import ContextTypes

from bot import texts
from bot.delivery import Delivery
from drawme.backend import JobBackend
from drawme.config import BotConfig, Sizes
from drawme.models import Job, JobRequest, LimitExceeded, PaintParams, UserSettings

log = logging.getLogger(__name__)


@dataclass
class Services:
    """What the handlers share, kept in `application.bot_data["services"]`."""

    backend: JobBackend
    config: BotConfig
    delivery: Delivery


def services(context: ContextTypes.DEFAULT_TYPE) -> Services:
    return context.bot_data["services"]


async def gpu_available(svc: Services) -> bool:
    """BotConfig.gpu when set, otherwise whether a CUDA worker has registered with the store."""
    if svc.config.gpu is not None:
        return svc.config.gpu
    return any(worker.device == "cuda" for worker in await svc.backend.workers())


async def available_sizes(svc: Services) -> Sizes:
    return svc.config.sizes_for(await gpu_available(svc))


async def params_for(svc: Services, settings: UserSettings) -> PaintParams:
    """The user's current settings as the frozen parameters of a new job."""
    sizes = (await available_sizes(svc)).as_dict()
    return PaintParams(
        size=sizes.get(settings.size, sizes["medium"]),
        blend=settings.blend,
        preserve_colors=settings.preserve_colors,
        recipe=svc.config.recipe,
        faces=settings.protect_faces,
    )


async def queue_painting(
    context: ContextTypes.DEFAULT_TYPE,
    user_id: int,
    chat_id: int,
    content_image_id: int,
    *,
    style_preset: str | None = None,
    style_image_id: int | None = None,
    params: PaintParams | None = None,
) -> Job | None:
    """Submit a job and post its one status message. A refused submit is explained; returns None."""
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
        job = await svc.backend.submit(request)
    except LimitExceeded as refusal:
        await context.bot.send_message(chat_id, texts.LIMIT.format(message=refusal.message))
        return None
    log.info("job queued", extra={"job_id": job.id, "user_id": user_id, "size": params.size})
    if style_preset and settings.last_preset != style_preset:
        await svc.backend.save_settings(user_id, replace(settings, last_preset=style_preset))
    text = texts.queued(await svc.backend.position(job.id))
    status = await context.bot.send_message(chat_id, text)
    svc.delivery.remember(job.id, status.message_id, text)
    await svc.backend.set_status_message(job.id, status.message_id)
    return job
