"""What every benchmark shares: timing by medians of interleaved repeats, and the row format.

A benchmark module ``bench_<name>.py`` in this folder defines ``TITLE`` and
``run(quick: bool, repeats: int) -> list[Row]``; ``run.py`` finds it by its file name.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass


@dataclass
class Timing:
    """Median wall and CPU seconds per unit of work over the repeats."""

    wall: float
    cpu: float


@dataclass
class Row:
    """One line of the table: a measurement of tltlib against a plain baseline (or a budget)."""

    benchmark: str
    size: str
    tltlib: str
    baseline: str
    ratio_cpu: float | None
    ratio_wall: float | None
    target: str
    met: bool | None

    def to_dict(self) -> dict:
        return asdict(self)


def interleaved(
    fns: dict[str, Callable[[], object]], units: int, repeats: int
) -> dict[str, Timing]:
    """Run each function ``repeats`` times, taking turns (the machine's load hits all of them
    alike), and return the median wall and CPU (``time.process_time``) seconds per unit."""
    walls: dict[str, list[float]] = {k: [] for k in fns}
    cpus: dict[str, list[float]] = {k: [] for k in fns}
    for fn in fns.values():  # warm-up: imports, allocator, caches
        fn()
    for _ in range(repeats):
        for name, fn in fns.items():
            w, c = time.perf_counter(), time.process_time()
            fn()
            walls[name].append((time.perf_counter() - w) / units)
            cpus[name].append((time.process_time() - c) / units)
    return {k: Timing(statistics.median(walls[k]), statistics.median(cpus[k])) for k in fns}


def fmt_time(seconds: float) -> str:
    """``0.000412`` -> ``"412 us"``."""
    if seconds < 1e-6:
        return f"{seconds * 1e9:.1f} ns"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.1f} s"


def speed_row(
    benchmark: str, size: str, fast: Timing, base: Timing, target: float, label: str = ""
) -> Row:
    """A row for ``base / fast`` (how many times faster tltlib is), with ``target`` its minimum."""
    ratio_cpu, ratio_wall = base.cpu / fast.cpu, base.wall / fast.wall
    return Row(
        benchmark,
        size,
        f"{fmt_time(fast.cpu)} ({fmt_time(fast.wall)} wall)",
        f"{fmt_time(base.cpu)} ({fmt_time(base.wall)} wall){label}",
        ratio_cpu,
        ratio_wall,
        f">= {target:g}x",
        ratio_cpu >= target,
    )
