"""Figures of the kernel-regime chapters (09a, 09b), drawn as the official plot scripts draw
them: each seed as a faint dot, the seed mean as a line with its Student-t 95% band (three or
more seeds), fitted power laws with the interval of their exponent, and the theory's slopes.
Functions return the ``Figure``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from tltlib.core.display import MarkdownTable
from tltlib.core.fits import loglog_slope, mean_interval
from tltlib.core.paths import CHAPTERS
from tltlib.core.stored import load_table
from tltlib.kernel.exponents import mean_fit_interval, seed_slopes_interval

COLOURS = {"transformer": "C0", "IndRNN": "C3"}

LAGS_DATA = CHAPTERS / "data" / "ar_lags.json"
"""Where the stored larger AR(L) comparison is (written by :data:`LAGS_COMMAND`)."""

LAGS_COMMAND = "python -m tltlib.kernel.lag_grid"
"""The one command that runs the larger comparison (:mod:`tltlib.kernel.lag_grid`, not imported
by the package, so that it runs as a script) and writes :data:`LAGS_DATA`."""


def load_lags(path=LAGS_DATA) -> dict:
    """The stored table of the larger AR(L) comparison (see :data:`LAGS_COMMAND`)."""
    return load_table(path, LAGS_COMMAND)


def seed_band(ax, x, values, color, label, level: float = 0.95) -> np.ndarray:
    """``values`` (points x seeds, or one value a point) against ``x``: each seed as a faint dot,
    the mean as a line, and with three or more seeds its ``level`` Student-t band (kept above
    zero, for log axes); returns the mean."""
    x = np.asarray(x, dtype=float)
    v = np.asarray(values, dtype=float)
    v = v[:, None] if v.ndim == 1 else v
    mean = v.mean(axis=1)
    if v.shape[1] > 1:
        for j in range(v.shape[1]):
            ax.plot(x, v[:, j], "o", color=color, alpha=0.25, ms=3)
    if v.shape[1] >= 3:
        bands = [mean_interval(row, level) for row in v]
        low = np.array([max(b.low, 1e-3 * b.estimate) for b in bands])
        ax.fill_between(x, low, [b.high for b in bands], color=color, alpha=0.2, lw=0)
    ax.plot(x, mean, "o-", color=color, label=label, lw=1.5)
    return mean


def plot_sequence_length(sweep: Mapping[str, np.ndarray]) -> plt.Figure:
    """Left: the largest per-input Jacobian norm at the init and at the end, and its T-free
    bound. Right: the minimum training loss, its T-free guarantee, and the loss over Var(y)."""
    T = np.asarray(sweep["T"], dtype=float)
    fig, (a, b) = plt.subplots(1, 2, figsize=(8.6, 3.2), layout="constrained")
    seed_band(a, T, sweep["J_init"], "C0", "measured, init")
    seed_band(a, T, sweep["J_end"], "C1", "measured, end of training")
    seed_band(a, T, sweep["J_bound"], "k", "T-free bound")
    a.set_title(r"$\max_j\|\nabla_\varphi f(X_j)\|$")
    seed_band(b, T, sweep["min_train"], "C0", "min training loss")
    seed_band(b, T, sweep["approx_loss"] + sweep["opt_term"], "k", "T-free guarantee")
    seed_band(b, T, sweep["rel_train"], "C2", "min training loss / Var$(y)$")
    b.set_title("optimisation error")
    for ax in (a, b):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("sequence length $T$")
        ax.legend(fontsize=8)
    return fig


# --- chapter 09a: power laws over seeds -----------------------------------------------------


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


# --- chapter 09b: the AR(L) comparison and the memory ------------------------------------------


def plot_lag_sweep(
    jac: Mapping[str, np.ndarray],
    sweep: Mapping[str, Mapping[str, np.ndarray]],
    slopes: Mapping[str, object],
) -> plt.Figure:
    """Left: derivative norms at the initialisation against the lag with the recurrence's
    worst case. Middle: the minimum training MSE of both models over the seeds of
    :func:`tltlib.kernel.length.lag_sweep`, with 95% bands and the fitted exponents
    (``slopes``: model -> interval). Right: the paper's gradient measure, same bands."""
    fig, (a, b, c) = plt.subplots(1, 3, figsize=(11.0, 3.2), layout="constrained")
    Lj = np.asarray(jac["L"], dtype=float)
    shown = [
        seed_band(a, Lj, jac["tf_W_max"], "C0", r"transformer $\max_j\|\nabla_W f\|$"),
        seed_band(a, Lj, jac["rnn_u_max"], "C3", r"IndRNN $\max_j\|\nabla_u f\|$"),
    ]
    start = float(np.mean(jac["rnn_u_max"][0]))
    a.plot(
        Lj,
        jac["rnn_worst_case"] / jac["rnn_worst_case"][0] * start,
        ":",
        color="C3",
        label=r"$1.5^{T}$ through the first point",
    )
    low, high = min(float(v.min()) for v in shown), max(float(v.max()) for v in shown)
    a.set_ylim(low / 2, high * 30)
    a.set_title("derivatives at the initialisation")
    L = np.asarray(sweep["L"], dtype=float)
    for model, colour in COLOURS.items():
        seed_band(
            b, L, sweep[model]["min_train"], colour, f"{model}: $L^{{a}}$, a = {slopes[model]}"
        )
        seed_band(c, L, sweep[model]["max_grad"], colour, model)
    b.set_title("min training MSE, 95% band over seeds")
    c.set_title(r"max $\|\nabla_W\|$ / $\|\nabla_u\|$ per block, 95% band")
    for ax in (a, b, c):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("lag $L$ ($T = L + 1$)")
        ax.legend(fontsize=7)
    return fig


def plot_memory(memory: Mapping[str, np.ndarray]) -> plt.Figure:
    """Floats held against the sequence length: at inference (streaming) and saved for the
    backward pass, for both models."""
    T = np.asarray(memory["T"], dtype=float)
    fig, ax = plt.subplots(figsize=(5.0, 3.2), layout="constrained")
    for key, colour, style, label in (
        ("tf_inference", "C0", "o-", "transformer, inference"),
        ("rnn_inference", "C3", "o-", "IndRNN, inference"),
        ("tf_training", "C0", "s--", "transformer, saved for backward"),
        ("rnn_training", "C3", "s--", "IndRNN, saved for backward"),
    ):
        ax.plot(T, memory[key], style, color=colour, label=label, ms=4)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("sequence length $T$")
    ax.set_ylabel("floats per sequence")
    ax.legend(fontsize=7)
    return fig


def stored_lag_table(table: Mapping, slopes: Mapping[int, Mapping[str, object]]) -> MarkdownTable:
    """One row per chapter seed of the stored larger comparison (:mod:`tltlib.kernel.lag_grid`):
    the exponent of each model's minimum training loss in ``L`` and of their paired difference,
    each with its 95% interval over the repetitions (``slopes``: seed -> model -> interval)."""
    s = table["settings"]
    rows = [
        f"Stored by `{table['command']}`: lags {s['lags']}, ar_n {s['n']}, ar_m {s['m']}, "
        f"{s['steps']} steps, {s['repetitions']} repetitions per seed; commit "
        f"{table['commit']}{' (with uncommitted changes)' if table['dirty'] else ''}, "
        f"{table['date']}.",
        "",
        "| seed | transformer a | IndRNN a | IndRNN minus transformer |",
        "|---|---|---|---|",
    ]
    for seed, sl in slopes.items():
        rows.append(f"| {seed} | {sl['transformer']} | {sl['IndRNN']} | {sl['difference']} |")
    return MarkdownTable("\n".join(rows))
