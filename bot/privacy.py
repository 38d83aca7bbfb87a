"""Privacy, said and done: /privacy says what is kept, for how long and who sees it; /export sends the
user a zip of it all (the same archive as the operator's `admin export`); /forget deletes it all,
the raw updates in the inbox included."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ChatAction

from bot import keyboards, texts
from bot.context import BotContext, services
from bot.i18n import words
from drawme.export import user_archive

log = logging.getLogger(__name__)

# The most a bot may upload in one file through the public Bot API.
MAX_UPLOAD = 50 * 1024 * 1024


async def privacy(update: Update, context: BotContext) -> None:
    """What is stored, for how long (RETENTION_DAYS), who can see it, and the buttons to get or delete it."""
    assert update.message is not None
    w = words(update)
    days = services(context).config.common.limits.retention_days
    await update.message.reply_text(
        w(texts.PRIVACY, kept=texts.retention(w, days)), reply_markup=keyboards.privacy(w)
    )


async def export(update: Update, context: BotContext) -> None:
    """/export: the user's own data as a zip."""
    await _send_export(update, context)


async def export_button(update: Update, context: BotContext) -> None:
    """📦 under /privacy: the same as /export."""
    assert update.callback_query is not None
    await update.callback_query.answer()
    await _send_export(update, context)


async def _send_export(update: Update, context: BotContext) -> None:
    assert update.effective_user is not None and update.effective_chat is not None
    w = words(update)
    user_id, chat_id = update.effective_user.id, update.effective_chat.id
    await context.bot.send_chat_action(chat_id, ChatAction.UPLOAD_DOCUMENT)
    data, files = await user_archive(services(context).backend, user_id)
    log.info("user exported", extra={"user_id": user_id, "event": "export"})
    if len(data) > MAX_UPLOAD:
        await context.bot.send_message(chat_id, w(texts.EXPORT_TOO_BIG, mb=len(data) / 2**20))
        return
    await context.bot.send_document(
        chat_id, data, filename="drawme-my-data.zip", caption=w.plural(texts.EXPORT_CAPTION, files)
    )


async def forget(update: Update, context: BotContext) -> None:
    """Ask before deleting everything about the user."""
    assert update.message is not None
    w = words(update)
    await update.message.reply_text(w(texts.FORGET_ASK), reply_markup=keyboards.forget(w))


async def forget_button(update: Update, context: BotContext) -> None:
    """`f:yes` deletes the user's images, jobs, files, settings and raw updates; `f:no` keeps them;
    `f:ask` (🗑 under /privacy) asks first."""
    query = update.callback_query
    assert query is not None and query.data is not None and update.effective_chat is not None
    await query.answer()
    w = words(update)
    answer = query.data.split(":")[1]
    if answer == "ask":
        await context.bot.send_message(
            update.effective_chat.id, w(texts.FORGET_ASK), reply_markup=keyboards.forget(w)
        )
        return
    if answer != "yes":
        await query.edit_message_text(w(texts.FORGET_KEPT))
        return
    files = await services(context).backend.forget(query.from_user.id)
    log.info("user forgotten", extra={"user_id": query.from_user.id, "event": "forget"})
    await query.edit_message_text(w.plural(texts.FORGET_DONE, files))
