"""The reproduction report: every check of every chapter in one table.

Each chapter ends with ``log.save()``. When a chapter runs with its defaults (the book build,
``pytest``'s nbval run, a notebook session), its :class:`~tltlib.core.checks.CheckLog` lands in the
records directory as ``<chapter>.json`` (:func:`tltlib.core.checks.default_records_dir`, normally
``_build/checks/``). This module reads those files for the chapters that ``_toc.yml`` lists,
in the book's order, and lays them out as one table: the paper's claim, the measured value,
the expected value and tolerance, pass or fail, and the chapter it comes from.

The table quotes the paper's claims as the paper states them (every loss-slope check quotes
Theorem 3.1 (iii), ``Θ(KD⁴/(ηT))``, whose power of ``T`` it tests). Where the book's
measurements contradict the paper, :meth:`Report.disagreements` says so in a section of its
own, "Where the book's measurements disagree with the paper": the prefactors of Theorem 3.1
measured on the exact dynamics of :data:`SCALING_CHAPTER` (the limit ``T (L - L_opt) ->
D(D-K)K/(4 eta)``, the fitted exponents and the theorem's exponents that their records keep
beside them) and the book's closed forms where no record holds the number.

Two front ends share it:

* the page ``reproduction-report.md``, executed by the book build after every chapter (the
  Sphinx hooks in :mod:`tltlib.book.sphinx` see to the order), which shows :func:`collect`'s
  :class:`Report` and fails the build if a chapter left no records;
* ``python -m tltlib report``, which prints the same table and exits with status 1 if a
  claim fails or a chapter has no (or stale) records: stale when the chapter's code cells or
  ``tltlib`` changed since they were made (:func:`staleness`). By default it *reads* the records of the
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
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tltlib.core import fingerprint
from tltlib.core.checks import default_records_dir, load, markdown_text
from tltlib.core.extras import require
from tltlib.core.paths import ROOT

CHAPTER_DIR = "chapters"
#: the heading of the report's section on the paper's claims that the book's numbers contradict
DISAGREEMENTS_TITLE = "Where the book's measurements disagree with the paper"
#: the chapter whose records measure the prefactors of Theorem 3.1 (the exact reduced dynamics)
SCALING_CHAPTER = "05-convergence-and-scaling"


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

    def records_of(self, stem: str) -> dict[str, dict[str, Any]]:
        """The records of chapter ``stem`` by name (empty if it has none or is not in the book)."""
        for c in self.chapters:
            if c.stem == stem and c.problem is None:
                return {r["name"]: r for r in c.records}
        return {}

    def disagreements(self) -> list[Disagreement]:
        """Where the book's measurements (or, without a record, its closed forms) contradict
        the paper; see :func:`disagreements`."""
        return disagreements(self)

    def disagreement_intro(self) -> list[str]:
        """Paragraphs: what the loss-slope checks test (counted from the records), what the
        table below them holds."""
        slopes = [r for c in self.chapters for r in c.records if _is_loss_slope(r)]
        lines = []
        if slopes:
            measured = [float(r["measured"]) for r in slopes]
            n_ok = sum(bool(r.get("passed")) for r in slopes)
            checks = f"{len(slopes)} loss-slope check" + ("s" if len(slopes) != 1 else "")
            lines.append(
                f"The table of every check quotes the paper as it states its claims: its "
                f"{checks} quote Theorem 3.1 (iii), Θ(KD⁴/(ηT)) (or Θ(1/T)). They measure "
                f"its power of T, a log-log slope from {min(measured):.3f} to "
                f"{max(measured):.3f} against -1 ({n_ok} of {len(slopes)} within tolerance), "
                "not its prefactor."
            )
        lines.append(
            f"The exact dynamics of chapter {SCALING_CHAPTER.split('-', 1)[0]} measure the "
            "prefactors. Under the paper's main-text definitions (a loss summed over all M×D "
            "entries, one step size η) the upper bounds of Theorem 3.1 hold and the lower "
            "bounds, with the claim that the bounds match (Θ), do not. A loss averaged over the "
            "D columns would not change that: gradient descent on cL with step η is gradient "
            "descent on L with step cη, and T times the excess of cL has the same limit. Numbers "
            "come from the chapter's check records where they hold them; otherwise the row says "
            "so and evaluates the book's closed form."
        )
        return lines

    def disagreement_table(self) -> str:
        """The disagreements as a Markdown table (plain text in every cell)."""
        rows = [
            "| topic | the paper | the book | numbers | verdict |",
            "|---|---|---|---|---|",
        ]
        for d in self.disagreements():
            cells = (d.topic, d.paper, d.book, d.numbers, d.verdict)
            rows.append("| " + " | ".join(_cell(x) for x in cells) + " |")
        return "\n".join(rows)

    def agreement_note(self) -> str:
        """The fitted exponents that agree with the theorem's, from the records (or nothing)."""
        agree = [
            f"{_factor(r)} in {_quantity(r)} ({float(r['measured']):.3f}, theorem "
            f"{float(r['theorem']):g})"
            for r in self.records_of(SCALING_CHAPTER).values()
            if _is_exponent(r) and _exponent_agrees(r)
        ]
        if not agree:
            return ""
        return "Exponents that agree with Theorem 3.1 within their checks' tolerance: " + (
            "; ".join(agree) + "."
        )

    def disagreement_section(self, heading: str | None = "## ") -> str:
        """The whole section in Markdown: heading (``None``: none), intro, table, agreements."""
        parts = [f"{heading}{DISAGREEMENTS_TITLE}"] if heading is not None else []
        parts += [_cell(p) for p in self.disagreement_intro()]
        parts.append(self.disagreement_table())
        note = self.agreement_note()
        if note:
            parts.append(_cell(note))
        return "\n\n".join(parts)

    def markdown(self, links: str = "myst") -> str:
        """The summary, the per-chapter table, the table of every check and the section on
        the paper's claims that the measurements contradict, in Markdown."""
        return "\n\n".join(
            [
                self.summary(),
                self.chapter_table(links),
                self.check_table(links),
                self.disagreement_section(),
            ]
        )

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
        lines += [DISAGREEMENTS_TITLE, ""]
        for paragraph in self.disagreement_intro():
            lines += [*textwrap.wrap(paragraph, 96), ""]
        for d in self.disagreements():
            lines.append(f"  {d.topic}")
            for label, value in (
                ("paper", d.paper),
                ("book", d.book),
                ("numbers", d.numbers),
                ("verdict", d.verdict),
            ):
                wrapped = textwrap.wrap(value, 84) or [""]
                lines.append(f"    {label + ':':<9}{wrapped[0]}")
                lines += [f"    {'':<9}{more}" for more in wrapped[1:]]
        note = self.agreement_note()
        if note:
            lines += ["", *textwrap.wrap(note, 96)]
        lines += ["", self.summary()]
        return "\n".join(lines)


