"""Several paintings in one batch (Painter.paint_batch): each as it would be alone, each leaving alone.

L-BFGS on this problem is chaotic: a relative change of 1e-6 in the photo changes a 30-step painting
by about 6 grey levels on average (measured; docs/PERFORMANCE.md "Batched painting"), and stacking
images changes the convolutions' rounding by as much. So "the same as alone" is checked where it is
exact, the gradient of each image, and on short paintings (5 steps), where it must agree to within 2 grey
levels; the optimiser itself is checked against torch's LBFGS in float64 (tests/engine/test_lbfgs.py).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import PHOTOS, PRESETS, small
from PIL import Image

from drawme.models import Blend, PaintParams
from drawme.painting import Face, PaintRequest, PaintResult
from engine.canvas import image_to_tensor
from engine.objective import Targets, score
from engine.painter import Painter

SHORT = 5  # steps: 3 at ⅓ size, 1 at ⅔, 1 at full


def crop(name: str, size: tuple[int, int] = (96, 64)) -> Image.Image:
    return Image.open(PHOTOS / name).convert("RGB").resize(size, Image.LANCZOS)


@pytest.fixture(scope="module")
def pictures() -> list[tuple[Image.Image, Image.Image, PaintParams]]:
    """Three photos, three styles and three sets of params, all on one 96×64 canvas plan."""
    return [
        (
            crop("astronaut.jpg"),
            small(PRESETS / "starry_night.jpg", 96),
            PaintParams(size=96),
        ),
        (
            crop("chelsea.jpg"),
            small(PRESETS / "great_wave.jpg", 96),
            PaintParams(size=96, blend=Blend(style=2.0, tv=0.5)),
        ),
        (crop("coffee.jpg"), small(PRESETS / "the_scream.jpg", 96), PaintParams(size=96)),
    ]


def request(photo: Image.Image, style: Image.Image, params: PaintParams, **kwargs) -> PaintRequest:
    """One short painting (SHORT steps) of `photo` in `style`."""
    return PaintRequest(photo, (style,), params, iterations=SHORT, **kwargs)


def alone(
    painter: Painter, photo: Image.Image, style: Image.Image, params: PaintParams, **kwargs
) -> PaintResult:
    """`request`'s painting, painted by itself."""
    return painter.paint(photo, [style], params, iterations=SHORT, **kwargs)


def requests_of(pictures) -> list[PaintRequest]:
    return [request(*picture) for picture in pictures]


def pixels(result: PaintResult) -> np.ndarray:
    return np.asarray(result.image, dtype=np.float64)


def assert_like(together: PaintResult, alone: PaintResult) -> None:
    assert together.image.size == alone.image.size
    assert np.abs(pixels(together) - pixels(alone)).max() <= 2
    assert together.steps == alone.steps
    assert together.losses["total"] == pytest.approx(alone.losses["total"], rel=1e-3)


def test_each_images_gradient_is_its_own(painter, pictures):
    runs = [painter.run(request(*picture)) for picture in pictures]
    size = runs[0].canvas_size(runs[0].stages[-1])
    parts, canvases = [], []
    for number, run in enumerate(runs):
        photo = image_to_tensor(run.content, size, "lanczos")
        parts.append(run.targets(photo, size, guided=False))
        noise = torch.randn(photo.shape, generator=torch.Generator().manual_seed(number)) * 30
        canvases.append(photo + noise)

    def gradient(canvas: torch.Tensor, targets: Targets) -> tuple[torch.Tensor, torch.Tensor]:
        canvas = canvas.clone().requires_grad_(True)
        terms = score(runs[0].features, runs[0].recipe, canvas, targets)
        terms["total"].sum().backward()
        return terms["total"].detach(), canvas.grad

    together_loss, together_grad = gradient(torch.cat(canvases), Targets.stack(parts))
    for number, (canvas, targets) in enumerate(zip(canvases, parts, strict=True)):
        loss, grad = gradient(canvas, targets)
        assert together_loss[number] == pytest.approx(float(loss), rel=1e-5)
        assert torch.allclose(together_grad[number], grad[0], rtol=1e-3, atol=1e-3 * float(grad.abs().max()))


def test_a_batch_paints_each_image_as_it_would_be_painted_alone(painter, pictures):
    each = [alone(painter, *picture) for picture in pictures]
    together = painter.paint_batch(requests_of(pictures))
    for one, other in zip(together, each, strict=True):
        assert isinstance(one, PaintResult) and not one.cancelled
        assert_like(one, other)
    # Different photos, styles and weights: three different paintings, not one painted thrice.
    assert np.abs(pixels(together[0]) - pixels(together[1])).mean() > 20


