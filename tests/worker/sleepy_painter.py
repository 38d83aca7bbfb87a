"""A fake `drawme.painting.Painter` for tests of the worker loop (no torch, no VGG).

It "paints" by blending the photo with the style picture over a number of steps, sleeping between
them, so a test can catch a job mid-painting (SIGKILL, SIGTERM, cancel). A real worker process runs
with it injected: `python -m worker.sleepy_painter` (tests/ on PYTHONPATH) is `python -m engine serve`
with this painter; the environment variables SLEEPY_STEPS (default 20) and SLEEPY_DELAY (seconds per
step, default 0.05) set its pace.
"""

from __future__ import annotations

import os
import pathlib
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace

from PIL import Image

from drawme.models import PaintParams
from drawme.painting import PaintResult, Progress

SCALES = 2


@dataclass
class Painter:
    device: str = "cpu"
    cache_dir: pathlib.Path | None = None
    steps: int = field(default_factory=lambda: int(os.environ.get("SLEEPY_STEPS", "20")))
    delay: float = field(default_factory=lambda: float(os.environ.get("SLEEPY_DELAY", "0.05")))
    out_of_memory_above: int | None = None  # raise torch.OutOfMemoryError for sizes above this
    calls: list[PaintParams] = field(default_factory=list)
    styles_seen: list[int] = field(default_factory=list)  # how many style pictures each call got

    def __post_init__(self) -> None:
        self.device = SimpleNamespace(type="cpu" if self.device == "auto" else self.device)

    def paint(
        self,
        content: Image.Image,
        styles: Sequence[Image.Image],
        params: PaintParams = PaintParams(),
        *,
        on_progress: Callable[[Progress], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        cache_styles: bool = False,
        iterations: int | None = None,
        preview_every: int = 0,
    ) -> PaintResult:
        self.calls.append(params)
        self.styles_seen.append(len(styles))
        if self.out_of_memory_above is not None and params.size > self.out_of_memory_above:
            import torch

            raise torch.OutOfMemoryError("CUDA out of memory (sleepy painter)")
        start = time.monotonic()
        scale = params.size / max(content.size)
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


if __name__ == "__main__":
    from drawme import entry
    from engine import worker

    # Protected like `python -m engine serve`: a configuration error is one line and exit 78.
    def sleepy(config: object) -> Painter:
        return Painter(device=config.device)

    sys.exit(entry.run("engine", lambda: worker.main(sys.argv[1:], make_painter=sleepy)))
