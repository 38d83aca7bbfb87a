"""A stand-in for `engine.painter` with the same API, for tests of the worker loop (no torch, no VGG).

It "paints" by blending the photo with the style picture over a number of steps, sleeping between
them, so a test can catch a job mid-painting (SIGKILL, SIGTERM, cancel). Used in a real worker process
with `python -m engine serve --painter sleepy_painter` (tests/worker on PYTHONPATH); the environment
variables SLEEPY_STEPS (default 20) and SLEEPY_DELAY (seconds per step, default 0.05) set its pace.
"""

from __future__ import annotations

import os
import pathlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace

from PIL import Image

SCALES = 2


@dataclass(frozen=True)
class PaintOptions:
    size: int = 384
    recipe: str = "default"
    content_weight: float = 1.0
    style_weight: float = 1.0
    tv_weight: float = 1.0
    preserve_colors: bool = False
    style_scale: float = 1.0
    style_blend: tuple[float, ...] | None = None
    seed: int | None = 0
    iterations: int | None = None
    preview_every: int = 0


@dataclass(frozen=True)
class Progress:
    scale: int
    scales: int
    step: int
    total: int
    losses: dict[str, float]
    elapsed: float
    preview: Image.Image | None
    work: float = 0.0


@dataclass(frozen=True)
class PaintResult:
    image: Image.Image
    losses: dict[str, float]
    steps: int
    seconds: float
    cancelled: bool
    device: str


@dataclass
class Painter:
    device: str = "cpu"
    cache_dir: pathlib.Path | None = None
    steps: int = field(default_factory=lambda: int(os.environ.get("SLEEPY_STEPS", "20")))
    delay: float = field(default_factory=lambda: float(os.environ.get("SLEEPY_DELAY", "0.05")))
    out_of_memory_above: int | None = None  # raise torch.OutOfMemoryError for sizes above this
    calls: list[PaintOptions] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.device = SimpleNamespace(type="cpu" if self.device == "auto" else self.device)

    def paint(
        self,
        content: Image.Image,
        styles: Sequence[Image.Image],
        options: PaintOptions = PaintOptions(),
        *,
        on_progress: Callable[[Progress], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        cache_styles: bool = False,
    ) -> PaintResult:
        self.calls.append(options)
        if self.out_of_memory_above is not None and options.size > self.out_of_memory_above:
            import torch

            raise torch.OutOfMemoryError("CUDA out of memory (sleepy painter)")
        start = time.monotonic()
        scale = options.size / max(content.size)
        size = (max(1, round(content.width * scale)), max(1, round(content.height * scale)))
        photo = content.resize(size)
        style = styles[0].resize(size)
        canvas = photo
        for step in range(1, self.steps + 1):
            if should_stop is not None and should_stop():
                return PaintResult(canvas, {"total": 1.0}, step - 1, time.monotonic() - start, True, "cpu")
            time.sleep(self.delay)
            canvas = Image.blend(photo, style, 0.5 * step / self.steps)
            per_scale = self.steps // SCALES or 1
            scale_end = step % per_scale == 0 or step == self.steps
            if on_progress is not None:
                on_progress(
                    Progress(
                        scale=min(SCALES, (step - 1) // per_scale + 1),
                        scales=SCALES,
                        step=step,
                        total=self.steps,
                        losses={"content": 1.0 / step, "style": 2.0 / step, "tv": 0.1, "total": 3.1 / step},
                        elapsed=time.monotonic() - start,
                        preview=canvas if scale_end else None,
                        work=step / self.steps,
                    )
                )
        return PaintResult(
            canvas, {"total": 3.1 / self.steps}, self.steps, time.monotonic() - start, False, "cpu"
        )
