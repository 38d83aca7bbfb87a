"""Face detection for face-aware painting, behind a small interface (`FaceDetector`).

The detector is dlib's HOG frontal-face detector, which is compiled into the `dlib-bin` wheel (no
model file, nothing downloaded). It was chosen by measurement (docs/ENGINE.md, "Face detection"):
on the project's portraits, a two-person picture and a three-person full-length group it found
8 of 8 faces down to ~26 px tall in a 384 px picture, with no false face on a landscape, a coffee
cup or a cat, in ~0.4 s per photo on one CPU core; dlib's CNN (MMOD) detector found 5 of 8 at 12×
the cost, and OpenCV 5 no longer ships any face model in its wheel.

Detection runs once per job, on the photo at a fixed working size, so the faces found do not
depend on the output size; boxes are returned as fractions of the image so they fit any canvas.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from PIL import Image

from drawme.painting import Face

__all__ = ["Face", "FaceDetector", "HogFaceDetector", "detect_faces"]


class FaceDetector(Protocol):
    def detect(self, image: Image.Image) -> list[Face]:
        """The faces in `image` (any mode), largest first; [] when there are none."""
        ...


class HogFaceDetector:
    """dlib's HOG + linear SVM frontal-face detector (Dalal–Triggs features, 80 px window)."""

    # The photo is resized to this long side, then dlib upsamples it once more: the 80 px window then
    # sees faces from ~40 px at 768, i.e. ~20 px tall in a 384 px painting and ~13 px at 256 px.
    WORK_SIDE = 768
    UPSAMPLE = 1
    # dlib's SVM margin; 0.3 removed the two weak extra boxes (0.00 and 0.19) in the measurement.
    THRESHOLD = 0.3

    def __init__(self) -> None:
        import dlib  # imported here: the bot and the CLI's argument checks never need it

        self._detector = dlib.get_frontal_face_detector()

    def detect(self, image: Image.Image) -> list[Face]:
        rgb = image.convert("RGB")
        scale = self.WORK_SIDE / max(rgb.size)
        work = rgb.resize(
            (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale))), Image.Resampling.BILINEAR
        )
        boxes, scores, _ = self._detector.run(np.asarray(work), self.UPSAMPLE, self.THRESHOLD)
        width, height = work.size
        faces = [
            Face(
                left=max(0.0, box.left() / width),
                top=max(0.0, box.top() / height),
                right=min(1.0, (box.right() + 1) / width),
                bottom=min(1.0, (box.bottom() + 1) / height),
                score=float(score),
            )
            for box, score in zip(boxes, scores, strict=True)
        ]
        return sorted(faces, key=lambda face: face.width * face.height, reverse=True)


_process_detector: HogFaceDetector | None = None


def detect_faces(image: Image.Image) -> list[Face]:
    """HogFaceDetector().detect(image) with one detector per process (for a pool of processes)."""
    global _process_detector
    if _process_detector is None:
        _process_detector = HogFaceDetector()
    return _process_detector.detect(image)
