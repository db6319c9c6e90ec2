"""Figures of chapter 11 (outside the assumptions): online runs against a reference curve."""

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
