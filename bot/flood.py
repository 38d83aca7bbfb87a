"""Fair under floods: no user waits because another one sends a lot or hits Telegram's limits.

- `PerChatOrder` lets python-telegram-bot handle updates concurrently, but one chat's updates one at
  a time and in order (a photo is taken before the style that follows it).
- `ChatThrottle` gives each chat a burst allowance; a burst beyond it gets one "slow down" answer and
  is not handled message by message.
- `PerChatRateLimiter` is PTB's AIORateLimiter, except that a 429 about one chat pauses only that
  chat, for exactly the `retry_after` Telegram asked for; other chats carry on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import warnings
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from typing import Any

from telegram import Update
from telegram.error import RetryAfter, TelegramError
from telegram.ext import AIORateLimiter, ApplicationHandlerStop, SimpleUpdateProcessor

from bot import texts
from bot.context import BotContext
from bot.i18n import words

log = logging.getLogger(__name__)


def chat_of(update: object) -> int | None:
    """The chat an update belongs to; an inline query's is its user's private chat (the same id), so
    different users' queries run side by side. None for updates about no chat (a poll's new state)."""
    if not isinstance(update, Update):
        return None
    chat = update.effective_chat or update.effective_user
    return chat.id if chat is not None else None


class PerChatOrder(SimpleUpdateProcessor):
    """Updates of different chats run concurrently; those of one chat run one after another.

    The chat's lock is taken before the concurrency slot, so a flooding chat's waiting updates
    never occupy the slots other chats need."""

    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int | None, tuple[asyncio.Lock, int]] = {}
        self.handled: Callable[[object], Awaitable[None]] | None = None  # e.g. the inbox's `done`

    # PTB marks it final; overridden because the chat's lock must be taken before the concurrency slot.
    async def process_update(self, update: object, coroutine: Awaitable[Any]) -> None:  # type: ignore[misc]
        chat_id = chat_of(update)
        lock, users = self._locks.get(chat_id) or (asyncio.Lock(), 0)
        self._locks[chat_id] = (lock, users + 1)
        try:
            async with lock:  # asyncio.Lock wakes its waiters in arrival order
                await super().process_update(update, coroutine)
                if self.handled is not None:
                    await self.handled(update)
        finally:
            lock, users = self._locks[chat_id]
            if users == 1:
                del self._locks[chat_id]
            else:
                self._locks[chat_id] = (lock, users - 1)


class Verdict(Enum):
    ALLOW = "allow"
    WARN = "warn"  # the first message over the allowance: answer "slow down" once
    DROP = "drop"  # the rest of the burst: no answer at all


@dataclass
class _Bucket:
    tokens: float
    at: float
    warned: bool = False
    album: tuple[str, Verdict] | None = None  # the last album and what its first part got


class ChatThrottle:
    """A token bucket per chat: `burst` messages at once, then one more every `refill_seconds`.

    The parts of one album count as one message. Pure logic: the caller passes the clock."""

    def __init__(self, burst: int, refill_seconds: float) -> None:
        self.burst, self.refill_seconds = burst, refill_seconds
        self._buckets: dict[int, _Bucket] = {}

    def admit(self, chat_id: int, now: float, album: str | None = None) -> Verdict:
        if self.burst <= 0:
            return Verdict.ALLOW
        bucket = self._buckets.get(chat_id) or _Bucket(tokens=float(self.burst), at=now)
        self._buckets[chat_id] = bucket
        if self.refill_seconds > 0:
            bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.at) / self.refill_seconds)
        else:
            bucket.tokens = float(self.burst)
        bucket.at = now
        if album is not None and bucket.album is not None and bucket.album[0] == album:
            first = bucket.album[1]
            return Verdict.DROP if first is Verdict.WARN else first
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            bucket.warned = False
            verdict = Verdict.ALLOW
        elif not bucket.warned:
            bucket.warned = True
            verdict = Verdict.WARN
        else:
            verdict = Verdict.DROP
        bucket.album = (album, verdict) if album is not None else None
        if len(self._buckets) > 10_000:
            self._forget_idle(now)
        return verdict

    def _forget_idle(self, now: float) -> None:
        """Full buckets carry no information; drop them so the table stays small."""
        full_after = self.burst * self.refill_seconds
        for chat_id in [c for c, b in self._buckets.items() if now - b.at >= full_after]:
            del self._buckets[chat_id]


def guard(throttle: ChatThrottle) -> Callable[[Update, BotContext], Coroutine[Any, Any, None]]:
    """The handler (group -2) that puts every message through its chat's throttle first."""

    async def check(update: Update, context: BotContext) -> None:
        message = update.message
        if message is None or message.chat is None:
            return
        verdict = throttle.admit(message.chat.id, time.monotonic(), message.media_group_id)
        if verdict is Verdict.ALLOW:
            return
        if verdict is Verdict.WARN:
            log.info("chat throttled", extra={"user_id": message.chat.id, "event": "throttle"})
            await message.reply_text(words(update)(texts.SLOW_DOWN))
        raise ApplicationHandlerStop

    return check


