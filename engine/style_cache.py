"""On-disk cache of style targets (Gram matrices per layer), so a preset's VGG pass runs once, ever.

The key hashes exactly what the targets depend on: the style image's pixels as fed to the network
(so its size, the style scale and any colour treatment are all in it), the recipe's name, its style
layers and its normalisation; the file name adds the painter's precision. Files are written atomically
and read with `weights_only=True`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path

import torch

from drawme.painting import Precision

log = logging.getLogger(__name__)

FORMAT_VERSION = "1"


def style_key(pixels: torch.Tensor, recipe_name: str, layers: tuple[str, ...], normalisation: str) -> str:
    """A hex digest naming the style targets of `pixels` (a (1, 3, H, W) tensor) under a recipe."""
    digest = hashlib.sha256()
    header = f"v{FORMAT_VERSION}|{recipe_name}|{','.join(layers)}|{normalisation}|{tuple(pixels.shape)}"
    digest.update(header.encode())
    digest.update(pixels.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()


class StyleCache:
    """Gram targets on disk under `directory`, one file per key; counts hits and misses."""

    def __init__(self, directory: Path, precision: Precision = Precision.FLOAT32) -> None:
        """`precision`: the painter's (drawme.painting.Precision), in every file name, so painters of two
        precisions sharing `directory` never read each other's targets."""
        self.directory = Path(directory)
        self.precision = precision
        self.hits = 0
        self.misses = 0

    def path_for(self, key: str) -> Path:
        return self.directory / f"style-{self.precision}-{key}.pt"

    def load(self, key: str) -> dict[str, torch.Tensor] | None:
        """The stored targets (CPU tensors), or None on a miss or an unreadable file."""
        path = self.path_for(key)
        try:
            targets = torch.load(path, weights_only=True, map_location="cpu")
        except FileNotFoundError:
            self.misses += 1
            return None
        except Exception:  # a truncated or foreign file: recompute and overwrite it
            log.warning("style cache file %s is unreadable; recomputing", path, exc_info=True)
            self.misses += 1
            return None
        self.hits += 1
        return targets

    def store(self, key: str, targets: dict[str, torch.Tensor]) -> None:
        """Write targets atomically (temp file in the same directory, then os.replace)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        cpu_targets = {name: tensor.detach().to("cpu", torch.float32) for name, tensor in targets.items()}
        fd, tmp = tempfile.mkstemp(prefix=".style-", suffix=".tmp", dir=self.directory)
        try:
            with os.fdopen(fd, "wb") as handle:
                torch.save(cpu_targets, handle)
            os.replace(tmp, self.path_for(key))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
