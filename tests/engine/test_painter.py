"""Painter.paint on tiny images: every control, with few steps (draft/seed recipes) to stay fast."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from drawme.models import Blend, PaintParams
from drawme.painting import Face, PaintRequest
from engine import painter as painter_module
from engine import recipes
from engine.canvas import image_to_tensor, photo_detail
from engine.colour import match_colours
from engine.losses import laplacian, laplacian_loss, light, light_loss
from engine.objective import LAPLACIAN, LIGHT
from engine.optimise import FIRST_PREVIEW_STEP
from engine.painter import (
    Painter,
    PaintResult,
    Precision,
    Progress,
    pick_device,
    pick_precision,
)

DRAFT = PaintParams(size=64, recipe="draft")


def register(monkeypatch: pytest.MonkeyPatch, *made: recipes.Recipe) -> None:
    """Make test recipes known by name for this test only."""
    for recipe in made:
        monkeypatch.setitem(recipes.RECIPES, recipe.name, recipe)


def paint(painter, photo, styles, params=DRAFT, iterations=8, **kwargs) -> tuple[PaintResult, list[Progress]]:
    events: list[Progress] = []
    result = painter.paint(photo, styles, params, on_progress=events.append, iterations=iterations, **kwargs)
    return result, events


def chroma(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("YCbCr"), dtype=np.float32)[..., 1:]


def test_painting_lowers_the_loss_and_keeps_the_aspect(painter, photo, starry):
    result, events = paint(painter, photo, [starry])
    assert not result.cancelled
    assert result.steps == 8 == events[-1].step
    assert result.image.mode == "RGB"
    assert result.image.size == (64, 43)  # 96×64 photo, long side 64
    assert events[-1].losses["total"] < 0.7 * events[0].losses["total"]
    assert set(result.losses) == {"content", "style", "tv", "total"}
    assert result.losses["total"] == pytest.approx(sum(result.losses[k] for k in ("content", "style", "tv")))
    assert result.device == "cpu" and result.seconds > 0


def test_colours_are_sane(painter, photo, starry):
    result, _ = paint(painter, photo, [starry])
    pixels = np.asarray(result.image, dtype=np.float32)
    assert 20 < pixels.mean() < 235
    assert pixels.std() > 10  # not a flat image
    assert pixels.min() >= 0 and pixels.max() <= 255


def test_output_size_is_the_long_side_for_portrait_photos(painter, photo, starry):
    portrait = photo.transpose(Image.Transpose.ROTATE_90)  # 64×96
    result, _ = paint(painter, portrait, [starry], PaintParams(size=72, recipe="draft"), iterations=2)
    assert result.image.size == (48, 72)


def test_preserve_colors_keeps_the_photos_chroma(painter, photo, starry):
    kept, _ = paint(painter, photo, [starry], PaintParams(size=64, recipe="draft", preserve_colors=True))
    styled, _ = paint(painter, photo, [starry])
    reference = chroma(photo.resize(kept.image.size, Image.LANCZOS))
    kept_error = np.abs(chroma(kept.image) - reference).mean()
    styled_error = np.abs(chroma(styled.image) - reference).mean()
    assert kept_error < 2.0
    assert styled_error > 3 * kept_error  # without the option, the painting's colours come through


def test_should_stop_returns_within_one_step(painter, photo, starry):
    calls = 0

    def stop_after_three() -> bool:
        nonlocal calls
        calls += 1
        return calls > 3

    result, events = paint(
        painter,
        photo,
        [starry],
        iterations=50,
        should_stop=stop_after_three,
    )
    assert result.cancelled
    assert result.steps == 3 == len(events)
    assert result.image.size == (64, 43)


def test_stop_before_the_first_step_returns_the_photo_size(painter, photo, starry):
    result, events = paint(painter, photo, [starry], should_stop=lambda: True)
    assert result.cancelled and result.steps == 0 and events == []
    assert result.image.size == (64, 43)


def test_same_seed_same_painting(painter, photo, starry):
    first, _ = paint(painter, photo, [starry])
    second, _ = paint(painter, photo, [starry])
    assert first.image.tobytes() == second.image.tobytes()


def test_style_blend(painter, photo, starry, wave):
    only_starry, _ = paint(painter, photo, [starry], iterations=4)
    weighted, _ = paint(painter, photo, [starry, wave], replace(DRAFT, mix_blend=(1, 0)), iterations=4)
    mixed, _ = paint(painter, photo, [starry, wave], iterations=4)
    # A zero weight removes a style exactly; equal weights give something else.
    assert weighted.image.tobytes() == only_starry.image.tobytes()
    assert mixed.image.tobytes() != only_starry.image.tobytes()
    with pytest.raises(ValueError):
        painter.paint(photo, [starry, wave], replace(DRAFT, mix_blend=(1.0,)))
    with pytest.raises(ValueError):
        painter.paint(photo, [], DRAFT)


def test_style_scale_changes_the_style_targets(painter, photo, starry, monkeypatch):
    from_photo = replace(recipes.DRAFT, name="draft_photo_start", start=recipes.Start.PHOTO)
    register(monkeypatch, from_photo)
    from_photo_params = PaintParams(size=64, recipe=from_photo.name)
    _, normal = paint(painter, photo, [starry], from_photo_params, iterations=1)
    _, half = paint(painter, photo, [starry], replace(from_photo_params, style_scale=0.5), iterations=1)
    # The first evaluation is on the photo itself: same content term, different style term.
    assert half[0].losses["content"] == normal[0].losses["content"]
    assert half[0].losses["style"] != pytest.approx(normal[0].losses["style"], rel=1e-3)


def test_relative_weights_scale_the_terms(painter, photo, starry):
    _, normal = paint(painter, photo, [starry], iterations=1)
    _, doubled = paint(painter, photo, [starry], replace(DRAFT, blend=Blend(style=2.0, tv=0.0)), iterations=1)
    assert doubled[0].losses["style"] == pytest.approx(2 * normal[0].losses["style"], rel=1e-5)
    assert doubled[0].losses["tv"] == 0.0 < normal[0].losses["tv"]


def test_progress_reports_every_step_and_previews_at_scale_ends(painter, photo, starry):
    result, events = paint(painter, photo, [starry], PaintParams(size=72), iterations=9)  # 5, 3 and 1 steps
    scales = events[0].scales
    assert scales == 3
    assert [e.step for e in events][:3] == [1, 2, 3]
    assert all(e.total == result.steps for e in events)
    previews = [e for e in events if e.preview is not None]
    # The first after FIRST_PREVIEW_STEP coarse steps, then one at each scale's end.
    assert [(e.scale, e.step) for e in previews] == [(1, FIRST_PREVIEW_STEP), (1, 5), (2, 8), (3, 9)]
    widths = [e.preview.size[0] for e in previews]
    assert widths == sorted(widths) and widths[-1] == 72  # coarse to fine
    assert [e.elapsed for e in events] == sorted(e.elapsed for e in events)


def test_work_weighs_each_step_by_its_canvas_area(painter, photo, starry):
    _, events = paint(painter, photo, [starry], PaintParams(size=72), iterations=14)  # 8, 4 and 2 steps
    works = [e.work for e in events]
    assert works == sorted(works) and works[-1] == pytest.approx(1.0)
    # After the coarse scale most of the steps are done, but not most of the work: its canvas is
    # about a ninth of the full size.
    coarse_end = [e for e in events if e.scale == 1][-1]
    assert coarse_end.step / coarse_end.total > 0.5
    assert coarse_end.work < coarse_end.step / coarse_end.total / 2
    # Each full-size step adds the same, largest share.
    full = [b.work - a.work for a, b in itertools.pairwise(events) if b.scale == a.scale == 3]
    assert full and max(full) == pytest.approx(min(full)) and min(full) > works[0]


def test_preview_every_n_steps(painter, photo, starry):
    _, events = paint(painter, photo, [starry], iterations=6, preview_every=2)
    assert [e.step for e in events if e.preview is not None] == [2, FIRST_PREVIEW_STEP, 4, 6]


def test_first_preview_comes_after_a_few_coarse_steps_and_changes_no_pixel(painter, photo, starry):
    """The early preview is the coarse canvas as it stands (issue 25: a preview within seconds); taking
    it moves nothing: the painting is the same, bit for bit, as one painted without any callback."""
    params = PaintParams(size=72)
    result, events = paint(painter, photo, [starry], params, iterations=28)  # 16, 8 and 4 steps
    first = next(e for e in events if e.preview is not None)
    assert (first.scale, first.step) == (1, FIRST_PREVIEW_STEP)
    assert first.preview is not None and first.preview.size[0] == 24  # the 1/3-size canvas
    silent = painter.paint(photo, [starry], params, iterations=28)
    assert np.array_equal(np.asarray(silent.image), np.asarray(result.image))
    assert silent.steps == result.steps


def test_seed_recipe_rounds_are_scales(painter, photo, starry):
    result, events = paint(painter, photo, [starry], PaintParams(size=64, recipe="seed"), iterations=2)
    assert events[0].scales == 2 and events[0].total == 40
    previews = [e for e in events if e.preview is not None]
    # The early preview within the first round, then each round's end.
    assert [e.scale for e in previews] == [1, 1, 2] and previews[0].step == FIRST_PREVIEW_STEP
    assert result.steps <= 40
    assert result.losses["total"] < events[0].losses["total"]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_pastiche_recipe_reproduces_pastiches_loss(painter, tmp_path, photo, starry):
    """At the first evaluation (the canvas is the photo) our loss equals pastiche's own."""
    from pastiche.pastiche import PasticheArtist

    photo_path, style_path = tmp_path / "photo.png", tmp_path / "style.png"
    photo.save(photo_path)
    starry.save(style_path)
    artist = PasticheArtist(str(photo_path), [str(style_path)], device="cpu", size=64)
    _, events = paint(painter, photo, [starry], PaintParams(size=64, recipe="pastiche"), iterations=1)
    assert events[0].losses["total"] == pytest.approx(artist.loss, rel=1e-4)


