"""GPU benchmark: the `default` painting at 512 px and 1024 px, with bf16 autocast and channels_last on/off.

Targets (one H200): 512 px ≤ 3 s, 1024 px ≤ 12 s for a whole `default` painting (style targets included,
model loading and the first-call warm-up excluded). Each figure is the median of --repeats runs, timed
between torch.cuda.synchronize() calls.

    .venv/bin/python bench/gpu.py                          # all four variants, 512 and 1024 px
    .venv/bin/python bench/gpu.py --sizes 512 --repeats 1  # a quick look
    .venv/bin/python bench/gpu.py --device cpu --sizes 64 --repeats 1 --recipe draft  # does it run?

Without a CUDA device it says so and exits 0.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))  # the checkout's packages, even without an install

PHOTO = ROOT / "tests" / "data" / "photos" / "astronaut.jpg"
STYLE = ROOT / "drawme" / "paintings" / "starry_night.jpg"
TARGETS = {512: 3.0, 1024: 12.0}  # seconds
# (label, bf16 autocast, channels_last); the first is what Painter does on CUDA by itself.
VARIANTS = (
    ("bf16 + channels_last", True, True),
    ("bf16", True, False),
    ("fp32 + channels_last", False, True),
    ("fp32", False, False),
)


def make_painter(bf16: bool, channels_last: bool, device: str = "cuda"):
    """A Painter whose autocast and memory format are set by hand.

    Painter switches both on for CUDA; this benchmark-only subclass overrides the three small hooks
    that apply them (network, features, _autocast) so each can be measured on its own.
    """
    import torch

    from engine.painter import Painter
    from engine.vgg import VGGFeatures

    class VariantPainter(Painter):
        def network(self, layers):
            if layers not in self._networks:
                net = VGGFeatures(layers).to(self.device)
                if channels_last:
                    net = net.to(memory_format=torch.channels_last)
                self._networks[layers] = net
            return self._networks[layers]

        def _autocast(self):
            return torch.autocast("cuda", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

        def features(self, net, rgb, layers):
            if channels_last:
                rgb = rgb.contiguous(memory_format=torch.channels_last)
            with self._autocast():
                return net(rgb, layers)

    return VariantPainter(device=device)


def synchronize(device) -> None:
    """Wait for the GPU's queued work, so the clock measures it (a no-op on the CPU)."""
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_painting(painter, content, style, size: int, recipe: str) -> tuple[float, dict[str, float]]:
    from engine.painter import PaintOptions

    synchronize(painter.device)
    started = time.perf_counter()
    result = painter.paint(content, [style], PaintOptions(size=size, recipe=recipe))
    synchronize(painter.device)
    return time.perf_counter() - started, result.losses


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="512,1024", help="output long sides in px (default 512,1024)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--recipe", default="default")
    parser.add_argument("--variants", default="all", help="'all' or 'default' (bf16 + channels_last only)")
    parser.add_argument("--device", default="cuda", help="'cpu' only checks that the script runs")
    args = parser.parse_args(argv)

    import torch

    on_gpu = args.device == "cuda"
    if on_gpu and not torch.cuda.is_available():
        print("no CUDA device: nothing to measure (bench/gpu.py times the engine on a GPU)")
        return 0

    from engine.imageio import load_image
    from engine.painter import Painter

    sizes = [int(size) for size in args.sizes.split(",")]
    variants = VARIANTS if args.variants == "all" else VARIANTS[:1]
    if not all(hasattr(Painter, hook) for hook in ("network", "features", "_autocast")):
        print("Painter's network/features/_autocast hooks have changed: timing its own settings only")
        variants = VARIANTS[:1]
    content, style = load_image(PHOTO), load_image(STYLE)
    command = "python bench/gpu.py " + " ".join(sys.argv[1:] if argv is None else argv)
    device_name = torch.cuda.get_device_name() if on_gpu else "the CPU (a dry run: the figures mean nothing)"
    print(f"`{command.strip()}` on {device_name}, torch {torch.__version__}, recipe {args.recipe}, ", end="")
    print(f"median of {args.repeats}\n")
    print("| variant | size | median s | min s | target | peak GPU MiB | final total loss |")
    print("|---|---|---|---|---|---|---|")
    for label, bf16, channels_last in variants:
        painter = make_painter(bf16, channels_last, args.device)
        # Warm-up: CUDA context and kernels; then once per shape, since cuDNN autotunes per shape.
        time_painting(painter, content, style, min(256, *sizes), "draft")
        for size in sizes:
            time_painting(painter, content, style, size, "draft")
            if on_gpu:
                torch.cuda.reset_peak_memory_stats()
            runs = [time_painting(painter, content, style, size, args.recipe) for _ in range(args.repeats)]
            seconds = statistics.median(run[0] for run in runs)
            peak = f"{torch.cuda.max_memory_allocated() / 2**20:.0f}" if on_gpu else "—"
            target = TARGETS.get(size)
            verdict = "" if target is None else f"≤ {target:g} s {'✓' if seconds <= target else '✗'}"
            fastest = min(run[0] for run in runs)
            print(f"| {label} | {size} | {seconds:.2f} | {fastest:.2f} | {verdict} | {peak} | ", end="")
            print(f"{runs[-1][1]['total']:.6g} |", flush=True)
        del painter
        if on_gpu:
            torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
