"""Quality bench: identity, layout, style likeness and time per painting, judged off VGG-19 (bench/judges.py).

    .venv/bin/python bench/quality.py --variants seed default:nofaces default \\
        --photos biden pair group3 astronaut --presets starry_night the_scream --sizes 256 \\
        --out /tmp/quality.jsonl --images /tmp/quality
    .venv/bin/python bench/quality.py --summary /tmp/quality.jsonl     # the tables only
    .venv/bin/python bench/quality.py --rejudge /tmp/quality.jsonl --images /tmp/quality \
        --out /tmp/rejudged.jsonl                                        # the saved paintings, judged again
    .venv/bin/python bench/quality.py --evaluation-cost --variants default default:nofaces --sizes 384
    .venv/bin/python bench/quality.py --summary /tmp/quality.jsonl --sheet docs/faces_sheet.jpg \
        --images /tmp/quality                                            # and a before/after sheet

A variant is `recipe[:nofaces][,field=value...]`; fields override the recipe (e.g.
`default,face_content=6,face_style=0.2`; `steps=40/40/20` re-splits the schedule's steps;
`style_layers=1/1/0.3/0.1/0` weighs block1..5_relu1 at 1/C² times each factor (the default's);
`laplacian_on=luma` sets a string field; `style_scale=0.5` is the painting option).
Each painting is one JSON line, written as soon as it is done, so a long run can be summarised
while it goes on. Pictures: bench/faces.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from bench.faces import load_photo  # noqa: E402
from bench.judges import SAME_PERSON, FaceJudge, StyleJudge, layout, lightness  # noqa: E402
from drawme.presets import get_preset  # noqa: E402
from engine import recipes  # noqa: E402
from engine.faces import Face  # noqa: E402
from engine.painter import Painter, PaintOptions  # noqa: E402


def field_value(recipe: recipes.Recipe, field: str, text: str) -> object:
    """A recipe field's override from text: `steps=40/40/20` re-splits the stages' steps, `stages=0.5:80/1:30`
    sets each stage's scale and steps,
    `style_layers=1/1/0.3/0.1/0` weighs block1..5_relu1 at 1/C² × each factor, a string field the text,
    any other field a number."""
    if field == "steps":
        steps = [int(n) for n in text.split("/")]
        if len(steps) != len(recipe.stages):
            raise ValueError(f"{recipe.name} has {len(recipe.stages)} stages, not {len(steps)}")
        return tuple(dataclasses.replace(s, steps=n) for s, n in zip(recipe.stages, steps, strict=True))
    if field == "stages":  # `stages=0.5:80/1:30`: each stage's scale and steps
        pairs = [part.split(":") for part in text.split("/")]
        return tuple(recipes.Stage(float(scale), int(steps)) for scale, steps in pairs)
    if field == "style_layers":
        factors = tuple(float(n) for n in text.split("/"))
        if len(factors) != len(recipes.RELU1):
            raise ValueError(f"style_layers takes one factor per block1..5_relu1, not {len(factors)}")
        return recipes.relu1_weights(1.0, factors)
    current = getattr(recipe, field)
    # A field takes the text as its own type: an enum (Start) refuses a value it does not know; a flag
    # reads a number (final_palette=0, warm_start_detail=0).
    return type(current)(text) if isinstance(current, str) else type(current)(float(text))


def variant_options(spec: str, size: int) -> PaintOptions:
    """PaintOptions for a variant spec; overridden recipes are registered under the spec itself."""
    head, *overrides = spec.split(",")
    name, _, flag = head.partition(":")
    recipe = recipes.get_recipe(name)
    pairs = [item.split("=") for item in overrides]
    # `style_scale` is a painting option (the style image's size), not a recipe field.
    options = {key: float(value) for key, value in pairs if key == "style_scale"}
    fields = {
        "stages" if key == "steps" else key: field_value(recipe, key, value)
        for key, value in pairs
        if key not in options
    }
    if fields:
        # The overrides apply to the recipe as it paints at this size (Recipe.at_sizes), and stick.
        recipe = dataclasses.replace(recipe.at_size(size), name=spec, at_sizes=(), **fields)
        recipes.RECIPES[spec] = recipe
    return PaintOptions(size=size, recipe=recipe.name, faces=flag != "nofaces", **options)


def evaluation_seconds(specs: list[str], size: int = 384, repeats: int = 6, photo: str = "astronaut") -> str:
    """Seconds per loss evaluation (+ backward) of the full-size stage, variants side by side.

    The evaluations are interleaved, so the machine's load hits every variant alike; medians."""
    import statistics
    import time

    from engine.painter import PaintRequest, _Run, image_to_tensor

    painter, picture = Painter(), load_photo(photo)
    styles = [get_preset("starry_night").image()]
    runs = {}
    for spec in specs:
        run = _Run(painter, PaintRequest(picture, styles, variant_options(spec, size)))
        canvas = run.canvas_size(run.stages[-1])
        pixels = image_to_tensor(run.content, canvas, run.recipe.resample)
        targets = (run.content_targets(pixels), run.style_targets(canvas), run.face_guides(pixels))
        run.canvas = pixels.clone().requires_grad_(True)
        runs[spec] = (run, targets)
    seconds: dict[str, list[float]] = {spec: [] for spec in specs}
    for _ in range(repeats):
        for spec, (run, targets) in runs.items():
            start = time.perf_counter()
            run.objective(*targets).backward()
            seconds[spec].append(time.perf_counter() - start)
    first = statistics.median(seconds[specs[0]])
    return "\n".join(
        f"{size} px {photo}, {len(runs[spec][0].faces)} face(s), `{spec}`: "
        f"{statistics.median(seconds[spec]):.2f} s ({statistics.median(seconds[spec]) / first:.3f}×), "
        f"median of {repeats}"
        for spec in specs
    )


