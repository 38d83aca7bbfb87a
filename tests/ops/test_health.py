"""`python -m engine health` / `python -m bot health`: exit 0 when fresh, 1 when stale or missing.
Each process has its own heartbeat (by WORKER_ID / BOT_INSTANCE), and the check judges its own."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import time

import pytest

from drawme import health
from drawme.config import CommonConfig
from drawme.store import JobStore

from .conftest import python_m, submit

# The commands Docker's HEALTHCHECK and the compose file run.
COMMANDS = {"engine": ("engine", "health"), "bot": ("bot", "health")}


def probe(env: dict[str, str], process: str, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        python_m(*COMMANDS[process], *options), env=env, capture_output=True, text=True, timeout=60
    )


def write_heartbeat(
    common: CommonConfig, name: str, age: float, pid: int | None = None, host: str | None = None
) -> None:
    """A heartbeat `age` seconds old, written by `pid` (default: this test, a running process)."""
    path = health.heartbeat_path(common, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"ts": time.time() - age, "pid": pid or os.getpid(), "host": host or socket.gethostname()}
    path.write_text(json.dumps(state))


GONE_PID = 2**22 + 1  # beyond the largest pid_max: never a running process


@pytest.mark.parametrize("process", ["engine", "bot"])
def test_missing_fresh_and_stale_heartbeats(process: str, common: CommonConfig, ops_env) -> None:
    missing = probe(ops_env, process)
    assert missing.returncode == 1
    assert missing.stdout.startswith(f"{process}: no heartbeat yet")
    assert "queue: no job store yet" in missing.stdout
    assert not common.db_path.exists()  # a probe never creates the database

    health.beat(common, health.beat_name(process, "one"), device="cpu")
    fresh = probe(ops_env, process)
    assert fresh.returncode == 0, fresh.stdout
    assert fresh.stdout.startswith(f"{process}: alive ({process}-one ")
    assert len(fresh.stdout.splitlines()) == 1

    write_heartbeat(common, health.beat_name(process, "one"), age=120)
    stale = probe(ops_env, process)
    assert stale.returncode == 1
    # 120 s, or a little more on a busy machine (the probe's start-up counts too)
    assert re.match(rf"{process}-one: heartbeat is stale \(12\d s old, limit 60 s\)", stale.stdout)
    assert probe(ops_env, process, "--max-age", "300").returncode == 0


def test_the_other_process_beat_does_not_count(common: CommonConfig, ops_env) -> None:
    # compose shares one data volume: the engine must not pass on the bot's beat
    health.beat(common, health.beat_name("bot", "b"))
    assert probe(ops_env, "engine").returncode == 1
    assert probe(ops_env, "bot").returncode == 0


def test_each_worker_is_judged_by_its_own_heartbeat(common: CommonConfig, ops_env) -> None:
    """Replicas sharing the volume: one hung worker no longer looks healthy because another beats."""
    write_heartbeat(common, "engine-gpu-a", age=1)
    write_heartbeat(common, "engine-gpu-b", age=300)  # hung
    assert probe({**ops_env, "WORKER_ID": "gpu-a"}, "engine").returncode == 0
    hung = probe({**ops_env, "WORKER_ID": "gpu-b"}, "engine")
    assert hung.returncode == 1 and hung.stdout.startswith("engine-gpu-b: heartbeat is stale")
    assert probe({**ops_env, "WORKER_ID": "gpu-c"}, "engine").returncode == 1, "a worker that never beat"
    # Without WORKER_ID, this host's running workers are its own: one of them is hung.
    assert probe(ops_env, "engine").returncode == 1
    # Another host's beats, and those of a process that has exited, are not this host's.
    health.forget(common, "engine-gpu-b")
    write_heartbeat(common, "engine-elsewhere", age=300, host="another-host")
    write_heartbeat(common, "engine-crashed", age=300, pid=GONE_PID)
    assert probe(ops_env, "engine").returncode == 0


def test_shows_queue_length_and_oldest_queued_job(common: CommonConfig, ops_env) -> None:
    async def queue_two() -> None:
        store = await JobStore.open(common)
        try:
            await submit(store, user_id=1)
            await submit(store, user_id=2, color=(1, 2, 3))
        finally:
            await store.close()

    asyncio.run(queue_two())
    health.beat(common, health.beat_name("engine", "w"))
    result = probe(ops_env, "engine")
    assert result.returncode == 0
    assert "queue: 2 queued (oldest " in result.stdout and ", 0 running" in result.stdout


def test_bad_max_age_is_a_usage_error(ops_env) -> None:
    result = probe(ops_env, "engine", "--max-age", "-5")
    assert result.returncode == 2
    assert "--max-age must be positive" in result.stderr
