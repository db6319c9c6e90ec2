"""Chapter 09b's AR(L) comparison at a larger size, over many chapter seeds, as one command.

``python -m tltlib.kernel.lag_grid`` runs :func:`tltlib.kernel.length.lag_sweep` at
:data:`SETTINGS` (the paper's longest lags, twice the chapter's windows, ten repetitions) for
chapter seeds ``0 .. seeds-1`` and writes the raw minimum training losses of every lag,
repetition and model to :data:`DATA` (``chapters/data/ar_lags.json``), with the commit and the
date. Each finished seed is cached under ``runs/ar-lags/`` by its settings and a fingerprint of
the modules it runs, so an interrupted sweep resumes (``--force`` runs everything again).
Chapter 09b reads the stored table with :func:`tltlib.kernel.figures.load_lags` and checks it
(:func:`tltlib.kernel.length_claims.stored_lag_checks`); it never runs the sweep.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import torch

from tltlib.core.fingerprint import files_hash
from tltlib.core.paths import RUNS
from tltlib.core.stored import cached_row, command_parser, write_table
from tltlib.core.validate import positive_int
from tltlib.kernel.figures import LAGS_COMMAND as COMMAND
from tltlib.kernel.figures import LAGS_DATA as DATA
from tltlib.kernel.length import MODELS, lag_sweep

CACHE = RUNS / "ar-lags"
"""One JSON file per finished chapter seed (git-ignored)."""

SETTINGS = dict(lags=[4, 16, 48, 96], n=400, m=32, steps=200, lr=0.05, repetitions=10)
"""The size of every seed's sweep: chapter 09b's defaults with the paper's longest lags, twice
the windows (``ar_n``) and ten repetitions (``ar_seeds``)."""

SEEDS = 20
"""The chapter seeds of the table, ``0 .. SEEDS-1``: as many as the official scripts run."""

SOURCES = ("model.py", "recurrent.py", "length.py", "lag_grid.py")
"""The modules of :mod:`tltlib.kernel` a run depends on (the cache key's fingerprint)."""


def _sources() -> list[Path]:
    return [Path(__file__).parent / name for name in SOURCES]


def run_seed(seed: int, settings: dict[str, Any] = SETTINGS) -> dict[str, Any]:
    """One chapter seed: the minimum training MSE of each model, lags x repetitions."""
    s = settings
    sweep = lag_sweep(s["lags"], s["n"], s["m"], s["steps"], s["lr"], s["repetitions"], seed)
    return {"seed": seed, **{name: sweep[name]["min_train"].tolist() for name in MODELS}}


def run_grid(
    seeds: int = SEEDS,
    *,
    out: Path | str = DATA,
    cache: Path | str = CACHE,
    force: bool = False,
    quiet: bool = False,
) -> dict[str, Any]:
    """Chapter seeds ``0 .. seeds-1`` at :data:`SETTINGS`, each from the cache or run by
    :func:`run_seed`; writes the table to ``out`` and returns it."""
    seeds = positive_int("seeds", seeds)
    torch.set_num_threads(1)
    fp = files_hash(_sources())
    rows = []
    for seed in range(seeds):
        row = cached_row(Path(cache), [seed, SETTINGS, fp], partial(run_seed, seed), force)
        rows.append(row)
        if not quiet:
            print(f"[{seed + 1}/{seeds}] seed {seed}: {row['cpu_s']:.0f} s", flush=True)
    return write_table(out, COMMAND, _sources(), SETTINGS, rows)


def main(argv: list[str] | None = None) -> int:
    parser = command_parser(COMMAND, __doc__, DATA, CACHE)
    parser.add_argument("--seeds", type=int, default=SEEDS, help="chapter seeds 0 .. SEEDS-1")
    args = parser.parse_args(argv)
    try:
        table = run_grid(
            args.seeds, out=args.out, cache=args.cache, force=args.force, quiet=args.quiet
        )
    except ValueError as err:
        parser.error(str(err))
    print(f"{len(table['rows'])} seeds written to {args.out} ({table['cpu_s']:.0f} s CPU)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
