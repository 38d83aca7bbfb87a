"""A stopping rule on loss progress instead of fixed step counts: what it would save (issue 25, item 3).

    .venv/bin/python bench/stopping_rule.py --size 384 --photos group3 astronaut biden obama \
        --presets starry_night udnie shipwreck composition_vii

Paints the default on each (photo, preset) pair in turn (the i-th photo with the i-th preset), records
each stage's total loss after every step, and asks of each rule "stop a stage once its loss fell by
less than TOL over the last WINDOW steps" where it would have stopped. Prints, per rule, the steps it
would have skipped and the share of the painting's work (steps weighted by their canvas's pixels, as
the worker's ETA weighs them) that they are. A rule that skips nothing saves nothing, whatever it
would do to the painting; one that skips work must then be judged (bench/quality.py) before it goes in.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.faces import load_photo  # noqa: E402
from drawme.models import PaintParams  # noqa: E402
from drawme.painting import Progress  # noqa: E402
from drawme.presets import get_preset  # noqa: E402
from engine.objective import TOTAL  # noqa: E402
from engine.painter import Painter  # noqa: E402
from engine.recipes import get_recipe  # noqa: E402

RULES = ((5, 0.01), (5, 0.005), (5, 0.002), (3, 0.01))  # (window, tolerance)


def stop_step(curve: list[float], window: int, tolerance: float) -> int:
    """How many steps a stage with this loss curve runs under the rule (all of them if it never fires)."""
    for step in range(window, len(curve)):
        before, now = curve[step - window], curve[step]
        if before > 0 and (before - now) / before < tolerance:
            return step + 1
    return len(curve)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--photos", nargs="+", default=["group3", "astronaut", "biden", "obama"])
    parser.add_argument(
        "--presets", nargs="+", default=["starry_night", "udnie", "shipwreck", "composition_vii"]
    )
    args = parser.parse_args(argv)
    recipe = get_recipe("default")
    areas = [stage.scale**2 for stage in recipe.stages]
    work = sum(area * stage.steps for area, stage in zip(areas, recipe.stages, strict=True))
    painter = Painter()
    saved: dict[tuple[int, float], list[tuple[int, float]]] = {rule: [] for rule in RULES}
    for photo, preset in zip(args.photos, args.presets, strict=True):
        curves: dict[int, list[float]] = {}

        def record(progress: Progress, curves: dict[int, list[float]] = curves) -> None:
            curves.setdefault(progress.scale, []).append(progress.losses[TOTAL])

        style = get_preset(preset).image()
        painter.paint(load_photo(photo), [style], PaintParams(size=args.size), on_progress=record)
        for window, tolerance in RULES:
            ordered = [curve for _, curve in sorted(curves.items())]
            skipped = [len(curve) - stop_step(curve, window, tolerance) for curve in ordered]
            share = sum(area * n for area, n in zip(areas, skipped, strict=True)) / work
            saved[(window, tolerance)].append((sum(skipped), share))
            print(f"{photo} × {preset}: {tolerance:.1%} over {window}: skips {skipped} steps", flush=True)
    print(f"\n{args.size} px, the default ({'/'.join(str(s.steps) for s in recipe.stages)} steps)")
    print("| rule: stop a stage when its loss fell less than | steps skipped, per painting | work saved |")
    print("|---|---|---|")
    for (window, tolerance), rows in saved.items():
        steps = " ".join(str(n) for n, _ in rows)
        shares = " ".join(f"{share:.0%}" for _, share in rows)
        print(f"| {tolerance:.1%} over {window} steps | {steps} | {shares} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
