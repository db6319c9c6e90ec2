"""The reduced scalar dynamics of Theorem 3.1 (``tltlib.train.reduced``): ``10^7`` steps of one setting
against the 10 s budget of the speed issue; batches of 20 and 100 settings against one setting
(one setting is bound by the latency of its chain of dependent operations, a batch by
throughput: see ``benchmarks/README.md``); and the compiled loop against the same map stepped from Python with NumPy (the plain version)."""

from __future__ import annotations

from functools import partial

import numpy as np
from common import Row, fmt_time, interleaved, speed_row

from tltlib.train import reduced

TITLE = "reduced dynamics (Theorem 3.1)"
D, K, ETA, V = 20, 4, 0.1, 8.0


def plain_numpy(steps: int) -> None:
    """The reduced map stepped in Python (``reduced.step``), one setting."""
    args = (np.array([D], float), np.array([K], float), np.array([ETA]), np.array([V]))
    delta, gap = np.array([-1.0]), np.array([0.0])  # zero init: C1 = 0, equal logits
    for _ in range(steps):
        delta, gap = reduced.step(delta, gap, *args)


def run(quick: bool, repeats: int) -> list[Row]:
    long_steps = 10**6 if quick else 10**7
    rows = []
    one = partial(reduced.train_reduced, D, K, ETA, V, long_steps, record=[long_steps])
    batches = {}
    for n in (20, 100):
        grid = np.repeat(np.arange(12, 37, 6), n // 5)  # n settings, D in 12..36
        batches[n] = partial(
            reduced.train_reduced, grid, K, ETA, V, long_steps, record=[long_steps]
        )
    times = interleaved(
        {"one": one, **{f"many{n}": f for n, f in batches.items()}}, 1, max(1, repeats // 2)
    )
    t1 = times["one"]
    budget = 10.0 * long_steps / 10**7
    rows.append(
        Row(
            f"{TITLE}: {long_steps:.0e} steps, one setting",
            f"D={D} K={K}",
            f"{fmt_time(t1.cpu)} ({fmt_time(t1.wall)} wall)",
            "budget",
            None,
            None,
            f"< {budget:g} s",
            t1.cpu < budget,
        )
    )
    for n in batches:
        many = times[f"many{n}"]
        ratio = many.cpu / t1.cpu
        rows.append(
            Row(
                f"{TITLE}: {n} settings vs one",
                "D=12..36",
                f"{fmt_time(many.cpu)} ({fmt_time(many.cpu / (n * long_steps))} per setting-step)",
                f"{fmt_time(t1.cpu)} ({fmt_time(t1.cpu / long_steps)} per step)",
                1 / ratio,
                None,
                "about the time of one (<= 2x)",
                ratio <= 2.0,
            )
        )
    short = 2000 if quick else 20000
    step_times = interleaved(
        {
            "tltlib": partial(reduced.train_reduced, D, K, ETA, V, short, record=[short]),
            "plain": partial(plain_numpy, short),
        },
        short,
        repeats,
    )
    rows.append(
        speed_row(
            f"{TITLE}: step",
            f"D={D} K={K}",
            step_times["tltlib"],
            step_times["plain"],
            10.0,
            " NumPy map",
        )
    )
    return rows
