"""Figures of chapter 09a with 95% bands across seeds, as the official plot scripts draw them:
the seed mean, its Student-t 95% band (three or more seeds; with fewer, each seed as a faint
dot), the fitted power law with the interval of its exponent, and the theory's slope.
Functions return the ``Figure``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from tltlib.core.fits import loglog_slope, mean_interval
from tltlib.kernel.exponents import mean_fit_interval, seed_slopes_interval


def seed_band(ax, x, values, color, label) -> np.ndarray:
    """The mean over seeds of ``values`` (points x seeds) as a line, with its 95% band (three
    or more seeds) or the single seeds as faint dots; returns the mean."""
    x = np.asarray(x, dtype=float)
    v = np.asarray(values, dtype=float)
    v = v[:, None] if v.ndim == 1 else v
    mean = v.mean(axis=1)
    if v.shape[1] >= 3:
        bands = [mean_interval(row) for row in v]
        low = np.array([max(b.low, 1e-3 * b.estimate) for b in bands])
        ax.fill_between(x, low, [b.high for b in bands], color=color, alpha=0.2, lw=0)
    else:
        for j in range(v.shape[1]):
            ax.plot(x, v[:, j], "o", color=color, alpha=0.3, ms=3)
    ax.plot(x, mean, "o-", color=color, label=label, lw=1.5)
    return mean


def plot_power_laws(
    panels: Mapping[str, tuple[Sequence[float], np.ndarray, float, str]],
) -> plt.Figure:
    """One log-log panel per entry ``title: (x, values, theory_exponent, x_label)``: the seed
    mean with its 95% band, the power law fitted to the mean with the 95% interval of the seeds'
    exponents, and the theory's power law through the first mean."""
    fig, axes = plt.subplots(
        1, len(panels), figsize=(3.8 * len(panels), 3.2), squeeze=False, layout="constrained"
    )
    for ax, (title, (x, values, theory, xlabel)) in zip(axes[0], panels.items(), strict=True):
        x = np.asarray(x, dtype=float)
        mean = seed_band(ax, x, values, "C0", "mean, 95% band over seeds")
        v = np.asarray(values, dtype=float)
        several = v.ndim == 2 and v.shape[1] >= 2
        iv = seed_slopes_interval(x, v) if several else mean_fit_interval(x, v)
        fit = loglog_slope(x, mean)
        ax.plot(
            x, fit(x), "k--", lw=1, label=f"fit: {iv.estimate:.2f} [{iv.low:.2f}, {iv.high:.2f}]"
        )
        ax.plot(x, mean[0] * (x / x[0]) ** theory, ":", color="grey", label=f"slope {theory:g}")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_title(title)
        ax.legend(loc="best", fontsize=8)
    return fig


def plot_sup_growth(sizes: Sequence[int], sup_errors: np.ndarray) -> plt.Figure:
    """The uniform error over the first ``n`` inputs (``sup_errors``: seeds x sizes) against
    ``n``, with its 95% band and the growth laws ``sqrt(log n)`` and ``sqrt(n)`` through the
    first mean."""
    n = np.asarray(sizes, dtype=float)
    fig, ax = plt.subplots(figsize=(5.0, 3.2), layout="constrained")
    mean = seed_band(ax, n, np.asarray(sup_errors).T, "C0", "mean, 95% band over inits")
    grid = np.geomspace(n[0], n[-1], 50)
    ax.plot(
        grid,
        mean[0] * np.sqrt(np.log(grid) / np.log(n[0])),
        "k--",
        lw=1,
        label=r"$\propto\sqrt{\log n}$",
    )
    ax.plot(grid, mean[0] * np.sqrt(grid / n[0]), ":", color="grey", label=r"$\propto\sqrt{n}$")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("number of inputs $n$")
    ax.set_title(r"$\max_{j\leq n}|f_{\rm lin}(X_j)-\tilde f(X_j)|$")
    ax.legend(loc="upper left")
    return fig


def plot_width_sweep(
    widths: Sequence[int], rel_train: np.ndarray, rel_val: np.ndarray
) -> plt.Figure:
    """Minimum training and validation loss (over the label variance) against the width."""
    w = np.asarray(widths, dtype=float)
    fig, ax = plt.subplots(figsize=(5.0, 3.2), layout="constrained")
    seed_band(ax, w, rel_train, "C0", "training")
    seed_band(ax, w, rel_val, "C1", "validation")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("width $m$")
    ax.set_title(r"minimum loss over the run / Var$(y)$")
    ax.legend()
    return fig
