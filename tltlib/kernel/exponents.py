"""Fitted exponents with their 95% confidence intervals, checked against the exponent the
analysis of Arda, Cayci & Eryilmaz (2026) predicts (chapter 09a).

A check passes when the measured interval meets the theory's band ``[low, high]``: a single
exponent (``low = high``), or the range between the asymptotic exponent and its value at the
run's finite size (the teacher's own Monte Carlo error, the finite-``n`` maximum), each stated
where the band is built. Both intervals used here are symmetric, so the overlap is recorded as
``|estimate - centre| <= half-width of the band + half-width of the interval``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from tltlib.core.checks import Check, CheckLog
from tltlib.core.fits import (
    Interval,
    loglog_slope,
    mean_interval,
    seed_slopes_interval,
    slope_interval,
)
from tltlib.core.validate import positive_int
from tltlib.kernel.claims import decreasing

SOURCE = "Arda et al. 2026"


def seed_mean(values: np.ndarray) -> np.ndarray:
    """The mean over repetitions of ``values`` (points x seeds); a 1-d array is returned as is."""
    v = np.asarray(values, dtype=float)
    return v.mean(axis=1) if v.ndim == 2 else v


def mean_fit_interval(x: Sequence[float], values: np.ndarray, level: float = 0.95) -> Interval:
    """Student-t interval of the log-log slope of the seed mean of ``values`` (points x seeds)
    against ``x``: the fit's own error, which grows when the points leave a power law."""
    return slope_interval(loglog_slope(np.asarray(x, dtype=float), seed_mean(values)), level)


def exponent_check(
    log: CheckLog,
    name: str,
    claim: str,
    interval: Interval,
    low: float,
    high: float | None = None,
    **extra,
) -> Check:
    """Passes when ``interval`` meets the theory's band ``[low, high]`` (``high=None``: the
    single exponent ``low``)."""
    high = low if high is None else high
    low, high = min(low, high), max(low, high)
    half_ci = (interval.high - interval.low) / 2
    return log.close_to(
        name,
        claim,
        interval.estimate,
        (low + high) / 2,
        (high - low) / 2 + half_ci,
        interval=[float(interval.low), float(interval.high)],
        level=interval.level,
        points=interval.n,
        theory=[low, high],
        **extra,
    )


def teacher_floor_exponent(widths: Sequence[int], M: int) -> float:
    """The exponent that a random-feature error ``~ sqrt(2/m + 1/M)`` shows over ``widths``.

    A width-``m`` network carries ``m/2`` independent features (paired heads count twice) and
    the teacher is itself an ``M``-feature estimate drawn independently, so the two estimates of
    ``f~`` differ by a variance ``~ 2/m + 1/M``; the asymptotic exponent is ``-1/2``."""
    w = np.asarray([positive_int("m", m) for m in widths], dtype=float)
    return loglog_slope(w, np.sqrt(2 / w + 1 / positive_int("M", M))).slope


def few_features_allowance(widths: Sequence[int]) -> float:
    """How far the exponent fitted over ``widths`` may sit from the large-``m`` one because the
    smallest network averages only ``k = m_min/2`` independent features: the distribution of
    such an average departs from its Gaussian limit by a relative ``O(1/sqrt(k))`` (the
    Berry-Esseen rate), which can bend the fit over ``log(m_max/m_min)`` either way by
    ``log(1 + 1/sqrt(k)) / log(m_max/m_min)``."""
    w = [positive_int("m", m) for m in widths]
    k = min(w) / 2
    return math.log1p(1 / math.sqrt(k)) / math.log(max(w) / min(w))


def next_order_allowance(radii: Sequence[float], m: int) -> float:
    """How far the exponent in the radius, fitted over ``radii`` at width ``m``, may sit from 2:
    the next terms of the expansion of ``h_i`` are smaller than the leading one by a relative
    ``(rho/sqrt(m))^2`` at most (odd terms cancel in the mean over inputs only approximately, so
    the square is the conservative choice for ``rho/sqrt(m) < 1``), which can bend the fit over
    ``log(rho_max/rho_min)`` by ``log(1 + rho_max^2/m) / log(rho_max/rho_min)``."""
    r = [float(x) for x in radii]
    return math.log1p(max(r) ** 2 / positive_int("m", m)) / math.log(max(r) / min(r))


def gaussian_max_mean(n: int) -> float:
    """``E max_{j <= n} |Z_j|`` for ``n`` independent standard Gaussians (by quadrature)."""
    from scipy import integrate, special

    n = positive_int("n", n)
    value, _ = integrate.quad(lambda z: 1.0 - special.erf(z / math.sqrt(2.0)) ** n, 0.0, np.inf)
    return float(value)


def log_growth_exponent(sizes: Sequence[int], values: np.ndarray) -> np.ndarray:
    """Per row of ``values`` (seeds x sizes): the exponent ``beta`` of ``max_{j<=n} |e_j| ~
    (log n)^beta``, the slope of ``log`` max against ``log log n``."""
    sizes = [positive_int("n", n) for n in sizes]
    if min(sizes) < 3:
        raise ValueError(f"sizes must be >= 3 (log log n > 0), got {min(sizes)}")
    ll = np.log(np.log(np.asarray(sizes, dtype=float)))
    v = np.asarray(values, dtype=float)
    return np.array([loglog_slope(np.exp(ll), row).slope for row in np.atleast_2d(v)])


