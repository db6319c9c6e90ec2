"""Exact population gradient descent, for every activation of the paper.

For Gaussian inputs the population loss has a closed form (:mod:`tltlib.model.losses`), so
gradient descent on it has no sampling noise: it is the object of Theorem 3.1 itself. For
``sigma = identity`` the loss is the bilinear form and its gradients are

    grad_{W_V} L = ||S||_F^2 W_V - <S, S*> V*
    grad_S     L = ||W_V||_F^2 S - <W_V, V*> S*,

then back through the column softmax and ``A = P^T W_KQ P / sqrt(D)``. A step of size
``eta`` on ``W_KQ`` moves the logits by ``-(eta / D) grad_A L`` whatever the orthogonal
``P`` is, so the loop runs on the logits (in NumPy: these are small matrices, where NumPy's
per-call cost is lowest) and ``W_KQ`` is rebuilt exactly at every recorded step. The loop
works in place on arrays allocated once (``benchmarks/bench_population.py`` times it against
the same closed form written plainly).

For ReLU and Leaky ReLU the loss is a sum over the ``M x D`` output entries of the arc-cosine
kernel; its gradient is written out in :mod:`tltlib.train._population_kernel`, a compiled
loop that takes all the steps between two recorded marks at once
(``benchmarks/bench_population.py`` times it against the online step and against autograd on
the same closed form; ``tests/train/test_population.py`` checks it against autograd).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from tltlib.core.history import Run, call_settings
from tltlib.core.loop import run_loop
from tltlib.core.validate import positive_float, positive_int
from tltlib.model.metrics import Metric, measure
from tltlib.model.student import PositionOnlyTransformer
from tltlib.model.teachers import Teacher
from tltlib.model.theory import diverged, warn_if_unstable


def _softmax_cols(A: np.ndarray) -> np.ndarray:
    E = np.exp(A - A.max(axis=0, keepdims=True))
    return E / E.sum(axis=0, keepdims=True)


def train_population(
    teacher: Teacher,
    eta: float,
    steps: int,
    *,
    encoding: str = "random",
    seed: int = 0,
    record: int | Sequence[int] = 20,
    extra_metrics: Mapping[str, Metric] | None = None,
) -> Run:
    """Gradient descent on the exact population loss from zero (any activation).

    Records :func:`tltlib.model.metrics.measure` (and ``extra_metrics``) at the steps of
    ``record`` (:func:`~tltlib.core.history.record_steps`). Raises :class:`DivergenceError` if the loss blows up.
    """
    eta = positive_float("eta", eta)
    steps = positive_int("steps", steps)
    warn_if_unstable(teacher, eta)
    settings = call_settings("population", locals())
    student = PositionOnlyTransformer.for_teacher(teacher, encoding=encoding, seed=seed)
    V = teacher.V_star.numpy()
    Ss = teacher.S_star.numpy()
    D = teacher.D
    W = np.zeros_like(V)
    A = np.zeros((D, D))
    base = float((V * V).sum() * (Ss * Ss).sum())
    extra = dict(extra_metrics or {})
    if not teacher.activation.is_identity:
        return _train_piecewise(teacher, eta, steps, student, record, extra, settings)

    def snapshot() -> dict[str, float]:
        student.W_V = torch.from_numpy(W.copy())
        student.set_logits(torch.from_numpy(A.copy()))
        values = measure(student, teacher)
        values.update({k: f(student) for k, f in extra.items()})
        return values

    # every array of the loop is allocated once; each step is about twenty NumPy calls
    S, S2, SSs, Q = (np.empty((D, D)) for _ in range(4))
    colmax, colsum = np.empty((1, D)), np.empty((1, D))
    vdot, lr_A = np.vdot, -eta / D

    def step(t: int) -> float:
        np.max(A, axis=0, keepdims=True, out=colmax)
        np.subtract(A, colmax, out=S)
        np.exp(S, out=S)
        np.sum(S, axis=0, keepdims=True, out=colsum)
        np.divide(S, colsum, out=S)
        np.multiply(S, S, out=S2)
        np.multiply(S, Ss, out=SSs)
        fS, iS = S2.sum(), SSs.sum()
        fW, iW = vdot(W, W), vdot(W, V)
        loss = 0.5 * (fW * fS + base - 2.0 * iW * iS)
        # the column-softmax backward step of tltlib.model.student, fused with the gradient
        # in S, gS = fW S - iW S*: gA = S * gS - S * colsum(S * gS)
        np.multiply(S2, fW, out=Q)
        np.multiply(SSs, iW, out=SSs)
        np.subtract(Q, SSs, out=Q)
        np.sum(Q, axis=0, keepdims=True, out=colsum)
        np.multiply(S, colsum, out=S)
        np.subtract(Q, S, out=Q)
        np.multiply(Q, lr_A, out=Q)
        np.add(A, Q, out=A)
        np.multiply(W, 1.0 - eta * fS, out=W)
        np.add(W, (eta * iS) * V, out=W)
        return float(loss)

    with np.errstate(over="ignore", invalid="ignore"):  # divergence is caught by the loop
        history = run_loop(
            "train_population",
            steps,
            record,
            step,
            snapshot,
            diverged(teacher, eta),
            limit=1e6 * (base + 1.0),
        )
    return Run(student, history, teacher, settings)


def _train_piecewise(
    teacher: Teacher,
    eta: float,
    steps: int,
    student: PositionOnlyTransformer,
    record: int | Sequence[int],
    extra: dict[str, Metric],
    settings: dict,
) -> Run:
    """:func:`train_population` for ReLU and Leaky ReLU, in the compiled loop."""
    from tltlib.train._population_kernel import advance

    V = teacher.V_star.numpy().astype(np.float64)
    St = np.ascontiguousarray(teacher.S_star.numpy().T.astype(np.float64))
    W, At = np.zeros_like(V), np.zeros_like(St)
    lam = float(teacher.activation.negative_slope)
    # the zero student's loss: 1/2 E sigma(b)^2 summed, (1 + lam^2)/4 ||V*||^2 ||S*||^2
    base = 0.25 * (1 + lam * lam) * float((V * V).sum() * (St * St).sum())

    def snapshot() -> dict[str, float]:
        student.W_V = torch.from_numpy(W.copy())
        student.set_logits(torch.from_numpy(At.T.copy()))
        values = measure(student, teacher)
        values.update({k: f(student) for k, f in extra.items()})
        return values

    def span(t0: int, t1: int) -> float:
        return float(advance(W, At, V, St, lam, eta, t1 - t0))

    with np.errstate(over="ignore", invalid="ignore"):
        history = run_loop(
            "train_population",
            steps,
            record,
            span,
            snapshot,
            diverged(teacher, eta),
            limit=1e6 * (base + 1.0),
            spans=True,
        )
    return Run(student, history, teacher, settings)
