"""Whole-book execution: every chapter with its default parameters, one at a time.

Each chapter runs as ``python -m tltlib run CHAPTER`` in a child process (papermill, a fresh
kernel), and ``os.wait4`` gives the CPU time and peak memory of the whole process tree.
The budget is the brief's: a chapter's defaults run in well under a minute of one core's
CPU time; memory stays under 1 GiB (what a Binder session can count on).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import Row

TITLE = "whole book, per chapter"
ROOT = Path(__file__).resolve().parent.parent
CPU_BUDGET = 60.0  # seconds
MEMORY_BUDGET = 1024.0  # MiB


def measure_chapter(chapter: Path) -> tuple[float, float, float, int]:
    """(wall s, CPU s of the process tree, peak RSS MiB, exit status) of one run."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "tltlib", "run", str(chapter), "-q", "-o", f"{tmp}/out.ipynb"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    cpu = usage.ru_utime + usage.ru_stime
    rss = usage.ru_maxrss / 1024  # kB on Linux
    return wall, cpu, rss, os.waitstatus_to_exitcode(status)


def run(quick: bool, repeats: int) -> list[Row]:
    rows = []
    total_cpu = total_wall = 0.0
    for chapter in sorted((ROOT / "chapters").glob("*.md")):
        wall, cpu, rss, code = measure_chapter(chapter)
        total_cpu, total_wall = total_cpu + cpu, total_wall + wall
        ok = code == 0 and cpu <= CPU_BUDGET and rss <= MEMORY_BUDGET
        rows.append(
            Row(
                TITLE,
                chapter.stem + ("" if code == 0 else f" (exit {code})"),
                f"{cpu:.1f} s CPU ({wall:.0f} s wall), {rss:.0f} MiB",
                "",
                None,
                None,
                f"<= {CPU_BUDGET:.0f} s CPU, <= {MEMORY_BUDGET:.0f} MiB",
                ok,
            )
        )
    total = f"{total_cpu:.1f} s CPU ({total_wall:.0f} s wall)"
    rows.append(Row(TITLE, "all chapters", total, "", None, None, "", None))
    return rows
