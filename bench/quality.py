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
    .venv/bin/python bench/quality.py --summary /tmp/quality.jsonl --sheet /tmp/blind.jpg \
        --blind /tmp/blind_key.json --images /tmp/quality                # shuffled, unlabelled columns

A variant is `recipe[:nofaces][,field=value...]`; fields override the recipe (e.g.
`default,face_content=6,face_style=0.2`; `steps=40/40/20` re-splits the schedule's steps;
`style_layers=1/1/0.3/0.1/0` weighs block1..5_relu1 at 1/C² times each factor (the default's);
`laplacian_on=luma` sets a string field; `history_size=10`, `max_move=64` and
`line_search_fn=strong_wolfe` the L-BFGS settings; `style_scale=0.5` is the painting option).
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

import torch  # noqa: E402
from PIL import Image  # noqa: E402

from bench.faces import load_photo  # noqa: E402
from bench.judges import SAME_PERSON, BrushworkJudge, FaceJudge, StyleJudge, layout, lightness  # noqa: E402
from drawme.models import PaintParams  # noqa: E402
from drawme.presets import get_preset  # noqa: E402
from engine import recipes  # noqa: E402
from engine.canvas import image_to_tensor  # noqa: E402
from engine.faces import Face  # noqa: E402
from engine.painter import Painter  # noqa: E402
from engine.run import PaintingRun  # noqa: E402


def field_value(recipe: recipes.Recipe, field: str, text: str) -> object:
    """A recipe field's override from text: `steps=40/40/20` re-splits the stages' steps, `stages=0.5:80/1:30`
    sets each stage's scale and steps,
    `style_layers=1/1/0.3/0.1/0` weighs block1..5_relu1 at 1/C² × each factor, `history_size=10` or
    `line_search_fn=strong_wolfe` (one of the two) change the L-BFGS settings, a string field the text,
    any other field a number."""
    if field == "steps":
        steps = [int(n) for n in text.split("/")]
        if len(steps) != len(recipe.stages):
            raise ValueError(f"{recipe.name} has {len(recipe.stages)} stages, not {len(steps)}")
        return tuple(dataclasses.replace(s, steps=n) for s, n in zip(recipe.stages, steps, strict=True))
    if field == "stages":  # `stages=0.5:80/1:30`: each stage's scale and steps
        pairs = [part.split(":") for part in text.split("/")]
        return tuple(recipes.Stage(float(scale), int(steps)) for scale, steps in pairs)
    if field == "line_search_fn":  # `line_search_fn=strong_wolfe`: torch's LBFGS paints then, which
        # evaluates as often as its steps need (up to max_eval each) and knows no max_move.
        return dataclasses.replace(recipe.lbfgs, line_search_fn=text, max_move=None)
    if field == "history_size":  # `history_size=10`
        return dataclasses.replace(recipe.lbfgs, history_size=int(text))
    if field == "max_move":  # `max_move=64`
        return dataclasses.replace(recipe.lbfgs, max_move=float(text))
    if field == "style_layers":
        factors = tuple(float(n) for n in text.split("/"))
        if len(factors) != len(recipes.RELU1):
            raise ValueError(f"style_layers takes one factor per block1..5_relu1, not {len(factors)}")
        return recipes.relu1_weights(1.0, factors)
    current = getattr(recipe, field)
    # A field takes the text as its own type: an enum (Start) refuses a value it does not know; a flag
    # reads a number (final_palette=0, warm_start_detail=0).
    return type(current)(text) if isinstance(current, str) else type(current)(float(text))


def variant_params(spec: str, size: int) -> PaintParams:
    """PaintParams for a variant spec; overridden recipes are registered under the spec itself."""
    head, *overrides = spec.split(",")
    name, _, flag = head.partition(":")
    recipe = recipes.get_recipe(name)
    pairs = [item.split("=") for item in overrides]
    # `style_scale` is a painting's param (the style image's size), `precision` the painter's
    # (variant_precision): neither is a recipe field.
    params = {key: float(value) for key, value in pairs if key == "style_scale"}
    renamed = {"steps": "stages", "history_size": "lbfgs", "line_search_fn": "lbfgs", "max_move": "lbfgs"}
    overridden = [(key, value) for key, value in pairs if key not in params and key != "precision"]
    for key, value in overridden:  # one by one: several may change the L-BFGS settings
        recipe = dataclasses.replace(recipe, **{renamed.get(key, key): field_value(recipe, key, value)})
    if overridden:
        recipe = dataclasses.replace(recipe, name=spec)
        recipes.RECIPES[spec] = recipe
    return PaintParams(size=size, recipe=recipe.name, protect_faces=flag != "nofaces", **params)


def full_stage(run: PaintingRun) -> tuple[torch.Tensor, tuple]:
    """The photo at a run's full-size stage, and its targets there as `PaintingRun.objective` takes them
    (content, style, face guides): what one evaluation of the last stage is scored against."""
    canvas = run.canvas_size(run.stages[-1])
    pixels = image_to_tensor(run.content, canvas, run.recipe.resample)
    return pixels, (run.content_targets(pixels), run.style_targets(canvas), run.face_guides(pixels))


def evaluation_seconds(specs: list[str], size: int = 384, repeats: int = 6, photo: str = "astronaut") -> str:
    """Seconds per loss evaluation (+ backward) of the full-size stage, variants side by side.

    The evaluations are interleaved, so the machine's load hits every variant alike; medians."""
    import statistics
    import time

    from engine.painter import PaintRequest

    picture, painters = load_photo(photo), {p: Painter(precision=p) for p in map(variant_precision, specs)}
    styles = [get_preset("starry_night").image()]
    runs = {}
    for spec in specs:
        request = PaintRequest(picture, styles, variant_params(spec, size))
        run = painters[variant_precision(spec)].run(request)
        pixels, targets = full_stage(run)
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


@dataclasses.dataclass
class Judges:
    """The bench's judges, loaded once (bench/judges.py)."""

    faces: FaceJudge = dataclasses.field(default_factory=FaceJudge)
    styles: StyleJudge = dataclasses.field(default_factory=StyleJudge)
    brushwork: BrushworkJudge = dataclasses.field(default_factory=BrushworkJudge)

    def judged(
        self, photo: Image.Image, photo_faces: list[Face], painting: Image.Image, style: Image.Image
    ) -> dict[str, object]:
        """Every judge's verdict on one painting: face distances and brushwork, layout, the style
        likenesses."""
        return {
            "distances": [round(d, 4) for d in self.faces.distances(photo, painting, photo_faces)],
            "face_painted": [
                round(self.brushwork.face_painted(photo, painting, face), 4) for face in photo_faces
            ],
            "brushwork": round(self.brushwork.likeness(photo, painting, style), 4),
            "layout": round(layout(photo, painting), 4),
            "lightness": round(lightness(photo, painting), 3),
            **{k: round(v, 4) for k, v in self.styles.likeness(photo, painting, style).items()},
        }


def variant_precision(spec: str) -> str:
    """The painter's precision a variant spec asks for (`precision=float32`), else "auto"."""
    pairs = dict(item.split("=") for item in spec.split(",")[1:])
    return pairs.get("precision", "auto")


def run(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    painters: dict[str, Painter] = {}
    judges = Judges()
    out = open(args.out, "a")  # noqa: SIM115 - one line per painting, flushed as it comes
    for size in args.sizes:
        for photo_name in args.photos:
            photo = load_photo(photo_name)
            photo_faces = judges.faces.faces(photo)
            for preset_id in args.presets:
                style = get_preset(preset_id).image()
                for spec in args.variants:
                    precision = variant_precision(spec)
                    if precision not in painters:
                        painters[precision] = Painter(precision=precision)
                    result = painters[precision].paint(photo, [style], variant_params(spec, size))
                    row = {
                        "variant": spec,
                        "photo": photo_name,
                        "preset": preset_id,
                        "size": size,
                        "seconds": round(result.seconds, 2),
                        "steps": result.steps,
                        "faces_protected": len(result.faces),
                        **judges.judged(photo, photo_faces, result.image, style),
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


def blind_sheet(path: str, folder: Path, out: Path, key: Path, seed: int = 0, cell: int = 320) -> None:
    """A sheet for judging by eye without knowing which is which: one row per (photo, preset, size),
    the photo first, then every variant's painting in an order shuffled anew for each row, columns
    lettered A, B, … and no other label. `key` gets the unblinding as JSON: row → letter → variant."""
    import random

    from PIL import ImageDraw

    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    keys = [
        k
        for k in dict.fromkeys((r["photo"], r["preset"], r["size"]) for r in rows)
        if all(image_path(folder, *k[:2], k[2], v).exists() for v in variants)
    ]
    shuffler, label = random.Random(seed), 24
    grid = Image.new("RGB", (cell * (len(variants) + 1), (cell + label) * len(keys)), "white")
    draw = ImageDraw.Draw(grid)
    unblinding: dict[str, dict[str, str]] = {}
    for row, (photo, preset, size) in enumerate(keys):
        top = row * (cell + label)
        order = variants[:]
        shuffler.shuffle(order)
        thumb = load_photo(photo)
        thumb.thumbnail((cell, cell))
        grid.paste(thumb, (0, top + label))
        draw.text((4, top + 4), f"row {row + 1}: photo", fill="black")
        unblinding[f"row {row + 1}"] = {}
        for column, variant in enumerate(order, start=1):
            letter = chr(ord("A") + column - 1)
            unblinding[f"row {row + 1}"][letter] = variant
            with Image.open(image_path(folder, photo, preset, size, variant)) as painted:
                painted = painted.convert("RGB")
                painted.thumbnail((cell, cell))
                grid.paste(painted, (column * cell, top + label))
            draw.text((column * cell + 4, top + 4), letter, fill="black")
    grid.save(out, quality=90)
    key.write_text(json.dumps(unblinding, indent=1))


def rejudge(path: str, folder: Path, out: str) -> None:
    """Judge again the paintings an earlier run saved (--images), e.g. after a judge was added."""
    judges = Judges()
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
            row.update(judges.judged(photo, judges.faces.faces(photo), painting, style))
            print(json.dumps(row), file=sink, flush=True)


def _mean(group: list[dict], key: str, digits: int = 3) -> str:
    """The mean of a judge over a group, or – where an older run lacks that judge."""
    values = [r[key] for r in group if key in r]
    return f"{statistics.mean(values):.{digits}f}" if values and len(values) == len(group) else "–"


def _faces(group: list[dict]) -> str:
    distances = [d for row in group for d in row["distances"]]
    kept = sum(d < SAME_PERSON for d in distances)
    return f"{kept}/{len(distances)}"


def _face_painted(group: list[dict]) -> str:
    values = [v for row in group for v in row.get("face_painted", [])]
    return f"{statistics.mean(values):.3f}" if values else "–"


def summary(path: str) -> str:
    """Markdown tables: per variant and size, faces recognised and painted, brushwork, layout, the
    other style judges and time; then brushwork / layout / faces per picture and per preset."""
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    latest = {(r["variant"], r["photo"], r["preset"], r["size"]): r for r in rows}  # a rerun replaces
    rows = list(latest.values())
    groups: dict[tuple[int, str], list[dict]] = defaultdict(list)
    for row in rows:
        groups[(row["size"], row["variant"])].append(row)
    lines = [
        "| size | variant | paintings | faces recognised | mean distance | faces painted | brushwork "
        "| layout SSIM | ΔL* | texture | motifs | colour | median s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (size, variant), group in sorted(groups.items()):
        distances = [d for row in group for d in row["distances"]]
        lines.append(
            f"| {size} | `{variant}` | {len(group)} | {_faces(group)} "
            f"| {statistics.mean(distances or [0]):.3f} | {_face_painted(group)} "
            f"| {_mean(group, 'brushwork')} | {_mean(group, 'layout')} "
            f"| {_mean(group, 'lightness', 2)} | {_mean(group, 'texture')} "
            f"| {_mean(group, 'motifs')} | {_mean(group, 'colour')} "
            f"| {statistics.median(r['seconds'] for r in group):.1f} |"
        )
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    for by in ("photo", "preset"):
        lines += [
            "",
            f"Per {by}: brushwork / layout SSIM / faces recognised, each variant",
            "",
            f"| size | {by} | " + " | ".join(f"`{v}`" for v in variants) + " |",
            "|---|---|" + "---|" * len(variants),
        ]
        keys = sorted({(r["size"], r[by]) for r in rows})
        for size, name in keys:
            cells = []
            for variant in variants:
                group = [r for r in rows if (r["size"], r[by], r["variant"]) == (size, name, variant)]
                cells.append(
                    f"{_mean(group, 'brushwork', 2)} / {_mean(group, 'layout', 2)} / {_faces(group)}"
                    if group
                    else "–"
                )
            lines.append(f"| {size} | {name} | " + " | ".join(cells) + " |")
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
        "--blind",
        type=Path,
        metavar="KEY",
        help="with --sheet: shuffled, unlabelled columns per row; the unblinding goes to KEY (JSON)",
    )
    parser.add_argument(
        "--rejudge", metavar="JSONL", help="with --images and --out: judge the saved paintings of a run again"
    )
    parser.add_argument(
        "--evaluation-cost", action="store_true", help="only time one full-size loss evaluation per variant"
    )
    args = parser.parse_args(argv)
    if args.evaluation_cost:
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
        if args.sheet and args.blind:
            blind_sheet(args.summary, Path(args.images), args.sheet, args.blind)
        elif args.sheet:
            sheet(args.summary, Path(args.images), args.sheet)
        return 0
    run(args)
    print(summary(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
