"""The composition root: build the python-telegram-bot Application, wire the handlers, run it.

The bot never imports torch: it only talks to the job store, and paintings happen in the engine
process (`python -m engine serve`), so the bot starts in about a second and stays responsive.
"""

from __future__ import annotations

import logging
from typing import cast

from telegram import BotCommand, Update
from telegram.error import InvalidToken, TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    InlineQueryHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot import commands, conversation, flood, keyboards, language, privacy, sharing, texts
from bot.context import CONTEXT_TYPES, BotApplication, BotContext, Services, services
from bot.delivery import Delivery
from bot.i18n import DEFAULT_LANGUAGE, languages, words, words_for
from bot.inbox import DurableUpdateQueue, Inbox
from bot.metrics import BotMetrics
from bot.uploads import PICTURES
from drawme.backend import BotBackend
from drawme.config import TOKEN_REJECTED, BotConfig, ConfigError
from drawme.entry import handle_loop_exceptions
from drawme.logs import setup_logging
from drawme.metrics import QUEUE_REFRESH
from drawme.models import StoreUnavailable
from drawme.privacy import secure_data_dir

log = logging.getLogger(__name__)

# Flood control: the limiter spaces requests and retries a 429 this many times before giving up;
# delivery then retries on a later tick.
RATE_LIMIT_RETRIES = 2
# Updates handled at once (different chats; one chat's updates always run in order).
CONCURRENT_UPDATES = 64
# The update types the handlers below act on; Telegram sends no others (polling and webhook alike).
ALLOWED_UPDATES = [Update.MESSAGE, Update.EDITED_MESSAGE, Update.CALLBACK_QUERY, Update.INLINE_QUERY]


def build_application(config: BotConfig, backend: BotBackend | None = None) -> BotApplication:
    """The bot, ready to run. Without `backend`, it opens (and later closes) the job store."""
    builder = (
        Application.builder()
        .token(config.token)
        .context_types(CONTEXT_TYPES)
        .rate_limiter(flood.PerChatRateLimiter(max_retries=RATE_LIMIT_RETRIES))
        .concurrent_updates(flood.PerChatOrder(CONCURRENT_UPDATES))
        .update_queue(DurableUpdateQueue())
        .post_init(_post_init)
        .post_shutdown(_post_shutdown)
    )
    if config.base_url and config.base_file_url:
        builder = builder.base_url(config.base_url).base_file_url(config.base_file_url)
    if config.local_mode:  # getFile answers with a path on the server's disk; read it from there
        builder = builder.local_mode(True)
    # PTB's builder types its JobQueue apart from the context types: the cast names what it built.
    application = cast(BotApplication, builder.build())
    application.bot_data.config = config
    application.bot_data.own_backend = backend is None
    if backend is not None:
        _provide(application, backend)
    add_handlers(application, config)
    return application


