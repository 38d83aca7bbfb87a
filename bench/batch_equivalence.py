"""How close a batched painting is to the same painting alone, against how chaotic painting is anyway.

L-BFGS on style transfer amplifies rounding: this paints three photos alone, together in one batch
(Painter.paint_batch), and alone again from photos changed by one part in a million, and reports the
mean and largest pixel differences (0..255) of batch against alone and of the nudged against alone.
If batching coupled the images, its differences would stand out from the nudge's.

    .venv/bin/python bench/batch_equivalence.py --steps 5,30,140
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NUDGE = 1e-6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", default="5,30,140")
    parser.add_argument("--size", type=int, default=96)
    args = parser.parse_args(argv)

    import numpy as np
    import torch
    from PIL import Image

    import engine.run as run_module
    from drawme.models import PaintParams
    from drawme.painting import PaintRequest
    from engine.painter import Painter

    torch.set_num_threads(2)
    canvas = (args.size, args.size * 2 // 3)
    folder = ROOT / "tests" / "data" / "photos"
    photos = [
        Image.open(folder / name).convert("RGB").resize(canvas)
        for name in ("astronaut.jpg", "chelsea.jpg", "coffee.jpg")
    ]
    styles = []
    for name in ("starry_night", "great_wave", "the_scream"):
        style = Image.open(ROOT / "drawme" / "paintings" / f"{name}.jpg").convert("RGB")
        style.thumbnail((args.size, args.size))
        styles.append(style)
    painter = Painter(device="cpu")
    exact = run_module.image_to_tensor

    def nudged(image, size, resample):
        return exact(image, size, resample) * (1 + NUDGE)

    def pixels(result) -> np.ndarray:
        return np.asarray(result.image, dtype=np.float64)

    print(f"`python bench/batch_equivalence.py {' '.join(sys.argv[1:] if argv is None else argv)}`, CPU\n")
    print("| steps | batch vs alone: mean | max | nudged 1e-6 vs alone: mean | max |")
    print("|---|---|---|---|---|")
    pairs = list(zip(photos, styles, strict=True))
    for steps in (int(value) for value in args.steps.split(",")):
        params = PaintParams(size=args.size)
        alone = [painter.paint(photo, [style], params, iterations=steps) for photo, style in pairs]
        together = painter.paint_batch(
            [PaintRequest(photo, (style,), params, iterations=steps) for photo, style in pairs]
        )
        run_module.image_to_tensor = nudged
        try:
            moved = [painter.paint(photo, [style], params, iterations=steps) for photo, style in pairs]
        finally:
            run_module.image_to_tensor = exact
        batch = [np.abs(pixels(a) - pixels(b)) for a, b in zip(together, alone, strict=True)]
        nudge = [np.abs(pixels(a) - pixels(b)) for a, b in zip(moved, alone, strict=True)]
        print(
            f"| {steps} | {np.mean([d.mean() for d in batch]):.2f} | {max(d.max() for d in batch):.0f} "
            f"| {np.mean([d.mean() for d in nudge]):.2f} | {max(d.max() for d in nudge):.0f} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
