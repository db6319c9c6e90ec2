"""What ``pyproject.toml`` declares matches what ``tltlib`` imports, the licence and the install.

Every third-party import in ``tltlib/`` (top level or inside a function) is read from the
source: a plain import needs a package of ``[project] dependencies``; an import through
``require(module, extra)`` (:mod:`tltlib.core.extras`) needs one of that extra; an import
guarded by ``try: ... except ImportError`` is optional by design. ``requirements.txt`` is the
torch pin and the package with all its extras; the licence metadata matches ``LICENSE``.
"""

from __future__ import annotations

import ast
import functools
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import tltlib
from tltlib.core import extras
from tltlib.core.paths import ROOT

PACKAGE = Path(tltlib.__file__).parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]


def imports(source: str) -> list[tuple[str, str | None, bool]]:
    """``(top-level module, extra or None, guarded)`` for every third-party import of a module.

    ``extra`` is set for ``require("module", "extra")``; ``guarded`` for an import inside a
    ``try`` whose handlers catch ``ImportError``.
    """
    tree = ast.parse(source)
    guarded_nodes: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
            isinstance(h.type, ast.Name) and h.type.id in ("ImportError", "ModuleNotFoundError")
            for h in node.handlers
        ):
            guarded_nodes.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        extra = None
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names = [node.module or ""]
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", getattr(node.func, "attr", None)) == "require"
        ):
            module, extra = (ast.literal_eval(a) for a in node.args)
            names = [module]
        for name in names:
            top = name.split(".")[0]
            if top and top != "tltlib" and top not in sys.stdlib_module_names:
                found.append((top, extra, id(node) in guarded_nodes))
    return found


@functools.cache
def installed_modules() -> dict[str, list[str]]:
    """Top-level module -> the installed distributions that provide it."""
    return metadata.packages_distributions()


def distribution_of(module: str) -> str:
    """The (canonical) name of the installed distribution that provides ``module``."""
    dists = installed_modules().get(module)
    assert dists, f"no installed distribution provides {module!r}"
    return canonicalize_name(dists[0])


def provided(requirements: list[str], seen: frozenset[str] = frozenset()) -> set[str]:
    """The distributions a list of requirements brings directly, with the extras they ask
    for (``tltlib[book]`` -> the book extra's; ``dask[distributed]`` -> ``distributed``)."""
    names: set[str] = set()
    for line in requirements:
        req = Requirement(line)
        name = canonicalize_name(req.name)
        if name == "tltlib":
            for extra in sorted(req.extras - seen):
                names |= provided(PROJECT["optional-dependencies"][extra], seen | {extra})
            continue
        names.add(name)
        for extra in req.extras:
            for dep in metadata.requires(req.name) or []:
                dep_req = Requirement(dep)
                if dep_req.marker and dep_req.marker.evaluate({"extra": extra}):
                    if not Marker(str(dep_req.marker)).evaluate({"extra": ""}):
                        names.add(canonicalize_name(dep_req.name))
    return names


CORE = provided(PROJECT["dependencies"])
MODULES = sorted(PACKAGE.rglob("*.py"))


def test_the_extras_are_those_that_require_knows():
    assert set(PROJECT["optional-dependencies"]) == set(extras.EXTRAS)
    everything = set()
    for name in extras.EXTRAS:
        if name != "all":
            everything |= provided(PROJECT["optional-dependencies"][name])
    assert provided(PROJECT["optional-dependencies"]["all"]) == everything


def undeclared(path: Path, source: str | None = None) -> list[str]:
    """The third-party imports of the module at ``path`` that ``pyproject.toml`` does not
    declare where they are needed."""
    problems = []
    source = path.read_text() if source is None else source
    for module, extra, guarded in imports(source):
        dist = distribution_of(module)
        where = f"{path.relative_to(PACKAGE)} imports {module} ({dist})"
        if extra is not None:
            if dist not in provided(PROJECT["optional-dependencies"][extra]) | CORE:
                problems.append(f"{where}: add it to the {extra!r} extra")
        elif not guarded and dist not in CORE:
            problems.append(
                f"{where}: add it to [project] dependencies, or import it with "
                "tltlib.core.extras.require(module, extra) and declare it in that extra"
            )
    return problems


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_import_is_declared(path):
    assert undeclared(path) == []


@pytest.mark.parametrize(
    "source",
    [
        "import yaml\n",  # pyyaml is in the book extra only
        "def f():\n    import papermill\n",  # lazy, but a plain import all the same
        "from tltlib.core.extras import require\nrequire('distributed', 'book')\n",  # sweep's
    ],
    ids=["top-level", "lazy", "wrong-extra"],
)
def test_an_undeclared_import_is_caught(source):
    path = PACKAGE / "book" / "runner.py"
    assert undeclared(path, path.read_text() + "\n" + source)


