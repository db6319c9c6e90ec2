"""Out-of-distribution generalisation (Theorem 3.2): input families, label rules, exact curves.

Theorem 3.2 compares the student with the teacher on any pair ``(X~, Y~)`` whose columns have
bounded second moments: ``L_OOD(T) <= 1/2 E||Y~ - f*(X~)||^2 + eps`` once ``T > T_eps``. We
measure the *OOD excess*

    E_OOD(T) = L_OOD(T) - 1/2 E||Y~ - f*(X~)||^2 = 1/2 E||Delta||^2 - E<R, Delta>,

with ``Delta = TF(X~) - f*(X~)`` and ``R = Y~ - f*(X~)``. Label noise independent of ``X~``
drops out of the cross term, so for labels made by the teacher ``E_OOD`` is second order in the
student's error; labels that are not the teacher's make the cross term first order.

For the identity activation the student of the reduced dynamics is ``W_V = C1 V*`` with a
two-valued ``S``, so ``Delta = V* X~ M`` with ``M = C1 S - S*``, and we take ``R = V* X~ N`` for a
fixed ``D x D`` matrix ``N`` (the label rule). For inputs whose columns are i.i.d. with mean ``m``
and covariance ``Sigma``,

    E<V* X B1, V* X B2>_F = <B1, B2>_F tr(V* Sigma V*^T) + (B1^T 1).(B2^T 1) ||V* m||^2,

so ``E_OOD`` is exact along the whole run, for every family below.

Families (columns i.i.d., see :data:`tltlib.model.data.INPUT_KINDS`): ``exponential`` (the paper's:
i.i.d. Exp(1) entries, mean 1), ``student_t`` (heavy tails), ``anisotropic`` (variances from 1/4
to 4), ``mean_shift`` (``N(mu, I)``), and ``gaussian`` (the training distribution). Label rules:
``teacher`` (``Y~ = f*(X~)`` + noise), ``other_teacher`` (another teacher's pattern,
``V* X~ S'`` with the rows of ``S*`` shifted by one) and ``worst_case`` (``Y~ = f*(X~) -
V* X~ Off/(D-K)``: the labels pull against the one direction in which the student still errs,
the attention it leaks off the support; this attains the ``T^{-1/2}`` of the bound).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from tltlib.core.checks import Check, CheckLog
from tltlib.core.fits import SlopeFit, late_slope, loglog_slope
from tltlib.core.validate import one_of, positive_int
from tltlib.model import finite_time
from tltlib.model.data import (
    ANISOTROPY,
    MEAN_SHIFT,
    STUDENT_T_DF,
    anisotropic_variances,
    sample_inputs,
)
from tltlib.model.student import PositionOnlyTransformer
from tltlib.model.teachers import Teacher
from tltlib.train.reduced import ReducedRun

FAMILIES = ("gaussian", "exponential", "student_t", "anisotropic", "mean_shift")
OOD_FAMILIES = FAMILIES[1:]
LABELS = ("teacher", "other_teacher", "worst_case")


def family_moments(kind: str, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean (``d``) and covariance (``d x d``) of one column of the input family ``kind``."""
    kind = one_of("kind", kind, FAMILIES)
    d = positive_int("d", d)
    mean, cov = np.zeros(d), np.eye(d)
    if kind == "exponential":
        mean = np.ones(d)
    elif kind == "student_t":
        cov = np.eye(d) * STUDENT_T_DF / (STUDENT_T_DF - 2)
    elif kind == "anisotropic":
        cov = np.diag(anisotropic_variances(d).numpy())
    elif kind == "mean_shift":
        mean = np.full(d, MEAN_SHIFT / d**0.5)
    return mean, cov


def family_description(kind: str) -> str:
    """One line on the family (for tables)."""
    return {
        "gaussian": "N(0, I): the training distribution",
        "exponential": "i.i.d. Exp(1) entries (the paper's): mean 1, variance 1",
        "student_t": f"i.i.d. Student-t entries, {STUDENT_T_DF} degrees of freedom",
        "anisotropic": f"N(0, diag), variances from {ANISOTROPY**-0.5:g} to {ANISOTROPY**0.5:g}",
        "mean_shift": f"N(mu, I), |mu| = {MEAN_SHIFT:g}",
    }[one_of("kind", kind, FAMILIES)]


