import json
import subprocess
import sys

import pytest

from tltlib.book import runner
from tltlib.book.runner import ParameterError
from tltlib.core.paths import ROOT
from tltlib.examples import cnn
from tltlib.model import theory

CH01 = ROOT / "chapters" / "01-cnn-average-pooling.md"


def cli(*args, cwd=ROOT):
    return subprocess.run(
        [sys.executable, "-m", "tltlib", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_resolve_chapter_by_number_slug_and_path():
    assert runner.resolve_chapter("01") == CH01
    assert runner.resolve_chapter("1") == CH01
    assert runner.resolve_chapter("01-cnn-average-pooling") == CH01
    assert runner.resolve_chapter(str(CH01)) == CH01
    with pytest.raises(ParameterError, match="unknown chapter"):
        runner.resolve_chapter("99")


def test_resolve_chapter_with_a_letter_and_an_ambiguous_number():
    ch09a = runner.resolve_chapter("09a")
    assert ch09a.stem.startswith("09a-") and runner.resolve_chapter("9A") == ch09a
    with pytest.raises(ParameterError, match=r"ambiguous.*09a-.*09b-"):
        runner.resolve_chapter("09")
    with pytest.raises(ParameterError, match="unknown chapter"):
        runner.resolve_chapter("01b")


def test_every_chapter_has_a_literal_parameters_cell_with_a_seed():
    for path in sorted((ROOT / "chapters").glob("*.md")):
        params = runner.chapter_parameters(path)
        assert "seed" in params, path.name


def test_parameters_cell_must_hold_literals(tmp_path):
    nb = tmp_path / "x.md"
    nb.write_text(CH01.read_text().replace("seed = 0", "seed = 1 + 1"))
    with pytest.raises(ParameterError, match="non-literal"):
        runner.chapter_parameters(nb)


def test_coerce_parameters():
    defaults = {"D": 16, "eta": 0.4, "activations": ["relu"], "name": "x", "flag": True}
    out = runner.coerce_parameters(
        {"D": "24", "eta": "1", "activations": "['identity']", "name": "y z", "flag": "False"},
        defaults,
        "ch",
    )
    assert out == {"D": 24, "eta": 1.0, "activations": ["identity"], "name": "y z", "flag": False}
    with pytest.raises(ParameterError, match="unknown parameter 'foo' for chapter ch; allowed: D"):
        runner.coerce_parameters({"foo": "1"}, defaults, "ch")
    with pytest.raises(ParameterError, match="parameter 'D' of chapter ch must be of type int"):
        runner.coerce_parameters({"D": "2.5"}, defaults, "ch")


def test_run_name():
    assert runner.run_name({}) == "defaults"
    assert runner.run_name({"seed": 3, "D": 24}) == "D=24,seed=3"
    assert runner.run_name({"activations": ["relu"]}) == "activations=__relu__"


def test_cli_rejects_unknown_parameter_before_running():
    out = cli("run", "01", "-q", "-p", "foo", "1")
    assert out.returncode == 2
    assert "unknown parameter 'foo'" in out.stderr and "Traceback" not in out.stderr


def test_cli_run_writes_records_and_fails_on_failed_checks(tmp_path):
    json_path = tmp_path / "out.json"
    nb = tmp_path / "run.ipynb"
    out = cli(
        "run",
        str(CH01),
        "-q",
        "-p",
        "horizon",
        "1.5",
        "-p",
        "D",
        "8",
        "-p",
        "K",
        "2",
        "-p",
        "seed",
        "3",
        "--json",
        str(json_path),
        "-o",
        str(nb),
    )
    assert nb.exists()
    records = json.loads(json_path.read_text())
    assert {"name", "claim", "measured", "expected", "tolerance", "passed"} <= set(records[0])
    # 1.5 T* is far too short for the attention to find the pooling groups: checks fail, and
    # the records say the run is not in the asymptotic regime
    assert out.returncode == 1
    assert not all(r["passed"] for r in records)
    assert "check(s) failed" in out.stderr
    slopes = [r for r in records if r["name"].endswith("loss_slope")]
    assert slopes and all(r["regime"].startswith("not in the asymptotic regime") for r in slopes)
    exact = next(r for r in records if r["name"] == "exact/loss_slope")
    teacher = cnn.conv_pool_1d(8, 2, 10, 8, "relu", seed=3).as_teacher()
    steps = theory.horizon_steps(teacher, theory.stable_step(teacher, 0.8), 1.5)
    assert exact["steps"] == steps and exact["D"] == 8 and "excess_loss_final" in exact


def test_format_records_prints_a_measured_value_that_is_not_a_number():
    records = [
        {
            "name": "a",
            "comparison": "close",
            "expected": 1.0,
            "tolerance": 0.1,
            "passed": False,
            "measured": None,
        },
        {
            "name": "b",
            "comparison": "at_most",
            "expected": 2,
            "tolerance": None,
            "passed": True,
            "measured": 1.5,
        },
    ]
    text = runner.format_records(records)
    assert "measured None" in text and "FAIL" in text and "<= 2" in text


def test_resolve_chapter_outside_a_checkout(monkeypatch, tmp_path):
    """After a plain ``pip install .`` the package has no chapters beside it: names are looked
    up in ./chapters, and without one the error says where to run."""
    monkeypatch.setattr(runner, "CHAPTERS", tmp_path / "site-packages" / "chapters")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ParameterError, match=r"outside a checkout.*run from the book's root"):
        runner.resolve_chapter("01")
    (tmp_path / "chapters").mkdir()
    copy = tmp_path / "chapters" / CH01.name
    copy.write_text(CH01.read_text())
    assert runner.resolve_chapter("01") == copy.resolve()
