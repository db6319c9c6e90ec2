"""Theorem 3.2's ``T_eps``: its powers of ``eta``, ``||V*||_F``, ``D`` and ``eps``, and its
inequality for ReLU and Leaky ReLU students.

The theorem bounds the time after which the OOD excess stays below ``eps``,

    T_eps = O(K D^6 xi^2 ||V*||_F^2 / (eta eps^2)).

:func:`t_eps_dependence` measures ``T_eps`` on exact runs (the reduced dynamics of the identity
activation, :mod:`tltlib.train.reduced`) with one of ``eta``, ``||V*||_F``, ``D`` or ``eps``
varied around the chapter's setting and the others fixed, and predicts it from the slow
manifold (:func:`tltlib.claims.ood.predicted_excess`); :func:`dependence_checks` compares the
fitted powers. ``xi`` needs no run of its own: scaling the inputs by ``s`` multiplies ``xi`` and
``E_OOD`` by ``s^2``, so ``T_eps`` depends on ``eps / xi`` only and its power of ``xi`` is minus
its power of ``eps``.

For ReLU and Leaky ReLU the OOD loss on non-Gaussian inputs has no closed form: :func:`run_nonlinear`
trains exact population GD (:mod:`tltlib.train.population`) and estimates ``E_OOD`` on fixed
samples of every family at each recorded step, with its standard error; :func:`nonlinear_checks`
asks for ``T_eps <= T`` at several ``eps`` (on the upper confidence bound) and compares the late
slope with the slow manifold's student evaluated on the same samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from tltlib.claims.ood import excess_from_state, predicted_excess, t_eps
from tltlib.core.checks import Check, CheckLog
from tltlib.core.fits import SlopeFit, late_slope, loglog_slope
from tltlib.core.validate import in_range, positive_float, positive_int
from tltlib.model import finite_time
from tltlib.model.data import sample_inputs
from tltlib.model.metrics import sample_excess
from tltlib.model.student import PositionOnlyTransformer
from tltlib.model.teachers import Teacher, gcn_teacher
from tltlib.model.theory import horizon_steps, stable_step, value_norm2
from tltlib.train.population import train_population
from tltlib.train.reduced import train_reduced

#: Theorem 3.2's powers: ``T_eps = O(K D^6 xi^2 ||V*||_F^2 / (eta eps^2))``
THEOREM_POWERS = {"eta": -1.0, "V_norm": 2.0, "D": 6.0, "epsilon": -2.0}
#: where the reference ``T_eps`` is put: ``eps`` is the reference run's excess at ``T / AT``
AT = 30.0


@dataclass
class Dependence:
    """``T_eps`` against one variable: its values ``x``, measured (exact GD) and predicted
    (slow manifold) ``T_eps``, for one family and label rule."""

    x: np.ndarray
    measured: np.ndarray
    predicted: np.ndarray

    def fits(self) -> tuple[SlopeFit, float]:
        """The fitted power of the measured ``T_eps`` and the power of the predicted one."""
        return loglog_slope(self.x, self.measured), loglog_slope(self.x, self.predicted).slope


def _variants(D: int, d: int, M: int, eta: float, seed: int, factors: np.ndarray):
    """``{variable: [(x, teacher, eta)]}``: the chapter's GCN teacher with one variable moved."""
    base = gcn_teacher(D, d, M, "identity", seed)
    Ds = sorted({round(D * f) for f in factors} | {D})
    if len(Ds) < 3 or Ds[0] <= base.K:
        raise ValueError(f"D={D} is too small to vary: the D grid {Ds} needs three values above K")
    norm = float(np.sqrt(value_norm2(base)))
    scaled = [
        Teacher(f * base.V_star, base.S_star, base.activation, name=base.name) for f in factors
    ]
    return base, {
        "eta": [(eta * f, base, eta * f) for f in factors],
        "V_norm": [(norm * f, t, eta) for f, t in zip(factors, scaled, strict=True)],
        "D": [(float(n), gcn_teacher(n, d, M, "identity", seed), eta) for n in Ds],
    }


