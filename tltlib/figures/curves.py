"""Figures of the book: score heatmaps (Figure 3), training curves (Figure 2).

Functions return the ``Figure``; chapters end their plotting cells with ``plt.show()``, which
displays it because :func:`use_book_style` puts a Jupyter kernel on the inline backend.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import torch

from tltlib.core.fits import SlopeFit
from tltlib.core.history import History

LABELS = {
    "excess_loss": r"excess loss $\mathcal{L}-\mathcal{L}_{\rm opt}$",
    "S_error": r"$\|S-S^*\|_F$",
    "WV_error": r"$\|W_V-V^*\|_F$",
    "cosine": r"$\cos(W_V, V^*)$",
    "norm_ratio": r"$\|W_V\|_F/\|V^*\|_F$",
    "ood_excess": "excess OOD loss",
    "S_on": r"$S$ on the support, $p(t)$",
    "S_off": r"$S$ off the support, $p(t)e_t$",
    "S_spread": r"relative spread of $S$ (Lemma D.2)",
    "limit_gap": r"$\|S-S_{\rm best}\|_F$",
    "task_excess": "excess loss on the task",
    "attention_min": r"attention on $i^*$, $\min_i S_{i^*i}$",
    "logistic_loss": "held-out logistic loss",
    "error": "held-out error rate",
    "value_norm": r"$\|W_V\|_F$",
}
LOG_METRICS = {
    "excess_loss",
    "S_error",
    "WV_error",
    "ood_excess",
    "limit_gap",
    "task_excess",
    "logistic_loss",
}


INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


def use_inline_backend() -> bool:
    """In a Jupyter kernel, draw with the inline backend whatever ``MPLBACKEND`` says.

    ipykernel selects the inline backend only when ``MPLBACKEND`` is unset; with
    ``MPLBACKEND=Agg`` (usual on headless machines) the kernel draws on Agg, ``plt.show()``
    displays nothing and a figure cell of the book has no image. Outside a kernel (a script,
    a terminal IPython, the tests) the backend is left alone. True if the kernel is inline.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None or getattr(shell, "kernel", None) is None:
        return False
    if mpl.get_backend().lower() not in (INLINE_BACKEND, "inline"):
        # figures drawn so far on the other backend were never displayed: drop them, or the
        # next plt.show() would display them too
        plt.close("all")
        # as `%matplotlib inline`: switch, and flush the figures left open after each cell
        shell.run_line_magic("matplotlib", "inline")
    return True


def use_book_style() -> None:
    """Fixed figure size, resolution and fonts for every chapter; silence known noise.

    In a Jupyter kernel it first selects the inline backend (:func:`use_inline_backend`), so
    that the book's figures appear whatever matplotlib backend the environment sets.
    """
    use_inline_backend()
    mpl.rcParams.update(
        {
            "figure.figsize": (8.0, 3.2),
            "figure.dpi": 100,
            "savefig.dpi": 100,
            "font.size": 10,
            "axes.titlesize": 10,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "legend.fontsize": 9,
            "legend.frameon": False,
            "image.cmap": "viridis",
        }
    )
    warnings.filterwarnings("ignore", category=DeprecationWarning)


def plot_scores(
    panels: Mapping[str, torch.Tensor | np.ndarray],
    vmax: float | None = None,
    title: str | None = None,
) -> plt.Figure:
    """Heatmaps of ``D x D`` score matrices side by side, on one colour scale."""
    mats = {k: np.asarray(torch.as_tensor(v, dtype=torch.float64)) for k, v in panels.items()}
    vmax = max(float(m.max()) for m in mats.values()) if vmax is None else vmax
    n = len(mats)
    fig, axes = plt.subplots(
        1, n, figsize=(3.0 * n + 0.6, 3.0), squeeze=False, layout="constrained"
    )
    im = None
    for ax, (label, m) in zip(axes[0], mats.items(), strict=True):
        im = ax.imshow(m, vmin=0.0, vmax=vmax, cmap="viridis", interpolation="nearest")
        ax.set_title(label)
        ax.set_xlabel("query $i$ (column)")
        ax.set_ylabel("key $i'$ (row)")
        ax.grid(False)
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.85)
    if title:
        fig.suptitle(title)
    return fig


def plot_curves(
    histories: Mapping[str, History],
    metrics: Sequence[str] = ("excess_loss", "S_error", "WV_error", "cosine"),
    fits: Mapping[tuple[str, str], SlopeFit] | None = None,
    t_star: float | None = None,
) -> plt.Figure:
    """One panel per metric, one curve per run; log-log for errors and losses.

    ``fits[(run_label, metric)]`` draws the fitted power law (dashed) over its window;
    ``t_star`` marks Theorem 3.1's time scale ``K D^2 / (eta ||V*||^2)``.
    """
    fits = dict(fits or {})
    fig, axes = plt.subplots(
        1, len(metrics), figsize=(3.3 * len(metrics), 3.0), squeeze=False, layout="constrained"
    )
    for ax, metric in zip(axes[0], metrics, strict=True):
        for i, (label, h) in enumerate(histories.items()):
            t, y = h["step"], h[metric]
            keep = t >= 1
            ax.plot(t[keep], y[keep], color=f"C{i}", label=label, lw=1.5)
            fit = fits.get((label, metric))
            if fit is not None:
                xs = np.geomspace(fit.x_min, fit.x_max, 20)
                ax.plot(xs, fit(xs), "k--", lw=1.0)
                ax.annotate(
                    f"slope {fit.slope:.2f}",
                    (xs[-1], fit(xs[-1])),
                    textcoords="offset points",
                    xytext=(-60, 8 + 12 * i),
                    fontsize=8,
                    color=f"C{i}",
                )
        ax.set_xscale("log")
        if metric in LOG_METRICS:
            ax.set_yscale("log")
        if t_star is not None:
            ax.axvline(t_star, color="grey", ls=":", lw=1)
        ax.set_xlabel("step $t$")
        ax.set_title(LABELS.get(metric, metric))
    axes[0][0].legend(loc="lower left")
    return fig
