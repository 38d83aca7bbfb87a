"""No size exhausts the machine: the memory estimate, and the CLI refusing what cannot fit at once."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from engine import memory
from engine.cli import EXIT_USAGE

ROOT = Path(__file__).resolve().parents[2]
PHOTO = ROOT / "tests" / "data" / "photos" / "chelsea.jpg"
GB = 10**9


def test_the_estimate_grows_with_pixels_style_and_history() -> None:
    base = memory.estimate_bytes(16)
    assert memory.estimate_bytes(512) - base == pytest.approx(
        (memory.CANVAS_BYTES_PER_PIXEL + memory.STYLE_BYTES_PER_PIXEL) * (512**2 - 16**2), rel=1e-6
    )
    assert memory.estimate_bytes(512, style_scale=2) > memory.estimate_bytes(512)
    assert memory.estimate_bytes(512, history_size=100) > memory.estimate_bytes(512, history_size=50)
    assert memory.estimate_bytes(100_000) > 50_000 * GB  # what the OOM killer ended


@pytest.mark.parametrize("available", [2 * GB, 8 * GB, 24 * GB, 141 * GB])
@pytest.mark.parametrize("style_scale", [0.5, 1.0, 3.0])
def test_the_largest_size_is_the_boundary_of_the_check(available: int, style_scale: float) -> None:
    largest = memory.largest_size(available, style_scale)
    assert largest >= memory.MIN_SIZE
    assert memory.check(largest, style_scale, memory.MEASURED_HISTORY, available) is None
    need = memory.check(largest + 1, style_scale, memory.MEASURED_HISTORY, available)
    assert need is not None and need.largest_size == largest


def test_nothing_fits_when_memory_is_below_the_base() -> None:
    assert memory.largest_size(memory.BASE_BYTES // 2) == 0
    assert memory.largest_style_scale(memory.BASE_BYTES // 2, 256) == 0


def test_a_batch_pays_the_start_up_once_and_each_painting_in_full() -> None:
    each = memory.estimate_bytes(512) - memory.BASE_BYTES
    for count in (1, 2, 7):
        exactly = (memory.BASE_BYTES + count * each) / memory.HEADROOM
        assert memory.batch_size(int(exactly) + 1, 512) == count
        assert memory.batch_size(int(exactly - 1000), 512) == count - 1
    assert memory.batch_size(memory.BASE_BYTES, 512) == 0
    # Bigger paintings, fewer of them.
    assert memory.batch_size(10**11, 1024) < memory.batch_size(10**11, 512)


def test_the_largest_style_scale_fits_and_a_bit_more_does_not() -> None:
    scale = memory.largest_style_scale(8 * GB, 384)
    assert memory.check(384, scale, memory.MEASURED_HISTORY, 8 * GB) is None
    assert memory.check(384, scale + 0.02, memory.MEASURED_HISTORY, 8 * GB) is not None


def paint_peak_rss(*options: str, cwd: Path) -> tuple[int, str, int]:
    """Run `python -m engine paint` with `options` in `cwd`: exit status, stderr, peak resident bytes."""
    argv = [sys.executable, "-m", "engine", "paint", str(PHOTO), "--preset", "udnie", "out", *options]
    errors = cwd.parent / "stderr.txt"
    with errors.open("w") as stderr:
        process = subprocess.Popen(argv, cwd=cwd, env={**os.environ, "PYTHONPATH": str(ROOT)},
                                   stdout=subprocess.DEVNULL, stderr=stderr)
        _, status, usage = os.wait4(process.pid, 0)  # the child's own peak, not the test's
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, errors.read_text(), usage.ru_maxrss * 1024


@pytest.mark.parametrize(
    ("options", "largest_of"),
    [(("--size", "100000"), "--size"), (("--style-scale", "1000"), "--style-scale")],
    ids=["huge-size", "huge-style-scale"],
)
def test_a_size_that_cannot_fit_is_refused_at_once_with_the_largest_that_fits(
    tmp_path: Path, options: tuple[str, ...], largest_of: str
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    status, stderr, peak = paint_peak_rss(*options, cwd=work)
    assert status == EXIT_USAGE, stderr[-2000:]
    (line,) = stderr.strip().splitlines()
    assert line.startswith("error: ") and "of memory" in line and "free" in line
    found = re.search(rf"the largest {largest_of} that fits at [^ ]+ [^ ]+ is ([0-9.]+)", line)
    largest = float(found.group(1))
    assert 0 < largest < float(options[1])
    assert list(work.iterdir()) == []  # nothing painted, nothing saved
    # Before any allocation: the process never grew past what importing torch takes (about 0.9 GB
    # here), far from the painting's tens of terabytes or even one full-size canvas.
    assert peak < 2 * GB