class PerChatRateLimiter(AIORateLimiter):
    """AIORateLimiter whose 429 pauses only the chat it was about.

    PTB's limiter halts every request of the bot on any 429; Telegram's limits are per chat (plus a
    global one, which still pauses everything: a 429 for a request without a chat)."""

    def __init__(self, max_retries: int, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(max_retries=max_retries)
        self._clock = clock
        self._resume_at: dict[object, float] = {}  # chat id (None: every chat) -> monotonic time
        # Told of every call Telegram refused or that failed (the API method, the error): metrics.
        self.on_error: Callable[[str, TelegramError], None] | None = None

    def paused_for(self, chat_id: object) -> float:
        """Seconds until requests to `chat_id` may go out again (0 when they may now)."""
        now = self._clock()
        return max(0.0, self._resume_at.get(chat_id, now) - now, self._resume_at.get(None, now) - now)

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Any]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Any:
        max_retries = rate_limit_args or self._max_retries
        chat_id: int | str | None = data.get("chat_id")  # an id, or a "@channel" name
        if isinstance(chat_id, str):
            with contextlib.suppress(ValueError):
                chat_id = int(chat_id)
        group = chat_id if (isinstance(chat_id, int) and chat_id < 0) or isinstance(chat_id, str) else False
        for attempt in range(max_retries + 1):
            while (wait := self.paused_for(chat_id)) > 0:
                await asyncio.sleep(wait)
            try:
                return await self._run_request(
                    chat=chat_id is not None,
                    group=group,
                    allow_paid_broadcast=data.get("allow_paid_broadcast", False),
                    callback=callback,
                    args=args,
                    kwargs=kwargs,
                )
            except RetryAfter as flood:
                self._failed(endpoint, flood)
                self._resume_at[chat_id] = self._clock() + retry_seconds(flood) + 0.1
                if attempt == max_retries:
                    raise
                log.info("flood control for chat %s: waiting %.1f s", chat_id, retry_seconds(flood))
            except TelegramError as error:
                self._failed(endpoint, error)
                raise
            finally:
                now = self._clock()
                for key in [k for k, at in self._resume_at.items() if at <= now]:
                    del self._resume_at[key]
        raise AssertionError("unreachable")


    def _failed(self, endpoint: str, error: TelegramError) -> None:
        if self.on_error is not None:
            self.on_error(endpoint, error)


def retry_seconds(flood: RetryAfter) -> float:
    """RetryAfter's wait in seconds (PTB 22 holds a timedelta; older versions an int)."""
    with warnings.catch_warnings():  # PTB 22 warns about int vs timedelta; both are fine here
        warnings.simplefilter("ignore")
        value = flood.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)
