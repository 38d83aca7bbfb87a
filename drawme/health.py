"""Heartbeat files: each process's main loop refreshes its own, so a blocked loop shows up as stale.

Each process writes `health/<process>-<instance>.json` (an engine worker by its WORKER_ID, a bot by
its BOT_INSTANCE) with its host name and pid, so replicas sharing one data volume never pass on
each other's beat. `python -m engine health` and `python -m bot health` check their own: the
instance named by WORKER_ID / BOT_INSTANCE, or else every one written on this host by a process
that is still running (a container's own worker), and exit non-zero when one is missing or older
than the allowed age. A process that stops cleanly removes its file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from drawme.config import CommonConfig, load_env

DEFAULT_MAX_AGE = 60.0
# The variable naming a process's instance, per process kind.
INSTANCE_VARIABLE = {"engine": "WORKER_ID", "bot": "BOT_INSTANCE"}


def beat_name(process: str, instance: str) -> str:
    """The heartbeat of one process: `engine-<WORKER_ID>`, `bot-<BOT_INSTANCE>`."""
    return f"{process}-{instance}"


def heartbeat_path(common: CommonConfig, name: str) -> Path:
    return common.health_dir / f"{name}.json"


def beat(common: CommonConfig, name: str, **info: Any) -> None:
    """Record that the process `name` is alive now, with a little context (device, current job...)."""
    path = heartbeat_path(common, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_suffix(f".{os.getpid()}.tmp")
    state = {"ts": time.time(), "pid": os.getpid(), "host": socket.gethostname(), **info}
    temp.write_text(json.dumps(state))
    os.replace(temp, path)  # atomic: a reader never sees half a file


def forget(common: CommonConfig, name: str) -> None:
    """A process stopping cleanly: its heartbeat goes with it."""
    heartbeat_path(common, name).unlink(missing_ok=True)


def read(common: CommonConfig, name: str) -> dict[str, Any] | None:
    try:
        return json.loads(heartbeat_path(common, name).read_text())
    except (OSError, ValueError):
        return None


def beats(common: CommonConfig, process: str) -> dict[str, dict[str, Any]]:
    """Every `process` heartbeat in the data directory (any host): name -> its state."""
    found = {}
    for path in sorted(common.health_dir.glob(f"{process}-*.json")):
        if (state := read(common, path.stem)) is not None:
            found[path.stem] = state
    return found


def _running_here(state: dict[str, Any]) -> bool:
    if state.get("host") != socket.gethostname():
        return False
    try:
        os.kill(int(state.get("pid", 0)), 0)
    except PermissionError:
        return True  # someone else's process, but it exists
    except (OSError, ValueError):
        return False
    return True


def own(common: CommonConfig, process: str, instance: str | None) -> list[str]:
    """The heartbeats a health check of this host's `process` judges: the named instance's, or
    else those written on this host by a process still running."""
    if instance:
        return [beat_name(process, instance)]
    return [name for name, state in beats(common, process).items() if _running_here(state)]


def check(
    common: CommonConfig, process: str, max_age: float = DEFAULT_MAX_AGE, instance: str | None = None
) -> tuple[bool, str]:
    """(healthy, one-line explanation) for this host's `process` (or its `instance`)."""
    names = own(common, process, instance)
    if not names:
        return False, f"{process}: no heartbeat yet in {common.health_dir}"
    ages = []
    for name in names:
        state = read(common, name)
        if state is None:
            return False, f"{name}: no heartbeat yet in {heartbeat_path(common, name)}"
        age = time.time() - float(state.get("ts", 0))
        if age > max_age:
            return False, f"{name}: heartbeat is stale ({age:.0f} s old, limit {max_age:.0f} s)"
        ages.append(f"{name} {age:.1f} s ago")
    return True, f"{process}: alive ({', '.join(ages)})"


def fresh(common: CommonConfig, max_age: float) -> list[str]:
    """One line per process (any host) whose heartbeat is younger than `max_age`."""
    now = time.time()
    lines = []
    for process in INSTANCE_VARIABLE:
        for name, state in beats(common, process).items():
            age = now - float(state.get("ts", 0))
            if age <= max_age:
                where = f"pid {state.get('pid')} on {state.get('host')}"
                lines.append(f"{name}: alive ({age:.1f} s ago, {where})")
    return lines


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
    env = load_env()
    common = CommonConfig.from_env(env)  # a ConfigError exits 78 (drawme.entry)
    instance = env.get(INSTANCE_VARIABLE[process], "").strip() or None
    healthy, line = check(common, process, args.max_age, instance)
    if not args.no_queue:
        line = f"{line}; {describe_queue(common)}"
    print(line)
    return 0 if healthy else 1
