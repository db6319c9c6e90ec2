"""The report's section "Where the book's measurements disagree with the paper".

Its numbers come from the records of the scaling chapter, so the records here are made by the
functions that chapter calls (:mod:`tltlib.claims.scaling`), on a small setting.
"""

from pathlib import Path

import numpy as np
import pytest
from myst_text import myst_chapter

from tltlib import claims, model, train
from tltlib.__main__ import main
from tltlib.book import report
from tltlib.core.checks import CheckLog
from tltlib.core.paths import ROOT

SCALING = report.SCALING_CHAPTER
D, K, ETA, V, STEPS = 20, 4, 0.1, 7.0, 50_000


def make_book(tmp_path: Path, stems: list[str]) -> Path:
    root = tmp_path / "book"
    (root / "chapters").mkdir(parents=True)
    toc = ["format: jb-book", "root: intro", "parts:", "  - caption: Chapters", "    chapters:"]
    for stem in stems:
        body = f"(ch-{stem})=\n# Chapter {stem}\n\nText.\n"
        (root / "chapters" / f"{stem}.md").write_text(myst_chapter(body))
        toc.append(f"      - file: chapters/{stem}")
    (root / "_toc.yml").write_text("\n".join(toc) + "\n")
    return root


def scaling_log() -> tuple[CheckLog, dict]:
    """The records of the scaling chapter that the report reads, made as the chapter makes them."""
    log = CheckLog(SCALING)
    run = train.reduced.train_reduced(D, K, ETA, V, STEPS)
    claims.scaling.late_slopes(log, run, tolerance=0.1)
    claims.scaling.closed_form_checks(log, run, D, K, ETA, V, tolerances={"T_star_closed_form": 1})
    g = claims.scaling.grid(D=[12, 20, 36], K=[2, 4], eta=[0.05, 0.1], v=[4.0, 16.0])
    constant = model.theory.asymptotic_excess_constant(g["D"], g["K"], g["eta"])
    fit = claims.scaling.power_law_fit(constant * (1 + 0.01 * np.log(g["v"])), g)
    closed = claims.scaling.power_law_fit(constant, g)
    expected = claims.scaling.mixed_expectation("T_excess", closed)
    claims.scaling.exponent_checks(log, "T_excess", fit, expected, 0.05, "slow manifold")
    return log, {"run": run, "fit": fit}


@pytest.fixture(scope="module")
def scaling_records():
    return scaling_log()


def book_with_records(tmp_path, scaling_records):
    root = make_book(tmp_path, ["01-first", SCALING])
    records = tmp_path / "records"
    first = CheckLog("01-first")
    first.close_to("loss_slope", "Theorem 3.1 (iii): excess loss = Θ(KD⁴/(ηT))", -1.04, -1, 0.15)
    first.save(records / "01-first.json")
    scaling_records[0].save(records / f"{SCALING}.json")
    return root, records


def test_the_report_has_the_section_with_the_numbers_of_the_records(tmp_path, scaling_records):
    root, records = book_with_records(tmp_path, scaling_records)
    rep = report.collect(root, records)
    log, made = scaling_records
    md = rep.markdown()
    assert f"## {report.DISAGREEMENTS_TITLE}" in md
    assert md.index("## Where the book") > md.index("| `loss_slope` |")  # after every check

    topics = [d.topic for d in rep.disagreements()]
    assert topics[0] == "excess loss: its constant"
    assert "power of D in T(L − L_opt)" in topics and "power of K in T(L − L_opt)" in topics
    assert "power of η in T(L − L_opt)" not in topics  # agrees: listed under the agreements
    assert "distance of S: its constant" in topics and "distance of W_V: its constant" in topics

    constant = rep.disagreements()[0]
    T_excess = log["asymptotic_constant"].extra["T_excess"]
    book_constant = D * (D - K) * K / (4 * ETA)
    assert f"T(L − L_opt) = {T_excess:.5g}" in constant.numbers
    assert f"D(D−K)K/(4η) = {book_constant:.5g}" in constant.numbers
    assert f"{K * D**4 / ETA / book_constant:.4g} times larger" in constant.numbers
    assert "upper bound O(KD⁴/(ηT)) holds" in constant.verdict
    assert "lower bound" in constant.verdict and "do not" in constant.verdict

    fit = made["fit"]
    power_D = next(d for d in rep.disagreements() if d.topic == "power of D in T(L − L_opt)")
    assert power_D.paper == "4 (Theorem 3.1 (iii))"
    assert f"fitted {fit.exponents['D']:.3f}" in power_D.numbers
    assert "η in T(L − L\\_opt)" in md  # the agreement note, escaped for MyST
    # the distances: the book's closed forms at the chapter's setting, no record of their own
    s_row = next(d for d in rep.disagreements() if d.topic == "distance of S: its constant")
    assert f"= {D * np.sqrt((D - K) / (2 * ETA * V)):.4g}" in s_row.numbers
    assert "no check record" in s_row.numbers
    # the loss-slope checks of every chapter are counted: they test the power of T only
    intro = rep.disagreement_intro()[0]
    assert "2 loss-slope checks quote Theorem 3.1 (iii)" in intro and "not its prefactor" in intro

    text = rep.text()
    assert report.DISAGREEMENTS_TITLE in text and f"{T_excess:.5g}" in text
    assert text.rstrip().endswith(rep.summary())


def test_the_cli_prints_the_section(tmp_path, scaling_records, capsys):
    root, records = book_with_records(tmp_path, scaling_records)
    args = ["report", "--root", str(root), "--records", str(records)]
    main([*args, "--markdown"])
    out = capsys.readouterr().out
    assert f"## {report.DISAGREEMENTS_TITLE}" in out and "| excess loss: its constant |" in out
    main(args)
    assert report.DISAGREEMENTS_TITLE in capsys.readouterr().out


def test_without_records_the_section_states_the_formulas(tmp_path):
    rep = report.collect(make_book(tmp_path, ["01-first", SCALING]), tmp_path / "none")
    rows = rep.disagreements()
    assert [d.topic for d in rows][:2] == [
        "excess loss: its constant",
        "power of D in T(L − L_opt)",
    ]
    assert all("no usable record" in d.numbers for d in rows[:4])
    assert "D(D−K)K/(4η)" in rows[0].book and "D√((D−K)/(2η‖V*‖_F²))" in rows[2].book
    assert f"## {report.DISAGREEMENTS_TITLE}" in rep.markdown()


def test_the_book_page_shows_the_section():
    page = (ROOT / "reproduction-report.md").read_text()
    assert f"## {report.DISAGREEMENTS_TITLE}" in page
    assert "rep.disagreement_section(heading=None)" in page
    stems = [path.stem for _, path in report.toc_chapters(ROOT)]
    assert SCALING in stems  # the chapter whose records the section reads is in the book
