"""The reproduction report: every check of every chapter in one table.

Each chapter ends with ``log.save()``. When a chapter runs with its defaults (the book build,
``pytest``'s nbval run, a notebook session), its :class:`~tltlib.core.checks.CheckLog` lands in the
records directory as ``<chapter>.json`` (:func:`tltlib.core.checks.default_records_dir`, normally
``_build/checks/``). This module reads those files for the chapters that ``_toc.yml`` lists,
in the book's order, and lays them out as one table: the paper's claim, the measured value,
the expected value and tolerance, pass or fail, and the chapter it comes from.

Two front ends share it:

* the page ``reproduction-report.md``, executed by the book build after every chapter (the
  Sphinx hooks in :mod:`tltlib.book.sphinx` see to the order), which shows :func:`collect`'s
  :class:`Report` and fails the build if a chapter left no records;
* ``python -m tltlib report``, which prints the same table and exits with status 1 if a
  claim fails or a chapter has no (or stale) records. By default it *reads* the records of the
  last build or test run, which takes a second; ``--run`` first executes every chapter with
  its defaults through :func:`tltlib.book.runner.run_chapter` (papermill, minutes) and writes fresh
  records.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tltlib.core.checks import default_records_dir, load, markdown_text
from tltlib.core.paths import ROOT

CHAPTER_DIR = "chapters"


@dataclass
class ChapterReport:
    """The check records of one chapter, or the reason there are none."""

    docname: str
    path: Path
    title: str
    records: list[dict[str, Any]] = field(default_factory=list)
    problem: str | None = None

    @property
    def stem(self) -> str:
        return self.path.stem

    @property
    def n_passed(self) -> int:
        return sum(bool(r.get("passed")) for r in self.records)

    @property
    def passed(self) -> bool:
        return self.problem is None and bool(self.records) and self.n_passed == len(self.records)

    @property
    def status(self) -> str:
        if self.problem is not None:
            return "no records"
        return "pass" if self.passed else "FAIL"


@dataclass
class Report:
    """The checks of every chapter of the book, in the order of ``_toc.yml``."""

    chapters: list[ChapterReport]
    records_dir: Path

    @property
    def passed(self) -> bool:
        return bool(self.chapters) and all(c.passed for c in self.chapters)

    @property
    def n_checks(self) -> int:
        return sum(len(c.records) for c in self.chapters)

    @property
    def n_passed(self) -> int:
        return sum(c.n_passed for c in self.chapters)

    def problems(self) -> list[str]:
        """One line per chapter without usable records or with a failed check."""
        lines = []
        for c in self.chapters:
            if c.problem is not None:
                lines.append(f"{c.stem}: {c.problem}")
            elif not c.passed:
                failed = [r["name"] for r in c.records if not r.get("passed")]
                lines.append(f"{c.stem}: {len(failed)} check(s) failed: {', '.join(failed)}")
        if not self.chapters:
            lines.append("_toc.yml lists no chapter under chapters/")
        return lines

    def assert_complete(self) -> None:
        """Raise ``AssertionError`` if a chapter has no records (a build or test-run problem)."""
        missing = [f"{c.stem}: {c.problem}" for c in self.chapters if c.problem is not None]
        if missing:
            raise AssertionError("the report is incomplete:\n  " + "\n  ".join(missing))

    def summary(self) -> str:
        """One sentence: how many checks pass in how many chapters."""
        n_ok = sum(c.passed for c in self.chapters)
        return (
            f"{self.n_passed} of {self.n_checks} checks pass; "
            f"{n_ok} of {len(self.chapters)} chapters pass every check."
        )

    def chapter_table(self, links: str = "myst") -> str:
        """One row per chapter: its title, how many checks passed, pass or fail.

        ``links="myst"`` links chapters with the ``{doc}`` role (for the book page);
        ``links="html"`` with relative links to the built pages (for a plain Markdown file).
        """
        rows = ["| chapter | title | checks passed | result |", "|---|---|---|---|"]
        for c in self.chapters:
            result = "pass" if c.passed else f"**{c.status}**"
            counts = f"{c.n_passed} / {len(c.records)}" if c.problem is None else "–"
            rows.append(f"| {_link(c, links)} | {_cell(c.title)} | {counts} | {result} |")
        return "\n".join(rows)

    def check_table(self, links: str = "myst") -> str:
        """One row per check: the paper's claim, measured, expected, tolerance, result."""
        rows = [
            "| chapter | check | the paper's claim | measured | expected | tolerance | result |",
            "|---|---|---|---|---|---|---|",
        ]
        for c in self.chapters:
            if c.problem is not None:
                rows.append(
                    f"| {_link(c, links)} | – | {_cell(c.problem)} | – | – | – | **no records** |"
                )
            for r in c.records:
                expected, tolerance = rule(r)
                result = "pass" if r.get("passed") else "**FAIL**"
                rows.append(
                    f"| {_link(c, links)} | `{r['name']}` | {_cell(r.get('claim', ''))} | "
                    f"{number(r.get('measured'))} | {expected} | {tolerance} | {result} |"
                )
        return "\n".join(rows)

    def markdown(self, links: str = "myst") -> str:
        """The summary, the per-chapter table and the table of every check, in Markdown."""
        return "\n\n".join([self.summary(), self.chapter_table(links), self.check_table(links)])

    def _repr_markdown_(self) -> str:
        return self.markdown()

    def text(self) -> str:
        """The same table for a terminal: one block per chapter."""
        lines = [f"records: {self.records_dir}", ""]
        for c in self.chapters:
            counts = f"{c.n_passed}/{len(c.records)}" if c.problem is None else "-"
            lines.append(f"{c.stem}  ({c.title})  {counts}  {c.status}")
            if c.problem is not None:
                lines.append(f"  {c.problem}")
            width = max((len(r["name"]) for r in c.records), default=0)
            for r in c.records:
                expected, tolerance = rule(r)
                target = expected if tolerance == "bound" else f"{expected} ± {tolerance}"
                mark = "pass" if r.get("passed") else "FAIL"
                lines.append(
                    f"  {mark}  {r['name']:<{width}}  measured {number(r.get('measured')):<11}"
                    f"  expected {target:<18}  {r.get('claim', '')}"
                )
            lines.append("")
        lines.append(self.summary())
        return "\n".join(lines)


