"""Run a chapter with other parameters through papermill: ``python -m tltlib run``.

A chapter is a MyST Markdown notebook (``chapters/NN-slug.md``) whose first code cell,
tagged ``parameters``, holds literal assignments only. :func:`run_chapter` reads it with
jupytext, checks the overrides against that cell (unknown names and wrong types are
refused before anything runs), executes it with papermill in the chapter's folder, and
collects the check records that the chapter's ``CheckLog.save()`` writes to the file named
by ``$TLTLIB_CHECKS``.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tltlib.core.checks import ENV_VAR
from tltlib.core.extras import require
from tltlib.core.paths import CHAPTERS, RUNS


class ParameterError(ValueError):
    """A parameter override that the chapter does not accept."""


@dataclass
class ChapterResult:
    """What a run produced: the executed notebook, the check records and any error."""

    chapter: Path
    parameters: dict[str, Any]
    notebook: Path
    records: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and bool(self.records) and all(r["passed"] for r in self.records)


def _number_key(number: str) -> tuple[int, str] | None:
    """``"09a"`` -> ``(9, "a")``; ``None`` if ``number`` does not start with digits."""
    m = re.fullmatch(r"(\d+)([a-z]*)", number.lower())
    return (int(m.group(1)), m.group(2)) if m else None


def chapters_folder() -> Path | None:
    """The folder of the chapters: the checkout's, else ``./chapters``, else ``None``."""
    for folder in (CHAPTERS, Path.cwd() / "chapters"):
        if folder.is_dir():
            return folder
    return None


def resolve_chapter(name: str | os.PathLike) -> Path:
    """A chapter path from a path, a file name, a slug or its number (``"01"``, ``"1"``,
    ``"09a"``). A number shared by several chapters (``"09"`` for ``09a`` and ``09b``) is an
    error that lists them.

    Names are looked up in the checkout's ``chapters/`` or, when ``tltlib`` is installed
    outside a checkout (``pip install .``), in ``chapters/`` of the current folder; without
    either, the error says to run from the book's root or to give the chapter's path."""
    p = Path(name)
    if p.suffix == ".md" and p.is_file():
        return p.resolve()
    folder = chapters_folder()
    if folder is None:
        raise ParameterError(
            f"cannot find chapter {str(name)!r}: tltlib is installed outside a checkout of the "
            f"book ({CHAPTERS.parent}) and the current folder has no chapters/; run from the "
            "book's root, or give the chapter's path (chapters/NN-slug.md)"
        )
    candidates = sorted(folder.glob("*.md"))
    key = str(name)
    for c in candidates:
        if key in (c.name, c.stem):
            return c.resolve()
    wanted = _number_key(key)
    if wanted is not None:
        numbers = {c: _number_key(c.stem.split("-", 1)[0]) for c in candidates}
        exact = [c for c, n in numbers.items() if n == wanted]
        if len(exact) == 1:
            return exact[0].resolve()
        shared = [c for c, n in numbers.items() if n is not None and n[0] == wanted[0]]
        if not wanted[1] and len(shared) == 1:
            return shared[0].resolve()
        if not wanted[1] and len(shared) > 1:
            which = ", ".join(c.stem for c in shared)
            raise ParameterError(f"chapter {key!r} is ambiguous; say which: {which}")
    known = ", ".join(c.stem for c in candidates)
    raise ParameterError(f"unknown chapter {key!r}; known chapters: {known}")


def read_notebook(path: Path):
    """The chapter as an ``nbformat`` notebook (via jupytext)."""
    return require("jupytext", "book").read(path)


def chapter_parameters(path: Path) -> dict[str, Any]:
    """The names and default values of the chapter's ``parameters`` cell."""
    nb = read_notebook(path)
    cells = [
        c for c in nb.cells if c.cell_type == "code" and "parameters" in c.metadata.get("tags", [])
    ]
    if len(cells) != 1:
        raise ParameterError(
            f"{path.name} must have exactly one cell tagged 'parameters', found {len(cells)}"
        )
    defaults: dict[str, Any] = {}
    for node in ast.parse(cells[0].source).body:
        if not (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
        ):
            raise ParameterError(
                f"the parameters cell of {path.name} may hold only `name = literal` "
                f"assignments (line {node.lineno})"
            )
        try:
            defaults[node.targets[0].id] = ast.literal_eval(node.value)
        except ValueError as err:
            raise ParameterError(
                f"the parameters cell of {path.name} assigns a non-literal to "
                f"{node.targets[0].id!r}"
            ) from err
    return defaults