def log_growth_interval(sizes: Sequence[int], values: np.ndarray, level: float = 0.95) -> Interval:
    """Student-t interval of the seed mean of :func:`log_growth_exponent` (``values``: seeds x
    sizes)."""
    return mean_interval(log_growth_exponent(sizes, values), level)


def gaussian_log_exponent(sizes: Sequence[int]) -> float:
    """``beta`` of :func:`log_growth_exponent` for the expected maximum of independent Gaussians
    at these ``n``: ``1/2`` asymptotically (``sqrt(2 log n)``), larger at finite ``n``."""
    means = np.array([gaussian_max_mean(n) for n in sizes])
    return float(log_growth_exponent(sizes, means[None, :])[0])


# --- the chapter's checks -----------------------------------------------------------------


def width_exponent_checks(
    log: CheckLog,
    widths: Sequence[int],
    lin_err: np.ndarray,
    approx_err: np.ndarray,
    teacher_features: int,
) -> None:
    """Chapter 09a: each seed's exponent in the width is fitted, and the 95% interval of their
    mean meets the theory's band. Both errors are ``1/sqrt(m)`` times an average over ``m/2``
    independent heads, so both bands allow ``delta = few_features_allowance(widths)``: the
    linearisation error's band is ``[-1/2 - delta, -1/2 + delta]``, the random-feature error's
    ``[-1/2 - delta, teacher_floor_exponent(widths, M) + delta]``."""
    allowance = few_features_allowance(widths)
    exponent_check(
        log,
        "linearisation_slope",
        f"{SOURCE}: linearisation error ~ m^(-1/2) (95% interval of the exponent)",
        seed_slopes_interval(widths, lin_err),
        -0.5 - allowance,
        -0.5 + allowance,
        few_features=allowance,
        widths=list(widths),
        values=seed_mean(lin_err).tolist(),
        seeds=int(np.shape(lin_err)[1]),
    )
    floor = teacher_floor_exponent(widths, teacher_features)
    exponent_check(
        log,
        "approximation_slope",
        f"{SOURCE}: random-feature error (sup over n) ~ sqrt(2/m + 1/M) (95% interval)",
        seed_slopes_interval(widths, approx_err),
        -0.5 - allowance,
        floor + allowance,
        teacher_floor=floor,
        few_features=allowance,
        widths=list(widths),
        values=seed_mean(approx_err).tolist(),
        seeds=int(np.shape(approx_err)[1]),
    )


def radius_exponent_check(
    log: CheckLog, radii: Sequence[float], m: int, errors: np.ndarray
) -> Check:
    """Chapter 09a: at the width ``m`` the linearisation error grows like ``rho^2``: the 95%
    interval of the mean of the seeds' exponents meets ``[2 - delta, 2 + delta]``, ``delta =
    next_order_allowance(radii, m)``."""
    allowance = next_order_allowance(radii, m)
    return exponent_check(
        log,
        "linearisation_radius_slope",
        f"{SOURCE}: linearisation error ~ rho^2 (95% interval of the exponent)",
        seed_slopes_interval(radii, errors),
        2.0 - allowance,
        2.0 + allowance,
        next_order=allowance,
        m=m,
        radii=list(radii),
        values=seed_mean(errors).tolist(),
        seeds=int(np.shape(errors)[1]),
    )


def log_growth_check(log: CheckLog, sizes: Sequence[int], sup_errors: np.ndarray) -> Check:
    """Chapter 09a: the uniform error over the first ``n`` inputs (``sup_errors``: seeds x
    sizes) grows like ``(log n)^beta``; the 95% interval of the seed mean of ``beta`` meets
    ``[1/2, gaussian_log_exponent(sizes)]``."""
    return exponent_check(
        log,
        "sup_error_log_exponent",
        f"{SOURCE}: uniform error over n inputs ~ (log n)^(1/2) (95% interval of the exponent)",
        log_growth_interval(sizes, sup_errors),
        0.5,
        gaussian_log_exponent(sizes),
        sizes=list(sizes),
        values=seed_mean(np.asarray(sup_errors).T).tolist(),
        power_law_exponent=float(
            log_growth_exponent(sizes, np.sqrt(np.asarray(sizes, dtype=float))[None, :])[0]
        ),
    )


def training_exponent_checks(
    log: CheckLog,
    train_widths: Sequence[int],
    sweep: dict[str, np.ndarray],
    max_ratio: float = 0.95,
) -> None:
    """Chapter 09a, on :func:`tltlib.kernel.experiments.width_sweep` (``sweep["rel_train"]``,
    widths x seeds): the minimum training loss falls with every wider network (the largest
    ratio of consecutive seed means is at most ``max_ratio``), and the 95% interval of its
    exponent in ``m`` meets ``[-1/2, 0]`` (the width terms fall like ``m^(-1/2)``; the
    ``m``-free optimisation term flattens the total)."""
    rel_train = np.asarray(sweep["rel_train"], dtype=float)
    decreasing(
        log,
        "train_loss_decreasing",
        f"{SOURCE}: min training loss falls with the width (largest ratio)",
        rel_train.mean(axis=1),
        max_ratio,
    )
    exponent_check(
        log,
        "train_loss_width_slope",
        f"{SOURCE}: min training loss vs width, exponent in [-1/2, 0] (95% interval)",
        mean_fit_interval(train_widths, rel_train),
        -0.5,
        0.0,
        widths=list(train_widths),
        values=rel_train.mean(axis=1).tolist(),
        seeds=int(rel_train.shape[1]),
    )