def label_matrix(teacher: Teacher, label: str) -> np.ndarray:
    """``N`` with ``Y~ - f*(X~) = V* X~ N`` (label noise aside) for the label rule ``label``."""
    label = one_of("label", label, LABELS)
    S = teacher.S_star.numpy()
    if label == "teacher":
        return np.zeros_like(S)
    if label == "other_teacher":
        return np.roll(S, 1, axis=0) - S
    off = (S == 0).astype(float)
    return -off / off.sum(axis=0, keepdims=True)


def _identity_only(teacher: Teacher) -> None:
    if not teacher.activation.is_identity:
        raise ValueError(
            "exact OOD curves need the identity activation (the student of the reduced "
            f"dynamics), got activation={teacher.activation.name!r}"
        )


def excess_curve(
    run: ReducedRun, teacher: Teacher, kind: str, label: str, i: int = 0
) -> np.ndarray:
    """The exact ``E_OOD`` at every recorded step of setting ``i`` of a reduced run of ``teacher``."""
    _identity_only(teacher)
    if run.settings(i)["D"] != teacher.D or run.settings(i)["K"] != teacher.K:
        raise ValueError("the reduced run and the teacher must have the same D and K")
    return excess_from_state(teacher, kind, label, run["C1"][i], run["S_on"][i], run["S_off"][i])


def excess_from_state(
    teacher: Teacher, kind: str, label: str, C1: np.ndarray, p: np.ndarray, q: np.ndarray
) -> np.ndarray:
    """The exact ``E_OOD`` of the student ``W_V = C1 V*`` whose attention is ``p`` on the
    support and ``q`` off it (Lemma D.2's form; arrays broadcast)."""
    V = teacher.V_star.numpy()
    mean, cov = family_moments(kind, teacher.d)
    a_cov = float(np.trace(V @ cov @ V.T))
    a_mean = float(np.sum((V @ mean) ** 2))
    supp = (teacher.S_star.numpy() != 0).astype(float)
    N = label_matrix(teacher, label)
    n_s, n_o, n_1 = float((N * supp).sum()), float((N * (1 - supp)).sum()), float(N.sum())
    D, K = teacher.D, teacher.K
    x = D - K
    delta = np.asarray(C1) - 1.0
    e = q / p
    alpha = -p * (x * e - K * delta) / K  # C1 p - 1/K, without cancellation
    beta = (1.0 + delta) * q
    half_sq = 0.5 * (D * (K * alpha**2 + x * beta**2) * a_cov + D * delta**2 * a_mean)
    cross = (alpha * n_s + beta * n_o) * a_cov + delta * n_1 * a_mean
    return half_sq - cross


def predicted_excess(teacher: Teacher, eta: float, steps, kind: str, label: str) -> np.ndarray:
    """``E_OOD`` on the slow manifold (:mod:`tltlib.model.finite_time`) at ``steps``: the
    book's prediction at a finite ``T``."""
    at = finite_time.slow_manifold_at(teacher, eta, steps)
    return excess_from_state(teacher, kind, label, at["C1"], at["S_on"], at["S_off"])


def teacher_ood_loss(teacher: Teacher, kind: str, label: str, noise: float = 0.0) -> float:
    """``1/2 E||Y~ - f*(X~)||_F^2``: the teacher's own OOD loss (the right side of Theorem 3.2)."""
    V = teacher.V_star.numpy()
    mean, cov = family_moments(kind, teacher.d)
    N = label_matrix(teacher, label)
    ns = float((N * N).sum()) * float(np.trace(V @ cov @ V.T))
    ns += float((N.sum(axis=0) ** 2).sum()) * float(np.sum((V @ mean) ** 2))
    return 0.5 * ns + 0.5 * noise**2 * teacher.M * teacher.D


