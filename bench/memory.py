"""Memory of one painting on the CPU, fitted to bytes per pixel (the constants of engine/memory.py).

    .venv/bin/python bench/memory.py            # default recipe's losses; 128, 192, 256 px; a 3x style

Each run is a fresh process (a clean allocator) on a square photo, so the canvas has size² pixels
and the style (area mode) size² × style_scale². It loads the painter, paints once at 32 px (which
builds everything that does not depend on the size), then paints the measured size while a thread
samples the resident set every 2 ms: the painting's own memory is the highest sample minus the
resident set just before it. The start-up peak (loading torch and the VGG-19 weights) is the
process's ru_maxrss before the measured painting. The increments are fitted by least squares to
canvas_bpp × size² + style_bpp × size² × style_scale².

The measured painting is the default recipe at full size for `--steps` evaluations (default 25, so
L-BFGS holds 25 pairs of history, more than the 20 of the default's full-size stage).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the checkout's packages, even without an install
PHOTO = ROOT / "tests" / "data" / "photos" / "astronaut.jpg"  # 512 x 512: square
RUNS = ((128, 1.0), (192, 1.0), (256, 1.0), (128, 3.0))
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


def measure(size: int, style_scale: float, steps: int) -> dict[str, float]:
    """In this process: (start-up peak, painting's increment) in bytes."""
    from dataclasses import replace

    from drawme.decoding import load_image
    from drawme.models import PaintParams
    from drawme.presets import get_preset
    from engine import recipes
    from engine.painter import Painter
    from engine.recipes import Stage

    recipe = replace(recipes.DEFAULT, name="memory_probe", stages=(Stage(1.0, steps),))
    recipes.RECIPES[recipe.name] = recipe
    photo, style = load_image(PHOTO), get_preset("starry_night").image()
    painter = Painter(device="cpu")
    painter.paint(photo, [style], PaintParams(size=32, recipe=recipe.name, style_scale=style_scale))
    startup_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    before = rss()
    peak = before
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss())
            time.sleep(0.002)

    sampler = threading.Thread(target=sample)
    sampler.start()
    painter.paint(photo, [style], PaintParams(size=size, recipe=recipe.name, style_scale=style_scale))
    done.set()
    sampler.join()
    return {"startup_peak": startup_peak, "increment": peak - before}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--one", nargs=2, type=float, metavar=("SIZE", "SCALE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(int(args.one[0]), args.one[1], args.steps)))
        return 0
    import numpy as np

    rows = []
    for size, scale in RUNS:
        argv = [sys.executable, __file__, "--steps", str(args.steps), "--one", str(size), str(scale)]
        out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
        figures = json.loads(out.splitlines()[-1])
        rows.append((size, scale, figures))
        print(f"size {size:4d}  style_scale {scale:.1f}  "
              f"start-up peak {figures['startup_peak'] / 2**20:6.0f} MiB  "
              f"painting +{figures['increment'] / 2**20:6.1f} MiB", flush=True)
    design = np.array([[s * s, s * s * k * k] for s, k, _ in rows], dtype=float)
    target = np.array([f["increment"] for *_, f in rows], dtype=float)
    (canvas_bpp, style_bpp), *_ = np.linalg.lstsq(design, target, rcond=None)
    startup = max(f["startup_peak"] for *_, f in rows)
    print(f"fit: start-up peak {startup / 2**20:.0f} MiB, "
          f"canvas {canvas_bpp:.0f} B/px, style {style_bpp:.0f} B/px")
    return 0


if __name__ == "__main__":
    sys.exit(main())
