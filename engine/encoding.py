"""Encoding the engine's pictures as PNG or JPEG: in memory for the job store (the painting, its
previews), or to a file for the CLI, written atomically (decoding is drawme.decoding's).

A file appears whole or not at all (temp file in the same directory, then os.replace), so nobody
reads a half-written painting and a crash never leaves a truncated one behind.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

JPEG_QUALITY = 95
_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}


def _umask() -> int:
    """The process's umask (reading it means setting it: set back at once; the CLI is one thread)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _as_srgb8(image: Image.Image | np.ndarray) -> Image.Image:
    """An 8-bit RGB image. Float arrays are 0–1; out-of-range values are clamped, never wrapped."""
    if isinstance(image, np.ndarray):
        array = image.astype(np.float32) * (255.0 if image.dtype.kind == "f" else 1.0)
        return Image.fromarray(np.clip(np.rint(array), 0, 255).astype(np.uint8), "RGB")
    return image if image.mode == "RGB" else image.convert("RGB")


def _format_for(path: Path, format: str | None) -> str:
    if format is not None:
        name = format.upper().replace("JPG", "JPEG")
        if name not in ("PNG", "JPEG"):
            raise ValueError(f"cannot save as {format!r}: use PNG or JPEG")
        return name
    try:
        return _FORMATS[path.suffix.lower()]
    except KeyError:
        raise ValueError(f"cannot tell the format of {path.name!r}: use .png, .jpg or pass format=") from None


def save_image(image: Image.Image | np.ndarray, path: str | Path, *, format: str | None = None) -> Path:
    """Write `image` to `path` atomically as PNG, or JPEG at quality 95 (by `format`, else the suffix).

    `image` is a PIL RGB image (or an H×W×3 array, uint8 or float 0–1). Missing parent directories
    are created. Returns the path written.
    """
    path = Path(path)
    kind = _format_for(path, format)
    picture = _as_srgb8(image)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            if kind == "JPEG":
                picture.save(file, "JPEG", quality=JPEG_QUALITY, subsampling=0)
            else:
                picture.save(file, "PNG")
            file.flush()
            os.fsync(file.fileno())
        # mkstemp makes the file private (0600); a painting gets the mode any new file would get.
        os.chmod(temp_name, 0o666 & ~_umask())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return path


def to_png_bytes(image: Image.Image | np.ndarray) -> bytes:
    """`image` encoded as a PNG in memory: the finished painting, handed to the job store."""
    buffer = io.BytesIO()
    _as_srgb8(image).save(buffer, "PNG")
    return buffer.getvalue()


def to_jpeg_bytes(image: Image.Image, quality: int = 90) -> bytes:
    """`image` encoded as a JPEG in memory: a progress preview, handed to the job store."""
    buffer = io.BytesIO()
    _as_srgb8(image).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()
