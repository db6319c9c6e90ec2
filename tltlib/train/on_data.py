"""Gradient descent of the student on a fixed set of inputs (the paper's MNIST experiment).

The synthetic chapters draw fresh Gaussian inputs at every step and measure the exact
population loss. Here the inputs are the patches of real images: the closed-form Gaussian
loss does not apply, so every metric is measured on the data. Every step takes a mini-batch
of ``batch`` inputs drawn uniformly (with replacement) from the training set, targets
``f*(X)`` without noise (the teacher is exactly realisable, so the optimal loss is zero),
and the same hand-written gradients as :mod:`tltlib.train.online`.

Real images are far from isotropic: patches are non-negative, so they share a large mean
direction, and the curvature of the loss in the value block along it is much larger than
for Gaussian inputs. :func:`data_stability_bound` measures the step-size bound on the data
(:func:`tltlib.model.theory.eta_stability_bound` is its Gaussian counterpart).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import torch

from tltlib.core.errors import StepSizeWarning
from tltlib.core.history import Run, call_settings
from tltlib.core.loop import run_loop
from tltlib.core.seeding import generator
from tltlib.core.validate import positive_float, positive_int
from tltlib.model.metrics import Metric, cosine
from tltlib.model.student import (
    BLOCKS,
    PositionOnlyTransformer,
    check_blocks,
    column_softmax_backward,
)
from tltlib.model.teachers import Teacher, check_inputs
from tltlib.model.theory import eta_stability_bound, t_star

CHUNK = 500
"""Number of inputs per chunk in the full-data sums (loss, curvature): bounds their memory."""


def value_curvature(
    teacher: Teacher, X: torch.Tensor, W: torch.Tensor | None = None, S: torch.Tensor | None = None
) -> float:
    """Largest eigenvalue of the Gauss-Newton matrix of the data loss in the value block,
    ``max_m lambda_max( mean_n sum_i sigma'(z_nmi)^2 h_ni h_ni^T )`` with ``h = X S`` and
    ``z = W X S``; at the teacher (``W = V*``, ``S = S*``, the default) it is the exact Hessian,
    since the residual vanishes there."""
    check_inputs(X, teacher.d, teacher.D)
    X = X.to(torch.float64)
    W = teacher.V_star if W is None else W.to(torch.float64)
    S = teacher.S_star if S is None else S.to(torch.float64)
    C = torch.zeros(teacher.M, teacher.d, teacher.d, dtype=torch.float64)
    for Xc in X.split(CHUNK):
        H = Xc @ S
        g2 = teacher.activation.derivative(W @ H) ** 2  # (n, M, D)
        # sum over images n and patches i of g2[n, m, i] h[n, :, i] h[n, :, i]^T, as a matmul
        weighted = (
            (g2[:, :, None, :] * H[:, None, :, :])
            .permute(1, 2, 0, 3)
            .reshape(teacher.M * teacher.d, -1)
        )
        flat = H.permute(0, 2, 1).reshape(-1, teacher.d)
        C += (weighted @ flat).reshape(teacher.M, teacher.d, teacher.d)
    C /= len(X)
    return float(torch.linalg.eigvalsh(C)[:, -1].max())


def data_stability_bound(teacher: Teacher, X: torch.Tensor) -> float:
    """``2 / value_curvature(teacher, X)``: gradient descent on the data is stable near the
    optimum only for ``eta`` below this (the data version of
    :func:`tltlib.model.theory.eta_stability_bound`)."""
    return 2.0 / value_curvature(teacher, X)


def data_loss(student: PositionOnlyTransformer, X: torch.Tensor, Y: torch.Tensor) -> float:
    """``1/2 mean_n ||TF(X_n) - Y_n||_F^2`` on the inputs ``X`` with targets ``Y`` (summed in
    chunks of :data:`CHUNK` inputs, so that memory stays bounded on large data sets)."""
    total = 0.0
    for Xc, Yc in zip(X.split(CHUNK), Y.split(CHUNK), strict=True):
        diff = student(Xc.to(torch.float64)) - Yc.to(torch.float64)
        total += float((diff * diff).sum())
    return 0.5 * total / len(X)


def relative_data_loss(
    student: PositionOnlyTransformer, teacher: Teacher, X: torch.Tensor
) -> float:
    """The data loss on ``X`` with targets ``f*(X)``, divided by that of the zero student
    (``1/2 mean ||f*(X)||^2``): 1 at the start of training, 0 at the teacher."""
    Y = teacher(X.to(torch.float64))
    return data_loss(student, X, Y) / float(0.5 * (Y * Y).sum(dim=(-2, -1)).mean())


def _divergence(teacher: Teacher, eta: float, bound: float, step: int, loss: float) -> str:
    return (
        f"gradient descent on the data diverged at step {step} (loss {loss:.3g}) with "
        f"eta={eta:g}; on these inputs the value block is stable near the optimum only for "
        f"eta < 2/lambda_max = {bound:.3g} (tltlib.train.on_data.data_stability_bound). Use a "
        f"smaller eta."
    )


def train_on_data(
    teacher: Teacher,
    X: torch.Tensor,
    eta: float,
    steps: int,
    *,
    batch: int = 20,
    seed: int = 0,
    encoding: str = "random",
    dtype: torch.dtype = torch.float32,
    X_eval: torch.Tensor | None = None,
    record: int | Sequence[int] = 20,
    extra_metrics: Mapping[str, Metric] | None = None,
    train_blocks: Sequence[str] = BLOCKS,
) -> Run:
    """Mini-batch gradient descent from zero on the inputs ``X`` (N, d, D), labels ``f*(X)``.

    Records, at the steps of ``record`` (:func:`~tltlib.core.history.record_steps`), on ``X_eval`` (default
    ``X``): ``loss`` (the data loss), ``relative_loss`` (``loss / loss`` of the zero student,
    i.e. relative to ``1/2 mean ||f*(X)||^2``), ``cosine`` (``cos(W_V, V*)``), ``S_error``
    (``||S - S*||_F``) and ``norm_ratio`` (``||W_V||_F / ||V*||_F``), plus ``extra_metrics``.
    ``train_blocks=("value",)`` freezes the attention at uniform (an ablation). Warns with
    :class:`~tltlib.core.errors.StepSizeWarning` above :func:`data_stability_bound` and raises
    :class:`~tltlib.core.errors.DivergenceError` if the batch loss blows up.
    """
    check_inputs(X, teacher.d, teacher.D)
    eta = positive_float("eta", eta)
    steps = positive_int("steps", steps)
    batch = positive_int("batch", batch)
    train_blocks = check_blocks(train_blocks)
    settings = call_settings("data", locals())
    bound = data_stability_bound(teacher, X)
    if eta > bound:
        warnings.warn(
            f"eta={eta:g} exceeds the data stability bound 2/lambda_max = {bound:.3g}",
            StepSizeWarning,
            stacklevel=2,
        )
    X_eval = X if X_eval is None else X_eval
    check_inputs(X_eval, teacher.d, teacher.D)
    X_eval = X_eval.to(torch.float64)
    Y_eval = teacher(X_eval)
    zero_loss = float(0.5 * (Y_eval * Y_eval).sum(dim=(-2, -1)).mean())
    extra = dict(extra_metrics or {})

    student = PositionOnlyTransformer.for_teacher(teacher, encoding=encoding, seed=seed)
    act = teacher.activation
    M, d, D, N = teacher.M, teacher.d, teacher.D, batch
    Xd = X.to(dtype)
    Yd = teacher(X.to(torch.float64)).to(dtype)
    W = torch.zeros(M, d, dtype=dtype)
    A = torch.zeros(D, D, dtype=dtype)
    g = generator(seed, "data_batches")
    learn_value, learn_attention = "value" in train_blocks, "attention" in train_blocks

    def snapshot() -> dict[str, float]:
        student.W_V = W.to(torch.float64).clone()
        student.set_logits(A.to(torch.float64))
        loss = data_loss(student, X_eval, Y_eval)
        values = {
            "loss": loss,
            "relative_loss": loss / zero_loss,
            "cosine": cosine(student.W_V, teacher.V_star),
            "S_error": float(torch.linalg.norm(student.scores() - teacher.S_star)),
            "norm_ratio": float(torch.linalg.norm(student.W_V) / torch.linalg.norm(teacher.V_star)),
        }
        values.update({k: f(student) for k, f in extra.items()})
        return values

    def step(t: int) -> float:
        nonlocal W, A
        idx = torch.randint(0, len(Xd), (N,), generator=g)
        Xb, Yb = Xd[idx], Yd[idx]
        S = torch.softmax(A, dim=0)
        H = Xb @ S
        Z = W @ H
        R = act(Z) - Yb
        G = R if act.is_identity else R * act.derivative(Z)
        if learn_attention:
            gS = (Xb.transpose(1, 2) @ (W.T @ G)).sum(dim=0) / N
            A = A - (eta / D) * column_softmax_backward(S, gS)
        if learn_value:
            gW = torch.tensordot(G, H, dims=([0, 2], [0, 2])) / N
            W = W - eta * gW
        return 0.5 * float((R * R).sum()) / N

    history = run_loop(
        "train_on_data",
        steps,
        record,
        step,
        snapshot,
        lambda t, loss: _divergence(teacher, eta, bound, t, loss),
    )
    settings.update(n_train=len(X), n_eval=len(X_eval), stability_bound=bound, zero_loss=zero_loss)
    return Run(student, history, teacher, settings)


def step_size_report(
    teachers: Mapping[str, Teacher], bounds: Mapping[str, float], eta: float
) -> str:
    """The data stability bound ``bounds[a]`` (:func:`data_stability_bound`) next to the
    Gaussian one for each teacher, then ``eta`` as a fraction of the smallest data bound and
    ``T*`` of the first teacher."""
    lines = [
        f"{act:>10}: 2/lambda_max = {bounds[act]:.4f} on the data, "
        f"{eta_stability_bound(t):.3f} for Gaussian inputs"
        for act, t in teachers.items()
    ]
    first = next(iter(teachers.values()))
    lines.append(
        f"eta = {eta}: {eta / min(bounds.values()):.0%} of the data bound; "
        f"T* = K D^2/(eta ||V*||^2) = {t_star(first, eta):.0f} steps"
    )
    return "\n".join(lines)


def training_report(
    runs: Mapping[str, Run], uniform: Mapping[str, Run], X_test: torch.Tensor
) -> str:
    """Two lines per run: the final relative loss on the training inputs and on ``X_test``
    (:func:`relative_data_loss`), the final relative loss of the uniform-attention run
    ``uniform[a]`` and the final ``cos(W_V, V*)``."""
    lines = []
    for act, run in runs.items():
        test = relative_data_loss(run.student, run.teacher, X_test)
        lines += [
            f"{act:>10}: loss / loss at start {run.history.final('relative_loss'):.1e} (train), "
            f"{test:.1e} (test, unseen)",
            f"{'':>10}  uniform attention: {uniform[act].history.final('relative_loss'):.3f}; "
            f"cos(W_V, V*) = {run.history.final('cosine'):.3f}",
        ]
    return "\n".join(lines)
