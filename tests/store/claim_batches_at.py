"""Run as a separate process: at the epoch time START, claim batches of at most LIMIT jobs from the
store (DATA_DIR [DATABASE_URL]) until none is left; print each batch as one line of `job:user` pairs.

Used by test_store_batch: two of these start at the same instant and must never share a job."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from drawme.config import CommonConfig
from drawme.store import open_store


async def main(start: str, limit: str, worker_id: str, data_dir: str, database_url: str = "") -> None:
    store = await open_store(CommonConfig(data_dir=Path(data_dir), database_url=database_url))
    try:
        await asyncio.sleep(max(0.0, float(start) - time.time() - 0.05))
        while time.time() < float(start):  # the last 50 ms spinning: both racers go within microseconds
            pass
        while batch := await store.claim_batch(worker_id, 60, int(limit)):
            print(" ".join(f"{job.id}:{job.user_id}" for job in batch), flush=True)
    finally:
        await store.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))
