"""While the job store is away (a database restart): one plain "busy" per chat, and nothing lost.

An update that could not be recorded in the inbox is not confirmed to Telegram: in polling, the
update queue's `put` waits here until the store records it (getUpdates is not called meanwhile,
so Telegram keeps the updates); on a webhook, `put` fails and Telegram's POST is answered 500,
so Telegram sends it again later. An update recorded but whose handler met the outage is kept
and handled again once the store is back (it is not marked done meanwhile). Either way, a user
who wrote a message gets "busy for a moment" once per outage; a button press or an inline query
is answered by its handler when it runs (a callback query can be answered only once).
The store itself logs the outage once (drawme.store.db); nothing here logs a traceback for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from telegram import Bot, Update
from telegram.error import TelegramError

from bot import texts
from bot.i18n import words
from drawme.models import StoreUnavailable

log = logging.getLogger(__name__)

RETRY_SECONDS = 1.0  # how often an update waiting for the store tries again


class Outage:
    """The chats told "busy" in the current outage, and the updates to handle again after it."""

    def __init__(self, retry_seconds: float = RETRY_SECONDS) -> None:
        self.retry_seconds = retry_seconds
        self.bot: Bot | None = None  # set once the application is initialised
        self.told: set[int] = set()
        self.waiting: dict[int, Update] = {}  # update id -> update whose handler met the outage
        self._retrying: asyncio.Task | None = None

    async def busy(self, update: object) -> None:
        """Say "busy for a moment" to the update's chat, once per outage, if it is a message."""
        if not isinstance(update, Update) or update.message is None or self.bot is None:
            return
        chat_id = update.message.chat_id
        if chat_id in self.told:
            return
        self.told.add(chat_id)
        try:
            await self.bot.send_message(chat_id, words(update)(texts.BUSY))
        except TelegramError as error:  # best effort: the message itself is answered later anyway
            log.debug("could not say busy: %s", error)

    async def wait_to_record(self, record: Callable[[], Awaitable[bool]], update: object) -> bool:
        """Polling: try `record` until the store takes it (saying "busy" once meanwhile)."""
        while True:
            try:
                recorded = await record()
            except StoreUnavailable:
                await self.busy(update)
                await asyncio.sleep(self.retry_seconds)
                continue
            self.recorded()
            return recorded

    def recorded(self) -> None:
        """The store took an update: the next outage is a new one."""
        self.told.clear()

    async def keep(self, update: object, put: Callable[[Update], Awaitable[None]]) -> None:
        """A handler met the outage: say "busy" once, and handle the update again (`put`) once the
        store is back."""
        await self.busy(update)
        if not isinstance(update, Update):
            return  # a scheduled job (the delivery poll): it runs again on its own
        self.waiting[update.update_id] = update
        if self._retrying is None or self._retrying.done():
            self._retrying = asyncio.create_task(self._retry(put), name="outage:retry")

    def is_waiting(self, update: object) -> bool:
        return isinstance(update, Update) and update.update_id in self.waiting

    async def _retry(self, put: Callable[[Update], Awaitable[None]]) -> None:
        while self.waiting:
            await asyncio.sleep(self.retry_seconds)
            for update_id in sorted(self.waiting):
                try:
                    await put(self.waiting[update_id])  # recorded again (still undone), then handled
                except StoreUnavailable:
                    break
                del self.waiting[update_id]
        self.told.clear()

    async def stop(self) -> None:
        if self._retrying is not None:
            self._retrying.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._retrying