@dataclass(frozen=True)
class Disagreement:
    """One claim of the paper that the book's numbers contradict, and by how much.

    ``numbers`` come from the check records named in ``records`` when they are there; without
    them they are the book's closed form, evaluated where a record gives the setting.
    """

    topic: str
    paper: str
    book: str
    numbers: str
    verdict: str
    records: tuple[str, ...] = ()


#: what the book says about an exponent of Theorem 3.1 that its fit does not reproduce:
#: ``(quantity, factor) -> (the book's closed form, verdict)``
EXPONENT_NOTES: dict[tuple[str, str], tuple[str, str]] = {
    ("T_excess", "D"): (
        "T(L − L_opt) → D(D−K)K/(4η): D² as D → ∞ (D(D−K) is steeper than D² on a finite grid)",
        "disagrees: two powers of D below Theorem 3.1 (iii)",
    ),
    ("T_excess", "K"): (
        "D(D−K)K/(4η): local exponent 1 − K/(D−K) at fixed D",
        "agrees with the theorem's 1 only for D ≫ K (the theorem's regime D ≥ Ω(poly(M, K))), "
        "not at the grid's sizes",
    ),
    ("T_star", "D"): (
        "T* ≈ K(D−K)²/(η‖V*‖²) plus a logarithm (slow manifold)",
        "the theorem's KD²/(η‖V*‖²) up to D → D−K: agrees for D ≫ K, not on the grid",
    ),
    ("T_star", "K"): (
        "T* ≈ K(D−K)²/(η‖V*‖²) plus a logarithm (slow manifold)",
        "the theorem's power of K up to D → D−K: agrees for D ≫ K, not on the grid",
    ),
}
#: the quantities of :data:`tltlib.claims.scaling.THEOREM_EXPONENTS`, as the report writes them
_QUANTITIES = {
    "T_excess": "T(L − L_opt)",
    "T_star": "T*",
    "S_error": "√T‖S − S*‖_F",
    "WV_error": "√T‖W_V − V*‖_F",
}
#: where Theorem 3.1 states each quantity
_THEOREM_PARTS = {
    "T_excess": "Theorem 3.1 (iii)",
    "S_error": "Theorem 3.1 (i)",
    "WV_error": "Theorem 3.1 (ii)",
    "T_star": "Theorem 3.1, T*",
}


