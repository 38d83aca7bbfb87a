"""The six preset paintings a user can pick with one tap (all public domain; see paintings/CREDITS.md).

Pillow only, no torch: the bot imports this module to build its gallery keyboard.
Ids are the file stems and never change: they are stored in jobs and travel in callback data.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from PIL import Image

from drawme.decoding import load_image


@dataclass(frozen=True)
class Preset:
    """One painting: `title` and `artist` are short enough for a button; `year` is as the credits give it."""

    id: str
    title: str
    artist: str
    year: str
    filename: str

    @property
    def path(self) -> Path:
        """The painting's file, inside the installed `drawme` package."""
        return Path(str(resources.files("drawme") / "paintings" / self.filename))

    @property
    def label(self) -> str:
        """Button text, e.g. "Starry Night · Van Gogh"."""
        return f"{self.title} · {self.artist}"

    def image(self) -> Image.Image:
        """The painting as a decoded RGB image (through the same loader as users' pictures)."""
        return load_image(self.path)


PRESETS: dict[str, Preset] = {
    preset.id: preset
    for preset in (
        Preset("starry_night", "Starry Night", "Van Gogh", "1889", "starry_night.jpg"),
        Preset("the_scream", "The Scream", "Munch", "1893", "the_scream.jpg"),
        Preset("great_wave", "The Great Wave", "Hokusai", "c. 1831", "great_wave.jpg"),
        Preset("composition_vii", "Composition VII", "Kandinsky", "1913", "composition_vii.jpg"),
        Preset("shipwreck", "The Shipwreck", "Turner", "c. 1810", "shipwreck.jpg"),
        Preset("udnie", "Udnie", "Picabia", "1913", "udnie.jpg"),
    )
}


def get_preset(preset_id: str) -> Preset:
    """The preset called `preset_id`; KeyError (naming the known ids) when there is none."""
    try:
        return PRESETS[preset_id]
    except KeyError:
        raise KeyError(f"unknown preset {preset_id!r}; choose one of: {', '.join(PRESETS)}") from None


def thumbnail(preset: Preset, size: int = 320) -> Image.Image:
    """A small RGB copy of the painting for the gallery, its long side at most `size` px."""
    image = preset.image()
    image.thumbnail((size, size), Image.Resampling.LANCZOS)
    return image
