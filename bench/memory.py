"""Peak memory of one painting on the CPU, fitted to bytes per pixel (the constants of engine/memory.py).

    .venv/bin/python bench/memory.py            # default recipe; 128, 192, 256 px and a 3x style

Each run is `python -m engine paint` in its own process on a square photo, so the canvas has size²
pixels and the style (area mode) size² × style_scale². The peak RSS of each process (wait4) is fitted
by least squares to  base + canvas_bpp × size² + style_bpp × size² × style_scale².
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT / "tests" / "data" / "photos" / "astronaut.jpg"  # 512 x 512: square
RUNS = ((128, 1.0), (192, 1.0), (256, 1.0), (128, 3.0))


def peak_rss(size: int, style_scale: float, recipe: str, out: Path) -> int:
    """Peak resident bytes of one `engine paint` process."""
    argv = [sys.executable, "-m", "engine", "paint", str(PHOTO), "--preset", "starry_night", str(out),
            "--size", str(size), "--style-scale", str(style_scale), "--recipe", recipe, "--device", "cpu",
            "--quiet"]
    process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited with {process.returncode}")
    return usage.ru_maxrss * 1024  # kB on Linux


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="default")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size, scale in RUNS:
            rss = peak_rss(size, scale, args.recipe, Path(tmp) / f"out{size}")
            rows.append((size, scale, rss))
            print(f"size {size:4d}  style_scale {scale:.1f}  peak RSS {rss / 2**20:7.1f} MiB", flush=True)
    design = np.array([[1.0, s * s, s * s * k * k] for s, k, _ in rows])
    target = np.array([float(rss) for *_, rss in rows])
    (base, canvas_bpp, style_bpp), *_ = np.linalg.lstsq(design, target, rcond=None)
    print(f"fit: base {base / 2**20:.0f} MiB, canvas {canvas_bpp:.0f} B/px, style {style_bpp:.0f} B/px")
    return 0


if __name__ == "__main__":
    sys.exit(main())