def _parse_value(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def coerce_parameters(
    overrides: dict[str, Any], defaults: dict[str, Any], chapter: str
) -> dict[str, Any]:
    """Check override names against the chapter's parameters and match each default's type."""
    out = {}
    for name, raw in overrides.items():
        if name not in defaults:
            allowed = ", ".join(defaults)
            raise ParameterError(
                f"unknown parameter {name!r} for chapter {chapter}; allowed: {allowed}"
            )
        value = _parse_value(raw) if isinstance(raw, str) else raw
        default = defaults[name]
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(default, float):
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            value = float(value) if ok else value
        elif isinstance(default, str):
            ok, value = True, str(raw)
        else:
            ok = type(value) is type(default)
        if not ok:
            raise ParameterError(
                f"parameter {name!r} of chapter {chapter} must be of type "
                f"{type(default).__name__} (default {default!r}), got {raw!r}"
            )
        out[name] = value
    return out


def run_name(parameters: dict[str, Any]) -> str:
    """A file name for a run: the overrides in order, or ``defaults``."""
    if not parameters:
        return "defaults"
    name = ",".join(f"{k}={parameters[k]}" for k in sorted(parameters))
    if len(name) > 120:
        return hashlib.sha1(name.encode()).hexdigest()[:16]
    return re.sub(r"[^A-Za-z0-9_.=,+-]", "_", name)


def run_chapter(
    chapter: str | os.PathLike,
    parameters: dict[str, Any] | None = None,
    output: str | os.PathLike | None = None,
    progress: bool = False,
) -> ChapterResult:
    """Execute a chapter with ``parameters`` (validated) and collect its check records."""
    path = resolve_chapter(chapter)
    pm = require("papermill", "book")
    params = coerce_parameters(dict(parameters or {}), chapter_parameters(path), path.stem)
    out = Path(output) if output else RUNS / path.stem / f"{run_name(params)}.ipynb"
    out.parent.mkdir(parents=True, exist_ok=True)
    nb = read_notebook(path)
    result = ChapterResult(path, params, out)
    with tempfile.TemporaryDirectory() as tmp:
        records_file = Path(tmp) / "checks.json"
        env_before = {k: os.environ.get(k) for k in (ENV_VAR, "PATH")}
        os.environ[ENV_VAR] = str(records_file)
        # the kernel must be this interpreter, whatever `python` is first on PATH
        os.environ["PATH"] = (
            os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
        )
        try:
            pm.execute_notebook(
                nb,
                str(out),
                parameters=params,
                cwd=str(path.parent),
                kernel_name="python3",
                progress_bar=progress,
                log_output=False,
                extra_arguments=["--IPKernelApp.log_level=ERROR"],
            )
        except pm.PapermillExecutionError as err:
            result.error = f"{err.ename}: {err.evalue}"
        finally:
            for k, v in env_before.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        if records_file.exists():
            result.records = json.loads(records_file.read_text())
    out.with_suffix(".checks.json").write_text(json.dumps(result.records, indent=1) + "\n")
    return result


def _number(x: Any, spec: str) -> str:
    """``x`` formatted with ``spec`` when it is a real number, else as it is (``None``, text)."""
    return format(x, spec) if isinstance(x, int | float) and not isinstance(x, bool) else str(x)


def format_records(records: list[dict[str, Any]]) -> str:
    """A plain-text table of check records for the terminal (a measured value that is not a
    number, such as ``None`` for NaN in JSON, is printed as it is)."""
    if not records:
        return "(no check records)"
    width = max(len(r["name"]) for r in records)
    lines = []
    for r in records:
        expected = _number(r["expected"], ".4g")
        if r["comparison"] == "close":
            rule = f"{expected} ± {_number(r['tolerance'], '.3g')}"
        else:
            rule = ("<= " if r["comparison"] == "at_most" else ">= ") + expected
        mark = "pass" if r["passed"] else "FAIL"
        measured = _number(r["measured"], ".6g")
        lines.append(f"  {mark}  {r['name']:<{width}}  measured {measured:<12} expected {rule}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- command line


def main(args: argparse.Namespace) -> int:
    overrides = {}
    for name, value in args.parameter or []:
        if name in overrides:
            raise ParameterError(f"parameter {name!r} given twice")
        overrides[name] = value
    result = run_chapter(args.chapter, overrides, output=args.output, progress=not args.quiet)
    print(f"{result.chapter.stem}: executed notebook in {result.notebook}")
    print(format_records(result.records))
    if args.json:
        Path(args.json).write_text(json.dumps(result.records, indent=1) + "\n")
    if result.error:
        print(f"error: {result.chapter.stem} stopped: {result.error}", file=sys.stderr)
        return 2 if result.error.startswith("ValueError") else 1
    if not result.passed:
        failed = [r["name"] for r in result.records if not r["passed"]]
        print(f"error: {len(failed)} check(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


#: ``python -m tltlib run``: its line in ``python -m tltlib --help``
HELP = "execute a chapter with other parameters (papermill)"
#: and the text of ``python -m tltlib run --help``
DESCRIPTION = HELP


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``python -m tltlib run``."""
    parser.add_argument("chapter", help="chapter path, file name, slug or number (e.g. 01)")
    parser.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        metavar=("NAME", "VALUE"),
        help="override a value of the chapter's parameters cell",
    )
    parser.add_argument("--json", help="write the chapter's check records to this file")
    parser.add_argument(
        "-o", "--output", help="executed notebook (default: runs/<chapter>/<params>.ipynb)"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
