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

from .activations import Activation, get_activation
from .checks import Check, CheckLog
from .metrics import History, log_steps
from .seeding import generator
from .student import positional_encoding
from .teachers import DTYPE, Teacher, check_inputs
from .theory import DivergenceError, divergence_message
from .validate import positive_float, positive_int

VALUE_BLOCKS = ("features", "positions")
KQ_BLOCKS = ("feature-feature", "feature-position", "position-feature", "position-position")


@dataclass
class FullTransformer:
    """``sigma(W_V Z S)`` with ``S = column_softmax(Z^T W_KQ Z / sqrt(D))``, ``Z = [X; P]``."""

    W_V: torch.Tensor
    W_KQ: torch.Tensor
    P: torch.Tensor
    activation: Activation

    def __post_init__(self) -> None:
        self.activation = get_activation(self.activation)
        n = self.W_KQ.shape[0]
        if self.W_KQ.shape != (n, n) or self.W_V.shape[1] != n or n <= self.P.shape[0]:
            raise ValueError(
                f"W_KQ must be (d+D, d+D) and W_V (M, d+D); got W_V {tuple(self.W_V.shape)}, "
                f"W_KQ {tuple(self.W_KQ.shape)}, D = {self.P.shape[0]}"
            )

    @property
    def D(self) -> int:
        return self.P.shape[0]

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

    def copy(self) -> FullTransformer:
        return FullTransformer(self.W_V.clone(), self.W_KQ.clone(), self.P.clone(), self.activation)


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


@dataclass
class FullRun:
    model: FullTransformer
    init: FullTransformer
    history: History
    teacher: Teacher
    settings: dict


def train_full(
    teacher: Teacher,
    eta: float,
    steps: int,
    *,
    batch: int = 100,
    noise: float = 0.1,
    init_scale: float = 0.01,
    seed: int = 0,
    encoding: str = "identity",
    n_eval: int = 500,
    per_decade: int = 10,
) -> FullRun:
    """Online GD by autograd on the full model from :meth:`FullTransformer.random`.

    Records at log-spaced steps the excess loss on a fixed batch of ``n_eval`` Gaussian inputs
    (``1/2 mean ||f*(X) - TF~(X)||^2``) and the change of every block since initialisation.
    """
    eta = positive_float("eta", eta)
    steps = positive_int("steps", steps)
    batch = positive_int("batch", batch)
    noise = positive_float("noise", noise, allow_zero=True)
    model = FullTransformer.random(teacher, init_scale, seed, encoding)
    init = model.copy()
    W_V = model.W_V.clone().requires_grad_(True)
    W_KQ = model.W_KQ.clone().requires_grad_(True)
    g_x, g_e = generator(seed, "full_inputs"), generator(seed, "full_noise")
    X_eval = torch.randn(
        n_eval, teacher.d, teacher.D, generator=generator(seed, "full_eval"), dtype=DTYPE
    )
    Y_eval = teacher(X_eval)
    marks = set(int(t) for t in log_steps(steps, per_decade))
    history = History()
    limit = None
    for t in range(steps + 1):
        if t in marks:
            model.W_V, model.W_KQ = W_V.detach().clone(), W_KQ.detach().clone()
            with torch.no_grad():
                excess = 0.5 * float(((Y_eval - model(X_eval)) ** 2).sum(dim=(-2, -1)).mean())
            history.append(t, {"excess_loss": excess, **block_changes(model, init)})
        if t == steps:
            break
        X = torch.randn(batch, teacher.d, teacher.D, generator=g_x, dtype=DTYPE)
        Y = teacher(X) + noise * torch.randn(
            batch, teacher.M, teacher.D, generator=g_e, dtype=DTYPE
        )
        model.W_V, model.W_KQ = W_V, W_KQ
        loss = 0.5 * ((Y - model(X)) ** 2).sum() / batch
        if limit is None:
            limit = 1e6 * (float(loss.detach()) + 1.0)
        if not float(loss.detach()) < limit:
            raise DivergenceError(divergence_message(teacher, eta, t, float(loss.detach())))
        gV, gK = torch.autograd.grad(loss, (W_V, W_KQ))
        with torch.no_grad():
            W_V -= eta * gV
            W_KQ -= eta * gK
    model.W_V, model.W_KQ = W_V.detach().clone(), W_KQ.detach().clone()
    settings = dict(
        eta=eta,
        steps=steps,
        batch=batch,
        noise=noise,
        init_scale=init_scale,
        seed=seed,
        encoding=encoding,
    )
    return FullRun(model, init, history, teacher, settings)


def position_only_check(
    log: CheckLog, run: FullRun, max_ratio: float, prefix: str = ""
) -> tuple[Check, Check]:
    """Figure 1: the dropped blocks moved by at most ``max_ratio`` of the kept ones, for ``W~_V``
    and for ``W~_KQ`` (:func:`movement_ratios`)."""
    r = movement_ratios(run.model, run.init)
    c = block_changes(run.model, run.init)
    a = log.at_most(
        f"{prefix}value_block_ratio",
        "Figure 1(a): only the left M×d block of W~_V moves (position / feature block change)",
        r["value"],
        max_ratio,
        **{k: v for k, v in c.items() if k.startswith("V:")},
    )
    b = log.at_most(
        f"{prefix}kq_block_ratio",
        "Figure 1(b): only the position-position block of W~_KQ moves (largest other / it)",
        r["kq"],
        max_ratio,
        **{k: v for k, v in c.items() if k.startswith("KQ:")},
    )
    return a, b


def effective_scores(model: FullTransformer) -> torch.Tensor:
    """The attention of the position-position block alone, ``softmax(P^T W_pp P / sqrt(D))``:
    what the position-only student would use."""
    W = model.kq_blocks()["position-position"]
    return torch.softmax(model.P.T @ W @ model.P / math.sqrt(model.D), dim=0)


def mean_scores(model: FullTransformer, X: torch.Tensor) -> np.ndarray:
    """``S(X)`` averaged over the inputs ``X`` (it depends on them in the full model)."""
    with torch.no_grad():
        return model.scores(X.to(DTYPE)).mean(0).numpy()
