"""Prometheus metrics (issue 27): the bot serves /metrics on its own port, in Prometheus' text format,
read back with prometheus_client's own parser; off when no port is set. (An engine worker's:
tests/worker/test_worker_metrics.py.)"""

from __future__ import annotations

import asyncio
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from drawme.store import JobStore
from tests.bot.conftest import HandWorker, RunningBot, bot_config, free_port
from tests.bot.test_bot_conversation import eventually
from tests.bot.test_bot_delivery import delivered, order_painting
from tests.fake_telegram import FakeTelegram

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(port: int) -> Samples:
    """GET /metrics and parse it as Prometheus does: (sample name, labels) -> value."""

    def get() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
            assert answer.headers["Content-Type"].startswith("text/plain")
            return answer.read().decode()

    text = await asyncio.to_thread(get)
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_the_bot_serves_its_metrics(
    telegram: FakeTelegram, store: JobStore, tmp_path: Path
) -> None:
    port = free_port()
    bot = await RunningBot(bot_config(telegram, tmp_path, BOT_METRICS_PORT=str(port)), store).start()
    happy, blocker = 3101, 3102
    try:
        worker = HandWorker(store, tmp_path)
        await order_painting(bot, telegram, happy)
        job = await worker.claim()
        await worker.finish(job)
        assert await eventually(lambda: delivered(store, job.id))
        await order_painting(bot, telegram, blocker)
        theirs = await worker.claim()
        telegram.block(blocker)
        await worker.progress(theirs, step=3)  # the edit meets 403
        await telegram.wait_for(lambda: telegram.calls(chat_id=blocker, ok=False), what="the 403")
        samples = await scrape(port)
    finally:
        await bot.stop()
    assert samples[("drawme_telegram_errors_total", (("code", "403"), ("method", "editMessageText")))] == 1
    assert samples[("drawme_delivery_lag_seconds_count", ())] == 1
    assert ("drawme_queue_jobs", (("status", "queued"),)) in samples
    assert ("drawme_queue_oldest_age_seconds", ()) in samples
    assert ("drawme_workers", (("state", "live"),)) in samples
    assert samples[("process_resident_memory_bytes", ())] > 0


async def test_metrics_are_off_without_a_port(
    telegram: FakeTelegram, store: JobStore, tmp_path: Path
) -> None:
    bot = await RunningBot(bot_config(telegram, tmp_path), store).start()
    try:
        assert bot.application.bot_data.services.metrics is None
    finally:
        await bot.stop()
