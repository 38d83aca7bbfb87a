"""The composition root: build the python-telegram-bot Application, wire the handlers, run it.

The bot never imports torch: it only talks to the job store, and paintings happen in the engine
process (`python -m engine serve`), so the bot starts in about a second and stays responsive.
"""

from __future__ import annotations

import logging
import sys

from telegram import BotCommand, Update
from telegram.ext import (
    AIORateLimiter,
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    PersistenceInput,
    PicklePersistence,
    filters,
)

from bot import commands, conversation, keyboards, texts
from bot.delivery import Delivery
from bot.jobs import Services
from bot.uploads import PICTURES
from drawme.backend import JobBackend
from drawme.config import BotConfig, ConfigError
from drawme.logs import setup_logging

log = logging.getLogger(__name__)

# Flood control: the limiter spaces requests and retries a 429 this many times before giving up;
# delivery then retries on a later tick.
RATE_LIMIT_RETRIES = 2
# How often the conversation state (user_data) is written to disk; it is also written at shutdown.
STATE_FLUSH_SECONDS = 5


def build_application(config: BotConfig, backend: JobBackend | None = None) -> Application:
    """The bot, ready to run. Without `backend`, it opens (and later closes) the SQLite job store."""
    builder = (
        Application.builder()
        .token(config.token)
        .rate_limiter(AIORateLimiter(max_retries=RATE_LIMIT_RETRIES))
        .persistence(_conversation_state(config))
        .post_init(_post_init)
        .post_shutdown(_post_shutdown)
    )
    if config.base_url:
        builder = builder.base_url(config.base_url).base_file_url(config.base_file_url)
    if config.local_mode:  # getFile answers with a path on the server's disk; read it from there
        builder = builder.local_mode(True)
    application = builder.build()
    application.bot_data["config"] = config
    application.bot_data["own_backend"] = backend is None
    if backend is not None:
        _provide(application, backend)
    add_handlers(application, config)
    return application


def _conversation_state(config: BotConfig) -> PicklePersistence:
    """Keep user_data (a photo still waiting for its style) across restarts; the rest is in the store."""
    config.common.data_dir.mkdir(parents=True, exist_ok=True)
    return PicklePersistence(
        filepath=config.common.data_dir / "bot-conversations.pickle",
        store_data=PersistenceInput(bot_data=False, chat_data=False, callback_data=False),
        update_interval=STATE_FLUSH_SECONDS,
    )


def add_handlers(application: Application, config: BotConfig) -> None:
    """Commands, pictures, buttons, and the gentle fallbacks — most specific first."""
    application.add_handler(CommandHandler("start", commands.start))
    application.add_handler(CommandHandler("help", commands.help_command))
    application.add_handler(CommandHandler("styles", commands.styles))
    application.add_handler(CommandHandler("weights", commands.weights))
    application.add_handler(CommandHandler("size", commands.size))
    application.add_handler(CommandHandler(["colors", "colours"], commands.colors))
    application.add_handler(CommandHandler("faces", commands.faces))
    application.add_handler(CommandHandler("status", commands.status))
    application.add_handler(CommandHandler("cancel", commands.cancel))
    application.add_handler(CommandHandler("forget", commands.forget))
    # /stats exists only for admins; to everyone else it is an unknown command like any other.
    application.add_handler(
        CommandHandler("stats", commands.stats, filters=filters.User(user_id=config.admin_ids))
    )
    application.add_handler(MessageHandler(filters.COMMAND, commands.unknown_command))
    application.add_handler(MessageHandler(PICTURES, conversation.picture))
    application.add_handler(MessageHandler(filters.TEXT, commands.text))
    application.add_handler(
        CallbackQueryHandler(conversation.preset_chosen, pattern=keyboards.pattern(keyboards.PRESET))
    )
    application.add_handler(
        CallbackQueryHandler(conversation.result_action, pattern=keyboards.pattern(keyboards.RESULT))
    )
    application.add_handler(
        CallbackQueryHandler(conversation.mix_chosen, pattern=keyboards.pattern(keyboards.MIX))
    )
    application.add_handler(
        CallbackQueryHandler(commands.weight_button, pattern=keyboards.pattern(keyboards.WEIGHT))
    )
    application.add_handler(
        CallbackQueryHandler(commands.size_button, pattern=keyboards.pattern(keyboards.SIZE))
    )
    application.add_handler(
        CallbackQueryHandler(commands.forget_button, pattern=keyboards.pattern(keyboards.FORGET))
    )
    application.add_error_handler(error_handler)


def _provide(application: Application, backend: JobBackend) -> None:
    config: BotConfig = application.bot_data["config"]
    application.bot_data["services"] = Services(backend, config, Delivery(backend, config))


async def _post_init(application: Application) -> None:
    """Open the store if we own it, register the command menu, start polling the store."""
    config: BotConfig = application.bot_data["config"]
    if application.bot_data["own_backend"]:
        from drawme.store import SqliteJobStore  # the composition root is the only place that knows it

        _provide(application, await SqliteJobStore.open(config.common))
    await application.bot.set_my_commands([BotCommand(name, about) for name, about in texts.COMMANDS])
    delivery: Delivery = application.bot_data["services"].delivery
    # Several instances may overlap only to be skipped by Delivery's own busy flag (no scheduler warnings).
    application.job_queue.run_repeating(
        delivery.poll,
        interval=config.poll_seconds,
        first=0.0,
        name="delivery",
        job_kwargs={"max_instances": 3, "coalesce": True},
    )
    log.info("bot started", extra={"event": "start"})


async def _post_shutdown(application: Application) -> None:
    if application.bot_data.get("own_backend") and "services" in application.bot_data:
        await application.bot_data["services"].backend.close()


async def error_handler(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log what went wrong (the token is redacted by the log formatter) and tell the user briefly."""
    log.error("unhandled error", exc_info=context.error)
    if isinstance(update, Update) and update.effective_chat is not None:
        try:
            await context.bot.send_message(update.effective_chat.id, texts.ERROR)
        except Exception:  # telling the user is best effort; the error is already logged
            log.warning("could not report the error to the user")


def main(argv: list[str] | None = None) -> int:
    """Run the bot until Ctrl-C / SIGTERM."""
    try:
        config = BotConfig.from_env()
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    setup_logging(config.common, "bot")
    build_application(config).run_polling(allowed_updates=Update.ALL_TYPES)
    return 0
