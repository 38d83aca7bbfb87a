"""Job store throughput and latency on a real SQLite file: `python bench/store_queue.py [--jobs 10000]`.

(Both engines side by side, with concurrent workers and NOTIFY: bench/store_backends.py.)

Measures, in one process on a tmp DATA_DIR:
  - enqueue: submits per second (each one a BEGIN IMMEDIATE transaction with the limit checks);
  - claim latency with N jobs queued by many users (p50/p99 ms): the fairness query under load;
  - claim throughput while draining the queue;
  - the bot's poll, `undelivered()`, with N finished jobs in the history and 200 active ones;
  - `position()` of the last job of a full (200-job) queue.
Prints a Markdown table for docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

# The checkout's packages first, so the script runs without an install too.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PIL import Image

from drawme.config import CommonConfig, Limits
from drawme.models import JobRequest, PaintParams
from drawme.store import JobStore


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def tiny_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 20, 30)).save(buffer, "JPEG")
    return buffer.getvalue()


async def fill(store: JobStore, jobs: int, users: int) -> list[float]:
    """Submit `jobs` jobs spread over `users` users; return each submit's seconds."""
    images = {user: (await store.store_image(user, tiny_jpeg(), 64, 64)).id for user in range(users)}
    timings = []
    for index in range(jobs):
        user = index % users
        request = JobRequest(user, user, images[user], PaintParams(size=256), style_preset="udnie")
        started = time.perf_counter()
        await store.submit(request)
        timings.append(time.perf_counter() - started)
    return timings


async def bench(jobs: int, users: int, root: Path) -> list[tuple[str, str]]:
    limits = Limits(max_queued_per_user=jobs, max_queue=jobs + 1, daily_quota=jobs)
    common = CommonConfig(data_dir=root / "data", limits=limits)
    store = await JobStore.open(common)
    rows: list[tuple[str, str]] = []
    try:
        submits = await fill(store, jobs, users)
        rows.append(
            (
                f"enqueue ({jobs} submits)",
                f"{len(submits) / sum(submits):,.0f} jobs/s, "
                f"p50 {percentile(submits, 0.5) * 1e3:.2f} ms, p99 {percentile(submits, 0.99) * 1e3:.2f} ms",
            )
        )

        claims = []
        for _ in range(jobs):
            started = time.perf_counter()
            job = await store.claim("bench", 30)
            claims.append(time.perf_counter() - started)
            assert job is not None
        first = claims[: min(200, jobs)]  # the claims made while the queue was (nearly) full
        rows.append(
            (
                f"claim latency, {jobs} queued",
                f"p50 {percentile(first, 0.5) * 1e3:.2f} ms, p99 {percentile(first, 0.99) * 1e3:.2f} ms",
            )
        )
        rows.append(
            (
                f"claim throughput (drain {jobs})",
                f"{len(claims) / sum(claims):,.0f} claims/s, p99 {percentile(claims, 0.99) * 1e3:.2f} ms",
            )
        )
        await store.purge(older_than_seconds=-1)  # everything is "old": empty the store again
    finally:
        await store.close()

    # The bot's poll: a long history of finished jobs must not slow it down.
    common = CommonConfig(data_dir=root / "data2", limits=limits)
    store = await JobStore.open(common)
    try:
        await fill(store, jobs, users)
        while (job := await store.claim("bench", 30)) is not None:
            await store.complete(job.id, "bench", b"png")
            await store.mark_delivered(job.id, 1)
        await fill(store, 200, min(users, 200))
        polls = []
        for _ in range(200):
            started = time.perf_counter()
            pending = await store.undelivered()
            polls.append(time.perf_counter() - started)
        assert len(pending) == 200
        rows.append(
            (
                f"undelivered(), {jobs} finished + 200 active",
                f"p50 {percentile(polls, 0.5) * 1e3:.2f} ms, p99 {percentile(polls, 0.99) * 1e3:.2f} ms",
            )
        )
        last = pending[-1].id
        positions = []
        for _ in range(50):
            started = time.perf_counter()
            await store.position(last)
            positions.append(time.perf_counter() - started)
        rows.append(("position(), last of 200 queued", f"median {statistics.median(positions) * 1e3:.2f} ms"))
    finally:
        await store.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        rows = asyncio.run(bench(args.jobs, args.users, Path(root)))
    print(f"| Job store ({args.jobs} jobs, {args.users} users) | Result |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
