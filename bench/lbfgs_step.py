"""The cost of one BatchLBFGS step outside the loss (engine/lbfgs.py), per history length and batch.

On a GPU the painter's steps wait for Python to issue kernels (docs/PERFORMANCE.md "On the GPU"); the
two-loop recursion issues a few per history pair. This times `BatchLBFGS.step` on a cheap quadratic
(its closure costs next to nothing) once the history is full, so the figure is the optimiser's own.

    .venv/bin/python bench/lbfgs_step.py --device cpu --history 50 --batch 1,16 --side 64
    .venv/bin/python bench/lbfgs_step.py --paintings     # whole paintings: BatchLBFGS against torch's

`--paintings` paints four photos × two presets at 128 px with the `default` recipe twice, once with
BatchLBFGS (what the painter uses) and once with torch.optim.LBFGS, and compares the final losses.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--history", type=int, default=50)
    parser.add_argument("--batch", default="1,16")
    parser.add_argument("--side", type=int, default=64, help="canvas side in px (3 × side² values)")
    parser.add_argument("--steps", type=int, default=40, help="timed steps after the history is full")
    parser.add_argument("--paintings", action="store_true", help="compare whole paintings instead")
    args = parser.parse_args(argv)
    if args.paintings:
        return paintings(argv)

    import torch

    from engine.lbfgs import BatchLBFGS

    torch.set_num_threads(1)
    device = torch.device(args.device)
    print(f"`python bench/lbfgs_step.py {' '.join(sys.argv[1:] if argv is None else argv)}`\n")
    print("| batch | history | ms per step (median) |")
    print("|---|---|---|")
    for count in (int(value) for value in args.batch.split(",")):
        generator = torch.Generator().manual_seed(0)
        scales = (torch.rand(count, 3, args.side, args.side, generator=generator) + 0.5).to(device)
        canvas = torch.zeros(count, 3, args.side, args.side, device=device)
        optimiser = BatchLBFGS(canvas, history_size=args.history)

        def closure(optimiser=optimiser, scales=scales):
            x = optimiser.canvas
            x.grad = None
            loss = (scales * (x - 1).square()).sum(dim=(1, 2, 3)) + x.pow(4).sum()
            loss.sum().backward()
            return loss

        seconds = []
        for step in range(args.history + 2 + args.steps):
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            optimiser.step(closure)
            if device.type == "cuda":
                torch.cuda.synchronize()
            if step >= args.history + 2:
                seconds.append(time.perf_counter() - start)
        print(f"| {count} | {args.history} | {1000 * statistics.median(seconds):.2f} |")
    return 0


def paintings(argv: list[str] | None) -> int:
    """Final losses of whole `default` paintings, BatchLBFGS against torch.optim.LBFGS."""
    import statistics

    import torch
    from PIL import Image

    import engine.painter as painter_module
    from drawme.models import PaintParams
    from engine.run import PaintingRun

    torch.set_num_threads(1)
    root = Path(__file__).resolve().parents[1]
    painter = painter_module.Painter(device="cpu")
    ratios = []
    print(f"`python bench/lbfgs_step.py {' '.join(sys.argv[1:] if argv is None else argv)}`\n")
    print("| photo | preset | BatchLBFGS total | torch LBFGS total | ratio |")
    print("|---|---|---|---|---|")
    own = PaintingRun.batchable
    try:
        for name in ("astronaut", "biden", "chelsea", "obama"):
            photo = Image.open(root / "tests" / "data" / "photos" / f"{name}.jpg").convert("RGB")
            photo.thumbnail((128, 128))
            for preset in ("starry_night", "the_scream"):
                style = Image.open(root / "drawme" / "paintings" / f"{preset}.jpg").convert("RGB")
                style.thumbnail((128, 128))
                totals = []
                for batchable in (True, False):  # False: the painter falls back to torch's LBFGS
                    PaintingRun.batchable = property(lambda run, flag=batchable: flag)
                    totals.append(painter.paint(photo, [style], PaintParams(size=128)).losses["total"])
                ratios.append(totals[0] / totals[1])
                cells = f"{totals[0]:.4g} | {totals[1]:.4g} | {ratios[-1]:.3f}"
                print(f"| {name} | {preset} | {cells} |", flush=True)
    finally:
        PaintingRun.batchable = own
    print(f"\nmedian ratio {statistics.median(ratios):.3f} (from {min(ratios):.3f} to {max(ratios):.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