def t_eps_dependence(
    D: int,
    d: int,
    M: int,
    eta: float,
    steps: int,
    seed: int,
    kinds: Sequence[str],
    labels: Sequence[str],
    factor: float = 1.25,
    n: int = 5,
) -> dict[tuple[str, str, str], Dependence]:
    """``T_eps`` of the chapter's teacher (the GCN on the cycle, identity) against ``eta``,
    ``||V*||_F`` and ``D``, each moved by up to ``factor`` either way (``n`` values, the others
    at the chapter's setting), and against ``eps``, for every family and label rule:
    ``{(label, kind, variable): Dependence}``. For each family and label ``eps`` is the
    reference run's excess at ``T / AT``, the same for every variant of that pair. Every run is
    exact GD for ``steps`` steps; all of them go through one call of the compiled kernel."""
    factor = in_range("factor", factor, 1.0, 4.0)
    if factor == 1.0:
        raise ValueError("factor must be above 1 (the grid spans [1/factor, factor])")
    n = positive_int("n", n)
    if n < 3 or n % 2 == 0:
        raise ValueError(f"n must be odd and at least 3 (the setting in the middle), got {n}")
    factors = np.geomspace(1.0 / factor, factor, n)
    base, variants = _variants(D, d, M, positive_float("eta", eta), seed, factors)
    flat = [(var, x, t, e) for var, items in variants.items() for x, t, e in items]
    run = train_reduced(
        [t.D for _, _, t, _ in flat],
        [t.K for _, _, t, _ in flat],
        [e for *_, e in flat],
        [value_norm2(t) for _, _, t, _ in flat],
        steps,
        record=40,
    )
    T = run.steps
    ref = n // 2  # the middle of the eta grid: the chapter's own setting
    out = {}
    for label in labels:
        for kind in kinds:

            def exact(i: int, teacher: Teacher, k=kind, lab=label) -> np.ndarray:
                return excess_from_state(
                    teacher, k, lab, run["C1"][i], run["S_on"][i], run["S_off"][i]
                )

            c0 = exact(ref, base)
            eps = float(np.interp(np.log(T[-1] / AT), np.log(np.maximum(T, 1)), np.abs(c0)))
            for var in variants:
                rows = [(i, x, t, e) for i, (v, x, t, e) in enumerate(flat) if v == var]
                out[(label, kind, var)] = Dependence(
                    np.array([x for _, x, _, _ in rows]),
                    np.array([t_eps(T, exact(i, t), eps)[0] for i, _, t, _ in rows]),
                    np.array(
                        [
                            t_eps(T, predicted_excess(t, e, T, kind, label), eps)[0]
                            for _, _, t, e in rows
                        ]
                    ),
                )
            grid = eps * factors
            predicted = predicted_excess(base, eta, T, kind, label)
            out[(label, kind, "epsilon")] = Dependence(
                grid, t_eps(T, c0, grid), t_eps(T, predicted, grid)
            )
    return out


def dependence_table(table: dict[tuple[str, str, str], Dependence]) -> str:
    """A Markdown table: per label rule, variable and family, the fitted power of ``T_eps``,
    the slow manifold's and the theorem's."""
    rows = [
        "| labels | variable | family | measured power | slow manifold | Theorem 3.2 |",
        "|---|---|---|---|---|---|",
    ]
    for (label, kind, var), dep in table.items():
        fit, pred = dep.fits()
        rows.append(
            f"| {label} | {var} | {kind} | {fit.slope:+.3f} ± {fit.stderr:.3f} | {pred:+.3f} | "
            f"{THEOREM_POWERS[var]:+g} |"
        )
    return "\n".join(rows)