def _cell(text: str) -> str:
    """Plain text shown as written inside a Markdown table cell (nothing is markup)."""
    return markdown_text(text)


def _link(c: ChapterReport, links: str) -> str:
    number = c.stem.split("-", 1)[0]
    if links == "myst":
        return f"{{doc}}`{number} </{c.docname}>`"
    return f"[{number}]({c.docname}.html)"


def number(value: Any) -> str:
    """A measured or expected value, four significant digits."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return f"{value:.4g}"


def rule(record: dict[str, Any]) -> tuple[str, str]:
    """``(expected, tolerance)`` as shown in the table; a one-sided check has a bound."""
    comparison = record.get("comparison", "close")
    expected = number(record.get("expected"))
    if comparison == "close":
        return expected, number(record.get("tolerance"))
    sign = "≤" if comparison == "at_most" else "≥"
    return f"{sign} {expected}", "bound"


def toc_files(toc_path: Path) -> list[str]:
    """Every ``file:`` of a Jupyter Book ``_toc.yml``, root first, in reading order."""
    import yaml

    toc = yaml.safe_load(toc_path.read_text(encoding="utf-8"))
    files: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key in ("root", "file"):
                if isinstance(node.get(key), str):
                    files.append(node[key])
            for key in ("parts", "chapters", "sections"):
                for child in node.get(key) or []:
                    walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(toc)
    return [str(Path(f).with_suffix("")) if f.endswith((".md", ".ipynb")) else f for f in files]


def toc_chapters(root: Path = ROOT) -> list[tuple[str, Path]]:
    """``(docname, path)`` of the chapters listed in ``_toc.yml`` (files under ``chapters/``)."""
    out = []
    for docname in toc_files(root / "_toc.yml"):
        if docname.split("/", 1)[0] != CHAPTER_DIR:
            continue
        out.append((docname, root / f"{docname}.md"))
    return out


def chapter_title(path: Path) -> str:
    """The first ``# `` heading of a chapter (its title), or its file name."""
    if not path.is_file():
        return path.stem
    text = path.read_text(encoding="utf-8")
    if text.startswith("---"):
        text = text.split("---", 2)[-1]
    for line in text.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return path.stem


