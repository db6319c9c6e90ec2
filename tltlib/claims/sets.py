"""Figure 2 of the paper in one place: the six experimental sets, trained online, three panels.

(a) excess training loss, (b) excess out-of-distribution loss on a fixed batch of inputs with
i.i.d. exponential entries (labels from the teacher), (c) ``cos(W_V, V*)``; one curve per set
(:func:`tltlib.model.teachers.paper_set`). :func:`run_sets` trains them online (the paper's
method), :func:`run_sets_exact` by exact population GD (every activation, no sampling noise,
each set for the same number of its own ``T*``);
:func:`tltlib.figures.sets.draw` draws any runs that recorded ``excess_loss``, ``ood_excess`` and
``cosine``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from tltlib.claims.training import rate
from tltlib.core.checks import Check, CheckLog
from tltlib.core.fits import late_slope
from tltlib.core.history import Run
from tltlib.core.validate import in_range, positive_float, positive_int
from tltlib.model.data import sample_inputs
from tltlib.model.metrics import sample_excess
from tltlib.model.teachers import PAPER_SETS, paper_set
from tltlib.model.theory import eta_stability_bound, horizon_steps, stable_step, t_star
from tltlib.train.online import train_online
from tltlib.train.population import train_population


def set_step_size(
    number: int, eta: float, cap: float, seed: int = 0, d: int = 10, M: int = 8
) -> float:
    """``min(eta, cap * eta_stability_bound)`` for set ``number``: the sets differ in ``D/K``, and
    GSLP (``K = 1``) needs a step below ``2K/D = 0.1``."""
    return min(eta, cap * eta_stability_bound(paper_set(number, seed, d, M)))


def _ood_inputs(teacher, n_ood: int, seed: int):
    """The fixed exponential inputs on which every run of a set records ``ood_excess``."""
    return sample_inputs("exponential", n_ood, teacher.d, teacher.D, seed, stream="ood")


def run_sets(
    steps: int,
    eta: float = 0.1,
    *,
    cap: float = 0.5,
    sets: Sequence[int] = tuple(PAPER_SETS),
    batch: int = 100,
    noise: float = 0.1,
    n_ood: int = 100,
    seed: int = 0,
    d: int = 10,
    M: int = 8,
    record: int | Sequence[int] = 20,
) -> dict[str, Run]:
    """Online GD (the paper's experiments) on every set, each at :func:`set_step_size`."""
    steps = positive_int("steps", steps)
    eta = positive_float("eta", eta)
    cap = in_range("cap", cap, 0.0, 1.0)
    runs = {}
    for number in sets:
        teacher = paper_set(number, seed, d, M)
        runs[teacher.name] = train_online(
            teacher,
            set_step_size(number, eta, cap, seed, d, M),
            steps,
            batch=batch,
            noise=noise,
            seed=seed,
            ood_inputs=_ood_inputs(teacher, n_ood, seed),
            record=record,
        )
    return runs


def run_sets_exact(
    horizon: float,
    eta_fraction: float = 0.8,
    *,
    sets: Sequence[int] = tuple(PAPER_SETS),
    n_ood: int = 100,
    seed: int = 0,
    d: int = 10,
    M: int = 8,
    record: int | Sequence[int] = 20,
) -> dict[str, Run]:
    """Exact population GD on every set, each at ``eta_fraction`` of its stability bound
    ``2K/D`` and for ``horizon`` times its own ``T*`` (so every set reaches the same regime),
    recording the excess OOD loss on ``n_ood`` exponential inputs as :func:`run_sets` does."""
    runs = {}
    for number in sets:
        teacher = paper_set(number, seed, d, M)
        eta = stable_step(teacher, eta_fraction, name="fig2_eta_fraction")
        steps = horizon_steps(teacher, eta, horizon, name="fig2_horizon")
        runs[teacher.name] = train_population(
            teacher,
            eta,
            steps,
            seed=seed,
            record=record,
            extra_metrics={"ood_excess": sample_excess(teacher, _ood_inputs(teacher, n_ood, seed))},
        )
    return runs


def late_slopes(
    runs: Mapping[str, Run], metric: str, start_fraction: float = 0.25
) -> dict[str, float]:
    """The log-log slope of ``metric`` over ``[T/4, T]`` of every run."""
    return {
        label: late_slope(run.history["step"], run.history[metric], start_fraction).slope
        for label, run in runs.items()
    }


def final_values(runs: Mapping[str, Run], metric: str) -> dict[str, float]:
    return {label: float(np.asarray(run.history[metric])[-1]) for label, run in runs.items()}


def peak_to_final(
    runs: Mapping[str, Run], metric: str, min_t_star: float = 0.0
) -> dict[str, float]:
    """``max_t metric / metric(T)`` of every run that lasted at least ``min_t_star`` times
    Theorem 3.1's ``T* = K D^2 / (eta ||V*||^2)``: how far the curve came down from its peak."""
    out = {}
    for label, run in runs.items():
        if run.settings["steps"] < min_t_star * t_star(run.teacher, run.settings["eta"]):
            continue
        y = np.asarray(run.history[metric])
        out[label] = float(np.max(y) / y[-1])
    return out


def exact_checks(log: CheckLog, runs: Mapping[str, Run], min_drop: float = 2.0) -> list[Check]:
    """The checks of :func:`run_sets_exact`'s runs: on every set, the late slope of the excess
    loss against the slow manifold's prediction at its ``T`` (:func:`tltlib.claims.training.rate`),
    and the excess OOD loss at least ``min_drop`` below its peak, smallest over the sets run for
    at least ``5 T*``."""
    out = [
        rate(
            log,
            run,
            "excess_loss",
            -1.0,
            f"Theorem 3.1 (iii) on set {label} (exact GD)",
            name=f"fig2_exact/{label}/loss_slope",
        )
        for label, run in runs.items()
    ]
    drop = peak_to_final(runs, "ood_excess", min_t_star=5.0)
    out.append(
        log.at_least(
            "fig2_exact_ood_decrease",
            "Figure 2(b), exact GD: peak / final excess OOD loss, smallest over the sets",
            min(drop.values(), default=float("nan")),
            min_drop,
            sets=sorted(drop),
        )
    )
    return out
