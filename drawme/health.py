"""Heartbeat files: each process's main loop refreshes one, so a blocked loop shows up as stale.

`python -m engine health` and `python -m bot health` read them (via `check`) and exit non-zero when
the beat is missing or older than the allowed age.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

from drawme.config import CommonConfig, ConfigError, load_env

DEFAULT_MAX_AGE = 60.0


def heartbeat_path(common: CommonConfig, process: str) -> Path:
    return common.health_dir / f"{process}.json"


def beat(common: CommonConfig, process: str, **info: Any) -> None:
    """Record that `process` is alive now, with a little context (device, current job...)."""
    path = heartbeat_path(common, process)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_suffix(f".{os.getpid()}.tmp")
    temp.write_text(json.dumps({"ts": time.time(), "pid": os.getpid(), **info}))
    os.replace(temp, path)  # atomic: a reader never sees half a file


def read(common: CommonConfig, process: str) -> dict[str, Any] | None:
    try:
        return json.loads(heartbeat_path(common, process).read_text())
    except (OSError, ValueError):
        return None


def check(common: CommonConfig, process: str, max_age: float = DEFAULT_MAX_AGE) -> tuple[bool, str]:
    """(healthy, one-line explanation) for `process`'s heartbeat."""
    state = read(common, process)
    if state is None:
        return False, f"{process}: no heartbeat yet in {heartbeat_path(common, process)}"
    age = time.time() - float(state.get("ts", 0))
    if age > max_age:
        return False, f"{process}: heartbeat is stale ({age:.0f} s old, limit {max_age:.0f} s)"
    return True, f"{process}: alive ({age:.1f} s ago)"


def describe_queue(common: CommonConfig, timeout: float = 5.0) -> str:
    """One phrase about the job queue: its length and the age of the oldest queued job."""
    if not common.uses_postgres and not common.db_path.is_file():  # a probe never creates the database
        return f"queue: no job store yet at {common.db_path}"
    try:  # imported late: the store is optional for a heartbeat check, and heavier than this module
        from drawme.store import open_store
    except ModuleNotFoundError:
        return "queue: job store not available in this installation"

    async def read_stats() -> Any:
        store = await open_store(common)
        try:
            return await store.stats()
        finally:
            await store.close()

    try:
        stats = asyncio.run(asyncio.wait_for(read_stats(), timeout))
    except Exception as error:  # the probe reports, it never crashes on a busy or broken store
        return f"queue: unreadable ({type(error).__name__}: {error})"
    oldest = "none waiting" if stats.oldest_queued_age is None else f"oldest {stats.oldest_queued_age:.0f} s"
    return f"queue: {stats.queued} queued ({oldest}), {stats.running} running"


def cli(process: str, argv: list[str] | None = None) -> int:
    """`python -m engine health` / `python -m bot health`: one line, exit 0 fresh, 1 stale or missing."""
    parser = argparse.ArgumentParser(
        prog=f"python -m {process} health",
        description=f"Exit 0 when the {process}'s heartbeat is fresh, 1 when it is stale or missing.",
    )
    parser.add_argument("--max-age", type=float, default=DEFAULT_MAX_AGE, metavar="SECONDS",
                        help=f"oldest acceptable heartbeat (default {DEFAULT_MAX_AGE:.0f} s)")
    parser.add_argument("--no-queue", action="store_true", help="skip the queue figures (heartbeat only)")
    args = parser.parse_args(argv)
    if args.max_age <= 0:
        parser.error("--max-age must be positive")
    try:
        common = CommonConfig.from_env(load_env())
    except ConfigError as error:
        print(f"{process}: configuration error: {error}")
        return 2
    healthy, line = check(common, process, args.max_age)
    if not args.no_queue:
        line = f"{line}; {describe_queue(common)}"
    print(line)
    return 0 if healthy else 1
