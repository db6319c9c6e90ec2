"""Figures of chapter 09b's comparison over seeds: the AR(L) training runs with their 95%
bands, and the memory each model holds against the sequence length."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np

from tltlib.core.fits import mean_interval
from tltlib.kernel.figures import _seed_cloud

COLOURS = {"transformer": "C0", "IndRNN": "C3"}


def band(ax, x, values, colour: str, label: str, level: float = 0.95) -> None:
    """Each repetition as a faint dot, the mean as a line and its ``level`` interval over the
    repetitions (Student t) as a band."""
    values = np.asarray(values, dtype=float)
    intervals = [mean_interval(row, level) for row in values]
    for j in range(values.shape[1]):
        ax.plot(x, values[:, j], "o", color=colour, alpha=0.25, ms=3)
    ax.plot(x, [i.estimate for i in intervals], "o-", color=colour, lw=1.5, label=label)
    ax.fill_between(
        x, [i.low for i in intervals], [i.high for i in intervals], color=colour, alpha=0.18, lw=0
    )


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
        _seed_cloud(a, Lj, jac["tf_W_max"], "C0", r"transformer $\max_j\|\nabla_W f\|$"),
        _seed_cloud(a, Lj, jac["rnn_u_max"], "C3", r"IndRNN $\max_j\|\nabla_u f\|$"),
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
        band(b, L, sweep[model]["min_train"], colour, f"{model}: $L^{{a}}$, a = {slopes[model]}")
        band(c, L, sweep[model]["max_grad"], colour, model)
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
