"""A Painter whose bf16 autocast and channels_last are chosen by hand (bench/gpu.py's precision check).

Painter itself holds bfloat16 weights on CUDA; this subclass overrides the two hooks that set the
precision (network, features), so fp32 and autocast can be measured against it on the same pictures.
"""

from __future__ import annotations

import contextlib


def make_painter(bf16: bool, channels_last: bool, device: str = "cuda"):
    import torch

    from engine.painter import Painter
    from engine.vgg import VGGFeatures

    class VariantPainter(Painter):
        def network(self, layers, precision):
            if (layers, precision) not in self._networks:
                net = VGGFeatures(layers).to(self.device)
                if channels_last:
                    net = net.to(memory_format=torch.channels_last)
                self._networks[(layers, precision)] = net
            return self._networks[(layers, precision)]

        def features(self, net, precision, rgb, layers):
            if channels_last:
                rgb = rgb.contiguous(memory_format=torch.channels_last)
            autocast = torch.autocast("cuda", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
            with autocast:
                return net(rgb, layers)

    return VariantPainter(device=device)
