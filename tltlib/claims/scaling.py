"""Scaling laws of Theorem 3.1 measured on the reduced dynamics: sweeps, power-law fits, checks.

A sweep is a grid of settings ``(D, K, eta, v = ||V*||_F^2)`` run at once by
:func:`tltlib.train.reduced.train_reduced`. From each run we read the prefactors of the rates
(``T (L - L_opt)``, ``sqrt(T) ||S - S*||_F``, ``sqrt(T) ||W_V - V*||_F`` at the last step) and
the time ``T*`` (the step where ``p`` reaches ``1/(2K)``), and fit their exponents in
``D, K, eta, ||V*||_F^2`` by least squares on logarithms, with 95 % confidence intervals.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from tltlib.core.checks import Check, CheckLog
from tltlib.core.errors import StepSizeWarning
from tltlib.core.fits import late_slope
from tltlib.model.theory import asymptotic_excess_constant, half_time, peak_C1
from tltlib.train.reduced import ReducedRun, stability_bound, train_reduced

FACTORS = ("D", "K", "eta", "v")
THEOREM_EXPONENTS = {
    "T_excess": {"D": 4.0, "K": 1.0, "eta": -1.0, "v": 0.0},
    "T_star": {"D": 2.0, "K": 1.0, "eta": -1.0, "v": -1.0},
    "S_error": {"D": 2.5, "K": 0.0, "eta": -0.5, "v": -0.5},
    "WV_error": {"D": 2.0, "K": 0.5, "eta": -0.5, "v": 0.0},
}


def grid(**axes: Sequence[float]) -> dict[str, np.ndarray]:
    """The full grid of the given axes, flattened: ``grid(D=[12, 16], K=[2, 3])``."""
    if not axes:
        raise ValueError("grid needs at least one axis")
    for name, values in axes.items():
        if len(values) == 0:
            raise ValueError(f"the axis {name} of the grid is empty")
    mesh = np.meshgrid(*(np.asarray(v, dtype=float) for v in axes.values()), indexing="ij")
    return {name: m.ravel() for name, m in zip(axes, mesh, strict=True)}


def prefactors(run: ReducedRun) -> dict[str, np.ndarray]:
    """Per setting: ``T_excess = T (L - L_opt)``, ``S_error`` and ``WV_error`` times ``sqrt(T)``
    at the last step ``T``, and ``T_star``, the first step with ``p >= 1/(2K)``."""
    T = float(run.steps[-1])
    return {
        "T_excess": T * run.final("excess_loss"),
        "S_error": np.sqrt(T) * run.final("S_error"),
        "WV_error": np.sqrt(T) * run.final("WV_error"),
        "T_star": run.t_half.astype(float),
    }


@dataclass(frozen=True)
class PowerLawFit:
    """``log y = c + sum_f a_f log f``: exponents ``a_f``, standard errors and 95 % intervals."""

    exponents: dict[str, float]
    stderr: dict[str, float]
    ci95: dict[str, tuple[float, float]]
    intercept: float
    residual_rms: float
    n: int

    def __call__(self, **factors: np.ndarray) -> np.ndarray:
        out = np.exp(self.intercept)
        for name, a in self.exponents.items():
            out = out * np.asarray(factors[name], dtype=float) ** a
        return out


def power_law_fit(y: np.ndarray, factors: Mapping[str, np.ndarray]) -> PowerLawFit:
    """Least-squares fit of ``log y`` on ``log`` of every factor that varies (others are skipped).

    The confidence intervals use Student's t with ``n - p`` degrees of freedom. On
    deterministic data they measure how far the data are from a power law, not noise.
    """
    from scipy import stats

    y = np.asarray(y, dtype=float)
    names = [f for f, a in factors.items() if np.ptp(np.log(np.asarray(a, dtype=float))) > 0]
    if not np.all(np.isfinite(y)) or np.any(y <= 0):
        raise ValueError("power_law_fit needs finite, positive values")
    X = np.column_stack([np.ones_like(y)] + [np.log(np.asarray(factors[f], float)) for f in names])
    if len(y) <= X.shape[1]:
        raise ValueError(f"power_law_fit needs more than {X.shape[1]} points, got {len(y)}")
    coef, *_ = np.linalg.lstsq(X, np.log(y), rcond=None)
    resid = np.log(y) - X @ coef
    dof = len(y) - X.shape[1]
    sigma2 = float(resid @ resid) / dof
    cov = sigma2 * np.linalg.inv(X.T @ X)
    se = np.sqrt(np.diag(cov))
    q = float(stats.t.ppf(0.975, dof))
    exps = {f: float(c) for f, c in zip(names, coef[1:], strict=True)}
    errs = {f: float(s) for f, s in zip(names, se[1:], strict=True)}
    cis = {f: (exps[f] - q * errs[f], exps[f] + q * errs[f]) for f in names}
    return PowerLawFit(exps, errs, cis, float(coef[0]), float(np.sqrt(sigma2)), len(y))


def fit_table(fits: Mapping[str, PowerLawFit], predicted: Mapping[str, PowerLawFit]) -> str:
    """A Markdown table: for each quantity and factor, the fitted exponent with its 95 %
    interval, the theorem's exponent and the exponent of our closed form fitted on the same grid."""
    rows = [
        "| quantity | factor | fitted exponent (95 % CI) | Theorem 3.1 | closed form, same grid |",
        "|---|---|---|---|---|",
    ]
    for q, fit in fits.items():
        for f, a in fit.exponents.items():
            lo, hi = fit.ci95[f]
            theorem = THEOREM_EXPONENTS[q][f]
            pred = predicted[q].exponents.get(f, 0.0)
            rows.append(f"| {q} | {f} | {a:.3f} ({lo:.3f}, {hi:.3f}) | {theorem:g} | {pred:.3f} |")
    return "\n".join(rows)


