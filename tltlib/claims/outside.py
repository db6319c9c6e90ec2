"""Outside the paper's assumptions (chapter 11): non-Gaussian training inputs, K close to D,
non-uniform S*, and per-sample subsets given in the input.

The identity activation's population dynamics depend on the inputs only through
``E[X^T B X]`` and ``E[X B X^T]``, which are ``tr(B) I`` for independent zero-mean,
unit-variance entries, whatever their law; so exact population GD (Gaussian closed form) is
the prediction for online GD on every such family, up to the SGD noise. ReLU and Leaky ReLU
see the law of the inputs through ``E[sigma'(...)]``: there the book measures.

A non-uniform ``S*`` (Dirichlet weights on a support, or on every row) is outside the class;
exact GD still runs on it. A full-support ``S*`` is the softmax of the finite logits
``log S*``, so near the optimum GD is linear and the excess loss falls geometrically at the
rates of the Hessian there (:func:`hessian_modes`); a sparse one keeps the ``1/T``. The last
part trains the full transformer of eq. (2.5) on subsets given in the input
(:mod:`tltlib.examples.selection_full`) and reads its rate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from tltlib.claims.training import STDERRS as SLOPE_STDERRS
from tltlib.claims.training import rate
from tltlib.core.checks import Check, CheckLog
from tltlib.core.fits import SlopeFit, late_slope, late_start, loglog_slope, slope_interval
from tltlib.core.history import Run, log_steps
from tltlib.core.seeding import numpy_rng
from tltlib.core.validate import in_range, one_of, positive_float, positive_int
from tltlib.examples.gcn import OutsideTarget
from tltlib.examples.selection import per_sample_floor, subset_teacher, train_selection
from tltlib.examples.selection_full import train_full_selection
from tltlib.model.data import INPUT_KINDS
from tltlib.model.finite_time import GAP_ERROR, SLOPE_ERROR, online_floor, predicted_slopes
from tltlib.model.losses import bilinear_excess_loss
from tltlib.model.metrics import cosine, support_fraction
from tltlib.model.student import column_softmax
from tltlib.model.teachers import Teacher, random_subset, sts_teacher
from tltlib.model.theory import (
    asymptotic_excess_constant,
    eta_stability_bound,
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


# --- non-uniform S* ---------------------------------------------------------------------------

#: the three score matrices of the non-uniform section: the paper's uniform K-sparse one, the
#: same support with Dirichlet weights, and a full-support one
WEIGHTED = ("uniform", "dirichlet", "full")
#: marks per decade of the power-law runs; the full-support run adds a linear grid of this many
WEIGHTED_RECORD = 30
#: how far from 1 - cos(W_V, V*) may be where Lemma D.2's value part holds (rounding only)
EXACT = 1e-8
#: two entries of S closer than this (relative) are tied: rounding, not a learnt order
TIE = 1e-10


def weighted_targets(D: int, K: int, d: int, seed: int, alpha: float, floor: float) -> dict:
    """``uniform``: sparse token selection (:func:`tltlib.model.teachers.sts_teacher`, a teacher of
    the class); ``dirichlet``: the same support, each column's ``K`` weights drawn from
    ``Dirichlet(alpha)``; ``full``: every column ``(1 - floor) w + floor / D`` with ``w`` drawn
    from ``Dirichlet(alpha)`` over all ``D`` rows (every entry at least ``floor / D``). All with
    ``V* = I_d`` and the identity; the last two are outside the class
    (:class:`tltlib.examples.gcn.OutsideTarget`)."""
    alpha = positive_float("ns_alpha", alpha)
    floor = in_range("ns_floor", floor, 0.0, 1.0)
    if not 0.0 < floor < 1.0:
        raise ValueError(f"ns_floor must be in (0, 1) (a share of uniform weight), got {floor!r}")
    D = positive_int("ns_D", D, minimum=3)
    if not 2 <= positive_int("ns_K", K) < D:
        raise ValueError(
            f"ns_K must be an integer in [2, ns_D={D}) (K = 1 has no weights), got {K}"
        )
    uniform = sts_teacher(D, K, d, seed)
    rng = numpy_rng(seed, "dirichlet_scores")
    support = uniform.S_star[:, 0] > 0
    sparse = torch.zeros(D, D, dtype=torch.float64)
    weights = rng.dirichlet(np.full(K, alpha), size=D).T
    sparse[support, :] = torch.as_tensor((1.0 - floor) * weights + floor / K)
    full = (1.0 - floor) * torch.as_tensor(rng.dirichlet(np.full(D, alpha), size=D).T) + floor / D
    V = uniform.V_star
    return {
        "uniform": uniform,
        "dirichlet": OutsideTarget(V, sparse.contiguous(), "identity", name="dirichlet"),
        "full": OutsideTarget(V, full.contiguous(), "identity", name="full"),
    }


def support_spread(teacher: Teacher):
    """A metric: ``(max - min) / mean`` of ``S`` over the support of ``S*`` (0 when ``S`` takes one
    value there, as Lemma D.2 says it does for a uniform ``S*``)."""
    support = teacher.S_star > 0

    def metric(student) -> float:
        v = student.scores()[support]
        return float((v.max() - v.min()) / v.mean())

    return metric


def direct_excess(teacher: Teacher):
    """A metric: the identity's excess loss ``1/2 ||S^T (x) W_V - S*^T (x) V*||_F^2`` computed as a
    difference (the bilinear form loses everything below ``1e-16`` of the loss at zero to
    cancellation; this resolves the geometric tail of a full-support target)."""
    V, Ss = teacher.V_star.contiguous(), teacher.S_star.contiguous()
    target = torch.kron(Ss, V)

    def metric(student) -> float:
        diff = torch.kron(student.scores().contiguous(), student.W_V.contiguous()) - target
        return float(0.5 * (diff * diff).sum())

    return metric


def hessian_modes(teacher: Teacher, eta: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact GD near the optimum ``(W_V, A) = (V*, log S*)`` of a full-support target, linearised:
    ``delta <- (I - P H) delta`` with ``H`` the Hessian of the identity's loss in ``(W_V, A)``
    (flattened) and ``P`` the steps, ``eta`` on ``W_V`` and ``eta / D`` on the logits (as ``W_KQ``'s
    step moves them). Returns ``(mu, Q, root)``: ``P^(1/2) H P^(1/2) = Q diag(mu) Q^T`` and
    ``root = P^(1/2)``. ``D`` of the ``mu`` are zero: the column shifts of the logits, which the
    softmax does not see."""
    S = teacher.S_star
    if not bool((S > 0).all()):
        raise ValueError("the Hessian at the optimum needs a full-support S* (finite logits)")
    M, d, D = teacher.M, teacher.d, teacher.D

    def loss(w: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return bilinear_excess_loss(w.reshape(M, d), column_softmax(a.reshape(D, D)), teacher)

    (hww, hwa), (haw, haa) = torch.autograd.functional.hessian(
        loss, (teacher.V_star.flatten(), torch.log(S).flatten())
    )
    H = torch.cat([torch.cat([hww, hwa], 1), torch.cat([haw, haa], 1)], 0).numpy()
    root = np.sqrt(np.concatenate([np.full(M * d, eta), np.full(D * D, eta / D)]))
    mu, Q = np.linalg.eigh(root[:, None] * H * root[None, :])
    return mu, Q, root


def mode_rates(teacher: Teacher, eta: float) -> np.ndarray:
    """The per-step decay rates ``-2 log |1 - mu|`` of the excess loss along the non-zero modes
    of :func:`hessian_modes`, slowest first."""
    mu = hessian_modes(teacher, eta)[0]
    mu = mu[mu > 1e-9 * mu.max()]
    return np.sort(-2.0 * np.log(np.maximum(np.abs(1.0 - mu), 1e-300)))


def hessian_rate(teacher: Teacher, eta: float) -> float:
    """The slowest of :func:`mode_rates`: near the optimum the excess loss is a positive sum of
    ``|1 - mu_k|^(2t)``, so its log falls at least this fast, and at this rate in the end."""
    return float(mode_rates(teacher, eta)[0])


def linearised_excess(teacher: Teacher, eta: float, start, steps) -> np.ndarray:
    """The excess loss at ``steps`` predicted by :func:`hessian_modes` from the student ``start``
    (the state at ``steps[0]``): ``1/2 sum_k mu_k c_k^2 |1 - mu_k|^(2 (t - steps[0]))`` with
    ``c = Q^T P^(-1/2) delta``, over the modes with ``mu > 0``."""
    mu, Q, root = hessian_modes(teacher, eta)
    delta = np.concatenate(
        [
            (start.W_V - teacher.V_star).flatten().numpy(),
            (start.logits() - torch.log(teacher.S_star)).flatten().numpy(),
        ]
    )
    live = mu > 1e-9 * mu.max()  # the column shifts (mu = 0) do not change the loss
    mu, c2 = mu[live], (Q[:, live].T @ (delta / root)) ** 2
    n = np.asarray(steps, dtype=float) - float(steps[0])
    decay = np.abs(1.0 - mu)[None, :] ** (2.0 * n[:, None])
    return 0.5 * (decay * (mu * c2)[None, :]).sum(axis=1)


def weighted_runs(
    targets: Mapping[str, Teacher], eta_fraction: float, horizon: float, taus: float
) -> dict[str, Run]:
    """Exact population GD from zero on each target at ``eta_fraction`` of the value block's
    stability bound ``2 / ||S*||_F^2``. The sparse targets run ``horizon`` times ``T*``; the
    full-support one ``taus`` time constants ``1 / hessian_rate``, recorded on a linear grid too."""
    runs = {}
    for name, t in targets.items():
        eta = stable_fraction(t, eta_fraction)
        extra = {"excess_direct": direct_excess(t)}
        if name == "full":
            steps = math.ceil(positive_float("ns_taus", taus) / hessian_rate(t, eta))
            record = np.union1d(
                log_steps(steps, WEIGHTED_RECORD),
                np.linspace(0, steps, 2 * WEIGHTED_RECORD + 1).round(),
            )
        else:
            steps = horizon_steps(t, eta, horizon, name="ns_horizon")
            record = WEIGHTED_RECORD
            extra["on_spread"] = support_spread(t)
        runs[name] = train_population(
            t,
            eta,
            steps,
            record=record.astype(np.int64) if isinstance(record, np.ndarray) else record,
            extra_metrics=extra,
        )
    return runs


def stable_fraction(teacher: Teacher, fraction: float) -> float:
    """``fraction`` (in ``(0, 1)``) of :func:`tltlib.model.theory.eta_stability_bound`."""
    fraction = in_range("ns_eta_fraction", fraction, 0.0, 1.0)
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"ns_eta_fraction must be in (0, 1), got {fraction!r}")
    return fraction * eta_stability_bound(teacher)


