"""What a training run leaves: the metrics it recorded (:class:`History`), at which steps
(:func:`log_steps`), and the run itself (:class:`Run`: the final model, its history, the
teacher and the settings). Every trainer of the book returns a :class:`Run`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from tltlib.core.validate import positive_int


def log_steps(steps: int, per_decade: int = 20) -> np.ndarray:
    """Steps ``0, 1, ..., steps`` thinned to about ``per_decade`` per decade, always with ``steps``."""
    steps = positive_int("steps", steps)
    per_decade = positive_int("per_decade", per_decade)
    n = int(np.ceil(np.log10(steps) * per_decade)) + 1
    grid = np.unique(np.round(np.logspace(0, np.log10(steps), max(n, 2))).astype(np.int64))
    return np.unique(np.concatenate([[0], grid, [steps]]))


def record_steps(steps: int, record: int | Iterable[int]) -> np.ndarray:
    """The steps a trainer records: ``record`` marks per decade (:func:`log_steps`) when it is
    an ``int``, else the steps themselves, increasing in ``[0, steps]``."""
    if isinstance(record, (int, np.integer)):
        return log_steps(steps, int(record))
    marks = np.asarray(record, dtype=np.int64)
    if marks.ndim != 1 or np.any(np.diff(marks) <= 0) or marks[0] < 0 or marks[-1] > steps:
        raise ValueError(
            f"record must be a number of marks per decade or increasing steps in "
            f"[0, steps={steps}], got {record!r}"
        )
    return marks


def call_settings(trainer: str, arguments: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    """The settings a :class:`Run` keeps: ``trainer``, then the scalar arguments of the call
    (``locals()`` at a trainer's top, after its checks) and ``extra``.

    Numbers, strings and flags are kept, a dtype by its name, a sequence of names or indices as a
    list;
    models, tensors, arrays, mappings and ``record`` (what was recorded is in the history) are
    left out.
    """
    out: dict[str, Any] = {"trainer": trainer}
    for name, value in {**arguments, **extra}.items():
        if name == "record":
            continue
        if isinstance(value, (bool, int, float, str)):
            out[name] = value
        elif isinstance(value, torch.dtype):
            out[name] = str(value).replace("torch.", "")
        elif isinstance(value, (tuple, list)) and all(isinstance(v, (str, int)) for v in value):
            out[name] = list(value)
    return out


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
