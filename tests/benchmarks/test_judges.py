"""The quality bench's judges (bench/judges.py): CIELAB L* differences, not SSIM's; brushwork that a
colour grade cannot fake."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from bench.judges import BrushworkJudge, StyleJudge, layout, lightness
from drawme.presets import get_preset
from engine.colour import match_colours
from engine.faces import Face


def flat(rgb: tuple[int, int, int], size: tuple[int, int] = (96, 64)) -> Image.Image:
    return Image.new("RGB", size, rgb)


def test_lightness_is_the_cie_l_star_difference():
    assert lightness(flat((0, 0, 0)), flat((255, 255, 255))) == pytest.approx(100.0, abs=0.01)
    # sRGB 119 is L* 50, the middle of the eye's scale (CIE 1976).
    assert lightness(flat((119, 119, 119)), flat((0, 0, 0))) == pytest.approx(50.0, abs=0.1)
    assert lightness(flat((40, 90, 200)), flat((40, 90, 200))) == pytest.approx(0.0, abs=1e-6)


def test_lightness_weighs_the_darks_less_than_ssim_does():
    # A black area lifted to 20 of 255, and a grey one lifted by the same 20: SSIM's luminance term,
    # a ratio, counts the first as the far larger change; L* counts them much alike.
    black, lifted_black = flat((0, 0, 0)), flat((20, 20, 20))
    grey, lifted_grey = flat((128, 128, 128)), flat((148, 148, 148))
    assert 1 - layout(black, lifted_black) > 10 * (1 - layout(grey, lifted_grey))
    ratio = lightness(black, lifted_black) / lightness(grey, lifted_grey)
    assert 0.5 < ratio < 1.5


# --- brushwork: palette-blind, on a network the engine does not optimise ---------------------------

PHOTOS = Path(__file__).resolve().parents[1] / "data" / "photos"


@pytest.fixture(scope="module")
def brushwork() -> BrushworkJudge:
    return BrushworkJudge(long_side=128)


def _pixels(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32)).permute(2, 0, 1)[None]


def _image(pixels: torch.Tensor) -> Image.Image:
    return Image.fromarray(pixels[0].permute(1, 2, 0).clamp(0, 255).round().byte().numpy())


def _pair(photo: str, preset: str) -> tuple[Image.Image, Image.Image]:
    """A bench photo cut to the painting's shape, 128 px, and the painting."""
    style = get_preset(preset).image().convert("RGB")
    with Image.open(PHOTOS / f"{photo}.jpg") as image:
        framed = ImageOps.fit(image.convert("RGB"), style.size, Image.LANCZOS)
    framed.thumbnail((128, 128))
    return framed, style


CASES = [("obama", "starry_night"), ("astronaut", "the_scream"), ("coffee", "great_wave")]


@pytest.mark.parametrize(("photo", "preset"), CASES)
def test_a_colour_grade_paints_no_brushwork(brushwork, photo, preset):
    """The photo recoloured into the painting's palette (its RGB mean and covariance), with or
    without a contrast curve, has none of the painting's strokes."""
    picture, style = _pair(photo, preset)
    graded = match_colours(_pixels(picture), [_pixels(style)])
    curved = 255 * (graded / 255) ** 0.7
    for fake in (graded, curved):
        assert abs(brushwork.likeness(picture, _image(fake), style)) < 0.12


@pytest.mark.parametrize(("photo", "preset"), CASES)
def test_the_painting_itself_scores_about_one_and_strokes_in_between(brushwork, photo, preset):
    picture, style = _pair(photo, preset)
    itself = style.resize(picture.size, Image.LANCZOS)
    assert brushwork.likeness(picture, itself, style) > 0.9
    # The painting's strokes laid over the photo: some brushwork, not all of it.
    half = Image.blend(picture, itself, 0.5)
    assert 0.15 < brushwork.likeness(picture, half, style) < 0.85


def test_the_old_rgb_texture_judge_is_fooled_by_a_colour_grade(brushwork):
    """Why the brushwork judge exists: the random net's RGB texture judge credits the palette."""
    picture, style = _pair("obama", "starry_night")
    graded = _image(match_colours(_pixels(picture), [_pixels(style)]))
    texture = StyleJudge(long_side=128).likeness(picture, graded, style)["texture"]
    assert texture > 0.2
    assert texture > brushwork.likeness(picture, graded, style) + 0.2


def test_faces_painted_tells_a_painted_face_from_a_pasted_photo(brushwork):
    picture, style = _pair("astronaut", "the_scream")
    face = Face(left=0.35, top=0.2, right=0.65, bottom=0.55)
    painted = Image.blend(picture, style.resize(picture.size, Image.LANCZOS), 0.5)
    pasted = painted.copy()  # painted everywhere, then the photo's own face pasted back in
    box = (round(0.3 * picture.width), round(0.15 * picture.height))
    pasted.paste(picture.crop((*box, round(0.7 * picture.width), round(0.6 * picture.height))), box)
    assert brushwork.face_painted(picture, pasted, face) < 0.1
    assert brushwork.face_painted(picture, painted, face) > 0.5
