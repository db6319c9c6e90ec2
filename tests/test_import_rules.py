"""The import rules of ``tltlib`` (stated in the docstring of ``tltlib/__init__.py``).

Every module's imports are read from its source (top-level and lazy imports inside functions
alike) and each import of another room must be allowed by :data:`ALLOWED`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import tltlib

PACKAGE = Path(tltlib.__file__).parent

#: room -> the other rooms it may import
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "model": {"core"},
    "train": {"core", "model"},
    "examples": {"core", "model", "train"},
    "claims": {"core", "model", "train", "examples"},
    "figures": {"core", "model"},
    "kernel": {"core", "model"},
    "recall": {"core", "model"},
    "book": {"core", "figures"},
}
#: the top level: the package's face re-exports the main API; the command line drives the book
TOP_LEVEL = {"__init__": {"core", "model", "train"}, "__main__": {"book"}}


def imported_rooms(source: str, room: str | None) -> set[str]:
    """The rooms of ``tltlib`` that ``source`` imports (absolute or relative imports)."""
    rooms = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's own room
                base = ["tltlib"] + ([room] if room and node.level == 1 else [])
                mod = ".".join(base + ([node.module] if node.module else []))
                names = [mod] if node.module else [f"{mod}.{a.name}" for a in node.names]
            elif node.module == "tltlib":
                names = [f"tltlib.{a.name}" for a in node.names]
            else:
                names = [node.module or ""]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "tltlib" and len(parts) > 1 and parts[1] in ALLOWED:
                rooms.add(parts[1])
    return rooms


def violations(path: Path, source: str | None = None) -> list[str]:
    """The imports of the module at ``path`` (inside ``tltlib/``) that break a rule."""
    rel = path.relative_to(PACKAGE)
    source = path.read_text() if source is None else source
    if len(rel.parts) == 1:
        allowed, room = TOP_LEVEL[rel.stem], None
    else:
        room = rel.parts[0]
        assert room in ALLOWED, f"{rel}: a room without rules; add it to ALLOWED"
        allowed = ALLOWED[room] | {room}
    return [f"{rel} imports tltlib.{r}" for r in sorted(imported_rooms(source, room) - allowed)]


def test_top_level_holds_only_the_face_the_command_line_and_rooms():
    files = {p.name for p in PACKAGE.iterdir() if p.is_file() and p.suffix == ".py"}
    assert files == {"__init__.py", "__main__.py"}
    rooms = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert rooms == set(ALLOWED)


@pytest.mark.parametrize(
    "path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_every_module_keeps_the_import_rules(path):
    assert violations(path) == []


@pytest.mark.parametrize(
    ("module", "line"),
    [
        ("core/checks.py", "from tltlib.model.teachers import Teacher"),
        ("model/theory.py", "from tltlib.train import online"),
        ("figures/curves.py", "from tltlib.train.online import train_online"),  # inside a function
        ("kernel/claims.py", "from tltlib.claims.training import rate"),
        ("recall/model.py", "from tltlib.claims import training"),
        ("book/runner.py", "from tltlib.train.population import train_population"),
        ("train/online.py", "from ..claims import training"),
        ("examples/gcn.py", "from tltlib import figures"),
    ],
)
def test_a_broken_rule_is_caught(module, line):
    path = PACKAGE / module
    source = f"{path.read_text()}\n\ndef _broken():\n    {line.strip()}\n"
    assert violations(path, source), f"{module}: '{line}' was not reported"
