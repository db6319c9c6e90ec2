"""Least-squares fits used by the checks: log-log slopes with their standard errors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SlopeFit:
    """``log y = intercept + slope * log x``, fitted on ``n`` points of ``[x_min, x_max]``."""

    slope: float
    intercept: float
    stderr: float
    n: int
    x_min: float
    x_max: float

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.exp(self.intercept) * np.asarray(x, dtype=float) ** self.slope


def loglog_slope(x: np.ndarray, y: np.ndarray) -> SlopeFit:
    """Least-squares slope of ``log y`` against ``log x`` (needs 3 or more positive points)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = (x > 0) & (y > 0) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < 3:
        raise ValueError(f"a log-log fit needs at least 3 positive points, got {len(x)}")
    lx, ly = np.log(x), np.log(y)
    A = np.stack([lx, np.ones_like(lx)], axis=1)
    (slope, intercept), *_ = np.linalg.lstsq(A, ly, rcond=None)
    resid = ly - A @ np.array([slope, intercept])
    dof = max(len(x) - 2, 1)
    stderr = float(np.sqrt(resid @ resid / dof / ((lx - lx.mean()) ** 2).sum()))
    return SlopeFit(float(slope), float(intercept), stderr, len(x), float(x.min()), float(x.max()))


def late_start(T: int, fraction: float = 0.25) -> int:
    """The first step of the late window ``[fraction T, T]`` where the slopes are fitted."""
    return max(1, int(fraction * T))


def late_slope(t, y, fraction: float = 0.25) -> SlopeFit:
    """:func:`loglog_slope` of ``y`` against ``t`` over the late window ``[fraction T, T]``
    (``T = t[-1]``)."""
    t, y = np.asarray(t), np.asarray(y)
    keep = t >= late_start(int(t[-1]), fraction)
    return loglog_slope(t[keep], y[keep])


@dataclass(frozen=True)
class Interval:
    """A confidence interval ``[low, high]`` around ``estimate`` at confidence ``level``."""

    estimate: float
    low: float
    high: float
    n: int
    level: float = 0.95

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies inside the interval."""
        return self.low <= value <= self.high

    def overlaps(self, low: float, high: float) -> bool:
        """Whether the interval meets ``[low, high]`` (a prediction with its own error)."""
        return self.low <= high and low <= self.high

    def __str__(self) -> str:
        return f"{self.estimate:.3f} [{self.low:.3f}, {self.high:.3f}]"


def _t_quantile(level: float, dof: int) -> float:
    from scipy import stats

    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    return float(stats.t.ppf(0.5 + level / 2, dof))


def mean_interval(values, level: float = 0.95) -> Interval:
    """Student-t interval of the mean of independent measurements (one per seed, say)."""
    v = np.asarray(values, dtype=float).ravel()
    if len(v) < 2 or not np.all(np.isfinite(v)):
        raise ValueError(f"mean_interval needs 2 or more finite values, got {v.tolist()}")
    half = _t_quantile(level, len(v) - 1) * float(v.std(ddof=1)) / np.sqrt(len(v))
    m = float(v.mean())
    return Interval(m, m - half, m + half, len(v), level)


def slope_interval(fit: SlopeFit, level: float = 0.95) -> Interval:
    """Student-t interval of a fitted slope (``n - 2`` degrees of freedom)."""
    half = _t_quantile(level, max(fit.n - 2, 1)) * fit.stderr
    return Interval(fit.slope, fit.slope - half, fit.slope + half, fit.n, level)


def seed_slopes(x, values) -> np.ndarray:
    """The log-log slope of ``values`` (points x seeds) against ``x``, one per seed."""
    v = np.asarray(values, dtype=float)
    if v.ndim != 2 or v.shape[1] < 2:
        raise ValueError(f"values must be points x seeds with 2 or more seeds, got {v.shape}")
    x = np.asarray(x, dtype=float)
    return np.array([loglog_slope(x, v[:, j]).slope for j in range(v.shape[1])])


def seed_slopes_interval(x, values, level: float = 0.95) -> Interval:
    """Student-t interval of the mean over seeds of each seed's log-log slope (``values`` is
    points x seeds): the spread over seeds is the measurement's error."""
    return mean_interval(seed_slopes(x, values), level)


def pooled_slope_interval(x, values, level: float = 0.95) -> Interval:
    """Student-t interval of the log-log slope fitted to every (point, repetition) pair of
    ``values`` (points x repetitions), for repetitions that are independent draws at every
    point (a new teacher, data set and initialisation): the scatter about the line is the
    measurement's error, with ``points x repetitions - 2`` degrees of freedom."""
    v = np.asarray(values, dtype=float)
    if v.ndim != 2:
        raise ValueError(f"values must be points x repetitions, got shape {v.shape}")
    xs = np.repeat(np.asarray(x, dtype=float), v.shape[1])
    return slope_interval(loglog_slope(xs, v.ravel()), level)
