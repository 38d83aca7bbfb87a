"""engine.encoding: the engine's pictures saved as PNG or JPEG, whole or not at all."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from engine.encoding import save_image

RED, BLUE = (255, 0, 0), (0, 0, 255)


def test_save_image_png_round_trips_exactly(tmp_path):
    picture = Image.effect_noise((80, 64), 64).convert("RGB")
    written = save_image(picture, tmp_path / "out" / "result.png")  # parent is created
    assert written == tmp_path / "out" / "result.png"
    with Image.open(written) as saved:
        assert saved.format == "PNG" and saved.tobytes() == picture.tobytes()
    assert [p.name for p in written.parent.iterdir()] == ["result.png"]  # no temp file left


def test_save_image_jpeg_by_suffix_or_format(tmp_path):
    colour = (200, 30, 90)
    picture = Image.new("RGB", (64, 64), colour)
    targets = [(tmp_path / "a.jpg", None), (tmp_path / "b.JPEG", None), (tmp_path / "c.out", "jpeg")]
    for path, format in targets:
        save_image(picture, path, format=format)
        with Image.open(path) as saved:
            assert saved.format == "JPEG"
            pixel = saved.convert("RGB").getpixel((32, 32))
            assert max(abs(a - b) for a, b in zip(pixel, colour, strict=True)) <= 4  # quality 95
    with pytest.raises(ValueError, match="format"):
        save_image(picture, tmp_path / "d.bmp")


def test_save_image_clamps_arrays_instead_of_wrapping(tmp_path):
    floats = np.zeros((64, 64, 3), dtype=np.float32)
    floats[..., 0], floats[..., 1], floats[..., 2] = 1.7, -0.4, 0.5  # out of range, as an optimiser leaves it
    with Image.open(save_image(floats, tmp_path / "f.png")) as saved:
        assert saved.getpixel((0, 0)) == (255, 0, 128)


def test_save_image_replaces_atomically(tmp_path, monkeypatch):
    target = tmp_path / "result.png"
    save_image(Image.new("RGB", (64, 64), RED), target)

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", fail)
    with pytest.raises(OSError, match="disk full"):
        save_image(Image.new("RGB", (64, 64), BLUE), target)
    monkeypatch.undo()
    with Image.open(target) as kept:  # the old file is intact and no temp file is left behind
        assert kept.getpixel((0, 0)) == RED
    assert [p.name for p in tmp_path.iterdir()] == ["result.png"]


def test_a_saved_painting_gets_the_mode_of_any_new_file_not_a_private_one(tmp_path):
    previous = os.umask(0o027)
    try:
        path = save_image(Image.new("RGB", (4, 4)), tmp_path / "painting.png")
    finally:
        os.umask(previous)
    assert path.stat().st_mode & 0o777 == 0o640  # 0666 under the umask, not mkstemp's 0600
