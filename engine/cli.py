"""`python -m engine paint` (also `drawme-paint`): paint one picture from the command line.

The seed project's command (`base reference prefix` with the Keras example's flags) paints with the
seed recipe and says so in one line; `--recipe NAME` paints with another recipe instead:

    .venv/bin/python -m engine paint base.jpg ref.jpg results/prefix --iter 10 \\
        --content_weight 0.025 --style_weight 1.0 --tv_weight 1.0

The bot's way, with a preset painting instead of a reference image:

    .venv/bin/python -m engine paint tests/data/photos/astronaut.jpg --preset starry_night \\
        results/astro --size 384

Several styles, blended (weights normalised to 1), and faces painted over instead of protected:

    .venv/bin/python -m engine paint photo.jpg results/mix --style a.jpg --style b.jpg \\
        --blend 0.7,0.3 --no-faces

The weights on the command line are ABSOLUTE, as in the Keras example (0.025 content, 1.0 style, 1.0 TV
are the seed recipe's own); the engine takes the user's `Blend`, multipliers of the recipe's weights
within the bot's bounds (0 to 10), so we divide.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO

from drawme import entry
from drawme.config import PRECISIONS
from drawme.decoding import ImageError, load_image
from drawme.models import WEIGHT_MAX, Blend, PaintParams, Term
from drawme.painting import AUTO
from drawme.presets import PRESETS, get_preset
from engine import memory
from engine.encoding import save_image
from engine.recipes import RECIPES, Recipe, get_recipe

if TYPE_CHECKING:
    from PIL import Image

    from drawme.painting import PaintResult, Progress

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


# The Keras example's flags (argparse's dests): any of them in `base reference prefix` without --recipe
# selects the seed recipe.
KERAS_FLAGS = ("iterations", "content_weight", "style_weight", "tv_weight")
SEED_BY_FLAGS = (
    "note: the Keras example's flags (--iter, --content_weight, --style_weight, --tv_weight) select the "
    "seed recipe; add --recipe default to paint with the default recipe instead"
)


class UsageError(Exception):
    """Bad arguments or inputs: one line for the user, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    """The `paint` command's arguments (underscore and dash spellings of the weights both work)."""
    parser = argparse.ArgumentParser(
        prog="python -m engine paint",
        description="Paint a photo in the style of a painting (Gatys et al. neural style transfer).",
    )
    parser.add_argument("base", type=Path, help="the photo to paint (content image)")
    parser.add_argument(
        "paths",
        nargs="+",
        metavar="[reference] prefix",
        help="the painting to copy the style of (omit it with --preset), then the result prefix",
    )
    parser.add_argument("--preset", help=f"a preset painting instead of a reference: {', '.join(PRESETS)}")
    parser.add_argument(
        "--style",
        dest="styles",
        action="append",
        type=Path,
        default=[],
        metavar="IMAGE",
        help="a (further) painting to copy the style of; repeat it to blend several",
    )
    parser.add_argument(
        "--blend",
        default=None,
        metavar="W1,W2,...",
        help="one weight per style, in order (reference or preset first, then each --style); default equal",
    )
    parser.add_argument(
        "--faces",
        dest="protect_faces",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="protect faces: keep them closer to the photo, with less texture (default: on)",
    )
    parser.add_argument(
        "--recipe",
        default=None,
        help=f"one of: {', '.join(RECIPES)}; default: default, or seed with any of the Keras example's flags",
    )
    parser.add_argument("--size", type=int, default=384, help="output long side in px (default: 384)")
    parser.add_argument(
        "--iter",
        "--iterations",
        dest="iterations",
        type=int,
        default=None,
        help="seed recipe: L-BFGS rounds (default 10); others: total steps",
    )
    for term in Term:
        parser.add_argument(
            f"--{term}_weight",
            f"--{term}-weight",
            dest=f"{term}_weight",
            type=float,
            default=None,
            help=f"absolute {term} weight (default: the recipe's own)",
        )
    parser.add_argument(
        "--preserve-colors",
        "--preserve_colors",
        action="store_true",
        help="transfer texture only, keep the photo's colours",
    )
    parser.add_argument(
        "--style-scale",
        "--style_scale",
        type=float,
        default=1.0,
        help="style image size relative to the output (default: 1.0)",
    )
    parser.add_argument("--device", default="auto", help="auto, cuda, mps or cpu (default: auto)")
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=AUTO,
        help="the convolutions' number format; auto: bfloat16 on a GPU or a CPU with native bfloat16, "
        "else float32 (default: auto)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed; -1 for a different run each time")
    parser.add_argument("--preview-every", type=int, default=0, help="also save a preview every N steps")
    parser.add_argument(
        "--output",
        "-o",
        type=Path,
        default=None,
        help="final image path (default: <prefix>.png; a .jpg suffix saves JPEG)",
    )
    parser.add_argument("--jpeg", action="store_true", help="save the final image as <prefix>.jpg")
    parser.add_argument("--cache-dir", type=Path, default=None, help="cache presets' style targets here")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    return parser


