"""Helpers for the worker tests: tiny pictures, one-line submits, waiting on the store."""

from __future__ import annotations

import asyncio
import io
import time

from PIL import Image

from drawme.models import Job, JobRequest, PaintParams
from drawme.store import JobStore


def picture_bytes(size: tuple[int, int] = (96, 72), color=(180, 90, 40)) -> bytes:
    """A small JPEG with a gradient, so painting it is not trivial."""
    image = Image.new("RGB", size, color)
    for x in range(size[0]):
        image.putpixel((x, x * size[1] // size[0]), (0, 0, 255))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG")
    return buffer.getvalue()


async def submit(
    store: JobStore,
    user_id: int = 1,
    *,
    params: PaintParams | None = None,
    style_preset: str | None = "udnie",
    style_bytes: bytes | None = None,
) -> Job:
    """Submit a job with a small photo and either a preset or an uploaded style picture."""
    photo = await store.store_image(user_id, picture_bytes(), 96, 72)
    style_image_id = None
    if style_bytes is not None:
        style_image_id = (await store.store_image(user_id, style_bytes, 96, 72)).id
        style_preset = None
    request = JobRequest(
        user_id=user_id,
        chat_id=user_id,
        content_image_id=photo.id,
        params=params or PaintParams(size=64),
        style_preset=style_preset,
        style_image_id=style_image_id,
    )
    return await store.submit(request)


async def wait_for(store: JobStore, job_id: int, predicate, timeout: float = 30.0) -> Job:
    """Poll the store until `predicate(job)` holds; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        job = await store.get(job_id)
        if predicate(job):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} never got there; it is {job}")
        await asyncio.sleep(0.05)
