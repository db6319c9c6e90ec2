"""The book build's execution cache: what an edit costs, and what it executes again.

Optional (``python benchmarks/run.py --only cache``: a full build executes every chapter, a
quarter of an hour on a busy machine). In a scratch copy of the book it builds once, then
times four rebuilds, each ``jupyter-book build . -n -W --keep-going`` as CI runs it, and
counts the notebooks that each one executed (MyST-NB logs ``Executed notebook``):

* nothing changed;
* an edit to a code cell of one chapter: that chapter executed, and no other chapter;
* then a prose-only edit of it: the target is under 30 s and no chapter executed;
* an edit to a ``tltlib/`` file: every chapter executed (the library is part of the key).

The pages that read the chapters (the report, the robustness page) are re-read on every build
and executed when what they read changed (a chapter's new records); they are listed apart. The baseline is the first build in the copy (from scratch, or bringing
a copy kept from an earlier run up to date): ``$TLTLIB_BENCH_CACHE_DIR`` names a folder to keep
the copy in (it is created if missing, its sources refreshed from this checkout), otherwise a
temporary folder is used and removed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from common import Row

TITLE = "book build with the execution cache"
#: run only when asked for by name (``run.py --only cache``)
OPTIONAL = True
ROOT = Path(__file__).resolve().parent.parent
DIR_VAR = "TLTLIB_BENCH_CACHE_DIR"
PROSE_TARGET = 30.0  # seconds
EDITED_CHAPTER = "chapters/00-bilinear-structure.md"
EDITED_MODULE = "tltlib/core/fits.py"
ALWAYS = {"reproduction-report", "appendix/robustness"}
_EXECUTED = re.compile(r"^(\S+?)\.(?:md|ipynb): Executed notebook in", re.M)
_IGNORE = shutil.ignore_patterns(
    "_build", "runs", ".git", ".venv", "venv", "__pycache__", ".pytest_cache", "*.ipynb"
)


def sync_sources(target: Path) -> None:
    """Copy this checkout's sources into ``target`` (``_build`` there is kept)."""
    for entry in ROOT.iterdir():
        if entry.name in {"_build", "runs", ".git", ".venv", "venv", ".pytest_cache"}:
            continue
        dest = target / entry.name
        if entry.is_dir():
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(entry, dest, ignore=_IGNORE)
        else:
            shutil.copy2(entry, dest)


def build(book: Path) -> tuple[float, set[str], int, str]:
    """``(wall s, executed docnames, exit status, last lines)`` of one CI-style build."""
    env = dict(os.environ, PYTHONPATH=str(book), MPLBACKEND="Agg")
    env.pop("TLTLIB_FORCE_EXECUTE", None)
    env.pop("TLTLIB_RECORDS_DIR", None)
    cmd = ["jupyter-book", "build", str(book), "-n", "-W", "--keep-going"]
    start = time.perf_counter()
    out = subprocess.run(cmd, cwd=book, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    log = out.stdout + out.stderr
    executed = {
        str(Path(m.group(1)).resolve().relative_to(book.resolve())) for m in _EXECUTED.finditer(log)
    }
    return wall, executed, out.returncode, "\n".join(log.splitlines()[-15:])


def chapters(book: Path) -> set[str]:
    return {f"chapters/{p.stem}" for p in (book / "chapters").glob("*.md")}


def edit_prose(path: Path) -> None:
    path.write_text(path.read_text() + "\nA sentence added by the cache benchmark.\n")


def edit_code(path: Path) -> None:
    """Add a comment at the end of the chapter's last code cell."""
    text = path.read_text()
    last = text.rindex("```{code-cell}")
    close = text.index("\n```", last)
    path.write_text(text[:close] + "\n# edited by the cache benchmark" + text[close:])


def edit_module(path: Path) -> None:
    path.write_text(path.read_text() + "# edited by the cache benchmark\n")


def run(quick: bool, repeats: int) -> list[Row]:
    keep = os.environ.get(DIR_VAR)
    scratch = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="tlt-cache-bench-"))
    scratch.mkdir(parents=True, exist_ok=True)
    fresh = not (scratch / "_build").is_dir()
    try:
        sync_sources(scratch)
        all_chapters = chapters(scratch)
        edited = str(Path(EDITED_CHAPTER).with_suffix(""))
        steps = [
            (
                "first build" + (" (from scratch)" if fresh else " (bring the copy up to date)"),
                None,
            ),
            ("rebuild, nothing changed", None),
            (f"code edit of {edited}", lambda: edit_code(scratch / EDITED_CHAPTER)),
            (f"prose-only edit of {edited}", lambda: edit_prose(scratch / EDITED_CHAPTER)),
            (f"edit of {EDITED_MODULE}", lambda: edit_module(scratch / EDITED_MODULE)),
        ]
        rows = []
        for i, (what, change) in enumerate(steps):
            if change is not None:
                change()
            wall, executed, code, tail = build(scratch)
            ran = sorted(executed & all_chapters)
            forced = sorted(executed & ALWAYS)
            shown = (
                ", ".join(s.split("/")[-1] for s in ran) if len(ran) < 4 else f"{len(ran)} chapters"
            )
            measured = (
                f"{wall:.1f} s wall; executed: {shown or 'no chapter'}"
                f" (+ {len(forced)} pages that read them)"
            )
            if code != 0:
                measured += f"; build failed (exit {code}): {tail.splitlines()[-1] if tail else ''}"
            if i == 0:
                target, met = "baseline", None
            elif i == 1:
                target, met = "executes no chapter", not ran
            elif what.startswith("prose"):
                target, met = (
                    f"< {PROSE_TARGET:.0f} s, executes no chapter",
                    wall < PROSE_TARGET and not ran,
                )
            elif what.startswith("code"):
                target, met = f"executes {edited.split('/')[-1]} only", ran == [edited]
            else:
                target, met = "executes every chapter", set(ran) == all_chapters
            rows.append(Row(TITLE, what, measured, "", None, None, target, met and code == 0))
            print(f"  {what}: {measured}", flush=True)
        return rows
    finally:
        if not keep:
            shutil.rmtree(scratch, ignore_errors=True)