def test_device_auto_picks_cpu_without_accelerators():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    if expected == "cpu" and torch.backends.mps.is_available():
        expected = "mps"
    assert pick_device("auto").type == expected
    assert Painter(device="cpu").device.type == "cpu"


@pytest.mark.parametrize("native", [True, False])
def test_precision_auto_is_bfloat16_where_the_device_computes_it_natively(monkeypatch, native):
    monkeypatch.setattr(painter_module, "cpu_has_bfloat16", lambda: native)
    cpu = torch.device("cpu")
    assert pick_precision(cpu) is (Precision.BFLOAT16 if native else Precision.FLOAT32)
    assert pick_precision(torch.device("cuda")) is Precision.BFLOAT16
    assert pick_precision(torch.device("mps")) is Precision.FLOAT32
    assert pick_precision(cpu, "float32") is Precision.FLOAT32
    assert pick_precision(cpu, "bfloat16") is Precision.BFLOAT16
    with pytest.raises(ValueError, match="fp16"):
        pick_precision(cpu, "fp16")


def test_bfloat16_convolutions_score_the_canvas_as_float32_does(photo, starry):
    """The same first evaluation in both precisions: the network's weights in each format, the loss
    terms within a few percent of each other (bfloat16 keeps 8 bits of mantissa)."""
    losses = {}
    for precision in Precision:
        painter = Painter(device="cpu", precision=precision)
        _, events = paint(painter, photo, [starry], PaintParams(size=64), iterations=1)
        (net,) = painter._networks.values()
        assert {p.dtype for name, p in net.named_parameters()} == {
            torch.bfloat16 if precision is Precision.BFLOAT16 else torch.float32
        }
        losses[precision] = events[0].losses
    for term, value in losses[Precision.FLOAT32].items():
        assert losses[Precision.BFLOAT16][term] == pytest.approx(value, rel=0.05, abs=1e-3), term