def judged(
    faces: FaceJudge,
    styles: StyleJudge,
    photo: Image.Image,
    photo_faces: list[Face],
    painting: Image.Image,
    style: Image.Image,
) -> dict[str, object]:
    """Every judge's verdict on one painting: face distances, layout, and the style likenesses."""
    return {
        "distances": [round(d, 4) for d in faces.distances(photo, painting, photo_faces)],
        "layout": round(layout(photo, painting), 4),
        "lightness": round(lightness(photo, painting), 3),
        **{k: round(v, 4) for k, v in styles.likeness(photo, painting, style).items()},
    }


def run(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    painter = Painter()
    faces, styles = FaceJudge(), StyleJudge()
    out = open(args.out, "a")  # noqa: SIM115 - one line per painting, flushed as it comes
    for size in args.sizes:
        for photo_name in args.photos:
            photo = load_photo(photo_name)
            photo_faces = faces.faces(photo)
            for preset_id in args.presets:
                style = get_preset(preset_id).image()
                for spec in args.variants:
                    result = painter.paint(photo, [style], variant_options(spec, size))
                    row = {
                        "variant": spec,
                        "photo": photo_name,
                        "preset": preset_id,
                        "size": size,
                        "seconds": round(result.seconds, 2),
                        "steps": result.steps,
                        "faces_protected": len(result.faces),
                        **judged(faces, styles, photo, photo_faces, result.image, style),
                    }
                    print(json.dumps(row), file=out, flush=True)
                    print(json.dumps(row), flush=True)
                    if args.images:
                        path = image_path(Path(args.images), photo_name, preset_id, size, spec)
                        path.parent.mkdir(parents=True, exist_ok=True)
                        result.image.save(path)


def image_path(folder: Path, photo: str, preset: str, size: int, variant: str) -> Path:
    safe = variant.replace(":", "-").replace(",", "_").replace("=", "").replace("/", "~")
    return folder / f"{photo}-{preset}-{size}-{safe}.png"


def sheet(path: str, folder: Path, out: Path, cell: int = 256) -> None:
    """A grid: one row per (photo, preset, size) painted by every variant, the photo first; labelled."""
    from PIL import Image, ImageDraw

    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    keys = list(dict.fromkeys((r["photo"], r["preset"], r["size"]) for r in rows))
    scores = {(r["photo"], r["preset"], r["size"], r["variant"]): r for r in rows}
    label = 30
    grid = Image.new("RGB", (cell * (len(variants) + 1), (cell + label) * len(keys) + label), "white")
    draw = ImageDraw.Draw(grid)
    for column, variant in enumerate(["photo", *variants]):
        draw.text((column * cell + 4, 4), variant, fill="black")
    for row, (photo, preset, size) in enumerate(keys):
        top = label + row * (cell + label)
        thumb = load_photo(photo)
        thumb.thumbnail((cell, cell))
        grid.paste(thumb, (0, top))
        draw.text((4, top + cell + 2), f"{photo} x {preset} @ {size}", fill="black")
        for column, variant in enumerate(variants, start=1):
            file = image_path(folder, photo, preset, size, variant)
            if not file.exists():
                continue
            with Image.open(file) as painted:
                painted = painted.convert("RGB")
                painted.thumbnail((cell, cell))
                grid.paste(painted, (column * cell, top))
            result = scores[(photo, preset, size, variant)]
            faces = " ".join(f"{d:.2f}" for d in result["distances"])
            draw.text(
                (column * cell + 4, top + cell + 2),
                f"id {faces} | layout {result['layout']:.2f} | {result['seconds']:.0f} s",
                fill="black",
            )
    grid.save(out, quality=85, optimize=True)


def rejudge(path: str, folder: Path, out: str) -> None:
    """Judge again the paintings an earlier run saved (--images), e.g. after a judge was added."""
    faces, styles = FaceJudge(), StyleJudge()
    with open(out, "a") as sink:
        for line in Path(path).read_text().splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            file = image_path(folder, row["photo"], row["preset"], row["size"], row["variant"])
            if not file.exists():
                continue
            photo, style = load_photo(row["photo"]), get_preset(row["preset"]).image()
            with Image.open(file) as saved:
                painting = saved.convert("RGB")
            row.update(judged(faces, styles, photo, faces.faces(photo), painting, style))
            print(json.dumps(row), file=sink, flush=True)


def summary(path: str) -> str:
    """Markdown tables: per variant and size, faces recognised, distances, layout, style, time."""
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    latest = {(r["variant"], r["photo"], r["preset"], r["size"]): r for r in rows}  # a rerun replaces
    rows = list(latest.values())
    groups: dict[tuple[int, str], list[dict]] = defaultdict(list)
    for row in rows:
        groups[(row["size"], row["variant"])].append(row)
    lines = [
        "| size | variant | paintings | faces recognised | mean distance | layout SSIM | ΔL* | texture "
        "| motifs | colour | median s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def mean(group: list[dict], key: str, digits: int = 3) -> str:  # older runs lack a newer judge's key
        values = [r[key] for r in group if key in r]
        return f"{statistics.mean(values):.{digits}f}" if len(values) == len(group) else "–"

    for (size, variant), group in sorted(groups.items()):
        distances = [d for row in group for d in row["distances"]]
        kept = sum(d < SAME_PERSON for d in distances)
        share = 100 * kept / max(1, len(distances))
        lines.append(
            f"| {size} | `{variant}` | {len(group)} | {kept}/{len(distances)} ({share:.0f}%) "
            f"| {statistics.mean(distances or [0]):.3f} | {mean(group, 'layout')} "
            f"| {mean(group, 'lightness', 2)} | {mean(group, 'texture')} "
            f"| {mean(group, 'motifs')} | {mean(group, 'colour')} "
            f"| {statistics.median(r['seconds'] for r in group):.1f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--variants", nargs="+", default=["seed", "default:nofaces", "default"])
    parser.add_argument("--photos", nargs="+", default=["astronaut", "obama", "biden", "pair", "group3"])
    parser.add_argument("--presets", nargs="+", default=["starry_night", "the_scream", "composition_vii"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[256, 384])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="quality.jsonl")
    parser.add_argument("--images", default=None, help="save each painting here as PNG")
    parser.add_argument("--summary", metavar="JSONL", help="only print the tables of an earlier run")
    parser.add_argument("--sheet", type=Path, help="with --summary and --images: write a contact sheet")
    parser.add_argument(
        "--rejudge", metavar="JSONL", help="with --images and --out: judge the saved paintings of a run again"
    )
    parser.add_argument(
        "--evaluation-cost", action="store_true", help="only time one full-size loss evaluation per variant"
    )
    args = parser.parse_args(argv)
    if args.evaluation_cost:
        import torch

        torch.set_num_threads(args.threads)
        for size in args.sizes:
            print(evaluation_seconds(args.variants, size))
        return 0
    if args.rejudge:
        if not args.images:
            parser.error("--rejudge needs --images, the folder the run saved its paintings in")
        rejudge(args.rejudge, Path(args.images), args.out)
        print(summary(args.out))
        return 0
    if args.summary:
        print(summary(args.summary))
        if args.sheet:
            sheet(args.summary, Path(args.images), args.sheet)
        return 0
    run(args)
    print(summary(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