def dependence_checks(
    log: CheckLog, table: dict[tuple[str, str, str], Dependence], stderrs: float = 3.0
) -> list[Check]:
    """For each label rule and variable: the fitted power of ``T_eps`` of every family against
    the slow manifold's on the same grid, within
    :data:`~tltlib.model.finite_time.SLOPE_ERROR` plus ``stderrs`` standard errors of the fit
    (NaN, a failure, if some ``T_eps`` is not reached within the run). The record is the family
    farthest from its prediction in units of its tolerance, with every family's power and the
    theorem's."""
    groups: dict[tuple[str, str], dict[str, tuple[SlopeFit, float, float]]] = {}
    for (label, kind, var), dep in table.items():
        try:
            fit, pred = dep.fits()
        except ValueError:  # a T_eps outside the run: not measurable, so it cannot match
            fit = SlopeFit(float("nan"), float("nan"), float("nan"), 0, 0.0, 0.0)
            pred = float("nan")
        tol = finite_time.SLOPE_ERROR + stderrs * (fit.stderr if np.isfinite(fit.stderr) else 0)
        groups.setdefault((label, var), {})[kind] = (fit, pred, tol)
    out = []
    for (label, var), rows in groups.items():

        def misfit(k: str, rows=rows) -> float:
            gap = abs(rows[k][0].slope - rows[k][1]) / rows[k][2]
            return gap if np.isfinite(gap) else np.inf

        worst = max(rows, key=misfit)
        fit, pred, tol = rows[worst]
        out.append(
            log.slope(
                f"t_eps_power_{label}_{var}",
                f"Theorem 3.2, {label} labels: the power of {var} in T_ε (theorem: "
                f"{THEOREM_POWERS[var]:+g}) against the slow manifold's, family farthest from it",
                fit,
                pred,
                tol,
                family=worst,
                theorem=THEOREM_POWERS[var],
                powers={k: r[0].slope for k, r in rows.items()},
                predicted={k: r[1] for k, r in rows.items()},
            )
        )
    return out


# --- ReLU and Leaky ReLU students ------------------------------------------------------------


@dataclass
class NonlinearRun:
    """Exact population GD of one teacher with the OOD excess on fixed samples of each family:
    ``excess[kind]`` and ``stderr[kind]`` at ``steps``, ``energy[kind]`` = ``1/2 mean ||f*||^2``."""

    teacher: Teacher
    eta: float
    steps: np.ndarray
    excess: dict[str, np.ndarray]
    stderr: dict[str, np.ndarray]
    energy: dict[str, float]
    samples: dict[str, torch.Tensor]


def run_nonlinear(
    teacher: Teacher, eta: float, steps: int, kinds: Sequence[str], n: int, seed: int
) -> NonlinearRun:
    """Exact population GD (:func:`~tltlib.train.population.train_population`) of ``teacher``
    for ``steps`` steps, with the teacher-label OOD excess estimated on ``n`` fixed samples of
    each family in ``kinds`` at every recorded step."""
    X = {
        k: sample_inputs(k, positive_int("n", n), teacher.d, teacher.D, seed, stream=f"ood-{k}")
        for k in kinds
    }
    extra = {f"{k}/mean": sample_excess(teacher, X[k]) for k in kinds}
    extra |= {f"{k}/stderr": sample_excess(teacher, X[k], stderr=True) for k in kinds}
    run = train_population(teacher, eta, steps, seed=seed, record=20, extra_metrics=extra)
    h = run.history
    energy = {k: float(0.5 * (teacher(X[k]) ** 2).sum(dim=(-2, -1)).mean()) for k in kinds}
    return NonlinearRun(
        teacher,
        eta,
        np.asarray(h.steps, dtype=float),
        {k: np.asarray(h.values[f"{k}/mean"]) for k in kinds},
        {k: np.asarray(h.values[f"{k}/stderr"]) for k in kinds},
        energy,
        X,
    )


def run_students(
    D: int,
    d: int,
    M: int,
    eta_fraction: float,
    horizon: float,
    kinds: Sequence[str],
    n: int,
    seed: int,
    activations: Sequence[str] = ("relu", "leaky_relu"),
) -> dict[str, NonlinearRun]:
    """:func:`run_nonlinear` for the chapter's GCN teacher with each activation, at
    ``eta_fraction`` of the stability bound (:func:`~tltlib.model.theory.stable_step`) for
    ``horizon`` of its ``T*``."""
    out = {}
    for act in activations:
        teacher = gcn_teacher(D, d, M, act, seed)
        eta = stable_step(teacher, eta_fraction, "nonlinear_eta_fraction")
        steps = horizon_steps(teacher, eta, horizon, "nonlinear_horizon")
        out[act] = run_nonlinear(teacher, eta, steps, kinds, n, seed)
    return out


