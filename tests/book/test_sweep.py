"""``python -m tltlib sweep``: grids, bad input before any run, the cache, the table, Dask.

The sweeps run a tiny chapter written by the test (a few seconds per run, mostly the
kernel's start), not the book's chapters.
"""

import csv
import json
import subprocess
import sys

import pytest
from myst_text import myst_chapter

from tltlib.book import sweep
from tltlib.book.runner import ParameterError
from tltlib.core.paths import ROOT

TINY = myst_chapter(
    """# A tiny chapter for the sweep tests

```{code-cell} ipython3
:tags: [parameters]

seed = 0
eta = 0.2
D = 6
late = 1.0
bound = 0.5
activations = ["identity"]
```

```{code-cell} ipython3
from tltlib.model import teachers
from tltlib.core.checks import CheckLog
from tltlib.train.online import train_online
from tltlib.core.validate import positive_float

teacher = teachers.cnn_teacher(D=D, K=2, d=3, M=2, activation=activations[0], seed=seed)
log = CheckLog("tiny")
```

```{code-cell} ipython3
run = train_online(teacher, eta, 100, batch=10, noise=0.0, seed=seed)
positive_float("late", late)
```

```{code-cell} ipython3
log.at_least("cosine", "the value block aligns", run.history.final("cosine"), bound)
log.at_most("loss", "the loss is finite", run.history.final("excess_loss"), 1e9)
log.save()
log.assert_all()
```
"""
)


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.md"
    path.write_text(TINY)
    return path


def cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "tltlib", "sweep", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_split_values_keeps_commas_inside_brackets_and_quotes():
    assert sweep.split_values("0.1, 0.2") == ["0.1", "0.2"]
    assert sweep.split_values("['relu','identity'],['relu']") == ["['relu','identity']", "['relu']"]
    assert sweep.split_values("'a,b',c") == ["'a,b'", "c"]


@pytest.mark.parametrize(
    ("specs", "match"),
    [
        (["eta="], "the grid of 'eta' is empty"),
        (["eta"], "--grid takes NAME=V1,V2"),
        (["eta=0.1,,0.2"], "has an empty value"),
        (["eta=0.1", "eta=0.2"], "given twice"),
    ],
)
def test_parse_grid_rejects_bad_specs(specs, match):
    with pytest.raises(ParameterError, match=match):
        sweep.parse_grid(specs)


def test_build_points_is_the_product_with_seeds(tiny):
    points = sweep.build_points(tiny, sweep.parse_grid(["eta=0.1,0.2", "D=6,8"]), seeds=2)
    assert len(points) == 8
    assert points[0] == {"eta": 0.1, "D": 6, "seed": 0}
    assert points[-1] == {"eta": 0.2, "D": 8, "seed": 1}
    lists = sweep.build_points(tiny, sweep.parse_grid(["activations=['relu'],['identity']"]))
    assert lists == [{"activations": ["relu"]}, {"activations": ["identity"]}]


@pytest.mark.parametrize(
    ("grid", "seeds", "match"),
    [
        (["foo=1,2"], None, "unknown parameter 'foo' for chapter tiny; allowed: seed, eta"),
        (["D=6,x"], None, "parameter 'D' of chapter tiny must be of type int"),
        (["D=6,6"], None, "repeats a value"),
        (["seed=1,2"], 2, "either by --seeds or by --grid seed"),
        ([], 0, "--seeds must be an integer >= 1"),
        ([], None, "at least one --grid"),
    ],
)
def test_build_points_rejects_bad_input(tiny, grid, seeds, match):
    with pytest.raises(ParameterError, match=match):
        sweep.build_points(tiny, sweep.parse_grid(grid), seeds)


def test_dry_run_finds_values_the_chapter_rejects(tiny):
    points = [{"D": 6}, {"D": 7}, {"eta": -1.0}, {"late": -1.0}]
    errors = sweep.dry_run(tiny, points)
    assert errors[0] is None
    assert errors[1].startswith("ValueError") and "divisor" in errors[1]
    assert errors[2].startswith("ValueError: eta must be a finite number > 0")
    assert errors[3] is None  # rejected only after training: left to the run itself


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--grid", "foo=1"], "unknown parameter 'foo'"),
        (["--grid", "eta="], "the grid of 'eta' is empty"),
        (["--grid", "D=6,7"], "rejects D=7: ValueError"),
    ],
)
def test_cli_rejects_bad_input_before_any_run(tiny, tmp_path, args, message):
    out = tmp_path / "sweep"
    result = cli(str(tiny), *args, "-o", str(out))
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()  # nothing ran, nothing was cached


def test_sweep_runs_caches_resumes_and_tabulates(tiny, tmp_path):
    out = tmp_path / "sweep"
    args = [str(tiny), "--grid", "bound=0.5,2.0", "--seeds", "1", "-j", "2", "-o", str(out), "-q"]
    first = cli(*args)
    assert "Traceback" not in first.stderr, first.stderr
    # bound=2.0 makes the cosine check fail (a cosine is at most 1): exit 1, rows kept
    assert first.returncode == 1, first.stderr
    assert "2 runs (0 cached): 1 passed, 1 failed a check" in first.stdout, first.stdout
    with (out / "table.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["bound"], r["seed"], r["status"]) for r in rows] == [
        ("0.5", "0", "passed"),
        ("2.0", "0", "failed"),
    ]
    assert all(0.5 < float(r["cosine"]) <= 1 for r in rows)
    with (out / "checks.csv").open() as f:
        assert len(list(csv.DictReader(f))) == 4
    assert (out / "plot.png").stat().st_size > 0
    cached = sorted((out / "cache").glob("*.json"))
    assert len(cached) == 2 and len(list((out / "cache").glob("*.ipynb"))) == 2

    # an interrupted sweep loses no finished run: drop one, and only that one runs again
    cached[0].unlink()
    second = cli(*args)
    assert "2 runs (1 cached)" in second.stdout, second.stdout + second.stderr
    assert json.loads(cached[0].read_text())["records"]


def test_sweep_stops_on_a_value_rejected_at_run_time(tiny, tmp_path):
    result = cli(str(tiny), "--grid", "late=-1.0", "-o", str(tmp_path / "s"), "-q")
    assert result.returncode == 2
    assert "rejects late=-1.0: ValueError: late must be a finite number > 0" in result.stderr
    assert not list((tmp_path / "s").glob("cache/*.json"))


def test_sweep_on_a_dask_cluster(tiny, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        points = sweep.build_points(tiny, sweep.parse_grid(["eta=0.1,0.2"]))
        result = sweep.run_sweep(
            tiny,
            points,
            scheduler=cluster.scheduler_address,
            cache_dir=tmp_path / "cache",
            progress=False,
        )
    assert [r["parameters"] for r in result.results] == points
    assert result.count("passed") == 2
    assert len(list((tmp_path / "cache").glob("*.json"))) == 2
