"""engine.colour: the photo takes on the style's colour statistics, and nothing else."""

from __future__ import annotations

import pytest
import torch

from engine.colour import in_palette_of, match_colours
from engine.losses import luminance


def stats(pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    flat = pixels.double().reshape(3, -1)
    mean = flat.mean(dim=1, keepdim=True)
    centred = flat - mean
    return mean, centred @ centred.T / flat.shape[1]


def picture(seed: int, mean: tuple[float, float, float], spread: float, size: int = 32) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    mixing = torch.eye(3) + 0.5 * torch.rand(3, 3, generator=generator)
    noise = torch.randn(3, size * size, generator=generator)
    flat = spread * (mixing @ noise) + torch.tensor(mean)[:, None]
    return flat.reshape(1, 3, size, size)


def test_the_result_has_the_references_mean_and_covariance():
    photo = picture(0, (120.0, 110.0, 100.0), 12.0)
    style = picture(1, (60.0, 80.0, 140.0), 15.0)
    mean, cov = stats(match_colours(photo, [style]))
    style_mean, style_cov = stats(style)
    assert torch.allclose(mean, style_mean, atol=0.5)
    assert torch.allclose(cov, style_cov, rtol=0.05, atol=2.0)


def test_a_photo_already_in_the_style_colours_is_left_alone():
    photo = picture(0, (120.0, 110.0, 100.0), 12.0)
    assert torch.allclose(match_colours(photo, [photo]), photo, atol=0.05)


def test_the_map_keeps_light_where_it_was():
    """The least-displacement map: the brighter pixels of the photo are the brighter ones after."""
    photo = picture(0, (120.0, 110.0, 100.0), 12.0)
    style = picture(1, (60.0, 80.0, 140.0), 15.0)
    luma = torch.tensor([0.299, 0.587, 0.114]).reshape(1, 3, 1, 1)
    before = (photo * luma).sum(1).flatten()
    after = (match_colours(photo, [style]) * luma).sum(1).flatten()
    correlation = torch.corrcoef(torch.stack([before, after]))[0, 1]
    assert correlation > 0.8


def test_several_styles_mix_by_their_weights():
    photo = picture(0, (120.0, 110.0, 100.0), 12.0)
    dark, light = picture(1, (100.0, 100.0, 100.0), 5.0), picture(2, (140.0, 140.0, 140.0), 5.0)
    mean, cov = stats(match_colours(photo, [dark, light], [0.75, 0.25]))
    assert mean.flatten().tolist() == pytest.approx([110.0] * 3, abs=0.5)
    # The mixture spreads wider than either style: the two means lie 40 apart.
    assert (cov.diagonal() > 2 * stats(dark)[1].diagonal()).all()


def test_a_flat_grey_photo_does_not_break_it():
    grey = torch.full((1, 3, 16, 16), 128.0)
    out = match_colours(grey, [picture(1, (60.0, 80.0, 140.0), 15.0)])
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 255


def test_in_the_palette_each_pixel_keeps_its_light_and_takes_the_styles_colours():
    photo = picture(0, (120.0, 110.0, 100.0), 12.0)
    style = picture(1, (60.0, 80.0, 140.0), 15.0)
    out = in_palette_of(photo, [style])
    assert torch.allclose(luminance(out), luminance(photo), atol=1e-3)  # nothing clamped at these means
    # The colour (each pixel less its grey) moves to the style's: bluer on average, as the style is.
    def cast(x: torch.Tensor) -> torch.Tensor:
        return (x - luminance(x)).mean(dim=(0, 2, 3))

    assert (cast(out) - cast(style)).abs().max() < 0.2 * (cast(photo) - cast(style)).abs().max()


def test_in_the_palette_stays_in_range():
    dark = picture(0, (10.0, 10.0, 10.0), 8.0)
    out = in_palette_of(dark, [picture(1, (240.0, 200.0, 60.0), 15.0)])
    assert out.min() >= 0 and out.max() <= 255
