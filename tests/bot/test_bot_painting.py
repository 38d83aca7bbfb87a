"""The whole path for real: the bot, the SQLite store and one `python -m engine serve` subprocess on
the CPU, painting 64 px pictures with the quick `draft` recipe. One worker serves the module."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from PIL import Image

from drawme.models import JobStatus
from drawme.store import JobStore
from tests.bot.conftest import RunningBot, bot_config, photo_bytes
from tests.bot.test_bot_conversation import eventually, queued_job, send_photo_and_get_keyboard
from tests.bot.test_bot_delivery import delivered, results
from tests.fake_telegram import FakeTelegram

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow
PAINTING_TIMEOUT = 180.0  # torch import + VGG load + a 30-step 64 px painting, on a busy 2-core box


@pytest.fixture(scope="module")
def engine_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("engine-data")


@pytest.fixture(scope="module")
def engine(engine_dir: Path) -> Iterator[subprocess.Popen]:
    """The real worker, shared by this module's tests; its log lands next to the data."""
    env = {
        **os.environ,
        "DATA_DIR": str(engine_dir),
        "ENGINE_DEVICE": "cpu",
        "LEASE_SECONDS": "30",
        "POLL_SECONDS": "0.2",
        "WORKER_ID": "bot-test-worker",
        "PYTHONPATH": str(ROOT),
    }
    with (engine_dir / "engine.log").open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "engine", "serve"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    yield process
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
async def painting_bot(telegram: FakeTelegram, engine_dir: Path, engine) -> AsyncIterator[RunningBot]:
    config = bot_config(telegram, engine_dir, PAINT_SIZES="64,64,64")
    store = await JobStore.open(config.common)
    running = await RunningBot(config, store).start()
    yield running
    await running.stop()
    await store.close()


async def wait_delivered(bot: RunningBot, job_id: int, engine: subprocess.Popen, engine_dir: Path):
    """The job once delivered; fails early (with the engine's log) if the worker died."""

    async def check():
        if engine.poll() is not None:
            raise AssertionError("the engine worker exited")
        return await delivered(bot.store, job_id)

    try:
        return await eventually(check, timeout=PAINTING_TIMEOUT)
    except AssertionError as error:
        job = await bot.store.get(job_id)
        log = (engine_dir / "engine.log").read_text()[-3000:]
        raise AssertionError(
            f"job {job_id} not delivered ({error}): {job.status} {job.error}\n{log}"
        ) from None


async def test_photo_and_preset_painted_by_the_engine(
    painting_bot: RunningBot,
    telegram: FakeTelegram,
    engine: subprocess.Popen,
    engine_dir: Path,
    user_id: int,
) -> None:
    message_id, buttons = await send_photo_and_get_keyboard(telegram, user_id)
    telegram.press(user_id, message_id, buttons[0][1])  # Starry Night
    job = await queued_job(painting_bot, user_id)
    done = await wait_delivered(painting_bot, job.id, engine, engine_dir)

    result = await painting_bot.store.get_result(done.id)
    with Image.open(io.BytesIO(result)) as painting:
        assert max(painting.size) == 64 and painting.mode == "RGB"
    (sent,) = results(telegram, user_id)
    assert sent.files["photo"] == len(result)
    assert "Starry Night · Van Gogh" in sent.text and "64 px" in sent.text
    assert not telegram.calls(chat_id=user_id, ok=False)


async def test_album_photo_and_style_painted_by_the_engine(
    painting_bot: RunningBot,
    telegram: FakeTelegram,
    engine: subprocess.Popen,
    engine_dir: Path,
    user_id: int,
) -> None:
    telegram.send_album(user_id, [photo_bytes("astronaut"), photo_bytes("coffee")])
    job = await queued_job(painting_bot, user_id)
    assert job.style_image_id is not None
    done = await wait_delivered(painting_bot, job.id, engine, engine_dir)
    assert done.status is JobStatus.DELIVERED
    (sent,) = results(telegram, user_id)
    assert "your style picture" in sent.text
