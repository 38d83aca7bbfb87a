"""Decode any picture a user may send into a plain RGB image, or refuse it with a clear reason.

Pillow only (no torch), so the bot can vet an upload the moment it arrives and the engine can use
the very same rules when it loads the job's inputs.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

# Pillow's decompression-bomb guard: over this many pixels is refused outright.
MAX_PIXELS = 40_000_000
MIN_SIDE = 64


class ImageError(ValueError):
    """An input that cannot be painted. `user_message` is safe to show a user as is."""

    user_message = "That file could not be read as a picture."

    def __init__(self, user_message: str | None = None) -> None:
        super().__init__(user_message or self.user_message)
        if user_message:
            self.user_message = user_message


class NotAnImage(ImageError):
    user_message = "That file is not a picture I can read. Please send a JPEG, PNG or WebP photo."


class CorruptImage(ImageError):
    user_message = "That picture looks damaged or cut off. Could you send it again?"


class ImageTooLarge(ImageError):
    user_message = (
        "That picture has far too many pixels for me to handle. "
        "Please send a smaller one (under 40 megapixels)."
    )


class ImageTooSmall(ImageError):
    user_message = f"That picture is tiny. Please send one at least {MIN_SIDE}×{MIN_SIDE} pixels."


class AnimatedImage(ImageError):
    user_message = "Animations and videos can't be painted. Please send a still photo."


_SRGB = ImageCms.createProfile("sRGB")


def _to_srgb(image: Image.Image) -> Image.Image:
    """Convert an embedded ICC profile (Display P3, Adobe RGB, CMYK…) to sRGB."""
    icc = image.info.get("icc_profile")
    if not icc:
        return image
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        mode = "RGBA" if "A" in image.getbands() else "RGB"
        return ImageCms.profileToProfile(image, source, _SRGB, outputMode=mode)
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


def load_image(
    source: bytes | str | Path, *, max_pixels: int = MAX_PIXELS, min_side: int = MIN_SIDE
) -> Image.Image:
    """Open, orient (EXIF), colour-manage and flatten `source` to an RGB image, fully decoded.

    Raises a subclass of `ImageError` for anything that is not a still picture of a sane size.
    """
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            previous, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, max_pixels
            try:
                image = Image.open(io.BytesIO(data))
                if getattr(image, "n_frames", 1) > 1:
                    raise AnimatedImage()
                if image.width * image.height > max_pixels:
                    raise ImageTooLarge()
                image.load()
            finally:
                Image.MAX_IMAGE_PIXELS = previous
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageTooLarge() from None
    except UnidentifiedImageError:
        raise NotAnImage() from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        # Truncated JPEGs and PNGs fail in load() with OSError("image file is truncated").
        raise CorruptImage() from error
    if min(image.size) < min_side:
        raise ImageTooSmall()
    image = ImageOps.exif_transpose(image)
    return _flatten(_to_srgb(image))


def fit_long_side(image: Image.Image, long_side: int) -> Image.Image:
    """Resize so the longer side is `long_side` pixels (down or up), keeping the aspect ratio."""
    width, height = image.size
    scale = long_side / max(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if size == image.size:
        return image
    return image.resize(size, Image.Resampling.LANCZOS)
