"""Figures of the theorem chapters: the phases of training, scaling collapses, the step size,
out-of-distribution curves and Figure 1 (the full transformer); Figure 2 (all six sets) is
:mod:`tltlib.figures.sets`.

Every function returns the ``Figure``; chapters end their plotting cells with ``plt.show()``.
The closed forms drawn beside the measurements come from :mod:`tltlib.model.theory`; the
results (reduced runs, sweeps) are taken as they are, without importing their types.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from tltlib.core.fits import SlopeFit
from tltlib.model import theory


def _loglog(ax) -> None:
    ax.set_xscale("log")
    ax.set_yscale("log")


def plot_phases(run, i: int = 0) -> plt.Figure:
    """Excess loss, ``C1`` and ``p`` of setting ``i`` of a reduced run
    (:class:`tltlib.train.reduced.ReducedRun`) against the step, with the slow-manifold closed
    form (dashed), the asymptote ``D(D-K)K/(4 eta T)`` (dotted) and the three phases
    (dash-dotted), all from :mod:`tltlib.model.theory`."""
    s = run.settings(i)
    D, K, eta, v = s["D"], s["K"], s["eta"], s["v"]
    t = run.steps
    keep = t >= 1
    manifold = theory.slow_manifold_curve(D, K, eta, v, t[-1])
    ph = theory.phases(run, i)
    fig, axes = plt.subplots(1, 3, figsize=(11.0, 3.2), layout="constrained")
    ax = axes[0]
    ax.plot(t[keep], run["excess_loss"][i][keep], lw=1.8, label="reduced GD")
    ax.plot(manifold["step"], manifold["excess_loss"], "k--", lw=1, label="slow manifold")
    ax.plot(
        t[keep],
        theory.asymptotic_excess_constant(D, K, eta) / t[keep],
        "k:",
        lw=1,
        label=r"$D(D-K)K/(4\eta T)$",
    )
    _loglog(ax)
    ax.set_ylim(run["excess_loss"][i][-1] / 3, 2 * run["excess_loss"][i][keep].max())
    ax.set_title(r"excess loss $\mathcal{L}-\mathcal{L}_{\rm opt}$")
    ax.legend(loc="lower left")
    ax = axes[1]
    ax.plot(t[keep], run["C1"][i][keep], lw=1.8)
    ax.plot(manifold["step"], manifold["C1"], "k--", lw=1)
    ax.axhline(float(theory.peak_C1(D, K)), color="grey", ls=":", lw=1)
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_xscale("log")
    ax.set_title(r"$C_1(t)=\|W_V\|_F/\|V^*\|_F$ (dotted: predicted peak)")
    ax = axes[2]
    ax.plot(t[keep], run["S_on"][i][keep], lw=1.8, label="on the support, $p$")
    ax.plot(t[keep], run["S_off"][i][keep], lw=1.8, label="off it, $pe_t$")
    ax.axhline(1 / K, color="grey", lw=0.8)
    ax.axhline(1 / (2 * K), color="grey", ls=":", lw=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_title(r"attention $S$")
    ax.legend(loc="lower left")
    for ax in axes:
        for x in (ph["value_learned"], ph["attention_learned"]):
            if x > 0:
                ax.axvline(x, color="C3", ls="-.", lw=0.9)
        ax.set_xlabel("step $t$")
    ymax = axes[1].get_ylim()[1]
    for label, (a, b) in {
        "1": (1, ph["value_learned"]),
        "2": (ph["value_learned"], ph["attention_learned"]),
        "3": (ph["attention_learned"], t[-1]),
    }.items():
        if a > 0 and b > a:
            axes[1].text(np.sqrt(a * b), 0.93 * ymax, label, color="C3", ha="center", va="top")
    return fig


def plot_scaling(
    settings: Mapping[str, np.ndarray], measured: Mapping[str, np.ndarray]
) -> plt.Figure:
    """(a) ``T (L - L_opt)`` against the theorem's ``K D^4/eta``; (b) against our
    ``D(D-K)K/(4 eta)``; (c) ``T*`` against the theorem's ``K D^2/(eta ||V*||^2)``. Colour = D."""
    D, K, eta, v = (np.asarray(settings[f], float) for f in ("D", "K", "eta", "v"))
    y, ts = measured["T_excess"], measured["T_star"]
    colours = {d: f"C{j}" for j, d in enumerate(np.unique(D))}
    c = [colours[d] for d in D]
    fig, axes = plt.subplots(1, 3, figsize=(11.0, 3.4), layout="constrained")
    panels = (
        (
            K * D**4 / eta,
            y,
            r"$KD^4/\eta$ (Theorem 3.1)",
            r"$T\,(\mathcal{L}-\mathcal{L}_{\rm opt})$",
        ),
        (
            theory.asymptotic_excess_constant(D, K, eta),
            y,
            r"$D(D-K)K/(4\eta)$ (slow manifold)",
            r"$T\,(\mathcal{L}-\mathcal{L}_{\rm opt})$",
        ),
        (
            K * D**2 / (eta * v),
            ts,
            r"$KD^2/(\eta\|V^*\|_F^2)$ (Theorem 3.1)",
            r"$T^*$: first $t$ with $p\geq 1/(2K)$",
        ),
    )
    for ax, (xv, yv, xl, yl) in zip(axes, panels, strict=True):
        ax.scatter(xv, yv, c=c, s=12)
        fit = np.polyfit(np.log(xv), np.log(yv), 1)
        xs = np.geomspace(xv.min(), xv.max(), 10)
        ax.plot(xs, np.exp(np.polyval(fit, np.log(xs))), "k--", lw=1, label=f"slope {fit[0]:.2f}")
        _loglog(ax)
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
        ax.legend(loc="upper left")
    for d, col in colours.items():
        axes[0].scatter([], [], c=col, s=12, label=f"D={d:g}")
    axes[0].legend(loc="upper left", fontsize=8)
    return fig


