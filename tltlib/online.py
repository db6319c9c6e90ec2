"""Online gradient descent, as in the paper's experiments (Section 4.1).

Every step draws a fresh batch of ``batch`` Gaussian inputs and label noise, and takes one
gradient step of size ``eta`` on both blocks of the student from zero initialisation.
Gradients are written out by hand (they are short, and exact):

    G = (sigma(W_V X S) - Y) * sigma'(W_V X S)
    grad_{W_V} = mean_n G_n (X_n S)^T,     grad_S = mean_n X_n^T W_V^T G_n,

then back through the column softmax. As in :mod:`tltlib.population`, the loop updates
the logits ``A = P^T W_KQ P / sqrt(D)`` by ``-(eta/D) grad_A``, which is exactly the step
on ``W_KQ`` for any orthogonal ``P``; ``W_KQ`` is rebuilt at every recorded step.
With ``sigma'(0) = 1`` (see :mod:`tltlib.activations`) ReLU students leave zero.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from .metrics import History, Metric, log_steps, measure, sample_excess
from .population import Run
from .seeding import generator
from .student import PositionOnlyTransformer
from .teachers import Teacher
from .theory import DivergenceError, divergence_message, warn_if_unstable
from .validate import positive_float, positive_int

BLOCKS = ("value", "attention")


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
    per_decade: int = 20,
    record: np.ndarray | None = None,
    extra_metrics: Mapping[str, Metric] | None = None,
    ood_inputs: torch.Tensor | None = None,
    train_blocks: Sequence[str] = BLOCKS,
) -> Run:
    """Online GD from zero with fresh Gaussian batches and ``N(0, noise^2)`` label noise.

    Runs in ``dtype`` (float32 by default: SGD noise dwarfs rounding, and float32 halves the
    cost of sampling); every recorded metric is computed in float64.

    ``train_blocks`` (default both) exists for ablations: ``("value",)`` freezes the
    attention at its uniform start. ``ood_inputs`` (N, d, D) adds the metric ``ood_excess``
    (:func:`tltlib.metrics.sample_excess` on them, Figure 2(b)). Raises :class:`DivergenceError` if the batch loss blows up.
    """
    eta = positive_float("eta", eta)
    steps = positive_int("steps", steps)
    warn_if_unstable(teacher, eta)
    batch = positive_int("batch", batch)
    noise = positive_float("noise", noise, allow_zero=True)
    unknown = set(train_blocks) - set(BLOCKS)
    if unknown or not train_blocks:
        raise ValueError(
            f"train_blocks must be a non-empty subset of {BLOCKS}, got {train_blocks!r}"
        )
    record = log_steps(steps, per_decade) if record is None else np.asarray(record)
    marks = set(int(t) for t in record)
    extra = dict(extra_metrics or {})
    if ood_inputs is not None:
        extra["ood_excess"] = sample_excess(teacher, ood_inputs)

    student = PositionOnlyTransformer.for_teacher(teacher, encoding=encoding, seed=seed)
    act = teacher.activation
    M, d, D, N = teacher.M, teacher.d, teacher.D, batch
    V = teacher.V_star.to(dtype)
    Ss = teacher.S_star.to(dtype)
    W = torch.zeros(M, d, dtype=dtype)
    A = torch.zeros(D, D, dtype=dtype)
    g_x, g_e = generator(seed, "train_inputs"), generator(seed, "train_noise")
    learn_value, learn_attention = "value" in train_blocks, "attention" in train_blocks
    limit = None
    history = History()

    def snapshot(t: int) -> None:
        student.W_V = W.to(torch.float64).clone()
        student.set_logits(A.to(torch.float64))
        values = measure(student, teacher)
        values.update({k: f(student) for k, f in extra.items()})
        history.append(t, values)

    for t in range(steps + 1):
        if t in marks:
            snapshot(t)
        if t == steps:
            break
        S = torch.softmax(A, dim=0)
        X = torch.randn(N, d, D, generator=g_x, dtype=dtype)
        Xf = X.reshape(N * d, D)
        H = (Xf @ S).reshape(N, d, D)
        Z = W @ H
        Y = act(V @ (Xf @ Ss).reshape(N, d, D))
        if noise > 0:
            Y = Y + noise * torch.randn(N, M, D, generator=g_e, dtype=dtype)
        R = act(Z) - Y
        loss = 0.5 * float((R * R).sum()) / N
        if limit is None:
            limit = 1e6 * (loss + 1.0)
        if not loss < limit:
            raise DivergenceError(divergence_message(teacher, eta, t, loss))
        G = R if act.is_identity else R * act.derivative(Z)
        if learn_attention:
            B = (W.T @ G).reshape(N * d, D)
            gS = Xf.T @ B / N
            gA = S * (gS - (S * gS).sum(dim=0, keepdim=True))
            A = A - (eta / D) * gA
        if learn_value:
            gW = torch.tensordot(G, H, dims=([0, 2], [0, 2])) / N
            W = W - eta * gW
    settings = dict(
        trainer="online",
        eta=eta,
        steps=steps,
        batch=batch,
        noise=noise,
        seed=seed,
        encoding=encoding,
        dtype=str(dtype).replace("torch.", ""),
        train_blocks=list(train_blocks),
    )
    return Run(student, history, teacher, settings)
