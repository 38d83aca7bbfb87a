"""The flood rules as pure logic: the per-chat throttle and the per-chat pause after a 429."""

from __future__ import annotations

import asyncio

import pytest
from telegram import Update
from telegram.error import RetryAfter

from bot.flood import ChatThrottle, PerChatOrder, PerChatRateLimiter, Verdict


def test_a_burst_gets_one_warning_then_silence_then_refills() -> None:
    throttle = ChatThrottle(burst=3, refill_seconds=2.0)
    verdicts = [throttle.admit(1, now=0.0) for _ in range(6)]
    assert verdicts == [Verdict.ALLOW] * 3 + [Verdict.WARN, Verdict.DROP, Verdict.DROP]
    assert throttle.admit(2, now=0.0) is Verdict.ALLOW, "another chat has its own allowance"
    assert throttle.admit(1, now=1.0) is Verdict.DROP  # half a token back: not yet
    assert throttle.admit(1, now=2.5) is Verdict.ALLOW
    assert throttle.admit(1, now=2.6) is Verdict.WARN, "a new burst is warned again"


def test_an_album_counts_as_one_message() -> None:
    throttle = ChatThrottle(burst=2, refill_seconds=10.0)
    assert throttle.admit(1, 0.0) is Verdict.ALLOW
    assert [throttle.admit(1, 0.0, album="a") for _ in range(2)] == [Verdict.ALLOW, Verdict.ALLOW]
    assert throttle.admit(1, 0.0, album="b") is Verdict.WARN
    assert throttle.admit(1, 0.0, album="b") is Verdict.DROP, "the rest of a refused album is dropped"


def test_zero_burst_turns_the_throttle_off() -> None:
    throttle = ChatThrottle(burst=0, refill_seconds=1.0)
    assert all(throttle.admit(1, 0.0) is Verdict.ALLOW for _ in range(100))


async def test_a_429_pauses_only_its_chat() -> None:
    limiter = PerChatRateLimiter(max_retries=1)
    sent: list[int] = []

    async def call(chat_id: int, refuse: list[int]):
        if refuse:
            refuse.pop()
            raise RetryAfter(1)
        sent.append(chat_id)
        return True

    flooded = asyncio.create_task(
        limiter.process_request(call, (5, [1]), {}, "sendMessage", {"chat_id": 5}, None)
    )
    await asyncio.sleep(0.05)
    assert limiter.paused_for(5) > 0.5 and limiter.paused_for(6) == 0
    await limiter.process_request(call, (6, []), {}, "sendMessage", {"chat_id": 6}, None)
    assert sent == [6], "the other chat went first, without waiting"
    await flooded
    assert sent == [6, 5]


async def test_a_429_without_a_chat_pauses_everything() -> None:
    limiter = PerChatRateLimiter(max_retries=0)

    async def refuse(*_):
        raise RetryAfter(2)

    with pytest.raises(RetryAfter):
        await limiter.process_request(refuse, (), {}, "getMe", {}, None)
    assert limiter.paused_for(7) > 1.5


async def test_one_chat_in_order_others_alongside() -> None:
    order = PerChatOrder(8)
    log: list[str] = []

    async def handle(name: str, delay: float) -> None:
        log.append(f"start {name}")
        await asyncio.sleep(delay)
        log.append(f"end {name}")

    updates = []
    for chat_id, name, delay in ((1, "a1", 0.1), (1, "a2", 0.0), (2, "b1", 0.0)):
        update = Update.de_json(
            {
                "update_id": len(updates) + 1,
                "message": {
                    "message_id": 1,
                    "date": 0,
                    "chat": {"id": chat_id, "type": "private"},
                    "text": name,
                },
            },
            None,
        )
        updates.append(asyncio.create_task(order.process_update(update, handle(name, delay))))
    await asyncio.gather(*updates)
    assert log.index("end a1") < log.index("start a2"), "one chat's updates one after another"
    assert log.index("end b1") < log.index("end a1"), "another chat did not wait"
