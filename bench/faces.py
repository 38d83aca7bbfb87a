"""Face detection bench, and the bench's pictures with faces: which detector, how many faces, how fast.

    .venv/bin/python bench/faces.py                  # recall and cost of the engine's detector
    .venv/bin/python bench/faces.py --all            # also dlib's CNN (MMOD) detector, for comparison
    .venv/bin/python bench/faces.py --overhead       # cost of the face guidance per loss evaluation

The pictures are the shared portraits plus two composites built from them (the shared set has no
group photo and no full-length figure smaller than biden's): `pair` (obama and astronaut side by side,
two faces ~40–45 px tall at 384 px) and `group3` (three full-length biden figures in front of Tübingen,
faces ~26 px tall at 384 px); `tubingen`, `coffee` and `chelsea` (a cat) have no human face.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the checkout's packages, even without an install

from engine.faces import HogFaceDetector  # noqa: E402

SHARED = ROOT.parent.parent / "shared" / "images" / "photos"
PHOTOS_DIR = SHARED if SHARED.is_dir() else ROOT / "tests" / "data" / "photos"

# name → number of human faces in it
FACE_COUNTS = {
    "astronaut": 1,
    "obama": 1,
    "biden": 1,
    "pair": 2,
    "group3": 3,
    "tubingen": 0,
    "coffee": 0,
    "chelsea": 0,
}


def _fit(image: Image.Image, long_side: int) -> Image.Image:
    scale = long_side / max(image.size)
    return image.resize(
        (max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.LANCZOS
    )


def load_photo(name: str, folder: Path = PHOTOS_DIR) -> Image.Image:
    """A shared photo by name, or one of the composites `pair` and `group3`."""

    def load(stem: str) -> Image.Image:
        return Image.open(folder / f"{stem}.jpg").convert("RGB")

    if name == "pair":
        left, right = _fit(load("obama"), 512), load("astronaut").resize((512, 512))
        image = Image.new("RGB", (left.width + 512, 512))
        image.paste(left, (0, 0))
        image.paste(right, (left.width, 0))
        return image
    if name == "group3":
        image = load("tubingen").resize((1024, 768))
        figure = load("biden")
        for index, x in enumerate((150, 450, 750)):
            person = _fit(figure, 520 - 40 * index)
            image.paste(person, (x, 768 - person.height))
        return image
    return load(name)


def guidance_overhead(size: int = 384, repeats: int = 6) -> None:
    """Seconds per loss evaluation (+ backward) of the full-size stage with and without face guides."""
    from bench.quality import evaluation_seconds

    print(evaluation_seconds(["default", "default:nofaces"], size, repeats))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--all", action="store_true", help="also measure dlib's CNN detector (slow)")
    parser.add_argument("--overhead", action="store_true", help="time a loss evaluation with/without guides")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    if args.overhead:
        guidance_overhead()
        return 0
    detectors = {"hog@768 (engine)": HogFaceDetector()}
    if args.all:
        import dlib

        from bench.judges import _model

        cnn = dlib.cnn_face_detection_model_v1(_model("mmod_human_face_detector.dat"))

        class Cnn:
            def detect(self, image: Image.Image) -> list:
                return list(cnn(np.asarray(_fit(image, 384)), 1))

        detectors["mmod cnn @384 up1"] = Cnn()
    photos = {name: load_photo(name) for name in FACE_COUNTS}
    for label, detector in detectors.items():
        found = expected = extra = 0
        seconds = []
        for name, photo in photos.items():
            start = time.perf_counter()
            faces = detector.detect(photo)
            seconds.append(time.perf_counter() - start)
            wanted = FACE_COUNTS[name]
            found, expected, extra = (
                found + min(len(faces), wanted),
                expected + wanted,
                extra + max(0, len(faces) - wanted),
            )
            print(f"{label:>20} {name:>10}: {len(faces)} of {wanted}", flush=True)
        median = np.median(seconds)
        print(f"{label}: recall {found}/{expected}, extra boxes {extra}, median {median:.2f} s per photo")
    return 0


if __name__ == "__main__":
    sys.exit(main())
