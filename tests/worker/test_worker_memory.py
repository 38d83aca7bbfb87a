"""The worker never takes on more than its device's memory: settings checked at start, jobs clamped."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from drawme.config import EX_CONFIG, ConfigError, Sizes
from drawme.models import BRUSH_SCALES, JobStatus, NoteCode, PaintNote, PaintParams
from engine import memory
from engine.recipes import get_recipe
from engine.worker import Worker, fitting_max_size
from tests.sides import WorkerSide

from . import sleepy_painter
from .helpers import submit

ROOT = Path(__file__).resolve().parents[2]
GB = 10**9


def test_the_default_largest_size_is_lowered_to_what_fits(config) -> None:
    assert fitting_max_size(config, "cpu", 64 * GB) == 512  # the CPU's "large"
    small = memory.BASE_BYTES + 200 * 2**20  # room for a small canvas only
    assert fitting_max_size(config, "cpu", small) == memory.largest_size(small) < 512


@pytest.mark.parametrize(
    ("settings", "name"),
    [({"max_size": 100_000}, "MAX_SIZE 100000 px"), ({"paint_sizes": Sizes(512, 2048, 4096)}, "PAINT_SIZES")],
)
def test_a_size_setting_that_cannot_fit_is_a_configuration_error_naming_the_largest(
    config, settings: dict, name: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        fitting_max_size(replace(config, **settings), "cpu", 8 * GB)
    message = str(refused.value)
    assert message.startswith(name)
    assert message.endswith(f"the largest size that fits is {memory.largest_size(8 * GB)} px")


async def test_a_job_that_does_not_fit_its_style_scale_is_painted_smaller(config, store) -> None:
    job = await submit(store, params=PaintParams(size=512, style_scale=4.0))
    painter = sleepy_painter.Painter(device="cpu")
    worker = Worker(config, WorkerSide(store), painter)
    worker.memory_budget = memory.estimate_bytes(512, 1.0)  # 512 px fits, but not with a 4x style
    final = await worker.run_once()
    fits = memory.largest_size(worker.memory_budget, 4.0, memory.history_pairs(get_recipe("default")))
    assert final.id == job.id and painter.calls[0].size == fits < 512
    assert PaintNote.parse(final.note) == PaintNote(NoteCode.SIZE_CAPPED, fits)


def test_the_worker_refuses_to_start_with_a_max_size_beyond_its_memory(tmp_path: Path) -> None:
    env = {**os.environ, "DATA_DIR": str(tmp_path / "data"), "MAX_SIZE": "100000", "ENGINE_DEVICE": "cpu",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), str(ROOT)])}
    result = subprocess.run(
        [sys.executable, "-m", "worker.sleepy_painter"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == EX_CONFIG, result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("engine: configuration error: MAX_SIZE 100000 px needs about")
    assert "the largest size that fits is" in last


async def test_the_biggest_brush_on_a_worker_with_room_for_the_default_only_is_painted_not_failed(
    config, store
) -> None:
    history = memory.history_pairs(get_recipe("default"))
    painter = sleepy_painter.Painter(device="cpu")
    worker = Worker(config, WorkerSide(store), painter)
    worker.memory_budget = math.ceil(memory.estimate_bytes(512, 1.0, history) / memory.HEADROOM)
    default = await submit(store, params=PaintParams(size=512))
    assert (await worker.run_once()).id == default.id and painter.calls[-1].size == 512

    await submit(store, params=PaintParams(size=512, style_scale=BRUSH_SCALES[-1]))
    final = await worker.run_once()
    fits = memory.largest_size(worker.memory_budget, BRUSH_SCALES[-1], history)
    assert final.status is JobStatus.DONE and painter.calls[-1].size == fits
    assert 400 < fits < 512  # smaller, not failed; the bot words the note (tests/bot/test_bot_brush.py)
    assert PaintNote.parse(final.note) == PaintNote(NoteCode.SIZE_CAPPED, fits)
