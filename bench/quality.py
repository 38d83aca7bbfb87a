"""Quality bench: identity, layout, style likeness and time per painting, judged off VGG-19 (bench/judges.py).

    .venv/bin/python bench/quality.py --variants seed default:nofaces default \\
        --photos biden pair group3 astronaut --presets starry_night the_scream --sizes 256 \\
        --out /tmp/quality.jsonl --images /tmp/quality
    .venv/bin/python bench/quality.py --summary /tmp/quality.jsonl     # the tables only

A variant is `recipe[:nofaces][,field=value...]`; fields override the recipe (e.g.
`default,face_content=6,face_style=0.2`). Each painting is one JSON line, written as soon as it is
done, so a long run can be summarised while it goes on. Pictures: bench/faces.py.
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

from bench.faces import load_photo  # noqa: E402
from bench.judges import SAME_PERSON, FaceJudge, StyleJudge, layout  # noqa: E402
from drawme.presets import get_preset  # noqa: E402
from engine import recipes  # noqa: E402
from engine.painter import Painter, PaintOptions  # noqa: E402


def variant_options(spec: str, size: int) -> PaintOptions:
    """PaintOptions for a variant spec; overridden recipes are registered under the spec itself."""
    head, *overrides = spec.split(",")
    name, _, flag = head.partition(":")
    recipe = recipes.get_recipe(name)
    if overrides:
        fields = {key: float(value) for key, value in (item.split("=") for item in overrides)}
        recipe = dataclasses.replace(recipe, name=spec, **fields)
        recipes.RECIPES[spec] = recipe
    return PaintOptions(size=size, recipe=recipe.name, faces=flag != "nofaces")


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
                    distances = faces.distances(photo, result.image, photo_faces)
                    row = {
                        "variant": spec,
                        "photo": photo_name,
                        "preset": preset_id,
                        "size": size,
                        "seconds": round(result.seconds, 2),
                        "steps": result.steps,
                        "faces_protected": len(result.faces),
                        "distances": [round(d, 4) for d in distances],
                        "layout": round(layout(photo, result.image), 4),
                        **{k: round(v, 4) for k, v in styles.likeness(photo, result.image, style).items()},
                    }
                    print(json.dumps(row), file=out, flush=True)
                    print(json.dumps(row), flush=True)
                    if args.images:
                        folder = Path(args.images)
                        folder.mkdir(parents=True, exist_ok=True)
                        safe = spec.replace(":", "-").replace(",", "_").replace("=", "")
                        result.image.save(folder / f"{photo_name}-{preset_id}-{size}-{safe}.png")


def summary(path: str) -> str:
    """Markdown tables: per variant and size, faces recognised, distances, layout, style, time."""
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    latest = {(r["variant"], r["photo"], r["preset"], r["size"]): r for r in rows}  # a rerun replaces
    rows = list(latest.values())
    groups: dict[tuple[int, str], list[dict]] = defaultdict(list)
    for row in rows:
        groups[(row["size"], row["variant"])].append(row)
    lines = [
        "| size | variant | paintings | faces recognised | mean distance | layout SSIM | texture | colour "
        "| median s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (size, variant), group in sorted(groups.items()):
        distances = [d for row in group for d in row["distances"]]
        kept = sum(d < SAME_PERSON for d in distances)
        share = 100 * kept / max(1, len(distances))
        means = {key: statistics.mean(r[key] for r in group) for key in ("layout", "texture", "colour")}
        lines.append(
            f"| {size} | `{variant}` | {len(group)} | {kept}/{len(distances)} ({share:.0f}%) "
            f"| {statistics.mean(distances or [0]):.3f} | {means['layout']:.3f} | {means['texture']:.3f} "
            f"| {means['colour']:.3f} | {statistics.median(r['seconds'] for r in group):.1f} |"
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
    args = parser.parse_args(argv)
    if args.summary:
        print(summary(args.summary))
        return 0
    run(args)
    print(summary(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
