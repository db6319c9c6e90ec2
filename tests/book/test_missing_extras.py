"""Without an extra, ``tltlib.book`` says which one to install (``tltlib.core.extras``).

Each optional package is blocked in turn (``sys.modules[name] = None`` makes its import fail as
if it were not installed) and the function that needs it must raise an ``ImportError`` naming
the extra; the command line prints it as one line with exit status 2.
"""

import sys

import pytest

from tltlib.__main__ import main
from tltlib.book import report, runner, sweep
from tltlib.book.runner import ParameterError
from tltlib.core.extras import MissingExtraError
from tltlib.core.paths import ROOT

CH01 = ROOT / "chapters" / "01-cnn-average-pooling.md"


def block(monkeypatch, *modules: str) -> None:
    """Make ``import`` of each module fail as if it were not installed."""
    for name in modules:
        monkeypatch.setitem(sys.modules, name, None)


@pytest.mark.parametrize(
    ("blocked", "call", "extra"),
    [
        ("jupytext", lambda: runner.read_notebook(CH01), "book"),
        ("papermill", lambda: runner.run_chapter(CH01), "book"),
        ("yaml", lambda: report.toc_files(ROOT / "_toc.yml"), "book"),
        ("tqdm.auto", lambda: sweep.run_sweep(CH01, [{"seed": 1}]), "sweep"),
    ],
    ids=["jupytext", "papermill", "yaml", "tqdm"],
)
def test_a_missing_package_names_its_extra(monkeypatch, tmp_path, blocked, call, extra):
    monkeypatch.chdir(tmp_path)  # nothing may be written into the checkout
    block(monkeypatch, blocked)
    with pytest.raises(ImportError) as info:
        call()
    assert isinstance(info.value, MissingExtraError), info.value
    assert info.value.extra == extra
    assert f"pip install 'tltlib[{extra}]'" in str(info.value)


def test_each_call_works_with_its_extra_installed():
    """The same calls, unblocked, get past the import (so the test above can fail)."""
    assert runner.read_notebook(CH01).cells
    assert "intro" in report.toc_files(ROOT / "_toc.yml")


def test_dask_scheduler_without_distributed_is_a_parameter_error(monkeypatch):
    block(monkeypatch, "distributed")
    with pytest.raises(ParameterError, match=r"--dask-scheduler: .*tltlib\[sweep\]"):
        next(sweep._dask_results(str(CH01), [{"seed": 1}], "tcp://127.0.0.1:1"))


def test_the_command_line_prints_the_extra_and_exits_2(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)
    block(monkeypatch, "papermill")
    assert main(["run", str(CH01), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: 'papermill' is not installed")
    assert "pip install 'tltlib[book]'" in err
    assert len(err.strip().splitlines()) == 1


def test_the_command_line_lets_other_import_errors_through(monkeypatch, tmp_path):
    def broken(*args, **kwargs):
        raise ImportError("a bug, not a missing extra")

    monkeypatch.setattr(runner, "run_chapter", broken)
    with pytest.raises(ImportError, match="a bug"):
        main(["run", str(CH01), "-q"])
