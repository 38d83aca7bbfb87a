"""Style targets cached on disk: a second paint reuses them; any change of key misses."""

from __future__ import annotations

from dataclasses import replace

import torch

from drawme.models import PaintParams
from engine.painter import Painter
from engine.style_cache import StyleCache, style_key

DRAFT = PaintParams(size=64, recipe="draft")


def test_second_paint_hits_the_cache_and_paints_the_same(tmp_path, photo, starry):
    painter = Painter(device="cpu", cache_dir=tmp_path)
    first = painter.paint(photo, [starry], DRAFT, cache_styles=True, iterations=2)
    assert (painter.style_cache.hits, painter.style_cache.misses) == (0, 1)
    assert len(list(tmp_path.glob("style-*.pt"))) == 1
    second = painter.paint(photo, [starry], DRAFT, cache_styles=True, iterations=2)
    assert painter.style_cache.hits == 1 and painter.style_cache.misses == 1
    assert second.image.tobytes() == first.image.tobytes()


def test_a_hit_skips_the_network_on_the_style_image(tmp_path, photo, starry, monkeypatch):
    painter = Painter(device="cpu", cache_dir=tmp_path)
    painter.paint(photo, [starry], DRAFT, cache_styles=True, iterations=2)
    shapes: list[tuple[int, ...]] = []
    real = Painter.features

    def spy(net, precision, rgb, layers):
        shapes.append(tuple(rgb.shape))
        return real(net, precision, rgb, layers)

    monkeypatch.setattr(Painter, "features", staticmethod(spy))
    painter.paint(photo, [starry], DRAFT, cache_styles=True, iterations=2)
    canvas = (1, 3, 43, 64)
    assert shapes and all(shape == canvas for shape in shapes)  # only the photo and the canvas


def test_changed_size_recipe_or_image_misses(tmp_path, photo, starry, wave):
    painter = Painter(device="cpu", cache_dir=tmp_path)
    painter.paint(photo, [starry], DRAFT, cache_styles=True, iterations=2)
    painter.paint(photo, [starry], replace(DRAFT, size=72), cache_styles=True, iterations=1)
    painter.paint(photo, [starry], replace(DRAFT, recipe="pastiche"), cache_styles=True, iterations=1)
    painter.paint(photo, [wave], DRAFT, cache_styles=True, iterations=2)
    painter.paint(photo, [starry], replace(DRAFT, style_scale=0.8), cache_styles=True, iterations=1)
    assert painter.style_cache.hits == 0 and painter.style_cache.misses == 5


def test_without_cache_styles_nothing_is_written(tmp_path, photo, starry):
    painter = Painter(device="cpu", cache_dir=tmp_path)
    painter.paint(photo, [starry], DRAFT, iterations=2)
    assert list(tmp_path.iterdir()) == []


def test_key_depends_on_every_input():
    pixels = torch.zeros(1, 3, 4, 4)
    layers = ("block1_relu1",)
    key = style_key(pixels, "draft", layers, "mean")
    assert key == style_key(pixels.clone(), "draft", layers, "mean")
    changed = pixels.clone()
    changed[0, 0, 0, 0] = 1
    assert (
        len(
            {
                key,
                style_key(changed, "draft", layers, "mean"),
                style_key(torch.zeros(1, 3, 4, 5), "draft", layers, "mean"),
                style_key(pixels, "seed", layers, "mean"),
                style_key(pixels, "draft", ("block2_relu1",), "mean"),
                style_key(pixels, "draft", layers, "keras"),
            }
        )
        == 6
    )


def test_unreadable_file_is_a_miss_and_gets_rewritten(tmp_path):
    cache = StyleCache(tmp_path)
    cache.path_for("abc").write_bytes(b"not a torch file")
    assert cache.load("abc") is None and cache.misses == 1
    cache.store("abc", {"block1_relu1": torch.eye(2)})
    loaded = cache.load("abc")
    assert cache.hits == 1 and torch.equal(loaded["block1_relu1"], torch.eye(2))
    assert [p.name for p in tmp_path.iterdir()] == ["style-float32-abc.pt"]  # no temp files left behind


def test_painters_of_two_precisions_never_share_targets(tmp_path, photo, starry):
    for precision in ("float32", "bfloat16"):
        painter = Painter(device="cpu", cache_dir=tmp_path, precision=precision)
        painter.paint(photo, [starry], DRAFT, cache_styles=True, iterations=1)
        assert painter.style_cache.hits == 0 and painter.style_cache.misses == 1
    assert sorted(p.name.split("-")[1] for p in tmp_path.glob("style-*.pt")) == ["bfloat16", "float32"]
