"""The whole product as `make run` starts it: supervisor → real engine worker + real bot → fake Telegram.

A user sends a photo and taps a preset; the painting (draft recipe, 64 px, CPU) comes back as a photo.
Everything in the data directory is owner-only (directories 0700, files 0600), also after /forget.
Then SIGTERM stops everything cleanly within 10 s.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import stat
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from drawme import health
from drawme.config import CommonConfig
from drawme.models import JobStatus
from drawme.store import JobStore
from tests.fake_telegram import FakeTelegram

PHOTO = Path(__file__).resolve().parents[1] / "data" / "photos" / "chelsea.jpg"
USER = 4242

pytestmark = pytest.mark.slow


def small_photo() -> bytes:
    with Image.open(PHOTO) as image:
        image = image.convert("RGB")
        image.thumbnail((96, 96))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG")
    return buffer.getvalue()


async def painting_of(common: CommonConfig, job_id: int) -> bytes | None:
    store = await JobStore.open(common)
    try:
        return await store.get_result(job_id)
    finally:
        await store.close()


async def jobs_of_user(common: CommonConfig) -> list:
    if not common.db_path.exists():
        return []
    store = await JobStore.open(common)
    try:
        return await store.jobs_of(USER, active_only=False)
    finally:
        await store.close()


async def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def loose_modes(root: Path) -> list[str]:
    """Paths under `root` (and itself) that group or others may read: none, for private data."""
    paths = [root, *root.rglob("*")]
    return [f"{path} {stat.filemode(path.lstat().st_mode)}" for path in paths
            if not path.is_symlink() and path.lstat().st_mode & 0o077]


def modes(root: Path) -> set[int]:
    return {stat.S_IMODE(path.lstat().st_mode) for path in [root, *root.rglob("*")] if not path.is_symlink()}


async def test_make_run_paints_a_photo_end_to_end_and_stops_on_sigterm(tmp_path: Path) -> None:
    telegram = FakeTelegram()
    await telegram.start()
    common = CommonConfig(data_dir=tmp_path / "data")
    # A data directory from before: world-readable; the start tightens it.
    (common.data_dir / "images").mkdir(parents=True, mode=0o755)
    common.data_dir.chmod(0o755)
    (common.data_dir / "images" / "old.jpg").write_bytes(b"an old photo")
    (common.data_dir / "images" / "old.jpg").chmod(0o644)
    env = {
        **os.environ,
        "BOT_TOKEN": telegram.token,
        "TELEGRAM_API_URL": telegram.api_url,
        "DATA_DIR": str(common.data_dir),
        "PAINT_SIZES": "48,64,96",  # "medium", the default: 64 px
        "PAINT_RECIPE": "draft",
        "ENGINE_DEVICE": "cpu",
        "ENGINE_GPU": "0",
        "BOT_POLL_SECONDS": "0.2",
        "EDIT_INTERVAL": "0.3",
        "POLL_SECONDS": "0.2",
        "LOG_LEVEL": "INFO",
        # This checkout's code, whatever the venv's editable install points at.
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    # The working directory is tmp so no developer .env leaks in.
    supervisor = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "drawme.supervisor",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    log = bytearray()

    async def collect_log() -> None:
        while chunk := await supervisor.stderr.read(65536):
            log.extend(chunk)

    collector = asyncio.create_task(collect_log())
    try:
        await telegram.wait_for(lambda: telegram.calls("getUpdates"), timeout=60, what="the bot to poll")
        telegram.send_photo(USER, small_photo())

        def preset_button() -> str | None:
            for chat, message_id in sorted(telegram.messages, reverse=True):
                for _, data in telegram.buttons(chat, message_id) if chat == USER else ():
                    if data.startswith("p:starry_night:"):
                        return f"{message_id}|{data}"
            return None

        message_id, data = (await telegram.wait_for(preset_button, timeout=30, what="presets")).split("|")
        telegram.press(USER, int(message_id), data)

        async def delivered():
            jobs = await jobs_of_user(common)
            return jobs if jobs and jobs[0].status == JobStatus.DELIVERED else None

        (job,) = await wait_until(delivered, timeout=180, what="the painting to be delivered")
        assert job.result_key and await painting_of(common, job.id)
        photos = telegram.calls("sendPhoto", chat_id=USER)
        assert photos and max(call.files.get("photo", 0) for call in photos) > 0  # pixels went out
        pids = [state["pid"] for name in ("engine", "bot") for state in health.beats(common, name).values()]
        assert len(pids) == 2, "one heartbeat per process"
        assert all(Path(f"/proc/{pid}").exists() for pid in pids)
        assert loose_modes(common.data_dir) == [] and modes(common.data_dir) == {0o700, 0o600}

        def message_with(text: str) -> int | None:
            for (chat, message_id), content in sorted(telegram.messages.items(), reverse=True):
                if chat == USER and text in (content.get("text") or ""):
                    return message_id
            return None

        telegram.send_text(USER, "/forget")
        question = await telegram.wait_for(lambda: message_with("be undone"), what="/forget's question")
        telegram.press(USER, question, "f:yes")
        await telegram.wait_for(lambda: message_with("Everything about you is deleted"), what="/forget")
        assert not await jobs_of_user(common)
        assert loose_modes(common.data_dir) == []

        started = time.monotonic()
        supervisor.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(supervisor.wait(), 10) == 0
        assert time.monotonic() - started < 10
        for pid in pids:
            assert not Path(f"/proc/{pid}").exists(), f"a child ({pid}) outlived the supervisor"
    finally:
        if supervisor.returncode is None:
            supervisor.kill()
            await supervisor.wait()
        await collector
        await telegram.stop()
    text = log.decode(errors="replace")
    if os.environ.get("E_DEBUG"):
        print(text)
    assert "restarting" not in text, text[-3000:]  # neither child crashed on the way
    assert "made 3 paths under" in text  # data dir, images/ and old.jpg were tightened, and it says so
    assert telegram.token not in text
