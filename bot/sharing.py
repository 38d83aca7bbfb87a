"""Sharing: inline mode lists the user's own recent paintings, to send into any chat with one tap.

Typing `@bot` in any chat, or tapping "Share" under a painting (which lets the user pick the chat
first), makes Telegram send an inline query. The answer offers the asking user's paintings by the file
ids Telegram gave them when they were sent (the store keeps them), so nothing is uploaded again. It
is personal (Telegram caches it for that user only) and cached briefly, so a new painting shows up
within seconds. Inline mode must be switched on in @BotFather (deploy/README.md).
"""

from __future__ import annotations

import logging

from telegram import InlineQueryResultCachedPhoto, InlineQueryResultsButton, Update
from telegram.error import BadRequest

from bot import texts
from bot.context import BotContext, services
from bot.i18n import words

log = logging.getLogger(__name__)

RECENT = 20  # paintings offered at once (Telegram takes at most 50 results per answer)
CACHE_SECONDS = 10  # how long Telegram may show this answer again; a fresh painting appears after it
START_PARAMETER = "share"  # the empty list's button opens the bot with /start share
# How the Bot API refuses an answer that came too late (the query expired, e.g. replayed after a crash).
EXPIRED = ("query is too old", "query_id_invalid")


async def inline_query(update: Update, context: BotContext) -> None:
    """List the asking user's recent paintings; with none yet, a button to the bot to make one."""
    query = update.inline_query
    if query is None:
        return
    w = words(update)
    paintings = await services(context).backend.recent_paintings(query.from_user.id, RECENT)
    results = [
        InlineQueryResultCachedPhoto(
            id=str(painting.job_id),
            photo_file_id=painting.file_id,
            caption=texts.share_caption(w, painting.style_preset),
        )
        for painting in paintings
    ]
    button = None
    if not results:
        button = InlineQueryResultsButton(text=w(texts.SHARE_NONE), start_parameter=START_PARAMETER)
    try:
        await query.answer(results, cache_time=CACHE_SECONDS, is_personal=True, button=button)
    except BadRequest as error:
        if not any(reason in error.message.lower() for reason in EXPIRED):
            raise
        log.info("inline query expired before its answer", extra={"user_id": query.from_user.id})
