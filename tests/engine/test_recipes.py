"""engine.recipes: layer weights, and the reference recipes left exactly as their sources."""

from __future__ import annotations

import pytest

from engine import recipes

CHANNELS = dict(zip(recipes.RELU1, recipes.RELU1_CHANNELS, strict=True))


def test_relu1_weights_are_one_over_c_squared_times_each_factor_and_zero_leaves_a_layer_out():
    weights = dict(recipes.relu1_weights(2.0, (1.0, 0.5, 0.0, 1.0, 0.0)))
    assert weights == {
        "block1_relu1": pytest.approx(2.0 / 64**2),
        "block2_relu1": pytest.approx(0.5 * 2.0 / 128**2),
        "block4_relu1": pytest.approx(2.0 / 512**2),
    }


def test_the_default_paints_with_relu1_to_4_alike_and_runs_no_deeper_than_block4():
    per_channel = {name: w * CHANNELS[name] ** 2 for name, w in recipes.DEFAULT.style_layers}
    assert per_channel == pytest.approx(
        {"block1_relu1": 1.0, "block2_relu1": 1.0, "block3_relu1": 1.0, "block4_relu1": 1.0}
    )
    assert not any(layer.startswith("block5") for layer in recipes.DEFAULT.layers)


def test_the_defaults_layout_terms_are_coarse_and_luminance_only():
    """The rule of docs/ENGINE.md "Layout without a colour grade": grids no finer than 1/8 of the
    painting, on the luminance, so every finer stroke and every colour is the style's."""
    default = recipes.DEFAULT
    assert default.laplacian_on == "luma" and default.laplacian_pool >= 8 and default.light_pool >= 8
    assert default.face_style > 0.1 and default.face_content < 10  # faces painted, not pasted


def test_the_reference_recipes_keep_all_five_style_layers_alike():
    for recipe, per_layer in (
        (recipes.SEED, lambda name, w: w),
        (recipes.PASTICHE, lambda name, w: w * CHANNELS[name] ** 2),
    ):
        assert [name for name, _ in recipe.style_layers] == list(recipes.RELU1)
        assert len({round(per_layer(name, w), 9) for name, w in recipe.style_layers}) == 1
        assert recipe.start == recipes.Start.PHOTO
        assert recipe.laplacian_weight == 0 and recipe.light_weight == 0


def test_the_default_keeps_the_photos_edges_and_its_light_and_dark():
    assert recipes.DEFAULT.laplacian_weight > 0 and recipes.DEFAULT.laplacian_on == "luma"
    assert recipes.DEFAULT.light_weight > 0
    assert recipes.DRAFT.light_weight == recipes.DEFAULT.light_weight  # previews look like the painting
