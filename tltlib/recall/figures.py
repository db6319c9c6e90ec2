"""Figures and tables of chapter 10: the paper's Figures 1 and 2, the linear rate, the logit
split, and the short tables printed next to them.

Plotting functions return the ``Figure``; the chapter ends its plotting cells with
``plt.show()``. Table functions return text (:func:`final_table` Markdown).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from tltlib.core.display import MarkdownTable
from tltlib.core.paths import CHAPTERS
from tltlib.core.stored import load_table
from tltlib.recall import variants as _variants
from tltlib.recall.claims import closed_form_excess, excess, unseen_gap
from tltlib.recall.model import RecallRun
from tltlib.recall.task import (
    bayes_risk,
    bernoulli_entropy,
    kl_bernoulli,
    reparam_loss,
    reparam_schedule,
    softmax_loss_floor,
)

DATA = CHAPTERS / "data" / "recall_grid.json"
"""Where the table of the full grid is stored (written by ``python -m tltlib.recall.grid``)."""

COMMAND = "python -m tltlib.recall.grid"
"""The one command that runs the full grid and writes :data:`DATA`."""

FLOOR = 1e-17
"""Lower edge of the rate plot: below about 1e-16 a float64 loss of order one is rounding."""


def _entropy_line(ax, alpha: float) -> None:
    ax.axhline(bernoulli_entropy(alpha), color="grey", ls=":", lw=1, label="Bayes risk")


def plot_figure1(
    runs_by_alpha: Mapping[float, Mapping[str, RecallRun]],
    names: tuple[str, ...],
    prob_models: tuple[str, ...],
) -> plt.Figure:
    """The paper's Figure 1: one row per noise level, with the population loss, the
    unseen-output loss (of the models ``names``) and ``p(y)`` (noiseless) or ``p(tau)``
    (noisy) of ``prob_models``."""
    rows = len(runs_by_alpha)
    fig, axes = plt.subplots(
        rows, 3, figsize=(10.5, 2.9 * rows), squeeze=False, layout="constrained"
    )
    for r, (alpha, runs) in enumerate(runs_by_alpha.items()):
        ax_pop, ax_test, ax_p = axes[r]
        for i, name in enumerate(names):
            h = runs[name].history
            ax_pop.plot(h["step"], h["pop/loss"], color=f"C{i}", label=name)
            ax_test.plot(h["step"], h["unseen/loss"], color=f"C{i}", label=name)
            if name in prob_models:
                key = "pop/p_noise" if alpha > 0 else "pop/p_output"
                ax_p.plot(h["step"], h[key], color=f"C{i}", label=name)
        target = alpha if alpha > 0 else 1.0
        ax_p.axhline(target, color="k", ls="--", lw=1, label="expected")
        ax_p.set_ylim(0, 1.05)
        for ax in (ax_pop, ax_test):
            _entropy_line(ax, alpha)
        ax_pop.set_title(rf"population loss ($\alpha={alpha:g}$)")
        ax_test.set_title(rf"unseen-output loss ($\alpha={alpha:g}$)")
        ax_p.set_title(r"$p(\tau)$" if alpha > 0 else r"$p(y)$")
        for ax in axes[r]:
            ax.set_xlabel("step $t$")
    axes[0][0].legend(fontsize=7, loc="upper right")
    axes[0][2].legend(fontsize=7, loc="lower right")
    return fig


def plot_rates(
    runs: Mapping[str, RecallRun], foils: Mapping[str, RecallRun] | None = None
) -> plt.Figure:
    """Excess loss on a log scale against ``t`` (solid), the closed form at the trained
    strengths (dots) and at the population schedule ``eta t / sqrt(Q)`` or ``eta t`` (dashed,
    :func:`schedule_excess`, drawn down to :data:`FLOOR`); ``foils`` (grey, e.g. plain GD)
    without closed forms."""
    fig, ax = plt.subplots(figsize=(7.0, 3.4), layout="constrained")
    for i, (label, run) in enumerate(runs.items()):
        t = run.history["step"]
        e, cf = excess(run), closed_form_excess(run)
        keep = e > 0
        ax.semilogy(t[keep], e[keep], color=f"C{i}", lw=1.5, label=label)
        ax.semilogy(t[::3], cf[::3], ".", color=f"C{i}", ms=4)
        sched = schedule_excess(run, t)
        keep = sched > FLOOR
        ax.semilogy(t[keep], sched[keep], "--", color=f"C{i}", lw=0.8)
    for j, (label, run) in enumerate((foils or {}).items()):
        ax.semilogy(
            run.history["step"], excess(run), color="0.5", ls=("-.", ":")[j % 2], label=label
        )
    ax.set_ylim(bottom=FLOOR)
    ax.set_xlabel("step $t$")
    ax.set_ylabel("loss minus Bayes risk")
    ax.set_title("excess loss (solid), closed form at the trained strengths (dots) and at "
                 r"$\eta t/\sqrt{Q}$ or $\eta t$ (dashed)", fontsize=9)  # fmt: skip
    ax.legend(fontsize=7, loc="lower left")
    return fig


def plot_logit_split(runs: Mapping[str, RecallRun]) -> plt.Figure:
    """The paper's Figures 10-11: mean ``xi_{A,y}`` against mean ``max_j xi_{A,j}`` and mean
    ``xi_{F,tau}`` against mean ``max_j xi_{F,j}``, one colour per model."""
    fig, axes = plt.subplots(1, 2, figsize=(9.0, 3.2), layout="constrained")
    for i, (name, run) in enumerate(runs.items()):
        h = run.history
        t = h["step"]
        axes[0].plot(t, h["pop/xiA_max"], color=f"C{i}", lw=2.5, alpha=0.35)
        axes[0].plot(t, h["pop/xiA_y"], color=f"C{i}", lw=1, label=name)
        axes[1].plot(t, h["pop/xiF_max"], color=f"C{i}", lw=2.5, alpha=0.35)
        axes[1].plot(t, h["pop/xiF_tau"], color=f"C{i}", lw=1, label=name)
    axes[0].set_title(r"attention: $\xi_{A,y}$ (thin) vs $\max_j \xi_{A,j}$ (wide)")
    axes[1].set_title(r"feed-forward: $\xi_{F,\tau}$ (thin) vs $\max_j \xi_{F,j}$ (wide)")
    for ax in axes:
        ax.set_xlabel("step $t$")
        ax.set_yscale("symlog", linthresh=1.0)
    axes[0].legend(fontsize=7)
    return fig


def plot_figure2(runs: Mapping[str, RecallRun], alpha: float) -> plt.Figure:
    """The paper's Figure 2: population and unseen-output loss against the epoch for models
    trained on one finite sample."""
    fig, axes = plt.subplots(1, 2, figsize=(9.0, 3.2), layout="constrained")
    for i, (name, run) in enumerate(runs.items()):
        h = run.history
        axes[0].plot(h["step"], h["pop/loss"], color=f"C{i}", label=name)
        axes[1].plot(h["step"], h["unseen/loss"], color=f"C{i}", label=name)
    for ax, what in zip(axes, ("population", "unseen-output"), strict=True):
        _entropy_line(ax, alpha)
        ax.set_title(rf"{what} loss ($\alpha={alpha:g}$, finite sample)")
        ax.set_xlabel("epoch")
    axes[0].legend(fontsize=7)
    return fig


def final_table(runs: Mapping[str, RecallRun]) -> MarkdownTable:
    """A Markdown table of the final losses (and their gap to the Bayes risk) per model."""
    rows = [
        "| model | population loss | unseen-output loss | population - Bayes | p(y) | p(tau) |",
        "|---|---|---|---|---|---|",
    ]
    for name, run in runs.items():
        h = run.history
        b = bayes_risk(run.model.task)
        rows.append(
            f"| {name} | {h.final('pop/loss'):.4g} | {h.final('unseen/loss'):.4g} | "
            f"{h.final('pop/loss') - b:.3g} | {h.final('pop/p_output'):.3f} | "
            f"{h.final('pop/p_noise'):.3f} |"
        )
    return MarkdownTable("\n".join(rows))


def schedule_excess(run: RecallRun, t: np.ndarray) -> np.ndarray:
    """The closed-form excess at the population schedule (for :func:`plot_rates`)."""
    task = run.model.task
    lam = reparam_schedule(task, run.settings["eta"], t)
    return reparam_loss(task, lam, run.model.attention) - bayes_risk(task)


def logit_split_report(runs: Mapping[str, RecallRun]) -> str:
    """One line per model: the fractions of sequences on which the attention part's largest
    logit is ``y`` and the feed-forward part's largest logit is ``tau``, at the end."""
    return "\n".join(
        f"{n:20s} argmax xi_A = y on {r.history.final('pop/attn_argmax_output'):6.1%}, "
        f"argmax xi_F = tau on {r.history.final('pop/ff_argmax_noise'):6.1%} of sequences"
        for n, r in runs.items()
    )


