"""The robustness page's data: ``python -m tltlib robustness [CHAPTER ...]``.

Every chapter runs at seeds ``0 .. SEEDS-1`` with its defaults, and chapters 01-06 also at two
sizes from the top of the range their Parameters section declares (:data:`SIZES`, at fewer
seeds: a run there takes minutes). Each setting is a cached, resumable sweep
(:func:`tltlib.book.sweep.run_sweep`); the table, one row per chapter and setting (seeds that
passed every check, out of the seeds run, and which checks failed at which seed), goes to
:data:`DATA` with the commit and the date of the run. Rows of the chapters not named keep their
values and their commit. The book's page ``appendix/robustness.md`` reads the file
(:func:`markdown`); no number on it is typed by hand.
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
from pathlib import Path
from typing import Any

from tltlib.book.runner import resolve_chapter
from tltlib.core.paths import ROOT, RUNS

#: where the table is stored (in the repository: the page reads it)
DATA = ROOT / "appendix" / "robustness.json"
#: seeds of every chapter at its defaults
SEEDS = 20
#: seeds of the sizes at the top of a declared range
SIZE_SEEDS = 3
#: two settings at the top of the declared range of chapters 01-06: ``{chapter: [(label, params)]}``
SIZES: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "01": [("D = 36, K = 4", {"D": 36, "K": 4}), ("D = 36, K = 6", {"D": 36, "K": 6})],
    "02": [("D = 36", {"D": 36}), ("D = 30", {"D": 30})],
    "03": [("D = 36, K = 4", {"D": 36, "K": 4}), ("D = 36, K = 9", {"D": 36, "K": 9})],
    "04": [("D = 36", {"D": 36}), ("D = 36, v_norm = 1", {"D": 36, "v_norm": 1.0})],
    "05": [("D = 36", {"D": 36}), ("D = 36, K = 6", {"D": 36, "K": 6})],
    "06": [("D = 36", {"D": 36}), ("D = 28", {"D": 28})],
}


def chapters() -> list[Path]:
    """Every chapter of the book, in order."""
    return sorted((ROOT / "chapters").glob("*.md"))


def settings(chapter: Path) -> list[tuple[str, dict[str, Any], int]]:
    """``(label, parameters, seeds)`` of one chapter: its defaults, then its sizes."""
    number = chapter.stem.split("-", 1)[0]
    out = [("defaults", {}, SEEDS)]
    out += [(label, params, SIZE_SEEDS) for label, params in SIZES.get(number, [])]
    return out


def _commit() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
    except OSError:
        return "unknown"
    commit = head.stdout.strip() or "unknown"
    # the table itself changes while a run writes it: that is not an edit of what ran
    data = str(DATA.relative_to(ROOT))
    edits = [line for line in dirty.stdout.splitlines() if line[3:].strip() != data]
    return commit + ("+edits" if edits else "")


def summarise(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Seeds passed out of seeds run, and ``{check: [seeds]}`` of the failures (an error is
    listed under ``error``)."""
    from tltlib.book.sweep import status_of

    failed: dict[str, list[int]] = {}
    passed = 0
    for result in results:
        seed = int(result["parameters"]["seed"])
        status = status_of(result)
        passed += status == "passed"
        if status == "error":
            failed.setdefault("error", []).append(seed)
        for record in result.get("records") or []:
            if not record["passed"]:
                failed.setdefault(record["name"], []).append(seed)
    cpu = [float(r.get("cpu_s") or 0.0) for r in results]
    return {
        "seeds": len(results),
        "passed": passed,
        "failed": failed,
        "cpu_s_median": sorted(cpu)[len(cpu) // 2] if cpu else 0.0,
    }


def run(
    names: list[str],
    jobs: int = 1,
    progress: bool = True,
    defaults_only: bool = False,
    sizes_only: bool = False,
) -> dict[str, Any]:
    """Run the settings of the chapters ``names`` (all when empty; only their defaults with
    ``defaults_only``, only their sizes with ``sizes_only``) and update :data:`DATA`."""
    if defaults_only and sizes_only:
        raise ValueError("defaults_only and sizes_only exclude each other")
    from tltlib.book.sweep import run_sweep

    paths = [resolve_chapter(n) for n in names] if names else chapters()
    commit, date = _commit(), datetime.date.today().isoformat()
    plan = [(path, *setting) for path in paths for setting in settings(path)]
    if defaults_only:
        plan = [item for item in plan if item[1] == "defaults"]
    if sizes_only:
        plan = [item for item in plan if item[1] != "defaults"]
    plan.sort(key=lambda item: item[1] != "defaults")  # every chapter's defaults first
    for path, label, params, seeds in plan:
        points = [{**params, "seed": s} for s in range(seeds)]
        cache = RUNS / "robustness" / path.stem / label.replace(" ", "").replace(",", "_")
        result = run_sweep(path, points, jobs=jobs, cache_dir=cache, progress=progress)
        row = {"chapter": path.stem, "setting": label, "parameters": params}
        row.update(summarise(result.results), commit=commit, date=date)
        # re-read before writing: another robustness run may have added rows meanwhile
        rows = {(r["chapter"], r["setting"]): r for r in load().get("rows", [])}
        rows[(path.stem, label)] = row
        tmp = DATA.with_suffix(".json.tmp")
        tmp.write_text(json.dumps({"rows": _ordered(rows)}, indent=1) + "\n")
        tmp.replace(DATA)  # after every setting
    return load()


def _ordered(rows: dict[tuple[str, str], dict[str, Any]]) -> list[dict[str, Any]]:
    order = {p.stem: i for i, p in enumerate(chapters())}
    return sorted(
        rows.values(),
        key=lambda r: (order.get(r["chapter"], 99), r["setting"] != "defaults", r["setting"]),
    )


def load(path: Path = DATA) -> dict[str, Any]:
    """The stored table (empty if it was never made)."""
    return json.loads(path.read_text()) if path.exists() else {"rows": []}


def markdown(path: Path = DATA) -> str:
    """The page's table: one row per chapter and setting."""
    rows = load(path)["rows"]
    if not rows:
        return "*No robustness data yet: run `python -m tltlib robustness`.*"
    if path == DATA:  # the book's own table: list the planned settings not run yet too
        have = {(r["chapter"], r["setting"]) for r in rows}
        for chapter in chapters():
            for label, _, seeds in settings(chapter):
                if (chapter.stem, label) not in have:
                    rows.append({"chapter": chapter.stem, "setting": label, "missing": seeds})
        rows = _ordered({(r["chapter"], r["setting"]): r for r in rows})
    lines = [
        "| chapter | setting | seeds passing every check | failed checks (seeds) | CPU per run | commit |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "missing" in r:
            lines.append(
                f"| {r['chapter']} | {r['setting']} | not run yet ({r['missing']} seeds planned) "
                "| | | |"
            )
            continue
        failed = "; ".join(f"`{k}` ({', '.join(map(str, v))})" for k, v in r["failed"].items())
        lines.append(
            f"| {r['chapter']} | {r['setting']} | {r['passed']} / {r['seeds']} | "
            f"{failed or '—'} | {r['cpu_s_median']:.0f} s | `{r['commit']}` ({r['date']}) |"
        )
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    table = run(
        args.chapters,
        jobs=args.jobs,
        progress=not args.quiet,
        defaults_only=args.defaults_only,
        sizes_only=args.sizes_only,
    )
    print(markdown())
    print(f"written: {DATA}")
    return 0 if all(r["passed"] == r["seeds"] for r in table["rows"]) else 1


#: ``python -m tltlib robustness``: its line in ``python -m tltlib --help``
HELP = "every chapter at 20 seeds (and chapters 01-06 at two large sizes): the robustness page"
#: and the text of ``python -m tltlib robustness --help``: this module's docstring
DESCRIPTION = __doc__


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``python -m tltlib robustness``."""
    parser.add_argument("chapters", nargs="*", help="chapters to run (default: all)")
    parser.add_argument("-j", "--jobs", type=int, default=1, help="local parallel runs")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--defaults-only", action="store_true", help="only the defaults' twenty seeds, no sizes"
    )
    parser.add_argument(
        "--sizes-only", action="store_true", help="only the sizes of chapters 01-06, no defaults"
    )
