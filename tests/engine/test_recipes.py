"""engine.recipes: layer weights, and the reference recipes left exactly as their sources."""

from __future__ import annotations

from dataclasses import replace

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


def test_the_default_lightens_the_deep_style_layers_and_runs_no_deeper_than_block4():
    per_channel = {name: w * CHANNELS[name] ** 2 for name, w in recipes.DEFAULT.style_layers}
    assert per_channel == pytest.approx(
        {"block1_relu1": 1.0, "block2_relu1": 1.0, "block3_relu1": 0.3, "block4_relu1": 0.1}
    )
    assert not any(layer.startswith("block5") for layer in recipes.DEFAULT.layers)


def test_from_the_medium_size_up_the_default_keeps_more_of_the_photos_layout():
    small, medium, large = (recipes.DEFAULT.at_size(size) for size in (256, 384, 512))
    assert small is recipes.DEFAULT
    per_channel = {name: w * CHANNELS[name] ** 2 for name, w in medium.style_layers}
    assert per_channel == pytest.approx({"block1_relu1": 1.0, "block2_relu1": 1.0, "block3_relu1": 0.1})
    assert medium.light_weight > small.light_weight
    assert medium.at_sizes == () and medium.name == "default"
    assert medium.light_floor == 0 and small.light_floor == 0
    # From the large size up the same style, with the light compared by ratio.
    assert large.style_layers == medium.style_layers and large.light_floor > 0 and large.at_sizes == ()
    assert recipes.DEFAULT.at_size(319) is recipes.DEFAULT and recipes.DEFAULT.at_size(320) == medium
    assert recipes.DEFAULT.at_size(447) == medium and recipes.DEFAULT.at_size(448) == large
    for recipe in (recipes.SEED, recipes.PASTICHE):  # the references paint alike at every size
        assert recipe.at_size(384) is recipe


def test_the_largest_size_step_that_applies_wins():
    recipe = replace(recipes.DRAFT, at_sizes=((500, (("tv_weight", 3.0),)), (300, (("tv_weight", 2.5),))))
    assert [recipe.at_size(size).tv_weight for size in (100, 300, 499, 500, 2000)] == [
        recipes.DRAFT.tv_weight, 2.5, 2.5, 3.0, 3.0
    ]


def test_a_larger_size_step_keeps_what_a_smaller_one_changed():
    recipe = replace(recipes.DRAFT, at_sizes=((500, (("tv_weight", 3.0),)), (300, (("light_pool", 8.0),))))
    large = recipe.at_size(600)
    assert (large.tv_weight, large.light_pool) == (3.0, 8.0)
    assert recipe.at_size(400).tv_weight == recipes.DRAFT.tv_weight


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
