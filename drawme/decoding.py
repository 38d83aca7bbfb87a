"""Decode any picture a user may send into a plain RGB image, or refuse it with a clear reason.

Pillow only (no torch), so the bot can vet an upload the moment it arrives and the engine can use
the very same rules when it loads the job's inputs. Pillow's formats plus HEIC/HEIF (what iPhones
send when a picture goes as a file), through the pillow-heif plugin, under the same rules: the
orientation, the colour profile and the pixel limit read from the header before decoding.
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from enum import StrEnum
from pathlib import Path

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError
from pillow_heif import register_heif_opener

# HEIC/HEIF through Pillow's own Image.open; libheif applies the picture's rotation while decoding
# and leaves the EXIF orientation at 1, so exif_transpose never turns it twice.
register_heif_opener()

# Over this many pixels is refused from the header, before anything is decoded.
MAX_PIXELS = 40_000_000
MIN_SIDE = 64


class ImageCode(StrEnum):
    """Why a picture was refused; the bot words each code (bot/texts.py)."""

    UNREADABLE = "image_unreadable"
    NOT_AN_IMAGE = "image_not_an_image"
    CORRUPT = "image_corrupt"
    TOO_LARGE = "image_too_large"
    TOO_SMALL = "image_too_small"
    ANIMATED = "image_animated"
    FILE_TOO_BIG = "image_file_too_big"  # over the bot's download limit (bot/uploads.py)


class ImageError(ValueError):
    """An input that cannot be painted. `code` says why; str() is a plain English line for the CLI and
    logs (the bot words the code itself)."""

    code = ImageCode.UNREADABLE
    english = "the file could not be read as a picture"

    def __init__(self) -> None:
        super().__init__(self.english)


class NotAnImage(ImageError):
    code = ImageCode.NOT_AN_IMAGE
    english = "not a picture Pillow can read (JPEG, PNG, WebP or HEIC expected)"


class CorruptImage(ImageError):
    code = ImageCode.CORRUPT
    english = "the picture is damaged or cut off"


class ImageTooLarge(ImageError):
    code = ImageCode.TOO_LARGE
    english = f"the picture has more than {MAX_PIXELS:,} pixels"


class ImageTooSmall(ImageError):
    code = ImageCode.TOO_SMALL
    english = f"the picture is smaller than {MIN_SIDE}×{MIN_SIDE} pixels"


class AnimatedImage(ImageError):
    code = ImageCode.ANIMATED
    english = "animations and videos cannot be painted"


_SRGB = ImageCms.createProfile("sRGB")


def _to_srgb(image: Image.Image) -> Image.Image:
    """Convert an embedded ICC profile (Display P3, Adobe RGB, CMYK…) to sRGB."""
    icc = image.info.get("icc_profile")
    if not icc:
        return image
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        mode = "RGBA" if "A" in image.getbands() else "RGB"
        converted = ImageCms.profileToProfile(image, source, _SRGB, outputMode=mode)
        return converted if converted is not None else image  # None only when converted in place
    except (ImageCms.PyCMSError, OSError, ValueError):
        return image  # a broken profile should not cost the user their photo


def _flatten(image: Image.Image) -> Image.Image:
    """Any mode to RGB: palettes, 16-bit, greyscale, CMYK; alpha is composed onto white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        image = image.point(lambda v: v / 256).convert("L")
    elif image.mode == "F":
        image = image.convert("L")
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("LA", "PA", "La"):
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "RGBa"):
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, image.convert("RGBA")).convert("RGB")
    return image.convert("RGB")


# What Pillow's decoders raise on truncated or damaged data, depending on the format.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, struct.error, zlib.error)


def _open(data: bytes, max_pixels: int, min_side: int) -> Image.Image:
    """Read the header, refuse what we will not paint, and only then decode the pixels."""
    try:
        # Pillow's own bomb check (a process-wide setting, so we leave it alone) still guards absurd
        # sizes; ours below, read from the header, refuses before any pixel is allocated.
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        raise ImageTooLarge() from None
    except UnidentifiedImageError:
        raise NotAnImage() from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error):
        raise CorruptImage() from None  # e.g. a JPEG cut off inside its header: "Truncated File Read"
    if image.width * image.height > max_pixels:
        raise ImageTooLarge()
    if min(image.size) < min_side:
        raise ImageTooSmall()
    try:
        # Phones save multi-picture JPEGs (MPO: the photo plus a depth map or preview); frame 0 is the photo.
        animated = getattr(image, "n_frames", 1) > 1 and image.format != "MPO"
        if not animated:
            image.load()
    except _DECODE_ERRORS:
        raise CorruptImage() from None
    if animated:
        raise AnimatedImage()
    return image


def _orient(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation; malformed EXIF is ignored rather than costing the user their photo."""
    try:
        return ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError, TypeError, KeyError, IndexError, struct.error):
        return image


def load_image(
    source: bytes | str | Path, *, max_pixels: int = MAX_PIXELS, min_side: int = MIN_SIDE
) -> Image.Image:
    """Open, orient (EXIF), colour-manage and flatten `source` to an RGB image, fully decoded.

    Raises a subclass of `ImageError` for anything that is not a still picture of a sane size.
    """
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    with warnings.catch_warnings():
        # Between our limit and Pillow's there is only a warning; we refuse those ourselves.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        image = _open(data, max_pixels, min_side)
    return _flatten(_to_srgb(_orient(image)))