def test_bfloat16_steps_stay_bounded_where_l_bfgs_would_overshoot(photo, starry, monkeypatch):
    """From the photo itself, L-BFGS's second step (its curvature from a tiny first step, read through
    bfloat16's rounding) threw the canvas thousands of levels out of range, and on to NaN; the default's
    max_move bounds every step, so every loss stays finite."""
    assert recipes.DEFAULT.lbfgs.max_move is not None
    from_photo = replace(recipes.DEFAULT, name="default_from_photo", start=recipes.Start.PHOTO)
    register(monkeypatch, from_photo)
    painter = Painter(device="cpu", precision=Precision.BFLOAT16)
    params = PaintParams(size=96, recipe=from_photo.name)
    result, events = paint(painter, photo, [starry], params, iterations=14)
    assert all(math.isfinite(value) for event in events for value in event.losses.values())
    assert np.asarray(result.image).std() > 10  # a picture, not a blank from a NaN canvas


def test_very_wide_photos_still_paint(painter, photo, starry):
    # A 64×6 output is too thin for VGG's four poolings; the canvas grows, the output does not.
    strip = photo.resize((200, 19))
    result, _ = paint(painter, strip, [starry], iterations=1)
    assert result.image.size == (64, 6)


def test_photo_detail_is_what_the_coarse_size_cannot_hold():
    smooth = torch.full((1, 3, 32, 48), 120.0)
    assert photo_detail(smooth, torch.Size((16, 24))).abs().max() < 1e-3  # flat: nothing is lost
    stripes = smooth.clone()
    stripes[..., ::2] = 200.0  # one-pixel stripes vanish at half size
    detail = photo_detail(stripes, torch.Size((16, 24)))
    assert detail.abs().mean() > 30


