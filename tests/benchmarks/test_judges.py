"""The quality bench's lightness judge (bench/judges.py): CIELAB L* differences, not SSIM's."""

import pytest
from PIL import Image

from bench.judges import layout, lightness


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
