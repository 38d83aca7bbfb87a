"""The typed PTB context: what the handlers share lives in one `BotData`, not in `bot_data["…"]` keys.

It names what it holds by protocol (`Deliveries`), so the modules that implement them (bot.delivery)
import this one, never the other way round.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, TypeAlias

from telegram import Message
from telegram.ext import Application, CallbackContext, ContextTypes, ExtBot, JobQueue
from telegram.ext import Job as ScheduledJob

from bot.inbox import Inbox
from bot.metrics import BotMetrics
from bot.outage import Outage
from drawme.backend import BotBackend
from drawme.config import BotConfig


class Deliveries(Protocol):
    """Status messages and finished paintings on their way to the chats (bot.delivery.Delivery)."""

    async def poll(self, context: BotContext) -> None:
        """Start delivering to every chat with undelivered jobs (the JobQueue's repeating job)."""

    def start_waking(self, poll: ScheduledJob, application: BotApplication) -> None:
        """Run `poll` as soon as the store signals a change."""

    async def remember(self, job_id: int, message_id: int, text: str) -> None:
        """The submitting handler posted the job's status message with `text`."""

    async def release(self) -> None:
        """Stopping cleanly: other instances may take over this one's deliveries at once."""


@dataclass
class Services:
    """The store and the helpers around it, ready once the store is open (`BotData.services`)."""

    backend: BotBackend
    config: BotConfig
    delivery: Deliveries
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


# ExtBot[int]: the bot with a rate limiter (its retries are an int).
BotContext: TypeAlias = CallbackContext[ExtBot[int], dict, dict, BotData]
BotApplication: TypeAlias = Application[ExtBot[int], BotContext, dict, dict, BotData, JobQueue[BotContext]]
CONTEXT_TYPES = ContextTypes(bot_data=BotData)


def services(context: BotContext) -> Services:
    """The shared services; only handlers that run after the store is open call this."""
    svc = context.bot_data.services
    assert svc is not None, "the store is not open yet"
    return svc
