"""Outside the paper's assumptions (chapter 11): non-Gaussian training inputs.

The identity activation's population dynamics depend on the inputs only through
``E[X^T B X]`` and ``E[X B X^T]``, which are ``tr(B) I`` for independent zero-mean,
unit-variance entries, whatever their law; so exact population GD (Gaussian closed form) is
the prediction for online GD on every such family, up to the SGD noise. ReLU and Leaky ReLU
see the law of the inputs through ``E[sigma'(...)]``: there the book measures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from tltlib.claims.training import rate
from tltlib.core.checks import Check, CheckLog
from tltlib.core.fits import loglog_slope
from tltlib.core.history import Run
from tltlib.core.validate import one_of, positive_int
from tltlib.model.data import INPUT_KINDS
from tltlib.model.finite_time import GAP_ERROR, online_floor
from tltlib.model.metrics import cosine, support_fraction
from tltlib.model.teachers import Teacher, sts_teacher
from tltlib.model.theory import (
    asymptotic_excess_constant,
    half_time,
    horizon_steps,
    mass_half_time,
    stable_step,
    t_star,
    value_norm2,
)
from tltlib.train.online import train_online
from tltlib.train.population import train_population

#: how many standard deviations of the Gaussian runs' log excess loss the other kinds may deviate
STDS = 3.0
#: the first recorded step compared (the first few steps are all alike and tiny in log)
FIRST_STEP = 10


def kind_runs(
    teacher: Teacher,
    eta: float,
    steps: int,
    kinds: Sequence[str],
    *,
    batch: int,
    noise: float,
    seed: int,
) -> dict[str, Run]:
    """Online GD on ``teacher`` with training inputs of each kind (same seed)."""
    kinds = [one_of("kinds", k, INPUT_KINDS) for k in kinds]
    return {
        k: train_online(teacher, eta, steps, batch=batch, noise=noise, seed=seed, inputs=k)
        for k in kinds
    }


def gaussian_seed_runs(
    teacher: Teacher, eta: float, steps: int, *, batch: int, noise: float, seed: int, n_seeds: int
) -> list[Run]:
    """``n_seeds`` Gaussian online runs at seeds ``seed + 1, ..., seed + n_seeds``: the
    fluctuation of online GD around its population curve."""
    if positive_int("n_seeds", n_seeds) < 2:
        raise ValueError(f"n_seeds must be at least 2 to measure a fluctuation, got {n_seeds}")
    return [
        train_online(teacher, eta, steps, batch=batch, noise=noise, seed=seed + 1 + i)
        for i in range(n_seeds)
    ]


def population_reference(teacher: Teacher, eta: float, steps: int) -> Run:
    """Exact population GD from zero: the prediction for every zero-mean unit-variance kind
    when the activation is the identity."""
    return train_population(teacher, eta, steps)


def log_deviation(run: Run, reference: Run, metric: str = "excess_loss") -> float:
    """``max_t |log(metric_run(t) / metric_ref(t))|`` over the recorded steps ``t >= FIRST_STEP``."""
    t, y = run.history.window(metric, FIRST_STEP)
    tr, yr = reference.history.window(metric, FIRST_STEP)
    if not np.array_equal(t, tr):
        raise ValueError("the run and its reference must be recorded at the same steps")
    return float(np.max(np.abs(np.log(y / yr))))


def identity_tolerance(
    seed_runs: Sequence[Run], reference: Run, batch: int, noise: float
) -> tuple[float, float, float]:
    """``(sd, bias, tolerance)`` for :func:`identity_kinds_check`, over the recorded steps
    ``t >= FIRST_STEP``: the largest standard deviation over the Gaussian ``seed_runs`` of
    ``log excess(t)`` (online GD's fluctuation, measured), the largest predicted upward bias
    ``log(1 + floor(t) / population(t))`` from :func:`tltlib.model.finite_time.online_floor`
    (what online GD adds on average), and ``max_t [log(1 + 3/2 floor / population) + STDS sd(t)]``
    (the floor is a mean-field estimate: the book's factor 3/2). Neither depends on the law of
    the inputs beyond Gaussian ones, so a wrong reference curve is not absorbed."""
    if len(seed_runs) < 2:
        raise ValueError(
            f"n_seeds must be at least 2 to measure a fluctuation, got {len(seed_runs)}"
        )
    t, pop = reference.history.window("excess_loss", FIRST_STEP)
    logs = np.array([np.log(r.history.window("excess_loss", FIRST_STEP)[1]) for r in seed_runs])
    sd = logs.std(axis=0, ddof=1)
    floor = online_floor(reference.teacher, reference.settings["eta"], batch, noise, t)
    ratio = floor["excess_loss"] / pop
    tolerance = float(np.max(np.log1p(1.5 * ratio) + STDS * sd))
    return float(sd.max()), float(np.log1p(ratio).max()), tolerance


def identity_kinds_check(
    log: CheckLog,
    runs: Mapping[str, Run],
    reference: Run,
    seed_runs: Sequence[Run],
    batch: int,
    noise: float,
) -> tuple[Check, ...]:
    """For each kind, online GD's excess-loss curve stays within :func:`identity_tolerance` of
    the exact population curve (the prediction for every zero-mean, unit-variance law)."""
    sd, bias, tol = identity_tolerance(seed_runs, reference, batch, noise)
    return tuple(
        log.at_most(
            f"identity_{k}_deviation",
            f"identity, {k} inputs: online GD follows the population (second-moment) curve",
            log_deviation(run, reference),
            tol,
            gaussian_sd=sd,
            floor_bias=bias,
        )
        for k, run in runs.items()
    )


def recovery_checks(
    log: CheckLog, runs: Mapping[str, Run], teacher: Teacher, min_cosine: float, label: str
) -> tuple[Check, ...]:
    """For each kind: ``cos(W_V, V*) >= min_cosine`` and every column's top-``K`` entries of
    ``S`` on the teacher's support."""
    support = teacher.S_star > 0
    checks = []
    for k, run in runs.items():
        checks.append(
            log.at_least(
                f"{label}_{k}_cosine",
                f"{label}, {k} inputs: W_V aligns with V*",
                cosine(run.student.W_V, teacher.V_star.to(run.student.W_V.dtype)),
                min_cosine,
            )
        )
        checks.append(
            log.at_least(
                f"{label}_{k}_support",
                f"{label}, {k} inputs: top-K attention of every column on the support",
                support_fraction(run.student.scores(), support),
                1.0,
            )
        )
    return tuple(checks)


def kind_table(runs: Mapping[str, Run], reference: str = "gaussian") -> list[dict[str, float]]:
    """Per kind: final ``S_error`` and ``WV_error``, their ratio to the ``reference`` kind's,
    the cosine and the late slope (last quarter of the steps) of ``S_error``."""
    ref = runs[reference].history
    rows = []
    for k, run in runs.items():
        h = run.history
        t, y = h.window("S_error", h["step"][-1] // 4)
        rows.append(
            dict(
                kind=k,
                S_error=h.final("S_error"),
                S_error_ratio=h.final("S_error") / ref.final("S_error"),
                WV_error=h.final("WV_error"),
                cosine=h.final("cosine"),
                S_error_slope=loglog_slope(t, y).slope,
            )
        )
    return rows


# --- K close to D ---------------------------------------------------------------------------

#: marks per decade recorded by the K-close-to-D runs (the half time is interpolated between)
K_RECORD = 60


def off_support_mass(teacher: Teacher):
    """A metric: the attention's mass off the support of ``S*``, averaged over the columns."""
    off = (teacher.S_star <= 0).to(torch.float64)

    def metric(student) -> float:
        return float((student.scores().to(torch.float64) * off).sum() / teacher.D)

    return metric


def k_runs(
    D: int, Ks: Sequence[int], d: int, eta_fraction: float, horizon: float, seed: int
) -> dict[int, Run]:
    """Exact population GD (identity, sparse token selection, ``V* = I_d``) for each ``K`` of
    ``Ks`` at ``eta_fraction`` of the stability bound, for ``horizon`` times ``T*``."""
    runs = {}
    for K in Ks:
        if not 1 <= K < D:
            raise ValueError(f"k_values must be integers in [1, D={D}), got {K}")
        t = sts_teacher(D, K, d, seed)
        eta = stable_step(t, eta_fraction)
        steps = horizon_steps(t, eta, horizon)
        runs[K] = train_population(
            t, eta, steps, record=K_RECORD, extra_metrics={"off_mass": off_support_mass(t)}
        )
    return runs


def measured_mass_half_time(run: Run) -> float:
    """The step at which ``off_mass`` first falls to half its start, interpolated in ``log t``."""
    t, m = run.history["step"], run.history["off_mass"]
    below = np.flatnonzero(m <= m[0] / 2)
    if not len(below):
        return float("nan")
    i = below[0]
    if i == 0 or t[i - 1] <= 0:
        return float(t[i])
    target = m[0] / 2
    f = (m[i - 1] - target) / (m[i - 1] - m[i])
    return float(np.exp(np.log(t[i - 1]) + f * (np.log(t[i]) - np.log(t[i - 1]))))


def predicted_mass_half_time(run: Run) -> float:
    """:func:`tltlib.model.theory.mass_half_time` for the run's teacher and step."""
    t = run.teacher
    return float(mass_half_time(t.D, t.K, run.settings["eta"], value_norm2(t)))


def k_table(runs: Mapping[int, Run]) -> list[dict[str, float]]:
    """Per ``K``: ``K/D``, ``T*``, the book's ``half_time`` (0 for ``D <= 2K``), the predicted and
    measured off-support half times, the late loss slope and ``T (L - L_opt)`` against
    :func:`tltlib.model.theory.asymptotic_excess_constant`."""
    rows = []
    for K, run in runs.items():
        t, eta = run.teacher, run.settings["eta"]
        v = value_norm2(t)
        T = int(run.history["step"][-1])
        tt, y = run.history.window("excess_loss", T // 4)
        rows.append(
            dict(
                K=K,
                K_over_D=K / t.D,
                eta=eta,
                T_star=t_star(t, eta),
                half_time=float(half_time(t.D, K, eta, v)),
                mass_half_time=predicted_mass_half_time(run),
                measured_mass_half_time=measured_mass_half_time(run),
                loss_slope=loglog_slope(tt, y).slope,
                T_excess=T * run.history.final("excess_loss"),
                asymptotic_constant=float(asymptotic_excess_constant(t.D, K, eta)),
            )
        )
    return rows


def mass_half_time_checks(log: CheckLog, runs: Mapping[int, Run]) -> tuple[Check, ...]:
    """For each ``K``: the measured off-support half time within ``GAP_ERROR`` (relative) plus
    the record grid's spacing of :func:`tltlib.model.theory.mass_half_time`."""
    grid = 10 ** (1 / K_RECORD) - 1
    checks = []
    for K, run in runs.items():
        predicted = predicted_mass_half_time(run)
        measured = measured_mass_half_time(run)
        checks.append(
            log.close_to(
                f"mass_half_time_K{K}",
                f"K/D = {K}/{run.teacher.D}: the attention's off-support mass halves when the "
                "slow manifold says",
                measured / predicted,
                1.0,
                GAP_ERROR + grid,
                predicted_step=predicted,
                measured_step=measured,
            )
        )
    return tuple(checks)


def k_rate_checks(log: CheckLog, runs: Mapping[int, Run]) -> tuple[Check, ...]:
    """For each ``K``: :func:`tltlib.claims.training.rate` on the excess loss (prediction at the
    run's finite ``T``)."""
    return tuple(
        rate(
            log,
            run,
            "excess_loss",
            -1.0,
            f"K/D = {K}/{run.teacher.D}: excess loss rate 1/T",
            name=f"loss_slope_K{K}",
        )
        for K, run in runs.items()
    )