def students_table(runs: dict[str, NonlinearRun]) -> str:
    """A Markdown table: per activation, the run's length and ``E_OOD`` at ``T`` as a fraction
    of each family's target energy."""
    kinds = list(next(iter(runs.values())).excess)
    rows = ["| activation | T | " + " | ".join(kinds) + " |", "|---|---|" + "---|" * len(kinds)]
    for act, r in runs.items():
        cells = " | ".join(f"{r.excess[k][-1] / r.energy[k]:.2%}" for k in kinds)
        rows.append(f"| {act} | {int(r.steps[-1])} | {cells} |")
    return "\n".join(rows)


def slow_manifold_student(teacher: Teacher, eta: float, step: float) -> PositionOnlyTransformer:
    """The student on the slow manifold at ``step``: ``W_V = C1 V*`` and attention ``p`` on the
    support of ``S*``, ``p e`` off it (Lemma D.2's form)."""
    at = finite_time.slow_manifold_at(teacher, eta, [step])
    student = PositionOnlyTransformer.for_teacher(teacher)
    student.W_V = float(at["C1"][0]) * teacher.V_star.clone()
    on, off = np.log(at["S_on"][0]), np.log(at["S_off"][0])
    student.set_logits(
        torch.where(
            teacher.support,
            torch.tensor(on, dtype=torch.float64),
            torch.tensor(off, dtype=torch.float64),
        )
    )
    return student


def nonlinear_checks(
    log: CheckLog,
    runs: dict[str, NonlinearRun],
    fractions: Sequence[float],
    z: float = 3.0,
    stderrs: float = 3.0,
) -> list[Check]:
    """Theorem 3.2 for ReLU and Leaky ReLU students (teacher labels): for each ``eps`` =
    fraction of a family's target energy, ``T_eps`` (on the upper confidence bound, mean plus
    ``z`` standard errors) lies within the run, the largest ``T_eps / T`` over activations and
    families; and the late slope of ``E_OOD`` of every run and family against the slow
    manifold's student on the same samples, within its error plus ``stderrs`` standard errors
    of the fit (the farthest in units of its tolerance)."""
    out = []
    for f in fractions:
        f = in_range("fraction", f, 0.0, 1.0)
        ratios = {
            f"{act}/{k}": float(
                t_eps(r.steps, r.excess[k] + z * r.stderr[k], f * r.energy[k])[0] / r.steps[-1]
            )
            for act, r in runs.items()
            for k in r.excess
        }
        worst = max(ratios, key=lambda key: np.inf if np.isnan(ratios[key]) else ratios[key])
        out.append(
            log.at_most(
                f"theorem_3_2_nonlinear/eps_{f:g}",
                f"Theorem 3.2 for ReLU and Leaky ReLU students: E_OOD ≤ ε for all T > T_ε, "
                f"ε = {f:g} × ½E‖f*(X~)‖² (largest T_ε / T, Monte Carlo upper bound)",
                ratios[worst],
                1.0,
                worst=worst,
            )
        )
    rows = {}
    for act, r in runs.items():
        for k, excess in r.excess.items():
            fit = late_slope(r.steps, excess)
            window = r.steps[r.steps >= fit.x_min]
            metric = sample_excess(r.teacher, r.samples[k])
            predicted = [metric(slow_manifold_student(r.teacher, r.eta, t)) for t in window]
            pred = loglog_slope(window, np.asarray(predicted)).slope
            rows[f"{act}/{k}"] = (fit, pred, finite_time.SLOPE_ERROR + stderrs * fit.stderr)
    worst = max(rows, key=lambda k: abs(rows[k][0].slope - rows[k][1]) / rows[k][2])
    fit, pred, tol = rows[worst]
    out.append(
        log.slope(
            "ood_slope_nonlinear",
            "ReLU and Leaky ReLU students, teacher labels: the late slope of E_OOD against the "
            "slow manifold's student on the same samples (farthest run and family)",
            fit,
            pred,
            tol,
            run=worst,
            slopes={k: r[0].slope for k, r in rows.items()},
            predicted={k: r[1] for k, r in rows.items()},
        )
    )
    return out
