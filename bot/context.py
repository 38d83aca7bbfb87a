"""The typed PTB context: what the handlers share lives in one `BotData`, not in `bot_data["…"]` keys."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias

from telegram import Message
from telegram.ext import Application, CallbackContext, ContextTypes, ExtBot

from bot.delivery import Delivery
from bot.flood import ChatThrottle
from bot.inbox import Inbox
from bot.metrics import BotMetrics
from bot.outage import Outage
from drawme.backend import JobBackend
from drawme.config import BotConfig


@dataclass
class Services:
    """The store and the helpers around it, ready once the store is open (`BotData.services`)."""

    backend: JobBackend
    config: BotConfig
    delivery: Delivery
    throttle: ChatThrottle
    inbox: Inbox | None = None  # set once the store is open
    outage: Outage = field(default_factory=Outage)  # the store away: "busy" once, updates kept
    metrics: BotMetrics | None = None  # Prometheus' /metrics (BOT_METRICS_PORT); None: off


@dataclass
class BotData:
    """`application.bot_data`. PTB makes it with no arguments; `build_application` fills it in."""

    config: BotConfig | None = None
    own_backend: bool = False  # opened (and so closed) by the bot itself, not handed in
    services: Services | None = None  # set when the store is open
    # An album's parts gathered by media_group_id until the album is complete: (update id, message).
    albums: dict[str, list[tuple[int, Message]]] = field(default_factory=dict)
    # Telegram's file id of each preset picture once uploaded, so it is sent by id afterwards.
    preset_file_ids: dict[str, str] = field(default_factory=dict)


BotContext: TypeAlias = CallbackContext[ExtBot[None], dict, dict, BotData]
BotApplication: TypeAlias = Application[ExtBot[None], BotContext, dict, dict, BotData, object]
CONTEXT_TYPES = ContextTypes(bot_data=BotData)


def services(context: BotContext) -> Services:
    """The shared services; only handlers that run after the store is open call this."""
    svc = context.bot_data.services
    assert svc is not None, "the store is not open yet"
    return svc
