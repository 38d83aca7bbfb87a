"""No update lost, none handled twice: a durable inbox of Telegram updates in the job store.

python-telegram-bot confirms an update to Telegram only after putting it into its update queue: in
polling, the next getUpdates carries the new offset; in webhook mode, Telegram's POST is answered
once `put` returns (an error there answers 500, and Telegram sends the update again). So recording
the update inside `put` makes it durable before Telegram forgets it. It is marked done once handled
(`PerChatOrder` calls `done`), and what a crash left unhandled is handled again on start. Handling
is idempotent by update id: a resent update already handled is dropped, and a submit remembers the
update that made it (`BotBackend.submit(origin=...)`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from telegram import Bot, Update

from bot.outage import Outage
from drawme.backend import BotBackend
from drawme.models import StoreUnavailable

log = logging.getLogger(__name__)

# Another instance's unhandled update is taken over after this long (it may simply still be busy).
TAKE_OVER_AFTER = 60.0


class Inbox:
    """The store's inbox, as the bot instance `owner` sees it."""

    def __init__(self, backend: BotBackend, owner: str, outage: Outage | None = None) -> None:
        self.backend, self.owner = backend, owner
        self.outage = outage or Outage()
        self.deferred: set[int] = set()  # handled later than their handler returns (album parts)

    def defer(self, update_id: int) -> None:
        """This update is not done when its handler returns, but when `finish` says so."""
        self.deferred.add(update_id)

    async def finish(self, update_ids: list[int]) -> None:
        for update_id in update_ids:
            self.deferred.discard(update_id)
            await self.backend.inbox_done(update_id)

    async def add(self, update: Update) -> bool:
        """Record `update`; False when it was handled already (Telegram sent it again)."""
        user = update.effective_user
        return await self.backend.inbox_add(
            update.update_id, json.dumps(update.to_dict()), self.owner, user.id if user is not None else None
        )

    async def done(self, update: object) -> None:
        if self.outage.is_waiting(update):
            return  # its handler met a store outage: it is handled again once the store is back
        if isinstance(update, Update) and update.update_id not in self.deferred:
            try:
                await self.backend.inbox_done(update.update_id)
            except StoreUnavailable:  # handled anyway; at worst it is handled again after a crash
                log.debug("could not mark update %s handled: the store is away", update.update_id)
            except Exception:
                log.warning("could not mark update %s handled", update.update_id, exc_info=True)

    async def leftovers(self, bot: Bot) -> list[Update]:
        """Updates recorded but never handled (the process died while handling them)."""
        left = []
        for update_id, body in await self.backend.inbox_leftovers(self.owner, TAKE_OVER_AFTER):
            if await self.backend.job_of_origin(update_id) is not None:
                await self.backend.inbox_done(update_id)  # its job was made: nothing left to do
                continue
            left.append(Update.de_json(json.loads(body), bot))
        return left


class DurableUpdateQueue(asyncio.Queue):
    """PTB's update queue, recording each update in the inbox before it is queued (and confirmed)."""

    def __init__(self) -> None:
        super().__init__()
        self.inbox: Inbox | None = None  # set once the store is open, before updates are fetched
        # Polling: while the store is away, wait here (the update is not confirmed to Telegram
        # meanwhile). On a webhook: fail, so Telegram's POST is answered 500 and sent again later.
        self.wait_while_down = True

    async def put(self, item: Any) -> None:
        if isinstance(item, Update) and self.inbox is not None and not await self._record(self.inbox, item):
            log.info("update %s was handled already; dropped", item.update_id)
            return
        await super().put(item)

    async def _record(self, inbox: Inbox, update: Update) -> bool:
        if self.wait_while_down:
            return await inbox.outage.wait_to_record(lambda: inbox.add(update), update)
        try:
            recorded = await inbox.add(update)
        except StoreUnavailable:
            await inbox.outage.busy(update)
            raise
        inbox.outage.recorded()
        return recorded

    async def replay(self, bot: Bot) -> int:
        """Queue what a crash left unhandled, oldest first; returns how many."""
        if self.inbox is None:
            return 0
        left = await self.inbox.leftovers(bot)
        for update in left:
            await super().put(update)
        if left:
            log.info("handling %d updates left over from before a restart", len(left))
        return len(left)