def recipe_name(args: argparse.Namespace) -> str:
    """--recipe when given; otherwise seed for the seed's own command line (`base reference prefix`
    with any of the Keras example's flags), else default."""
    if args.recipe is not None:
        return str(args.recipe)
    seed_form = len(args.paths) == 2 and not args.preset and not args.styles
    keras = any(getattr(args, flag) is not None for flag in KERAS_FLAGS)
    return "seed" if seed_form and keras else "default"


def relative_weight(term: Term, given: float | None, recipe: Recipe) -> float:
    """Turn an absolute weight from the command line into a multiplier of the recipe's own weight: a
    `Blend` term, so at most WEIGHT_MAX."""
    if given is None:
        return 1.0
    own = getattr(recipe, f"{term}_weight")
    if not math.isfinite(given):
        raise UsageError(f"--{term}_weight must be a finite number, got {given}")
    if given < 0:
        raise UsageError(f"--{term}_weight must not be negative, got {given}")
    if own == 0:
        if given == 0:
            return 1.0
        raise UsageError(f"the {recipe.name} recipe has no {term} term, so --{term}_weight cannot be set")
    if given / own > WEIGHT_MAX:
        raise UsageError(
            f"--{term}_weight may be at most {WEIGHT_MAX:g} times the {recipe.name} recipe's own {own:g}, "
            f"i.e. {own * WEIGHT_MAX:g}; got {given:g}"
        )
    return given / own


class ProgressBar:
    """A one-line text progress bar with an ETA, redrawn in place with `\r` (at most every 0.2 s).

    The bar and the ETA follow `Progress.work` (steps weighted by canvas area), not the step count:
    a step on a full-size canvas costs about nine at a third of the size. When the stream is not a
    terminal (a log file, CI), it writes a plain line every `LOG_INTERVAL` seconds instead.
    """

    LOG_INTERVAL = 10.0

    def __init__(self, stream: TextIO, width: int = 24, interval: float = 0.2) -> None:
        self.stream, self.width = stream, width
        isatty = getattr(stream, "isatty", None)
        self.in_place = isatty() if callable(isatty) else True
        self.interval = interval if self.in_place else max(interval, self.LOG_INTERVAL)
        self._line_start = "\r" if self.in_place else ""
        self._last_draw = -math.inf
        self._drawn = False

    def __call__(self, progress: Progress) -> None:
        self.update(progress)

    def update(self, progress: Progress) -> None:
        """Redraw for `progress` unless the last redraw was under `interval` ago (the end always draws)."""
        now = time.monotonic()
        if now - self._last_draw < self.interval and progress.step < progress.total:
            return
        self._last_draw = now
        fraction = min(1.0, max(0.0, progress.work))
        filled = int(fraction * self.width)
        eta = progress.elapsed / fraction * (1.0 - fraction) if fraction > 0 else None
        loss = progress.losses.get("total")
        parts = [
            f"{self._line_start}[{'#' * filled}{'.' * (self.width - filled)}] {fraction:4.0%}",
            f"step {progress.step}/{progress.total}",
            f"scale {progress.scale}/{progress.scales}",
            f"loss {loss:.4g}" if loss is not None else "",
            f"elapsed {_clock(progress.elapsed)} ETA {_clock(eta)}  ",
        ]
        self.stream.write(" ".join(part for part in parts if part) + ("" if self.in_place else "\n"))
        self.stream.flush()
        self._drawn = self.in_place  # a line-by-line log needs no closing newline

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()


def _clock(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "--:--"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}" if minutes >= 60 else f"{minutes}:{secs:02d}"


def _inputs(args: argparse.Namespace) -> tuple[Path | None, Path]:
    """(reference image or None, result prefix) from the positional arguments."""
    if len(args.paths) > 2:
        raise UsageError("expected: base [reference] prefix")
    if len(args.paths) == 2:
        if args.preset:
            raise UsageError("give either a reference image or --preset, not both")
        return Path(args.paths[0]), Path(args.paths[1])
    if not args.preset and not args.styles:
        raise UsageError("no style: give a reference image (base reference prefix), --preset ID or --style")
    return None, Path(args.paths[0])


