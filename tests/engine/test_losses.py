"""Loss terms against values worked out by hand on tiny tensors."""

from __future__ import annotations

import pytest
import torch

from engine.losses import (
    content_loss,
    gram_matrix,
    laplacian,
    laplacian_loss,
    light,
    light_loss,
    style_loss,
    tv_loss,
)


def test_gram_matrix_by_hand():
    # Two channels over a 1×2 image: f0 = [1, 2], f1 = [3, 4].
    features = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])
    raw = torch.tensor([[[5.0, 11.0], [11.0, 25.0]]])
    assert torch.equal(gram_matrix(features, normalise=False), raw)
    assert torch.equal(gram_matrix(features), raw / 2)


def test_content_loss_forms():
    features = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    target = torch.tensor([[[[1.0, 0.0], [0.0, 4.0]]]])
    assert content_loss(features, target, "keras").item() == 4 + 9  # sum of squares
    assert content_loss(features, target, "mean").item() == pytest.approx(13 / 4)


def test_keras_style_loss_normalisation_is_exact():
    style = torch.tensor([[[1.0, 2.0], [2.0, 5.0]]])
    canvas = torch.tensor([[[0.0, 2.0], [4.0, 8.0]]])
    pixels = 6  # image rows × cols, not the layer's
    expected = (1 + 0 + 4 + 9) / (4 * 3**2 * 6**2)
    assert style_loss(canvas, style, "keras", image_pixels=pixels).item() == pytest.approx(expected, rel=1e-7)
    with pytest.raises(ValueError):
        style_loss(canvas, style, "keras")


def test_mean_style_loss():
    style = torch.tensor([[[1.0, 2.0], [2.0, 5.0]]])
    canvas = torch.tensor([[[0.0, 2.0], [4.0, 8.0]]])
    assert style_loss(canvas, style, "mean").item() == pytest.approx(14 / 4)


def test_keras_tv_loss_by_hand():
    # One channel, 2×3 image. Keras uses only the (H-1)×(W-1) = 1×2 top-left grid.
    image = torch.tensor([[[[0.0, 1.0, 3.0], [2.0, 2.0, 0.0]]]])
    # at (0,0): a=(0-2)²=4, b=(0-1)²=1 ; at (0,1): a=(1-2)²=1, b=(1-3)²=4
    expected = 5**1.25 + 5**1.25
    assert tv_loss(image, "keras").item() == pytest.approx(expected, rel=1e-6)


def test_mean_tv_losses_by_hand():
    image = torch.tensor([[[[0.0, 1.0, 3.0], [2.0, 2.0, 0.0]]]])
    # horizontal differences: 1, 2, 0, -2 ; vertical: 2, 1, -3
    assert tv_loss(image, "l1_mean").item() == pytest.approx((1 + 2 + 0 + 2) / 4 + (2 + 1 + 3) / 3)
    assert tv_loss(image, "l2_mean").item() == pytest.approx((1 + 4 + 0 + 4) / 4 + (4 + 1 + 9) / 3)
    with pytest.raises(ValueError):
        tv_loss(image, "l3")


def test_losses_stay_float32_for_bfloat16_features():
    features = torch.rand(1, 4, 3, 3).to(torch.bfloat16)
    assert gram_matrix(features).dtype == torch.float32
    assert content_loss(features, features.float(), "mean").dtype == torch.float32


def test_laplacian_by_hand_after_pooling():
    # A 6×6 image with a bright 2×2 block, area-averaged to 3×3: a single spike in the centre cell.
    image = torch.zeros(1, 1, 6, 6)
    image[..., 2:4, 2:4] = 8.0
    lap = laplacian(image, (3, 3))
    assert lap.shape == (1, 1, 1, 1)
    assert lap.item() == 4 * 8.0


def test_laplacian_loss_ignores_brightness_and_ramps_but_not_layout():
    rows = torch.arange(48, dtype=torch.float32)
    photo = (rows[:, None] * rows[None, :] / 20).expand(1, 3, 48, 48).contiguous()  # curved shading
    grid = (12, 12)
    target = laplacian(photo, grid)
    assert laplacian_loss(photo, target, grid).item() == pytest.approx(0.0, abs=1e-6)
    # A brightness shift or a linear ramp (the style's colours and light) costs nothing...
    shifted = photo + 40 + 2 * rows[None, None, None, :]
    assert laplacian_loss(shifted, target, grid).item() == pytest.approx(0.0, abs=1e-3)
    # ...moving the layout does, and detail finer than the grid hardly does.
    moved = torch.roll(photo, shifts=8, dims=3)
    fine = photo + 30 * (torch.arange(48) % 2).float()[None, None, None, :]  # 1-px stripes, pooled away
    assert laplacian_loss(moved, target, grid).item() > 1.0
    assert laplacian_loss(fine, target, grid).item() < 1e-3


def test_luma_laplacian_leaves_the_colours_to_the_style():
    rows = torch.arange(48, dtype=torch.float32)
    photo = (rows[:, None] * rows[None, :] / 20).expand(1, 3, 48, 48).contiguous()
    blob = ((rows[:, None] - 24).square() + (rows[None, :] - 24).square() < 100).float() * 30
    recoloured = photo.clone()  # redder and less blue in a blob, at the same luminance
    recoloured[:, 0] += blob
    recoloured[:, 2] -= blob * 0.299 / 0.114
    grid = (12, 12)
    assert laplacian_loss(recoloured, laplacian(photo, grid), grid).item() > 1.0
    luma = laplacian(photo, grid, luma=True)
    assert luma.shape == (1, 1, 10, 10)
    assert laplacian_loss(recoloured, luma, grid, luma=True).item() == pytest.approx(0.0, abs=1e-3)


def test_light_is_the_luminance_averaged_over_the_grid():
    image = torch.zeros(1, 3, 4, 4)
    image[:, 0, :2, :2] = 100.0  # a red top-left cell: Y = 0.299 × 100, averaged over its 2×2 pixels
    image[:, 1, 2:, 2:] = 40.0  # a green bottom-right pixel block
    assert light(image, (2, 2)).flatten().tolist() == pytest.approx([29.9, 0.0, 0.0, 0.587 * 40])


def test_light_loss_keeps_light_and_dark_but_not_colour_or_fine_texture():
    rows = torch.arange(48, dtype=torch.float32)
    photo = (rows[:, None] * rows[None, :] / 20).expand(1, 3, 48, 48).contiguous()
    grid = (6, 6)
    target = light(photo, grid)
    assert light_loss(photo, target, grid).item() == pytest.approx(0.0, abs=1e-6)
    # A dark area turned mid-grey costs (the Laplacian term would not see a flat lift)...
    lifted = photo.clone()
    lifted[..., :24, :24] += 60
    assert light_loss(lifted, target, grid).item() > 100.0
    # ...another colour at the same luminance, and strokes finer than a cell, do not.
    recoloured = photo.clone()
    recoloured[:, 0] += 30
    recoloured[:, 2] -= 30 * 0.299 / 0.114
    strokes = photo + 30 * (torch.arange(48) % 2).float()[None, None, None, :] - 15
    assert light_loss(recoloured, target, grid).item() == pytest.approx(0.0, abs=1e-3)
    assert light_loss(strokes, target, grid).item() == pytest.approx(0.0, abs=1e-3)
