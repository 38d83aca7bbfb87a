"""engine.lbfgs.BatchLBFGS: each image of a batch takes the steps torch's LBFGS takes for it alone."""

from __future__ import annotations

import pytest
import torch

from engine.lbfgs import BatchLBFGS
from engine.recipes import LBFGSSettings

DIM = 40


def objectives(count: int, seed: int = 0):
    """`count` different objectives of a (DIM,) vector; the last is non-convex (some pairs rejected)."""
    generator = torch.Generator().manual_seed(seed)
    # float64: the non-convex objective amplifies float32's rounding differences (reduction order)
    # into visible ones within ten steps; in float64 they stay far below the tolerance.
    scales = torch.rand(count, DIM, generator=generator, dtype=torch.float64) * 4 + 0.5
    centres = torch.randn(count, DIM, generator=generator, dtype=torch.float64) * 3

    def one(index: int):
        def f(x: torch.Tensor) -> torch.Tensor:
            convex = (scales[index] * (x - centres[index]).square()).sum() + 0.01 * x.pow(4).sum()
            if index == count - 1:
                return convex * 0.05 + torch.sin(2 * x).sum() * 3
            return convex

        return f

    starts = torch.randn(count, DIM, generator=generator, dtype=torch.float64) * 2
    return [one(index) for index in range(count)], starts


def torch_alone(f, start: torch.Tensor, steps: int, history: int) -> tuple[torch.Tensor, int]:
    """x after `steps` evaluations of torch.optim.LBFGS(max_iter=1), and how many pairs it rejected."""
    x = start.clone().requires_grad_(True)
    optimiser = torch.optim.LBFGS([x], lr=1.0, max_iter=1, history_size=history)

    def closure():
        optimiser.zero_grad()
        loss = f(x)
        loss.backward()
        return loss

    rejected = 0
    for step in range(steps):
        newest = (optimiser.state[x].get("old_dirs") or [None])[-1]
        optimiser.step(closure)
        latest = (optimiser.state[x]["old_dirs"] or [None])[-1]
        rejected += step > 0 and latest is newest
    return x.detach(), rejected


def batched(fs, starts: torch.Tensor, steps: int, history: int, keep_after: tuple | None = None):
    optimiser = BatchLBFGS(starts.clone(), lr=1.0, history_size=history)
    alive = list(range(len(fs)))

    def closure():
        optimiser.canvas.grad = None
        losses = torch.stack([fs[n](optimiser.canvas[i]) for i, n in enumerate(alive)])
        losses.sum().backward()
        return losses

    for step in range(steps):
        if keep_after is not None and step == keep_after[0]:
            optimiser.keep(keep_after[1])
            alive = [alive[i] for i in keep_after[1]]
        optimiser.step(closure)
    return optimiser.canvas.detach(), alive


@pytest.mark.parametrize("history", [50, 3])
def test_each_image_steps_as_torch_lbfgs_steps_it_alone(history):
    fs, starts = objectives(4)
    together, _ = batched(fs, starts, 30, history)
    rejected_somewhere = 0
    for index, f in enumerate(fs):
        alone, rejected = torch_alone(f, starts[index], 30, history)
        rejected_somewhere += rejected
        assert torch.allclose(together[index], alone, rtol=1e-7, atol=1e-7), index
        assert not torch.allclose(alone, starts[index], atol=1e-2)  # it moved
    # The non-convex objective exercises rejected pairs (yᵀs ≤ 1e-10), history 3 its eviction.
    assert rejected_somewhere > 0


def test_images_that_leave_do_not_change_the_others():
    fs, starts = objectives(3, seed=1)
    together, alive = batched(fs, starts, 25, 10, keep_after=(9, [0, 2]))
    assert alive == [0, 2]
    for position, index in enumerate(alive):
        alone, _ = torch_alone(fs[index], starts[index], 25, 10)
        assert torch.allclose(together[position], alone, rtol=1e-7, atol=1e-7)


def test_a_converged_image_stops_while_the_others_go_on():
    fs, starts = objectives(2, seed=2)
    starts[0] = 0.0  # f = x² at its minimum: zero gradient from the start
    fs[0] = lambda x: x.square().sum()
    together, _ = batched(fs, starts, 10, 10)
    assert torch.equal(together[0], torch.zeros(DIM, dtype=torch.float64))
    alone, _ = torch_alone(fs[1], starts[1], 10, 10)
    assert torch.allclose(together[1], alone, rtol=1e-7, atol=1e-7)


def largest_moves(max_move: float | None, steps: int = 8) -> list[list[float]]:
    """Each step's largest move of one coordinate of each image, for two images whose minima lie
    hundreds of units away (one twice as far): after its tiny first step, L-BFGS's second step jumps
    there at once."""
    starts = torch.tensor([[300.0] * DIM, [-600.0] * DIM], dtype=torch.float64)
    optimiser = BatchLBFGS(starts.clone(), history_size=10, max_move=max_move)
    moves = []

    def closure():
        optimiser.canvas.grad = None
        losses = (optimiser.canvas - torch.arange(DIM)).square().sum(dim=1)
        losses.sum().backward()
        return losses

    for _ in range(steps):
        before = optimiser.canvas.detach().clone()
        optimiser.step(closure)
        moves.append((optimiser.canvas.detach() - before).abs().amax(dim=1).tolist())
    return moves


def test_max_move_bounds_every_step_of_every_image():
    assert min(largest_moves(None)[1]) > 250  # torch's steps
    bounded = largest_moves(20.0)
    assert max(max(step) for step in bounded) <= 20.0 + 1e-9
    # Shortened, not dropped, and each image by its own step: both still move the full 20 each step.
    assert bounded[1:] == [pytest.approx([20.0, 20.0])] * 7


def test_max_move_is_refused_where_torchs_lbfgs_would_paint_and_ignore_it():
    assert LBFGSSettings(max_move=64.0).max_move == 64.0
    with pytest.raises(ValueError, match="max_move"):
        LBFGSSettings(max_move=64.0, line_search_fn="strong_wolfe")
    with pytest.raises(ValueError, match="max_move"):
        LBFGSSettings(max_move=64.0, max_iter=20)
