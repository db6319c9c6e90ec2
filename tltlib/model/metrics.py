"""What the trainers record: the quantities of Theorem 3.1 and Figure 2.

All metrics compare a student with a teacher of the same shapes. They are recorded at
log-spaced steps (:func:`log_steps`) into a :class:`History`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from tltlib.model.losses import excess_loss_from
from tltlib.model.student import PositionOnlyTransformer
from tltlib.model.teachers import Teacher

METRICS = ("excess_loss", "S_error", "WV_error", "cosine", "norm_ratio")


def cosine(A: torch.Tensor, B: torch.Tensor) -> float:
    """Cosine similarity of two matrices in the Frobenius inner product (0 if one is zero)."""
    na, nb = torch.linalg.norm(A), torch.linalg.norm(B)
    if na == 0 or nb == 0:
        return 0.0
    return float((A * B).sum() / (na * nb))


def support_fraction(S: torch.Tensor, support: torch.Tensor) -> float:
    """Fraction of the columns of ``S`` whose ``K`` largest entries are the rows where
    ``support`` (a boolean ``D x D`` matrix with ``K`` true entries per column) is true."""
    K = int(support[:, 0].sum())
    top = torch.topk(S.to(torch.float64), K, dim=0).indices
    found = torch.zeros_like(support, dtype=torch.bool).scatter_(0, top, True)
    return float((found == support).all(dim=0).double().mean())


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


Metric = Callable[[PositionOnlyTransformer], float]


def sample_excess(teacher: Teacher, X: torch.Tensor, stderr: bool = False) -> Metric:
    """A metric: ``1/2 mean_n ||f*(X_n) - TF(X_n)||_F^2`` on the fixed inputs ``X`` (N, d, D),
    or with ``stderr`` the standard error of that mean.

    Used for out-of-distribution inputs (Figure 2(b)), where no closed form exists; the
    label noise is left out, since its cross term has mean zero.
    """
    X = X.to(torch.float64)
    target = teacher(X)

    def excess(student: PositionOnlyTransformer) -> float:
        diff = target - student(X)
        terms = 0.5 * (diff * diff).sum(dim=(-2, -1))
        if stderr:
            return float(terms.std() / terms.shape[0] ** 0.5)
        return float(terms.mean())

    return excess
