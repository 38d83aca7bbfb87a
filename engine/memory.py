"""How much memory a painting needs, so that a size that cannot fit is refused before anything is allocated.

The estimate is linear in pixels, from peak RSS measured on the CPU by `bench/memory.py` (figures and
command in docs/PERFORMANCE.md, "Memory"):

    bytes ≈ BASE + canvas_bpp × size² + STYLE_BYTES_PER_PIXEL × size² × style_scale²

size² is the canvas of a square photo, the largest for a given long side. canvas_bpp covers the
VGG activations kept for the backward pass, the gradients and the canvas copies; L-BFGS adds two
float32 RGB vectors per pixel for each pair of history it keeps at full size (`history_pairs`).
On CUDA the same constants are used: convolutions there run in bfloat16, so they overestimate
(not measured on a GPU yet).

Pure functions, except `available_bytes`, which asks the system or the GPU how much is free.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from engine.recipes import Recipe

# bench/memory.py, default recipe's losses at full size for 25 steps, CPU, torch 2.14.1: see
# docs/PERFORMANCE.md, "Memory".
# Fit: start-up peak 1074 MiB, canvas 3702 B/px, style 680 B/px; the constants round up by about 10%
# over the worst single run (4824 B/px in all at 192 px), since sampling every 2 ms can miss a peak.
BASE_BYTES = 1_100 * 2**20  # torch, the VGG-19 weights while loading, Python: independent of the size
CANVAS_BYTES_PER_PIXEL = 4_500  # with MEASURED_HISTORY pairs of L-BFGS history
STYLE_BYTES_PER_PIXEL = 800  # the style image's features, computed once without gradients
MEASURED_HISTORY = 25  # pairs the measured run held (25 steps, history_size 50)
LBFGS_BYTES_PER_PIXEL_PER_PAIR = 2 * 3 * 4  # one pair: two float32 RGB vectors of the canvas
# What we leave to everything else on the machine (and to estimation error).
HEADROOM = 0.85
MIN_SIZE = 16


@dataclass(frozen=True)
class MemoryNeed:
    """A refusal's facts: what the painting needs, what the device has, the largest size that fits."""

    needed: int  # bytes
    available: int  # bytes
    largest_size: int  # px (0: nothing fits)


def history_pairs(recipe: Recipe) -> int:
    """Pairs of L-BFGS history a recipe holds at full size: its history_size, or fewer full-size steps."""
    full_size_steps = [stage.steps for stage in recipe.stages if stage.scale >= 1.0]
    return min(recipe.lbfgs.history_size, max(full_size_steps, default=recipe.lbfgs.history_size))


def estimate_bytes(size: int, style_scale: float = 1.0, history_size: int = MEASURED_HISTORY) -> int:
    """Peak bytes of painting at long side `size` with the style at `style_scale` (see the module doc)."""
    pixels = float(size) * size
    canvas = CANVAS_BYTES_PER_PIXEL + (history_size - MEASURED_HISTORY) * LBFGS_BYTES_PER_PIXEL_PER_PAIR
    return int(BASE_BYTES + canvas * pixels + STYLE_BYTES_PER_PIXEL * pixels * style_scale**2)


def largest_size(available: int, style_scale: float = 1.0, history_size: int = MEASURED_HISTORY) -> int:
    """The largest long side whose estimate fits in HEADROOM × `available` bytes (0 if none does)."""
    budget = available * HEADROOM - BASE_BYTES
    per_pixel = estimate_bytes(1, style_scale, history_size) - BASE_BYTES
    if budget <= 0 or per_pixel <= 0:
        return 0
    size = math.isqrt(int(budget / per_pixel))
    while size > 0 and estimate_bytes(size, style_scale, history_size) > available * HEADROOM:
        size -= 1  # float rounding at the boundary
    return size if size >= MIN_SIZE else 0


def batch_size(
    available: int, size: int, style_scale: float = 1.0, history_size: int = MEASURED_HISTORY
) -> int:
    """How many paintings at long side `size` fit in one batch in HEADROOM × `available` bytes (0: none).

    The start-up cost (BASE_BYTES: the weights, torch) is paid once; everything else once per painting.
    """
    each = estimate_bytes(size, style_scale, history_size) - BASE_BYTES
    budget = available * HEADROOM - BASE_BYTES
    return max(0, int(budget // each)) if each > 0 else 0


def largest_style_scale(available: int, size: int, history_size: int = MEASURED_HISTORY) -> float:
    """The largest style_scale (to 0.01) that fits at long side `size`; 0 if even none does."""
    room = available * HEADROOM - estimate_bytes(size, 0.0, history_size)
    if room <= 0:
        return 0.0
    return math.floor(math.sqrt(room / (STYLE_BYTES_PER_PIXEL * float(size) * size)) * 100) / 100


def check(size: int, style_scale: float, history_size: int, available: int) -> MemoryNeed | None:
    """None when the painting fits in `available` bytes; otherwise the facts for a refusal."""
    needed = estimate_bytes(size, style_scale, history_size)
    if needed <= available * HEADROOM:
        return None
    return MemoryNeed(needed, available, largest_size(available, style_scale, history_size))


def describe(amount: int) -> str:
    """Bytes as a short figure for operators: 512 MB, 3.2 GB, 80000 GB."""
    gigabytes = amount / 1e9
    return f"{amount / 1e6:.0f} MB" if gigabytes < 1 else f"{gigabytes:.{1 if gigabytes < 100 else 0}f} GB"


# --- what the device has ---------------------------------------------------------------------------


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_available() -> int | None:
    """Room left under a container's memory limit (cgroup v2), if there is one."""
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit == "max":
            return None
        return int(limit) - int(Path("/sys/fs/cgroup/memory.current").read_text())
    except (OSError, ValueError):
        return None


def system_available() -> int:
    """Bytes of RAM this process may still use: MemAvailable, or less under a container limit."""
    figures = [f for f in (_meminfo_available(), _cgroup_available()) if f is not None]
    if not figures:  # not Linux: all of physical memory
        figures = [os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")]
    return max(0, min(figures))


def available_bytes(device: object) -> int:
    """Free memory on `device` (a torch.device, or a name such as "cpu", "cuda:0")."""
    kind = getattr(device, "type", str(device).split(":")[0])
    if kind == "cuda":
        import torch  # here: the CPU's answer needs no torch
        free, _ = torch.cuda.mem_get_info(torch.device(str(device)))
        return int(free)
    return system_available()  # the CPU, and Apple's unified memory (mps)


def cuda_allocated() -> float:
    """Bytes torch holds allocated on the current CUDA device (for the worker's metrics)."""
    import torch

    return float(torch.cuda.memory_allocated())


def resident_bytes() -> float:
    """This process's resident memory (RSS) in bytes; 0 where /proc is not there."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return 0.0
    return float(pages * os.sysconf("SC_PAGE_SIZE"))