def test_warm_start_with_detail_starts_finer_scales_closer_to_the_photo(painter, photo, starry, monkeypatch):
    assert recipes.DEFAULT.warm_start_detail
    # The default from the photo itself and without the Laplacian term: the warm start alone.
    detail = replace(
        recipes.DEFAULT, name="default_detail_warm_start", start=recipes.Start.PHOTO, laplacian_weight=0.0
    )
    plain = replace(detail, name="default_plain_warm_start", warm_start_detail=False)
    register(monkeypatch, detail, plain)

    def first_content_loss_at_scale(recipe: str, scale: int) -> float:
        _, events = paint(painter, photo, [starry], PaintParams(size=96, recipe=recipe), iterations=14)
        return next(e for e in events if e.scale == scale).losses["content"]

    for scale in (2, 3):
        with_detail = first_content_loss_at_scale(detail.name, scale)
        assert with_detail < first_content_loss_at_scale(plain.name, scale)


def stage_terms(painter, photo, style, recipe: recipes.Recipe, index: int) -> dict:
    """The loss terms of one canvas (the photo + noise) scored as stage `index` of `recipe`."""
    run = painter.run(PaintRequest(photo, [style], PaintParams(size=96, recipe=recipe.name)))
    stage = run.stages[index]
    size = run.canvas_size(stage)
    pixels = image_to_tensor(photo, size, "lanczos")
    noise = torch.randn(pixels.shape, generator=torch.Generator().manual_seed(0)) * 40
    run.canvas = pixels + noise
    run.objective(run.content_targets(pixels), run.style_targets(size), run.face_guides(pixels))
    return run.losses


def test_laplacian_term_compares_the_same_coarse_grid_at_every_stage(painter, photo, starry, monkeypatch):
    base = replace(
        recipes.DEFAULT, name="default_test_base", face_content=1.0, face_style=1.0, laplacian_weight=0.0
    )
    steered = replace(base, name="default_test_laplacian", laplacian_weight=100.0, laplacian_pool=8.0)
    register(monkeypatch, base, steered)
    grids = set()
    for index, stage in enumerate(steered.stages):
        run = painter.run(PaintRequest(photo, [starry], PaintParams(size=96, recipe=steered.name)))
        pixels = image_to_tensor(photo, run.canvas_size(stage), "lanczos")
        grids.add(tuple(run.content_targets(pixels)[LAPLACIAN].shape[2:]))
        plain = stage_terms(painter, photo, starry, base, index)
        with_term = stage_terms(painter, photo, starry, steered, index)
        assert with_term["content"] > 1.05 * plain["content"]  # the noise breaks the photo's edges
        assert with_term["style"] == pytest.approx(plain["style"], rel=1e-5)
    # 96×64 output / 8 = 12×8 cells, less the 3×3 Laplacian's border: one grid from ⅓ size to full.
    assert grids == {(6, 10)}


