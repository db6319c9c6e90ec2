"""``pip install .`` as a new user does it: a clean virtual environment, the torch pin, then the
package alone (no ``requirements.txt``, no extras).

Every module of ``tltlib`` must import; a function that needs an extra must raise an
``ImportError`` naming it; ``tltlib --help`` must work, and ``tltlib run 01`` outside a checkout
must say where the chapters are looked for. Marked ``install``: it downloads from the package
index (a few minutes, most of it pip); ``pytest -m "not install"`` leaves it out.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import venv
from pathlib import Path

import pytest

from tltlib.core.paths import ROOT

pytestmark = pytest.mark.install

#: what ``pip install .`` needs of the checkout (a copy, so that no build output lands in it)
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "tltlib")
TORCH_PIN = "torch==2.13.0"

#: run in the fresh environment: import every module, then call what needs the `book` extra
PROBE = textwrap.dedent(
    """
    import importlib, json, pkgutil, sys
    from pathlib import Path
    import tltlib

    report = {"file": tltlib.__file__, "modules": {}, "extras": {}}
    for info in pkgutil.walk_packages(tltlib.__path__, "tltlib."):
        try:
            importlib.import_module(info.name)
            report["modules"][info.name] = None
        except Exception as err:
            report["modules"][info.name] = f"{type(err).__name__}: {err}"

    from tltlib.book import report as book_report, runner
    calls = {
        "runner.read_notebook": lambda: runner.read_notebook(Path("x.md")),
        "report.toc_files": lambda: book_report.toc_files(Path("_toc.yml")),
    }
    for name, call in calls.items():
        try:
            call()
            report["extras"][name] = None
        except ImportError as err:
            report["extras"][name] = {"extra": getattr(err, "extra", None), "message": str(err)}
    print(json.dumps(report))
    """
)


def run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run a command, capturing its output as text; fails the test on a non-zero status
    unless ``check=False``."""
    check = kwargs.pop("check", True)
    out = subprocess.run(args, capture_output=True, text=True, **kwargs)
    if check and out.returncode != 0:
        pytest.fail(f"{' '.join(map(str, args))} exited {out.returncode}:\n{out.stderr[-4000:]}")
    return out


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A clean virtual environment with the torch pin and ``pip install <copy of the repo>``."""
    tmp = tmp_path_factory.mktemp("install")
    src = tmp / "src"
    src.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, src / name)
    env_dir = tmp / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)  # no system site-packages
    python = env_dir / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    run([*pip, TORCH_PIN], timeout=1200)
    run([*pip, str(src)], timeout=1200)
    return env_dir


def clean_env(env_dir: Path) -> dict[str, str]:
    """The process environment without this checkout on ``sys.path``, in the new venv."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PATH"] = f"{env_dir / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(env_dir)
    env["MPLBACKEND"] = "Agg"
    return env


def test_every_module_imports_and_a_missing_extra_is_named(installed, tmp_path):
    out = run(
        [str(installed / "bin" / "python"), "-c", PROBE],
        cwd=tmp_path,
        env=clean_env(installed),
        timeout=600,
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert Path(report["file"]).is_relative_to(installed), "tltlib must come from the new venv"
    assert "tltlib.book.runner" in report["modules"] and "tltlib.train.reduced" in report["modules"]
    # a module may need an extra (the Sphinx hooks need Sphinx): then it must say which
    failed = {
        name: err
        for name, err in report["modules"].items()
        if err is not None and not (err.startswith("MissingExtraError") and "tltlib[" in err)
    }
    assert not failed, f"modules that do not import after `pip install .`: {failed}"
    for call, err in report["extras"].items():
        assert err is not None, f"{call} ran without the book extra installed"
        assert err["extra"] == "book", (call, err)
        assert "pip install 'tltlib[book]'" in err["message"], (call, err)


def test_console_script_help(installed, tmp_path):
    out = run([str(installed / "bin" / "tltlib"), "--help"], cwd=tmp_path, env=clean_env(installed))
    assert out.stdout.startswith("usage: tltlib")
    for command in ("run", "sweep", "report", "robustness"):
        assert command in out.stdout


def test_a_chapter_by_number_outside_a_checkout_says_where_to_run(installed, tmp_path):
    out = run(
        [str(installed / "bin" / "tltlib"), "run", "01"],
        cwd=tmp_path,
        env=clean_env(installed),
        check=False,
    )
    assert out.returncode == 2, out.stderr
    assert "outside a checkout" in out.stderr and "chapters/" in out.stderr, out.stderr


def test_a_chapter_without_the_book_extra_names_it(installed, tmp_path):
    chapter = tmp_path / "chapters" / "01-cnn-average-pooling.md"
    chapter.parent.mkdir()
    shutil.copy2(ROOT / "chapters" / chapter.name, chapter)
    out = run(
        [str(installed / "bin" / "tltlib"), "run", "01"],
        cwd=tmp_path,  # found in ./chapters
        env=clean_env(installed),
        check=False,
    )
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith("error: 'papermill' is not installed"), out.stderr
    assert "pip install 'tltlib[book]'" in out.stderr


def test_the_package_metadata_carries_the_licence(installed, tmp_path):
    python = installed / "bin" / "python"
    code = "from importlib import metadata as m; d = m.distribution('tltlib'); "
    code += "print(d.metadata['License-Expression']); print(sorted(d.files or [], key=str))"
    # not from the checkout: its editable install's tltlib.egg-info would be found first
    out = run([str(python), "-c", code], cwd=tmp_path, env=clean_env(installed))
    expression, files = out.stdout.splitlines()[:2]
    assert expression == "MIT"
    assert "LICENSE" in files, "the wheel must ship the licence file"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-n", "0", "-q"]))
