"""Measurements and checks of the paper's MNIST experiment (Figures 4 and 5, claim C12).

On real images some patches are blank: the border of a handwritten digit holds no ink in
almost every image. A blank patch ``x_i' = 0`` contributes nothing to any output, so the
gradient of the loss with respect to the scores ``S[i', :]`` of its row is exactly zero
(up to the softmax normalisation, which moves every blank row of a column by the same
amount). The attention therefore cannot learn where a blank patch belongs: within a column,
all blank rows keep one common value, whether they are in the pooling group or not. The
functions below measure that, and measure the recovery of the pooling groups on the rows
that do carry ink.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from tltlib.claims.training import value_alignment
from tltlib.core.checks import Check, CheckLog
from tltlib.core.history import Run
from tltlib.core.validate import in_range
from tltlib.examples.cnn_training import TrainedCNN
from tltlib.model.metrics import Metric
from tltlib.model.student import PositionOnlyTransformer
from tltlib.model.teachers import Teacher
from tltlib.model.theory import eta_stability_bound, t_star


def zero_fraction(X: torch.Tensor) -> torch.Tensor:
    """For each patch ``i``, the fraction of the inputs ``X`` (N, d, D) in which it is exactly 0."""
    return (X == 0).all(dim=-2).double().mean(dim=0)


def energy_share(X: torch.Tensor) -> torch.Tensor:
    """For each patch ``i``, ``E||x_i||^2`` divided by its average over the ``D`` patches."""
    e = (X.to(torch.float64) ** 2).sum(dim=-2).mean(dim=0)
    return e / e.mean()


def blank_patches(
    X: torch.Tensor, min_zero_fraction: float = 0.99, minimum_count: int = 0
) -> torch.Tensor:
    """Boolean ``(D,)``: the patches that are exactly zero in at least ``min_zero_fraction``
    of the inputs ("almost always zero"). Raises a ``ValueError`` if fewer than
    ``minimum_count`` patches are blank (a claim about blank patches needs some)."""
    threshold = in_range("blank_threshold", min_zero_fraction, 0.0, 1.0)
    zero = zero_fraction(X)
    blank = zero >= threshold
    if int(blank.sum()) < minimum_count:
        raise ValueError(
            f"blank_threshold: only {int(blank.sum())} patches are exactly zero in at least "
            f"{threshold:g} of the images (the most often blank one: {float(zero.max()):.3f}); "
            f"the claim about blank patches needs {minimum_count}. Lower blank_threshold"
        )
    return blank


def blank_summary(X: torch.Tensor, blank: torch.Tensor) -> str:
    """How blank the blank patches are, and how blank the others are (a short report)."""
    zero, energy = zero_fraction(X), energy_share(X)
    lines = [f"{int(blank.sum())} blank patches: {torch.nonzero(blank).flatten().tolist()}"]
    if blank.any():
        lines += [
            f"  exactly zero in {float(zero[blank].mean()):.2%} of the images",
            f"  share of the mean patch energy E||x_i||^2: {float(energy[blank].mean()):.1e}",
        ]
    if (~blank).any():
        lines.append(
            f"the other {int((~blank).sum())} patches: zero in {float(zero[~blank].mean()):.1%}"
            " of the images"
        )
    return "\n".join(lines)


def _groups(S_star: torch.Tensor) -> torch.Tensor:
    return S_star != 0


def foreground_topk(S: torch.Tensor, S_star: torch.Tensor, blank: torch.Tensor) -> float:
    """Fraction of the non-blank columns ``i`` whose largest ``k_i`` entries among the non-blank
    rows are exactly the non-blank part of the pooling group, ``k_i = |g(i) \\ blank|``."""
    S = S.to(torch.float64)
    support, ink = _groups(S_star), ~blank
    rows = torch.nonzero(ink).flatten()
    hits = []
    for i in torch.nonzero(ink).flatten().tolist():
        target = support[rows, i]
        k = int(target.sum())
        top = torch.topk(S[rows, i], k).indices
        hits.append(bool(target[top].all()))
    return sum(hits) / len(hits) if hits else float("nan")


def full_topk(S: torch.Tensor, S_star: torch.Tensor) -> float:
    """Fraction of all columns whose ``K`` largest entries are exactly the pooling group
    (Figure 3's criterion, blank rows included)."""
    support = _groups(S_star)
    K = int(support[:, 0].sum())
    top = torch.topk(S.to(torch.float64), K, dim=0).indices
    found = torch.zeros_like(support).scatter_(0, top, True)
    return float((found == support).all(dim=0).double().mean())


def group_contrast(
    S: torch.Tensor, S_star: torch.Tensor, rows: torch.Tensor
) -> tuple[float, float, int]:
    """How much more weight each column puts on its own group than elsewhere, on ``rows`` only.

    For every column ``i`` with rows of ``rows`` both inside and outside its group, the ratio
    ``mean S[g(i) & rows, i] / mean S[rows \\ g(i), i]``. Returns the smallest and the largest
    ratio and the number of columns. A learned row set has ratios much larger than 1; a row
    set that gets no gradient has ratios of exactly 1.
    """
    S = S.to(torch.float64)
    support = _groups(S_star)
    ratios = []
    for i in range(S.shape[1]):
        inside, outside = support[:, i] & rows, ~support[:, i] & rows
        if inside.any() and outside.any():
            ratios.append(float(S[inside, i].mean() / S[outside, i].mean()))
    if not ratios:
        return float("nan"), float("nan"), 0
    return min(ratios), max(ratios), len(ratios)


def contrast_report(runs: Mapping[str, Run], blank: torch.Tensor) -> str:
    """The range of :func:`group_contrast` of each run's learned ``S`` on the ``blank`` rows
    and on the rows with ink (one line per run, under a header)."""
    lines = ["weight on the group / weight elsewhere, per column:"]
    for act, run in runs.items():
        S, S_star = run.student.scores(), run.teacher.S_star
        b_low, b_high, n_cols = group_contrast(S, S_star, blank)
        i_low, i_high, _ = group_contrast(S, S_star, ~blank)
        lines.append(
            f"{act:>10}: blank rows {b_low:.3f}-{b_high:.3f} ({n_cols} columns), "
            f"rows with ink {i_low:.0f}-{i_high:.0f}"
        )
    return "\n".join(lines)


def row_recovery(S: torch.Tensor, S_star: torch.Tensor) -> torch.Tensor:
    """For each row ``j`` of ``S`` (each patch), ``min_{i: j in g(i)} S[j, i] / max_{j' not in
    g(i)} S[j', i]``: how far, in the worst of the columns that pool patch ``j``, its weight
    stands above every patch outside the column's group. Above 1 in every such column means
    the row takes its place in the pooling pattern; a patch that is zero in every image gets no
    gradient and keeps the weight of the other blank rows outside the group, so at most 1."""
    S = S.to(torch.float64)
    support = _groups(S_star)
    outside = torch.where(support, torch.full_like(S, -torch.inf), S).max(dim=0).values
    ratio = S / outside[None, :]
    return torch.where(support, ratio, torch.full_like(S, torch.inf)).min(dim=1).values


def recovered_rows(S: torch.Tensor, S_star: torch.Tensor, minimum_ratio: float) -> torch.Tensor:
    """Boolean ``(D,)``: the rows whose :func:`row_recovery` is at least ``minimum_ratio``."""
    minimum_ratio = in_range("recovered_ratio", minimum_ratio, 1.0, float("inf"))
    return row_recovery(S, S_star) >= minimum_ratio


def border_ring(D: int) -> torch.Tensor:
    """Boolean ``(D,)``: the patches on the outer ring of the square ``sqrt(D) x sqrt(D)`` grid
    of patches (row-major, as :func:`tltlib.examples.cnn.patches` orders them)."""
    grid = round(D**0.5)
    if grid * grid != D or grid < 3:
        raise ValueError(f"D must be the square of a grid side of at least 3, got D={D}")
    ring = torch.ones(grid, grid, dtype=torch.bool)
    ring[1:-1, 1:-1] = False
    return ring.flatten()


def low_energy_patches(X: torch.Tensor, threshold: float) -> torch.Tensor:
    """Boolean ``(D,)``: the patches whose mean energy ``E||x_i||^2`` is below ``threshold``
    times the mean over all patches (:func:`energy_share`): "blank" by energy."""
    threshold = in_range("blank_energy", threshold, 0.0, 1.0)
    return energy_share(X) < threshold


def recovery_report(runs: Mapping[str, Run], low_energy: torch.Tensor, minimum_ratio: float) -> str:
    """Per run: how many rows are recovered (:func:`recovered_rows`), where the others are
    (border ring or inside) and how many of them have low energy; the grid of
    :func:`row_recovery` values of the first run."""
    ring = border_ring(len(low_energy))
    lines = [
        f"rows recovered (row_recovery >= {minimum_ratio:g}); {int(low_energy.sum())} rows of "
        "low energy"
    ]
    for act, run in runs.items():
        score = row_recovery(run.student.scores(), run.teacher.S_star)
        ok = score >= minimum_ratio
        lost = ~ok
        lines.append(
            f"{act:>10}: {int(ok.sum())} of {len(ok)} recovered; not recovered: "
            f"{int((lost & ring).sum())} on the border ring, {int((lost & ~ring).sum())} inside; "
            f"{int((lost & low_energy).sum())} of them of low energy; smallest score of a row "
            f"with energy: {float(score[~low_energy].min()):.2f}"
        )
    return "\n".join(lines)


def foreground_topk_metric(teacher: Teacher, blank: torch.Tensor) -> Metric:
    """A metric for a trainer: ``student -> foreground_topk(S, S*, blank)``."""
    return lambda student: foreground_topk(student.scores(), teacher.S_star, blank)


def cosine_check(
    log: CheckLog, student: PositionOnlyTransformer, teacher: Teacher, minimum: float, name: str
) -> Check:
    """Figure 4(b): ``cos(W_V, V*) >= minimum`` at the end of training."""
    claim = "Figure 4(b): cos(W_V, kernel matrix V*) > 0.9"
    return value_alignment(log, student, teacher, minimum, name, claim)


def pooling_check(
    log: CheckLog,
    student: PositionOnlyTransformer,
    teacher: Teacher,
    blank: torch.Tensor,
    minimum: float,
    name: str,
) -> Check:
    """Figure 5(b, c): on the patches with ink, the top rows of at least a fraction ``minimum``
    of the columns of ``S`` are the pooling group."""
    S = student.scores()
    return log.at_least(
        name,
        "Figure 5: top rows of S (non-blank) = the pooling group, for ≥ 80% of columns",
        foreground_topk(S, teacher.S_star, blank),
        minimum,
        full_topK_fraction=full_topk(S, teacher.S_star),
        columns=int((~blank).sum()),
    )


def blank_rows_check(
    log: CheckLog,
    student: PositionOnlyTransformer,
    teacher: Teacher,
    blank: torch.Tensor,
    tolerance: float,
    name: str,
) -> Check:
    """Figure 5: blank rows are not learned. Within a column the group's blank rows get the
    same weight as the other blank rows: the largest contrast is ``1 +- tolerance``."""
    S = student.scores()
    low, high, n = group_contrast(S, teacher.S_star, blank)
    if n == 0:
        raise ValueError(
            "blank_threshold: no column has blank patches both inside and outside its pooling "
            f"group ({int(blank.sum())} blank patches), so there is nothing to check; "
            "lower blank_threshold"
        )
    ink_low, ink_high, _ = group_contrast(S, teacher.S_star, ~blank)
    return log.close_to(
        name,
        "Figure 5: rows of blank patches are not learned (in-group / out-of-group weight = 1)",
        high,
        1.0,
        tolerance,
        smallest_ratio=low,
        columns=n,
        ink_rows_smallest_ratio=ink_low,
        ink_rows_largest_ratio=ink_high,
    )


def energy_check(
    log: CheckLog,
    student: PositionOnlyTransformer,
    teacher: Teacher,
    low_energy: torch.Tensor,
    minimum_ratio: float,
    name: str,
) -> Check:
    """Figure 5: the rows that are not recovered are rows of blank patches. Counts the rows
    not recovered (:func:`recovered_rows`) whose patch is *not* of low energy
    (``low_energy``, :func:`low_energy_patches`): at most zero."""
    score = row_recovery(student.scores(), teacher.S_star)
    lost = score < minimum_ratio
    culprits = lost & ~low_energy
    return log.at_most(
        name,
        "Figure 5: the rows S does not recover are the rows of blank (low-energy) patches",
        int(culprits.sum()),
        0,
        not_recovered=int(lost.sum()),
        not_recovered_low_energy=int((lost & low_energy).sum()),
        low_energy_rows=int(low_energy.sum()),
        smallest_score_with_energy=float(score[~low_energy].min()),
        rows=torch.nonzero(culprits).flatten().tolist(),
    )


def interior_check(
    log: CheckLog,
    student: PositionOnlyTransformer,
    teacher: Teacher,
    minimum: float,
    minimum_ratio: float,
    name: str,
) -> Check:
    """Figure 5: the pooling pattern is recovered except on the border: at least a fraction
    ``minimum`` of the rows off the border ring (:func:`border_ring`) are recovered."""
    ok = recovered_rows(student.scores(), teacher.S_star, minimum_ratio)
    ring = border_ring(teacher.D)
    return log.at_least(
        name,
        "Figure 5: S recovers the pooling pattern except in the border rows of patches",
        float(ok[~ring].double().mean()),
        minimum,
        interior_rows=int((~ring).sum()),
        ring_rows_recovered=int((ok & ring).sum()),
        ring_rows=int(ring.sum()),
    )


def loss_check(log: CheckLog, run: Run, baseline: Run, factor: float, name: str) -> Check:
    """Figure 4(a): the training loss falls to a small value, at most ``factor`` times the
    loss that a student whose attention stays uniform (``baseline``) can reach."""
    h, b = run.history, baseline.history
    return log.at_most(
        name,
        "Figure 4(a): the training loss falls far below what uniform attention reaches",
        h.final("relative_loss"),
        factor * b.final("relative_loss"),
        uniform_attention_relative_loss=b.final("relative_loss"),
        factor=factor,
        loss_start=float(h["loss"][0]),
        loss_final=h.final("loss"),
    )


def teacher_accuracy_check(
    log: CheckLog, trained: TrainedCNN, chance: float, minimum: float, name: str
) -> Check:
    """§4.2: the CNN teacher is a trained classifier, test accuracy at least ``minimum``
    (``chance``, the accuracy of always answering the largest class, is recorded)."""
    return log.at_least(
        name,
        "§4.2: the CNN teacher is a trained classifier (paper: 71% on MNIST)",
        trained.test_accuracy,
        minimum,
        chance=chance,
        train_accuracy=trained.train_accuracy,
    )


def step_size_check(log: CheckLog, eta: float, bound: float, teacher: Teacher, name: str) -> Check:
    """Gradient descent on the data is stable: ``eta`` at most the data stability ``bound``
    (:func:`tltlib.train.on_data.data_stability_bound`); the Gaussian bound and ``T*`` are
    recorded."""
    return log.at_most(
        name,
        "GD is stable: η < 2/λ_max of the data",
        eta,
        bound,
        gaussian_bound=eta_stability_bound(teacher),
        t_star=t_star(teacher, eta),
    )


def teacher_checks(
    log: CheckLog,
    cnns: Mapping[str, TrainedCNN],
    chance: float,
    logit_gap: float,
    natural_gap: float,
    *,
    min_accuracy: float,
    logit_tolerance: float,
    form_tolerance: float,
) -> list[Check]:
    """The checks of the teacher: :func:`teacher_accuracy_check` for each trained network
    (``{activation}/teacher_accuracy``), then the largest relative logit change of the rescaled
    networks (``rescaled_logits``, at most ``logit_tolerance``) and the largest gap between the
    natural and the bilinear form (``natural_vs_bilinear``, zero within ``form_tolerance``)."""
    checks = [
        teacher_accuracy_check(log, r, chance, min_accuracy, f"{act}/teacher_accuracy")
        for act, r in cnns.items()
    ]
    checks.append(
        log.at_most(
            "rescaled_logits",
            "positive homogeneity: rescaled kernels, same classifier",
            logit_gap,
            logit_tolerance,
        )
    )
    checks.append(
        log.close_to(
            "natural_vs_bilinear",
            "Example 2.1: conv + avg-pool = σ(V* X S*) on images",
            natural_gap,
            0.0,
            form_tolerance,
        )
    )
    return checks


def student_checks(
    log: CheckLog,
    runs: Mapping[str, Run],
    uniform: Mapping[str, Run],
    blank: torch.Tensor,
    eta: float,
    bounds: Mapping[str, float],
    *,
    loss_factor: float,
    min_cosine: float,
    min_pooling: float,
    blank_tolerance: float,
    low_energy: torch.Tensor | None = None,
    recovered_ratio: float = 2.0,
    min_interior: float = 0.9,
) -> list[Check]:
    """The checks of each trained student ``runs[a]`` against its own teacher, named
    ``{a}/...``: :func:`step_size_check` (``eta`` against ``bounds[a]``), :func:`loss_check`
    (against the uniform-attention run ``uniform[a]``), :func:`cosine_check`,
    :func:`pooling_check` and :func:`blank_rows_check`, with the given tolerances; with
    ``low_energy`` (:func:`low_energy_patches`) also :func:`energy_check` and
    :func:`interior_check` (rows recovered at ``recovered_ratio``)."""
    checks = []
    for act, run in runs.items():
        t = run.teacher
        checks += [
            step_size_check(log, eta, bounds[act], t, f"{act}/eta_below_data_bound"),
            loss_check(log, run, uniform[act], loss_factor, f"{act}/loss"),
            cosine_check(log, run.student, t, min_cosine, f"{act}/cosine"),
            pooling_check(log, run.student, t, blank, min_pooling, f"{act}/pooling_groups"),
            blank_rows_check(log, run.student, t, blank, blank_tolerance, f"{act}/blank_rows"),
        ]
        if low_energy is not None:
            checks += [
                energy_check(
                    log, run.student, t, low_energy, recovered_ratio, f"{act}/unrecovered_blank"
                ),
                interior_check(
                    log, run.student, t, min_interior, recovered_ratio, f"{act}/interior_rows"
                ),
            ]
    return checks
