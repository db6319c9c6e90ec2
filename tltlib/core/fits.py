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
