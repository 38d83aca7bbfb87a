"""L-BFGS for a batch of canvases, each image with its own history: several users' paintings in one
GPU batch without one image's curvature steering another's step.

`torch.optim.LBFGS` keeps one history for all its parameters, so stacking N canvases into one tensor
would couple them (one H_diag, one step length, dot products summed over the N images). `BatchLBFGS`
is that optimiser's step for the mode the batched recipes use (`max_iter=1`, no line search: one
evaluation per step) with every quantity kept per image: the (s, y) pairs and their ρ, H_diag, the
first step's length, and the "converged" and "not a descent direction" stops. For one image it takes
the steps torch's LBFGS takes (tests/engine/test_lbfgs.py checks that, skipped pairs included).

It paints single jobs too (departure from using torch's LBFGS there), so one job and a batch take one
code path. Departure from torch's arithmetic, not its steps: H·g comes from the compact form of
L-BFGS (Byrd, Nocedal & Schnabel 1994, as L-BFGS-B computes it) instead of the two-loop recursion.
The two-loop issues about seven small operations per history pair and step, 700 at history 50, and on
a GPU each costs Python's time to launch, which is what one painting waits for there
(docs/PERFORMANCE.md "On the GPU"); the compact form issues a few batched products however long the
history (`bench/lbfgs_step.py`: 2.2× faster per step on the CPU at history 50).

The pairs of all images share slots (one slot per step); an image whose pair was rejected (yᵀs ≤
1e-10, as in torch) holds zeros in that slot, which adds nothing to its H·g, and its oldest pair is
dropped only when it accepts one beyond `history_size`. Slots that no image still uses are freed.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

# The history's buffers grow by this many slots when full (so they stay near the pairs actually held);
# before growing, the slots no image uses any more are dropped (a look that reads a flag back from the
# GPU, so not every step).
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
        max_move: float | None = None,
    ) -> None:
        """`max_move`: the most any pixel may move in one step (None: no bound, torch's steps)."""
        self.canvas = canvas.detach().requires_grad_(True)
        self.max_move = max_move
        self.lr = lr
        self.history_size = history_size
        self.tolerance_grad = tolerance_grad
        self.tolerance_change = tolerance_change
        count = canvas.shape[0]
        self._history = _History(count, canvas.device)
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
        assert self.canvas.grad is not None  # the closure's backward() filled it
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
            self._remember(s, y, ys, accepted, grad)
            direction = self._direction_for(grad)
            step_length = torch.full_like(ys, self.lr)
        self._previous_grad = grad.clone()
        descends = (grad * direction).sum(dim=1) <= -self.tolerance_change
        self._stopped |= ~descends
        if self.max_move is not None:
            # Departure from torch's LBFGS: a step that would move some pixel further than max_move is
            # shortened to move it exactly that far (a trust region on the step). Without a line search
            # the second step's curvature comes from the first, tiny step and can be wild: it threw the
            # canvas thousands of levels out of range, and in bfloat16 on to NaN.
            largest = direction.abs().amax(dim=1) * step_length
            step_length = step_length * (self.max_move / largest).clamp(max=1.0)
        self._direction, self._step_length = direction, step_length
        move = torch.where(self._stopped, 0.0, step_length)
        with torch.no_grad():
            self.canvas.add_((direction * move[:, None]).reshape(self.canvas.shape))
        return loss

    def _remember(
        self, s: torch.Tensor, y: torch.Tensor, ys: torch.Tensor, accepted: torch.Tensor, grad: torch.Tensor
    ) -> None:
        """Add this step's pair for the images that accept it, dropping their oldest beyond history_size
        (`grad`: the gradient the next direction is for)."""
        self._history.add(s, y, accepted, self.history_size, grad)
        self._h_diag = torch.where(accepted, ys / (y * y).sum(dim=1), self._h_diag)

    def _direction_for(self, grad: torch.Tensor) -> torch.Tensor:
        """−H·g, every image against its own pairs (see _History.times_inverse_hessian)."""
        return -self._history.times_inverse_hessian(grad, self._h_diag)

    def keep(self, indices: list[int]) -> None:
        """Go on with only the images at `indices` (the others left the batch: cancelled or failed)."""
        index = torch.tensor(indices, dtype=torch.long, device=self.canvas.device)
        self.canvas = self.canvas.detach()[index].requires_grad_(True)
        self._history.keep(index)
        self._h_diag = self._h_diag[index]
        self._stopped = self._stopped[index]
        if self._direction is not None:
            assert self._step_length is not None and self._previous_grad is not None
            self._direction = self._direction[index]
            self._step_length = self._step_length[index]
            self._previous_grad = self._previous_grad[index]


class _History:
    """The (s, y) pairs of N images in slots, as the compact form of L-BFGS wants them.

    Slot k holds one step's pair for every image, in (N, slots, D) buffers, oldest first; an image that
    rejected that step's pair, or has since dropped it, holds zeros there (`valid` False). Beside the
    buffers: sᵢ·yⱼ and yᵢ·yⱼ for every pair of slots (float64), each new row and column computed once
    when its slot is filled, so a step costs a few batched products however long the history is.
    """

    def __init__(self, count: int, device: torch.device) -> None:
        self.count = count
        self.device = device
        self.used = 0  # slots [0, used) hold pairs
        self.s: torch.Tensor | None = None  # (N, capacity, D)
        self.y: torch.Tensor | None = None
        self.sy = torch.zeros(count, 0, 0, dtype=torch.float64, device=device)  # sᵢ·yⱼ
        self.yy = torch.zeros(count, 0, 0, dtype=torch.float64, device=device)  # yᵢ·yⱼ
        self.valid = torch.zeros(count, 0, dtype=torch.bool, device=device)
        # (grad, S·grad, Y·grad) of the last add(), for the direction of that same gradient.
        self.projected: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    def add(
        self, s: torch.Tensor, y: torch.Tensor, accepted: torch.Tensor, history_size: int, grad: torch.Tensor
    ) -> None:
        """A new slot with the images' pairs where `accepted`; an accepting image already holding
        `history_size` pairs drops its oldest (torch's LBFGS pops it).

        The same two passes over the buffers also project `grad`, the gradient the next direction is
        for, so a step reads each buffer twice in all, as the two-loop recursion does."""
        held = self.valid.sum(dim=1)
        full = accepted & (held >= history_size)
        if self.used:
            oldest = self.valid[:, : self.used].int().argmax(dim=1)  # the image's first valid slot
            self._forget(oldest, full)
        self._make_room(s)
        k = self.used
        self.used += 1
        assert self.s is not None and self.y is not None
        keep = accepted[:, None].to(s.dtype)
        self.s[:, k] = s * keep
        self.y[:, k] = y * keep
        new_s, new_y = self.s[:, k], self.y[:, k]
        # One pass over S: S·g and S·y_k; one over Y: Y·g, Y·s_k and Y·y_k.
        on_s = torch.bmm(self.s[:, : k + 1], torch.stack([grad, new_y], dim=2)).double()
        on_y = torch.bmm(self.y[:, : k + 1], torch.stack([grad, new_s, new_y], dim=2)).double()
        self.sy[:, : k + 1, k] = on_s[:, :, 1]
        self.sy[:, k, : k + 1] = on_y[:, :, 1]
        self.yy[:, k, : k + 1] = on_y[:, :, 2]
        self.yy[:, : k + 1, k] = on_y[:, :, 2]
        self.valid[:, k] = accepted
        self.projected = (grad, on_s[:, :, :1], on_y[:, :, :1])

    def _forget(self, slot: torch.Tensor, which: torch.Tensor) -> None:
        """Empty slot `slot[n]` of every image n where `which[n]` (no read-back from the GPU)."""
        assert self.s is not None and self.y is not None
        images = torch.arange(self.count, device=self.device)
        keep = (~which).to(self.s.dtype)[:, None]
        self.s[images, slot] = self.s[images, slot] * keep
        self.y[images, slot] = self.y[images, slot] * keep
        keep64 = (~which).double()[:, None]
        for matrix in (self.sy, self.yy):
            matrix[images, slot, :] = matrix[images, slot, :] * keep64
            matrix[images, :, slot] = matrix[images, :, slot] * keep64
        self.valid[images, slot] = self.valid[images, slot] & ~which

    def _make_room(self, like: torch.Tensor) -> None:
        """A free slot at the end: drop the oldest slots no image uses (this reads a flag back from the
        GPU, so only when the buffers are full), else grow them."""
        capacity = 0 if self.s is None else self.s.shape[1]
        if self.used < capacity:
            return
        if self.used:
            in_use = self.valid[:, : self.used].any(dim=0).tolist()
            first = next((index for index, flag in enumerate(in_use) if flag), self.used)
            if first:
                self._shift(first)
                return
        self._resize(capacity + SPARE_SLOTS, like)

    def _shift(self, first: int) -> None:
        """Drop slots [0, first): every later slot moves `first` places toward the front."""
        assert self.s is not None and self.y is not None
        rest = self.used - first
        self.s[:, :rest] = self.s[:, first : self.used].clone()
        self.y[:, :rest] = self.y[:, first : self.used].clone()
        for matrix in (self.sy, self.yy):
            matrix[:, :rest, :rest] = matrix[:, first : self.used, first : self.used].clone()
        self.valid[:, :rest] = self.valid[:, first : self.used].clone()
        self.valid[:, rest:] = False
        self.used = rest

    def _resize(self, capacity: int, like: torch.Tensor) -> None:
        n, d = like.shape
        s = like.new_zeros(n, capacity, d)
        y = like.new_zeros(n, capacity, d)
        sy = torch.zeros(n, capacity, capacity, dtype=torch.float64, device=self.device)
        yy = torch.zeros_like(sy)
        valid = torch.zeros(n, capacity, dtype=torch.bool, device=self.device)
        if self.s is not None and self.y is not None and self.used:
            u = self.used
            s[:, :u], y[:, :u] = self.s[:, :u], self.y[:, :u]
            sy[:, :u, :u], yy[:, :u, :u] = self.sy[:, :u, :u], self.yy[:, :u, :u]
            valid[:, :u] = self.valid[:, :u]
        self.s, self.y, self.sy, self.yy, self.valid = s, y, sy, yy, valid

    def times_inverse_hessian(self, grad: torch.Tensor, h_diag: torch.Tensor) -> torch.Tensor:
        """H·g for each image (Byrd, Nocedal & Schnabel 1994's compact form of the two-loop recursion):

            H·g = γg + S·t − γY·p,  with  R·p = Sᵀg,  Rᵀ·t = (D + γYᵀY)·p − γYᵀg,

        R the upper triangle of SᵀY (older pairs first), D its diagonal, γ = H_diag. An empty slot of an
        image (s = y = 0) gets R's diagonal 1 and so adds nothing: the same as the two-loop skipping it.
        """
        # add() has just filled a slot and projected this very gradient (BatchLBFGS.step's order).
        assert self.s is not None and self.y is not None and self.used
        assert self.projected is not None and self.projected[0] is grad
        _, sg, yg = self.projected
        gamma = h_diag.double()[:, None, None]
        u = self.used
        s, y = self.s[:, :u], self.y[:, :u]
        valid = self.valid[:, :u]
        diagonal = torch.diagonal(self.sy[:, :u, :u], dim1=1, dim2=2) * valid
        r = torch.triu(self.sy[:, :u, :u], diagonal=1) + torch.diag_embed(torch.where(valid, diagonal, 1.0))
        p = torch.linalg.solve_triangular(r, sg, upper=True)
        w = diagonal[:, :, None] * p + gamma * torch.bmm(self.yy[:, :u, :u], p) - gamma * yg
        t = torch.linalg.solve_triangular(r.transpose(1, 2), w, upper=False)
        dtype = grad.dtype
        correction = torch.bmm(s.transpose(1, 2), t.to(dtype)) - torch.bmm(
            y.transpose(1, 2), (gamma * p).to(dtype)
        )
        return grad * h_diag[:, None] + correction[:, :, 0]

    def keep(self, index: torch.Tensor) -> None:
        self.count = int(index.numel())
        self.projected = None
        if self.s is not None and self.y is not None:
            self.s, self.y = self.s[index], self.y[index]
        self.sy, self.yy, self.valid = self.sy[index], self.yy[index], self.valid[index]