def read_chapter(docname: str, path: Path, records_dir: Path) -> ChapterReport:
    """The records of one chapter, checked for presence, freshness and consistency."""
    c = ChapterReport(docname, path, chapter_title(path))
    file = records_dir / f"{path.stem}.json"
    if not path.is_file():
        c.problem = f"_toc.yml lists {docname} but {path.name} does not exist"
    elif not file.is_file():
        c.problem = (
            f"no check records in {file} (run the chapter with its defaults: build the book, "
            "run pytest, or `python -m tltlib report --run`; the chapter must end with "
            f"`log.save()` on `CheckLog({path.stem!r})`)"
        )
    elif file.stat().st_mtime < path.stat().st_mtime:
        c.problem = f"the records in {file} are older than {path.name}: run the chapter again"
    else:
        try:
            records = load(file)
        except (OSError, ValueError) as err:
            c.problem = f"cannot read {file}: {err}"
            return c
        wrong = {r.get("chapter") for r in records} - {path.stem}
        if not records:
            c.problem = f"{file} holds no check"
        elif wrong:
            c.problem = f"{file} holds records of another chapter: {sorted(map(str, wrong))}"
        else:
            c.records = records
    return c


def collect(root: Path = ROOT, records_dir: str | os.PathLike | None = None) -> Report:
    """Read the records of every chapter that ``root/_toc.yml`` lists."""
    if records_dir is None:
        records_dir = default_records_dir() or root / "_build" / "checks"
    records_dir = Path(records_dir)
    chapters = [read_chapter(doc, path, records_dir) for doc, path in toc_chapters(root)]
    return Report(chapters, records_dir)


def run_all(root: Path = ROOT, records_dir: str | os.PathLike | None = None) -> Report:
    """Execute every chapter with its defaults (papermill), save its records, then collect."""
    from tltlib.book.runner import run_chapter

    report = collect(root, records_dir)
    report.records_dir.mkdir(parents=True, exist_ok=True)
    errors = {}
    for c in report.chapters:
        if not c.path.is_file():
            continue
        print(f"running {c.stem} ...", file=sys.stderr, flush=True)
        result = run_chapter(c.path, output=root / "runs" / c.stem / "defaults.ipynb")
        if result.records:
            target = report.records_dir / f"{c.stem}.json"
            target.write_text(json.dumps(result.records, indent=1) + "\n")
        elif result.error:
            errors[c.stem] = result.error
    report = collect(root, report.records_dir)
    for c in report.chapters:
        if c.stem in errors:
            c.problem = f"the chapter stopped before saving its records: {errors[c.stem]}"
    return report


def _cmd_report(args: argparse.Namespace) -> int:
    root = Path(args.root).resolve() if args.root else ROOT
    report = run_all(root, args.records) if args.run else collect(root, args.records)
    print(report.markdown(links="html") if args.markdown else report.text())
    problems = report.problems()
    for line in problems:
        print(f"error: {line}", file=sys.stderr)
    return 0 if report.passed and not problems else 1


def add_subcommand(sub: argparse._SubParsersAction) -> None:
    """Register ``python -m tltlib report`` on the main parser's subcommands."""
    p = sub.add_parser(
        "report",
        help="every check of every chapter in one table (exit 1 if a claim fails)",
        description=(
            "Print the reproduction report: the check records of every chapter in _toc.yml. "
            "Reads the records that the last book build or pytest run left in the records "
            "directory; --run executes every chapter with its defaults first. Exit status 0 "
            "if every check of every chapter passed, 1 otherwise (a failed claim, a chapter "
            "without records or with records older than its source)."
        ),
    )
    p.add_argument(
        "--run",
        action="store_true",
        help="execute every chapter with its defaults first (papermill; minutes)",
    )
    p.add_argument(
        "--records",
        help="records directory (default: $TLTLIB_RECORDS_DIR, else _build/checks)",
    )
    p.add_argument("--markdown", action="store_true", help="print the Markdown table")
    p.add_argument("--root", help=argparse.SUPPRESS)
    p.set_defaults(func=_cmd_report)
