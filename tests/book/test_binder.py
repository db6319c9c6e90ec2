"""Binder, checked without the service: the files, the launch URLs of the built book, postBuild.

mybinder.org builds an image from ``binder/`` (repo2docker): ``runtime.txt`` picks Python,
``requirements.txt`` is installed with pip, then ``postBuild`` runs. What can be checked here:
the files are valid and in step with ``pyproject.toml``, the MyST renderer of the notebook view
(jupyterlab-myst) loads in every JupyterLab allowed, the launch buttons of the built HTML point
to each chapter's source, and postBuild works in a fresh virtual environment (layered on this
one, so that nothing, torch least of all, is downloaded).
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import venv
from importlib import metadata
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from tltlib.book import report
from tltlib.core.paths import ROOT

BINDER = ROOT / "binder"
HTML = ROOT / "_build" / "html"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
#: what a notebook needs of the extras (pyproject.toml), on Binder beside the dependencies:
#: the notebook format and kernel, `tltlib run`, the report page (PyYAML), sweeps' progress bar
FROM_EXTRAS = {"jupytext", "papermill", "ipykernel", "pyyaml", "tqdm"}
#: on Binder only: the notebook interface itself, and the renderer of the chapters' MyST roles
INTERFACE = {"jupyterlab", "jupyterlab-myst"}
#: JupyterLab releases that ship @jupyter/ydoc 3, the one jupyterlab-myst 2.x is built against
#: (read from the wheels' jupyterlab/staging/package.json: 4.5.11 has ^3.0.0-a3, 4.6.0
#: ^4.0.0-b1; jupyterlab-myst 2.7.0's labextension package.json asks for ^3.0.0). On 4.6 the
#: extension is listed as incompatible and not loaded: the notebook view shows raw {cite}.
JUPYTERLAB_FOR_MYST = SpecifierSet(">=4.0,<4.6")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def requirements(path: Path) -> tuple[dict[str, Requirement], list[str]]:
    """The requirements of a pip requirements file, by name, and its option lines."""
    reqs, options = {}, []
    for raw in path.read_text().splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-"):
            options.append(line)
            continue
        req = Requirement(line)  # raises on an invalid line
        reqs[req.name.lower()] = req
    return reqs, options


def binder_url(docname: str) -> str:
    """The launch URL Jupyter Book derives from ``_config.yml`` for a chapter source."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    repo = config["repository"]
    org_repo = urlsplit(repo["url"]).path.strip("/")
    hub = config["launch_buttons"]["binderhub_url"].rstrip("/")
    interface = {"jupyterlab": "lab/tree", "classic": "tree"}[
        config["launch_buttons"]["notebook_interface"]
    ]
    path = "/".join(p for p in (repo.get("path_to_book") or "", f"{docname}.md") if p)
    return f"{hub}/v2/gh/{org_repo}/{repo.get('branch', 'main')}?urlpath={interface}/{path}"


def test_runtime_is_python_311():
    assert (BINDER / "runtime.txt").read_text().strip() == "python-3.11"


def test_requirements_pin_the_cpu_build_of_torch():
    reqs, options = requirements(BINDER / "requirements.txt")
    assert str(reqs["torch"].specifier) == "==2.13.0"
    assert options == [f"--extra-index-url {CPU_INDEX}"], "torch must come from the CPU index"
    assert not any(r.url for r in reqs.values())
    assert reqs["jupytext"].specifier.contains("1.16"), "jupytext-config needs jupytext >= 1.15.1"


def declared() -> dict[str, Requirement]:
    """What Binder must install, by name: the package's dependencies and :data:`FROM_EXTRAS`."""
    reqs = [Requirement(r) for r in PYPROJECT["dependencies"]]
    for extra in PYPROJECT["optional-dependencies"].values():
        reqs += [r for r in map(Requirement, extra) if canonicalize_name(r.name) in FROM_EXTRAS]
    return {canonicalize_name(r.name): r for r in reqs}


def test_requirements_in_step_with_the_project():
    """postBuild installs tltlib with --no-deps: binder/requirements.txt must carry its
    dependencies, with the same ranges (torch: the pin, inside the package's range)."""
    ours = declared()
    binder = {
        canonicalize_name(n): r for n, r in requirements(BINDER / "requirements.txt")[0].items()
    }
    missing, extra = set(ours) - set(binder), set(binder) - INTERFACE - set(ours)
    assert not missing and not extra, (
        f"binder/requirements.txt is out of step with pyproject.toml: add {sorted(missing)}, "
        f"remove {sorted(extra)} (or list a package a notebook needs in FROM_EXTRAS)"
    )
    for name, req in ours.items():
        if name == "torch":
            assert req.specifier.contains("2.13.0"), "the pin must satisfy pyproject's range"
            continue
        assert binder[name].specifier == req.specifier, name


