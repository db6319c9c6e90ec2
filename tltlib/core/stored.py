"""Stored tables of long sweeps: ``chapters/data/*.json``, made by one command each.

A sweep too long for its chapter (the full grid of chapter 10, the larger AR(L) comparison of
chapter 09b) runs once, from the command line. Every finished point is cached as one JSON file
under ``runs/`` (:func:`cached_row`), keyed by what it depends on, so that an interrupted sweep
resumes and edited code runs again. The table (:func:`write_table`) carries the command that
made it, the commit and whether its sources had uncommitted changes, the date, the settings
and the CPU time; the chapter reads it (:func:`load_table`) and never runs the sweep.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from tltlib.core.fingerprint import commit_of


def cached_row(
    cache: Path, key: Sequence[Any], compute: Callable[[], dict[str, Any]], force: bool = False
) -> dict[str, Any]:
    """The row of one point: read from ``cache`` if a run with the same ``key`` (JSON-able:
    the point, its settings and a fingerprint of the code) finished before and ``force`` is
    off, else ``compute()`` with its CPU time added as ``cpu_s`` and written there."""
    text = json.dumps(list(key), sort_keys=True)
    path = Path(cache) / f"{hashlib.sha256(text.encode()).hexdigest()[:20]}.json"
    if path.exists() and not force:
        return json.loads(path.read_text())
    start = time.process_time()
    row = compute()
    row["cpu_s"] = round(time.process_time() - start, 2)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(row))
    return row


def write_table(
    out: str | os.PathLike,
    command: str,
    sources: Iterable[str | os.PathLike],
    settings: dict[str, Any],
    rows: list[dict[str, Any]],
    **extra: Any,
) -> dict[str, Any]:
    """Write the table of ``rows`` (each with its ``cpu_s``) made by ``command`` to ``out``,
    stamped with the commit (and whether ``sources`` had uncommitted changes) and the date, and
    return it. ``extra`` goes in before the rows."""
    commit, dirty = commit_of(sources)
    table = {
        "command": command,
        "commit": commit,
        "dirty": dirty,  # uncommitted changes to the sources when the table was written
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d"),
        "settings": settings,
        "cpu_s": round(sum(row["cpu_s"] for row in rows), 1),
        **extra,
        "rows": rows,
    }
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(table, indent=1) + "\n")
    return table


def load_table(path: str | os.PathLike, command: str) -> dict[str, Any]:
    """The stored table at ``path``; a missing one names ``command``, which makes it."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `{command}` to make it")
    return json.loads(path.read_text())


def command_parser(
    command: str, doc: str, out: str | os.PathLike, cache: str | os.PathLike
) -> argparse.ArgumentParser:
    """The command line of a stored sweep, with what every one has: where the table goes
    (``-o``), the folder of finished points (``--cache``), ``--force`` and ``-q``."""
    parser = argparse.ArgumentParser(prog=command, description=doc.split("\n\n")[0])
    parser.add_argument("-o", "--out", default=str(out), help="where to write the table")
    parser.add_argument("--cache", default=str(cache), help="folder of finished points")
    parser.add_argument("--force", action="store_true", help="ignore the cache")
    parser.add_argument("-q", "--quiet", action="store_true")
    return parser
