"""The paper's claims as measurements on a training run, each recorded in a :class:`CheckLog`.

Every function measures something on a :class:`~tltlib.core.history.Run` (or a student and
a teacher), compares it with what Theorem 3.1 / Lemma D.2 / Figure 3 predicts and adds
one record to the log. They are plain functions so that ``tests/`` can show each of them
failing on a broken student or a wrong teacher.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from tltlib.core.checks import Check, CheckLog
from tltlib.core.fits import late_slope, late_start, loglog_slope
from tltlib.core.history import Run
from tltlib.model import finite_time
from tltlib.model.losses import excess_loss, monte_carlo_excess_loss
from tltlib.model.metrics import cosine, support_fraction
from tltlib.model.student import PositionOnlyTransformer
from tltlib.model.teachers import Teacher
from tltlib.model.theory import peak_C1, t_star
from tltlib.train.reference import gradient_at_zero


def late_window(run: Run, fraction: float = 0.25) -> tuple[int, int]:
    """The last part of training, ``[fraction * T, T]``, where the slopes are fitted (its first
    step is :func:`tltlib.core.fits.late_start`; :func:`tltlib.core.fits.late_slope` fits it)."""
    T = run.history.steps[-1]
    return late_start(T, fraction), T


#: online trainers whose runs carry a label-noise floor (their settings hold batch and noise)
ONLINE_TRAINERS = ("online", "online-selection")
#: how many standard errors of the fit a measured slope may sit from its prediction
STDERRS = 3.0


def run_length(teachers: Teacher | Mapping[str, Teacher], eta: float, steps: int) -> str:
    """What a chapter prints before it trains: ``T`` in units of ``T*`` and, for each teacher
    (one per activation), from which ``T`` the predicted loss slope of exact GD is within 0.05
    of -1 (:func:`tltlib.model.finite_time.steps_for_rate`). The checks compare with the
    prediction at the run's own ``T``, so they hold before that too; a record says which
    regime its run is in."""
    if isinstance(teachers, Teacher):
        teachers = {teachers.activation.name: teachers}
    first = next(iter(teachers.values()))
    lines = [f"T = {steps} steps = {steps / t_star(first, eta):.1f} T* (eta = {eta:.4g})"]
    for label, teacher in teachers.items():
        needed = finite_time.steps_for_rate(teacher, eta)
        line = f"  {label}: the loss slope of exact GD is within 0.05 of -1 from T = {needed}"
        if steps < needed:
            line += " (this run ends before: not in the asymptotic regime)"
        lines.append(line)
    return "\n".join(lines)


def rate(
    log: CheckLog,
    run: Run,
    metric: str,
    asymptotic: float,
    claim: str,
    name: str | None = None,
) -> Check:
    """The late slope of ``log metric`` against ``log t`` over ``[T/4, T]``, against the
    book's prediction at that finite ``T`` (:mod:`tltlib.model.finite_time`: the slow
    manifold, plus the label-noise floor for online runs) rather than the asymptotic slope.

    The tolerance is the prediction's error (:data:`~tltlib.model.finite_time.SLOPE_ERROR`,
    and for online runs how far the slope moves if the floor is 2/3 or 3/2 of its estimate)
    plus :data:`STDERRS` standard errors of the fit. The record keeps the asymptotic slope,
    ``T / T*`` and whether the run is in the regime of the rate.
    """
    start = late_window(run)[0]
    t, y = run.history.window(metric, start)
    fit = loglog_slope(t, y)
    teacher, s = run.teacher, run.settings
    eta, T = s["eta"], int(t[-1])
    noisy = s.get("trainer") in ONLINE_TRAINERS
    kw = dict(batch=s["batch"], noise=s.get("noise", 0.0)) if noisy else {}
    predicted = finite_time.predicted_slopes(teacher, eta, t, **kw)[metric]
    floor_error = finite_time.floor_uncertainty(teacher, eta, t, **kw)[metric] if noisy else 0.0
    tolerance = finite_time.SLOPE_ERROR + floor_error + STDERRS * fit.stderr
    exact_slope = finite_time.predicted_slopes(teacher, eta, t)["excess_loss"]
    regime = (
        "asymptotic"
        if abs(exact_slope + 1.0) <= 0.05
        else f"not in the asymptotic regime (needs T >= {finite_time.steps_for_rate(teacher, eta)})"
    )
    return log.slope(
        name or f"{metric}_slope",
        claim,
        fit,
        predicted,
        tolerance,
        asymptotic=asymptotic,
        T_over_T_star=T / t_star(teacher, eta),
        regime=regime,
        floor_error=floor_error,
    )


def value_alignment(
    log: CheckLog,
    student: PositionOnlyTransformer,
    teacher: Teacher,
    minimum: float,
    name: str = "cosine_final",
    claim: str = "Figure 2(c): W_V aligns with V*",
) -> Check:
    """Figure 2(c): ``cos(W_V, V*)`` at the end of training is at least ``minimum``."""
    c = cosine(student.W_V, teacher.V_star.to(student.W_V.dtype))
    return log.at_least(name, claim, c, minimum)


def support_recovery(
    log: CheckLog,
    student: PositionOnlyTransformer,
    teacher: Teacher,
    tolerance: float,
    prefix: str = "",
    predicted: float | None = None,
) -> tuple[Check, Check]:
    """Figure 3: the top-``K`` rows of every column of ``S`` are the teacher's support, and the
    support entries are within ``tolerance`` of ``1/K``.

    With ``predicted`` (how far below ``1/K`` the attention is predicted to be at the run's
    ``T``), the second check compares the largest deviation with it instead, within
    :data:`~tltlib.model.finite_time.GAP_ERROR` of it plus three standard deviations of the
    support entries (their spread; zero for exact GD, by Lemma D.2)."""
    S = student.scores()
    K = teacher.K
    fraction = support_fraction(S, teacher.support)
    on = S[teacher.support]
    worst = float((on - 1.0 / K).abs().max())
    a = log.at_least(
        f"{prefix}support_topK",
        "Figure 3: top-K rows of each column of S = support of S*",
        fraction,
        1.0,
    )
    name, claim = f"{prefix}support_values", "Figure 3: S ≈ 1/K on the support"
    if predicted is None:
        b = log.close_to(name, claim, worst, 0.0, tolerance, K=K)
    else:
        spread = float(on.std()) if on.numel() > 1 else 0.0
        tol = finite_time.GAP_ERROR * predicted + 3.0 * spread + 1e-9
        b = log.close_to(name, claim, worst, predicted, tol, K=K, spread=spread)
    return a, b


def score_spread(student: PositionOnlyTransformer, teacher: Teacher) -> float:
    """Relative spread of ``S`` within the support and within its complement (0 under Lemma D.2)."""
    S = student.scores()
    spreads = []
    for mask in (teacher.support, ~teacher.support):
        vals = S[mask]
        spreads.append(float((vals.max() - vals.min()) / vals.mean()))
    return max(spreads)


def spread_metric(teacher: Teacher):
    """A metric for :func:`lemma_d2`: ``student -> score_spread(student, teacher)``."""
    return lambda student: score_spread(student, teacher)


def structure_metrics(teacher: Teacher) -> dict:
    """Metrics of Lemma D.2: the spread of ``S`` (``S_spread``) and its mean value on the
    support (``S_on``, the paper's ``p(t)``) and off it (``S_off``, ``p(t) e_t``)."""
    support = teacher.support
    return {
        "S_spread": spread_metric(teacher),
        "S_on": lambda student: float(student.scores()[support].mean()),
        "S_off": lambda student: float(student.scores()[~support].mean()),
    }


def lemma_d2(
    log: CheckLog, run: Run, tolerance: float = 1e-8, prefix: str = ""
) -> tuple[Check, Check]:
    """Lemma D.2 (exact GD; the paper proves it for the identity): ``W_V = C1(t) V*`` and ``S``
    takes one value on the support and one off it, at every recorded step ``t >= 1``. Needs the
    ``S_spread`` metric."""
    h = run.history
    t = h["step"]
    misalign = float(np.max(1.0 - h["cosine"][t >= 1]))
    spread = float(np.max(h["S_spread"]))
    act = run.teacher.activation.name
    a = log.close_to(
        f"{prefix}lemma_D2_value",
        f"Lemma D.2 ({act}): W_V(t) = C1(t) V* for all t ≥ 1",
        misalign,
        0.0,
        tolerance,
    )
    b = log.close_to(
        f"{prefix}lemma_D2_scores",
        f"Lemma D.2 ({act}): S(t) is two-valued (support / off-support)",
        spread,
        0.0,
        tolerance,
    )
    return a, b


def overshoot(log: CheckLog, run: Run, height_tolerance: float | None = None) -> tuple[Check, ...]:
    """``C1 = ||W_V|| / ||V*||`` rises above 1 (compensating leaked attention), then decays.

    With ``height_tolerance`` a second check: how high it peaks. Lemma D.2 keeps ``S`` two-valued
    and the value block relaxes much faster than the attention moves, so ``C1`` follows its
    optimum and ``max_t C1`` is :func:`tltlib.model.theory.peak_C1`, ``(1 + sqrt(D/K))/2``
    (measured / predicted within the tolerance; for an exact run of an identity teacher).
    Returns ``(C1_overshoot,)`` or ``(C1_overshoot, C1_peak)``.
    """
    ratio = run.history["norm_ratio"]
    peak = float(ratio.max())
    overshot = log.at_least(
        "C1_overshoot",
        "Theorem 3.1 (ii) sign: C1(t) overshoots 1 before T*",
        peak,
        1.0,
        C1_final=float(ratio[-1]),
    )
    if height_tolerance is None:
        return (overshot,)
    predicted = float(peak_C1(run.teacher.D, run.teacher.K))
    height = log.close_to(
        "C1_peak",
        "Lemma D.2: C1 follows its optimum, so max_t C1 = (1 + √(D/K))/2 (measured / predicted)",
        peak / predicted,
        1.0,
        height_tolerance,
        peak=peak,
        predicted=predicted,
    )
    return overshot, height


def exact_summary(run: Run) -> dict[str, float]:
    """The numbers an independent implementation can compare with (exact GD runs)."""
    h, t = run.history, run.teacher
    return {
        "excess_loss_final": h.final("excess_loss"),
        "S_error_final": h.final("S_error"),
        "WV_error_final": h.final("WV_error"),
        "V_star_fro": float(torch.linalg.norm(t.V_star)),
        "D": t.D,
        "K": t.K,
        "eta": run.settings["eta"],
        "steps": run.settings["steps"],
    }


def late_fits(runs: dict[str, Run], metrics=("excess_loss", "S_error", "WV_error")) -> dict:
    """``{(label, metric): SlopeFit}`` over the late window of every run (for the plots)."""
    return {
        (label, m): late_slope(run.history["step"], run.history[m])
        for label, run in runs.items()
        for m in metrics
    }


def training_checks(
    log: CheckLog,
    run: Run,
    *,
    prefix: str = "",
    min_cosine: float = 0.99,
    support_tolerance: float = 0.05,
    exact_numbers: bool = False,
) -> list[Check]:
    """The checks of Theorem 3.1 and Figures 2-3 on one run, named ``prefix + name``.

    Slopes of the excess loss (-1 as ``T -> oo``) and of both parameter errors (-1/2) over the
    last 3/4 decade, each against its prediction at the run's ``T`` (:func:`rate`), the final cosine of ``W_V`` with ``V*``, and the recovery of the support of ``S*``.
    ``exact_numbers`` attaches :func:`exact_summary` to the loss-slope record.
    """
    fits = [
        rate(
            log,
            run,
            "excess_loss",
            -1.0,
            "Theorem 3.1 (iii): excess loss = Θ(KD⁴/(ηT))",
            name=f"{prefix}loss_slope",
        ),
        rate(
            log,
            run,
            "S_error",
            -0.5,
            "Theorem 3.1 (i): ‖S−S*‖_F = Θ(T^-1/2)",
            name=f"{prefix}S_error_slope",
        ),
        rate(
            log,
            run,
            "WV_error",
            -0.5,
            "Theorem 3.1 (ii): ‖W_V−V*‖_F = Θ(T^-1/2)",
            name=f"{prefix}WV_error_slope",
        ),
    ]
    if exact_numbers:
        fits[0].extra.update(exact_summary(run))
    fits.append(
        value_alignment(log, run.student, run.teacher, min_cosine, name=f"{prefix}cosine_final")
    )
    T = run.history.steps[-1]
    gap = 1.0 / run.teacher.K - float(
        finite_time.predicted_curves(run.teacher, run.settings["eta"], [T])["S_on"][0]
    )
    checks = support_recovery(
        log, run.student, run.teacher, support_tolerance, prefix=prefix, predicted=gap
    )
    fits.extend(checks)
    return fits


def closed_form_agreement(
    log: CheckLog,
    student: PositionOnlyTransformer,
    teacher: Teacher,
    X: torch.Tensor,
    max_z: float = 4.0,
    name: str | None = None,
) -> Check:
    """The closed-form excess loss against a Monte Carlo estimate on the inputs ``X``:
    ``|closed - MC| / stderr <= max_z``."""
    closed = excess_loss(student, teacher)
    mc, se = monte_carlo_excess_loss(student, teacher, X)
    z = abs(closed - mc) / se
    return log.close_to(
        name or f"closed_form_{teacher.activation.name}",
        "§1.5: closed-form population loss (|z| of the Monte Carlo gap)",
        z,
        0.0,
        max_z,
        closed_form=closed,
        monte_carlo=mc,
        stderr=se,
    )


def matrices_agree(
    log: CheckLog, name: str, claim: str, A: torch.Tensor, B: torch.Tensor, tolerance: float
) -> Check:
    """``max |A - B| <= tolerance`` (matrices of the same shape)."""
    if A.shape != B.shape:
        raise ValueError(f"{name}: shapes {tuple(A.shape)} and {tuple(B.shape)} differ")
    gap = float((A.to(torch.float64) - B.to(torch.float64)).abs().max())
    return log.close_to(name, claim, gap, 0.0, tolerance)


def zero_init_escape(
    log: CheckLog,
    teacher: Teacher,
    X: torch.Tensor,
    min_alignment: float = 0.9,
    autograd_relu=torch.relu,
    ours=None,
) -> tuple[Check, Check]:
    """At ``W_V = 0`` autograd's ``relu'(0) = 0`` (``autograd_relu``) gives an exactly zero
    gradient, so training never starts, while ``sigma'(0) = 1`` (``ours``, default: the
    teacher's activation) gives a first step along ``+V*``."""
    gW_torch, gK_torch = gradient_at_zero(teacher, X, autograd_relu)
    gW_ours, _ = gradient_at_zero(teacher, X, ours or teacher.activation)
    stuck = float(torch.linalg.norm(gW_torch) + torch.linalg.norm(gK_torch))
    a = log.at_most(
        "relu_zero_init_stuck",
        "§1.5: with relu'(0)=0 the gradient at zero init vanishes",
        stuck,
        0.0,
    )
    b = log.at_least(
        "relu_first_step_along_V",
        "§1.5: with σ'(0)=1 the first step is along +V*",
        cosine(-gW_ours, teacher.V_star.to(gW_ours.dtype)),
        min_alignment,
    )
    return a, b
