"""The reproduction report: records in, one table out; the Sphinx hooks that order the build."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
from myst_text import myst_chapter

from tltlib.__main__ import main
from tltlib.book import report
from tltlib.book import sphinx as book
from tltlib.core.checks import ENV_VAR, RECORDS_DIR_VAR, CheckLog, default_records_dir
from tltlib.core.paths import ROOT

CHAPTER = myst_chapter(
    """(ch-{stem})=
# {title}

Text.
"""
)


def make_book(tmp_path: Path, chapters: dict[str, str]) -> Path:
    """A fake book: ``_toc.yml`` listing ``chapters`` (stem -> title) and their sources."""
    root = tmp_path / "book"
    (root / "chapters").mkdir(parents=True)
    toc = ["format: jb-book", "root: intro", "parts:", "  - caption: Chapters", "    chapters:"]
    for stem, title in chapters.items():
        (root / "chapters" / f"{stem}.md").write_text(CHAPTER.format(stem=stem, title=title))
        toc.append(f"      - file: chapters/{stem}")
    toc += ["  - caption: Back matter", "    chapters:", "      - file: reproduction-report"]
    (root / "_toc.yml").write_text("\n".join(toc) + "\n")
    return root


def save_log(records_dir: Path, chapter: str, *, fail: bool = False) -> Path:
    log = CheckLog(chapter)
    log.close_to("loss_slope", "Theorem 3.1 (iii): loss ~ 1/T", -1.04, -1.0, 0.15, stderr=0.01)
    log.at_least("cosine_final", "Figure 2(c) | alignment", 0.5 if fail else 0.999, 0.99)
    return log.save(records_dir / f"{chapter}.json")


@pytest.fixture
def fake_book(tmp_path):
    root = make_book(tmp_path, {"01-first": "The first", "02-second": "The second"})
    records = tmp_path / "records"
    return root, records


def test_save_writes_to_the_records_directory_by_default(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setenv(RECORDS_DIR_VAR, str(tmp_path / "r"))
    log = CheckLog("07-x")
    log.at_most("a", "claim", 0.0, 1.0)
    assert log.save() == tmp_path / "r" / "07-x.json"
    # $TLTLIB_CHECKS (the runner's file) still wins over the records directory
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "run.json"))
    assert log.save() == tmp_path / "run.json"


def test_default_records_dir_is_under_build_of_the_checkout(monkeypatch):
    monkeypatch.delenv(RECORDS_DIR_VAR, raising=False)
    assert default_records_dir() == ROOT / "_build" / "checks"


def test_toc_of_the_book_lists_every_chapter_in_order():
    files = report.toc_files(ROOT / "_toc.yml")
    assert files[0] == "intro"
    assert "reproduction-report" in files and "notation" in files
    chapters = [doc for doc, _ in report.toc_chapters(ROOT)]
    on_disk = sorted(f"chapters/{p.stem}" for p in (ROOT / "chapters").glob("*.md"))
    assert sorted(chapters) == on_disk, "every chapter file must be listed in _toc.yml"
    assert chapters == sorted(chapters), "chapters appear in _toc.yml in the order of their numbers"


def test_collect_reads_records_in_toc_order(fake_book):
    root, records = fake_book
    save_log(records, "01-first")
    save_log(records, "02-second", fail=True)
    rep = report.collect(root, records)
    assert [c.stem for c in rep.chapters] == ["01-first", "02-second"]
    first, second = rep.chapters
    assert first.title == "The first" and first.passed and first.n_passed == 2
    assert not second.passed and second.status == "FAIL"
    assert not rep.passed and (rep.n_passed, rep.n_checks) == (3, 4)
    assert rep.problems() == ["02-second: 1 check(s) failed: cosine_final"]
    rep.assert_complete()  # failed checks are not missing records


def test_markdown_tables(fake_book):
    root, records = fake_book
    save_log(records, "01-first")
    save_log(records, "02-second", fail=True)
    rep = report.collect(root, records)
    md = rep.markdown()
    assert "{doc}`01 </chapters/01-first>`" in md
    assert "| {doc}`02 </chapters/02-second>` | The second | 1 / 2 | **FAIL** |" in md
    # claim, measured, expected, tolerance and result of a two-sided check
    assert "| `loss_slope` | Theorem 3.1 (iii): loss \\~ 1/T | -1.04 | -1 | 0.15 | pass |" in md
    # a one-sided check shows its bound; a '|' in a claim cannot break the table
    assert "Figure 2(c) \\| alignment | 0.5 | ≥ 0.99 | bound | **FAIL** |" in md
    assert "[01](chapters/01-first.html)" in rep.markdown(links="html")
    assert rep.summary() == "3 of 4 checks pass; 1 of 2 chapters pass every check."
    text = rep.text()
    assert "FAIL  cosine_final" in text and "expected ≥ 0.99" in text


def test_missing_stale_and_foreign_records_are_problems(fake_book):
    root, records = fake_book
    rep = report.collect(root, records)
    assert all(c.status == "no records" for c in rep.chapters)
    assert "no check records" in rep.chapters[0].problem
    with pytest.raises(AssertionError, match="the report is incomplete"):
        rep.assert_complete()

    path = save_log(records, "01-first")
    source = root / "chapters" / "01-first.md"
    old = source.stat().st_mtime - 100
    os.utime(path, (old, old))
    assert "older than 01-first.md" in report.collect(root, records).chapters[0].problem

    (records / "02-second.json").write_text(json.dumps([{"chapter": "99-other", "name": "x"}]))
    assert "another chapter" in report.collect(root, records).chapters[1].problem


def test_cli_exit_status(fake_book, capsys):
    root, records = fake_book
    args = ["report", "--root", str(root), "--records", str(records)]
    assert main(args) == 1 and "no check records" in capsys.readouterr().err
    save_log(records, "01-first")
    save_log(records, "02-second", fail=True)
    assert main([*args, "--markdown"]) == 1
    out = capsys.readouterr()
    assert "| `cosine_final` |" in out.out
    assert "error: 02-second: 1 check(s) failed: cosine_final" in out.err
    save_log(records, "02-second")
    # the real command line, once
    out = subprocess.run(
        [sys.executable, "-m", "tltlib", *args], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "pass  loss_slope" in out.stdout and "4 of 4 checks pass" in out.stdout


def test_report_page_reads_the_records_with_no_number_typed_in():
    page = (ROOT / "reproduction-report.md").read_text()
    assert "report.collect()" in page and "rep.assert_complete()" in page
    assert "reproduction-report" in [*report.toc_files(ROOT / "_toc.yml")]


def test_hooks_put_the_report_last_and_always_reread_it():
    names = ["bibliography", "reproduction-report", "zz/appendix", "chapters/01-x"]
    book.read_report_last(None, None, names)
    assert names == ["bibliography", "zz/appendix", "chapters/01-x", "reproduction-report"]

    env = SimpleNamespace(found_docs={"intro", "reproduction-report"})
    assert book.report_always_outdated(None, env, set(), set(), set()) == ["reproduction-report"]
    env.found_docs = {"intro"}
    assert book.report_always_outdated(None, env, set(), set(), set()) == []


def test_sphinx_reads_the_report_after_every_other_document(tmp_path):
    """A real (tiny) Sphinx build: reading order, and the report re-read on a rebuild."""
    from sphinx.application import Sphinx

    src = tmp_path / "src"
    src.mkdir()
    order_file = tmp_path / "order.txt"
    (src / "conf.py").write_text(
        textwrap.dedent(
            f"""
            extensions = ["tltlib.book.sphinx"]
            def setup(app):
                def record(app, docname, source):
                    with open({str(order_file)!r}, "a") as f:
                        f.write(docname + "\\n")
                app.connect("source-read", record)
            """
        )
    )
    docs = ["index", "reproduction-report", "zz-after-the-report", "chapters/01-x"]
    (src / "chapters").mkdir()
    for doc in docs:
        body = "Title\n=====\n"
        if doc == "index":
            body += "\n.. toctree::\n\n" + "".join(f"   {d}\n" for d in docs[1:])
        (src / f"{doc}.rst").write_text(body)

    def build():
        order_file.write_text("")
        app = Sphinx(
            str(src), str(src), str(tmp_path / "out"), str(tmp_path / "doctrees"), "html",
            status=None, warning=None, freshenv=False,
        )  # fmt: skip
        app.build()
        return order_file.read_text().split()

    first = build()
    assert sorted(first) == sorted(docs) and first[-1] == "reproduction-report"
    assert build() == ["reproduction-report"]  # nothing changed, but the report is re-read


def test_run_executes_every_chapter_and_writes_fresh_records(tmp_path):
    """``python -m tltlib report --run``: papermill runs each chapter with its defaults."""
    root = make_book(tmp_path, {"01-first": "The first", "02-second": "The second"})
    for stem, measured in (("01-first", 1.0), ("02-second", 0.0)):
        path = root / "chapters" / f"{stem}.md"
        path.write_text(
            path.read_text()
            + "\n```{code-cell} ipython3\n:tags: [parameters]\n\nseed = 0\n```\n\n"
            + "```{code-cell} ipython3\nfrom tltlib.core.checks import CheckLog\n\n"
            + f'log = CheckLog("{stem}")\n'
            + f'log.at_least("x", "claim", {measured}, 0.5)\nlog.save()\nlog.assert_all()\n```\n'
        )
    records = tmp_path / "records"
    rep = report.run_all(root, records)
    assert [c.status for c in rep.chapters] == ["pass", "FAIL"]
    assert (records / "01-first.json").is_file() and (records / "02-second.json").is_file()
    assert rep.chapters[1].records[0]["measured"] == 0.0


def test_check_tables_show_claims_as_plain_text():
    """Chapters' Markdown outputs are rendered as MyST: a '|' or '*' in a claim is not markup."""
    log = CheckLog("00-x")
    log.close_to("gap", "§1.5: |z| of the gap, σ(V* X S*)", 0.5, 0.0, 4.0)
    row = log.table().splitlines()[-1]
    assert row.count(" | ") == 4  # five cells, whatever the claim holds
    assert "\\|z\\| of the gap, σ(V\\* X S\\*)" in row
