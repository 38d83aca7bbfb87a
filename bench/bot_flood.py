"""Other users' reply latency while one user floods the bot, against the fake Bot API's 429 rules.

One user sends a burst of photos; meanwhile other users each send a photo and time how long until the
bot's answer reaches their chat. The fake server applies Telegram's per-chat flood rule (a burst of
messages to one chat, then 429 with retry_after). Two bots run side by side in one invocation,
alternating rounds:

- `fair`: the bot as shipped (concurrent updates in per-chat order, per-chat throttle, a 429 pauses
  only its chat);
- `serial`: the same handlers the way python-telegram-bot runs them by default (one update at a
  time, AIORateLimiter pausing every chat on a 429, no throttle) — how the bot ran before issue 9.

    .venv/bin/python bench/bot_flood.py --rounds 3 --burst 30 --others 5
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from telegram.ext import AIORateLimiter, Application

from bot.app import _provide, add_handlers, build_application
from drawme.config import BotConfig
from drawme.store import open_store
from tests.bot.conftest import TEST_ENV, photo_bytes
from tests.fake_telegram import FakeTelegram


def serial_application(config: BotConfig, backend) -> Application:
    """The pre-issue-9 way of running the same handlers."""
    builder = Application.builder().token(config.token).rate_limiter(AIORateLimiter(max_retries=2))
    application = builder.base_url(config.base_url).base_file_url(config.base_file_url).build()
    application.bot_data["config"] = config
    application.bot_data["own_backend"] = False
    _provide(application, backend)
    add_handlers(application, config)
    return application


async def one_round(kind: str, burst: int, others: int, first_user: int) -> tuple[list[float], float]:
    """(other users' latencies in s, time until the flooder's last answer) for one round."""
    telegram = FakeTelegram()
    await telegram.start()
    telegram.limit_per_chat(burst=3, window=3.0)  # Telegram-like: a few at once, then 429 for seconds
    with tempfile.TemporaryDirectory() as data_dir:
        env = {
            **TEST_ENV,
            "LOG_LEVEL": "WARNING",
            "BOT_TOKEN": telegram.token,
            "TELEGRAM_API_URL": telegram.api_url,
            "DATA_DIR": data_dir,
            "MAX_QUEUED_PER_USER": "1000",
            "DAILY_QUOTA": "1000",
        }
        config = BotConfig.from_env(env)
        store = await open_store(config.common)
        app = build_application(config, store) if kind == "fair" else serial_application(config, store)
        await app.initialize()
        if kind == "fair":
            await app.post_init(app)  # the inbox and the delivery poll, as run_polling does
        await app.updater.start_polling(poll_interval=0.0, timeout=1)
        await app.start()
        try:
            flooder = first_user
            picture = photo_bytes()
            start = time.monotonic()
            for _ in range(burst):
                telegram.send_photo(flooder, picture)
            await asyncio.sleep(0.05)
            sent_at = {}
            for n in range(others):
                user = first_user + 1 + n
                telegram.send_photo(user, photo_bytes("coffee"))
                sent_at[user] = time.monotonic()
                await asyncio.sleep(0.1)
            latencies = []
            for user, at in sent_at.items():
                await telegram.wait_for(lambda u=user: telegram.calls("sendMessage", chat_id=u), timeout=120)
                answered = telegram.calls("sendMessage", chat_id=user)[0].at
                latencies.append(answered - at)
            await asyncio.sleep(1.0)
            flood_answers = telegram.calls("sendMessage", chat_id=flooder)
            flood_done = (flood_answers[-1].at - start) if flood_answers else float("nan")
        finally:
            await app.updater.stop()
            await app.stop()
            await app.shutdown()
            await store.close()
            await telegram.stop()
    return latencies, flood_done


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--burst", type=int, default=30)
    parser.add_argument("--others", type=int, default=5)
    args = parser.parse_args()
    results: dict[str, list[float]] = {"fair": [], "serial": []}
    flood: dict[str, list[float]] = {"fair": [], "serial": []}
    user = 10_000
    for _ in range(args.rounds):
        for kind in ("fair", "serial"):  # alternate, so background load hits both alike
            latencies, done = await one_round(kind, args.burst, args.others, user)
            user += args.others + 1
            results[kind] += latencies
            flood[kind].append(done)
    options = f"--rounds {args.rounds} --burst {args.burst} --others {args.others}"
    print(f"`.venv/bin/python bench/bot_flood.py {options}`\n")
    print("| bot | other users' first answer, median | p99 | flooder's last answer after |")
    print("|---|---|---|---|")
    for kind in ("fair", "serial"):
        print(
            f"| {kind} | {statistics.median(results[kind]):.2f} s | {p99(results[kind]):.2f} s |"
            f" {statistics.median(flood[kind]):.1f} s |"
        )
    ratio = p99(results["serial"]) / max(p99(results["fair"]), 1e-6)
    print(f"\np99 ratio serial / fair: {ratio:.1f}×")


if __name__ == "__main__":
    asyncio.run(main())
