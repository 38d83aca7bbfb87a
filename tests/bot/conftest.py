"""The real bot (python-telegram-bot, polling over HTTP) against the fake Telegram server and a real
SQLite job store in a temporary DATA_DIR. Paintings come from a hand-driven worker (`HandWorker`,
using the store's worker API exactly as `python -m engine serve` does) or, in test_painting.py, from
the real engine subprocess."""

from __future__ import annotations

import asyncio
import io
import itertools
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from bot.app import ALLOWED_UPDATES, build_application
from drawme.config import BotConfig, CommonConfig
from drawme.models import Job, JobProgress
from drawme.store import JobStore
from tests.fake_telegram import FakeTelegram
from tests.sides import BotSide

PHOTOS = Path(__file__).resolve().parents[1] / "data" / "photos"
_user_ids = itertools.count(1001)

TEST_ENV = {
    "BOT_POLL_SECONDS": "0.1",
    "EDIT_INTERVAL": "0.3",
    "PAINT_SIZES": "64,80,96",
    "PAINT_RECIPE": "draft",
    "ADMIN_IDS": "999",
    "LOG_LEVEL": "INFO",
}


def photo_bytes(name: str = "chelsea", short_side: int = 64, fmt: str = "JPEG") -> bytes:
    """A test photo shrunk so its short side is `short_side` px, encoded as `fmt`."""
    with Image.open(PHOTOS / f"{name}.jpg") as image:
        image = image.convert("RGB")
        scale = short_side / min(image.size)
        image = image.resize(
            (max(short_side, round(image.width * scale)), max(short_side, round(image.height * scale)))
        )
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.fixture
def user_id() -> int:
    """A fresh Telegram user (and private chat) id per test."""
    return next(_user_ids)


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram()
    await server.start()
    yield server
    await server.stop()


def bot_config(server: FakeTelegram, data_dir: Path, **env: str) -> BotConfig:
    return BotConfig.from_env(
        {
            "BOT_TOKEN": server.token,
            "TELEGRAM_API_URL": server.api_url,
            "DATA_DIR": str(data_dir),
            **TEST_ENV,
            **env,
        }
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def webhook_env() -> dict[str, str]:
    """Settings for a bot in webhook mode on a free local port."""
    port = free_port()
    return {
        "WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram",
        "WEBHOOK_LISTEN": "127.0.0.1",
        "WEBHOOK_PORT": str(port),
    }


class RunningBot:
    """The Application as `run_polling` (or `run_webhook`, when the config has a webhook URL) would
    run it, but started and stopped by the test. The bot sees only the store's bot side (`backend`,
    a `BotSide` of `store` unless given); the test reads and drives the whole `store`."""

    def __init__(self, config: BotConfig, store: JobStore, backend: BotSide | None = None) -> None:
        self.config, self.store = config, store
        self.application = build_application(config, backend or BotSide(store))

    async def start(self) -> RunningBot:
        app, config = self.application, self.config
        await app.initialize()
        await app.post_init(app)
        if config.webhook_url:
            await app.updater.start_webhook(
                listen=config.webhook_listen,
                port=config.webhook_port,
                url_path=config.webhook_path,
                webhook_url=config.webhook_url,
                secret_token=config.webhook_secret_token,
                allowed_updates=ALLOWED_UPDATES,
            )
        else:
            await app.updater.start_polling(poll_interval=0.0, timeout=1, allowed_updates=ALLOWED_UPDATES)
        await app.start()
        return self

    async def stop(self) -> None:
        app = self.application
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
        await app.post_shutdown(app)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[JobStore]:
    """A real job store in the test's own DATA_DIR."""
    store = await JobStore.open(CommonConfig.from_env({"DATA_DIR": str(tmp_path), **TEST_ENV}))
    yield store
    await store.close()


@pytest.fixture
async def bot(telegram: FakeTelegram, store: JobStore, tmp_path: Path) -> AsyncIterator[RunningBot]:
    running = await RunningBot(bot_config(telegram, tmp_path), store).start()
    yield running
    await running.stop()


@dataclass
class HandWorker:
    """Drives jobs through the store's worker API by hand: claim, progress with previews, finish."""

    store: JobStore
    data_dir: Path
    worker_id: str = "hand-worker"

    async def claim(self, timeout: float = 10.0) -> Job:
        """Take the next queued job, waiting for the bot to submit one."""
        await self.store.register_worker(self.worker_id, "cpu")
        for _ in range(int(timeout / 0.05)):
            if job := await self.store.claim(self.worker_id, lease_seconds=60):
                return job
            await asyncio.sleep(0.05)
        raise AssertionError("expected a queued job")

    async def progress(self, job: Job, step: int, total: int = 30, preview_color: str | None = None) -> None:
        preview = None
        if preview_color:
            buffer = io.BytesIO()
            Image.new("RGB", (64, 64), preview_color).save(buffer, "JPEG")
            preview = buffer.getvalue()
        await self.store.report_progress(
            job.id,
            self.worker_id,
            JobProgress(
                scale=1,
                scales=1,
                step=step,
                total=total,
                eta_seconds=(total - step) * 0.5,
                losses={"total": 1.0},
            ),
            preview,
        )

    async def finish(self, job: Job, color: str = "orange") -> bytes:
        """Complete the job with a plain painting; returns its PNG bytes."""
        buffer = io.BytesIO()
        Image.new("RGB", (job.params.size, job.params.size), color).save(buffer, "PNG")
        await self.store.complete(job.id, self.worker_id, buffer.getvalue())
        return buffer.getvalue()


@pytest.fixture
def worker(store: JobStore, tmp_path: Path) -> HandWorker:
    return HandWorker(store, tmp_path)
