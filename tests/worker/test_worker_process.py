"""Real `python -m engine serve` processes: SIGKILL mid-job, SIGTERM, and a real painting.

The crash tests run the worker as `python -m worker.sleepy_painter` (tests/ on PYTHONPATH): the real
worker with a fake painter injected, whose pace SLEEPY_STEPS / SLEEPY_DELAY set, so a job is reliably caught
mid-painting without loading torch. The last test paints for real with the VGG-19 (recipe "draft").
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from drawme.models import JobStatus, PaintParams

from .helpers import submit, wait_for

ROOT = Path(__file__).resolve().parents[2]


def start_worker(
    common, *, steps: int, delay: float, worker_id: str, painter: str | None = "worker.sleepy_painter"
):
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), str(ROOT)]),
        "DATA_DIR": str(common.data_dir),
        "LEASE_SECONDS": "2",
        "POLL_SECONDS": "0.1",
        "ENGINE_DEVICE": "cpu",
        "WORKER_ID": worker_id,
        "SLEEPY_STEPS": str(steps),
        "SLEEPY_DELAY": str(delay),
    }
    # The fake painter is injected by its own entry point, which runs engine.worker.main with it.
    command = [sys.executable, "-m", painter] if painter else [sys.executable, "-m", "engine", "serve"]
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def stop(process: subprocess.Popen) -> tuple[int, str]:
    """SIGTERM and collect; a worker that ignores it is killed so no process outlives the test."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        output, _ = process.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    return process.returncode, output


async def test_sigkill_mid_job_then_a_new_worker_finishes_it(common, store):
    job = await submit(store)
    crashing = start_worker(common, steps=1000, delay=0.05, worker_id="doomed")
    try:
        await wait_for(store, job.id, lambda j: j.status == JobStatus.RUNNING and j.progress.step > 0)
    finally:
        crashing.kill()  # SIGKILL: no cleanup at all
        crashing.communicate()
    assert (await store.get(job.id)).lease_owner == "doomed"

    rescuer = start_worker(common, steps=4, delay=0.01, worker_id="rescuer")
    try:
        final = await wait_for(store, job.id, lambda j: j.status == JobStatus.DONE)
    finally:
        code, output = stop(rescuer)
    assert final.attempts == 1 and final.lease_owner is None
    assert await store.get_result(job.id) is not None
    assert code == 0, output


async def test_sigterm_hands_the_job_back_and_exits_cleanly(common, store):
    worker = start_worker(common, steps=1000, delay=0.05, worker_id="polite")
    try:
        # Submitted after the worker started: an idle worker picks new work up by polling.
        job = await submit(store)
        await wait_for(store, job.id, lambda j: j.status == JobStatus.RUNNING and j.progress.step > 0)
        worker.send_signal(signal.SIGTERM)
        stopped_at = time.monotonic()
        code, output = stop(worker)
        took = time.monotonic() - stopped_at
    finally:
        if worker.poll() is None:
            worker.kill()
    assert code == 0, output
    assert took < 10, output
    released = await store.get(job.id)
    assert released.status == JobStatus.QUEUED and released.attempts == 0 and released.lease_owner is None
    assert await store.workers() == []  # it also left the worker list
    assert "released" in output


@pytest.mark.slow
async def test_real_painter_paints_a_64px_job(common, store):
    pytest.importorskip("torch")
    job = await submit(store, params=PaintParams(size=64, recipe="draft"))
    worker = start_worker(common, steps=0, delay=0, worker_id="real", painter=None)
    try:
        final = await wait_for(store, job.id, lambda j: j.status.finished, timeout=240)
    finally:
        code, output = stop(worker)
    assert final.status == JobStatus.DONE, (final, output)
    with Image.open(io.BytesIO(await store.get_result(job.id))) as image:
        assert image.format == "PNG" and max(image.size) == 64
    assert final.progress.step == final.progress.total > 0
    assert code == 0, output