def unseen_gap_table(
    runs: Mapping[float, Mapping[str, RecallRun]], alphas: Sequence[float], names: Sequence[str]
) -> str:
    """Unseen-output minus in-distribution loss and ``-log p(y)``
    (:func:`~tltlib.recall.claims.unseen_gap`) of the models ``names`` at each noise level
    of ``alphas``, under a header."""
    lines = ["unseen minus in-distribution, in nats:"]
    for a in alphas:
        for n in names:
            gap, gap_y = unseen_gap(runs[a][n]), unseen_gap(runs[a][n], "nll_output")
            lines.append(f"alpha={a:g}  {n:20s} loss {gap:9.3g}   -log p(y) {gap_y:9.3g}")
    return "\n".join(lines)


def softmax_floor_report(
    runs: Mapping[float, Mapping[str, RecallRun]],
    alphas: Sequence[float],
    name: str = "Reparam-Softmax-FA",
) -> str:
    """At each noise level of ``alphas``: the final loss of the softmax model ``name``, the
    floor :func:`~tltlib.recall.task.softmax_loss_floor` and the Bayes risk."""
    lines = []
    for a in alphas:
        run = runs[a][name]
        task = run.model.task
        lines.append(
            f"alpha={a:g}: softmax loss {run.history.final('pop/loss'):.4f}, "
            f"floor {softmax_loss_floor(task):.4f}, Bayes risk {bayes_risk(task):.4f}"
        )
    return "\n".join(lines)