def _is_loss_slope(r: dict[str, Any]) -> bool:
    claim = str(r.get("claim", ""))
    return (
        claim.startswith("Theorem 3.1 (iii): excess loss")
        and r.get("comparison") == "close"
        and r.get("expected") == -1.0
    )


def _is_exponent(r: dict[str, Any]) -> bool:
    """A record of :func:`tltlib.claims.scaling.exponent_checks`: it keeps the theorem's exponent."""
    numbers = ("measured", "expected", "theorem")
    return "_exponent_" in str(r.get("name", "")) and all(
        isinstance(r.get(k), int | float) for k in numbers
    )


def _quantity(r: dict[str, Any]) -> str:
    q = str(r["name"]).split("_exponent_", 1)[0]
    return _QUANTITIES.get(q, q)


def _factor(r: dict[str, Any]) -> str:
    f = str(r["name"]).split("_exponent_", 1)[1]
    return {"eta": "η", "v": "‖V*‖_F²"}.get(f, f)


def _exponent_agrees(r: dict[str, Any]) -> bool:
    return abs(float(r["measured"]) - float(r["theorem"])) <= float(r.get("tolerance", 0.0))


def _no_record(name: str) -> str:
    return f"no usable record {name!r} of chapter {SCALING_CHAPTER} (run it with its defaults)"


def _setting(r: dict[str, Any]) -> str:
    return f"at D = {r['D']}, K = {r['K']}, η = {r['eta']:g}, ‖V*‖_F² = {r['v']:.4g}"


#: the fields of the record ``asymptotic_constant`` (:func:`tltlib.claims.scaling.closed_form_checks`)
_SETTING_FIELDS = ("measured", "D", "K", "eta", "v", "T", "T_excess", "T_star")