def add_handlers(application: BotApplication, config: BotConfig) -> None:
    """Commands, pictures, buttons, inline queries, and the gentle fallbacks — most specific first."""
    # First of all (group -2), each message passes its chat's throttle (a flood gets one "slow down").
    throttle = flood.ChatThrottle(config.chat_burst, config.chat_refill_seconds)
    application.add_handler(TypeHandler(Update, flood.guard(throttle)), group=-2)
    # Then the user's chosen language (/language) is looked up, for everything the update is answered.
    application.add_handler(TypeHandler(Update, language.user_language), group=-1)
    # An edit of a message sent before is not a new request (commands and pictures act on new ones).
    application.add_handler(MessageHandler(filters.UpdateType.EDITED, commands.edited))
    application.add_handler(CommandHandler("start", commands.start))
    application.add_handler(CommandHandler("help", commands.help_command))
    application.add_handler(CommandHandler("styles", commands.styles))
    application.add_handler(CommandHandler("weights", commands.weights))
    application.add_handler(CommandHandler("size", commands.size))
    application.add_handler(CommandHandler(["colors", "colours"], commands.colors))
    application.add_handler(CommandHandler("faces", commands.faces))
    application.add_handler(CommandHandler("status", commands.status))
    application.add_handler(CommandHandler("cancel", commands.cancel))
    application.add_handler(CommandHandler("forget", privacy.forget))
    application.add_handler(CommandHandler("privacy", privacy.privacy))
    application.add_handler(CommandHandler("export", privacy.export))
    application.add_handler(CommandHandler("language", language.language))
    # /stats exists only for admins; to everyone else it is an unknown command like any other.
    application.add_handler(
        CommandHandler("stats", commands.stats, filters=filters.User(user_id=config.admin_ids))
    )
    application.add_handler(MessageHandler(filters.COMMAND, commands.unknown_command))
    application.add_handler(MessageHandler(PICTURES, conversation.picture))
    application.add_handler(MessageHandler(filters.TEXT, commands.text))
    # Everything else a user can send (voice, video, location, poll, sticker, PDF...): never silence.
    application.add_handler(
        MessageHandler(filters.UpdateType.MESSAGE & ~filters.StatusUpdate.ALL, commands.anything_else)
    )
    application.add_handler(
        CallbackQueryHandler(conversation.preset_chosen, pattern=keyboards.pattern(keyboards.PRESET))
    )
    application.add_handler(
        CallbackQueryHandler(conversation.result_action, pattern=keyboards.pattern(keyboards.RESULT))
    )
    application.add_handler(
        CallbackQueryHandler(conversation.cancel_chosen, pattern=keyboards.pattern(keyboards.CANCEL))
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
        CallbackQueryHandler(language.language_button, pattern=keyboards.pattern(keyboards.LANGUAGE))
    )
    application.add_handler(
        CallbackQueryHandler(privacy.forget_button, pattern=keyboards.pattern(keyboards.FORGET))
    )
    application.add_handler(
        CallbackQueryHandler(privacy.export_button, pattern=keyboards.pattern(keyboards.EXPORT))
    )
    # Inline mode (`@bot` in any chat, or the Share button): the user's own paintings to send there.
    application.add_handler(InlineQueryHandler(sharing.inline_query))
    application.add_error_handler(error_handler)


def _provide(application: BotApplication, backend: BotBackend) -> None:
    config = _config(application)
    metrics = BotMetrics() if config.metrics_port is not None else None
    application.bot_data.services = Services(
        backend, config, Delivery(backend, config, metrics=metrics), metrics=metrics
    )


def _config(application: BotApplication) -> BotConfig:
    config = application.bot_data.config
    assert config is not None, "build_application sets it"
    return config


async def _post_init(application: BotApplication) -> None:
    """Open the store if we own it, register the command menu, poll the store (and wake on its changes)."""
    config = _config(application)
    handle_loop_exceptions()
    if application.bot_data.own_backend:
        from drawme.store import open_store  # the composition root is the only place that knows it

        _provide(application, await open_store(config.common))
    svc = application.bot_data.services
    assert svc is not None
    # Every update is recorded before Telegram hears it arrived, and marked done once handled.
    inbox = svc.inbox = Inbox(svc.backend, config.instance_name, svc.outage)
    svc.outage.bot = application.bot
    queue, processor = application.update_queue, application.update_processor
    assert isinstance(queue, DurableUpdateQueue) and isinstance(processor, flood.PerChatOrder)
    queue.inbox = inbox
    queue.wait_while_down = not config.webhook_url
    processor.handled = inbox.done
    await queue.replay(application.bot)
    await set_commands(application)
    if not application.bot.supports_inline_queries:
        log.warning(
            "inline mode is off, so paintings come without a Share button: switch it on in @BotFather"
            " with /setinline (deploy/README.md), then restart the bot"
        )
    delivery = svc.delivery
    assert application.job_queue is not None  # the job-queue extra is a dependency
    # Several instances may overlap only to be skipped by Delivery's own busy flag (no scheduler warnings).
    poll = application.job_queue.run_repeating(
        delivery.poll,
        interval=config.poll_seconds,
        first=0.0,
        name="delivery",
        job_kwargs={"max_instances": 3, "coalesce": True},
    )
    # The store's change signals run that poll at once; the repeating poll stays as the fallback.
    delivery.start_waking(poll, application)
    if svc.metrics is not None and config.metrics_port is not None:
        await start_metrics(application, svc.metrics, config.metrics_port)
    log.info("bot started", extra={"event": "start"})


