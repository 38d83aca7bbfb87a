"""Run as a separate process: at the epoch time START, open the store (DATA_DIR [DATABASE_URL]) as a
bot or a worker would on its first start, do one write and one read, close. Exit 0 on success.

Used by test_store_start_race: five of these start at the same instant on a fresh store."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

from drawme.config import CommonConfig
from drawme.store import open_store


async def main(start: str, data_dir: str, database_url: str = "") -> None:
    await asyncio.sleep(max(0.0, float(start) - time.time() - 0.05))
    while time.time() < float(start):  # the last 50 ms spinning: all racers go within microseconds
        pass
    store = await open_store(CommonConfig(data_dir=Path(data_dir), database_url=database_url))
    try:
        await store.register_worker(f"racer-{os.getpid()}", "cpu")
        await store.stats()
    finally:
        await store.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
