"""The book's execution cache cannot go stale: code cells, the library and the check records.

The unit tests cover the fingerprints (:mod:`tltlib.core.fingerprint`) and the report's
staleness test; :func:`test_a_cached_build_runs_exactly_what_changed` builds a tiny book with
Sphinx, MyST-NB in cache mode and the hooks of :mod:`tltlib.book.sphinx`, and counts the
executions of its one chapter through a prose edit, a code edit, an undone code edit, a library
edit, ``$TLTLIB_FORCE_EXECUTE`` and deleted records.
"""

import json
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
from myst_text import myst_chapter

from tltlib.book import report
from tltlib.book import sphinx as book
from tltlib.core import fingerprint
from tltlib.core.checks import ENV_VAR, RECORDS_DIR_VAR, CheckLog

PROSE = "(ch-{stem})=\n# A chapter\n\nSome prose.\n"
CODE = "```{{code-cell}} ipython3\n:tags: [parameters]\n\nseed = {seed}\n```\n"


def chapter_text(seed: int = 0, prose: str = "Some prose.") -> str:
    return myst_chapter(
        PROSE.format(stem="01-x").replace("Some prose.", prose) + "\n" + CODE.format(seed=seed)
    )


def test_code_hash_ignores_prose_and_sees_code_and_options(tmp_path):
    path = tmp_path / "01-x.md"
    path.write_text(chapter_text())
    base = fingerprint.code_hash(path)
    assert fingerprint.code_cells(path.read_text()) == [
        "```{code-cell} ipython3\n:tags: [parameters]\n\nseed = 0"
    ]
    path.write_text(chapter_text(prose="Other words, and a $\\mathbf{W}$."))
    assert fingerprint.code_hash(path) == base
    path.write_text(chapter_text(seed=1))
    assert fingerprint.code_hash(path) != base
    path.write_text(chapter_text().replace(":tags: [parameters]", ":tags: [remove-input]"))
    assert fingerprint.code_hash(path) != base


def test_library_hash_sees_every_python_file(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "a.py").write_text("x = 1\n")
    (package / "sub" / "b.py").write_text("y = 2\n")
    base = fingerprint.library_hash(package)
    (package / "notes.txt").write_text("not code")
    assert fingerprint.library_hash(package) == base
    (package / "sub" / "b.py").write_text("y = 3\n")
    assert fingerprint.library_hash(package) != base
    assert fingerprint.library_hash() == fingerprint.library_hash()  # tltlib itself


def fake_book(tmp_path: Path) -> tuple[Path, Path, Path]:
    root = tmp_path / "book"
    (root / "chapters").mkdir(parents=True)
    (root / "_toc.yml").write_text(
        "format: jb-book\nroot: index\nchapters:\n  - file: chapters/01-x\n"
    )
    source = root / "chapters" / "01-x.md"
    source.write_text(chapter_text())
    return root, source, tmp_path / "records"


def save(records: Path, source: Path) -> Path:
    log = CheckLog("01-x")
    log.at_least("x", "claim", 1.0, 0.5)
    return log.save(records / "01-x.json", source=source)


def test_records_stay_fresh_through_prose_and_go_stale_on_code_or_library(tmp_path, monkeypatch):
    root, source, records = fake_book(tmp_path)
    stamped = json.loads(save(records, source).read_text())[0]
    assert stamped["code_hash"] == fingerprint.code_hash(source)
    assert stamped["library_hash"] == fingerprint.library_hash()

    source.write_text(chapter_text(prose="A rewritten paragraph."))  # newer than the records
    assert report.collect(root, records).chapters[0].status == "pass"
    source.write_text(chapter_text(seed=3))
    assert "other code cells" in report.collect(root, records).chapters[0].problem
    source.write_text(chapter_text())
    assert report.collect(root, records).chapters[0].problem is None
    monkeypatch.setattr(fingerprint, "library_hash", lambda package=None: "another")
    assert "another version of tltlib" in report.collect(root, records).chapters[0].problem


