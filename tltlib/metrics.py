"""What the trainers record: the quantities of Theorem 3.1 and Figure 2.

All metrics compare a student with a teacher of the same shapes. They are recorded at
log-spaced steps (:func:`log_steps`) into a :class:`History`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from .losses import excess_loss_from
from .student import PositionOnlyTransformer
from .teachers import Teacher
from .validate import positive_int

METRICS = ("excess_loss", "S_error", "WV_error", "cosine", "norm_ratio")


def cosine(A: torch.Tensor, B: torch.Tensor) -> float:
    """Cosine similarity of two matrices in the Frobenius inner product (0 if one is zero)."""
    na, nb = torch.linalg.norm(A), torch.linalg.norm(B)
    if na == 0 or nb == 0:
        return 0.0
    return float((A * B).sum() / (na * nb))


def measure(student: PositionOnlyTransformer, teacher: Teacher) -> dict[str, float]:
    """Excess loss (exact, Gaussian inputs), ``||S - S*||_F``, ``||W_V - V*||_F``,
    ``cos(W_V, V*)`` and ``||W_V||_F / ||V*||_F``."""
    S = student.scores()
    W, V = student.W_V, teacher.V_star.to(student.W_V.dtype)
    Ss = teacher.S_star.to(S.dtype)
    return {
        "excess_loss": float(excess_loss_from(W, S, teacher)),
        "S_error": float(torch.linalg.norm(S - Ss)),
        "WV_error": float(torch.linalg.norm(W - V)),
        "cosine": cosine(W, V),
        "norm_ratio": float(torch.linalg.norm(W) / torch.linalg.norm(V)),
    }


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


Metric = Callable[[PositionOnlyTransformer], float]


def sample_excess(teacher: Teacher, X: torch.Tensor) -> Metric:
    """A metric: ``1/2 mean_n ||f*(X_n) - TF(X_n)||_F^2`` on the fixed inputs ``X`` (N, d, D).

    Used for out-of-distribution inputs (Figure 2(b)), where no closed form exists; the
    label noise is left out, since its cross term has mean zero.
    """
    X = X.to(torch.float64)
    target = teacher(X)

    def excess(student: PositionOnlyTransformer) -> float:
        diff = target - student(X)
        return float(0.5 * (diff * diff).sum(dim=(-2, -1)).mean())

    return excess