def target_energy(teacher: Teacher, kind: str) -> float:
    """``1/2 E||f*(X~)||_F^2``, the size of what the student must reproduce on ``kind``."""
    V = teacher.V_star.numpy()
    S = teacher.S_star.numpy()
    mean, cov = family_moments(kind, teacher.d)
    return 0.5 * (
        float((S * S).sum()) * float(np.trace(V @ cov @ V.T))
        + float((S.sum(axis=0) ** 2).sum()) * float(np.sum((V @ mean) ** 2))
    )


def second_moment_bound(teacher: Teacher, kind: str, label: str) -> float:
    """``xi``: the largest column second moment of ``X~`` and of ``Y~`` (noise aside)."""
    V = teacher.V_star.numpy()
    mean, cov = family_moments(kind, teacher.d)
    x2 = float(np.trace(cov) + mean @ mean)
    B = teacher.S_star.numpy() + label_matrix(teacher, label)  # Y~ = V* X~ B
    y2 = (B * B).sum(axis=0) * np.trace(V @ cov @ V.T) + B.sum(axis=0) ** 2 * np.sum(
        (V @ mean) ** 2
    )
    return max(x2, float(y2.max()))


def student_at(run: ReducedRun, teacher: Teacher, r: int, i: int = 0) -> PositionOnlyTransformer:
    """The student of setting ``i`` of a reduced run at its ``r``-th recorded step."""
    student = PositionOnlyTransformer.for_teacher(teacher)
    student.W_V = float(run["C1"][i][r]) * teacher.V_star.clone()
    g, x, D = float(run["gap"][i][r]), teacher.D - teacher.K, teacher.D
    on = torch.full((D, D), x * g / D, dtype=torch.float64)
    A = torch.where(teacher.support, on, torch.full_like(on, -teacher.K * g / D))
    student.set_logits(A)
    return student


def monte_carlo_excess(
    student: PositionOnlyTransformer, teacher: Teacher, X: torch.Tensor, label: str
) -> tuple[float, float]:
    """Sample mean (and standard error) of ``1/2||Y~ - TF||^2 - 1/2||Y~ - f*||^2`` on ``X``,
    with ``Y~ = f*(X) + V* X N`` (any activation of the student; the label rule is linear)."""
    X = X.to(torch.float64)
    target = teacher(X)
    N = torch.from_numpy(label_matrix(teacher, label))
    Y = target + teacher.V_star @ X @ N
    a = 0.5 * ((Y - student(X)) ** 2).sum(dim=(-2, -1))
    b = 0.5 * ((Y - target) ** 2).sum(dim=(-2, -1))
    diff = a - b
    return float(diff.mean()), float(diff.std() / diff.shape[0] ** 0.5)


def t_eps(steps: np.ndarray, excess: np.ndarray, eps: np.ndarray) -> np.ndarray:
    """``T_eps``: the first step after which ``excess <= eps`` holds at every later recorded step,
    interpolated log-linearly between records (NaN if never)."""
    steps, excess = np.asarray(steps, float), np.asarray(excess, float)
    out = np.full(len(np.atleast_1d(eps)), np.nan)
    for j, e in enumerate(np.atleast_1d(eps)):
        above = np.nonzero(excess > e)[0]
        if len(above) == 0:
            out[j] = steps[0]
            continue
        k = above[-1]
        if k == len(steps) - 1:
            continue
        t0, t1, y0, y1 = steps[k], steps[k + 1], excess[k], excess[k + 1]
        if t0 <= 0 or y1 <= 0:
            out[j] = t1
            continue
        w = np.log(y0 / e) / np.log(y0 / y1)
        out[j] = float(np.exp(np.log(t0) + w * (np.log(t1) - np.log(t0))))
    return out


def eps_grid(steps: np.ndarray, excess: np.ndarray, n: int = 8, span: float = 300.0) -> np.ndarray:
    """``n`` values of ``eps`` between the excess at ``T/span`` and at ``T/1.5`` (the late regime)."""
    T = steps[-1]
    hi = np.interp(np.log(T / span), np.log(np.maximum(steps, 1)), np.abs(excess))
    lo = np.interp(np.log(T / 1.5), np.log(np.maximum(steps, 1)), np.abs(excess))
    return np.geomspace(hi, lo, n)