def _setting_record(records: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """The record ``asymptotic_constant`` if it has every field the report reads."""
    r = records.get("asymptotic_constant")
    if r is None or not all(isinstance(r.get(k), int | float) for k in _SETTING_FIELDS):
        return None
    return r


def _loss_constant(records: dict[str, dict[str, Any]]) -> Disagreement:
    r = _setting_record(records)
    if r is None:
        numbers = _no_record("asymptotic_constant")
    else:
        D, K, eta = float(r["D"]), float(r["K"]), float(r["eta"])
        book, theorem = D * (D - K) * K / (4 * eta), K * D**4 / eta
        numbers = (
            f"{_setting(r)} and T = {r['T']:.0e} ({r['T'] / max(r['T_star'], 1):.0f} T*): "
            f"T(L − L_opt) = {r['T_excess']:.5g}, D(D−K)K/(4η) = {book:.5g} (ratio "
            f"{r['measured']:.4f}); KD⁴/η = {theorem:.4g}, {theorem / book:.4g} times larger "
            "(4D³/(D−K))"
        )
    return Disagreement(
        "excess loss: its constant",
        "L − L_opt = Θ(KD⁴/(ηT)) (Theorem 3.1 (iii)): matching upper and lower bounds",
        "T(L − L_opt) → D(D−K)K/(4η) on the exact dynamics (slow manifold)",
        numbers,
        "the upper bound O(KD⁴/(ηT)) holds, loose by about 4D³/(D−K); the lower bound, and the "
        "claim that the bounds match, do not: they fail by a factor that grows like D²",
        ("asymptotic_constant",),
    )


def _exponent(r: dict[str, Any]) -> Disagreement:
    quantity, factor = str(r["name"]).split("_exponent_", 1)
    book, verdict = EXPONENT_NOTES.get(
        (quantity, factor),
        (f"the closed form of chapter {SCALING_CHAPTER}", "outside the tolerance of the theorem"),
    )
    lo, hi = r.get("ci95", [math.nan, math.nan])
    return Disagreement(
        f"power of {_factor(r)} in {_quantity(r)}",
        f"{float(r['theorem']):g} ({_THEOREM_PARTS.get(quantity, 'Theorem 3.1')})",
        book,
        f"fitted {float(r['measured']):.3f} (95 % CI {lo:.3f} to {hi:.3f}, {r.get('points')} "
        f"settings); the book's closed form fitted on the same grid {float(r['expected']):.3f}",
        verdict,
        (str(r["name"]),),
    )


def _distances(records: dict[str, dict[str, Any]]) -> list[Disagreement]:
    r = _setting_record(records)
    unrecorded = (
        f"no check record: chapter {SCALING_CHAPTER.split('-', 1)[0]} shows the fitted "
        "exponents in its fit table (on a finite grid D√(D−K) and (D−K)√K are steeper in D "
        "than D^(3/2) and D)"
    )
    if r is None:
        s_numbers = w_numbers = f"{unrecorded}; {_no_record('asymptotic_constant')}"
    else:
        D, K, eta, v = (float(r[k]) for k in ("D", "K", "eta", "v"))
        s_book, s_theorem = D * math.sqrt((D - K) / (2 * eta * v)), D**2.5 / math.sqrt(eta * v)
        w_book, w_theorem = (D - K) * math.sqrt(K / (2 * eta)), D**2 * math.sqrt(K / eta)
        s_numbers = (
            f"{unrecorded}; the formulas {_setting(r)}: D√((D−K)/(2η‖V*‖²)) = {s_book:.4g}, "
            f"D^(5/2)/(‖V*‖√η) = {s_theorem:.4g}, {s_theorem / s_book:.3g} times larger"
        )
        w_numbers = (
            f"{unrecorded}; the formulas {_setting(r)}: (D−K)√(K/(2η)) = {w_book:.4g}, "
            f"D²√(K/η) = {w_theorem:.4g}, {w_theorem / w_book:.3g} times larger"
        )
    return [
        Disagreement(
            "distance of S: its constant",
            "‖S − S*‖_F = Θ(D^(5/2)/(‖V*‖_F √(ηT))) (Theorem 3.1 (i))",
            "√T‖S − S*‖_F → D√((D−K)/(2η‖V*‖_F²)): D^(3/2); the power −1 of ‖V*‖_F is the "
            "theorem's",
            s_numbers,
            "the upper bound holds, loose by √(2D³/(D−K)); the lower bound fails by a factor "
            "that grows like D",
        ),
        Disagreement(
            "distance of W_V: its constant",
            "‖W_V − V*‖_F = Θ(D² √(K/(ηT))) (Theorem 3.1 (ii))",
            "√T‖W_V − V*‖_F → (D−K)√(K/(2η)): D¹; no ‖V*‖_F, as in the theorem",
            w_numbers,
            "the upper bound holds, loose by √2·D²/(D−K); the lower bound fails by a factor "
            "that grows like D",
        ),
    ]


def _gap_rate() -> Disagreement:
    return Disagreement(
        "growth of the logit gap",
        "C₂ + C₃ = (√D/2) log(Θ(η‖V*‖²/(K³D²)) T + …) (the paper's formula for the gap)",
        "e² ≈ K³/(2η‖V*‖²T) on the slow manifold, i.e. C₂ + C₃ ≈ (√D/2) log(2η‖V*‖²T/K³)",
        f"a closed form (chapter {SCALING_CHAPTER.split('-', 1)[0]}, 'Why the tail is 1/T'), "
        "checked through the limit of T(L − L_opt) above",
        "the same K³, but no D² in the rate; with η‖V*‖²/K³ the paper's rates become the book's",
    )


def disagreements(report: Report) -> list[Disagreement]:
    """The claims of the paper that the book's numbers contradict, read from the records of
    :data:`SCALING_CHAPTER` where they hold the numbers.

    In order: the constant of the excess loss (record ``asymptotic_constant``), every fitted
    exponent whose record keeps a theorem's exponent it misses by more than the check's
    tolerance (records ``*_exponent_*``; the theorem's powers of D and, at finite D/K, of K),
    the constants of the two distances (the book's closed forms, not recorded) and the growth
    of the logit gap (a closed form).
    """
    records = report.records_of(SCALING_CHAPTER)
    rows = [_loss_constant(records)]
    exponents = [r for r in records.values() if _is_exponent(r)]
    if exponents:
        rows += [_exponent(r) for r in exponents if not _exponent_agrees(r)]
    else:
        rows.append(
            Disagreement(
                "power of D in T(L − L_opt)",
                "4 (Theorem 3.1 (iii))",
                EXPONENT_NOTES[("T_excess", "D")][0],
                _no_record("T_excess_exponent_D"),
                EXPONENT_NOTES[("T_excess", "D")][1],
                ("T_excess_exponent_D",),
            )
        )
    return rows + _distances(records) + [_gap_rate()]


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
    yaml = require("yaml", "book")
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
            c.problem = staleness(file, path, records)
            if c.problem is None:
                c.records = records
    return c


def staleness(file: Path, path: Path, records: list[dict[str, Any]]) -> str | None:
    """Why the records in ``file`` are stale for the chapter ``path``, or ``None``.

    Records stamped by :meth:`~tltlib.core.checks.CheckLog.save` are fresh when the hash of the
    chapter's code cells and that of ``tltlib`` match the current sources: a prose-only edit
    keeps them (the cached book build does not run the chapter again), a code edit or a
    library edit does not. Records without the stamp fall back on the files' times.
    """
    stamped = [r for r in records if "code_hash" in r and "library_hash" in r]
    if not stamped:
        if file.stat().st_mtime < path.stat().st_mtime:
            return f"the records in {file} are older than {path.name}: run the chapter again"
        return None
    if {r["code_hash"] for r in stamped} != {fingerprint.code_hash(path)}:
        return (
            f"the records in {file} were made by other code cells than those of {path.name} "
            "now: run the chapter again"
        )
    if {r["library_hash"] for r in stamped} != {fingerprint.library_hash()}:
        return (
            f"the records in {file} were made by another version of tltlib: run the chapter again"
        )
    return None


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


def main(args: argparse.Namespace) -> int:
    root = Path(args.root).resolve() if args.root else ROOT
    report = run_all(root, args.records) if args.run else collect(root, args.records)
    print(report.markdown(links="html") if args.markdown else report.text())
    problems = report.problems()
    for line in problems:
        print(f"error: {line}", file=sys.stderr)
    return 0 if report.passed and not problems else 1


#: ``python -m tltlib report``: its line in ``python -m tltlib --help``
HELP = "every check of every chapter in one table (exit 1 if a claim fails)"
#: and the text of ``python -m tltlib report --help``
DESCRIPTION = """\
Print the reproduction report: the check records of every chapter in _toc.yml. Reads the
records that the last book build or pytest run left in the records directory; --run
executes every chapter with its defaults first. Exit status 0 if every check of every
chapter passed, 1 otherwise (a failed claim, a chapter without records or with records
made by other code cells or another tltlib).
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``python -m tltlib report``."""
    parser.add_argument(
        "--run",
        action="store_true",
        help="execute every chapter with its defaults first (papermill; minutes)",
    )
    parser.add_argument(
        "--records",
        help="records directory (default: $TLTLIB_RECORDS_DIR, else _build/checks)",
    )
    parser.add_argument("--markdown", action="store_true", help="print the Markdown table")
    parser.add_argument("--root", help=argparse.SUPPRESS)
