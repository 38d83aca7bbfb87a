"""LISTEN/NOTIFY: with PostgreSQL the bot hears a worker's progress and result at once, even from
another machine (another store connection), long before its fallback poll would read them."""

from __future__ import annotations

import time
from pathlib import Path

from drawme.config import CommonConfig
from drawme.models import JobStatus
from drawme.store import open_store
from tests.bot.conftest import TEST_ENV, HandWorker, RunningBot, bot_config
from tests.bot.test_bot_conversation import eventually
from tests.bot.test_bot_delivery import order_painting, results
from tests.fake_telegram import FakeTelegram

POLL_SECONDS = 30.0  # the fallback poll; everything below must happen well before it
PROMPTLY = 10.0


async def test_progress_and_painting_from_another_machine_arrive_before_the_poll(
    telegram: FakeTelegram, postgres_url: str, tmp_path: Path, user_id: int
) -> None:
    bot_store = await open_store(
        CommonConfig.from_env({"DATA_DIR": str(tmp_path / "bot"), "DATABASE_URL": postgres_url, **TEST_ENV})
    )
    worker_store = await open_store(CommonConfig(data_dir=tmp_path / "worker", database_url=postgres_url))
    config = bot_config(
        telegram, tmp_path / "bot", DATABASE_URL=postgres_url, BOT_POLL_SECONDS=str(POLL_SECONDS)
    )
    bot = await RunningBot(config, bot_store).start()
    try:
        job = await order_painting(bot, telegram, user_id)
        worker = HandWorker(worker_store, tmp_path / "worker")
        claimed = await worker.claim()
        assert claimed.id == job.id

        started = time.monotonic()
        await worker.progress(claimed, step=15, preview_color="red")
        await telegram.wait_for(
            lambda: telegram.calls("sendPhoto", chat_id=user_id), timeout=PROMPTLY, what="the preview"
        )
        await worker.finish(claimed)
        await telegram.wait_for(lambda: results(telegram, user_id), timeout=PROMPTLY, what="the painting")
        assert time.monotonic() - started < POLL_SECONDS  # no poll tick came in between
        assert len(results(telegram, user_id)) == 1

        async def delivered():
            return (await bot_store.get(job.id)).status is JobStatus.DELIVERED

        assert await eventually(delivered, timeout=PROMPTLY)
    finally:
        await bot.stop()
        await worker_store.close()
        await bot_store.close()