def test_a_guarded_or_required_import_is_recognised():
    found = imports(
        "try:\n    import IPython\nexcept ImportError:\n    pass\n"
        "def f():\n    return require('yaml', 'book')\n"
        "import numpy\n"
    )
    assert sorted(found) == [
        ("IPython", None, True),
        ("numpy", None, False),
        ("yaml", "book", False),
    ]


def test_requirements_txt_is_the_torch_pin_and_the_package_with_all_extras():
    lines = [
        line.strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert lines == ["torch==2.13.0", "-e .[all]"]
    torch = next(Requirement(r) for r in PROJECT["dependencies"] if r.startswith("torch"))
    assert torch.specifier.contains("2.13.0"), "the pin must satisfy the package's torch range"


def test_the_licence_file_matches_the_metadata():
    assert PROJECT["license"] == "MIT"
    assert PROJECT["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License\n")
    assert "Copyright (c) 2026 The Transformers Learn Teachers authors" in text
    assert 'THE SOFTWARE IS PROVIDED "AS IS"' in text
    assert "license" not in {c.lower() for c in PROJECT.get("classifiers", [])}
    # SPDX `license` with `license-files` needs setuptools >= 77
    backend = [Requirement(r) for r in PYPROJECT["build-system"]["requires"]]
    setuptools = next(r for r in backend if r.name == "setuptools")
    assert not setuptools.specifier.contains("76.9") and setuptools.specifier.contains("77.0")


def test_the_console_script_is_declared_and_callable():
    assert PROJECT["scripts"] == {"tltlib": "tltlib.__main__:main"}
    from tltlib.__main__ import main

    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0


def test_the_install_test_is_registered():
    markers = PYPROJECT["tool"]["pytest"]["ini_options"]["markers"]
    assert any(m.startswith("install:") for m in markers)


def bib_entries() -> dict[str, dict[str, str]]:
    """The entries of ``references.bib``: key -> {field: value} (braces of a value dropped)."""
    text = (ROOT / "references.bib").read_text()
    entries = {}
    for key, body in re.findall(r"^@\w+\{([^,]+),(.*?)^\}", text, re.M | re.S):
        fields = re.findall(r"^\s*(\w+)\s*=\s*\{(.*)\},?\s*$", body, re.M)
        entries[key] = {name: value.replace("{", "").replace("}", "") for name, value in fields}
    return entries


#: the three papers of the book: references.bib key -> arXiv identifier
PAPERS = {
    "zhang2026teachers": "2603.22801",
    "arda2026finite": "2601.16514",
    "nguyen2025onelayer": "2505.15009",
}


def check_citation(cff: dict) -> None:
    """Assert that the parsed ``CITATION.cff`` cites the book and the three papers as
    ``_config.yml``, ``pyproject.toml`` and ``references.bib`` do."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert cff["cff-version"] == "1.2.0"
    assert cff["message"] and cff["type"] == "software"
    assert cff["title"] == config["title"]
    assert cff["authors"] == [{"name": config["author"]}]
    assert cff["version"] == PROJECT["version"] == tltlib.__version__
    assert cff["license"] == PROJECT["license"]
    bib = bib_entries()
    refs = cff["references"]
    assert len(refs) == len(PAPERS)
    for ref, (key, arxiv) in zip(refs, PAPERS.items(), strict=True):
        entry = bib[key]
        assert ref["title"] == entry["title"], key
        authors = [f"{a['family-names']}, {a['given-names']}" for a in ref["authors"]]
        assert authors == entry["author"].split(" and "), key
        assert str(ref["year"]) == entry["year"], key
        assert ref["url"] == f"https://arxiv.org/abs/{arxiv}" == entry["url"], key
        assert {"type": "other", "value": f"arXiv:{arxiv}"}.items() <= ref["identifiers"][0].items()


def test_citation_cff_cites_the_book_and_the_three_papers():
    check_citation(yaml.safe_load((ROOT / "CITATION.cff").read_text()))


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("given-names: Qingyue", "given-names: Q."),
        ("arXiv:2601.16514", "arXiv:2601.16515"),
        ("version: 0.1.0", "version: 0.2.0"),
        ("license: MIT", "license: Apache-2.0"),
    ],
)
def test_the_citation_check_catches_a_wrong_entry(old, new):
    text = (ROOT / "CITATION.cff").read_text()
    assert old in text
    with pytest.raises(AssertionError):
        check_citation(yaml.safe_load(text.replace(old, new)))


def test_the_intro_says_how_to_cite():
    intro = (ROOT / "intro.md").read_text()
    section = intro.split("## How to cite", 1)[1].split("\n## ", 1)[0]
    cited = set(re.findall(r"\{cite:[tp]\}`([^`]+)`", section))
    assert cited == set(PAPERS)
    assert "CITATION.cff" in section and "LICENSE" in section
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert f"title   = {{{cff['title']}}}" in section
    assert f"version = {{{cff['version']}}}" in section