def test_the_notebook_view_renders_myst():
    """jupyterlab-myst is declared, with a JupyterLab it can load."""
    reqs, _ = requirements(BINDER / "requirements.txt")
    myst, lab = reqs["jupyterlab-myst"].specifier, reqs["jupyterlab"].specifier
    assert myst.contains("2.7.0") and not myst.contains("3.0.0"), myst
    allowed = [v for v in LAB_RELEASES if lab.contains(v)]
    assert allowed, f"no JupyterLab release satisfies {lab}"
    assert all(JUPYTERLAB_FOR_MYST.contains(v) for v in allowed), (
        f"{lab} allows {[v for v in allowed if not JUPYTERLAB_FOR_MYST.contains(v)]}, "
        f"where jupyterlab-myst 2.x does not load (needs {JUPYTERLAB_FOR_MYST})"
    )


#: some JupyterLab releases (PyPI), old and new, to test a range against
LAB_RELEASES = ["3.6.8", "4.0.0", "4.2.7", "4.4.10", "4.5.0", "4.5.11", "4.6.0", "4.6.6", "5.0.0"]


def test_this_environment_satisfies_the_binder_requirements():
    """What the tests and chapters pass with here is allowed on Binder."""
    binder, _ = requirements(BINDER / "requirements.txt")
    for name, req in binder.items():
        if name in INTERFACE:
            continue
        version = metadata.version(name).split("+", 1)[0]
        assert req.specifier.contains(version, prereleases=True), f"{name} {version} vs {req}"


def test_postbuild_is_an_executable_bash_script():
    post = BINDER / "postBuild"
    assert os.access(post, os.X_OK)
    assert post.read_text().startswith("#!/bin/bash\n")
    subprocess.run(["bash", "-n", str(post)], check=True)


def test_binder_files_stay_out_of_the_book():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert "binder" in config["exclude_patterns"]


def test_postbuild_runs_in_a_fresh_virtual_environment(tmp_path):
    """Run postBuild as repo2docker would, in a new venv that sees this one's packages."""
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    # the venv's bundled setuptools (65 on Python 3.11) predates the SPDX licence of
    # pyproject.toml (>= 77): drop it so that the build uses this environment's, as it would
    # use the image's (postBuild falls back to an isolated build, which downloads one)
    subprocess.run([str(python), "-m", "pip", "uninstall", "-y", "-q", "setuptools"], check=True)
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ours = subprocess.run(
        [sys.executable, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # binder/requirements.txt stands in for: this environment's packages, appended to sys.path
    # (after the new venv's own site-packages, so that postBuild's install is the one found)
    Path(site, "_binder_requirements.pth").write_text(ours + "\n")
    # (.pth files of a directory added that way are not run, so this checkout's editable
    # tltlib stays invisible: only postBuild's install can make tltlib importable)
    repo = tmp_path / "repo"
    shutil.copytree(
        ROOT,
        repo,
        ignore=shutil.ignore_patterns(
            "_build", "runs", ".git", ".venv", "*.egg-info", "__pycache__", ".pytest_cache"
        ),
    )
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "PATH": f"{env_dir / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "VIRTUAL_ENV": str(env_dir),
        "HOME": str(home),
        "JUPYTER_CONFIG_DIR": str(home / ".jupyter"),
        "PIP_NO_INDEX": "1",  # nothing may be downloaded
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    out = subprocess.run(
        [str(repo / "binder" / "postBuild")],
        cwd=home,  # postBuild must find the repository by itself
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr

    where = subprocess.run(
        [str(python), "-c", "import tltlib, tltlib.book.report; print(tltlib.__file__)"],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(where) == repo / "tltlib" / "__init__.py", "tltlib must come from the repository"
    assert list(Path(site).glob("*tltlib*")), "postBuild must install tltlib into the new venv"

    overrides = json.loads(
        (home / ".jupyter" / "labconfig" / "default_setting_overrides.json").read_text()
    )
    viewers = overrides["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"]
    assert viewers["markdown"] == "Jupytext Notebook"


@pytest.mark.book
def test_launch_buttons_point_to_each_chapter_source():
    if not (HTML / "index.html").is_file():
        pytest.skip("no built book in _build/html: run `jupyter-book build .` first (CI does)")
    for docname, path in report.toc_chapters(ROOT):
        assert path.is_file()
        page = (HTML / f"{docname}.html").read_text()
        links = re.findall(r'href="(https://mybinder\.org/[^"]+)"', page)
        assert links == [binder_url(docname)], (docname, links)
        query = parse_qs(urlsplit(links[0]).query)
        target = query["urlpath"][0].split("/", 2)[2]
        assert (ROOT / target).is_file(), f"the launch button opens {target}, which is missing"
