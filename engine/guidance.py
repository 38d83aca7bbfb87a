"""Spatial control of the losses around faces (Gatys et al. 2017, "Controlling Perceptual Factors in
Neural Style Transfer", section 4: guidance channels).

A soft face mask (1 on a face, 0 away from it, feathered in between) is drawn analytically at each
stage's canvas size from the detector's boxes, which are fractions of the photo, so it has the same
shape at every scale of the coarse-to-fine schedule. It is then taken down to each VGG layer's grid:

* **content**: a per-position weight `1 + (face_content − 1)·mask` on the content loss. The paper
  guides style only; raising the content weight on a region is our addition (departure), because
  identity lives in the face's layout, which the content term is what keeps.
* **style**: the Gram matrix of the guided features `F·T`, with `T = 1 − (1 − face_style)·mask`,
  normalised by ΣT² instead of h·w (departure: the paper computes one Gram per region and matches
  each to its own target; we keep one Gram against the whole painting's target and only make the
  face count less in it, so the face gets less texture at the cost of a single Gram).

The content weight map uses max-pooling down to the layer's grid (a cell touching a face is
protected), so a face smaller than one relu4_2 cell at the coarse stage still keeps its weight;
the style guidance uses area averaging (the paper's "simple" propagation, as a fraction).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from engine.faces import Face

# The detector's box spans brows to lips; the head reaches beyond it: widen for the cheeks and ears,
# and heighten for the forehead and chin (the centre moves up a little, toward the hair).
WIDEN, HEIGHTEN, RAISE = 1.3, 1.7, 0.1
# Half-width of the feathered edge, in units of the ellipse's radius (0 = hard edge).
FEATHER = 0.35


def face_mask(faces: Sequence[Face], size: tuple[int, int], supersample: int = 2) -> torch.Tensor:
    """The soft mask of `faces` on a (width, height) canvas: a (1, 1, H, W) float tensor in 0..1.

    Each face is an ellipse around its box, 1 inside, falling smoothly to 0 across ±FEATHER of its
    radius; several faces combine by maximum. Drawn at `supersample`× and area-averaged, so a face
    only a few pixels wide on a coarse canvas still shows as a fraction.
    """
    width, height = size
    mask = torch.zeros(1, 1, height * supersample, width * supersample)
    if not faces:
        return torch.zeros(1, 1, height, width)
    ys = (torch.arange(height * supersample, dtype=torch.float32) + 0.5) / (height * supersample)
    xs = (torch.arange(width * supersample, dtype=torch.float32) + 0.5) / (width * supersample)
    for face in faces:
        cx = (face.left + face.right) / 2
        cy = (face.top + face.bottom) / 2 - RAISE * face.height
        rx = max(face.width * WIDEN / 2, 1e-6)
        ry = max(face.height * HEIGHTEN / 2, 1e-6)
        radius = (((xs[None, :] - cx) / rx).square() + ((ys[:, None] - cy) / ry).square()).sqrt()
        edge = ((1 + FEATHER - radius) / (2 * FEATHER)).clamp(0, 1)
        soft = edge * edge * (3 - 2 * edge)  # smoothstep: no kink where the feather starts or ends
        mask = torch.maximum(mask, soft[None, None])
    return F.avg_pool2d(mask, supersample) if supersample > 1 else mask


def content_weight_map(mask: torch.Tensor, grid: tuple[int, int], face_content: float) -> torch.Tensor:
    """Per-position content weights on a layer's (H, W) grid: 1 away from faces, face_content on them."""
    cells = F.adaptive_max_pool2d(mask, grid)
    return 1.0 + (face_content - 1.0) * cells


def style_guide(mask: torch.Tensor, grid: tuple[int, int], face_style: float) -> torch.Tensor:
    """The guidance channel T on a layer's (H, W) grid: 1 away from faces, face_style on them."""
    cells = F.adaptive_avg_pool2d(mask, grid)
    return 1.0 - (1.0 - face_style) * cells
