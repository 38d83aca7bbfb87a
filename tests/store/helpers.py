"""Helpers for the job store tests: a settable clock, tiny pictures, one-line submits."""

from __future__ import annotations

import io
from dataclasses import replace

from PIL import Image

from drawme.config import CommonConfig
from drawme.models import JobRequest, PaintParams
from drawme.store import JobStore

START = 1_800_000_000.0 + 12 * 3600  # noon UTC, so a day boundary is 12 h away


class Clock:
    """A settable clock: `clock()` is the time, `clock.advance(seconds)` moves it."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def jpeg_bytes(color: tuple[int, int, int] = (200, 100, 50), size: int = 64) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), color).save(buffer, "JPEG")
    return buffer.getvalue()


async def open_store(common: CommonConfig, clock: Clock, **limits) -> JobStore:
    return await JobStore.open(replace(common, limits=replace(common.limits, **limits)), clock=clock)


async def submit(store: JobStore, user_id: int, *, priority: int = 0, size: int = 64, color=None):
    """Submit one job of `user_id` with a fresh photo and a preset style."""
    image = await store.store_image(user_id, jpeg_bytes(color or (user_id % 256, 80, 160)), 64, 64)
    request = JobRequest(
        user_id=user_id,
        chat_id=user_id,
        content_image_id=image.id,
        params=PaintParams(size=size),
        style_preset="udnie",
        priority=priority,
    )
    return await store.submit(request)
