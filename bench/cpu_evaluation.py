"""One loss evaluation of the default on the CPU, ways of running it side by side (issue 25, item 2).

    .venv/bin/python bench/cpu_evaluation.py --size 384 --repeats 5

Times `PaintingRun.objective(...).backward()` at the full-size stage (what every L-BFGS step costs)
for: fp32 on 1 and on 2 torch threads, bf16 autocast (oneDNN's AVX-512 bf16 where the CPU has it),
channels-last, and the painter's bfloat16 precision (weights held in bf16, channels-last), 2 threads.
Interleaved, so the machine's load hits every way alike; medians, and each way's ratio to the first.
It also prints how far each way's loss and gradient are from fp32's: a way that is faster but
computes another painting is not a speed-up.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from bench.faces import load_photo  # noqa: E402
from bench.quality import full_stage  # noqa: E402
from drawme.models import PaintParams  # noqa: E402
from drawme.presets import get_preset  # noqa: E402
from engine.painter import Painter, PaintRequest, Precision  # noqa: E402
from engine.recipes import get_recipe  # noqa: E402
from engine.run import PaintingRun  # noqa: E402


@contextlib.contextmanager
def plain() -> Iterator[None]:
    yield


@contextlib.contextmanager
def bf16() -> Iterator[None]:
    with torch.autocast("cpu", dtype=torch.bfloat16):
        yield


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--photo", default="astronaut")
    parser.add_argument(
        "--compile", action="store_true", help="also the bfloat16 network under torch.compile (inductor)"
    )
    args = parser.parse_args(argv)

    style = get_preset("starry_night").image()
    request = PaintRequest(load_photo(args.photo), [style], PaintParams(size=args.size))
    runs = {
        precision: Painter(device="cpu", precision=precision).run(request)
        for precision in ("float32", "bfloat16")
    }
    fp32, bf16_weights = runs["float32"], runs["bfloat16"]
    pixels, targets = full_stage(fp32)
    bf16_targets = full_stage(bf16_weights)[1]
    Way = tuple[str, PaintingRun, tuple, int, Callable[[], contextlib.AbstractContextManager[None]], bool]
    # (name, run, its targets, threads, context, channels-last canvas)
    ways: list[Way] = [
        ("fp32, 1 thread", fp32, targets, 1, plain, False),
        ("fp32, 2 threads", fp32, targets, 2, plain, False),
        ("bf16 autocast, 2 threads", fp32, targets, 2, bf16, False),
        ("fp32 channels-last, 2 threads", fp32, targets, 2, plain, True),
        ("bf16 weights (precision bfloat16), 2 threads", bf16_weights, bf16_targets, 2, plain, False),
    ]
    if args.compile:
        compiling = Painter(device="cpu", precision="bfloat16")
        layers, precision = get_recipe(request.params.recipe).layers, Precision.BFLOAT16
        compiling._networks[(layers, precision)] = torch.compile(compiling.network(layers, precision))
        began = time.perf_counter()
        compiled = compiling.run(request)
        compiled_targets = full_stage(compiled)[1]
        seconds_to_targets = time.perf_counter() - began
        print(f"torch.compile: the targets' passes (compiling for their shapes) {seconds_to_targets:.1f} s")
        ways.append(("bf16 weights + torch.compile, 2 threads", compiled, compiled_targets, 2, plain, False))

    def evaluate(
        run: PaintingRun,
        targets: tuple,
        threads: int,
        context: Callable[[], contextlib.AbstractContextManager[None]],
        nhwc: bool,
    ) -> tuple[float, float, torch.Tensor]:
        torch.set_num_threads(threads)
        start = pixels.clone()
        if nhwc:
            start = start.contiguous(memory_format=torch.channels_last)
        run.canvas = start.requires_grad_(True)
        began = time.perf_counter()
        with context():
            loss = run.objective(*targets)
        loss.backward()
        seconds = time.perf_counter() - began
        assert run.canvas.grad is not None
        return seconds, float(loss), run.canvas.grad.detach().clone()

    seconds: dict[str, list[float]] = {name: [] for name, *_ in ways}
    results: dict[str, tuple[float, torch.Tensor]] = {}
    for name, *way in ways:  # one untimed warm-up each (torch.compile compiles the canvas's shape here)
        warm_up, loss, grad = evaluate(*way)
        results[name] = (loss, grad)
        if "compile" in name:
            print(f"torch.compile: the first evaluation (compiling) {warm_up:.1f} s")
    for _ in range(args.repeats):
        for name, *way in ways:
            seconds[name].append(evaluate(*way)[0])
    first = statistics.median(seconds[ways[0][0]])
    reference_loss, reference_grad = results[ways[0][0]]
    print(f"{args.size} px {args.photo} × starry_night, the default, full stage; medians of {args.repeats}")
    for name, *_ in ways:
        median = statistics.median(seconds[name])
        loss, grad = results[name]
        cosine = float(torch.nn.functional.cosine_similarity(grad.flatten(), reference_grad.flatten(), dim=0))
        print(
            f"{name:46s} {median:6.2f} s  {median / first:5.3f}×  loss {loss / reference_loss - 1:+.2%}  "
            f"gradient cosine {cosine:.4f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
