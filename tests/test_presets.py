"""drawme.presets: six paintings with stable ids, credited, loadable without torch."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from drawme.presets import PRESETS, Preset, get_preset, thumbnail

PRESETS_DIR = Path(__file__).resolve().parents[1] / "drawme" / "paintings"
# The ids are stored in jobs and sent as callback data: changing one breaks users' buttons.
STABLE_IDS = ["starry_night", "the_scream", "great_wave", "composition_vii", "shipwreck", "udnie"]


def test_ids_are_the_stable_file_stems_in_gallery_order():
    assert list(PRESETS) == STABLE_IDS
    for preset_id, preset in PRESETS.items():
        assert preset.id == preset_id
        assert Path(preset.filename).stem == preset_id


def test_every_painting_file_is_a_preset():
    stems = sorted(path.stem for path in PRESETS_DIR.glob("*.jpg"))
    assert stems == sorted(PRESETS)


@pytest.mark.parametrize("preset_id", STABLE_IDS)
def test_ids_fit_in_callback_data(preset_id):
    # Telegram allows 64 bytes of callback data; ids stay small so "style:<id>" and friends fit.
    assert preset_id.isascii() and re.fullmatch(r"[a-z0-9_]+", preset_id)
    assert len(preset_id.encode()) <= 20


@pytest.mark.parametrize("preset", PRESETS.values(), ids=list(PRESETS))
def test_every_preset_loads_as_rgb(preset):
    assert preset.path.is_file()
    image = preset.image()
    assert image.mode == "RGB" and min(image.size) >= 256


@pytest.mark.parametrize("preset", PRESETS.values(), ids=list(PRESETS))
def test_titles_fit_a_button(preset):
    assert preset.title and preset.artist and re.search(r"\d{4}", preset.year)
    assert len(preset.label) <= 32


def test_credits_list_every_preset_with_its_artist_and_year():
    credits = (PRESETS_DIR / "CREDITS.md").read_text(encoding="utf-8")
    rows = {line.split("|")[1].strip(): line for line in credits.splitlines() if line.startswith("| ")}
    for preset in PRESETS.values():
        row = rows[preset.filename]
        assert preset.artist.casefold() in row.casefold() and preset.year in row
        assert "public domain" in row


def test_get_preset():
    assert get_preset("udnie") is PRESETS["udnie"]
    with pytest.raises(KeyError, match="starry_night"):
        get_preset("mona_lisa")


def test_presets_are_frozen():
    with pytest.raises(AttributeError):
        PRESETS["udnie"].title = "Something else"  # type: ignore[misc]
    assert isinstance(PRESETS["udnie"], Preset)


def test_thumbnail_is_small_and_keeps_aspect():
    preset = get_preset("starry_night")  # 1024×640
    small = thumbnail(preset, size=160)
    assert small.mode == "RGB" and small.size == (160, 100)
    assert max(thumbnail(get_preset("the_scream")).size) == 320


def test_module_does_not_import_torch():
    code = "import drawme.presets, sys; assert 'torch' not in sys.modules, 'torch was imported'"
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
