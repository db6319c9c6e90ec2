"""Figures of the real-data chapter: training curves (Figure 4), learned scores and the
blank patches of a digit (Figure 5). Functions return the ``Figure``."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import Rectangle

from tltlib.core.history import History
from tltlib.figures.curves import plot_scores

BLANK_COLOUR = "#ffd700"  # the paper boxes the unlearned regions in yellow


def plot_training(
    histories: Mapping[str, History],
    baselines: Mapping[str, History] | None = None,
    pooling: str | None = "fg_topk",
) -> plt.Figure:
    """Figure 4: (a) the relative training loss, (b) ``cos(W_V, V*)``, and, if recorded, (c)
    the fraction of non-blank columns whose top rows are the pooling group. ``baselines``
    (same labels) are drawn dashed: students whose attention stayed uniform."""
    panels = [("relative_loss", "training loss / loss at start"), ("cosine", r"$\cos(W_V, V^*)$")]
    if pooling and all(pooling in h for h in histories.values()):
        panels.append((pooling, "columns with their pooling group on top"))
    fig, axes = plt.subplots(
        1, len(panels), figsize=(3.3 * len(panels), 3.0), squeeze=False, layout="constrained"
    )
    for ax, (metric, title) in zip(axes[0], panels, strict=True):
        for i, (label, h) in enumerate(histories.items()):
            t = h["step"]
            keep = t >= 1
            ax.plot(t[keep], h[metric][keep], color=f"C{i}", lw=1.5, label=label)
            base = (baselines or {}).get(label)
            if base is not None and metric in base:
                tb = base["step"]
                kb = tb >= 1
                ax.plot(
                    tb[kb],
                    base[metric][kb],
                    color=f"C{i}",
                    lw=1.0,
                    ls="--",
                    label=f"{label}, uniform attention",
                )
        ax.set_xscale("log")
        if metric == "relative_loss":
            ax.set_yscale("log")
        else:
            ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("step $t$")
        ax.set_title(title)
    axes[0][0].legend(loc="lower left")
    return fig


def plot_scores_with_blank(
    panels: Mapping[str, torch.Tensor], blank: torch.Tensor, vmax: float | None = None
) -> plt.Figure:
    """Figure 5(a-c): score heatmaps, with the rows of blank patches marked on the left edge."""
    fig = plot_scores(panels, vmax=vmax)
    rows = torch.nonzero(blank).flatten().numpy()
    D = len(blank)
    for ax in fig.axes[: len(panels)]:
        if len(rows):
            ax.plot(
                np.full(len(rows), -0.03 * D),
                rows,
                ls="none",
                marker=">",
                ms=3,
                color=BLANK_COLOUR,
                markeredgecolor="black",
                markeredgewidth=0.3,
                clip_on=False,
            )
        ax.set_xlim(-0.5, D - 0.5)
        ax.set_ylim(D - 0.5, -0.5)
    return fig


def plot_blank_digit(
    image: torch.Tensor,
    blank: torch.Tensor,
    patch: int,
    pool: int,
    title: str = "blank patches (attention not learned)",
) -> plt.Figure:
    """Figure 5(d): a digit with the patch grid, the pooling blocks (white) and the blank
    patches boxed in yellow."""
    img = np.asarray(image, dtype=float)
    size = img.shape[0]
    grid = size // patch
    fig, ax = plt.subplots(figsize=(3.4, 3.4), layout="constrained")
    ax.imshow(img, cmap="gray_r", vmin=0.0, vmax=1.0, interpolation="nearest")
    for k in range(1, grid):
        lw, colour = (1.2, "tab:blue") if k % pool == 0 else (0.3, "0.6")
        ax.axhline(k * patch - 0.5, color=colour, lw=lw)
        ax.axvline(k * patch - 0.5, color=colour, lw=lw)
    for i in torch.nonzero(blank).flatten().tolist():
        r, c = divmod(i, grid)
        ax.add_patch(
            Rectangle(
                (c * patch - 0.5, r * patch - 0.5),
                patch,
                patch,
                fill=False,
                edgecolor=BLANK_COLOUR,
                lw=2.0,
            )
        )
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    ax.set_title(title)
    return fig
