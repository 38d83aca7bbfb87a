"""SQLite and PostgreSQL job stores side by side: `python bench/store_backends.py`.

Both backends run the same three measurements in one run, through the public `BotBackend`/`WorkerBackend` API:

  1. claim latency (p50/p99) with 10 000 jobs queued by 500 users and 8 workers claiming at once;
  2. submit -> start (p50/p99): idle workers waiting with `wait_for_change` (PostgreSQL: NOTIFY;
     SQLite: its polling fallback, POLL_SECONDS) and a job submitted every ~20 ms;
  3. jobs per second the store sustains with 50 simulated workers whose painter sleeps: claim,
     one progress report with a preview, sleep, complete with a painting's bytes.

PostgreSQL: TEST_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/test); the bench creates
and drops its own database. Each worker is its own store (its own connection or pool), as separate
processes would have. Prints Markdown tables for docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

# The checkout's packages first, so the script runs without an install too.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg
from psycopg.conninfo import make_conninfo

from drawme.config import CommonConfig, Limits
from drawme.models import JobProgress, JobRequest, PaintParams, StoreUnavailable
from drawme.store import JobStore, open_store

PNG = b"\x89PNG\r\n\x1a\n" + bytes(200_000)  # a painting-sized blob
JPEG = b"\xff\xd8\xff" + bytes(30_000)  # a preview-sized blob
PARAMS = json.dumps(PaintParams(size=256).to_json())


MEASUREMENTS = ("claim", "wakeup", "throughput")


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def ms(samples: list[float]) -> str:
    return f"p50 {percentile(samples, 0.5) * 1e3:.2f} ms, p99 {percentile(samples, 0.99) * 1e3:.2f} ms"


class Backend:
    """Where one backend's stores live; `fresh()` gives an empty store's settings."""

    def __init__(self, name: str, root: Path, admin_url: str | None) -> None:
        self.name = name
        self.root = root
        self.admin_url = admin_url
        self.count = 0
        self.databases: list[str] = []

    def fresh(self, pool: int = 2) -> CommonConfig:
        self.count += 1
        limits = Limits(max_queued_per_user=100_000, max_queue=100_000, daily_quota=100_000)
        data_dir = self.root / f"{self.name}-{self.count}"
        url = ""
        if self.admin_url:
            database = f"drawme_bench_{os.getpid()}_{self.count}"
            with psycopg.connect(self.admin_url, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{database}"')
            self.databases.append(database)
            url = make_conninfo(self.admin_url, dbname=database)
        return CommonConfig(data_dir=data_dir, limits=limits, database_url=url, db_pool_size=pool)

    def drop(self) -> None:
        if self.admin_url:
            with psycopg.connect(self.admin_url, autocommit=True) as conn:
                for database in self.databases:
                    conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


async def fill(store: JobStore, jobs: int, users: int) -> None:
    """Queue `jobs` jobs of `users` users quickly (one transaction; the claim is what is measured)."""
    images = {}
    for user in range(users):
        images[user] = (await store.store_image(user, JPEG + user.to_bytes(4, "big"), 64, 64)).id
    async with store.db.transaction() as tx:
        for index in range(jobs):
            user = index % users
            await tx.execute(
                "INSERT INTO jobs (user_id, chat_id, content_image_id, style_preset, params, size,"
                " created_at) VALUES (?, ?, ?, 'udnie', ?, 256, ?)",
                (user, user, images[user], PARAMS, time.time()),
            )


async def stores(common: CommonConfig, count: int) -> list[JobStore]:
    return [await open_store(common) for _ in range(count)]


async def close_all(opened: list[JobStore]) -> None:
    for store in opened:
        await store.close()


async def claim_latency(backend: Backend, queued: int, users: int, workers: int) -> str:
    common = backend.fresh(pool=1)
    first = await open_store(common)
    await fill(first, queued, users)
    claimers = await stores(common, workers)
    samples: list[float] = []

    async def claimer(store: JobStore, name: str) -> None:
        for _ in range(50):  # 8 x 50 = 400 claims: the queue stays above 9 600
            started = time.perf_counter()
            job = await store.claim(name, 60)
            samples.append(time.perf_counter() - started)
            assert job is not None

    try:
        await asyncio.gather(*(claimer(store, f"w{i}") for i, store in enumerate(claimers)))
        claimed = [job.id for job in await first.undelivered() if job.lease_owner]
        assert len(claimed) == len(set(claimed)) == workers * 50  # nobody got a job twice
    finally:
        await close_all([first, *claimers])
    return ms(samples)


async def submit_to_start(backend: Backend, jobs: int, workers: int, poll: float) -> str:
    common = backend.fresh(pool=2)
    submitter = await open_store(common)
    image = (await submitter.store_image(1, JPEG, 64, 64)).id
    idle = await stores(common, workers)
    submitted: dict[int, float] = {}
    started: dict[int, float] = {}
    done = asyncio.Event()

    async def worker(store: JobStore, name: str) -> None:
        while not done.is_set():
            job = await store.claim(name, 60)
            if job is None:
                await store.wait_for_change(poll)
                continue
            started[job.id] = time.perf_counter()
            await store.complete(job.id, name, PNG[:1000])
            if len(started) == jobs:
                done.set()

    tasks = [asyncio.create_task(worker(store, f"w{i}")) for i, store in enumerate(idle)]
    try:
        await asyncio.sleep(1.0)  # every worker is idle and listening
        for user in range(jobs):
            request = JobRequest(user, user, image, PaintParams(size=64), style_preset="udnie")
            job = await submitter.submit(request)
            submitted[job.id] = time.perf_counter()
            await asyncio.sleep(random.uniform(0.01, 0.03))
        await asyncio.wait_for(done.wait(), 60)
    finally:
        done.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await close_all([submitter, *idle])
    return ms([started[job_id] - submitted[job_id] for job_id in submitted])


async def throughput(backend: Backend, jobs: int, workers: int, paint_seconds: float, poll: float) -> str:
    common = backend.fresh(pool=1)
    first = await open_store(common)
    await fill(first, jobs, 200)
    fleet = await stores(common, workers)
    finished = busy = 0

    async def retried(call: Callable[[], Awaitable[object]]) -> object:
        """As the real worker does on `StoreUnavailable`: try again (its lease has slack)."""
        nonlocal busy
        while True:
            try:
                return await call()
            except StoreUnavailable:
                busy += 1

    async def worker(store: JobStore, name: str) -> None:
        nonlocal finished
        while finished < jobs:
            job = await retried(lambda: store.claim(name, 60))
            if job is None:
                await store.wait_for_change(poll)
                continue
            progress = JobProgress(1, 1, 1, 2, work=0.5)
            await retried(lambda: store.report_progress(job.id, name, progress, JPEG))  # noqa: B023
            await asyncio.sleep(paint_seconds)
            await retried(lambda: store.complete(job.id, name, PNG))  # noqa: B023
            finished += 1

    began = time.perf_counter()
    try:
        await asyncio.gather(*(worker(store, f"w{i}") for i, store in enumerate(fleet)))
    finally:
        await close_all([first, *fleet])
    took = time.perf_counter() - began
    ideal = workers / paint_seconds
    retries = f", {busy} calls refused as `StoreUnavailable` (busy > 10 s) and retried" if busy else ""
    return f"{jobs / took:,.0f} jobs/s (the painters alone would allow {ideal:,.0f}){retries}"


async def measure(
    name: str, backends: list[Backend], run: Callable[[Backend], Awaitable[str]], table: list[list[str]]
) -> None:
    row = [name]
    for backend in backends:
        row.append(await run(backend))
        print(f"  {backend.name}: {name}: {row[-1]}", file=sys.stderr, flush=True)
    table.append(row)


async def bench(args: argparse.Namespace, root: Path) -> list[list[str]]:
    admin_url = os.environ.get("TEST_DATABASE_URL", "").strip() or "postgresql://postgres@127.0.0.1:5432/test"
    backends = [Backend("SQLite", root, None), Backend("PostgreSQL", root, admin_url)]
    claiming = f"claim latency, {args.queued:,} queued ({args.users} users), {args.claimers} workers claiming"
    painting = f"throughput, {args.fleet} workers painting {args.paint * 1e3:.0f} ms each, {args.jobs:,} jobs"
    table: list[list[str]] = []
    try:
        for _ in range(args.claim_runs if "claim" in args.measure else 0):
            await measure(
                claiming,
                backends,
                lambda b: claim_latency(b, args.queued, args.users, args.claimers),
                table,
            )
        if "wakeup" in args.measure:
            await measure(
                f"submit → start, {args.idle} idle workers, {args.submits} submits",
                backends,
                lambda b: submit_to_start(b, args.submits, args.idle, args.poll),
                table,
            )
        if "throughput" in args.measure:
            await measure(
                painting,
                backends,
                lambda b: throughput(b, args.jobs, args.fleet, args.paint, args.poll),
                table,
            )
    finally:
        for backend in backends:
            backend.drop()
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queued", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--claimers", type=int, default=8)
    parser.add_argument("--idle", type=int, default=4)
    parser.add_argument("--submits", type=int, default=200)
    parser.add_argument("--fleet", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=2_000)
    parser.add_argument("--paint", type=float, default=0.2, help="seconds each simulated painting sleeps")
    parser.add_argument("--poll", type=float, default=0.5, help="POLL_SECONDS of the waiting workers")
    parser.add_argument(
        "--measure", nargs="+", choices=MEASUREMENTS, default=list(MEASUREMENTS), help="which measurements"
    )
    parser.add_argument("--claim-runs", type=int, default=1, help="repeat the claim latency measurement")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        table = asyncio.run(bench(args, Path(root)))
    print("| Job store | SQLite | PostgreSQL |\n|---|---|---|")
    for row in table:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
