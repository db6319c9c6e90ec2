"""Example 2.3 in its natural form, and the per-sample variant of Remark 2.4.

Sparse token selection averages a fixed set ``g`` of ``K`` tokens:
``F_STS(X) = (1/K) sum_{i in g} x_i``, copied to all ``D`` output positions. In the
teacher form this is ``I_d X S*`` with ``S* = 1_g 1^T / K``.

In the variant of Wang et al. (2024) the subset is part of the *input* and changes from
sample to sample. The position-only student cannot see it: its attention depends on the
positions only and its value map on the token features only. For the identity activation and
subsets drawn uniformly at random, the population loss of any such student is the loss
against the *mean* target ``E[S*_g] = 1 1^T / D`` plus a constant that no student can remove,

    floor = 1/2 ||V*||_F^2 (E||S*_g||_F^2 - ||E S*_g||_F^2) = 1/2 ||V*||_F^2 (D/K - 1),

the variance of the label given the tokens. :func:`train_selection` trains the student online
on either task with the same loop, so the two runs differ only in how the subsets are drawn.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from tltlib.core.checks import Check, CheckLog
from tltlib.core.history import Run, call_settings
from tltlib.core.loop import run_loop
from tltlib.core.seeding import generator
from tltlib.core.validate import one_of, positive_float, positive_int
from tltlib.examples.gcn import OutsideTarget
from tltlib.model.metrics import measure
from tltlib.model.student import PositionOnlyTransformer, column_softmax_backward
from tltlib.model.teachers import DTYPE, Teacher, selection_scores
from tltlib.model.theory import diverged, warn_if_unstable

VARIANTS = ("fixed", "per_sample")


def check_subset(subset: Sequence[int], D: int) -> list[int]:
    """``subset`` as a sorted list of distinct token indices in ``[0, D-1]``; at least one,
    fewer than ``D`` (the teacher class needs ``K < D``)."""
    D = positive_int("D", D, minimum=2)
    items = list(subset)
    if not items:
        raise ValueError("subset must hold at least one token index (the target set is empty)")
    if any(isinstance(i, bool) or not isinstance(i, int | np.integer) for i in items):
        raise ValueError(f"subset must hold integer token indices, got {items!r}")
    if len(set(items)) != len(items):
        raise ValueError(f"subset must not repeat a token, got {items!r}")
    if min(items) < 0 or max(items) >= D:
        raise ValueError(f"subset indices must lie in [0, {D - 1}] (D={D}), got {items!r}")
    if len(items) >= D:
        raise ValueError(f"subset must have K < D tokens (D={D}), got K={len(items)}")
    return sorted(int(i) for i in items)


def select_tokens(X: torch.Tensor, subset: Sequence[int]) -> torch.Tensor:
    """The natural form: the average of the tokens ``subset`` of ``X`` (``(..., d, D)``), copied
    to every output position, shape ``(..., d, D)``."""
    subset = check_subset(subset, X.shape[-1])
    mean = X[..., subset].mean(dim=-1, keepdim=True)
    return mean.expand(X.shape)


def subset_teacher(subset: Sequence[int], D: int, d: int) -> Teacher:
    """Example 2.3 in teacher form: ``V* = I_d``, ``S* = 1_g 1^T / K``, identity activation."""
    subset = check_subset(subset, D)
    d = positive_int("d", d)
    S = selection_scores(D, subset)
    return Teacher(torch.eye(d, dtype=DTYPE), S, "identity", name="sts")


def random_masks(n: int, D: int, K: int, g: torch.Generator, dtype=DTYPE) -> torch.Tensor:
    """``n`` membership masks of shape ``(n, D)``, each with ``K`` ones on a uniform random
    ``K``-subset (drawn independently per row)."""
    D, K = positive_int("D", D, minimum=2), positive_int("K", K)
    if K >= D:
        raise ValueError(f"K must be smaller than D, got K={K} with D={D}")
    order = torch.rand(positive_int("n", n), D, generator=g).argsort(dim=1)[:, :K]
    return torch.zeros(n, D, dtype=dtype).scatter_(1, order, 1.0)


def select_per_sample(X: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """The per-sample task: sample ``n`` averages its own tokens ``masks[n]`` (``(n, D)`` 0/1),
    copied to every output position; ``X`` is ``(n, d, D)``."""
    if X.ndim != 3 or masks.shape != (X.shape[0], X.shape[2]):
        raise ValueError(
            f"X must be (n, d, D) and masks (n, D); got {tuple(X.shape)}, {tuple(masks.shape)}"
        )
    K = masks.sum(dim=1)
    if bool((K == 0).any()):
        raise ValueError("masks must select at least one token in every sample (empty target set)")
    mean = (X @ masks.to(X.dtype)[..., None]) / K.to(X.dtype)[:, None, None]
    return mean.expand(X.shape)


def mean_target(D: int, d: int) -> Teacher:
    """The average of ``S*_g`` over uniform ``K``-subsets, ``1 1^T / D``, with ``V* = I_d``.

    Not a teacher of the class (``K = D``); built without the class check, it is what the
    position-only student can learn of the per-sample task.
    """
    D, d = positive_int("D", D, minimum=2), positive_int("d", d)
    S = torch.full((D, D), 1.0 / D, dtype=DTYPE)
    return OutsideTarget(torch.eye(d, dtype=DTYPE), S, "identity", name="sts-mean")


def per_sample_floor(D: int, K: int, d: int) -> float:
    """``1/2 ||I_d||_F^2 (D/K - 1) = d (D - K) / (2K)``: the excess loss no position-only student
    goes below on the per-sample task (the conditional variance of the label)."""
    D, K, d = positive_int("D", D, minimum=2), positive_int("K", K), positive_int("d", d)
    return 0.5 * d * (D / K - 1.0)


def per_sample_excess(student: PositionOnlyTransformer, K: int) -> float:
    """Exact excess loss (over the label noise) of ``student`` on the per-sample task:
    the loss against :func:`mean_target` plus :func:`per_sample_floor`."""
    target = mean_target(student.D, student.d)
    return measure(student, target)["excess_loss"] + per_sample_floor(student.D, K, student.d)


def monte_carlo_per_sample(
    student: PositionOnlyTransformer, X: torch.Tensor, masks: torch.Tensor
) -> tuple[float, float]:
    """Sample estimate of ``1/2 E||F(X, g) - TF(X)||_F^2`` on the per-sample task, with its
    standard error (``X`` is ``(n, d, D)``, ``masks`` ``(n, D)``)."""
    diff = select_per_sample(X, masks) - student(X)
    per = 0.5 * (diff * diff).sum(dim=(-2, -1))
    return float(per.mean()), float(per.std() / math.sqrt(per.shape[0]))


def train_selection(
    subset: Sequence[int],
    D: int,
    d: int,
    eta: float,
    steps: int,
    *,
    variant: str = "fixed",
    batch: int = 100,
    noise: float = 1.0,
    seed: int = 0,
    encoding: str = "random",
    dtype: torch.dtype = torch.float32,
    record: int | Sequence[int] = 20,
) -> Run:
    """Online GD from zero on sparse token selection (identity activation, ``V* = I_d``).

    ``variant="fixed"``: every sample averages the tokens ``subset`` (Example 2.3; the same
    trajectory as :func:`tltlib.train.online.train_online` on :func:`subset_teacher`, batch for batch).
    ``variant="per_sample"``: every sample averages its own uniformly random subset of
    ``K = len(subset)`` tokens (Remark 2.4), which the student does not see.

    The run's teacher is :func:`subset_teacher` or :func:`mean_target`, so ``excess_loss`` is
    measured against what the student can learn; ``task_excess`` is the exact excess loss on
    the task itself (for ``per_sample`` it adds :func:`per_sample_floor`). Raises
    :class:`DivergenceError` if the batch loss blows up.
    """
    variant = one_of("variant", variant, VARIANTS)
    fixed_teacher = subset_teacher(subset, D, d)
    K = fixed_teacher.K
    teacher = fixed_teacher if variant == "fixed" else mean_target(D, d)
    floor = 0.0 if variant == "fixed" else per_sample_floor(D, K, d)
    eta = positive_float("eta", eta)
    steps = positive_int("steps", steps)
    batch = positive_int("batch", batch)
    noise = positive_float("noise", noise, allow_zero=True)
    warn_if_unstable(fixed_teacher, eta)
    settings = call_settings("online-selection", locals(), subset=list(check_subset(subset, D)))

    student = PositionOnlyTransformer.for_teacher(fixed_teacher, encoding=encoding, seed=seed)
    N = batch
    mask = torch.zeros(D, dtype=dtype)
    mask[fixed_teacher.S_star[:, 0] > 0] = 1.0
    W = torch.zeros(d, d, dtype=dtype)
    A = torch.zeros(D, D, dtype=dtype)
    g_x, g_e = generator(seed, "train_inputs"), generator(seed, "train_noise")
    g_s = generator(seed, "train_subsets")

    def snapshot() -> dict[str, float]:
        student.W_V = W.to(torch.float64).clone()
        student.set_logits(A.to(torch.float64))
        values = measure(student, teacher)
        values["task_excess"] = values["excess_loss"] + floor
        return values

    def step(t: int) -> float:
        nonlocal W, A
        S = torch.softmax(A, dim=0)
        X = torch.randn(N, d, D, generator=g_x, dtype=dtype)
        if variant == "fixed":
            masks = mask.expand(N, D)
        else:
            masks = random_masks(N, D, K, g_s, dtype=dtype)
        Y = (X @ masks[..., None]) / K  # (N, d, 1): the selected average, for every column
        if noise > 0:
            Y = Y + noise * torch.randn(N, d, D, generator=g_e, dtype=dtype)
        Xf = X.reshape(N * d, D)
        H = (Xf @ S).reshape(N, d, D)
        R = W @ H - Y
        gS = Xf.T @ (W.T @ R).reshape(N * d, D) / N
        gA = column_softmax_backward(S, gS)
        gW = torch.tensordot(R, H, dims=([0, 2], [0, 2])) / N
        A = A - (eta / D) * gA
        W = W - eta * gW
        return 0.5 * float((R * R).sum()) / N

    history = run_loop(
        "train_selection", steps, record, step, snapshot, diverged(fixed_teacher, eta)
    )
    return Run(student, history, teacher, settings)


def sgd_excess_estimate(D: int, K: int, d: int, eta: float, batch: int, noise: float) -> float:
    """Relative excess over :func:`per_sample_floor` that online GD keeps at stationarity.

    At the uniform attention the value block sees the curvature ``||S||_F^2 = 1`` and, per
    entry, gradient noise of variance ``(D/K - 1 + noise^2)/batch`` (the label's conditional
    variance, summed over the ``D`` identical output columns, plus the label noise). SGD on a
    quadratic then holds ``E||W_V - I||^2 = d^2 eta v / (2 - eta)``, i.e. a relative excess of
    ``eta d (D/K - 1 + noise^2) / (batch (2 - eta) (D/K - 1))`` (attention fluctuations ignored).
    """
    r = D / K - 1.0
    return eta * d * (r + noise**2) / (batch * (2.0 - eta) * r)


def per_sample_checks(
    log: CheckLog,
    run: Run,
    *,
    tolerance: float = 0.05,
    uniform_tolerance: float = 0.02,
    prefix: str = "per_sample/",
) -> list[Check]:
    """Remark 2.4 on a run of the per-sample task: the excess loss levels off at the floor and
    the attention stays uniform.

    Records the mean of ``task_excess / floor`` over ``[T/4, T]`` (1 within ``tolerance``,
    which must cover :func:`sgd_excess_estimate`) and the relative distance
    ``||S - 1 1^T/D||_F / ||1 1^T/D||_F`` at ``T`` (at most ``uniform_tolerance``). That the
    floor bounds every student is :func:`floor_bound_check` (``task_excess`` is the loss
    against :func:`mean_target` plus the floor, so it cannot test the floor itself).
    """
    floor = run.settings.get("floor", 0.0)
    h = run.history
    task = h["task_excess"]
    _, late = h.window("task_excess", max(1, h.steps[-1] // 4))
    level = float(late.mean() / floor) if floor > 0 else float("nan")
    uniform = mean_target(run.teacher.D, run.teacher.d).S_star
    spread = float(torch.linalg.norm(run.student.scores() - uniform) / torch.linalg.norm(uniform))
    return [
        log.close_to(
            f"{prefix}floor_level",
            "Remark 2.4: its excess loss levels off at the floor (late mean of excess / floor)",
            level,
            1.0,
            tolerance,
            task_excess_final=float(task[-1]),
            floor=floor,
        ),
        log.close_to(
            f"{prefix}attention_uniform",
            "Remark 2.4: its attention stays uniform (relative ||S - 11ᵀ/D||_F)",
            spread,
            0.0,
            uniform_tolerance,
        ),
    ]


def floor_bound_check(
    log: CheckLog,
    students: dict[str, PositionOnlyTransformer],
    floor: float,
    X: torch.Tensor,
    masks: torch.Tensor,
    max_z: float = 4.0,
    name: str = "per_sample/floor_lower_bound",
) -> Check:
    """Remark 2.4: no position-only student beats ``floor`` on the per-sample task, measured
    by Monte Carlo on sampled subsets (independent of the closed form): the smallest of
    ``(estimate + max_z stderr) / floor`` over ``students`` is at least 1. The student that
    learned uniform attention sits at the floor, so the check is tight: a floor set too high
    fails it."""
    bounds = {}
    for label, student in students.items():
        mc, se = monte_carlo_per_sample(student, X, masks)
        bounds[label] = (mc + max_z * se) / floor
    return log.at_least(
        name,
        "Remark 2.4: no position-only student beats d(D-K)/(2K) (Monte Carlo, best of the probes)",
        min(bounds.values()),
        1.0,
        floor=floor,
        probes=bounds,
    )


def monte_carlo_check(
    log: CheckLog,
    student: PositionOnlyTransformer,
    K: int,
    X: torch.Tensor,
    masks: torch.Tensor,
    max_z: float = 4.0,
    name: str = "per_sample/closed_form",
) -> Check:
    """The exact per-sample excess loss against a Monte Carlo estimate on natural-form data:
    ``|closed - MC| / stderr <= max_z``."""
    closed = per_sample_excess(student, K)
    mc, se = monte_carlo_per_sample(student, X, masks)
    return log.close_to(
        name,
        "Remark 2.4: exact per-sample loss = Monte Carlo on sampled subsets (|z|)",
        abs(closed - mc) / se,
        0.0,
        max_z,
        closed_form=closed,
        monte_carlo=mc,
        stderr=se,
    )
