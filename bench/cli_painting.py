"""Whole paintings through the CLI, process start included, ways side by side (issue 25's target).

    .venv/bin/python bench/cli_painting.py --size 384 --repeats 3 \
        --way "float32=--precision float32" --way "auto=--precision auto"

Each way is a name and the extra arguments of `python -m engine paint`; `--tree DIR` first runs
another checkout's engine (`git worktree add DIR 6492d99`: an earlier default, with the same venv).
The ways run one after another in turn (interleaved, so the machine's load hits each alike), each a
fresh process, as a user's command would. Prints each way's median wall time, its ratio to the first
way's, and when its first preview file appeared (the CLI saves one after FIRST_PREVIEW_STEP coarse
steps).
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def paint_once(photo: Path, preset: str, size: int, extra: list[str], folder: Path) -> tuple[float, float]:
    """(seconds to the painting, seconds to the first preview file) of one CLI painting."""
    tree = ROOT
    if extra[:1] == ["--tree"]:
        tree, extra = Path(extra[1]).resolve(), extra[2:]
    prefix = folder / "painting"
    command = [sys.executable, "-m", "engine", "paint", str(photo), "--preset", preset, str(prefix)]
    command += ["--size", str(size), "--quiet", "--preview-every", "1000", *extra]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    began = time.perf_counter()
    process = subprocess.Popen(command, cwd=tree, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    first_preview = float("nan")
    while process.poll() is None:
        if first_preview != first_preview and any(folder.glob("*_at_step_*")):
            first_preview = time.perf_counter() - began
        time.sleep(0.05)
    seconds = time.perf_counter() - began
    if process.returncode != 0:
        assert process.stderr is not None
        raise SystemExit(f"{shlex.join(command)} failed:\n{process.stderr.read().decode()}")
    return seconds, first_preview


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--photo", type=Path, default=ROOT / "tests" / "data" / "photos" / "obama.jpg")
    parser.add_argument("--preset", default="starry_night")
    parser.add_argument(
        "--way", action="append", required=True, metavar="NAME=ARGS", help="name=CLI arguments"
    )
    args = parser.parse_args(argv)
    ways = [(name, shlex.split(extra)) for name, _, extra in (way.partition("=") for way in args.way)]
    seconds: dict[str, list[float]] = {name: [] for name, _ in ways}
    previews: dict[str, list[float]] = {name: [] for name, _ in ways}
    for _ in range(args.repeats):
        for name, extra in ways:
            with tempfile.TemporaryDirectory() as folder:
                painted, preview = paint_once(args.photo, args.preset, args.size, extra, Path(folder))
            seconds[name].append(painted)
            previews[name].append(preview)
    first = statistics.median(seconds[ways[0][0]])
    print(f"{args.size} px {args.photo.stem} × {args.preset}, medians of {args.repeats}, interleaved")
    print("| way | arguments | painting s | × the first | first preview s | runs |")
    print("|---|---|---:|---:|---:|---|")
    for name, extra in ways:
        median = statistics.median(seconds[name])
        runs = " ".join(f"{s:.1f}" for s in seconds[name])
        print(
            f"| {name} | `{shlex.join(extra)}` | {median:.1f} | {median / first:.3f} "
            f"| {statistics.median(previews[name]):.1f} | {runs} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