def test_save_stamps_the_chapters_of_the_checkout_only(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    log = CheckLog("00-bilinear-structure")
    log.at_most("a", "claim", 0.0, 1.0)
    assert set(log.fingerprint()) == {"code_hash", "library_hash"}
    assert CheckLog("99-not-a-chapter").fingerprint() == {}


def fake_app(tmp_path: Path, root: Path, mode: str = "cache") -> SimpleNamespace:
    config = SimpleNamespace(
        execution_mode=mode, execution_cache_path=str(tmp_path / "_build" / ".jupyter_cache")
    )
    return SimpleNamespace(env=SimpleNamespace(mystnb_config=config), srcdir=str(root))


def test_the_cache_is_emptied_when_the_library_changes_or_on_request(tmp_path, monkeypatch):
    monkeypatch.delenv(book.FORCE_VAR, raising=False)
    root, source, records = fake_book(tmp_path)
    monkeypatch.setenv(RECORDS_DIR_VAR, str(records))
    app = fake_app(tmp_path, root)
    cache = Path(app.env.mystnb_config.execution_cache_path)
    cache.mkdir(parents=True)
    book.invalidate_cache(app)  # no key yet: nothing in the cache can be trusted
    assert not cache.exists() and app.tltlib_reread == {"*"}
    env = SimpleNamespace(found_docs={"index", "chapters/01-x"})
    assert book.report_always_outdated(app, env, set(), set(), set()) == ["chapters/01-x", "index"]

    cache.mkdir()
    book.save_cache_key(app, RuntimeError("a failed build"))
    assert not (cache.parent / book.KEY_FILE).exists()  # a failed build keeps no key
    book.save_cache_key(app, None)
    book.invalidate_cache(app)
    assert cache.is_dir() and app.tltlib_reread == {"chapters/01-x"}  # it has no records
    save(records, source)
    book.invalidate_cache(app)
    assert cache.is_dir() and app.tltlib_reread == set()

    monkeypatch.setenv(book.FORCE_VAR, "1")
    book.invalidate_cache(app)
    assert not cache.exists() and app.tltlib_reread == {"*"}
    monkeypatch.delenv(book.FORCE_VAR)

    cache.mkdir()
    book.save_cache_key(app, None)
    monkeypatch.setattr(book, "cache_key", lambda: {"library_hash": "edited"})
    book.invalidate_cache(app)
    assert not cache.exists() and app.tltlib_reread == {"*"}

    off = fake_app(tmp_path, root, mode="force")  # without the cache the hooks do nothing
    book.invalidate_cache(off)
    assert off.tltlib_reread == set()


CONF = """
extensions = ["myst_nb", "tltlib.book.sphinx"]
nb_execution_mode = "cache"
nb_execution_raise_on_error = True
exclude_patterns = ["_build", "_toc.yml"]
"""

COUNTING_CELL = textwrap.dedent(
    """
    ```{{code-cell}} ipython3
    with open({counter!r}, "a") as f:
        f.write("run\\n")
    from tltlib.core.checks import CheckLog

    log = CheckLog("01-x")
    log.at_least("x", "claim", {value}, 0.5)
    log.save(source="01-x.md")
    ```
    """
)


def test_a_cached_build_runs_exactly_what_changed(tmp_path, monkeypatch):
    """Sphinx + MyST-NB (cache mode) + the hooks, on a one-chapter book."""
    from sphinx.application import Sphinx

    monkeypatch.delenv(book.FORCE_VAR, raising=False)
    monkeypatch.delenv(ENV_VAR, raising=False)
    records = tmp_path / "records"
    monkeypatch.setenv(RECORDS_DIR_VAR, str(records))
    root, source, _ = fake_book(tmp_path)
    (root / "conf.py").write_text(CONF)
    (root / "index.md").write_text("# Index\n\n```{toctree}\nchapters/01-x\n```\n")
    counter = tmp_path / "runs.txt"

    def write(value: float = 1.0, prose: str = "Some prose.") -> None:
        source.write_text(
            chapter_text(prose=prose) + COUNTING_CELL.format(counter=str(counter), value=value)
        )

    def build() -> int:
        """Build; return the number of executions of the chapter so far."""
        out = root / "_build"
        app = Sphinx(
            str(root), str(root), str(out / "html"), str(out / ".doctrees"), "html",
            status=None, warning=None, freshenv=False,
        )  # fmt: skip
        app.build()
        assert app.statuscode == 0
        return len(counter.read_text().split()) if counter.exists() else 0

    def fresh() -> bool:
        return report.collect(root, records).chapters[0].problem is None

    (root / "index.md").write_text(
        "# Index\n\n```{toctree}\nchapters/01-x\nreproduction-report\n```\n"
    )
    report_runs = tmp_path / "report-runs.txt"
    (root / "reproduction-report.md").write_text(
        myst_chapter(
            "(reproduction-report)=\n# Report\n\n```{code-cell} ipython3\n:tags: [remove-input]\n\n"
            f"with open({str(report_runs)!r}, 'a') as f:\n    f.write('run\\n')\n```\n"
        )
    )

    def report_executions() -> int:
        return len(report_runs.read_text().split()) if report_runs.exists() else 0

    write()
    assert build() == 1 and fresh() and report_executions() == 1
    assert build() == 1 and report_executions() == 1  # nothing changed: the report is cached
    assert (root / "_build" / book.KEY_FILE).is_file()
    write(prose="A prose-only edit.")
    assert build() == 1 and fresh()  # read again, not executed: the records stay fresh
    assert report_executions() == 1  # and the report read the same records: cached too
    write(value=2.0, prose="A prose-only edit.")
    assert build() == 2 and fresh()  # a code edit
    assert report_executions() == 2  # new records: the report runs again
    write(prose="A prose-only edit.")
    # the code is back to a version the cache holds, but the records are of the other one
    assert build() == 3 and fresh()
    monkeypatch.setattr(book, "cache_key", lambda: {"library_hash": "an edited tltlib"})
    assert build() == 4 and fresh()  # a library edit
    assert build() == 4
    monkeypatch.setenv(book.FORCE_VAR, "1")
    assert build() == 5
    monkeypatch.delenv(book.FORCE_VAR)
    assert build() == 5
    (records / "01-x.json").unlink()
    assert build() == 6 and fresh()  # deleted records: run again


@pytest.mark.parametrize("page", ["reproduction-report.md", "appendix/robustness.md"])
def test_pages_that_read_the_chapters_are_keyed_on_their_inputs(page):
    from tltlib.core.paths import ROOT

    text = (ROOT / page).read_text()
    assert "execution_mode" not in text.split("---", 2)[1]  # the cache decides
    docname = str(Path(page).with_suffix(""))
    assert docname in book.ALWAYS_READ
    digest = book.page_inputs(docname, ROOT)
    stamped = book.stamped(text, digest)
    cells = fingerprint.code_cells(stamped)
    assert book.STAMP + digest in cells[0] and cells[1:] == fingerprint.code_cells(text)[1:]
    assert cells[0].splitlines()[1].startswith(":tags:")  # the stamp goes after the options


def test_the_report_inputs_see_records_toc_and_chapter_code(tmp_path, monkeypatch):
    root, source, records = fake_book(tmp_path)
    monkeypatch.setenv(RECORDS_DIR_VAR, str(records))
    base = book.page_inputs(book.REPORT_DOCNAME, root)
    robust = book.page_inputs(book.ROBUSTNESS_DOCNAME, root)
    source.write_text(chapter_text(prose="Only prose."))
    assert book.page_inputs(book.REPORT_DOCNAME, root) == base
    save(records, source)
    after_save = book.page_inputs(book.REPORT_DOCNAME, root)
    assert after_save != base
    assert book.page_inputs(book.ROBUSTNESS_DOCNAME, root) == robust  # records: not its input
    source.write_text(chapter_text(seed=5))
    assert book.page_inputs(book.REPORT_DOCNAME, root) != after_save
    (root / "appendix").mkdir()
    (root / "appendix" / "robustness.json").write_text('{"rows": []}\n')
    assert book.page_inputs(book.ROBUSTNESS_DOCNAME, root) != robust
