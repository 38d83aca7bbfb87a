"""Colour statistics transfer: a picture's RGB mean and covariance moved onto another's.

The linear Monge-Kantorovich map of Pitié & Kokaram (2007), "The linear Monge-Kantorovitch linear
colour mapping for example-based colour transfer": of all affine maps that give the source the
reference's mean and covariance, the one that moves each colour least, so the picture's light and
dark stay where they were.
"""

from __future__ import annotations

import torch

from engine.losses import luminance


def _sqrtm(matrix: torch.Tensor) -> torch.Tensor:
    """Square root of a symmetric positive semi-definite 3×3 matrix."""
    values, vectors = torch.linalg.eigh(matrix)
    return vectors @ torch.diag(values.clamp_min(0).sqrt()) @ vectors.T


def _stats(pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    # In float64 on the CPU: 3×3 statistics are cheap there, and MPS has no float64.
    flat = pixels.detach().cpu().double().reshape(3, -1)
    mean = flat.mean(dim=1, keepdim=True)
    centred = flat - mean
    return mean, centred @ centred.T / flat.shape[1]


def match_colours(
    pixels: torch.Tensor, references: list[torch.Tensor], weights: list[float] | None = None
) -> torch.Tensor:
    """`pixels` (1, 3, H, W, 0..255) with the RGB mean and covariance of `references` (each (1, 3, h, w),
    mixed by `weights`, equal by default), clamped to 0..255."""
    weights = weights or [1.0 / len(references)] * len(references)
    stats = [_stats(reference) for reference in references]
    mean_s = sum(w * mean for w, (mean, _) in zip(weights, stats, strict=True))
    # The mixture's covariance: each style's second moment about the mixture's mean.
    cov_s = sum(
        w * (cov + (mean - mean_s) @ (mean - mean_s).T) for w, (mean, cov) in zip(weights, stats, strict=True)
    )
    mean_c, cov_c = _stats(pixels)
    eye = torch.eye(3, dtype=torch.float64) * 1e-3  # a flat (e.g. grey) photo has a singular covariance
    root_c = _sqrtm(cov_c + eye)
    inverse_root_c = torch.linalg.inv(root_c)
    transfer = inverse_root_c @ _sqrtm(root_c @ cov_s @ root_c) @ inverse_root_c
    transfer, shift = transfer.to(pixels), (mean_s - transfer @ mean_c).to(pixels)
    mapped = transfer @ pixels.reshape(3, -1) + shift
    return mapped.reshape(pixels.shape).clamp(0, 255)


def in_palette_of(
    pixels: torch.Tensor, references: list[torch.Tensor], weights: list[float] | None = None
) -> torch.Tensor:
    """`pixels` in the references' colours with its own light and dark: `match_colours`, then each pixel
    moved along grey back to its own luminance (Rec. 601 Y), clamped to 0..255."""
    mapped = match_colours(pixels, references, weights)
    return (mapped + luminance(pixels) - luminance(mapped)).clamp(0, 255)
