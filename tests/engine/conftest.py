"""Shared fixtures for the engine tests: one CPU Painter and tiny pictures, so the suite stays fast."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from engine.painter import Painter

# One intra-op thread: on a small shared CPU, OpenMP threads spin-waiting for a busy core cost up
# to 8× the CPU time of a single thread (measured while other test suites ran alongside).
torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parents[2]
PHOTOS = ROOT / "tests" / "data" / "photos"
PRESETS = ROOT / "drawme" / "paintings"


def small(path: Path, long_side: int) -> Image.Image:
    image = Image.open(path).convert("RGB")
    image.thumbnail((long_side, long_side), Image.LANCZOS)
    return image


@pytest.fixture(scope="session")
def painter() -> Painter:
    return Painter(device="cpu")


@pytest.fixture(scope="session")
def photo() -> Image.Image:
    """A 96×64 landscape crop of a portrait: non-square, so aspect handling is exercised."""
    image = Image.open(PHOTOS / "astronaut.jpg").convert("RGB")
    width, height = image.size
    crop = image.crop((0, 0, width, height * 2 // 3))
    return crop.resize((96, 64), Image.LANCZOS)


@pytest.fixture(scope="session")
def starry() -> Image.Image:
    return small(PRESETS / "starry_night.jpg", 96)


@pytest.fixture(scope="session")
def wave() -> Image.Image:
    return small(PRESETS / "great_wave.jpg", 96)
