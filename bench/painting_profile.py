"""Where one painting's time goes: a table of its parts, on the CPU (issue 25's profile).

    .venv/bin/python bench/painting_profile.py --size 384   # obama x Starry Night, the default recipe
    .venv/bin/python bench/painting_profile.py --size 128 --photo astronaut

One `default` painting as the worker paints it (decode, paint, PNG encode, a JPEG per preview), with
the engine's functions wrapped by timers. Each row is exclusive (a part's time less that of the parts
inside it), so the rows add up to the whole; "other" is what no timer covers. The VGG's share of an
evaluation cannot be timed inside autograd's backward pass, so it is measured apart: a few forward and
backward passes of the network alone at each stage's canvas (a plain sum of the used layers as the
loss), and the Gram and loss terms are the evaluation less that ("≈" rows). Python start is a bare
`python -c pass`; the imports are timed in this process.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import torch  # noqa: E402

TORCH_IMPORTED = time.perf_counter()

import argparse  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from collections import defaultdict  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from types import SimpleNamespace  # noqa: E402
from typing import Any  # noqa: E402

import torch.nn.functional as F  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the checkout's packages, even without an install

import engine.optimise  # noqa: E402
import engine.run  # noqa: E402
from drawme.decoding import load_image  # noqa: E402
from drawme.models import PaintParams  # noqa: E402
from drawme.painting import PaintRequest, Progress  # noqa: E402
from drawme.presets import get_preset  # noqa: E402
from engine.encoding import to_jpeg_bytes, to_png_bytes  # noqa: E402
from engine.lbfgs import BatchLBFGS  # noqa: E402
from engine.painter import Painter  # noqa: E402
from engine.recipes import get_recipe  # noqa: E402

IMPORTED = time.perf_counter()


class Timers:
    """Exclusive wall time per label: a wrapped call's time, less that of wrapped calls inside it."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._inner: list[float] = []  # per open call: time spent in wrapped calls inside it
        self.canvas = ""  # the size of the canvas last scored, to label its backward pass

    def time(self, label: str | Callable[..., str], function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            name = label(*args, **kwargs) if callable(label) else label
            self._inner.append(0.0)
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent = time.perf_counter() - start
                inner = self._inner.pop()
                self.seconds[name] += spent - inner
                self.calls[name] += 1
                if self._inner:
                    self._inner[-1] += spent

        return timed

    def patch(self, owner: Any, attribute: str, label: str | Callable[..., str]) -> None:
        setattr(owner, attribute, self.time(label, getattr(owner, attribute)))


def size_of(tensor: torch.Tensor) -> str:
    return f"{tensor.shape[3]}×{tensor.shape[2]}"


def instrument(timers: Timers) -> None:
    """Wrap the engine's parts (module attributes, so the painting itself is unchanged)."""
    original_features = Painter.features

    def forward_label(net: Any, precision: Any, rgb: torch.Tensor, layers: Any) -> str:
        if scoring[0]:
            return f"VGG forward, canvas {size_of(rgb)}"
        return "targets: VGG forward of photo and styles"

    scoring = [False]
    Painter.features = staticmethod(timers.time(forward_label, original_features))  # type: ignore[method-assign]
    original_score = engine.optimise.score

    def score(features: Any, recipe: Any, canvas: torch.Tensor, targets: Any) -> Any:
        scoring[0] = True
        timers.canvas = size_of(canvas)
        try:
            return original_score(features, recipe, canvas, targets)
        finally:
            scoring[0] = False

    engine.optimise.score = timers.time(
        lambda f, r, canvas, t: f"Gram and loss terms, forward, canvas {size_of(canvas)}", score
    )
    original_backward = torch.Tensor.backward
    torch.Tensor.backward = timers.time(  # type: ignore[method-assign]
        lambda *a, **k: f"backward (VGG + Gram + losses), canvas {timers.canvas}", original_backward
    )
    timers.patch(BatchLBFGS, "step", "L-BFGS bookkeeping (and the closure's copies)")
    timers.patch(Painter, "detect_faces", "face detection")
    timers.patch(engine.run, "match_colours", "colour: start in the styles' colours")
    timers.patch(engine.run, "in_palette_of", "colour: final palette (and each preview's)")
    timers.patch(engine.run, "image_to_tensor", "resizes (photo, styles to each canvas)")
    timers.patch(engine.optimise, "image_to_tensor", "resizes (photo, styles to each canvas)")
    timers.patch(engine.optimise, "photo_detail", "resizes (warm start: upsample, photo detail)")
    upsample = timers.time("resizes (warm start: upsample, photo detail)", F.interpolate)
    proxy = SimpleNamespace(interpolate=upsample)
    engine.optimise.F = proxy  # type: ignore[assignment]
    timers.patch(engine.run.PaintingRun, "style_targets", "targets: style Grams")
    timers.patch(engine.run.PaintingRun, "content_targets", "targets: content, Laplacian, light")
    timers.patch(engine.run.PaintingRun, "face_guides", "targets: face guides")
    timers.patch(engine.run.PaintingRun, "report", "progress reports and previews (image conversion)")


def vgg_alone(painter: Painter, layers: tuple[str, ...], size: tuple[int, int], repeats: int) -> float:
    """Seconds per forward and backward pass of the network alone at a canvas of `size` (w, h)."""
    net = painter.network(layers, painter.precision)
    canvas = torch.rand(1, 3, size[1], size[0]) * 255
    canvas.requires_grad_(True)
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        features = net(canvas, layers)
        sum(value.mean() for value in features.values()).backward()  # type: ignore[union-attr]
        times.append(time.perf_counter() - start)
        canvas.grad = None
    return statistics.median(times[1:])


def python_start() -> float:
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--photo", default="obama", help="a photo of tests/data/photos (no extension)")
    parser.add_argument("--preset", default="starry_night")
    parser.add_argument("--repeats", type=int, default=5, help="VGG-alone passes per stage")
    args = parser.parse_args()
    torch.manual_seed(0)
    rows: list[tuple[str, float, int]] = [
        ("Python start (bare interpreter)", python_start(), 1),
        ("imports: torch", TORCH_IMPORTED - STARTED, 1),
        ("imports: the engine, Pillow, numpy", IMPORTED - TORCH_IMPORTED, 1),
    ]
    recipe = get_recipe("default")
    start = time.perf_counter()
    painter = Painter("cpu")
    painter.network(recipe.layers, painter.precision_for(recipe))
    rows.append(("weight loading (VGG-19)", time.perf_counter() - start, 1))

    photo_bytes = (ROOT / "tests" / "data" / "photos" / f"{args.photo}.jpg").read_bytes()
    start = time.perf_counter()
    photo = load_image(photo_bytes)
    rows.append(("decode: photo", time.perf_counter() - start, 1))
    start = time.perf_counter()
    style = get_preset(args.preset).image()
    rows.append(("decode: style preset", time.perf_counter() - start, 1))

    timers = Timers()
    instrument(timers)
    previews: list[float] = []
    first_preview: list[float] = []

    def on_progress(progress: Progress) -> None:
        if progress.preview is not None:
            if not first_preview:
                first_preview.append(time.perf_counter() - painting_started)
            encode = time.perf_counter()
            to_jpeg_bytes(progress.preview)
            previews.append(time.perf_counter() - encode)

    painting_started = time.perf_counter()
    result = painter.paint(photo, [style], PaintParams(size=args.size), on_progress=on_progress)
    painting = time.perf_counter() - painting_started
    rows.append(("encode: previews (JPEG)", sum(previews), len(previews)))
    start = time.perf_counter()
    to_png_bytes(result.image)
    rows.append(("encode: painting (PNG)", time.perf_counter() - start, 1))

    parts = sorted(timers.seconds.items(), key=lambda item: item[0])
    rows += [(label, seconds, timers.calls[label]) for label, seconds in parts]
    rows.append(("other (painting, untimed)", painting - sum(timers.seconds.values()), 1))
    total = sum(seconds for _, seconds, _ in rows)

    command = " ".join([".venv/bin/python", *sys.argv])
    print(
        f"`{command}`: {args.photo} × {args.preset}, default recipe, {args.size} px, {result.steps} steps,"
        f" torch {torch.__version__}, {torch.get_num_threads()} threads\n"
    )
    print("| part | seconds | calls | share |\n|---|---:|---:|---:|")
    for label, seconds, calls in rows:
        print(f"| {label} | {seconds:.2f} | {calls} | {seconds / total:.0%} |")
    print(f"| **total** | **{total:.2f}** | | |\n")
    print(f"paint(): {painting:.2f} s; the first preview {first_preview[0]:.2f} s after it began.\n")

    print("| canvas | steps | evaluation per step (fwd + bwd) | VGG alone per step | ≈ Gram and losses |")
    print("|---|---:|---:|---:|---:|")
    run = painter.run(PaintRequest(photo, (style,), PaintParams(size=args.size)), faces=())
    for stage in run.stages:
        size = run.canvas_size(stage)
        label = f"{size[0]}×{size[1]}"
        evaluation = (
            timers.seconds[f"VGG forward, canvas {label}"]
            + timers.seconds[f"Gram and loss terms, forward, canvas {label}"]
            + timers.seconds[f"backward (VGG + Gram + losses), canvas {label}"]
        ) / max(1, timers.calls[f"Gram and loss terms, forward, canvas {label}"])
        alone = vgg_alone(painter, recipe.layers, size, args.repeats)
        print(f"| {label} | {stage.steps} | {evaluation:.3f} | {alone:.3f} | {evaluation - alone:.3f} |")


if __name__ == "__main__":
    main()