# --- checks --------------------------------------------------------------------------------


def closed_form_vs_monte_carlo(
    log: CheckLog,
    run: ReducedRun,
    teacher: Teacher,
    kinds: Sequence[str],
    labels: Sequence[str],
    n: int,
    seed: int,
    record_index: int,
    max_z: float = 4.0,
) -> Check:
    """The exact ``E_OOD`` against a Monte Carlo estimate on ``n`` samples of every family, for
    every label rule, at one recorded step: the largest ``|z|``."""
    student = student_at(run, teacher, record_index)
    zs = {}
    for kind in kinds:
        X = sample_inputs(kind, n, teacher.d, teacher.D, seed, stream=f"ood-check-{kind}")
        for label in labels:
            exact = float(excess_curve(run, teacher, kind, label)[record_index])
            mc, se = monte_carlo_excess(student, teacher, X, label)
            zs[f"{kind}/{label}"] = abs(exact - mc) / se
    worst = max(zs, key=zs.get)
    return log.close_to(
        "ood_closed_form",
        "the exact OOD excess = Monte Carlo (largest |z| over families and labels)",
        zs[worst],
        0.0,
        max_z,
        worst=worst,
        step=int(run.steps[record_index]),
        samples=n,
    )


def theorem_3_2(
    log: CheckLog,
    curves: dict[tuple[str, str], np.ndarray],
    scales: dict[str, float],
    fractions: Sequence[float],
    steps: np.ndarray,
) -> list[Check]:
    """Theorem 3.2 for several ``eps`` per family, each ``fraction`` of its target energy
    ``1/2 E||f*(X~)||^2``: there is a ``T_eps`` after which ``L_OOD <= L_teacher + eps`` at every
    recorded step, and it lies within the run. One record per fraction, measured: the largest
    ``T_eps / T`` over the families and label rules (NaN, a failure, if some curve is still
    above ``eps`` at ``T``)."""
    out = []
    for fraction in fractions:
        ratios = {
            f"{k}/{lab}": float(t_eps(steps, c, fraction * scales[k])[0] / steps[-1])
            for (k, lab), c in curves.items()
        }
        worst = max(ratios, key=lambda key: np.inf if np.isnan(ratios[key]) else ratios[key])
        out.append(
            log.at_most(
                f"theorem_3_2_inequality/eps_{fraction:g}",
                f"Theorem 3.2: L_OOD ≤ ½E‖Y~−f*(X~)‖² + ε for all T > T_ε, ε = {fraction:g} × "
                "½E‖f*(X~)‖² (largest T_ε / T)",
                ratios[worst],
                1.0,
                worst=worst,
                T=int(steps[-1]),
            )
        )
    return out


def all_curves(
    run: ReducedRun,
    teacher: Teacher,
    kinds: Sequence[str] = OOD_FAMILIES,
    labels: Sequence[str] = LABELS,
) -> dict[tuple[str, str], np.ndarray]:
    """:func:`excess_curve` for every family and label rule: ``{(kind, label): curve}``."""
    return {(k, lab): excess_curve(run, teacher, k, lab) for k in kinds for lab in labels}


def t_eps_curves(
    steps: np.ndarray,
    curves: dict[tuple[str, str], np.ndarray],
    labels: Sequence[str] = ("teacher", "worst_case"),
) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
    """``{(kind, label): (eps, T_eps)}`` on the late grid of :func:`eps_grid`, for ``labels``."""
    out = {}
    for (k, lab), c in curves.items():
        if lab in labels:
            eps = eps_grid(steps, c)
            out[(k, lab)] = (eps, t_eps(steps, c, eps))
    return out


