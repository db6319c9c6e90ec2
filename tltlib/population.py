"""Exact population gradient descent for the identity activation.

For ``sigma = identity`` and Gaussian inputs the population loss is the bilinear form of
:mod:`tltlib.losses`, so its gradients are exact and cheap:

    grad_{W_V} L = ||S||_F^2 W_V - <S, S*> V*
    grad_S     L = ||W_V||_F^2 S - <W_V, V*> S*,

then back through the column softmax and ``A = P^T W_KQ P / sqrt(D)``. A step of size
``eta`` on ``W_KQ`` moves the logits by ``-(eta / D) grad_A L`` whatever the orthogonal
``P`` is, so the loop runs on the logits (in NumPy: these are small matrices, where NumPy's
per-call cost is lowest) and ``W_KQ`` is rebuilt exactly at every recorded step. The loop
works in place on arrays allocated once (``benchmarks/bench_population.py`` times it against
the same closed form written plainly).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from .metrics import History, Metric, log_steps, measure
from .student import PositionOnlyTransformer
from .teachers import Teacher
from .theory import DivergenceError, divergence_message, warn_if_unstable
from .validate import positive_float, positive_int


@dataclass
class Run:
    """The outcome of a training run: the final student, its history and the settings."""

    student: PositionOnlyTransformer
    history: History
    teacher: Teacher
    settings: dict


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
    per_decade: int = 20,
    record: np.ndarray | None = None,
    extra_metrics: Mapping[str, Metric] | None = None,
) -> Run:
    """Gradient descent on the exact population loss from zero (identity activation only).

    Records :func:`tltlib.metrics.measure` (and ``extra_metrics``) at ``record`` steps
    (default: :func:`log_steps`). Raises :class:`DivergenceError` if the loss blows up.
    """
    if not teacher.activation.is_identity:
        raise ValueError(
            f"train_population needs the identity activation (closed-form gradients), got "
            f"activation={teacher.activation.name!r}; use train_online for relu / leaky_relu"
        )
    eta = positive_float("eta", eta)
    steps = positive_int("steps", steps)
    warn_if_unstable(teacher, eta)
    record = log_steps(steps, per_decade) if record is None else np.asarray(record)
    student = PositionOnlyTransformer.for_teacher(teacher, encoding=encoding, seed=seed)
    V = teacher.V_star.numpy()
    Ss = teacher.S_star.numpy()
    D = teacher.D
    W = np.zeros_like(V)
    A = np.zeros((D, D))
    base = float((V * V).sum() * (Ss * Ss).sum())
    limit = 1e6 * (base + 1.0)
    history = History()
    marks = set(int(t) for t in record)
    extra = dict(extra_metrics or {})

    def snapshot(t: int) -> None:
        student.W_V = torch.from_numpy(W.copy())
        student.set_logits(torch.from_numpy(A.copy()))
        values = measure(student, teacher)
        values.update({k: f(student) for k, f in extra.items()})
        history.append(t, values)

    # every array of the loop is allocated once; each step is about twenty NumPy calls
    S, S2, SSs, Q = (np.empty((D, D)) for _ in range(4))
    colmax, colsum = np.empty((1, D)), np.empty((1, D))
    vdot, lr_A = np.vdot, -eta / D
    with np.errstate(over="ignore", invalid="ignore"):  # divergence is caught below
        for t in range(steps + 1):
            np.max(A, axis=0, keepdims=True, out=colmax)
            np.subtract(A, colmax, out=S)
            np.exp(S, out=S)
            np.sum(S, axis=0, keepdims=True, out=colsum)
            S /= colsum
            np.multiply(S, S, out=S2)
            np.multiply(S, Ss, out=SSs)
            fS, iS = S2.sum(), SSs.sum()
            fW, iW = vdot(W, W), vdot(W, V)
            if t in marks:
                snapshot(t)
            if t == steps:
                break
            loss = 0.5 * (fW * fS + base - 2.0 * iW * iS)
            if not loss < limit:  # also catches nan
                raise DivergenceError(divergence_message(teacher, eta, t, float(loss)))
            # S * gS with gS = fW S - iW S*, then gA = S * gS - S * colsum(S * gS)
            np.multiply(S2, fW, out=Q)
            SSs *= iW
            Q -= SSs
            np.sum(Q, axis=0, keepdims=True, out=colsum)
            S *= colsum
            Q -= S
            Q *= lr_A
            A += Q
            W *= 1.0 - eta * fS
            W += (eta * iS) * V
    settings = dict(trainer="population", eta=eta, steps=steps, encoding=encoding, seed=seed)
    return Run(student, history, teacher, settings)
