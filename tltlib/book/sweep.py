"""Parameter sweeps over a chapter: ``python -m tltlib sweep CHAPTER --grid NAME=V1,V2 ...``.

A sweep is the product of the ``--grid`` values (times ``--seeds N`` seeds ``0 .. N-1``).
Every point is one papermill run of the chapter (:func:`tltlib.book.runner.run_chapter`), in a
pool of ``--jobs`` local processes or, with ``--dask-scheduler ADDRESS``, on the workers of
a Dask distributed cluster. Each finished run is cached under ``runs/sweeps/<chapter>/cache/``
by its parameters (with a fingerprint of the chapter and of ``tltlib``, so that edited code
is run again), so an interrupted sweep resumes where it stopped. The check records of all
runs are collected into ``table.csv`` (one row per run: parameters, status, the measured
value of each check), ``checks.csv`` (one row per check record) and ``plot.png``.

Bad input fails before any run starts: an unknown parameter, an empty grid, a value of the
wrong type, and (by a *dry run*: the chapter's cells executed in one process with
``$TLTLIB_DRY_RUN`` set, so that the first trainer called stops once it has checked its
arguments, :mod:`tltlib.core.dryrun`) a value that the chapter or a trainer rejects with a
``ValueError``. A ``ValueError`` that only shows at run time stops the sweep
with the parameters of the run that raised it.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import itertools
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tltlib.book.runner import (
    RUNS,
    ParameterError,
    chapter_parameters,
    coerce_parameters,
    resolve_chapter,
    run_chapter,
    run_name,
)
from tltlib.core.extras import require
from tltlib.core.paths import PACKAGE

#: seconds the dry run may spend on one grid point before it is taken as valid
DRY_RUN_SECONDS = 20.0


# --------------------------------------------------------------------------- the grid


def split_values(text: str) -> list[str]:
    """Split ``"0.1,0.2"`` or ``"['relu'],['identity','relu']"`` at the commas that are not
    inside brackets or quotes."""
    values, depth, quote, current = [], 0, "", []
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            values.append("".join(current).strip())
            current = []
            continue
        current.append(ch)
    values.append("".join(current).strip())
    return values


def parse_grid(specs: Sequence[str]) -> dict[str, list[str]]:
    """``["eta=0.1,0.2", "D=16,24"]`` -> ``{"eta": ["0.1", "0.2"], "D": ["16", "24"]}``."""
    grid: dict[str, list[str]] = {}
    for spec in specs:
        name, sep, rest = spec.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ParameterError(f"--grid takes NAME=V1,V2,..., got {spec!r}")
        if name in grid:
            raise ParameterError(f"--grid {name} given twice")
        values = split_values(rest) if rest.strip() else []
        if not values:
            raise ParameterError(f"the grid of {name!r} is empty: give --grid {name}=V1,V2,...")
        if any(v == "" for v in values):
            raise ParameterError(f"the grid of {name!r} has an empty value: {spec!r}")
        grid[name] = values
    return grid


def build_points(
    chapter: Path, grid: dict[str, list[str]], seeds: int | None = None
) -> list[dict[str, Any]]:
    """Every point of the sweep, with values checked against the chapter's parameters cell."""
    defaults = chapter_parameters(chapter)
    typed: dict[str, list[Any]] = {}
    for name, raws in grid.items():
        values = [coerce_parameters({name: raw}, defaults, chapter.stem)[name] for raw in raws]
        if len({json.dumps(v, sort_keys=True) for v in values}) < len(values):
            raise ParameterError(f"the grid of {name!r} repeats a value: {','.join(raws)}")
        typed[name] = values
    if seeds is not None:
        if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
            raise ParameterError(f"--seeds must be an integer >= 1, got {seeds!r}")
        if "seed" not in defaults:
            raise ParameterError(f"chapter {chapter.stem} has no 'seed' parameter for --seeds")
        if "seed" in typed:
            raise ParameterError("give the seeds either by --seeds or by --grid seed=..., not both")
        typed["seed"] = list(range(seeds))
    if not typed:
        raise ParameterError("a sweep needs at least one --grid NAME=V1,V2,... or --seeds N")
    names = list(typed)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*typed.values())]


# --------------------------------------------------------------------------- dry run