async def start_metrics(application: BotApplication, metrics: BotMetrics, port: int) -> None:
    """Serve /metrics, count Telegram's refusals per method, and refresh the queue figures."""
    limiter = application.bot.rate_limiter
    if isinstance(limiter, flood.PerChatRateLimiter):
        limiter.on_error = metrics.telegram_error
    metrics.serve(port)

    async def refresh(context: BotContext) -> None:  # a store outage: the error handler is quiet
        metrics.observe_stats(await services(context).backend.stats())

    assert application.job_queue is not None  # PTB's job-queue extra is a dependency
    job = application.job_queue.run_repeating(refresh, interval=QUEUE_REFRESH, name="metrics")
    await job.run(application)  # the figures from the start (APScheduler cannot start a job "now")


async def set_commands(application: BotApplication) -> None:
    """The command menu and the bot's profile texts ("What can this bot do?" before /start, and the
    short one on its profile) in every language we speak: English for everyone, then each other
    language for users whose Telegram is set to it."""
    bot = application.bot
    for catalog in languages():
        w = words_for(catalog)
        code = None if catalog == DEFAULT_LANGUAGE else catalog
        await bot.set_my_commands(
            [BotCommand(name, w(about)) for name, about in texts.COMMANDS], language_code=code
        )
        try:
            await bot.set_my_description(w(texts.DESCRIPTION), language_code=code)
            await bot.set_my_short_description(w(texts.SHORT_DESCRIPTION), language_code=code)
        except TelegramError as error:  # cosmetic: a refusal (e.g. flood control) must not stop the bot
            log.warning("could not set the bot's description: %s", error)


async def _post_shutdown(application: BotApplication) -> None:
    """Hand this instance's deliveries to the others at once, then close the store if we own it."""
    svc = application.bot_data.services
    if svc is None:
        return
    await svc.outage.stop()
    if svc.metrics is not None:
        svc.metrics.close()
    try:
        await svc.delivery.release()
    except Exception:  # they are taken over when the lease expires anyway
        log.warning("could not release the delivery leases", exc_info=True)
    if application.bot_data.own_backend:
        await svc.backend.close()


async def error_handler(update: object, context: BotContext) -> None:
    """Log what went wrong (the token is redacted by the log formatter) and tell the user briefly.
    The store being away is no error of ours: "busy" once, and the update is handled again later."""
    if isinstance(context.error, StoreUnavailable):
        log.debug("the store is away: update handled again once it is back")
        await services(context).outage.keep(update, context.application.update_queue.put)
        return
    log.error("unhandled error", exc_info=context.error)
    if isinstance(update, Update) and update.effective_chat is not None:
        try:
            await context.bot.send_message(update.effective_chat.id, words(update)(texts.ERROR))
        except Exception:  # telling the user is best effort; the error is already logged
            log.warning("could not report the error to the user")


def _is_rejected_token(record: logging.LogRecord) -> bool:
    return record.exc_info is not None and isinstance(record.exc_info[1], InvalidToken)


def main(argv: list[str] | None = None) -> int:
    """Run the bot until Ctrl-C / SIGTERM. A bad setting or a token Telegram rejects: ConfigError."""
    config = BotConfig.from_env()
    setup_logging(config.common, "bot")
    # PTB logs a rejected token's 40-line traceback before raising it; we say it in one line instead.
    logging.getLogger("telegram.ext").addFilter(lambda record: not _is_rejected_token(record))
    secure_data_dir(config.common.data_dir)
    application = build_application(config)
    try:
        if config.webhook_url:  # several instances can share the load behind one address
            application.run_webhook(
                listen=config.webhook_listen,
                port=config.webhook_port,
                url_path=config.webhook_path,
                webhook_url=config.webhook_url,
                secret_token=config.webhook_secret_token,
                allowed_updates=ALLOWED_UPDATES,
            )
        else:
            application.run_polling(allowed_updates=ALLOWED_UPDATES)
    except InvalidToken:  # getMe answered 401: a revoked or mistyped token, or the wrong server
        raise ConfigError(TOKEN_REJECTED) from None
    return 0