def semilog_slope(t, y) -> SlopeFit:
    """Least-squares slope of ``log y`` against ``t`` (not ``log t``): a geometric rate. The
    :class:`~tltlib.core.fits.SlopeFit` holds it, with its standard error."""
    t, y = np.asarray(t, dtype=float), np.asarray(y, dtype=float)
    keep = (y > 0) & np.isfinite(y)
    t, y = t[keep], y[keep]
    if len(t) < 3:
        raise ValueError(f"a semilog fit needs at least 3 positive points, got {len(t)}")
    (slope, intercept), *_ = np.linalg.lstsq(
        np.stack([t, np.ones_like(t)], 1), np.log(y), rcond=None
    )
    resid = np.log(y) - (intercept + slope * t)
    stderr = float(np.sqrt(resid @ resid / max(len(t) - 2, 1) / ((t - t.mean()) ** 2).sum()))
    return SlopeFit(float(slope), float(intercept), stderr, len(t), float(t.min()), float(t.max()))


def geometric_window(run: Run) -> tuple[np.ndarray, np.ndarray]:
    """``(steps, excess_direct)`` over the last half ``[T/2, T]`` of a run."""
    return run.history.window("excess_direct", int(run.history["step"][-1]) // 2)


def linearised_window(run: Run, eta: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`linearised_excess` over :func:`geometric_window`'s steps, from the state at its first
    step (exact GD rerun up to there: deterministic, the same trajectory), at the run's ``eta``
    or at ``eta`` (a wrong prediction, for the tests)."""
    t = geometric_window(run)[0]
    s = run.settings
    start = train_population(run.teacher, s["eta"], int(t[0]), record=[0, int(t[0])]).student
    return t, linearised_excess(run.teacher, s["eta"] if eta is None else eta, start, t)


def geometric_checks(log: CheckLog, run: Run, eta: float | None = None) -> tuple[Check, Check]:
    """Full-support ``S*``, over ``[T/2, T]``: the semilog slope of the excess loss (a
    geometric rate) against the slope of the linearised dynamics started from the run's own
    state at ``T/2`` (:func:`linearised_window`), within ``STDERRS`` standard errors of the two
    fits; and the rate at least the Hessian's slowest, ``-hessian_rate`` (the slope at most that
    plus ``STDERRS`` standard errors). ``eta`` replaces the run's step in both predictions (a
    wrong one, for the tests). The records keep the log-log slope of the window (steeper than
    any fixed power), the slope's interval and the second-slowest mode's rate."""
    t, y = geometric_window(run)
    fit = semilog_slope(t, y)
    eta_pred = run.settings["eta"] if eta is None else eta
    tl, yl = linearised_window(run, eta)
    predicted = semilog_slope(tl, yl)
    rates = mode_rates(run.teacher, eta_pred)
    interval = slope_interval(fit)
    extra = dict(interval=[interval.low, interval.high], loglog_slope=loglog_slope(t, y).slope)
    a = log.slope(
        "full_excess_linearised_rate",
        "full-support S*: the excess loss falls geometrically, at the rate the Hessian at the "
        "optimum gives from the state at T/2",
        fit,
        predicted.slope,
        SLOPE_STDERRS * (fit.stderr + predicted.stderr),
        **extra,
    )
    b = log.at_most(
        "full_excess_slowest_mode",
        "full-support S*: the excess loss falls at least as fast as the Hessian's slowest mode",
        fit.slope,
        -rates[0] + SLOPE_STDERRS * fit.stderr,
        slowest_rate=float(rates[0]),
        second_rate=float(rates[1]),
        **extra,
    )
    return a, b


#: Theorem 3.1's asymptotic slopes, for the finite-``T`` correction of the uniform teacher
ASYMPTOTIC_SLOPES = {"excess_loss": -1.0, "S_error": -0.5, "WV_error": -0.5}


def uniform_correction(run: Run, metric: str) -> float:
    """How far the slope of ``metric`` of the *uniform* teacher on the same support is predicted
    to be from Theorem 3.1's asymptotic slope (:data:`ASYMPTOTIC_SLOPES`) over the run's late
    window, at its ``eta`` (:func:`tltlib.model.finite_time.predicted_slopes`): the size of the
    finite-``T`` correction for a sparse target of these ``D, K`` at this ``T``."""
    t = run.teacher
    uniform = Teacher(t.V_star, (t.S_star > 0).to(t.S_star.dtype) / t.K, "identity")
    T = int(run.history["step"][-1])
    window = run.history.window(metric, late_start(T))[0]
    predicted = predicted_slopes(uniform, run.settings["eta"], window)[metric]
    return abs(predicted - ASYMPTOTIC_SLOPES[metric])


def power_rate_check(log: CheckLog, run: Run, metric: str, asymptotic: float, label: str) -> Check:
    """The late slope (``[T/4, T]``) of ``metric`` against ``asymptotic`` for a sparse target
    outside the class (no slow manifold of its own): the tolerance is the book's
    ``SLOPE_ERROR``, the finite-``T`` correction of the uniform teacher on the same support
    (:func:`uniform_correction`) and ``SLOPE_STDERRS`` standard errors of the fit."""
    T = int(run.history["step"][-1])
    fit = late_slope(*run.history.window(metric, 0))
    correction = uniform_correction(run, metric)
    interval = slope_interval(fit)
    return log.slope(
        f"{label}_{metric}_slope",
        f"{label} S*: {metric.replace('_', ' ')} falls like T^{asymptotic:g}",
        fit,
        asymptotic,
        SLOPE_ERROR + correction + SLOPE_STDERRS * fit.stderr,
        finite_T_correction=correction,
        interval=[interval.low, interval.high],
        T_over_T_star=T / t_star(run.teacher, run.settings["eta"]),
    )


def order_fraction(S: torch.Tensor, S_star: torch.Tensor) -> float:
    """The share of pairs of entries in the same column of the support of ``S_star`` that ``S``
    orders as ``S_star`` does (strictly: a tie, a difference below :data:`TIE` of the column's
    largest entry, counts as wrong). 1 means the student learnt the
    weights, not only the support; a two-valued ``S`` (Lemma D.2) scores 0 on a column whose
    weights differ."""
    support = S_star > 0
    good = total = 0
    for j in range(S.shape[1]):
        rows = torch.nonzero(support[:, j]).flatten()
        a, b = S[rows, j], S_star[rows, j]
        da, db = a[:, None] - a[None, :], b[:, None] - b[None, :]
        upper = torch.triu(torch.ones_like(da, dtype=torch.bool), 1) & (db != 0)
        distinct = da.abs() > TIE * a.abs().max()
        good += int(((torch.sign(da) == torch.sign(db)) & distinct & upper).sum())
        total += int(upper.sum())
    return good / total if total else 1.0


def weighted_table(runs: Mapping[str, Run]) -> list[dict[str, float]]:
    """Per target: steps, ``eta``, ``T / T*``, the late log-log slope of the excess loss and of
    ``||S - S*||_F``, the semilog rate over ``[T/2, T]`` and the Hessian's (full support), the
    final excess loss, the spread of ``S*`` and of the final ``S`` on the support and the share of
    support pairs ordered as in ``S*``."""
    rows = []
    for name, run in runs.items():
        h, t = run.history, run.teacher
        T = int(h["step"][-1])
        on = t.S_star[t.S_star > 0]
        S = run.student.scores()
        full = name == "full"
        fit = semilog_slope(*geometric_window(run)) if full else None
        rows.append(
            dict(
                target=name,
                steps=T,
                eta=run.settings["eta"],
                T_over_T_star=T / t_star(t, run.settings["eta"]),
                loss_slope=late_slope(*h.window("excess_direct", 1)).slope,
                S_error_slope=late_slope(*h.window("S_error", 1)).slope,
                geometric_rate=fit.slope if full else float("nan"),
                hessian_rate=-hessian_rate(t, run.settings["eta"]) if full else float("nan"),
                final_excess=h.final("excess_direct"),
                target_spread=float((on.max() - on.min()) / on.mean()),
                student_spread=float(
                    (S[t.S_star > 0].max() - S[t.S_star > 0].min()) / S[t.S_star > 0].mean()
                ),
                ordered=order_fraction(S, t.S_star),
            )
        )
    return rows


def two_valued_check(log: CheckLog, run: Run, label: str) -> Check:
    """Lemma D.2's scores part on the support: the spread of ``S`` there (the ``on_spread``
    metric) at most :data:`EXACT` at every recorded step."""
    return log.close_to(
        f"{label}_lemma_D2_scores",
        f"{label} S*: Lemma D.2, S takes one value on the support at every step",
        float(np.max(run.history["on_spread"])),
        0.0,
        EXACT,
    )


def weighted_checks(log: CheckLog, runs: Mapping[str, Run]) -> tuple[Check, ...]:
    """The non-uniform section's checks: the uniform target's rate (:func:`rate`, the slow
    manifold's prediction) and Lemma D.2 there (value and scores, :data:`EXACT`); the Dirichlet
    target's loss ``1/T`` and ``||S - S*||_F`` ``1/sqrt(T)`` (:func:`power_rate_check`); the
    full-support target's geometric rate (:func:`geometric_checks`); ``W_V = C1(t) V*`` for
    every target (the value part of Lemma D.2 needs only the identity); and for the two
    non-uniform targets every support pair of ``S`` ordered as in ``S*`` (the scores part does not
    hold: ``S`` learns the weights)."""
    u, w, f = runs["uniform"], runs["dirichlet"], runs["full"]
    checks = [
        rate(
            log,
            u,
            "excess_loss",
            -1.0,
            "uniform S*: excess loss rate 1/T",
            name="uniform_loss_slope",
        ),
        two_valued_check(log, u, "uniform"),
        power_rate_check(log, w, "excess_loss", -1.0, "dirichlet"),
        power_rate_check(log, w, "S_error", -0.5, "dirichlet"),
        *geometric_checks(log, f),
    ]
    for name, run in runs.items():
        steps = run.history["step"]
        checks.append(
            log.close_to(
                f"{name}_lemma_D2_value",
                f"{name} S*: W_V(t) = C1(t) V* for all t >= 1 (identity)",
                float(np.max(1.0 - run.history["cosine"][steps >= 1])),
                0.0,
                EXACT,
            )
        )
    for name in ("dirichlet", "full"):
        run = runs[name]
        checks.append(
            log.at_least(
                f"{name}_weights_ordered",
                f"{name} S*: S orders every column's support entries as S* does",
                order_fraction(run.student.scores(), run.teacher.S_star),
                1.0,
                final_spread=support_spread(run.teacher)(run.student),
            )
        )
    return tuple(checks)


# --- input-dependent selection: the full transformer -----------------------------------------

#: the runs of the selection section: the task, and the model that learns it
SELECTION_RUNS = ("full, per-sample", "position-only, fixed", "position-only, per-sample")


def selection_runs(
    D: int, K: int, d: int, eta: float, steps: int, *, batch: int, init_scale: float, seed: int
) -> dict[str, Run]:
    """The full transformer on per-sample subsets given in the input
    (:func:`tltlib.examples.selection_full.train_full_selection`), and chapter 03's
    position-only student at the same ``eta`` and number of steps on a fixed subset (exact
    population GD, Theorem 3.1's setting) and on per-sample subsets it cannot see (online,
    the same batch, no label noise)."""
    full = train_full_selection(D, K, d, eta, steps, batch=batch, init_scale=init_scale, seed=seed)
    subset = random_subset(D, K, seed)
    fixed = train_population(subset_teacher(subset, D, d), eta, steps)
    blind = train_selection(
        subset,
        D,
        d,
        eta,
        steps,
        variant="per_sample",
        batch=batch,
        noise=0.0,
        seed=seed,
        dtype=torch.float64,
    )
    return dict(zip(SELECTION_RUNS, (full, fixed, blind), strict=True))


def task_metric(run: Run) -> str:
    """The metric of a selection run that is the excess loss *on its task*."""
    return "task_excess" if "task_excess" in run.history.values else "excess_loss"


def selection_table(runs: Mapping[str, Run], K: int) -> list[dict[str, float]]:
    """Per run: the final excess loss on its task, the position-only floor
    :func:`tltlib.examples.selection.per_sample_floor` of the per-sample task, and the late
    slope over ``[T/4, T]`` with its 95% interval."""
    rows = []
    for label, run in runs.items():
        h = run.history
        metric = task_metric(run)
        fit = late_slope(*h.window(metric, 0))
        interval = slope_interval(fit)
        D, d = (run.student.D, run.settings.get("d", run.student.d))
        rows.append(
            dict(
                run=label,
                final_excess=h.final(metric),
                per_sample_floor=per_sample_floor(D, K, d),
                late_slope=fit.slope,
                slope_low=interval.low,
                slope_high=interval.high,
            )
        )
    return rows


def log_rate_slope(run: Run) -> float:
    """The log-log slope over the run's late window ``[T/4, T]`` of ``log(t) / t``, Wang et al.'s
    ``O~(log T / T)``: about ``-1 + 1 / log T``, shallower than ``-1``."""
    t = run.history.window(task_metric(run), 0)[0]
    t = t[t >= max(2, t[-1] // 4)]
    return loglog_slope(t, np.log(t) / t).slope


def selection_rate_check(log: CheckLog, run: Run, label: str = "full_selection") -> Check:
    """The excess loss of a selection run falls at least like ``1/T``: its late slope is at most
    ``-1`` plus the book's ``SLOPE_ERROR`` and ``SLOPE_STDERRS`` standard errors of the fit. At
    finite ``T`` the fixed task's slope approaches ``-1`` from below (the slow manifold); a
    ``log T / T`` tail would sit near ``-1 + 1 / log T`` (recorded), a plateau near 0."""
    metric = task_metric(run)
    fit = late_slope(*run.history.window(metric, 0))
    interval = slope_interval(fit)
    return log.at_most(
        f"{label}_rate",
        f"{label.replace('_', ' ')}: the excess loss falls at least like 1/T",
        fit.slope,
        -1.0 + SLOPE_ERROR + SLOPE_STDERRS * fit.stderr,
        stderr=fit.stderr,
        interval=[interval.low, interval.high],
        log_T_over_T_slope=log_rate_slope(run),
    )


def below_floor_check(log: CheckLog, run: Run, K: int) -> Check:
    """The full transformer ends below :func:`tltlib.examples.selection.per_sample_floor`, the
    least excess any position-only student has on the per-sample task: its final excess (on
    the evaluation samples) plus ``SLOPE_STDERRS`` standard errors is at most the floor."""
    h, metric = run.history, task_metric(run)
    D, d = run.student.D, run.settings["d"]
    stderr = h.final("excess_stderr") if "excess_stderr" in h.values else 0.0
    return log.at_most(
        "full_selection_below_floor",
        "full transformer: below the position-only floor of the per-sample task",
        h.final(metric) + SLOPE_STDERRS * stderr,
        per_sample_floor(D, K, d),
        final_excess=h.final(metric),
    )


def selection_checks(log: CheckLog, runs: Mapping[str, Run], K: int) -> tuple[Check, ...]:
    """The selection section's checks: the full transformer's rate
    (:func:`selection_rate_check`) and floor (:func:`below_floor_check`), and the fixed-subset
    position-only student's rate against the slow manifold's prediction at its ``T``
    (:func:`tltlib.claims.training.rate`)."""
    full = runs["full, per-sample"]
    return (
        selection_rate_check(log, full),
        below_floor_check(log, full, K),
        rate(
            log,
            runs["position-only, fixed"],
            "excess_loss",
            -1.0,
            "position-only student, fixed subset: excess loss rate 1/T",
            name="fixed_selection_rate",
        ),
    )
