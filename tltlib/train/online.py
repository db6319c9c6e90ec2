"""Online gradient descent, as in the paper's experiments (Section 4.1).

Every step draws a fresh batch of ``batch`` Gaussian inputs and label noise, and takes one
gradient step of size ``eta`` on both blocks of the student from zero initialisation.
Gradients are written out by hand (they are short, and exact):

    G = (sigma(W_V X S) - Y) * sigma'(W_V X S)
    grad_{W_V} = mean_n G_n (X_n S)^T,     grad_S = mean_n X_n^T W_V^T G_n,

then back through the column softmax. As in :mod:`tltlib.train.population`, the loop updates
the logits ``A = P^T W_KQ P / sqrt(D)`` by ``-(eta/D) grad_A``, which is exactly the step
on ``W_KQ`` for any orthogonal ``P``; ``W_KQ`` is rebuilt at every recorded step.
With ``sigma'(0) = 1`` (see :mod:`tltlib.model.activations`) ReLU students leave zero.

How the step is made fast (``benchmarks/`` measures it; ``tests/train/test_trainers.py`` and
``tests/train/test_fast_paths.py`` check that it still follows :func:`tltlib.train.reference.online_gd`
step for step in float64, with the same random numbers):

* the batch goes through four or five matrix products on preallocated buffers
  (:class:`_OnlineStep`), in whichever of two orders costs fewer flops; the student and the
  teacher share each product;
* ``sigma`` and ``sigma'`` avoid boolean masks, which are slow on CPU (ReLU's own backward
  kernel applies ``sigma'``);
* each step draws into the same two buffers (:class:`_Draws`);
* the loss, needed only to detect divergence, is summed every ``CHECK_EVERY`` steps.

Sampling sets a floor: a float32 Gaussian costs 3.5-5 ns, 40-45% of a step at the paper's
size (D = 36, N = 100); the products are most of the rest (``benchmarks/README.md``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from tltlib.core.history import Run, call_settings
from tltlib.core.loop import run_loop
from tltlib.core.seeding import generator
from tltlib.core.validate import one_of, positive_float, positive_int
from tltlib.model.activations import Activation
from tltlib.model.data import INPUT_KINDS, Sampler
from tltlib.model.metrics import Metric, measure, sample_excess
from tltlib.model.student import (
    BLOCKS,
    PositionOnlyTransformer,
    check_blocks,
    column_softmax_backward,
)
from tltlib.model.teachers import Teacher
from tltlib.model.theory import diverged, warn_if_unstable

#: steps between two divergence checks (the loss is only summed then)
CHECK_EVERY = 16

_SMALLEST_SUBNORMAL = {torch.float32: 2.0**-149, torch.float64: 2.0**-1074}


class _Draws:
    """Standard normal tensors (or ``sampler``'s) of ``shape`` from ``g``, one per step, with the first two axes
    swapped (contiguous): the numbers of ``torch.randn(shape, generator=g)``, in the layout
    the products want. Both buffers are allocated once."""

    def __init__(
        self,
        g: torch.Generator,
        shape: tuple[int, ...],
        dtype: torch.dtype,
        sampler: Sampler | None = None,
    ):
        self.g, self.sampler = g, sampler
        self.drawn = torch.empty(shape, dtype=dtype)
        self.swapped = torch.empty((shape[1], shape[0], *shape[2:]), dtype=dtype)
        self.view = self.drawn.transpose(0, 1)

    def draw(self) -> torch.Tensor:
        """The next step's draw, of shape ``(shape[1], shape[0], *shape[2:])``."""
        if self.sampler is None:
            torch.randn(self.drawn.shape, generator=self.g, out=self.drawn)
        else:
            self.drawn.copy_(self.sampler(self.drawn.shape, self.g, self.drawn.dtype))
        return self.swapped.copy_(self.view)


def _activate(z: torch.Tensor, act: Activation, out: torch.Tensor) -> torch.Tensor:
    """``sigma(z)`` into ``out`` (may be ``z``): the same numbers as ``act(z)``, faster.

    Leaky ReLU is ``max(z, alpha z)`` for ``0 < alpha < 1``, which avoids the boolean mask
    of :meth:`Activation.__call__`.
    """
    if act.is_identity:
        return out.copy_(z) if out is not z else out
    if act.negative_slope == 0.0:
        return torch.clamp_min(z, 0.0, out=out)
    return torch.maximum(z, act.negative_slope * z, out=out)


def _times_derivative(R: torch.Tensor, Z: torch.Tensor, act: Activation) -> torch.Tensor:
    """``R * sigma'(Z)`` with ``sigma'(0) = 1``, in place in ``R``, without boolean masks.

    ``threshold_backward(R, Z, c)`` is ReLU's backward kernel: ``0`` where ``Z <= c``, ``R``
    elsewhere. With ``c`` the negative number closest to zero, this is ``R * 1[Z >= 0]``
    (``-0.0`` included), as autograd's ``clamp_min`` backward computes it.
    """
    if act.is_identity:
        return R
    below = -_SMALLEST_SUBNORMAL[Z.dtype]
    if act.negative_slope == 0.0:
        return torch.ops.aten.threshold_backward.grad_input(R, Z, below, grad_input=R)
    P = torch.ops.aten.threshold_backward(R, Z, below)
    return R.sub_(P).mul_(act.negative_slope).add_(P)


class _OnlineStep:
    """The arithmetic of one step, in place on preallocated buffers.

    Everything a step touches is allocated (and every view of it made) once, so that a
    step is about twenty calls into PyTorch. ``X`` is (N, d, D); outputs and their
    gradients are kept as (M, N, D) (row ``m`` of every sample together), the layout in
    which each product is one call to a matrix-matrix kernel. Of two orders of the
    products the one with fewer flops is used: features first (``[W_V; V*] X``, then the
    scores) when ``M`` is small against ``d``, positions first (``X [S | S*]``) otherwise.
    """

    def __init__(
        self,
        V: torch.Tensor,
        S_star: torch.Tensor,
        N: int,
        act: Activation,
        noise: float,
        features_first: bool | None = None,
    ):
        M, d = V.shape
        D = S_star.shape[0]
        self.act, self.noise = act, noise
        flops_features = 6 * M * d * N * D + 8 * M * N * D * D
        flops_positions = 6 * d * N * D * D + 12 * M * d * N * D
        if features_first is None:  # the order with fewer flops
            features_first = flops_features <= flops_positions
        self.features_first = features_first
        #: flops of the matrix products of one step, in the chosen order
        self.flops = flops_features if features_first else flops_positions
        dt = V.dtype
        self.WV = torch.zeros(2 * M, d, dtype=dt)  # [W_V; V*]: one product for both
        self.WV[M:] = V
        self.W = self.WV[:M]
        self.A = torch.zeros(D, D, dtype=dt)
        self.R = torch.empty(M, N, D, dtype=dt)
        self.R_rows, self.R_mat = self.R.view(M * N, D), self.R.view(M, N * D)
        self.gS = torch.empty(D, D, dtype=dt)
        self.P = torch.empty(D, D, dtype=dt)
        self.colsum = torch.empty(1, D, dtype=dt)
        if self.features_first:
            self.SS = torch.stack([S_star, S_star])  # [S, S*]
            self.S = self.SS[0]
            self.U = torch.empty(2 * M, N * D, dtype=dt)  # [W_V X; V* X]
            self.U_pairs = self.U.view(2, M * N, D)
            self.UW_rows_T = self.U[:M].view(M * N, D).T
            self.ZY = torch.empty(2, M * N, D, dtype=dt)
            self.Z, self.Y = self.ZY[0].view(M, N, D), self.ZY[1].view(M, N, D)
            self.GS = torch.empty(M * N, D, dtype=dt)
            self.GS_mat = self.GS.view(M, N * D)
            self.S_T = self.S.T
        else:
            self.C = torch.cat([S_star, S_star], dim=1)  # [S | S*]
            self.S = self.C[:, :D]
            self.XC = torch.empty(d * N, 2 * D, dtype=dt)  # [X S | X S*]
            self.XC_mat = self.XC.view(d, N * 2 * D)
            self.XS = self.XC.view(d, N, 2 * D)[:, :, :D]
            self.U = torch.empty(2 * M, N * 2 * D, dtype=dt)
            U = self.U.view(2 * M, N, 2 * D)
            self.Z, self.Y = U[:M, :, :D], U[M:, :, D:]
            self.H = torch.empty(d, N, D, dtype=dt)
            self.H_mat_T = self.H.view(d, N * D).T
            self.B = torch.empty(d, N * D, dtype=dt)
            self.B_rows = self.B.view(d * N, D)
            self.W_T = self.W.T
        self.S.fill_(1.0 / D)

    def residual(self, Xt: torch.Tensor, Et: torch.Tensor | None) -> torch.Tensor:
        """``R = sigma(W_V X S) - sigma(V* X S*) - noise E`` (M, N, D) for the current
        ``W_V`` and ``S``, from the inputs ``Xt`` (d, N, D) and the label noise ``Et``
        (M, N, D), both contiguous."""
        act, (d, N, D) = self.act, Xt.shape
        self.Xt = Xt  # kept for update()
        if self.features_first:
            self.Xt_mat = Xt.view(d, N * D)
            torch.mm(self.WV, self.Xt_mat, out=self.U)
            torch.bmm(self.U_pairs, self.SS, out=self.ZY)
        else:
            self.Xt_rows = Xt.view(d * N, D)
            torch.mm(self.Xt_rows, self.C, out=self.XC)
            torch.mm(self.WV, self.XC_mat, out=self.U)
        Y = _activate(self.Y, act, out=self.Y)
        if Et is not None:
            Y.add_(Et, alpha=self.noise)
        return _activate(self.Z, act, out=self.R).sub_(Y)

    def update(self, lr_value: float, lr_logits: float) -> None:
        """One step from the residual: ``W_V -= lr_value grad``, ``A -= lr_logits grad_A``
        (either rate may be 0: that block is frozen). The gradients are sums over the batch."""
        G = _times_derivative(self.R, self.Z, self.act)
        if lr_logits:  # before W_V moves: the gradient of S uses the current W_V
            if self.features_first:
                torch.mm(self.UW_rows_T, self.R_rows, out=self.gS)
            else:
                torch.mm(self.W_T, self.R_mat, out=self.B)
                torch.mm(self.Xt_rows.T, self.B_rows, out=self.gS)
            column_softmax_backward(self.S, self.gS, out=self.P, colsum=self.colsum)
        if lr_value:
            if self.features_first:
                torch.mm(self.R_rows, self.S_T, out=self.GS)  # G S^T, then against X
                self.W.addmm_(self.GS_mat, self.Xt_mat.T, alpha=lr_value)
            else:
                self.H.copy_(self.XS)
                self.W.addmm_(G.view(G.shape[0], -1), self.H_mat_T, alpha=lr_value)
        if lr_logits:
            self.A.add_(self.P, alpha=lr_logits)
            self.S.copy_(torch.softmax(self.A, dim=0))


def train_online(
    teacher: Teacher,
    eta: float,
    steps: int,
    *,
    batch: int = 100,
    noise: float = 1.0,
    seed: int = 0,
    encoding: str = "random",
    dtype: torch.dtype = torch.float32,
    record: int | Sequence[int] = 20,
    extra_metrics: Mapping[str, Metric] | None = None,
    ood_inputs: torch.Tensor | None = None,
    train_blocks: Sequence[str] = BLOCKS,
    inputs: str = "gaussian",
) -> Run:
    """Online GD from zero with fresh Gaussian batches and ``N(0, noise^2)`` label noise.

    Runs in ``dtype`` (float32 by default: SGD noise dwarfs rounding, and float32 halves the
    cost of sampling); every recorded metric is computed in float64.

    ``train_blocks`` (default both) exists for ablations: ``("value",)`` freezes the
    attention at its uniform start. ``ood_inputs`` (N, d, D) adds the metric ``ood_excess``
    (:func:`tltlib.model.metrics.sample_excess` on them, Figure 2(b)). Raises
    :class:`DivergenceError` if the batch loss blows up (checked every ``CHECK_EVERY`` steps).
    ``inputs`` names the family of the training tokens (:data:`tltlib.model.data.INPUT_KINDS`;
    the default ``"gaussian"`` draws exactly the numbers it always drew); the recorded
    ``excess_loss`` stays the Gaussian closed form.
    """
    eta = positive_float("eta", eta)
    steps = positive_int("steps", steps)
    warn_if_unstable(teacher, eta)
    batch = positive_int("batch", batch)
    noise = positive_float("noise", noise, allow_zero=True)
    train_blocks = check_blocks(train_blocks)
    inputs = one_of("inputs", inputs, INPUT_KINDS)
    settings = call_settings("online", locals())
    extra = dict(extra_metrics or {})
    if ood_inputs is not None:
        extra["ood_excess"] = sample_excess(teacher, ood_inputs)

    student = PositionOnlyTransformer.for_teacher(teacher, encoding=encoding, seed=seed)
    act = teacher.activation
    M, d, D, N = teacher.M, teacher.d, teacher.D, batch
    work = _OnlineStep(teacher.V_star.to(dtype), teacher.S_star.to(dtype), N, act, noise)
    W, A = work.W, work.A  # updated in place
    sampler = None if inputs == "gaussian" else INPUT_KINDS[inputs]
    draws = _Draws(generator(seed, "train_inputs"), (N, d, D), dtype, sampler)
    label_noise = None
    if noise > 0:
        label_noise = _Draws(generator(seed, "train_noise"), (N, M, D), dtype)
    lr_value = -eta / N if "value" in train_blocks else 0.0
    lr_logits = -eta / (D * N) if "attention" in train_blocks else 0.0

    def snapshot() -> dict[str, float]:
        student.W_V = W.to(torch.float64).clone()
        student.set_logits(A.to(torch.float64))
        values = measure(student, teacher)
        values.update({k: f(student) for k, f in extra.items()})
        return values

    def step(t: int) -> float | None:
        Et = label_noise.draw() if label_noise is not None else None
        R = work.residual(draws.draw(), Et)
        loss = None
        if t % CHECK_EVERY == 0:  # the loss is needed only to detect divergence
            loss = 0.5 * float(torch.linalg.vector_norm(R) ** 2) / N
        work.update(lr_value, lr_logits)
        return loss

    history = run_loop("train_online", steps, record, step, snapshot, diverged(teacher, eta))
    return Run(student, history, teacher, settings)
