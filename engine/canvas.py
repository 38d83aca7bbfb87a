"""The canvas as the engine holds it: pictures to (N, 3, H, W) RGB tensors in 0..255 and back, and the
photo's detail that a coarse canvas cannot hold (engine.painter, engine.optimise)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

_RESAMPLE = {
    "lanczos": Image.Resampling.LANCZOS,
    "bilinear": Image.Resampling.BILINEAR,
    "nearest": Image.Resampling.NEAREST,
}


def image_to_tensor(image: Image.Image, size: tuple[int, int], resample: str) -> torch.Tensor:
    """PIL image -> (1, 3, H, W) float32 RGB in 0..255, resized to size=(w, h)."""
    if image.size != size:
        image = image.resize(size, _RESAMPLE[resample])
    array = np.asarray(image.convert("RGB"), dtype=np.float32)
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).contiguous()


def tensor_to_image(tensor: torch.Tensor) -> Image.Image:
    """(1, 3, H, W) RGB 0..255 (any range) -> PIL RGB, clamped and rounded."""
    array = tensor.detach()[0].float().clamp(0, 255).round().to(torch.uint8).permute(1, 2, 0)
    return Image.fromarray(array.cpu().numpy(), "RGB")


def photo_detail(photo: torch.Tensor, coarse_size: torch.Size) -> torch.Tensor:
    """What `photo` holds above the resolution `coarse_size` can: itself minus its round trip through it."""
    coarse = F.interpolate(photo, size=coarse_size, mode="area")
    return photo - F.interpolate(coarse, size=photo.shape[2:], mode="bicubic")
