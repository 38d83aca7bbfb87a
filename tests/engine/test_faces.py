"""Face detection on real photos, the face mask at every scale, and protected painting (engine.guidance)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from PIL import Image

from drawme.models import PaintParams
from engine import recipes
from engine.canvas import image_to_tensor
from engine.faces import Face, HogFaceDetector
from engine.guidance import FEATHER, content_weight_map, face_mask, style_guide
from engine.losses import content_loss, gram_matrix
from engine.painter import Precision
from engine.run import layer_grid

ROOT = Path(__file__).resolve().parents[2]
PHOTOS = ROOT / "tests" / "data" / "photos"
PRESETS = ROOT / "drawme" / "paintings"


def small(path: Path, long_side: int) -> Image.Image:
    image = Image.open(path).convert("RGB")
    image.thumbnail((long_side, long_side), Image.LANCZOS)
    return image


@pytest.fixture(scope="module")
def detector() -> HogFaceDetector:
    return HogFaceDetector()


def photo(name: str, long_side: int = 384) -> Image.Image:
    return small(PHOTOS / f"{name}.jpg", long_side)


def group_of_three() -> Image.Image:
    """Three full-length figures on a 384×288 landscape: faces ~26 px tall (a full-length portrait)."""
    image = photo("tubingen", 384).resize((384, 288))
    figure = Image.open(PHOTOS / "biden.jpg").convert("RGB")
    for index, x in enumerate((56, 168, 280)):
        height = 195 - 15 * index
        person = figure.resize((round(figure.width * height / figure.height), height), Image.LANCZOS)
        image.paste(person, (x, 288 - height))
    return image


@pytest.mark.parametrize("name", ["astronaut", "obama", "biden"])
def test_one_face_on_each_portrait(detector, name):
    faces = detector.detect(photo(name))
    assert len(faces) == 1
    face = faces[0]
    assert 0 <= face.left < face.right <= 1 and 0 <= face.top < face.bottom <= 1
    assert face.score > 0


def test_the_box_is_on_the_face(detector):
    # astronaut.jpg: her face spans about x 0.33–0.55, y 0.12–0.42 of the picture.
    (face,) = detector.detect(photo("astronaut"))
    centre = ((face.left + face.right) / 2, (face.top + face.bottom) / 2)
    assert 0.35 < centre[0] < 0.55 and 0.15 < centre[1] < 0.4


def test_two_people_side_by_side(detector):
    left, right = photo("obama", 256), photo("astronaut", 256)
    pair = Image.new("RGB", (left.width + right.width, 256))
    pair.paste(left, (0, 0))
    pair.paste(right, (left.width, 0))
    faces = detector.detect(pair)
    assert len(faces) == 2
    split = left.width / pair.width
    assert sorted(face.right <= split for face in faces) == [False, True]  # one on each side


def test_three_small_faces_in_a_full_length_group(detector):
    faces = detector.detect(group_of_three())
    assert len(faces) == 3
    assert all(face.height * 288 < 40 for face in faces)  # small faces, as in a full-length portrait


@pytest.mark.parametrize("name", ["tubingen", "coffee", "chelsea"])
def test_no_face_on_a_landscape_a_cup_or_a_cat(detector, name):
    assert detector.detect(photo(name)) == []


# -- the mask ------------------------------------------------------------------------------------

FACE = Face(left=0.4, top=0.3, right=0.6, bottom=0.5)


def test_mask_is_one_on_the_face_zero_far_away_and_feathered():
    mask = face_mask([FACE], (200, 200))[0, 0]
    assert mask.shape == (200, 200)
    assert mask[76, 100] > 0.99  # the centre (raised a little toward the forehead)
    assert mask[5, 5] == 0 and mask[195, 100] == 0
    row = mask[76, 100:]
    assert torch.all(row[1:] <= row[:-1] + 1e-6)  # falls monotonically away from the centre
    between = ((row > 0.05) & (row < 0.95)).sum().item()
    # The feather spans ±FEATHER of the ellipse's half-width (0.13 of 200 px): ~18 px of soft edge.
    assert between >= FEATHER * 0.13 * 200 * 1.5


def test_mask_of_several_faces_has_a_blob_for_each():
    other = Face(left=0.05, top=0.6, right=0.15, bottom=0.7)
    mask = face_mask([FACE, other], (100, 100))[0, 0]
    assert mask[38, 50] > 0.99 and mask[63, 10] > 0.9
    assert mask[63, 50] < 0.01  # nothing between them


@pytest.mark.parametrize("size", [(43, 64), (86, 128), (128, 192), (171, 256)])
def test_mask_has_the_same_shape_at_every_scale(size):
    mask = face_mask([FACE], size)[0, 0]
    width, height = size
    assert mask.shape == (height, width)
    ys, xs = torch.nonzero(mask > 0.5, as_tuple=True)
    # The half-mask's centre and extent, as fractions of the canvas, agree across scales (within a pixel).
    assert (xs.float().mean() + 0.5) / width == pytest.approx(0.5, abs=1.5 / width)
    assert (ys.float().mean() + 0.5) / height == pytest.approx(
        0.38, abs=0.03
    )  # raised by RAISE × the box height
    assert (xs.max() - xs.min() + 1) / width == pytest.approx(0.2 * 1.3, abs=0.1)


def test_content_weights_are_higher_on_faces_even_when_a_face_is_under_one_cell():
    tiny = Face(left=0.5, top=0.5, right=0.53, bottom=0.54)  # ~2 px on a 64 px canvas
    mask = face_mask([tiny], (64, 64))
    weights = content_weight_map(mask, (8, 8), 4.0)[0, 0]  # relu4_2's grid at 64 px
    assert weights.max() == pytest.approx(4.0, rel=0.05)  # the face's cell keeps its weight
    assert weights.min() == 1.0 and (weights > 1.0).sum() <= 4
    guide = style_guide(mask, (8, 8), 0.3)[0, 0]
    assert guide.min() < 1.0 and guide.min() >= 0.3 and guide.max() == 1.0


def test_a_uniform_guide_leaves_the_gram_unchanged_and_a_face_guide_discounts_it():
    features = torch.randn(1, 4, 6, 6)
    plain = gram_matrix(features)
    assert torch.allclose(gram_matrix(features, guide=torch.full((1, 1, 6, 6), 0.5)), plain, atol=1e-5)
    guide = torch.ones(1, 1, 6, 6)
    guide[..., :3, :] = 0.0  # the "face" half does not count at all
    assert torch.allclose(gram_matrix(features, guide=guide), gram_matrix(features[..., 3:, :]), atol=1e-5)


def test_weighted_content_loss():
    features, target = torch.ones(1, 1, 1, 2), torch.zeros(1, 1, 1, 2)
    weight = torch.tensor([[[[1.0, 3.0]]]])
    assert content_loss(features, target, "mean", weight).item() == pytest.approx(2.0)
    assert content_loss(features, target, "keras", weight).item() == pytest.approx(4.0)


# -- painting ------------------------------------------------------------------------------------


def test_protected_faces_stay_closer_to_the_photo_in_the_content_loss(painter):
    portrait = photo("astronaut", 96)
    params = PaintParams(size=96, recipe="draft")
    scream = small(PRESETS / "the_scream.jpg", 96)
    protected = painter.paint(portrait, [scream], params, iterations=20)
    painted_over = painter.paint(portrait, [scream], replace(params, protect_faces=False), iterations=20)
    assert len(protected.faces) == 1 and painted_over.faces == ()
    layer = recipes.DRAFT.content_layers[0][0]
    net = painter.network(recipes.DRAFT.layers, Precision.FLOAT32)
    size = protected.image.size
    target = net(image_to_tensor(portrait, size, "lanczos"), [layer])[layer]
    region = content_weight_map(face_mask(protected.faces, size), tuple(target.shape[2:]), 2.0) - 1.0

    def face_content_loss(result) -> float:
        features = net(image_to_tensor(result.image, size, "lanczos"), [layer])[layer]
        return content_loss(features, target, "mean", region).item()

    with torch.no_grad():
        assert face_content_loss(protected) < 0.8 * face_content_loss(painted_over)


def test_layer_grids_match_the_network(painter):
    pixels = torch.rand(1, 3, 43, 61) * 255
    net = painter.network(recipes.DEFAULT.layers, Precision.FLOAT32)
    with torch.no_grad():
        features = net(pixels, recipes.DEFAULT.layers)
    for name, feature in features.items():
        assert layer_grid(name, (43, 61)) == tuple(feature.shape[2:])
