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

from tltlib.core.checks import Check, CheckLog
from tltlib.core.fits import loglog_slope
from tltlib.core.history import Run
from tltlib.core.validate import one_of, positive_int
from tltlib.model.data import INPUT_KINDS
from tltlib.model.finite_time import online_floor
from tltlib.model.metrics import cosine, support_fraction
from tltlib.model.teachers import Teacher
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
    n_seeds = positive_int("n_seeds", n_seeds)
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
