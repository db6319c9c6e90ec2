"""The full one-layer transformer of eq. (2.5) and why the paper may drop most of it (Figure 1).

``TF~(X) = sigma(W~_V Z S(Z^T W~_KQ Z / sqrt(D)))`` with ``Z = [X; P]`` (features stacked on
the positional encodings, ``(d + D) x D``), a value matrix ``W~_V`` of shape ``M x (d + D)`` and a
key-query matrix ``W~_KQ`` of shape ``(d + D) x (d + D)``; here the attention depends on the
input. Trained from a small random initialisation on a teacher, only two blocks move
appreciably: the feature block ``W~_V[:, :d]`` (which becomes ``V*``) and the position-position
block ``W~_KQ[d:, d:]`` (which produces ``S*``). Those are exactly the two blocks that the
position-only student (eq. 2.4) keeps.

Training is online gradient descent by autograd (fresh Gaussian batches, as in the paper's
experiments), in float64: the model is small, and the inactive blocks move by little, so their
motion must not drown in rounding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from tltlib.core.seeding import generator
from tltlib.core.validate import positive_float
from tltlib.model.student import TransformerWeights, positional_encoding
from tltlib.model.teachers import DTYPE, Teacher, check_inputs

VALUE_BLOCKS = ("features", "positions")
KQ_BLOCKS = ("feature-feature", "feature-position", "position-feature", "position-position")


@dataclass
class FullTransformer(TransformerWeights):
    """``sigma(W_V Z S)`` with ``S = column_softmax(Z^T W_KQ Z / sqrt(D))``, ``Z = [X; P]``."""

    def __post_init__(self) -> None:
        super().__post_init__()
        n = self.W_KQ.shape[0]
        if self.W_KQ.shape != (n, n) or self.W_V.shape[1] != n or n <= self.D:
            raise ValueError(
                f"W_KQ must be (d+D, d+D) and W_V (M, d+D); got W_V {tuple(self.W_V.shape)}, "
                f"W_KQ {tuple(self.W_KQ.shape)}, D = {self.D}"
            )

    @property
    def d(self) -> int:
        return self.W_KQ.shape[0] - self.D

    @classmethod
    def random(
        cls, teacher: Teacher, scale: float, seed: int = 0, encoding: str = "identity"
    ) -> FullTransformer:
        """I.i.d. ``N(0, scale^2)`` entries in both matrices (a small random initialisation)."""
        scale = positive_float("init_scale", scale)
        g = generator(seed, "full_init")
        n = teacher.d + teacher.D
        W_V = scale * torch.randn(teacher.M, n, generator=g, dtype=DTYPE)
        W_KQ = scale * torch.randn(n, n, generator=g, dtype=DTYPE)
        P = positional_encoding(teacher.D, encoding, seed)
        return cls(W_V, W_KQ, P, teacher.activation)

    def inputs(self, X: torch.Tensor) -> torch.Tensor:
        """``Z = [X; P]`` for ``X`` of shape ``(..., d, D)``."""
        check_inputs(X, self.d, self.D)
        P = self.P.to(X.dtype).expand(*X.shape[:-2], self.D, self.D)
        return torch.cat([X, P], dim=-2)

    def scores(self, X: torch.Tensor) -> torch.Tensor:
        """``S(X)``, column-wise softmax of ``Z^T W_KQ Z / sqrt(D)`` (depends on the input)."""
        Z = self.inputs(X)
        A = Z.transpose(-1, -2) @ self.W_KQ.to(X.dtype) @ Z / math.sqrt(self.D)
        return torch.softmax(A, dim=-2)

    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        Z = self.inputs(X)
        return self.activation(self.W_V.to(X.dtype) @ Z @ self.scores(X))

    def value_blocks(self) -> dict[str, torch.Tensor]:
        return {"features": self.W_V[:, : self.d], "positions": self.W_V[:, self.d :]}

    def kq_blocks(self) -> dict[str, torch.Tensor]:
        d = self.d
        W = self.W_KQ
        return {
            "feature-feature": W[:d, :d],
            "feature-position": W[:d, d:],
            "position-feature": W[d:, :d],
            "position-position": W[d:, d:],
        }


def block_changes(model: FullTransformer, init: FullTransformer) -> dict[str, float]:
    """``||block - block at init||_F`` of every block of ``W~_V`` (``V:...``) and ``W~_KQ`` (``KQ:...``)."""
    out = {}
    for name, b in model.value_blocks().items():
        out[f"V:{name}"] = float(torch.linalg.norm(b - init.value_blocks()[name]))
    for name, b in model.kq_blocks().items():
        out[f"KQ:{name}"] = float(torch.linalg.norm(b - init.kq_blocks()[name]))
    return out


def movement_ratios(model: FullTransformer, init: FullTransformer) -> dict[str, float]:
    """How much the blocks the position-only student drops moved, relative to those it keeps:
    ``value`` = position block / feature block of ``W~_V``; ``kq`` = the largest of the three
    blocks of ``W~_KQ`` that touch features / the position-position block (changes in ``||.||_F``)."""
    c = block_changes(model, init)
    return {
        "value": c["V:positions"] / c["V:features"],
        "kq": max(c[f"KQ:{b}"] for b in KQ_BLOCKS[:3]) / c["KQ:position-position"],
    }


def effective_scores(model: FullTransformer) -> torch.Tensor:
    """The attention of the position-position block alone, ``softmax(P^T W_pp P / sqrt(D))``:
    what the position-only student would use."""
    W = model.kq_blocks()["position-position"]
    return torch.softmax(model.P.T @ W @ model.P / math.sqrt(model.D), dim=0)


def mean_scores(model: FullTransformer, X: torch.Tensor) -> np.ndarray:
    """``S(X)`` averaged over the inputs ``X`` (it depends on them in the full model)."""
    with torch.no_grad():
        return model.scores(X.to(DTYPE)).mean(0).numpy()
