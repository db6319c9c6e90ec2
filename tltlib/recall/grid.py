"""The full grid of the official runs: 13 variants x 4 noise levels x 2 step sizes, one command.

``python -m tltlib.recall.grid`` trains every :data:`~tltlib.recall.variants.VARIANTS` at every
noise level of :data:`~tltlib.recall.variants.ALPHAS` and step size of
:data:`~tltlib.recall.variants.ETAS` at the chapter's default size (:data:`SETTINGS`), checks
what the paper claims for it there (:func:`tltlib.recall.claims.variant_checks`) and writes
one row per run to :data:`DATA` (``chapters/data/recall_grid.json``), with the commit and the
date. Each finished run is cached under ``runs/recall-grid/`` by its settings and a fingerprint
of ``tltlib.recall``, so an interrupted grid resumes where it stopped (``--force`` runs
everything again). Chapter 10 reads the stored table with :func:`tltlib.recall.figures.load_grid`; it never
runs the grid.
"""

from __future__ import annotations

import math
import sys
from functools import partial
from pathlib import Path
from typing import Any

import torch

from tltlib.core.checks import CheckLog
from tltlib.core.fingerprint import files_hash
from tltlib.core.paths import RUNS
from tltlib.core.stored import cached_row, command_parser, write_table
from tltlib.recall import claims, variants
from tltlib.recall.figures import COMMAND, DATA
from tltlib.recall.task import RecallTask, bayes_risk

CACHE = RUNS / "recall-grid"
"""One JSON file per finished run (git-ignored)."""

SETTINGS = dict(N=60, H=64, Q=5, Y=4, steps=300, batch=256, n_eval=1024, record_every=3, seed=0)
"""The size of every run of the grid: chapter 10's defaults (``record_every`` 3 instead of 6,
so that the rate fit has points at ``eta = 0.5`` too)."""


SOURCES = ("task.py", "model.py", "variants.py", "claims.py", "grid.py")
"""The modules whose code a run depends on (the cache key's fingerprint)."""


def _sources() -> list[Path]:
    return [Path(__file__).parent / name for name in SOURCES]


def run_point(variant: str, alpha: float, eta: float, settings: dict[str, Any]) -> dict[str, Any]:
    """Train one variant at ``alpha`` and ``eta`` and return its row: final losses, the
    unseen-output gaps, the fitted rate (reparameterised linear/ReLU models) and every check
    of :func:`tltlib.recall.claims.variant_checks` (name, passed, measured, bound)."""
    s = dict(settings)
    task = RecallTask(s["N"], s["H"], s["Q"], s["Y"])
    run = variants.train(
        task, variant, alpha, eta, s["steps"], batch=s["batch"], n_eval=s["n_eval"],
        seed=s["seed"], record_every=s["record_every"],
    )  # fmt: skip
    h = run.history
    log = CheckLog("recall-grid")
    checks = claims.variant_checks(log, {alpha: {variant: run}}, [variant], [alpha])
    rate = predicted = None
    if run.model.family == "reparam" and run.model.attention != "softmax":
        try:
            rate = claims.rate_fit(run).slope
        except ValueError:
            rate = None
        predicted = -eta * (1.0 if run.model.task.noisy else 1 / math.sqrt(task.Q))
    return {
        "variant": variant,
        "alpha": alpha,
        "eta": eta,
        "bayes_risk": bayes_risk(run.model.task),
        "pop_loss": h.final("pop/loss"),
        "unseen_loss": h.final("unseen/loss"),
        "excess": h.final("pop/loss") - bayes_risk(run.model.task),
        "unseen_gap_loss": claims.unseen_gap(run),
        "unseen_gap_nll_y": claims.unseen_gap(run, "nll_output"),
        "p_output": h.final("pop/p_output"),
        "p_noise": h.final("pop/p_noise"),
        "attn_argmax_y": h.final("pop/attn_argmax_output"),
        "ff_argmax_tau": h.final("pop/ff_argmax_noise"),
        "rate": rate,
        "predicted_rate": predicted,
        "claims": list(variants.claims_of(variant, alpha)),
        "checks": [_check_row(c) for c in checks],
    }


def _check_row(c) -> dict[str, Any]:
    keys = ("passed", "measured", "expected", "tolerance", "comparison")
    return {"name": c.name.rsplit("/", 1)[-1], **{k: getattr(c, k) for k in keys}}


def run_grid(
    names=tuple(variants.VARIANTS),
    alphas=variants.ALPHAS,
    etas=variants.ETAS,
    *,
    steps: int | None = None,
    out: Path | str = DATA,
    cache: Path | str = CACHE,
    force: bool = False,
    quiet: bool = False,
) -> dict[str, Any]:
    """Every point of ``names x alphas x etas`` (checked: the 13 names, the official noise
    levels and step sizes), each from the cache or trained by :func:`run_point`; writes the
    table to ``out`` and returns it. ``steps`` overrides :data:`SETTINGS` (stored with it)."""
    names = variants.check_names(names)
    alphas = [
        variants.check_grid_value("every entry of alphas", a, variants.ALPHAS) for a in alphas
    ]
    etas = [variants.check_grid_value("every entry of etas", e, variants.ETAS) for e in etas]
    settings = dict(SETTINGS)
    if steps is not None:
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
        settings["steps"] = steps
    torch.set_num_threads(1)
    fp = files_hash(_sources())
    rows, total = [], len(names) * len(alphas) * len(etas)
    for name in names:
        for alpha in alphas:
            for eta in etas:
                row = cached_row(
                    Path(cache),
                    [name, alpha, eta, settings, fp],
                    partial(run_point, name, alpha, eta, settings),
                    force,
                )
                rows.append(row)
                if not quiet:
                    print(f"[{len(rows)}/{total}] {name} alpha={alpha:g} eta={eta:g}", flush=True)
    return write_table(
        out, COMMAND, _sources(), settings, rows,
        variants=list(names), alphas=alphas, etas=etas,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = command_parser(COMMAND, __doc__, DATA, CACHE)
    parser.add_argument("--variants", nargs="+", default=list(variants.VARIANTS))
    parser.add_argument("--alphas", nargs="+", type=float, default=list(variants.ALPHAS))
    parser.add_argument("--etas", nargs="+", type=float, default=list(variants.ETAS))
    parser.add_argument("--steps", type=int, default=None, help="override the steps of a run")
    args = parser.parse_args(argv)
    try:
        table = run_grid(
            args.variants, args.alphas, args.etas, steps=args.steps, out=args.out,
            cache=args.cache, force=args.force, quiet=args.quiet,
        )  # fmt: skip
    except ValueError as err:
        parser.error(str(err))
    failed = [
        f"{r['variant']} alpha={r['alpha']:g} eta={r['eta']:g}: {c['name']}"
        for r in table["rows"]
        for c in r["checks"]
        if not c["passed"]
    ]
    print(f"{len(table['rows'])} runs written to {args.out}; {len(failed)} checks failed")
    for line in failed:
        print("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