def dry_run(
    chapter: Path, points: list[dict[str, Any]], seconds: float = DRY_RUN_SECONDS
) -> list[str | None]:
    """Execute the chapter's cells for each point in a dry run (:mod:`tltlib.core.dryrun`):
    the first trainer called stops at its checkpoint once it has checked its arguments, and a
    point that takes longer than ``seconds`` is taken as valid. One error message (or
    ``None``) per point.

    Runs in a fresh interpreter, so that the chapter's imports and plotting style stay out
    of this one.
    """
    payload = json.dumps({"chapter": str(chapter), "points": points, "seconds": seconds})
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONWARNINGS="ignore")
    proc = subprocess.run(
        [sys.executable, "-c", "from tltlib.book.sweep import _dry_run_main; _dry_run_main()"],
        input=payload,
        capture_output=True,
        text=True,
        cwd=chapter.parent,
        env=env,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"the dry run of {chapter.stem} crashed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _dry_run_main() -> None:
    """Entry point of the dry-run interpreter: JSON on stdin, one JSON list on stdout."""
    import signal
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    TransformerManager = require("IPython.core.inputtransformer2", "book").TransformerManager

    from tltlib.book.runner import read_notebook
    from tltlib.core.dryrun import DryRunStop, dry_run

    warnings.simplefilter("ignore")
    job = json.loads(sys.stdin.read())
    nb = read_notebook(Path(job["chapter"]))
    cells = [c for c in nb.cells if c.cell_type == "code"]
    first = next(i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", []))
    transform = TransformerManager().transform_cell
    sources = [transform(c.source) for c in cells[first:]]

    def alarm(signum, frame):
        raise DryRunStop("the dry run took too long: taken as valid")

    use_alarm = hasattr(signal, "SIGALRM")
    if use_alarm:
        signal.signal(signal.SIGALRM, alarm)
    errors: list[str | None] = []
    for point in job["points"]:
        namespace: dict[str, Any] = {"__name__": "__main__"}
        error = None
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, job["seconds"])
        try:
            with dry_run():  # every trainer stops at its checkpoint (tltlib.core.dryrun)
                exec(sources[0], namespace)
                namespace.update(point)
                for source in sources[1:]:
                    exec(source, namespace)
        except DryRunStop:
            pass
        except Exception as err:  # reported, not raised: the caller names the point
            error = f"{type(err).__name__}: {err}"
        finally:
            if use_alarm:
                signal.setitimer(signal.ITIMER_REAL, 0)
            plt.close("all")
        errors.append(error)
    print(json.dumps(errors))


# --------------------------------------------------------------------------- one run


_RUN_LOCK = threading.Lock()  # run_chapter sets environment variables: one run per process


def _locate(chapter: str) -> Path:
    path = Path(chapter)
    return path if path.is_file() else resolve_chapter(path.name)


def execute_point(chapter: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """Run the chapter once (in a worker: a local process or a Dask worker) and return what
    the sweep keeps: records, error, the executed notebook, wall and CPU seconds."""
    import resource
    import socket

    records, error = [], None
    with _RUN_LOCK, tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run.ipynb"
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        for attempt in range(2):  # a kernel that fails to start (a port race) gets one retry
            try:
                result = run_chapter(_locate(chapter), parameters, output=out)
                records, error = result.records, result.error
                break
            except ParameterError:
                raise
            except Exception as err:
                error = f"{type(err).__name__} (attempt {attempt + 1}): {err}"
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        notebook = out.read_text() if out.exists() else None
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return dict(
        parameters=parameters,
        records=records,
        error=error,
        notebook=notebook,
        wall_s=round(wall, 3),
        cpu_s=round(cpu, 3),
        host=socket.gethostname(),
    )


def status_of(result: dict[str, Any]) -> str:
    """``passed``, ``failed`` (a check failed) or ``error`` (the chapter stopped otherwise)."""
    records = result.get("records") or []
    if records and not all(r["passed"] for r in records):
        return "failed"
    if result.get("error") or not records:
        return "error"
    return "passed"


def rejected(result: dict[str, Any]) -> bool:
    """The run stopped on a ``ValueError``: the chapter rejects its parameters."""
    return bool(result.get("error")) and result["error"].split(":", 1)[0] in (
        "ValueError",
        "ParameterError",
    )


# --------------------------------------------------------------------------- the cache


def fingerprint(chapter: Path) -> str:
    """A hash of the chapter and of ``tltlib``'s sources: a cached run is reused only if
    neither changed."""
    h = hashlib.sha1(chapter.read_bytes())
    for path in sorted(PACKAGE.rglob("*.py")):
        h.update(str(path.relative_to(PACKAGE)).encode() + path.read_bytes())
    return h.hexdigest()[:16]


@dataclass
class RunCache:
    """Finished runs of one chapter, one JSON file (and the executed notebook) per point."""

    folder: Path
    stamp: str

    def key(self, parameters: dict[str, Any]) -> str:
        """The file name of a point (two points that share one are told apart on reading)."""
        return run_name(parameters)

    def _json(self, parameters: dict[str, Any]) -> Path:
        return self.folder / f"{self.key(parameters)}.json"

    def get(self, parameters: dict[str, Any]) -> dict[str, Any] | None:
        path = self._json(parameters)
        if not path.exists():
            return None
        try:
            stored = json.loads(path.read_text())
        except json.JSONDecodeError:
            return None
        same = json.dumps(stored.get("parameters"), sort_keys=True) == json.dumps(
            parameters, sort_keys=True
        )
        return stored if same and stored.get("fingerprint") == self.stamp else None

    def put(self, result: dict[str, Any]) -> dict[str, Any]:
        self.folder.mkdir(parents=True, exist_ok=True)
        result = dict(result)
        notebook = result.pop("notebook", None)
        result["fingerprint"] = self.stamp
        path = self._json(result["parameters"])
        if notebook is not None:
            path.with_suffix(".ipynb").write_text(notebook)
            result["notebook"] = str(path.with_suffix(".ipynb"))
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(result, indent=1) + "\n")
        os.replace(tmp, path)  # a run is cached only once it is complete
        return result


# --------------------------------------------------------------------------- the sweep


@dataclass
class SweepResult:
    """All runs of a sweep (cached and new), in grid order, and where the table went."""

    chapter: Path
    grid_names: list[str]
    results: list[dict[str, Any]]
    cached: int = 0
    files: dict[str, Path] = field(default_factory=dict)

    def count(self, status: str) -> int:
        return sum(status_of(r) == status for r in self.results)


class RejectedValueError(ParameterError):
    """A run of the sweep stopped on a ``ValueError``: the chapter rejects a value."""


def _local_results(chapter: str, todo: list[dict[str, Any]], jobs: int) -> Iterable[dict]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        futures = [pool.submit(execute_point, chapter, p) for p in todo]
        try:
            for future in as_completed(futures):
                yield future.result()
        finally:
            for future in futures:
                future.cancel()


def _dask_results(chapter: str, todo: list[dict[str, Any]], address: str) -> Iterable[dict]:
    try:
        distributed = require("distributed", "sweep")
    except ImportError as err:
        raise ParameterError(f"--dask-scheduler: {err}") from err
    Client, as_completed = distributed.Client, distributed.as_completed
    with Client(address, timeout="20s") as client:
        futures = [client.submit(execute_point, chapter, p, pure=False) for p in todo]
        try:
            for future in as_completed(futures):
                yield future.result()
        finally:
            client.cancel(futures)


def run_sweep(
    chapter: str | os.PathLike,
    points: list[dict[str, Any]],
    *,
    jobs: int = 1,
    scheduler: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    force: bool = False,
    progress: bool = True,
) -> SweepResult:
    """Run every point not already cached; returns all results in the order of ``points``.

    Raises :class:`RejectedValueError` on the first run that stops on a ``ValueError`` (the
    runs still going are not waited for by a Dask cluster; a local pool finishes them).
    """
    tqdm = require("tqdm.auto", "sweep").tqdm

    path = resolve_chapter(chapter)
    jobs = int(jobs)
    if jobs < 1:
        raise ParameterError(f"--jobs must be an integer >= 1, got {jobs!r}")
    cache = RunCache(Path(cache_dir or RUNS / "sweeps" / path.stem / "cache"), fingerprint(path))
    found = {} if force else {i: cache.get(p) for i, p in enumerate(points)}
    done = {i: r for i, r in found.items() if r is not None}
    todo = [p for i, p in enumerate(points) if i not in done]
    index = {json.dumps(p, sort_keys=True): i for i, p in enumerate(points)}
    bar = tqdm(
        total=len(points),
        initial=len(done),
        desc=path.stem,
        unit="run",
        disable=not progress or None,
        file=sys.stderr,
    )
    stream = (
        _dask_results(str(path), todo, scheduler)
        if scheduler
        else _local_results(str(path), todo, jobs)
    )
    try:
        for result in stream if todo else ():
            if rejected(result):
                raise RejectedValueError(
                    f"chapter {path.stem} rejects {_describe(result['parameters'])}: "
                    f"{result['error']}"
                )
            done[index[json.dumps(result["parameters"], sort_keys=True)]] = cache.put(result)
            bar.update(1)
    finally:
        bar.close()
        close = getattr(stream, "close", None)
        if close:
            close()
    names = list(points[0]) if points else []
    return SweepResult(path, names, [done[i] for i in range(len(points))], len(points) - len(todo))


def _describe(parameters: dict[str, Any]) -> str:
    return " ".join(f"{k}={v!r}" for k, v in parameters.items())


# --------------------------------------------------------------------------- the table


def check_names(results: Sequence[dict[str, Any]]) -> list[str]:
    """The names of all check records, in order of first appearance."""
    names: dict[str, None] = {}
    for r in results:
        for record in r.get("records") or []:
            names.setdefault(record["name"], None)
    return list(names)


def write_tables(
    sweep: SweepResult, out_dir: str | os.PathLike, measure: Sequence[str] | None = None
) -> dict[str, Path]:
    """``table.csv`` (one row per run), ``checks.csv`` (one row per check record) and
    ``plot.png`` in ``out_dir``; ``measure`` picks the checks whose measured values become
    columns of the table and panels of the plot (default: all)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    known = check_names(sweep.results)
    chosen = list(measure) if measure else known
    unknown = [m for m in chosen if m not in known]
    if unknown:
        raise ParameterError(
            f"--measure {', '.join(unknown)}: no such check in {sweep.chapter.stem}; "
            f"checks: {', '.join(known)}"
        )
    names = sweep.grid_names
    table = out / "table.csv"
    with table.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow([*names, "status", "checks", "failed", "wall_s", "cpu_s", *chosen, "error"])
        for r in sweep.results:
            measured = {rec["name"]: rec["measured"] for rec in r.get("records") or []}
            failed = sum(not rec["passed"] for rec in r.get("records") or [])
            w.writerow(
                [_cell(r["parameters"][n]) for n in names]
                + [status_of(r), len(r.get("records") or []), failed, r["wall_s"], r["cpu_s"]]
                + [measured.get(c, "") for c in chosen]
                + [(r.get("error") or "").splitlines()[0][:200] if r.get("error") else ""]
            )
    checks = out / "checks.csv"
    fields = ["name", "measured", "expected", "tolerance", "comparison", "passed", "claim"]
    with checks.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow([*names, *fields])
        for r in sweep.results:
            for rec in r.get("records") or []:
                w.writerow(
                    [_cell(r["parameters"][n]) for n in names]
                    + [_cell(rec.get(k, "")) for k in fields]
                )
    files = {"table": table, "checks": checks}
    if chosen:
        from tltlib.figures.sweep import plot_sweep

        files["plot"] = plot_sweep(
            sweep.grid_names, sweep.results, sweep.chapter.stem, chosen, out / "plot.png"
        )
    sweep.files = files
    return files


def _cell(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, list | dict) else value


# --------------------------------------------------------------------------- command line


def main(args: argparse.Namespace) -> int:
    path = resolve_chapter(args.chapter)
    points = build_points(path, parse_grid(args.grid or []), args.seeds)
    if not args.no_dry_run:
        for point, error in zip(points, dry_run(path, points), strict=True):
            if error is None:
                continue
            message = f"chapter {path.stem} rejects {_describe(point)}: {error}"
            if error.startswith(("ValueError", "ParameterError")):
                raise ParameterError(message + " (found by a dry run; nothing was run)")
            print(f"error: the dry run failed: {message}", file=sys.stderr)
            return 1
    out = Path(args.out) if args.out else RUNS / "sweeps" / path.stem
    try:
        sweep = run_sweep(
            path,
            points,
            jobs=args.jobs,
            scheduler=args.dask_scheduler,
            cache_dir=out / "cache",
            force=args.force,
            progress=not args.quiet,
        )
    except KeyboardInterrupt:
        print("interrupted: finished runs are cached; run the same command to resume",
              file=sys.stderr)  # fmt: skip
        return 130
    files = write_tables(sweep, out, args.measure)
    print(
        f"{path.stem}: {len(sweep.results)} runs ({sweep.cached} cached): "
        f"{sweep.count('passed')} passed, {sweep.count('failed')} failed a check, "
        f"{sweep.count('error')} stopped with an error"
    )
    for kind, file in files.items():
        print(f"  {kind}: {file}")
    return 0 if sweep.count("passed") == len(sweep.results) else 1


#: ``python -m tltlib sweep``: its line in ``python -m tltlib --help``
HELP = "run a chapter over a grid of parameters and seeds, in parallel, with a cache"
#: and the text of ``python -m tltlib sweep --help``: this module's docstring
DESCRIPTION = __doc__


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``python -m tltlib sweep``."""
    parser.add_argument("chapter", help="chapter path, file name, slug or number (e.g. 01)")
    parser.add_argument(
        "--grid",
        action="append",
        metavar="NAME=V1,V2,...",
        help="values of one parameter (repeat for a product grid); commas inside [...] are kept",
    )
    parser.add_argument("--seeds", type=int, help="also run seeds 0 .. N-1 of every grid point")
    parser.add_argument("-j", "--jobs", type=int, default=1, help="local parallel runs (default 1)")
    parser.add_argument("--dask-scheduler", metavar="ADDRESS", help="run on this Dask cluster")
    parser.add_argument(
        "--measure",
        action="append",
        metavar="CHECK",
        help="a check whose measured value goes into the table and plot (default: all)",
    )
    parser.add_argument("-o", "--out", help="folder of the table, plot and cache")
    parser.add_argument("--force", action="store_true", help="ignore cached runs")
    parser.add_argument("--no-dry-run", action="store_true", help="skip the dry run of the cells")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
