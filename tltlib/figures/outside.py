"""Figures of chapter 11 (outside the assumptions): online runs against a reference curve,
the K-close-to-D runs, non-uniform S* and input-dependent selection."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from tltlib.core.history import History


def plot_against_reference(
    histories: Mapping[str, History],
    reference: History,
    metric: str = "excess_loss",
    band: Sequence[History] = (),
) -> plt.Figure:
    """Left: ``metric`` of each run and of the reference (black, dashed), log-log. Right:
    ``log(metric / reference)`` over time, with the Gaussian runs of ``band`` in grey."""
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(8.0, 3.2), layout="constrained")
    t_ref, y_ref = reference["step"], reference[metric]
    keep = t_ref > 0
    for h in band:
        bx.plot(t_ref[keep], np.log(h[metric][keep] / y_ref[keep]), color="0.8", lw=0.8)
    for label, h in histories.items():
        ax.loglog(h["step"][keep], h[metric][keep], label=label)
        bx.semilogx(t_ref[keep], np.log(h[metric][keep] / y_ref[keep]), label=label)
    ax.loglog(t_ref[keep], y_ref[keep], "k--", label="population (prediction)")
    ax.set_xlabel("step $t$")
    ax.set_ylabel(metric.replace("_", " "))
    bx.axhline(0.0, color="k", lw=0.8)
    bx.set_xlabel("step $t$")
    bx.set_ylabel(f"log({metric.replace('_', ' ')} / population)")
    ax.legend(fontsize=7)
    return fig


def plot_k_runs(runs: Mapping) -> plt.Figure:
    """Left: excess loss, right: off-support attention mass (``off_mass``), each run of
    ``runs`` (``K`` -> run) against ``t / T*``, log-log."""
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(8.0, 3.2), layout="constrained")
    for K, run in runs.items():
        t, h = run.teacher, run.history
        scale = t.K * t.D**2 / (run.settings["eta"] * float((t.V_star**2).sum()))
        steps = h["step"]
        keep = steps > 0
        label = f"K/D = {K}/{t.D}"
        ax.loglog(steps[keep] / scale, h["excess_loss"][keep], label=label)
        bx.semilogx(steps[keep] / scale, h["off_mass"][keep], label=label)
    ax.set_xlabel("$t / T^*$")
    ax.set_ylabel("excess loss")
    bx.set_xlabel("$t / T^*$")
    bx.set_ylabel("attention off the support")
    ax.legend(fontsize=7)
    return fig


def plot_weighted(
    histories: Mapping[str, History],
    linearised: tuple[np.ndarray, np.ndarray],
    target_spreads: Mapping[str, float],
) -> plt.Figure:
    """Non-uniform ``S*``. Left: ``excess_direct`` of every run, log-log. Middle: the same for
    the ``full`` run against linear ``t``, with the linearised prediction ``(steps, excess)``
    (black, dashed). Right: ``on_spread`` (the spread of ``S`` on the support) of the sparse runs,
    with each target's spread dashed."""
    fig, (ax, bx, cx) = plt.subplots(1, 3, figsize=(10.0, 3.2), layout="constrained")
    for i, (label, h) in enumerate(histories.items()):
        t, y = h["step"], h["excess_direct"]
        keep = (t > 0) & (y > 0)
        ax.loglog(t[keep], y[keep], color=f"C{i}", label=label)
        if label == "full":
            bx.semilogy(t[keep], y[keep], color=f"C{i}", label="exact GD")
        if "on_spread" in h.values:
            cx.semilogx(t[t > 0], h["on_spread"][t > 0], color=f"C{i}", label=label)
            cx.axhline(target_spreads[label], color=f"C{i}", ls="--", lw=0.8)
    bx.semilogy(*linearised, "k--", lw=1.0, label="linearised (Hessian)")
    ax.set_xlabel("step $t$")
    ax.set_ylabel("excess loss")
    ax.legend(fontsize=7)
    bx.set_xlabel("step $t$")
    bx.set_ylabel("excess loss (full support)")
    bx.legend(fontsize=7)
    cx.set_xlabel("step $t$")
    cx.set_ylabel("spread of $S$ on the support")
    cx.legend(fontsize=7)
    return fig


def plot_selection(
    histories: Mapping[str, History], metrics: Mapping[str, str], floor: float
) -> plt.Figure:
    """Input-dependent selection. Left: the excess loss on its task of every run (``metrics``
    names the metric of each), log-log, with the position-only floor of the per-sample task
    (dashed). Right: ``subset_mass`` of the runs that record it."""
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(8.0, 3.2), layout="constrained")
    for i, (label, h) in enumerate(histories.items()):
        t = h["step"]
        keep = t > 0
        ax.loglog(t[keep], h[metrics[label]][keep], color=f"C{i}", label=label)
        if "subset_mass" in h.values:
            bx.semilogx(t[keep], h["subset_mass"][keep], color=f"C{i}", label=label)
    ax.axhline(floor, color="k", ls="--", lw=0.8, label="position-only floor")
    ax.set_xlabel("step $t$")
    ax.set_ylabel("excess loss on the task")
    ax.legend(fontsize=7)
    bx.axhline(1.0, color="k", lw=0.6)
    bx.set_xlabel("step $t$")
    bx.set_ylabel("attention mass on the given subset")
    bx.legend(fontsize=7)
    return fig
