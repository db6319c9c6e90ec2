"""Command line: ``python -m tltlib run CHAPTER -p NAME VALUE ... [--json OUT]``.

``python -m tltlib report [--run]`` prints the reproduction report (:mod:`tltlib.book.report`).

Exit status: 0 when every check passed, 1 when a check failed (or the chapter raised),
2 for bad input (an unknown chapter or parameter, a value of the wrong type, or a value
that the chapter rejects with a ``ValueError``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tltlib.book import report
from tltlib.book.runner import ParameterError, format_records, run_chapter
from tltlib.book.sweep import add_sweep_parser


def _cmd_run(args: argparse.Namespace) -> int:
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tltlib", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute a chapter with other parameters (papermill)")
    run.add_argument("chapter", help="chapter path, file name, slug or number (e.g. 01)")
    run.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        metavar=("NAME", "VALUE"),
        help="override a value of the chapter's parameters cell",
    )
    run.add_argument("--json", help="write the chapter's check records to this file")
    run.add_argument(
        "-o", "--output", help="executed notebook (default: runs/<chapter>/<params>.ipynb)"
    )
    run.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    run.set_defaults(func=_cmd_run)
    report.add_subcommand(sub)
    add_sweep_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ParameterError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