def slope_table(
    steps: np.ndarray,
    curves: dict[tuple[str, str], np.ndarray],
    t_eps_data: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]],
) -> str:
    """A Markdown table: per family and label, the final excess, its late slope and the slope of
    ``T_eps`` against ``eps``."""
    rows = [
        "| family | labels | excess at T | slope over [T/4, T] | slope of T_eps(eps) |",
        "|---|---|---|---|---|",
    ]
    for (k, lab), c in curves.items():
        s = late_slope(steps, np.abs(c)).slope
        te = t_eps_data.get((k, lab))
        ts = "" if te is None else f"{loglog_slope(*te).slope:+.3f}"
        rows.append(f"| {k} | {lab} | {c[-1]:.3g} | {s:+.3f} | {ts} |")
    return "\n".join(rows)


def _misfit(measured: float, predicted: float, tolerance: float) -> float:
    """How far a slope is from its prediction, in tolerances (``inf`` without a prediction)."""
    gap = abs(measured - predicted) / tolerance
    return gap if np.isfinite(gap) else np.inf


def _farthest_family(
    log: CheckLog, name: str, claim: str, rows: dict, limit: float, margin: float
) -> Check:
    """One record for a label rule from ``rows = {family: (fit, predicted, tolerance)}``: the
    family farthest from its prediction in units of its tolerance; the regime names the
    families whose prediction is still more than ``margin`` from the limit."""
    worst = max(rows, key=lambda k: _misfit(rows[k][0].slope, rows[k][1], rows[k][2]))
    fit, pred, tol = rows[worst]
    slow = sorted(k for k, r in rows.items() if abs(r[1] - limit) > margin)
    return log.slope(
        name,
        claim,
        fit,
        pred,
        tol,
        family=worst,
        asymptotic=limit,
        regime=f"not in the asymptotic regime: {', '.join(slow)}" if slow else "asymptotic",
        slopes={k: r[0].slope for k, r in rows.items()},
        predicted={k: r[1] for k, r in rows.items()},
    )


def _farthest_per_label(
    log: CheckLog,
    name: str,
    claim: str,
    data: Mapping[tuple[str, str], Any],
    asymptotic: Mapping[str, float],
    row: Callable[[str, str, Any], tuple[SlopeFit, float]],
    stderrs: float,
    margin: float,
) -> list[Check]:
    """For each label rule ``lab`` of ``asymptotic`` (its limit ``limit``): the fit and the
    predicted slope ``row(kind, lab, data[kind, lab])`` of every family ``kind`` measured with
    those labels, the tolerance :data:`~tltlib.model.finite_time.SLOPE_ERROR` plus ``stderrs``
    standard errors of the fit, and one record :func:`_farthest_family` named ``{name}_{lab}``,
    its claim ``claim`` formatted with ``lab`` and ``limit``."""
    out = []
    for lab, limit in asymptotic.items():
        rows = {}
        for (kind, la), value in data.items():
            if la == lab:
                fit, predicted = row(kind, la, value)
                rows[kind] = (fit, predicted, finite_time.SLOPE_ERROR + stderrs * fit.stderr)
        claim_lab = claim.format(lab=lab, limit=limit)
        out.append(_farthest_family(log, f"{name}_{lab}", claim_lab, rows, limit, margin))
    return out


def slope_checks(
    log: CheckLog,
    run: ReducedRun,
    teacher: Teacher,
    curves: dict[tuple[str, str], np.ndarray],
    asymptotic: dict[str, float],
    stderrs: float = 3.0,
) -> list[Check]:
    """For each label rule in ``asymptotic``: the late slope of ``|E_OOD|`` over ``[T/4, T]``
    of every family against its prediction at the run's ``T`` (:func:`predicted_excess`, the
    slow manifold; ``asymptotic`` is its limit, Theorem 3.2's exponent), within the
    prediction's error (:data:`~tltlib.model.finite_time.SLOPE_ERROR`) plus ``stderrs``
    standard errors of the fit. The record is the family farthest from its prediction in
    units of its tolerance."""
    steps = np.asarray(run.steps)
    eta = float(run.settings(0)["eta"])

    def row(kind: str, lab: str, c: np.ndarray) -> tuple[SlopeFit, float]:
        fit = late_slope(steps, np.abs(c))
        window = steps[steps >= fit.x_min]
        predicted = predicted_excess(teacher, eta, window, kind, lab)
        return fit, loglog_slope(window, np.abs(predicted)).slope

    claim = (
        "Theorem 3.2, {lab} labels: E_OOD ∝ T^{limit:g} (family farthest from its "
        "finite-T prediction)"
    )
    return _farthest_per_label(log, "ood_slope", claim, curves, asymptotic, row, stderrs, 0.05)


