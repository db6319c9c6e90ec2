"""The plot of a parameter sweep (``python -m tltlib sweep``, :mod:`tltlib.book.sweep`)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure


def plot_sweep(
    grid_names: Sequence[str],
    results: Sequence[dict[str, Any]],
    title: str,
    measure: Sequence[str],
    path: Path,
) -> Path:
    """One panel per chosen check of a sweep's ``results`` (each with ``parameters`` and
    ``records``): its measured value against the first grid parameter
    (one line per combination of the others, seeds as points and their mean), with the
    expected value and tolerance when all runs share them."""
    names = list(grid_names)
    x_name = next((n for n in names if n != "seed"), names[0])
    others = [n for n in names if n not in (x_name, "seed")]
    xs = list(dict.fromkeys(json.dumps(r["parameters"][x_name]) for r in results))
    numeric = all(isinstance(json.loads(x), int | float) for x in xs)
    position = {x: (json.loads(x) if numeric else i) for i, x in enumerate(xs)}
    cols = min(3, len(measure))
    rows = math.ceil(len(measure) / cols)
    fig = Figure(figsize=(4.2 * cols, 3.2 * rows), layout="constrained")
    for k, name in enumerate(measure):
        ax = fig.add_subplot(rows, cols, k + 1)
        groups: dict[str, dict[str, list[float]]] = {}
        rules = set()
        for r in results:
            for rec in r.get("records") or []:
                if rec["name"] != name:
                    continue
                label = ", ".join(f"{o}={r['parameters'][o]}" for o in others) or name
                x = json.dumps(r["parameters"][x_name])
                groups.setdefault(label, {}).setdefault(x, []).append(rec["measured"])
                rules.add((rec["comparison"], rec["expected"], rec.get("tolerance")))
        for label, by_x in groups.items():
            order = sorted(by_x, key=lambda x: position[x])
            px = [position[x] for x in order]
            means = [sum(by_x[x]) / len(by_x[x]) for x in order]
            (line,) = ax.plot(px, means, marker="o", label=label)
            for x in order:
                ax.scatter([position[x]] * len(by_x[x]), by_x[x], s=10, color=line.get_color())
        if len(rules) == 1:
            comparison, expected, tolerance = rules.pop()
            ax.axhline(expected, color="0.3", ls="--", lw=1)
            if comparison == "close" and tolerance:
                ax.axhspan(expected - tolerance, expected + tolerance, color="0.85", zorder=0)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(x_name)
        if not numeric:
            ax.set_xticks(range(len(xs)), [json.loads(x) for x in xs])
        elif min(position.values()) > 0 and max(position.values()) > 10 * min(position.values()):
            ax.set_xscale("log")
        if len(groups) > 1:
            ax.legend(fontsize=7)
    fig.suptitle(f"{title}: {len(results)} runs", fontsize=10)
    fig.savefig(path, dpi=110)
    return path