def test_laplacian_term_keeps_the_photos_coarse_edges(painter, photo, starry, monkeypatch):
    # From the photo itself, to see the term alone.
    base = replace(recipes.DEFAULT, name="default_test_base", laplacian_weight=0.0, start=recipes.Start.PHOTO)
    steered = replace(base, name="default_test_laplacian", laplacian_weight=10000.0, laplacian_on="luma")
    register(monkeypatch, base, steered)
    grid = (8, 12)  # 96×64 / 8

    def coarse_edge_error(recipe: str) -> float:
        # 40 steps: after a dozen L-BFGS is still in its first swings, whose size differs between CPUs.
        result, _ = paint(painter, photo, [starry], PaintParams(size=96, recipe=recipe), iterations=40)
        painted = image_to_tensor(result.image, result.image.size, "lanczos")
        target = laplacian(image_to_tensor(photo, result.image.size, "lanczos"), grid, luma=True)
        return float(laplacian_loss(painted, target, grid, luma=True))

    assert coarse_edge_error(steered.name) < 0.5 * coarse_edge_error(base.name)


def test_light_term_keeps_the_photos_light_and_dark_on_one_grid(painter, photo, starry, monkeypatch):
    # From the photo in the style's colours (the default's start), which lifts the photo's darks.
    base = replace(
        recipes.DEFAULT, name="default_test_base", face_content=1.0, face_style=1.0, light_weight=0.0
    )
    steered = replace(base, name="default_test_light", light_weight=30000.0, light_pool=16.0)
    register(monkeypatch, base, steered)
    grid = (4, 6)  # 96×64 / 16, at every stage
    for stage in steered.stages:
        run = painter.run(PaintRequest(photo, [starry], PaintParams(size=96, recipe=steered.name)))
        pixels = image_to_tensor(photo, run.canvas_size(stage), "lanczos")
        assert tuple(run.content_targets(pixels)[LIGHT].shape[2:]) == grid

    def light_error(recipe: str) -> float:
        result, _ = paint(painter, photo, [starry], PaintParams(size=96, recipe=recipe), iterations=40)
        painted = image_to_tensor(result.image, result.image.size, "lanczos")
        target = light(image_to_tensor(photo, result.image.size, "lanczos"), grid)
        return float(light_loss(painted, target, grid))

    # A weight far above the default's, so 40 steps show the term alone.
    assert light_error(steered.name) < 0.3 * light_error(base.name)


class OneFace:
    """A face detector that always finds one face in the middle of the picture."""

    FACE = Face(left=0.35, top=0.3, right=0.65, bottom=0.7)

    def detect(self, image: Image.Image) -> list[Face]:
        return [self.FACE]


