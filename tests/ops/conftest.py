"""Shared helpers for the operations tests: a tmp data dir with a real job store."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest
from PIL import Image

from drawme.config import CommonConfig, Limits
from drawme.models import JobRequest, PaintParams

# Generous limits: these tests fill the queue on purpose.
ROOMY = Limits(max_queued_per_user=10_000, max_queue=100_000, daily_quota=100_000)


def png(color: tuple[int, int, int] = (200, 120, 40), side: int = 64) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (side, side), color).save(buffer, format="PNG")
    return buffer.getvalue()


async def submit(store, user_id: int, color: tuple[int, int, int] = (200, 120, 40)):
    """Store a photo for `user_id` and queue one small preset job with it."""
    image = await store.store_image(user_id, png(color), 64, 64)
    request = JobRequest(
        user_id=user_id,
        chat_id=user_id,
        content_image_id=image.id,
        params=PaintParams(size=64),
        style_preset="starry_night",
    )
    return await store.submit(request)


@pytest.fixture
def common(tmp_path: Path) -> CommonConfig:
    return CommonConfig(data_dir=tmp_path / "data", limits=ROOMY)


@pytest.fixture
def ops_env(common: CommonConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment for admin/health commands on `common`'s data dir (in this process and children).

    The working directory moves to tmp so a developer's ./.env cannot leak into the tests."""
    monkeypatch.chdir(tmp_path)
    env = {"DATA_DIR": str(common.data_dir), "LOG_LEVEL": "WARNING"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    # Children run this checkout's code, whatever the venv's editable install points at.
    return {**os.environ, **env, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}


def python_m(*args: str) -> list[str]:
    return [sys.executable, "-m", *args]
