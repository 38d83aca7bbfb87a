"""/language: the user picks English or Russian (or their Telegram app's language, the default), and
the choice is remembered in their settings and applied to every update before it is handled."""

from __future__ import annotations

from dataclasses import replace

from telegram import BotCommand, BotCommandScopeChat, Update

from bot import keyboards, texts
from bot.context import BotContext, services
from bot.i18n import Words, choose, languages, words


async def user_language(update: Update, context: BotContext) -> None:
    """(Before the handlers.) The language the user picked with /language, for all this update says."""
    user = update.effective_user
    await load_choice(context, user.id if user is not None else None)


async def load_choice(context: BotContext, user_id: int | None) -> None:
    """Speak the language `user_id` picked (if any) in what the running update or job says next."""
    settings = await services(context).backend.get_settings(user_id) if user_id is not None else None
    choose(settings.chosen_language if settings is not None else None)


async def language(update: Update, context: BotContext) -> None:
    """The languages to pick from, the current one ticked."""
    assert update.message is not None and update.effective_user is not None
    w = words(update)
    settings = await services(context).backend.get_settings(update.effective_user.id)
    await update.message.reply_text(
        w(texts.LANGUAGE, current=texts.language_name(w.language)),
        reply_markup=keyboards.language_choices(w, settings.chosen_language),
    )


async def language_button(update: Update, context: BotContext) -> None:
    """`l:<code>` or `l:app`: remember the choice, then say it (and show the menu) in that language."""
    query = update.callback_query
    assert query is not None and query.data is not None and update.effective_chat is not None
    choice = query.data.split(":")[1]
    if choice != keyboards.LANGUAGE_APP and choice not in languages():
        await query.answer(words(update)(texts.STALE_BUTTON))
        return
    await query.answer()  # first, before the store
    chosen = None if choice == keyboards.LANGUAGE_APP else choice
    backend = services(context).backend
    settings = await backend.get_settings(query.from_user.id)
    if settings.chosen_language == chosen:
        return  # ticked already; Telegram refuses an edit to the same text
    await backend.save_settings(query.from_user.id, replace(settings, chosen_language=chosen))
    choose(chosen)
    w = words(update)
    said = texts.LANGUAGE_FOLLOWS_APP if chosen is None else texts.LANGUAGE_SAVED
    await query.edit_message_text(
        w(said, language=texts.language_name(w.language)),
        reply_markup=keyboards.language_choices(w, chosen),
    )
    await _chat_menu(context, update.effective_chat.id, w if chosen is not None else None)


async def _chat_menu(context: BotContext, chat_id: int, w: Words | None) -> None:
    """The command menu of this chat in the picked language; None: the app language's menu again."""
    scope = BotCommandScopeChat(chat_id)
    if w is None:
        await context.bot.delete_my_commands(scope=scope)
    else:
        await context.bot.set_my_commands(
            [BotCommand(name, w(about)) for name, about in texts.COMMANDS], scope=scope
        )