def t_eps_checks(
    log: CheckLog,
    run: ReducedRun,
    teacher: Teacher,
    t_eps_data: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]],
    asymptotic: dict[str, float],
    stderrs: float = 3.0,
) -> list[Check]:
    """For each label rule: the slope of ``log T_eps`` against ``log eps`` of every family
    against the same slope on the slow manifold's ``E_OOD`` (:func:`predicted_excess`) on the
    same ``eps`` grid, within :data:`~tltlib.model.finite_time.SLOPE_ERROR` plus ``stderrs``
    standard errors of the fit (``asymptotic``: the limit, ``-1`` for the teacher's labels and
    Theorem 3.2's ``O(eps^-2)`` for the worst case). The record is the family farthest from its
    prediction in units of its tolerance."""
    steps = np.asarray(run.steps)
    eta = float(run.settings(0)["eta"])

    def row(kind: str, lab: str, data: tuple[np.ndarray, np.ndarray]) -> tuple[SlopeFit, float]:
        eps, te = data
        predicted = predicted_excess(teacher, eta, steps, kind, lab)
        try:
            pred = loglog_slope(eps, t_eps(steps, predicted, eps)).slope
        except ValueError:  # the prediction never reaches these eps: it cannot match
            pred = float("nan")
        return loglog_slope(eps, te), pred

    claim = (
        "T_ε ∝ ε^{limit:g} for {lab} labels (Theorem 3.2: O(ε^-2); family farthest "
        "from its finite-T prediction)"
    )
    return _farthest_per_label(log, "t_eps_slope", claim, t_eps_data, asymptotic, row, stderrs, 0.1)


def other_teacher_sign(
    log: CheckLog, steps: np.ndarray, curves: dict[tuple[str, str], np.ndarray]
) -> Check:
    """Labels of another teacher: late in training the student beats the teacher
    (``E_OOD < 0``) on every *centred* family: the largest ``E_OOD`` over ``[T/4, T]`` and those
    families. There the first-order term, ``-(1 + delta) q n_off tr(V* Sigma V*^T)``, fixes the
    sign; on non-centred inputs a term in ``||V* mu||^2`` joins it whose sign depends on the
    teacher (at some seeds it turns ``E_OOD`` positive on exponential inputs, as the slow
    manifold predicts), so those families are left out."""
    late = np.asarray(steps) >= steps[-1] / 4
    centred = {k for (k, lab) in curves if lab == "other_teacher" and not np.any(_mean(k))}
    if not centred:
        raise ValueError("the sign check needs a centred family (e.g. student_t, anisotropic)")
    top = max(float(np.max(curves[(k, "other_teacher")][late])) for k in centred)
    return log.at_most(
        "other_teacher_below_teacher",
        "another teacher's labels: the student's OOD loss is below the teacher's (E_OOD < 0) "
        "on centred inputs",
        top,
        0.0,
        families=sorted(centred),
    )


def _mean(kind: str) -> np.ndarray:
    return family_moments(kind, 1)[0]


def family_table(teacher: Teacher, kinds: Sequence[str] = OOD_FAMILIES) -> str:
    """A Markdown table of the input families with their second-moment bound ``xi``."""
    rows = ["| family | columns | ξ (worst-case labels) |", "|---|---|---|"]
    rows += [
        f"| {k} | {family_description(k)} | {second_moment_bound(teacher, k, 'worst_case'):.1f} |"
        for k in kinds
    ]
    return "\n".join(rows)
