"""What a canvas is scored on: each painting's targets at one canvas size, stacked over a batch
(`Targets`), and the weighted loss terms of Gatys et al. with this project's departures (`score`).
The loss functions themselves are engine.losses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from drawme.models import Term
from engine.losses import content_loss, gram_matrix, laplacian_loss, light_loss, style_loss, tv_loss
from engine.recipes import Recipe

# The keys of the photo's Laplacian and light among the content targets (not VGG layers).
LAPLACIAN = "laplacian"
LIGHT = "light"
TOTAL = "total"  # the weighted terms' sum, beside them in `score`'s terms and the losses reported
LOSS_NAMES = (*Term, TOTAL)

# The network as the objective sees it: (N, 3, H, W) RGB 0..255 and layer names -> {layer: activation}.
Features = Callable[[torch.Tensor, Sequence[str]], dict[str, torch.Tensor]]


@dataclass
class Targets:
    """What a batch's canvases are scored against at one canvas size, stacked over the batch."""

    content: dict[str, torch.Tensor]  # VGG layers, and LAPLACIAN / LIGHT when the recipe uses them
    style: dict[str, torch.Tensor]  # blended Gram per style layer
    content_guides: dict[str, torch.Tensor]  # per content layer, only when some painting has faces
    style_guides: dict[str, torch.Tensor]
    weights: torch.Tensor  # (N, len(Term)): each painting's weight of each Term, in Term's order (`weight`)
    grids: dict[str, tuple[int, int]]  # the LAPLACIAN and LIGHT grids: one plan, so one for the batch

    @classmethod
    def stack(cls, parts: Sequence[Targets]) -> Targets:
        def cat(dicts: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
            return {name: torch.cat([d[name] for d in dicts]) for name in dicts[0]}

        return cls(
            content=cat([part.content for part in parts]),
            style=cat([part.style for part in parts]),
            content_guides=cat([part.content_guides for part in parts]),
            style_guides=cat([part.style_guides for part in parts]),
            weights=torch.cat([part.weights for part in parts]),
            grids=parts[0].grids,
        )

    def weight(self, term: Term) -> torch.Tensor:
        """(N,): each painting's weight of `term`."""
        return self.weights[:, tuple(Term).index(term)]

    def select(self, index: torch.Tensor) -> Targets:
        def pick(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
            return {name: tensor[index.to(tensor.device)] for name, tensor in tensors.items()}

        return Targets(
            pick(self.content),
            pick(self.style),
            pick(self.content_guides),
            pick(self.style_guides),
            self.weights[index.to(self.weights.device)],
            self.grids,
        )


def score(
    features: Features, recipe: Recipe, canvas: torch.Tensor, targets: Targets
) -> dict[str, torch.Tensor]:
    """Each canvas's weighted loss terms, by Term and TOTAL (LOSS_NAMES): tensors of shape (N,), with
    the network's activations from `features`."""
    norm = recipe.normalisation
    grids = targets.grids
    activations = features(canvas, recipe.layers)
    pixels = canvas.shape[2] * canvas.shape[3]
    zero = canvas.new_zeros(canvas.shape[0])
    content = sum(
        (
            w * content_loss(activations[name], targets.content[name], norm, targets.content_guides.get(name))
            for name, w in recipe.content_layers
        ),
        zero,
    )
    if recipe.laplacian_weight:
        # Departure from Gatys 2015: Li et al. 2017's Laplacian term keeps the photo's coarse edges
        # (its layout), which relu4_2 alone lets the style's big motifs repaint (docs/ENGINE.md
        # "Layout without a colour grade").
        content = content + recipe.laplacian_weight * laplacian_loss(
            canvas, targets.content[LAPLACIAN], grids[LAPLACIAN], recipe.laplacian_on == "luma"
        )
    if recipe.light_weight:
        # Departure: the photo's light and dark on a coarse grid (the same section).
        content = content + recipe.light_weight * light_loss(canvas, targets.content[LIGHT], grids[LIGHT])
    style = sum(
        (
            w * style_loss(
                gram_matrix(activations[name], norm != "keras", targets.style_guides.get(name)),
                targets.style[name],
                norm,
                pixels,
            )
            for name, w in recipe.style_layers
        ),
        zero,
    )
    tv = tv_loss(canvas, recipe.tv_form) if recipe.tv_weight else zero
    unweighted = {Term.CONTENT: content, Term.STYLE: style, Term.TV: tv}
    terms: dict[str, torch.Tensor] = {term: targets.weight(term) * unweighted[term] for term in Term}
    terms[TOTAL] = terms[Term.CONTENT] + terms[Term.STYLE] + terms[Term.TV]
    return terms