def kl_report(runs: Mapping[float, tuple[RecallRun, float]]) -> str:
    """For each finite-sample run (noise level -> ``(run, alpha_hat)``): ``alpha_hat``, the final
    excess over the Bayes risk and ``KL(alpha || alpha_hat)``."""
    return "\n".join(
        f"alpha={a:g}: alpha_hat={ah:.4f}, excess {excess(run)[-1]:.4e}, "
        f"KL(alpha||alpha_hat) {kl_bernoulli(a, ah):.4e}"
        for a, (run, ah) in runs.items()
    )


# --- the 13 variants and the stored grid -----------------------------------------------------


def variant_table(names: Sequence[str] | None = None) -> MarkdownTable:
    """The variants ``names`` (default all 13): the official flags, what is trained and what
    the paper claims without and with noise (:func:`tltlib.recall.variants.claims_of`)."""
    rows = [
        "| variant | official flags | trained | claimed at alpha = 0 | claimed at alpha > 0 |",
        "|---|---|---|---|---|",
    ]
    for name in _variants.check_names(names or list(_variants.VARIANTS)):
        v = _variants.VARIANTS[name]
        c0, c1 = (", ".join(_variants.claims_of(v, a)) for a in (0.0, 0.5))
        rows.append(f"| {name} | `{v.official_flags}` | {v.trained} | {c0} | {c1} |")
    return MarkdownTable("\n".join(rows))


def load_grid(path: Path | str = DATA) -> dict[str, Any]:
    """The stored table of the full grid (see :data:`COMMAND`)."""
    return load_table(path, COMMAND)


def _cell(table: Mapping[str, Any], name: str, alpha: float, eta: float) -> dict[str, Any]:
    for row in table["rows"]:
        if (row["variant"], row["alpha"], row["eta"]) == (name, alpha, eta):
            return row
    raise KeyError(f"the grid has no run of {name} at alpha={alpha:g}, eta={eta:g}")


def grid_table(table: Mapping[str, Any], quantity: str, fmt: str = ".2g") -> MarkdownTable:
    """One row per variant, one column per (alpha, eta) of the stored grid ``table``
    (:func:`load_grid`): the value of ``quantity`` in each run (e.g. ``excess``, the final
    population loss minus the Bayes risk, or ``unseen_gap_nll_y``)."""
    cols = [(a, e) for a in table["alphas"] for e in table["etas"]]
    head = " | ".join(f"a={a:g}, eta={e:g}" for a, e in cols)
    rows = [f"| variant | {head} |", "|---|" + "---|" * len(cols)]
    for name in table["variants"]:
        cells = []
        for a, e in cols:
            v = _cell(table, name, a, e)[quantity]
            cells.append("-" if v is None else format(v, fmt))
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return MarkdownTable("\n".join(rows))


def grid_claims_table(table: Mapping[str, Any]) -> MarkdownTable:
    """Per variant of the stored grid: the checks that passed out of those run over all its
    (alpha, eta), the checks that failed (where), and the fitted rate over the predicted one
    (its range, for the models that reach the Bayes risk)."""
    rows = ["| variant | checks passed | failed | rate / predicted |", "|---|---|---|---|"]
    for name in table["variants"]:
        runs = [r for r in table["rows"] if r["variant"] == name]
        checks = [(r, c) for r in runs for c in r["checks"]]
        failed = [f"{c['name']} (a={r['alpha']:g}, eta={r['eta']:g})" for r, c in checks
                  if not c["passed"]]  # fmt: skip
        ratios = [r["rate"] / r["predicted_rate"] for r in runs
                  if r["rate"] is not None and "bayes_risk" in r["claims"]]  # fmt: skip
        rate = f"{min(ratios):.3f} - {max(ratios):.3f}" if ratios else "-"
        rows.append(
            f"| {name} | {len(checks) - len(failed)}/{len(checks)} | "
            f"{'; '.join(failed) or '-'} | {rate} |"
        )
    return MarkdownTable("\n".join(rows))


def grid_summary(table: Mapping[str, Any]) -> str:
    """How the stored grid was made: the command, the size of each run, commit and date."""
    s = table["settings"]
    n = sum(len(r["checks"]) for r in table["rows"])
    ok = sum(c["passed"] for r in table["rows"] for c in r["checks"])
    return (
        f"`{table['command']}`: {len(table['rows'])} runs ({len(table['variants'])} variants x "
        f"alpha in {table['alphas']} x eta in {table['etas']}), each H={s['H']}, "
        f"batch={s['batch']}, {s['steps']} steps, seed {s['seed']}; commit {table['commit']}"
        f"{' (with uncommitted changes to the code)' if table['dirty'] else ''}, {table['date']}; "
        f"{ok} of {n} checks passed."
    )
