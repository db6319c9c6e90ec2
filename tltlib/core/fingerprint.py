"""Fingerprints of what a chapter's results depend on: its code cells and the library.

A chapter's check records are fresh when they were made by the chapter's current code cells
and the current ``tltlib``, whatever happened to its prose. Two hashes say so:

* :func:`code_hash` hashes the code cells of a MyST notebook (``chapters/NN-slug.md``), their
  options included and the Markdown around them left out, so that a prose-only edit keeps it;
* :func:`library_hash` hashes every ``tltlib/**/*.py`` (names and contents).

:meth:`tltlib.core.checks.CheckLog.save` stamps both on every record of a chapter of the book,
the reproduction report (:mod:`tltlib.book.report`) compares them with the sources it reads,
and the book build (:mod:`tltlib.book.sphinx`) keys its execution cache on
:func:`library_hash`, which the cache of Jupyter Book alone does not see.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from collections.abc import Iterable
from pathlib import Path

from tltlib.core import paths

#: the opening fence of a MyST code cell (three or more backticks or colons)
CODE_CELL_FENCE = re.compile(r"^(`{3,}|:{3,})\s*\{code-cell\}")


def code_cells(text: str) -> list[str]:
    """The code cells of a MyST Markdown notebook, each with its option lines, in order."""
    cells: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        match = CODE_CELL_FENCE.match(lines[i])
        i += 1
        if match is None:
            continue
        fence, body = match.group(1), [lines[i - 1].strip()]
        while i < len(lines) and lines[i].rstrip() != fence:
            body.append(lines[i].rstrip())
            i += 1
        i += 1  # the closing fence
        cells.append("\n".join(body).strip())
    return cells


def code_hash(path: str | os.PathLike) -> str:
    """SHA-256 of the code cells of the MyST notebook at ``path`` (prose edits keep it)."""
    text = Path(path).read_text(encoding="utf-8")
    digest = hashlib.sha256()
    for cell in code_cells(text):
        digest.update(cell.encode("utf-8") + b"\0")
    return digest.hexdigest()


def library_hash(package: str | os.PathLike | None = None) -> str:
    """SHA-256 of every ``*.py`` file of ``package`` (default: the installed ``tltlib``)."""
    root = Path(package) if package is not None else paths.PACKAGE
    digest = hashlib.sha256()
    for file in sorted(root.rglob("*.py")):
        if "__pycache__" in file.parts:
            continue
        digest.update(file.relative_to(root).as_posix().encode("utf-8") + b"\0")
        digest.update(file.read_bytes() + b"\0")
    return digest.hexdigest()


def files_hash(files: Iterable[str | os.PathLike]) -> str:
    """The first 16 hex digits of the SHA-256 of the contents of ``files``, in order (the
    cache key of a stored sweep: edited code runs again)."""
    h = hashlib.sha256()
    for f in files:
        h.update(Path(f).read_bytes())
    return h.hexdigest()[:16]


def commit_of(files: Iterable[str | os.PathLike]) -> tuple[str, bool]:
    """The short commit of the checkout and whether any of ``files`` has uncommitted changes
    (``"unknown"`` outside a git checkout)."""

    def git(*args: str) -> str:
        try:
            out = subprocess.run(["git", *args], cwd=paths.ROOT, capture_output=True, text=True)
        except FileNotFoundError:  # no git on this machine
            return ""
        return out.stdout.strip()

    changed = git("status", "--porcelain", "--", *(str(f) for f in files))
    return git("rev-parse", "--short", "HEAD") or "unknown", bool(changed)
