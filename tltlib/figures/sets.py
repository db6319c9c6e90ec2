"""Figure 2 of the paper: the six experimental sets (:mod:`tltlib.claims.sets` trains them)."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt

PANELS = (
    ("excess_loss", "(a) excess training loss"),
    ("ood_excess", "(b) excess OOD loss (exponential inputs)"),
    ("cosine", r"(c) $\cos(W_V, V^*)$"),
)


def draw(runs: Mapping) -> plt.Figure:
    """Figure 2: one panel per quantity of :data:`PANELS`, one curve per run (log-log for the
    losses, log-x for the cosine)."""
    if not runs:
        raise ValueError("draw needs at least one run")
    fig, axes = plt.subplots(1, 3, figsize=(11.0, 3.3), layout="constrained")
    for ax, (metric, title) in zip(axes, PANELS, strict=True):
        for j, (label, run) in enumerate(runs.items()):
            t, y = run.history["step"], run.history[metric]
            keep = t >= 1
            ax.plot(t[keep], y[keep], color=f"C{j}", label=label, lw=1.4)
        ax.set_xscale("log")
        if metric != "cosine":
            ax.set_yscale("log")
        ax.set_xlabel("iteration $t$")
        ax.set_title(title)
    axes[2].set_ylim(top=1.02)
    axes[0].legend(loc="lower left", fontsize=8)
    return fig
