"""What a training run leaves: the metrics it recorded (:class:`History`), at which steps
(:func:`log_steps`), and the run itself (:class:`Run`: the final model, its history, the
teacher and the settings). Every trainer of the book returns a :class:`Run`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tltlib.core.validate import positive_int


def log_steps(steps: int, per_decade: int = 20) -> np.ndarray:
    """Steps ``0, 1, ..., steps`` thinned to about ``per_decade`` per decade, always with ``steps``."""
    steps = positive_int("steps", steps)
    per_decade = positive_int("per_decade", per_decade)
    n = int(np.ceil(np.log10(steps) * per_decade)) + 1
    grid = np.unique(np.round(np.logspace(0, np.log10(steps), max(n, 2))).astype(np.int64))
    return np.unique(np.concatenate([[0], grid, [steps]]))


@dataclass
class History:
    """Metrics recorded during training: ``history["excess_loss"]`` is an array over ``steps``."""

    steps: list[int] = field(default_factory=list)
    values: dict[str, list[float]] = field(default_factory=dict)

    def append(self, step: int, metrics: dict[str, float]) -> None:
        self.steps.append(int(step))
        for k, v in metrics.items():
            self.values.setdefault(k, []).append(float(v))

    def __getitem__(self, name: str) -> np.ndarray:
        if name == "step":
            return np.asarray(self.steps)
        if name not in self.values:
            raise KeyError(f"no metric {name!r}; recorded: {sorted(self.values)}")
        return np.asarray(self.values[name])

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def final(self, name: str) -> float:
        return float(self[name][-1])

    def window(
        self, name: str, start: int, stop: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(steps, values)`` of ``name`` for ``start <= step <= stop``."""
        t = self["step"]
        stop = t[-1] if stop is None else stop
        keep = (t >= start) & (t <= stop)
        return t[keep], self[name][keep]

    def to_dict(self) -> dict[str, list]:
        return {"step": list(self.steps), **{k: list(v) for k, v in self.values.items()}}


@dataclass
class Run:
    """The outcome of a training run: the final student, its history and the settings."""

    student: Any
    history: History
    teacher: Any
    settings: dict