def test_a_cancelled_painting_leaves_the_batch_and_the_others_finish(painter, pictures):
    seen: list[int] = []
    stop = {"now": False}

    def on_progress(progress) -> None:
        seen.append(progress.step)
        stop["now"] = progress.step >= 2

    requests = requests_of(pictures)
    requests[1] = request(*pictures[1], on_progress=on_progress, should_stop=lambda: stop["now"])
    outcomes = painter.paint_batch(requests)
    cancelled = outcomes[1]
    assert isinstance(cancelled, PaintResult) and cancelled.cancelled and cancelled.steps == 2
    assert seen == [1, 2]
    assert cancelled.image.size == (96, 64)
    for number in (0, 2):
        assert_like(outcomes[number], alone(painter, *pictures[number]))


def test_a_painting_whose_callback_fails_leaves_alone(painter, pictures):
    def broken(progress) -> None:
        if progress.step == 3:
            raise RuntimeError("the progress store went away")

    requests = requests_of(pictures)
    requests[0] = request(*pictures[0], on_progress=broken)
    outcomes = painter.paint_batch(requests)
    assert isinstance(outcomes[0], RuntimeError)
    for number in (1, 2):
        assert_like(outcomes[number], alone(painter, *pictures[number]))


def test_refused_params_and_other_shapes_do_not_stop_the_others(painter, pictures):
    photo, style, params = pictures[0]
    tall = crop("chelsea.jpg", (64, 96))
    outcomes = painter.paint_batch(
        [
            request(photo, style, params),
            PaintRequest(photo, (), params, iterations=SHORT),  # no style: refused
            request(tall, style, params),  # another canvas plan: its own batch
        ]
    )
    assert isinstance(outcomes[1], ValueError)
    assert outcomes[0].image.size == (96, 64) and outcomes[2].image.size == (64, 96)
    assert_like(outcomes[0], alone(painter, photo, style, params))
    assert_like(outcomes[2], alone(painter, tall, style, params))


class FaceInFirst:
    """Finds one face in the astronaut photo only, so a batch mixes guided and unguided paintings."""

    def __init__(self, marked: Image.Image) -> None:
        self.marked = marked.tobytes()

    def detect(self, image: Image.Image) -> list[Face]:
        return [Face(0.35, 0.2, 0.65, 0.7)] if image.tobytes() == self.marked else []


def test_faces_in_one_painting_guide_only_that_painting(pictures):
    painter = Painter(device="cpu", face_detector=FaceInFirst(pictures[0][0]))
    together = painter.paint_batch(requests_of(pictures))
    assert len(together[0].faces) == 1 and together[1].faces == ()
    for number, picture in enumerate(pictures):
        assert_like(together[number], alone(painter, *picture))


def test_batch_limit_is_one_on_the_cpu(painter):
    assert painter.batch_limit(PaintParams(size=512)) == 1


def test_two_paintings_leaving_one_after_the_other_each_keep_their_own_canvas(painter, pictures):
    # C, A, B in the batch: A stops as stage 2 starts (3 steps done), B at the next step, before any
    # evaluation of stage 2, so both leave with their warm-started canvases.
    steps_of_a: list[int] = []
    polls_after_a = {"count": 0}

    def a_should_stop() -> bool:
        return len(steps_of_a) >= 3

    def b_should_stop() -> bool:
        if len(steps_of_a) >= 3:
            polls_after_a["count"] += 1
        return polls_after_a["count"] >= 2

    (photo_a, style_a, params), (photo_b, style_b, _), (photo_c, style_c, _) = pictures
    outcomes = painter.paint_batch(
        [
            request(photo_c, style_c, params),
            request(photo_a, style_a, params, on_progress=steps_of_a.append, should_stop=a_should_stop),
            request(photo_b, style_b, params, should_stop=b_should_stop),
        ]
    )
    c, a, b = outcomes
    assert a.cancelled and b.cancelled and not c.cancelled
    assert a.steps == b.steps == 3 and c.steps == SHORT

    def stopped_after_three(photo, style) -> PaintResult:
        seen: list[int] = []
        stop = lambda: len(seen) >= 3  # noqa: E731
        return alone(painter, photo, style, params, on_progress=seen.append, should_stop=stop)

    assert_like(a, stopped_after_three(photo_a, style_a))
    assert_like(b, stopped_after_three(photo_b, style_b))


def test_batch_limit_counts_torchs_cached_blocks_as_free(monkeypatch):
    from engine import memory, recipes

    painter = Painter(device="cpu", face_detector=FaceInFirst(Image.new("RGB", (8, 8))))
    painter._gpu = True  # the GPU's arithmetic, with the device's figures faked
    gib = 2**30
    monkeypatch.setattr(memory, "available_bytes", lambda device: 4 * gib)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device=None: 2 * gib)
    history = memory.history_pairs(recipes.DEFAULT)
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda device=None: 20 * gib)
    assert painter.batch_limit(PaintParams(size=512)) == memory.batch_size(22 * gib, 512, 1.0, history)
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda device=None: 2 * gib)
    assert painter.batch_limit(PaintParams(size=512)) == memory.batch_size(4 * gib, 512, 1.0, history)
    assert memory.batch_size(22 * gib, 512, 1.0, history) > memory.batch_size(4 * gib, 512, 1.0, history) >= 1
