"""Render photos × presets with one recipe into a labelled grid: how the default looks on selfies.

    .venv/bin/python bench/contact_sheet.py                       # docs/contact_sheet.jpg, 256 px
    .venv/bin/python bench/contact_sheet.py --photos obama --presets starry_night the_scream \\
        --size 128 --style-weight 2 --out /tmp/try.jpg             # a quick tuning look

Each cell is painted from scratch (no style cache), so the timings printed are honest per-painting
figures on this machine; they are also written under the grid.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the checkout's packages, even without an install

from drawme.models import Blend, PaintParams  # noqa: E402
from drawme.presets import PRESETS, get_preset  # noqa: E402
from engine.painter import Painter  # noqa: E402 - after the path tweak for direct runs

PHOTOS = ROOT / "tests" / "data" / "photos"
LABEL_HEIGHT = 18


def paint_grid(args: argparse.Namespace) -> tuple[Image.Image, list[float]]:
    painter = Painter(device=args.device)
    photos = [Image.open(PHOTOS / f"{name}.jpg").convert("RGB") for name in args.photos]
    params = PaintParams(
        size=args.size,
        blend=Blend(content=args.content_weight, style=args.style_weight, tv=args.tv_weight),
        preserve_colors=args.preserve_colors,
        recipe=args.recipe,
    )
    cell = args.size
    width = cell * (len(args.presets) + 1)
    height = (cell + LABEL_HEIGHT) * len(photos) + 2 * LABEL_HEIGHT
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    seconds: list[float] = []
    for row, (name, photo) in enumerate(zip(args.photos, photos, strict=True)):
        top = row * (cell + LABEL_HEIGHT)
        thumb = photo.copy()
        thumb.thumbnail((cell, cell), Image.LANCZOS)
        sheet.paste(thumb, (0, top))
        draw.text((4, top + cell + 2), name, fill="black")
        for column, preset_id in enumerate(args.presets, start=1):
            preset = get_preset(preset_id)
            result = painter.paint(photo, [preset.image()], params, iterations=args.iterations)
            seconds.append(result.seconds)
            print(f"{name:>10} × {preset_id:<16} {result.seconds:6.1f} s  loss {result.losses['total']:.4g}",
                  flush=True)
            sheet.paste(result.image, (column * cell, top))
            draw.text((column * cell + 4, top + cell + 2), preset_id, fill="black")
    footer = (f"recipe={args.recipe} size={args.size} weights c={args.content_weight} s={args.style_weight} "
              f"tv={args.tv_weight}  median {statistics.median(seconds):.0f} s/painting on {painter.device}")
    draw.text((4, sheet.height - 2 * LABEL_HEIGHT + 4), footer, fill="black")
    return sheet, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", nargs="+", default=["astronaut", "obama", "biden"])
    parser.add_argument("--presets", nargs="+", default=list(PRESETS), choices=list(PRESETS))
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--recipe", default="default")
    parser.add_argument("--content-weight", type=float, default=1.0)
    parser.add_argument("--style-weight", type=float, default=1.0)
    parser.add_argument("--tv-weight", type=float, default=1.0)
    parser.add_argument("--preserve-colors", action="store_true")
    parser.add_argument("--iterations", type=int)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "contact_sheet.jpg")
    args = parser.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    sheet, seconds = paint_grid(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out, quality=85, optimize=True)
    print(f"{args.out}: {len(seconds)} paintings, median {statistics.median(seconds):.1f} s, "
          f"total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