def parse_blend(text: str | None, count: int) -> tuple[float, ...]:
    """`--blend 0.7,0.3` as weights, one per style (`PaintParams.mix_blend`); () (equal) when not given."""
    if text is None:
        return ()
    try:
        weights = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise UsageError(f"--blend takes numbers separated by commas, e.g. 0.7,0.3; got {text!r}") from None
    if len(weights) != count:
        raise UsageError(f"--blend has {len(weights)} weights for {count} styles")
    if any(not math.isfinite(w) or w < 0 for w in weights) or sum(weights) <= 0:
        raise UsageError("--blend weights must be non-negative and not all zero")
    return weights


def _read(path: Path, role: str) -> Image.Image:
    try:
        return load_image(path)
    except FileNotFoundError:
        raise UsageError(f"{role} image {str(path)!r} does not exist") from None
    except IsADirectoryError:
        raise UsageError(f"{role} image {str(path)!r} is a directory") from None
    except ImageError as error:
        raise UsageError(f"{role} image {str(path)!r}: {error}") from None


def _final_path(args: argparse.Namespace, prefix: Path, recipe: str) -> Path | None:
    if args.output is not None:
        return args.output
    if recipe == "seed" and not args.jpeg:
        return None  # the Keras example writes only its per-round images
    return prefix.with_name(prefix.name + (".jpg" if args.jpeg else ".png"))


class _StopOnInterrupt:
    """The first Ctrl-C asks the painter to stop (the canvas so far is saved); a second one aborts."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Callable[[int, FrameType | None], Any] | int | None = None

    def __enter__(self) -> _StopOnInterrupt:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

    def _handle(self, signum: int, frame: object) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True


def check_memory(args: argparse.Namespace, recipe: Recipe) -> None:
    """Refuse a --size or --style-scale the device has no memory for, before anything is allocated."""
    device: object = "cpu"  # no need to load torch to know
    try:
        if args.device != "cpu":
            from engine.painter import pick_device

            device = pick_device(args.device)
        available = memory.available_bytes(device)
    except (RuntimeError, ValueError, AssertionError) as error:  # e.g. "cuda" on a machine without one
        raise UsageError(f"device {args.device!r} is not available: {error}") from None
    history = memory.history_pairs(recipe)
    need = memory.check(args.size, args.style_scale, history, available)
    if need is None:
        return
    scale = f"{args.style_scale:g}"
    if need.largest_size:
        advice = f"the largest --size that fits at --style-scale {scale} is {need.largest_size}"
    else:
        advice = f"no --size fits at --style-scale {scale}"
    largest_scale = memory.largest_style_scale(available, args.size, history)
    if args.style_scale != 1 and largest_scale > 0:
        advice += f", and the largest --style-scale that fits at --size {args.size} is {largest_scale:g}"
    where = getattr(device, "type", device)
    raise UsageError(
        f"--size {args.size} with --style-scale {scale} needs about {memory.describe(need.needed)} "
        f"of memory, and {where} has {memory.describe(need.available)} free: {advice}"
    )


def prepare(args: argparse.Namespace) -> tuple[Image.Image, list[Image.Image], PaintParams, Path]:
    """Check the arguments and load the pictures: (photo, paintings, params, result prefix).

    Raises UsageError for anything wrong, before torch is even imported.
    """
    try:
        recipe = get_recipe(recipe_name(args))
    except KeyError:
        raise UsageError(f"unknown recipe {args.recipe!r}; choose one of: {', '.join(RECIPES)}") from None
    reference, prefix = _inputs(args)
    if args.size < 16 or (args.iterations is not None and args.iterations < 1) or not args.style_scale > 0:
        raise UsageError("--size must be at least 16, --iter at least 1 and --style-scale positive")
    check_memory(args, recipe)
    weights = {term.value: relative_weight(term, getattr(args, f"{term}_weight"), recipe) for term in Term}
    blend = Blend(**weights)
    mix_blend = parse_blend(args.blend, int(reference is not None or bool(args.preset)) + len(args.styles))
    content = _read(args.base, "base")
    styles = [_read(reference, "reference")] if reference is not None else []
    if args.preset:
        try:
            styles.append(get_preset(args.preset).image())
        except KeyError:
            raise UsageError(f"unknown preset {args.preset!r}; choose one of: {', '.join(PRESETS)}") from None
    styles += [_read(path, "style") for path in args.styles]
    params = PaintParams(
        size=args.size,
        blend=blend,
        preserve_colors=args.preserve_colors,
        recipe=recipe.name,
        style_scale=args.style_scale,
        seed=args.seed,
        protect_faces=args.protect_faces,
        mix_blend=mix_blend,
    )
    return content, styles, params, prefix


def paint(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run one painting as `args` describe (report to `out`, progress bar on `err`); the exit status.

    Raises UsageError for bad arguments or inputs.
    """
    out, err = out or sys.stdout, err or sys.stderr
    content, styles, params, prefix = prepare(args)
    if args.recipe is None and params.recipe == "seed":
        print(SEED_BY_FLAGS, file=err)
    import torch  # torch loads only now, once the arguments are good

    from engine.painter import Painter

    try:
        painter = Painter(device=args.device, cache_dir=args.cache_dir, precision=args.precision)
        torch.zeros(1, device=painter.device)  # "cuda" on a machine without one fails here, not mid-paint
    except (RuntimeError, ValueError, AssertionError) as error:
        raise UsageError(f"device {args.device!r} is not available: {error}") from None
    bar = None if args.quiet else ProgressBar(err)
    saver = PreviewSaver(prefix, per_round=params.recipe == "seed", every_preview=args.preview_every > 0)
    with _StopOnInterrupt() as interrupt:
        try:
            result = painter.paint(
                content,
                styles,
                params,
                on_progress=_each(bar, saver),
                should_stop=lambda: interrupt.requested,
                cache_styles=args.preset is not None and not args.styles and args.cache_dir is not None,
                iterations=args.iterations,
                preview_every=args.preview_every,
            )
        except torch.OutOfMemoryError:
            print(
                f"error: out of memory painting at --size {args.size} on {painter.device}; "
                "try a smaller --size",
                file=err,
            )
            return EXIT_FAILED
        finally:
            if bar is not None:
                bar.close()
    saver.finish(result)
    final = _final_path(args, prefix, params.recipe)
    if final is not None:
        saver.written.append(save_image(result.image, final))
    report(result, saver.written, out)
    return EXIT_INTERRUPTED if result.cancelled else EXIT_OK


