"""L-BFGS for a batch of canvases, each image with its own history: several users' paintings in one
GPU batch without one image's curvature steering another's step.

`torch.optim.LBFGS` keeps one history for all its parameters, so stacking N canvases into one tensor
would couple them (one H_diag, one step length, dot products summed over the N images). `BatchLBFGS`
is that optimiser's step for the mode the batched recipes use (`max_iter=1`, no line search: one
evaluation per step) with every quantity kept per image: the (s, y) pairs and their ρ, H_diag, the
first step's length, and the "converged" and "not a descent direction" stops. For one image it takes
the steps torch's LBFGS takes (tests/engine/test_lbfgs.py checks that, skipped pairs included).

It paints single jobs too (departure from using torch's LBFGS there), so one job and a batch take one
code path. torch's two-loop recursion also hands each ρ·sᵀq, a GPU scalar, to `add_(alpha=…)`, which
reads it back to the CPU (100 waits a step at history 50); this one waits only once per SPARE_SLOTS
steps. On the H200 that did not make one 512 px painting faster (docs/PERFORMANCE.md "On the GPU":
the GPU mostly waits for Python there anyway).

The pairs of all images share slots (one slot per step, an (N, D) tensor for s and for y); an image
whose pair was rejected (yᵀs ≤ 1e-10, as in torch) has ρ = 0 in that slot, which makes the slot a
no-op in its two-loop recursion, and its oldest pair is dropped only when it accepts one beyond
`history_size`. A slot that no image still uses is freed.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

# Slots beyond history_size kept before unused ones are looked for: that look reads a value back from
# the GPU, which stalls it, so it happens once per SPARE_SLOTS steps instead of every step.
SPARE_SLOTS = 8


class BatchLBFGS:
    """Per-image L-BFGS over the first dimension of `canvas` (N, ...), one evaluation per `step`."""

    def __init__(
        self,
        canvas: torch.Tensor,
        lr: float = 1.0,
        history_size: int = 100,
        tolerance_grad: float = 1e-7,
        tolerance_change: float = 1e-9,
    ) -> None:
        self.canvas = canvas.detach().requires_grad_(True)
        self.lr = lr
        self.history_size = history_size
        self.tolerance_grad = tolerance_grad
        self.tolerance_change = tolerance_change
        count = canvas.shape[0]
        self._s: list[torch.Tensor] = []  # per slot, (N, D)
        self._y: list[torch.Tensor] = []
        self._rho = canvas.new_zeros((0, count))  # (slots, N); 0 = not this image's pair
        self._h_diag = canvas.new_ones(count)
        self._direction: torch.Tensor | None = None  # (N, D)
        self._step_length: torch.Tensor | None = None  # (N,)
        self._previous_grad: torch.Tensor | None = None
        # An image whose gradient vanished, or whose direction is not a descent one, stops moving: torch's
        # step returns early then and, since the canvas stays put, does so at every later step too.
        self._stopped = torch.zeros(count, dtype=torch.bool, device=canvas.device)

    @property
    def size(self) -> int:
        return self.canvas.shape[0]

    def step(self, closure: Callable[[], torch.Tensor]) -> torch.Tensor:
        """Evaluate `closure` (it zeroes and fills `canvas.grad`; returns what it likes) and move."""
        with torch.enable_grad():
            loss = closure()
        grad = self.canvas.grad.detach().reshape(self.size, -1)
        self._stopped |= grad.abs().amax(dim=1) <= self.tolerance_grad
        if self._direction is None:
            direction = grad.neg()
            # torch: t = min(1, 1/‖g‖₁)·lr on the very first step, lr afterwards.
            step_length = grad.abs().sum(dim=1).reciprocal().clamp(max=1.0) * self.lr
        else:
            assert self._previous_grad is not None and self._step_length is not None
            y = grad - self._previous_grad
            s = self._direction * self._step_length[:, None]
            ys = (y * s).sum(dim=1)
            accepted = (ys > 1e-10) & ~self._stopped
            self._remember(s, y, ys, accepted)
            direction = self._two_loop(grad)
            step_length = torch.full_like(ys, self.lr)
        self._previous_grad = grad.clone()
        descends = (grad * direction).sum(dim=1) <= -self.tolerance_change
        self._stopped |= ~descends
        self._direction, self._step_length = direction, step_length
        move = torch.where(self._stopped, 0.0, step_length)
        with torch.no_grad():
            self.canvas.add_((direction * move[:, None]).reshape(self.canvas.shape))
        return loss

    def _remember(self, s: torch.Tensor, y: torch.Tensor, ys: torch.Tensor, accepted: torch.Tensor) -> None:
        """Add this step's pair for the images that accept it, dropping their oldest beyond history_size."""
        rho = torch.where(accepted, ys.clamp_min(1e-10).reciprocal(), 0.0)
        held = (self._rho > 0).sum(dim=0)
        full = accepted & (held >= self.history_size)
        if self._rho.shape[0]:
            oldest = (self._rho > 0).int().argmax(dim=0)  # first slot still holding the image's pair
            forget = torch.nn.functional.one_hot(oldest, self._rho.shape[0]).T.bool() & full[None, :]
            self._rho = self._rho.masked_fill(forget, 0.0)
        self._s.append(s)
        self._y.append(y)
        self._rho = torch.cat([self._rho, rho[None, :]])
        self._h_diag = torch.where(accepted, ys / (y * y).sum(dim=1), self._h_diag)
        if len(self._s) >= self.history_size + SPARE_SLOTS:
            self._free_slots()

    def _free_slots(self) -> None:
        """Drop the oldest slots that no image uses any more (this waits for the GPU: not every step)."""
        used = (self._rho > 0).any(dim=1).tolist()
        first = next((index for index, flag in enumerate(used) if flag), len(used))
        if first:
            del self._s[:first], self._y[:first]
            self._rho = self._rho[first:]

    def _two_loop(self, grad: torch.Tensor) -> torch.Tensor:
        """−H·g by the two-loop recursion, every image against its own pairs (ρ = 0 slots are no-ops)."""
        q = grad.neg()
        alphas = []
        for index in range(len(self._s) - 1, -1, -1):
            alpha = (self._s[index] * q).sum(dim=1) * self._rho[index]
            q = q - alpha[:, None] * self._y[index]
            alphas.append(alpha)
        r = q * self._h_diag[:, None]
        for index, alpha in zip(range(len(self._s)), reversed(alphas), strict=True):
            beta = (self._y[index] * r).sum(dim=1) * self._rho[index]
            r = r + (alpha - beta)[:, None] * self._s[index]
        return r

    def keep(self, indices: list[int]) -> None:
        """Go on with only the images at `indices` (the others left the batch: cancelled or failed)."""
        index = torch.tensor(indices, dtype=torch.long, device=self.canvas.device)
        self.canvas = self.canvas.detach()[index].requires_grad_(True)
        self._s = [s[index] for s in self._s]
        self._y = [y[index] for y in self._y]
        self._rho = self._rho[:, index]
        self._h_diag = self._h_diag[index]
        self._stopped = self._stopped[index]
        if self._direction is not None:
            assert self._step_length is not None and self._previous_grad is not None
            self._direction = self._direction[index]
            self._step_length = self._step_length[index]
            self._previous_grad = self._previous_grad[index]
        if self._s:
            self._free_slots()
