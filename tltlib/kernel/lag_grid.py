"""Chapter 09b's AR(L) comparison at a larger size, over many chapter seeds, as one command.

``python -m tltlib.kernel.lag_grid`` runs :func:`tltlib.kernel.length.lag_sweep` at
:data:`SETTINGS` (the paper's longest lags, twice the chapter's windows, ten repetitions) for
chapter seeds ``0 .. seeds-1`` and writes the raw minimum training losses of every lag,
repetition and model to :data:`DATA` (``chapters/data/ar_lags.json``), with the commit and the
date. Each finished seed is cached under ``runs/ar-lags/`` by its settings and a fingerprint of
the modules it runs, so an interrupted sweep resumes (``--force`` runs everything again).
Chapter 09b reads the stored table with :func:`load` and checks it
(:func:`tltlib.kernel.length_claims.stored_lag_checks`); it never runs the sweep.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import torch

from tltlib.core.fingerprint import commit_of, files_hash
from tltlib.core.paths import CHAPTERS, RUNS
from tltlib.core.validate import positive_int
from tltlib.kernel.length import MODELS, lag_sweep

DATA = CHAPTERS / "data" / "ar_lags.json"
"""Where the stored table is (written by :data:`COMMAND`)."""

COMMAND = "python -m tltlib.kernel.lag_grid"
"""The one command that runs the larger comparison and writes :data:`DATA`."""

CACHE = RUNS / "ar-lags"
"""One JSON file per finished chapter seed (git-ignored)."""

SETTINGS = dict(lags=[4, 16, 48, 96], n=400, m=32, steps=200, lr=0.05, repetitions=10)
"""The size of every seed's sweep: chapter 09b's defaults with the paper's longest lags, twice
the windows (``ar_n``) and ten repetitions (``ar_seeds``)."""

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
    seeds: int = 8,
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
    cache, fp = Path(cache), files_hash(_sources())
    cache.mkdir(parents=True, exist_ok=True)
    rows, cpu = [], 0.0
    for seed in range(seeds):
        key = json.dumps([seed, SETTINGS, fp], sort_keys=True)
        path = cache / f"{hashlib.sha256(key.encode()).hexdigest()[:20]}.json"
        if path.exists() and not force:
            row = json.loads(path.read_text())
        else:
            start = time.process_time()
            row = run_seed(seed)
            row["cpu_s"] = round(time.process_time() - start, 1)
            path.write_text(json.dumps(row))
        cpu += row["cpu_s"]
        rows.append(row)
        if not quiet:
            print(f"[{seed + 1}/{seeds}] seed {seed}: {row['cpu_s']:.0f} s", flush=True)
    commit, dirty = commit_of(_sources())
    table = {
        "command": COMMAND,
        "commit": commit,
        "dirty": dirty,  # uncommitted changes to SOURCES when the table was written
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d"),
        "settings": SETTINGS,
        "cpu_s": round(cpu, 1),
        "rows": rows,
    }
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(table, indent=1) + "\n")
    return table


def load(path: Path | str = DATA) -> dict[str, Any]:
    """The stored table (see :data:`COMMAND`)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `{COMMAND}` to make it")
    return json.loads(path.read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=8, help="chapter seeds 0 .. SEEDS-1")
    parser.add_argument("-o", "--out", default=str(DATA), help="where to write the table")
    parser.add_argument("--cache", default=str(CACHE), help="folder of finished seeds")
    parser.add_argument("--force", action="store_true", help="ignore the cache")
    parser.add_argument("-q", "--quiet", action="store_true")
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
