"""From painting done to painting sent: SQLite and PostgreSQL side by side, `python bench/bot_delivery.py`.

The real bot runs in-process against the fake Bot API (tests.fake_telegram), with its own store
connection. A second store connection acts as the worker (as a worker process would): for each of N
users it claims the job the bot queued and completes it with a small PNG. Measured: from `complete()`
returning to the fake Bot API receiving the sendPhoto of that painting. The bot polls the store every
BOT_POLL_SECONDS as a fallback and also wakes on the store's change signal: PostgreSQL's
LISTEN/NOTIFY reaches it from any connection; SQLite's signal only from its own, so there it waits
for the poll (about half the interval on average). Backends alternate round by round.

    nice .venv/bin/python bench/bot_delivery.py --rounds 3 --jobs 20

PostgreSQL: TEST_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/test); the bench creates
and drops its own databases. Prints a Markdown table for docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.store_backends import Backend, percentile
from drawme.config import BotConfig
from drawme.store import open_store
from tests.bot.conftest import TEST_ENV, HandWorker, RunningBot
from tests.bot.test_bot_conversation import send_photo_and_get_keyboard
from tests.bot.test_bot_delivery import results
from tests.fake_telegram import FakeTelegram
from tests.postgres import url_with_schema

_users = itertools.count(50_000)


async def one_round(backend: Backend, jobs: int, poll: float) -> list[float]:
    """Seconds from complete() returning to the painting's sendPhoto, one per job."""
    telegram = FakeTelegram()
    await telegram.start()
    common = backend.fresh()
    env = {
        **TEST_ENV,
        "LOG_LEVEL": "WARNING",
        "BOT_TOKEN": telegram.token,
        "TELEGRAM_API_URL": telegram.api_url,
        "DATA_DIR": str(common.data_dir),
        "DATABASE_URL": url_with_schema(common.database_url, "public") if common.database_url else "",
        "BOT_POLL_SECONDS": str(poll),
    }
    config = BotConfig.from_env(env)
    bot_store = await open_store(config.common)
    worker_store = await open_store(config.common)  # the worker's own connection
    bot = await RunningBot(config, bot_store).start()
    worker = HandWorker(worker_store, common.data_dir)
    latencies = []
    try:
        for _ in range(jobs):
            user = next(_users)
            message_id, buttons = await send_photo_and_get_keyboard(telegram, user)
            telegram.press(user, message_id, buttons[0][1])
            job = await worker.claim()
            await worker.finish(job)
            done = time.monotonic()
            sent = await telegram.wait_for(lambda u=user: results(telegram, u), timeout=30, what="painting")
            latencies.append(sent[0].at - done)
    finally:
        await bot.stop()
        await worker_store.close()
        await bot_store.close()
        await telegram.stop()
    return latencies


def row(name: str, samples: list[float]) -> str:
    p50, p99 = percentile(samples, 0.5) * 1e3, percentile(samples, 0.99) * 1e3
    return f"| {name} | {len(samples)} | {p50:.0f} ms | {p99:.0f} ms | {max(samples) * 1e3:.0f} ms |"


async def bench(args: argparse.Namespace, root: Path) -> list[str]:
    admin_url = os.environ.get("TEST_DATABASE_URL", "").strip() or "postgresql://postgres@127.0.0.1:5432/test"
    backends = [Backend("SQLite", root, None), Backend("PostgreSQL", root, admin_url)]
    samples: dict[str, list[float]] = {b.name: [] for b in backends}
    try:
        for _ in range(args.rounds):
            for backend in backends:
                samples[backend.name] += await one_round(backend, args.jobs, args.poll)
    finally:
        for backend in backends:
            backend.drop()
    return [row(name, values) for name, values in samples.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=20, help="paintings per round and backend")
    parser.add_argument("--poll", type=float, default=BotConfig.poll_seconds, help="BOT_POLL_SECONDS")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        rows = asyncio.run(bench(args, Path(root)))
    print(f"painting done → painting sent (BOT_POLL_SECONDS={args.poll})\n")
    print("| store | paintings | p50 | p99 | max |\n|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
