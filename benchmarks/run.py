"""Run the benchmarks and print one table: ``python benchmarks/run.py [--only NAME] [--write]``.

Every ``benchmarks/bench_*.py`` is a benchmark (``TITLE``, ``run(quick, repeats)``); a new
file is picked up without touching this script. ``--write`` stores each benchmark's rows, with
the machine and the date they were measured on, in ``benchmarks/results.json`` (a benchmark that
did not run keeps its stored rows), and puts the table of every stored benchmark into
``benchmarks/README.md`` and the book's appendix page between their table markers.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import platform
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ.setdefault("OMP_NUM_THREADS", "1")

START, END = "<!-- benchmark-table:start -->", "<!-- benchmark-table:end -->"
TARGETS = [HERE / "README.md", HERE.parent / "appendix" / "performance.md"]
#: ``{benchmark: {"rows": [...], "measured_on": "..."}}``: the last stored run of each
RESULTS = HERE / "results.json"


def available() -> dict[str, Path]:
    return {p.stem.removeprefix("bench_"): p for p in sorted(HERE.glob("bench_*.py"))}


def markdown(rows: list[dict]) -> str:
    def ratio(x):
        return "" if x is None else f"{x:.2f}x"

    def met(x):
        return "" if x is None else ("yes" if x else "**no**")

    lines = [
        "| benchmark | size | tltlib | baseline | ratio (CPU) | ratio (wall) | target | met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['benchmark']} | {r['size']} | {r['tltlib']} | {r['baseline']} | "
            f"{ratio(r['ratio_cpu'])} | {ratio(r['ratio_wall'])} | {r['target']} | {met(r['met'])} |"
        )
    return "\n".join(lines)


def machine() -> str:
    import torch

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, torch {torch.__version__} "
        f"(1 thread), load average {load:.1f} at the start, {datetime.date.today().isoformat()}"
    )


def write(table: str) -> None:
    for path in TARGETS:
        if not path.exists():
            continue
        text = path.read_text()
        if START not in text or END not in text:
            print(f"warning: no table markers in {path}", file=sys.stderr)
            continue
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
        path.write_text(f"{head}{START}\n{table}\n{END}{tail}")
        print(f"wrote the table into {path}")


def store(results: dict[str, list[dict]], measured_on: str, path: Path = RESULTS) -> str:
    """Replace the stored rows of the benchmarks in ``results``; return the table of every
    stored benchmark (in file order), each group of rows followed by where it was measured."""
    stored = json.loads(path.read_text()) if path.exists() else {}
    for name, rows in results.items():
        stored[name] = {"rows": rows, "measured_on": measured_on}
    order = list(available())
    stored = dict(
        sorted(stored.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 99)
    )
    path.write_text(json.dumps(stored, indent=1) + "\n")
    rows = [r for entry in stored.values() for r in entry["rows"]]
    notes = [f"* `bench_{name}.py`: {entry['measured_on']}." for name, entry in stored.items()]
    return markdown(rows) + "\n\nMeasured on:\n\n" + "\n".join(notes)


def main(argv: list[str] | None = None) -> int:
    names = available()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", action="append", choices=sorted(names), help="run only these")
    parser.add_argument("--skip", action="append", choices=sorted(names), default=[])
    parser.add_argument("--repeats", type=int, default=7, help="timed repeats (medians)")
    parser.add_argument("--quick", action="store_true", help="fewer steps per repeat")
    parser.add_argument("--json", help="also write the rows to this file")
    parser.add_argument("--write", action="store_true", help="update README.md and the appendix")
    args = parser.parse_args(argv)
    # a benchmark with OPTIONAL = True (bench_cache: full book builds) runs only by name
    default = [
        n for n in names if not getattr(importlib.import_module(f"bench_{n}"), "OPTIONAL", False)
    ]
    chosen = [n for n in (args.only or default) if n not in args.skip]
    measured_on = machine()
    results = {}
    for name in chosen:
        module = importlib.import_module(f"bench_{name}")
        print(f"running {name}: {module.TITLE} ...", file=sys.stderr, flush=True)
        results[name] = [r.to_dict() for r in module.run(args.quick, args.repeats)]
    rows = [r for name in chosen for r in results[name]]
    print(markdown(rows) + f"\n\nMeasured on: {measured_on}.")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
    if args.write:
        write(store(results, measured_on))
    return 0


if __name__ == "__main__":
    sys.exit(main())
