"""Run as a separate process: claim jobs from the store at DATA_DIR until none is left; print their ids.

Used by test_store_leases to show two processes never receive the same job."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from drawme.config import CommonConfig
from drawme.store import SqliteJobStore


async def main(data_dir: str, worker_id: str) -> None:
    store = await SqliteJobStore.open(CommonConfig(data_dir=Path(data_dir)))
    try:
        while (job := await store.claim(worker_id, 60)) is not None:
            print(job.id, flush=True)
    finally:
        await store.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