# --- the step size ---------------------------------------------------------------------------


@dataclass
class StabilitySweep:
    """Reduced GD for many step sizes at one ``(D, K, v)``: late-window statistics of ``||S||_F^2``."""

    eta: np.ndarray
    D: int
    K: int
    v: float
    steps: int
    S_fro2_mean: np.ndarray
    S_fro2_min: np.ndarray
    S_fro2_max: np.ndarray
    S_fro2_var: np.ndarray
    excess_mean: np.ndarray
    diverged_at: np.ndarray

    @property
    def bound(self) -> float:
        return float(stability_bound(self.D, self.K))

    @property
    def diverged(self) -> np.ndarray:
        return self.diverged_at >= 0


def stability_sweep(
    D: int, K: int, v: float, etas: np.ndarray, steps: int, window: float = 0.2, stride: int = 3
) -> StabilitySweep:
    """Run every ``eta`` for ``steps`` steps and summarise ``||S||_F^2`` over the last
    ``window`` of the run (every ``stride``-th step): above ``2K/D`` gradient descent does not
    settle at a point but cycles around the edge of stability, so one value would mislead."""
    etas = np.asarray(etas, dtype=float)
    start = int((1 - window) * steps)
    late = np.arange(start, steps + 1, stride)
    record = np.unique(np.concatenate([[0], late, [steps]]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StepSizeWarning)  # the sweep crosses the bound on purpose
        run = train_reduced(D, K, etas, v, steps, record=record, on_divergence="mark")
    keep = run.steps >= start
    S2 = run["S_fro2"][:, keep]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows of diverged runs
        return StabilitySweep(
            etas,
            int(D),
            int(K),
            float(v),
            int(steps),
            np.nanmean(S2, axis=1) if S2.size else S2,
            np.nanmin(S2, axis=1),
            np.nanmax(S2, axis=1),
            np.nanvar(S2, axis=1),
            np.nanmean(run["excess_loss"][:, keep], axis=1),
            run.diverged_at,
        )


# --- checks ------------------------------------------------------------------------------------


def relative_gaps(
    matrix_history,
    reduced: ReducedRun,
    metrics: Sequence[str] = ("excess_loss", "S_error", "WV_error", "norm_ratio", "S_on", "S_off"),
    i: int = 0,
) -> dict[str, float]:
    """Largest relative gap between a matrix run's history and setting ``i`` of a reduced run
    recorded at the same steps, per metric (points where both are zero count as equal)."""
    steps = np.asarray(matrix_history["step"])
    if not np.array_equal(steps, reduced.steps):
        raise ValueError("the matrix run and the reduced run must be recorded at the same steps")
    gaps = {}
    for m in metrics:
        a, b = np.asarray(matrix_history[m]), reduced[m][i]
        scale = np.maximum(np.abs(a), np.abs(b))
        rel = np.divide(np.abs(a - b), scale, out=np.zeros_like(scale), where=scale > 0)
        gaps[m] = float(np.max(rel))
    return gaps


def slope_report(run: ReducedRun, i: int = 0, start_fraction: float = 0.25) -> str:
    """The log-log slopes of the loss and both distances over ``[T/4, T]``, one line each, and
    ``T (L - L_opt)`` against its limit ``D(D-K)K/(4 eta)``."""
    t = run.steps
    lines = []
    for m in ("excess_loss", "S_error", "WV_error"):
        fit = late_slope(t, run[m][i], start_fraction)
        lines.append(
            f"{m:>12}: slope {fit.slope:+.4f} ± {fit.stderr:.1e} over [{fit.x_min:.0f}, {fit.x_max:.0f}]"
        )
    s = run.settings(i)
    ratio = (
        t[-1] * run.final("excess_loss")[i] / asymptotic_excess_constant(s["D"], s["K"], s["eta"])
    )
    lines.append(
        f"T (L - L_opt) / (D (D-K) K / (4 eta)) = {ratio:.4f} at T = {t[-1]:.0e} "
        f"= {t[-1] / max(run.t_half[i], 1):.0f} T*"
    )
    return "\n".join(lines)


def flow_time_runs(D: int, K: int, v: float, etas: Sequence[float], flow_time: float) -> dict:
    """Reduced runs for several step sizes, each to the same gradient-flow time ``eta t``."""
    return {f"eta = {e:.2g}": train_reduced(D, K, e, v, max(1, round(flow_time / e))) for e in etas}


def reduced_agreement(
    log: CheckLog,
    matrix_history,
    reduced: ReducedRun,
    tolerance: float = 1e-8,
    metrics: Sequence[str] = ("excess_loss", "S_error", "WV_error", "norm_ratio", "S_on", "S_off"),
    i: int = 0,
) -> Check:
    """The reduced dynamics reproduce the matrix GD: largest relative gap over ``metrics`` and
    every step recorded in ``matrix_history`` (a :class:`History` with the structure metrics)."""
    gaps = relative_gaps(matrix_history, reduced, metrics, i)
    return log.close_to(
        "reduced_equals_matrix_GD",
        "Lemma D.2: three scalars reproduce the matrix GD (largest relative gap)",
        max(gaps.values()),
        0.0,
        tolerance,
        metrics=list(metrics),
        steps=int(reduced.steps[-1]),
    )


def late_slopes(
    log: CheckLog, run: ReducedRun, tolerance: float, i: int = 0, start_fraction: float = 0.25
) -> list[Check]:
    """Slopes of the excess loss (-1) and both distances (-1/2) over ``[T/4, T]`` of setting ``i``."""
    specs = (
        ("excess_loss", -1.0, "Theorem 3.1 (iii): excess loss = Θ(1/T)"),
        ("S_error", -0.5, "Theorem 3.1 (i): ‖S−S*‖_F = Θ(T^-1/2)"),
        ("WV_error", -0.5, "Theorem 3.1 (ii): ‖W_V−V*‖_F = Θ(T^-1/2)"),
    )
    t = run.steps
    out = []
    for metric, expected, claim in specs:
        fit = late_slope(t, run[metric][i], start_fraction)
        name = f"{metric}_slope_T{t[-1]:.0e}".replace("+0", "")
        out.append(log.slope(name, claim, fit, expected, tolerance, **run.settings(i)))
    return out


def exponent_checks(
    log: CheckLog,
    quantity: str,
    fit: PowerLawFit,
    expected: Mapping[str, float],
    tolerance: float | Mapping[str, float],
    source: str,
) -> list[Check]:
    """One check per factor: the fitted exponent is within ``tolerance`` (one number, or one per
    factor) of ``expected``."""
    out = []
    for f, a in fit.exponents.items():
        lo, hi = fit.ci95[f]
        tol = tolerance[f] if isinstance(tolerance, Mapping) else tolerance
        out.append(
            log.close_to(
                f"{quantity}_exponent_{f}",
                f"{source}: exponent of {f} in {quantity}",
                a,
                expected[f],
                tol,
                ci95=[lo, hi],
                theorem=THEOREM_EXPONENTS[quantity][f],
                points=fit.n,
            )
        )
    return out


def edge_of_stability(
    log: CheckLog, sweep: StabilitySweep, tolerance: float, margin: float = 1.1
) -> Check:
    """Between ``2K/D`` and 2 the late time-average of ``||S||_F^2`` is ``2/eta``: the largest
    relative deviation of ``eta <||S||^2> / 2`` from its prediction over those step sizes. The
    prediction is 1 plus the second-order bias of a time average at the edge, ``(eta^2/4)
    Var(||S||^2)`` (the steps multiply the value block's error by ``1 - eta ||S||^2``, whose
    geometric mean has modulus 1 at the edge), with the variance measured over the same window.
    Step sizes within ``margin`` of ``2K/D`` are left out: there the attention reaches the edge
    as slowly as it reaches ``S*`` below the bound (like ``1/T``)."""
    band = (sweep.eta > margin * sweep.bound) & ~sweep.diverged
    if not band.any():
        raise ValueError("no step size of the sweep lies in the edge-of-stability band")
    eta = sweep.eta[band]
    bias = eta**2 * sweep.S_fro2_var[band] / 4.0
    dev = np.abs(eta * sweep.S_fro2_mean[band] / 2.0 - 1.0 - bias)
    return log.close_to(
        "edge_of_stability",
        "above 2K/D, GD stalls where ||S||_F^2 = 2/eta (late time average)",
        float(dev.max()),
        0.0,
        tolerance,
        etas=int(band.sum()),
        largest_bias=float(bias.max()),
        eta_range=[float(sweep.eta[band].min()), float(sweep.eta[band].max())],
    )


def divergence_threshold(log: CheckLog, sweep: StabilitySweep, predicted: float = 2.0) -> Check:
    """GD diverges above ``eta = 2 / ||S^(0)||_F^2 = 2`` (the value block at uniform attention):
    the threshold measured on the sweep's grid (midway between the largest step size that did
    not diverge and the smallest that did) is ``predicted`` up to the grid's resolution."""
    ok = sweep.eta[~sweep.diverged]
    bad = sweep.eta[sweep.diverged]
    below = float(ok.max()) if len(ok) else 0.0
    above = float(bad.min()) if len(bad) else float("inf")
    return log.close_to(
        "divergence_threshold",
        "GD diverges only above eta = 2 / ||S(0)||_F^2 = 2",
        (below + above) / 2.0,
        predicted,
        (above - below) / 2.0,
        largest_stable=below,
        smallest_diverged=above,
        monotone=bool(len(bad) == 0 or len(ok) == 0 or ok.max() < bad.min()),
    )


def closed_form_checks(
    log: CheckLog,
    run: ReducedRun,
    D: int,
    K: int,
    eta: float,
    v: float,
    i: int = 0,
    tolerances: Mapping[str, float] | None = None,
) -> list[Check]:
    """Setting ``i`` of a reduced run against the slow-manifold closed forms for ``(D, K, eta, v)``:
    the peak of ``C1``, the limit ``T (L - L_opt) -> D(D-K)K/(4 eta)`` (the record carries
    ``T_excess``, ``T_star`` and the settings, for sweeps) and ``T*`` (ratios, expected 1)."""
    tol = {"C1_peak": 0.01, "asymptotic_constant": 0.02, "T_star_closed_form": 0.05}
    tol.update(tolerances or {})
    T = int(run.steps[-1])
    T_excess = float(run.final("excess_loss")[i] * T)
    return [
        log.close_to(
            "C1_peak",
            "C1 overshoots to the slow-manifold peak √(D/K)/(2(1−e)) (ratio)",
            float(run.C1_max[i] / peak_C1(D, K)),
            1.0,
            tol["C1_peak"],
            C1_max=float(run.C1_max[i]),
        ),
        log.close_to(
            "asymptotic_constant",
            "T (L − L_opt) → D(D−K)K/(4η) (ratio; Theorem 3.1 (iii) has KD⁴/η)",
            T_excess / float(asymptotic_excess_constant(D, K, eta)),
            1.0,
            tol["asymptotic_constant"],
            D=int(D),
            K=int(K),
            eta=float(eta),
            v=float(v),
            T=T,
            T_excess=T_excess,
            T_star=int(run.t_half[i]),
        ),
        log.close_to(
            "T_star_closed_form",
            "T* = K(x²+2Kx log(x/K)−K²)/(ηv), x = D−K (ratio)",
            float(run.t_half[i] / half_time(D, K, eta, v)),
            1.0,
            tol["T_star_closed_form"],
        ),
    ]


def mixed_expectation(
    quantity: str, closed: PowerLawFit, from_theorem: Sequence[str] = ("eta", "v")
) -> dict[str, float]:
    """Expected exponents: the theorem's for ``from_theorem``, the closed form's (fitted on the
    same grid) for the other factors (where the two disagree, the closed form is the exact one)."""
    out = dict(closed.exponents)
    out.update({f: THEOREM_EXPONENTS[quantity][f] for f in from_theorem})
    return out