def plot_stability(
    sweep,
    runs: Mapping | None = None,
    theorem_eta: float | None = None,
) -> plt.Figure:
    """A :class:`tltlib.claims.scaling.StabilitySweep` and reduced runs: (a) late ``||S||_F^2``
    (mean, and its range as a band) against ``eta``, with the target
    ``D/K``, the edge ``2/eta``, the bound ``2K/D`` and divergence; (b) excess loss against
    ``eta t`` for a few step sizes (gradient-flow time)."""
    n = 2 if runs else 1
    fig, axes = plt.subplots(
        1, n, figsize=(5.2 * n + 0.6, 3.4), squeeze=False, layout="constrained"
    )
    ax = axes[0][0]
    ok = ~sweep.diverged
    ax.fill_between(
        sweep.eta[ok], sweep.S_fro2_min[ok], sweep.S_fro2_max[ok], color="C0", alpha=0.25, lw=0
    )
    ax.plot(
        sweep.eta[ok],
        sweep.S_fro2_mean[ok],
        "o-",
        ms=3,
        color="C0",
        label=r"late $\|S\|_F^2$ (mean, range)",
    )
    ax.plot(sweep.eta, 2 / sweep.eta, "k--", lw=1, label=r"$2/\eta$")
    ax.axhline(sweep.D / sweep.K, color="C2", lw=1, label=r"$\|S^*\|_F^2=D/K$")
    ax.axvline(sweep.bound, color="grey", ls=":", lw=1)
    ax.axvline(2.0, color="C3", ls=":", lw=1)
    if sweep.diverged.any():
        ax.plot(
            sweep.eta[sweep.diverged],
            np.full(sweep.diverged.sum(), 0.9 * sweep.D / sweep.K),
            "x",
            color="C3",
            label="diverged",
        )
    if theorem_eta is not None:
        ax.axvline(theorem_eta, color="C1", ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_ylim(0.5, 1.3 * sweep.D / sweep.K)
    ax.set_xlabel(r"step size $\eta$")
    ax.set_title(f"after {sweep.steps:,} steps (D={sweep.D}, K={sweep.K})")
    ax.legend(loc="lower left", fontsize=8)
    if runs:
        ax = axes[0][1]
        for j, (label, run) in enumerate(runs.items()):
            t = run.steps[run.steps >= 1]
            ax.plot(
                run.eta[0] * t, run["excess_loss"][0][run.steps >= 1], color=f"C{j}", label=label
            )
        _loglog(ax)
        ax.set_xlabel(r"gradient-flow time $\eta t$")
        ax.set_title("excess loss")
        ax.legend(loc="lower left", fontsize=8)
    return fig


def plot_slopes(
    histories: Mapping[str, object],
    metric: str,
    fits: Mapping[str, SlopeFit] | None = None,
    ylabel: str = "",
) -> plt.Figure:
    """One log-log panel of ``metric`` for several histories, with fitted power laws dashed."""
    fig, ax = plt.subplots(figsize=(5.6, 3.4), layout="constrained")
    for j, (label, h) in enumerate(histories.items()):
        t, y = np.asarray(h["step"]), np.asarray(h[metric])
        keep = (t >= 1) & (y > 0)
        ax.plot(t[keep], y[keep], color=f"C{j}", label=label)
        fit = (fits or {}).get(label)
        if fit is not None:
            xs = np.geomspace(fit.x_min, fit.x_max, 10)
            ax.plot(xs, fit(xs), "k--", lw=1)
    _loglog(ax)
    ax.set_xlabel("step $t$")
    ax.set_ylabel(ylabel or metric)
    ax.legend(loc="lower left", fontsize=8)
    return fig


def plot_ood(
    steps: np.ndarray,
    curves: Mapping[tuple[str, str], np.ndarray],
    t_eps: Mapping[tuple[str, str], tuple[np.ndarray, np.ndarray]],
) -> plt.Figure:
    """(a) OOD excess with teacher labels, every family; (b) with the worst-case labels (solid)
    and another teacher's labels (dashed: minus the excess, which is negative); (c) ``T_eps``
    against ``eps``. Reference slopes dotted."""
    fig, axes = plt.subplots(1, 3, figsize=(11.0, 3.4), layout="constrained")
    kinds = list(dict.fromkeys(k for k, _ in curves))
    colour = {k: f"C{j}" for j, k in enumerate(kinds)}
    t = np.asarray(steps)
    keep = t >= 1
    for (kind, label), c in curves.items():
        if label == "teacher":
            axes[0].plot(t[keep], c[keep], color=colour[kind], label=kind)
        elif label == "worst_case":
            axes[1].plot(t[keep], c[keep], color=colour[kind], label=kind)
        else:
            axes[1].plot(t[keep], -c[keep], color=colour[kind], ls="--", lw=1)
    for ax, power in ((axes[0], -1.0), (axes[1], -0.5)):
        xs = np.array([t[-1] / 1000, t[-1]])
        y0 = ax.lines[0].get_ydata()[-1] * 3
        ax.plot(xs, y0 * (xs / xs[-1]) ** power, "k:", lw=1, label=f"slope {power:g}")
        _loglog(ax)
        ax.set_xlabel("step $t$")
        ax.legend(loc="lower left", fontsize=8)
    axes[0].set_title("teacher labels: excess OOD loss")
    axes[1].set_title("worst case (solid), other teacher (dashed, sign flipped)")
    for (kind, label), (eps, te) in t_eps.items():
        ok = np.isfinite(te)
        axes[2].plot(
            eps[ok], te[ok], "o-" if label == "teacher" else "s--", ms=3, color=colour[kind]
        )
    axes[2].plot([], [], "ko-", ms=3, label="teacher labels")
    axes[2].plot([], [], "ks--", ms=3, label="worst case")
    _loglog(axes[2])
    axes[2].set_xlabel(r"$\epsilon$")
    axes[2].set_ylabel(r"$T_\epsilon$")
    axes[2].set_title(r"$T_\epsilon$: first $T$ with excess $\leq\epsilon$ from then on")
    axes[2].legend(loc="lower left", fontsize=8)
    return fig


def plot_figure1(model, d: int) -> plt.Figure:
    """Figure 1: heatmaps of (a) ``W~_V`` and (b) ``W~_KQ`` of a trained full transformer, with
    the feature / position blocks separated (white lines at ``d``)."""
    W_V, W_KQ = model.W_V.numpy(), model.W_KQ.numpy()
    fig, axes = plt.subplots(
        1, 2, figsize=(10.0, 4.0), layout="constrained", gridspec_kw={"width_ratios": [1.0, 1.0]}
    )
    for ax, W, title in (
        (axes[0], W_V, r"(a) $\widetilde W_V$: features | positions"),
        (axes[1], W_KQ, r"(b) $\widetilde W_{KQ}$: [features; positions]$^2$"),
    ):
        lim = float(np.abs(W).max())
        im = ax.imshow(
            W, cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest", aspect="auto"
        )
        ax.axvline(d - 0.5, color="k", lw=1)
        if W.shape[0] == W.shape[1]:
            ax.axhline(d - 0.5, color="k", lw=1)
        ax.set_title(title)
        ax.grid(False)
        fig.colorbar(im, ax=ax, shrink=0.8)
    return fig


def plot_block_changes(history) -> plt.Figure:
    """``||block(t) - block(0)||_F`` of every block of ``W~_V`` (left) and ``W~_KQ`` (right)."""
    fig, axes = plt.subplots(1, 2, figsize=(10.0, 3.2), layout="constrained")
    t = np.asarray(history["step"])
    keep = t >= 1
    for ax, prefix in ((axes[0], "V:"), (axes[1], "KQ:")):
        for j, name in enumerate(k for k in history if k.startswith(prefix)):
            ax.plot(
                t[keep], np.asarray(history[name])[keep], color=f"C{j}", label=name[len(prefix) :]
            )
        _loglog(ax)
        ax.set_xlabel("step $t$")
        ax.legend(loc="upper left", fontsize=8)
    axes[0].set_title(r"change of the blocks of $\widetilde W_V$")
    axes[1].set_title(r"change of the blocks of $\widetilde W_{KQ}$")
    return fig


__all__: Sequence[str] = (
    "plot_block_changes",
    "plot_figure1",
    "plot_ood",
    "plot_phases",
    "plot_scaling",
    "plot_slopes",
    "plot_stability",
)