class PreviewSaver:
    """Saves the painter's previews as files, as the Keras example does.

    Seed recipe: `<prefix>_at_iteration_<i>.png` at the end of each round (i counts from 0).
    Other recipes with --preview-every: `<prefix>_at_step_<n>.png` for every preview.
    """

    def __init__(self, prefix: Path, per_round: bool, every_preview: bool) -> None:
        self.prefix, self.per_round, self.every_preview = prefix, per_round, every_preview
        self.written: list[Path] = []

    def _path(self, suffix: str) -> Path:
        return self.prefix.with_name(f"{self.prefix.name}_{suffix}.png")

    def __call__(self, progress: Progress) -> None:
        if progress.preview is None:
            return
        if self.per_round:
            path = self._path(f"at_iteration_{progress.scale - 1}")
        elif self.every_preview:
            path = self._path(f"at_step_{progress.step}")
        else:
            return
        save_image(progress.preview, path)
        if path not in self.written:  # a round may report twice (early convergence): overwritten
            self.written.append(path)

    def finish(self, result: PaintResult) -> None:
        """Make sure the last round's image is the final canvas, even if no preview came for it."""
        if self.per_round and self.written and not result.cancelled:
            save_image(result.image, self.written[-1])


def _each(*callbacks: Callable[[Progress], None] | None) -> Callable[[Progress], None]:
    """One on_progress callback that calls each of `callbacks` (None ones skipped) in turn."""
    active = [callback for callback in callbacks if callback is not None]

    def on_progress(progress: Progress) -> None:
        for callback in active:
            callback(progress)

    return on_progress


def report(result: PaintResult, written: Sequence[Path], out: TextIO) -> None:
    """Print the final loss terms, the time taken and the files written."""
    losses = "  ".join(f"{name} {value:.6g}" for name, value in result.losses.items())
    state = "stopped early" if result.cancelled else "done"
    print(f"{state}: {result.steps} steps in {result.seconds:.1f} s on {result.device}", file=out)
    print(f"losses: {losses}", file=out)
    for path in written:
        print(f"saved {path}", file=out)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m engine paint` and `drawme-paint`; returns the exit status."""
    try:
        args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exit:  # --help (0) or a usage error (2), already printed by argparse
        return int(exit.code or 0)
    try:
        return paint(args)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as error:  # e.g. the result directory is not writable
        print(f"error: {error.strerror or error} ({error.filename or ''})", file=sys.stderr)
        return EXIT_FAILED


def console() -> int:
    """The `drawme-paint` script: `main`, with secrets kept out of every output."""
    return entry.run("drawme-paint", main)


if __name__ == "__main__":
    sys.exit(console())
