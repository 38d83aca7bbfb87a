"""Any number of processes may open a fresh store at the same instant: none dies of a race (SQLite's
journal-mode switch, concurrent migrations on either engine)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from drawme.config import CommonConfig
from drawme.store import open_store, schema
from tests import postgres

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = 5
ROUNDS = 3


async def test_five_processes_open_a_fresh_store_at_once(backend, tmp_path):
    script = Path(__file__).with_name("open_at.py")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's code, not an installed one
    for round_ in range(ROUNDS):
        data_dir = tmp_path / f"round-{round_}"
        url = postgres.server().fresh_url() if backend == "postgres" else ""
        start = time.time() + 2.0  # every process is up and waiting by then, even on a busy box
        racers = [
            subprocess.Popen(
                [sys.executable, str(script), str(start), str(data_dir), url],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for _ in range(PROCESSES)
        ]
        outputs = [racer.communicate(timeout=60)[0] for racer in racers]
        failures = [out for racer, out in zip(racers, outputs, strict=True) if racer.returncode != 0]
        assert not failures, f"round {round_}: {failures[0]}"
        store = await open_store(CommonConfig(data_dir=data_dir, database_url=url))
        try:
            assert len(await store.workers()) == PROCESSES
            assert await store.schema_version() == schema.LATEST
        finally:
            await store.close()
