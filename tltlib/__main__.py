"""Command line: ``tltlib COMMAND ...`` (or ``python -m tltlib COMMAND ...``).

``run CHAPTER -p NAME VALUE ... [--json OUT]`` executes a chapter with other parameters
(:mod:`tltlib.book.runner`), ``sweep`` runs it over a grid (:mod:`tltlib.book.sweep`),
``report [--run]`` prints the reproduction report (:mod:`tltlib.book.report`), ``robustness``
runs every chapter at twenty seeds for the robustness page (:mod:`tltlib.book.robustness`),
``pdf`` prints the whole book to ``_build/pdf/book.pdf`` (:mod:`tltlib.book.pdf`).
A command is a
module of :mod:`tltlib.book` with ``HELP`` (its line in ``--help``), ``DESCRIPTION`` (the text
of its own ``--help``), ``add_arguments(parser)`` and ``main(args)`` (the exit status);
:data:`COMMANDS` names them, and :func:`build_parser` is the one place that registers them.

Exit status: 0 when every check passed, 1 when a check failed (or the chapter raised),
2 for bad input (an unknown chapter or parameter, a value of the wrong type, or a value
that the chapter rejects with a ``ValueError``, or a package of a missing extra: the message
says which, as ``pip install 'tltlib[book]'``).
"""

from __future__ import annotations

import argparse
import sys

from tltlib.book import pdf, report, robustness, runner, sweep
from tltlib.book.runner import ParameterError

#: the commands and their modules, in the order of ``--help``
COMMANDS = {"run": runner, "sweep": sweep, "report": report, "robustness": robustness, "pdf": pdf}


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m tltlib``, with every command of :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="tltlib", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, command in COMMANDS.items():
        p = sub.add_parser(
            name,
            help=command.HELP,
            description=command.DESCRIPTION,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        command.add_arguments(p)
        p.set_defaults(func=command.main)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command of ``argv`` (default: the process's arguments); the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ParameterError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except ImportError as err:
        if getattr(err, "extra", None) is None:  # not a missing extra (tltlib.core.extras)
            raise
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
