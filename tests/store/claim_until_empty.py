"""Run as a separate process: claim jobs from the store (DATA_DIR [DATABASE_URL]) until none is left;
print their ids.

Used by test_store_leases to show two processes never receive the same job."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from drawme.config import CommonConfig
from drawme.store import open_store


async def main(data_dir: str, worker_id: str, database_url: str = "") -> None:
    store = await open_store(CommonConfig(data_dir=Path(data_dir), database_url=database_url))
    try:
        while (job := await store.claim(worker_id, 60)) is not None:
            print(job.id, flush=True)
    finally:
        await store.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
