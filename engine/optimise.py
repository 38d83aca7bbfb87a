"""The optimisation: one or more paintings with one canvas plan, stage by stage (coarse to fine), on
one stacked (N, 3, H, W) canvas. engine.painter prepares each painting (`engine.run.PaintingRun`) and
calls `Batch.run`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from drawme.painting import PaintResult
from engine.canvas import image_to_tensor, photo_detail
from engine.lbfgs import BatchLBFGS
from engine.objective import LOSS_NAMES, TOTAL, Features, Targets, score
from engine.recipes import Stage
from engine.run import PaintingRun

# The first preview: the canvas after this many evaluations of the first (coarsest) stage, so the user
# sees the painting begin within seconds rather than at the first stage's end (at 384 px on a loaded
# 2-core CPU: about 1 s of set-up, then 0.4 s a step; docs/PERFORMANCE.md).
FIRST_PREVIEW_STEP = 3


class StageBudgetSpent(Exception):
    """Raised inside the closure when a stage has used all its evaluations."""


class Leaving(Exception):
    """Raised inside the closure, before any work, when paintings at `indices` must leave the batch."""

    def __init__(self, indices: list[int]) -> None:
        super().__init__(indices)
        self.indices = indices


class Batch:
    """Paintings with one canvas plan, optimised together on one stacked (N, 3, H, W) canvas.

    engine.lbfgs.BatchLBFGS keeps each image's history apart; a recipe that line-searches (the seed) paints
    alone with torch's LBFGS. The losses are per image and VGG never mixes images, so each painting's
    gradient is its own: painted together, each comes out as it would alone (tests/engine/test_batch.py).
    """

    def __init__(self, features: Features, runs: list[PaintingRun]) -> None:
        """`features`: the network the runs share (one recipe, so one network), as the objective uses it."""
        self.features = features
        self.runs = runs
        self.first = runs[0]
        self.recipe = self.first.recipe
        self.outcomes: dict[int, PaintResult | Exception] = {}
        self.active = list(range(len(runs)))  # indices into runs, in batch order
        self.canvas: torch.Tensor | None = None
        self.last_evaluated: torch.Tensor | None = None

    def run(self) -> list[PaintResult | Exception]:
        cached: tuple[tuple[int, int], torch.Tensor, Targets] | None = None
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
                        Targets.stack([targets for _, targets in parts]),
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
        except Leaving:  # torch's LBFGS (one painting, the seed), cancelled
            self.leave(list(range(len(self.active))), cancelled=True)
        for position, number in enumerate(self.active):
            if number not in self.outcomes:  # else its callback raised at the very last step
                assert self.canvas is not None
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
        lbfgs = self.recipe.lbfgs
        # None for a recipe that line-searches (the seed): it paints alone with torch's LBFGS (below).
        batch_optimiser: BatchLBFGS | None = None
        if self.first.batchable:
            batch_optimiser = BatchLBFGS(
                self.canvas,
                lbfgs.lr,
                lbfgs.history_size,
                lbfgs.tolerance_grad,
                lbfgs.tolerance_change,
                lbfgs.max_move,
            )
            canvas = batch_optimiser.canvas
        else:
            canvas = self.canvas.requires_grad_(True)
        evaluations = 0
        every = self.first.preview_every

        def closure() -> torch.Tensor:
            nonlocal evaluations
            leaving = self.poll()
            if leaving:
                raise Leaving(leaving)
            if evaluations >= stage.steps:  # a line search may ask for more than max_eval allows
                raise StageBudgetSpent
            current = batch_optimiser.canvas if batch_optimiser is not None else canvas
            current.grad = None
            terms = score(self.features, self.recipe, current, targets)
            terms[TOTAL].sum().backward()
            evaluations += 1
            self.last_evaluated = current.detach().clone()  # L-BFGS moves the canvas in place
            values = torch.stack([terms[name].detach() for name in LOSS_NAMES]).cpu().tolist()
            at_end = evaluations == stage.steps
            first_preview = index == 0 and evaluations == FIRST_PREVIEW_STEP
            for position, number in enumerate(self.active):
                run = self.runs[number]
                run.evaluated(index, {name: values[k][position] for k, name in enumerate(LOSS_NAMES)})
                preview = at_end or bool(every and run.step % every == 0) or first_preview
                self.report(position, number, index, preview)
            return terms[TOTAL].sum()

        if batch_optimiser is not None:
            while evaluations < stage.steps and self.active:
                try:
                    batch_optimiser.step(closure)
                except Leaving as leaving:
                    self.leave(leaving.indices, cancelled=True)
                    if not self.active:
                        return None
                    keep = [p for p in range(batch_optimiser.size) if p not in leaving.indices]
                    batch_optimiser.keep(keep)
                    self.canvas = batch_optimiser.canvas.detach()  # what a later leaver of this stage keeps
                    index_tensor = torch.tensor(keep, dtype=torch.long)
                    pixels = pixels[index_tensor.to(pixels.device)]
                    targets = targets.select(index_tensor)
                    if self.last_evaluated is not None:
                        self.last_evaluated = self.last_evaluated[index_tensor.to(self.last_evaluated.device)]
            self.canvas = batch_optimiser.canvas.detach()
        else:
            optimiser = torch.optim.LBFGS([canvas], **lbfgs.as_kwargs())
            # max_iter > 1: one L-BFGS run per stage (scipy's fmin_l_bfgs_b(maxfun=N) in the Keras
            # example); else one step() per evaluation, which a line search may stretch over several.
            calls = 1 if lbfgs.max_iter > 1 else stage.steps
            try:
                for _ in range(calls):
                    optimiser.step(closure)
            except StageBudgetSpent:  # stopped inside a line search: keep the last evaluated point
                assert self.last_evaluated is not None  # the budget is spent only after an evaluation
                with torch.no_grad():
                    canvas.copy_(self.last_evaluated)
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