def test_the_default_starts_from_the_photo_in_the_styles_colours_faces_in_their_own(photo, starry):
    assert recipes.DEFAULT.start == recipes.Start.PHOTO_IN_STYLE_COLOURS
    painter = Painter(device="cpu", face_detector=OneFace())
    for faces in (True, False):
        run = painter.run(PaintRequest(photo, [starry], PaintParams(size=96, protect_faces=faces)))
        size = run.canvas_size(run.stages[0])
        pixels = image_to_tensor(photo, size, "lanczos")
        start = run.start(pixels, size)
        recoloured = match_colours(pixels, [image_to_tensor(starry, run.style_size(starry, size), "lanczos")])
        assert not torch.allclose(recoloured, pixels, atol=10)
        # Away from the face: the photo in the painting's colours.
        corner = (slice(None), slice(None), slice(0, size[1] // 5), slice(0, size[0] // 5))
        assert torch.allclose(start[corner], recoloured[corner], atol=1e-3)
        # On the face: its own colours while protected, the painting's when painted over.
        centre = (slice(None), slice(None), size[1] // 2, size[0] // 2)
        assert torch.allclose(start[centre], pixels[centre] if faces else recoloured[centre], atol=1e-3)


def test_the_default_finishes_in_the_styles_palette_at_its_own_light_faces_in_their_own(photo, starry):
    assert recipes.DEFAULT.final_palette and not recipes.SEED.final_palette
    painter = Painter(device="cpu", face_detector=OneFace())
    requests = {
        faces: PaintRequest(photo, [starry], PaintParams(size=96, protect_faces=faces))
        for faces in (True, False)
    }
    finished = {faces: painter.run(request).finish(photo) for faces, request in requests.items()}
    for image in finished.values():  # each pixel keeps its light and dark
        luma = np.asarray(image.convert("L"), dtype=np.float32)
        assert np.abs(luma - np.asarray(photo.convert("L"), dtype=np.float32)).mean() < 1.5
    # The picture's colours move to the style's.
    style_cast = chroma(starry).reshape(-1, 2).mean(axis=0)
    before = np.abs(chroma(photo).reshape(-1, 2).mean(axis=0) - style_cast).sum()
    after = np.abs(chroma(finished[False]).reshape(-1, 2).mean(axis=0) - style_cast).sum()
    assert after < 0.2 * before
    # The protected face keeps its own colours; away from it, both are the same.
    centre = (photo.height // 2, photo.width // 2)
    pixels = {faces: np.asarray(image).astype(int) for faces, image in finished.items()}
    assert np.abs(pixels[True][centre] - np.asarray(photo)[centre]).max() <= 1
    assert np.abs(pixels[False][centre] - np.asarray(photo)[centre]).max() > 5
    corner = (slice(0, photo.height // 5), slice(0, photo.width // 5))
    assert np.array_equal(pixels[True][corner], pixels[False][corner])


def test_a_painting_takes_one_recipe_at_every_size(painter, photo, starry):
    for size in (96, 384, 768):
        run = painter.run(PaintRequest(photo, [starry], PaintParams(size=size, protect_faces=False)))
        assert run.recipe == recipes.DEFAULT


def test_preserve_colors_wins_over_the_final_palette(painter, photo, starry):
    run = painter.run(PaintRequest(photo, [starry], PaintParams(size=96, preserve_colors=True)))
    reference = chroma(photo)
    assert np.abs(chroma(run.finish(photo)) - reference).mean() < 1.0


def test_a_recipe_can_start_from_the_photo_itself(painter, photo, starry, monkeypatch):
    plain = replace(recipes.DEFAULT, name="default_photo_start", start="photo")
    register(monkeypatch, plain)
    run = painter.run(PaintRequest(photo, [starry], PaintParams(size=96, recipe=plain.name)))
    pixels = image_to_tensor(photo, run.canvas_size(run.stages[0]), "lanczos")
    assert torch.equal(run.start(pixels, run.canvas_size(run.stages[0])), pixels)


def test_a_line_search_with_one_step_per_call_keeps_to_the_stage_budget(painter, photo, starry, monkeypatch):
    """torch's LBFGS with max_iter=1 and a line search may want more evaluations in one step than the
    stage has left: the stage ends on its last evaluated canvas instead of failing."""
    line_search = replace(recipes.DRAFT.lbfgs, line_search_fn="strong_wolfe", max_move=None)
    searching = replace(recipes.DRAFT, name="draft_line_search", lbfgs=line_search)
    register(monkeypatch, searching)
    params = PaintParams(size=64, recipe=searching.name)
    result, events = paint(painter, photo, [starry], params, iterations=6)
    assert not result.cancelled and result.steps == 6 == events[-1].step
    assert events[-1].losses["total"] < events[0].losses["total"]
