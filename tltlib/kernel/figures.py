"""Figures of the kernel-regime chapters (09a, 09b): errors against the width, the number of
inputs, the sequence length and the lag. Functions return the ``Figure``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from tltlib.core.fits import loglog_slope


def _seed_cloud(ax, x, values, color, label):
    """Each repetition as a faint dot, the mean as a line with markers."""
    values = np.asarray(values, dtype=float)
    if values.ndim == 2:
        for j in range(values.shape[1]):
            ax.plot(x, values[:, j], "o", color=color, alpha=0.25, ms=3)
        mean = values.mean(axis=1)
    else:
        mean = values
    ax.plot(x, mean, "o-", color=color, label=label, lw=1.5)
    return mean


def plot_width_errors(panels: Mapping[str, tuple[Sequence[int], np.ndarray]]) -> plt.Figure:
    """One log-log panel per error: the repetitions, their mean, the fitted power law and a
    reference line of slope ``-1/2`` through the first mean."""
    fig, axes = plt.subplots(
        1, len(panels), figsize=(3.8 * len(panels), 3.1), squeeze=False, layout="constrained"
    )
    for ax, (title, (widths, errors)) in zip(axes[0], panels.items(), strict=True):
        w = np.asarray(widths, dtype=float)
        mean = _seed_cloud(ax, w, errors, "C0", "mean over repetitions")
        fit = loglog_slope(w, mean)
        ax.plot(w, fit(w), "k--", lw=1, label=f"fit: slope {fit.slope:.2f}")
        ax.plot(w, mean[0] * (w / w[0]) ** -0.5, ":", color="grey", label="slope $-1/2$")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("width $m$")
        ax.set_title(title)
        ax.legend(loc="lower left")
    return fig


def plot_sup_growth(sizes: Sequence[int], sup_errors: np.ndarray) -> plt.Figure:
    """The uniform error over the first ``n`` inputs against ``n``, with the growth laws
    ``sqrt(log n)`` and ``sqrt(n)`` drawn through the first mean."""
    n = np.asarray(sizes, dtype=float)
    fig, ax = plt.subplots(figsize=(5.0, 3.2), layout="constrained")
    mean = _seed_cloud(ax, n, np.asarray(sup_errors).T, "C0", "measured (mean over inits)")
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
    _seed_cloud(ax, w, rel_train, "C0", "training")
    _seed_cloud(ax, w, rel_val, "C1", "validation")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("width $m$")
    ax.set_title(r"minimum loss over the run / Var$(y)$")
    ax.legend()
    return fig


def plot_sequence_length(sweep: Mapping[str, np.ndarray]) -> plt.Figure:
    """Left: the largest per-input Jacobian norm at the init and at the end, and its T-free
    bound. Right: the minimum training loss, its T-free guarantee, and the loss over Var(y)."""
    T = np.asarray(sweep["T"], dtype=float)
    fig, (a, b) = plt.subplots(1, 2, figsize=(8.6, 3.2), layout="constrained")
    _seed_cloud(a, T, sweep["J_init"], "C0", "measured, init")
    _seed_cloud(a, T, sweep["J_end"], "C1", "measured, end of training")
    _seed_cloud(a, T, sweep["J_bound"], "k", "T-free bound")
    a.set_title(r"$\max_j\|\nabla_\varphi f(X_j)\|$")
    _seed_cloud(b, T, sweep["min_train"], "C0", "min training loss")
    _seed_cloud(b, T, sweep["approx_loss"] + sweep["opt_term"], "k", "T-free guarantee")
    _seed_cloud(b, T, sweep["rel_train"], "C2", "min training loss / Var$(y)$")
    b.set_title("optimisation error")
    for ax in (a, b):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("sequence length $T$")
        ax.legend(fontsize=8)
    return fig


def plot_lags(
    jac: Mapping[str, np.ndarray], table: Mapping[str, Mapping[str, np.ndarray]]
) -> plt.Figure:
    """Left: per-window derivative norms at the init against the lag, with the recurrence's
    worst case ``1.5^T``. Middle and right: one training run per model (the paper's Figure)."""
    L = np.asarray(jac["L"], dtype=float)
    fig, (a, b, c) = plt.subplots(1, 3, figsize=(11.0, 3.2), layout="constrained")
    shown = [
        _seed_cloud(a, L, jac["tf_W_max"], "C0", r"transformer $\max_j\|\nabla_W f\|$"),
        _seed_cloud(a, L, jac["rnn_u_max"], "C3", r"IndRNN $\max_j\|\nabla_u f\|$"),
        _seed_cloud(a, L, jac["rnn_u_mean"], "C1", r"IndRNN mean$_j\|\nabla_u f\|$"),
    ]
    start = float(np.mean(jac["rnn_u_max"][0]))
    worst = jac["rnn_worst_case"] / jac["rnn_worst_case"][0] * start
    a.plot(L, worst, ":", color="C3", label=r"$1.5^{T}$ through the first point")
    low, high = min(float(v.min()) for v in shown), max(float(v.max()) for v in shown)
    a.set_ylim(low / 2, high * 30)
    a.set_title("derivatives at the initialisation")
    colours = {"transformer": "C0", "IndRNN": "C3"}
    for model, row in table.items():
        b.plot(row["L"], row["min_val"], "o-", color=colours.get(model), label=model)
        c.plot(row["L"], row["max_grad"], "o-", color=colours.get(model), label=model)
    b.axhline(0.19, color="grey", ls=":", lw=1, label="best possible (0.19)")
    b.set_title("min validation MSE (one run)")
    c.set_title(r"max $\|\nabla_W\|$ / $\|\nabla_u\|$ per block (one run)")
    for ax in (a, b, c):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("lag $L$ ($T = L + 1$)")
        ax.legend(fontsize=8)
    return fig
