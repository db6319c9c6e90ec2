"""Example 2.5 in its natural form, and the classification version of Zhang, Meng and Cao (2025).

The input has ``D`` feature groups ``x_1, ..., x_D`` of dimension ``d`` and only the group
``i*`` carries the label: ``F_GSLP(X) = <v*, x_{i*}>``, copied to the ``D`` output positions.
In teacher form, ``V* = v*^T`` (``M = 1``), ``S* = e_{i*} 1^T`` (``K = 1``), identity.

Zhang, Meng and Cao (ICLR 2025) study the classification task ``y = sign(<v*, x_{i*}>)`` with
the logistic loss. :func:`train_logistic` trains the position-only student on it with online
gradient descent. Each of its ``D`` outputs ``f_i = (W_V X S)_i`` is a score for the label and
the loss sums the logistic losses of the ``D`` positions, ``sum_i log(1 + exp(-y f_i))``: the
analogue of the paper's squared loss, which sums over the output entries.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from tltlib.core.checks import Check, CheckLog
from tltlib.core.history import Run, call_settings
from tltlib.core.loop import run_loop
from tltlib.core.seeding import generator
from tltlib.core.validate import positive_float, positive_int
from tltlib.model.data import sample_inputs
from tltlib.model.metrics import cosine
from tltlib.model.student import PositionOnlyTransformer, column_softmax_backward
from tltlib.model.teachers import DTYPE, Teacher, check_inputs, selection_scores, value_matrix


def check_index(i_star: object, D: int) -> int:
    """``i_star`` if it is an integer in ``[0, D-1]``, else a ``ValueError``."""
    if isinstance(i_star, bool) or not isinstance(i_star, int | np.integer) or not 0 <= i_star < D:
        raise ValueError(f"i_star must be an integer in [0, {D - 1}] (D={D}), got {i_star!r}")
    return int(i_star)


@dataclass(frozen=True)
class GroupSparseLinear:
    """``X -> <v*, x_{i*}>``: a linear predictor that reads one feature group."""

    v: torch.Tensor  # (d,)
    i_star: int
    D: int

    def __post_init__(self) -> None:
        if self.v.ndim != 1:
            raise ValueError(f"v must be a vector of shape (d,), got {tuple(self.v.shape)}")
        positive_int("D", self.D, minimum=2)
        object.__setattr__(self, "i_star", check_index(self.i_star, self.D))

    @property
    def d(self) -> int:
        return self.v.shape[0]

    def predict(self, X: torch.Tensor) -> torch.Tensor:
        """The scalar ``<v*, x_{i*}>`` for each ``X`` of shape ``(..., d, D)``."""
        check_inputs(X, self.d, self.D)
        return X[..., :, self.i_star] @ self.v.to(X.dtype)

    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        """The prediction copied to the ``D`` output positions, shape ``(..., 1, D)``."""
        y = self.predict(X)[..., None, None]
        return y.expand(*y.shape[:-2], 1, self.D)

    def labels(self, X: torch.Tensor) -> torch.Tensor:
        """Classification labels ``sign(<v*, x_{i*}>)`` in ``{-1, +1}`` (``+1`` at zero)."""
        return torch.where(self.predict(X) >= 0, 1.0, -1.0).to(X.dtype)

    def as_teacher(self) -> Teacher:
        """The bilinear form: ``V* = v*^T``, ``S* = e_{i*} 1^T``, identity activation."""
        S = selection_scores(self.D, [self.i_star])
        return Teacher(self.v[None, :].to(DTYPE), S, "identity", name="gslp")


def group_sparse_linear(
    D: int, d: int, i_star: int, seed: int = 0, v_norm: float = 1.0
) -> GroupSparseLinear:
    """The predictor with a random ``v*`` of norm ``v_norm`` (unit, as in Zhang, Meng and Cao)."""
    D = positive_int("D", D, minimum=2)
    i_star = check_index(i_star, D)
    v = value_matrix(1, d, seed, fro_norm=positive_float("v_norm", v_norm))[0]
    return GroupSparseLinear(v, i_star, D)


def logistic_steps(D: int, eta: float, horizon: float) -> int:
    """``ceil(horizon D^2 / eta)``: a logistic run's length in units of ``D^2/eta``, the time
    scale of the regression's ``T* = K D^2/(eta ||v*||^2)`` at ``K = 1`` without the norm (the
    labels do not depend on it). The attention on ``i*`` leaves ``1/D`` at about ``D^2/eta``
    steps and passes 0.8 at about ``2.5 D^2/eta`` at every ``D`` from 8 to 36 (measured with
    ``eta = 0.2``, batch 100)."""
    D = positive_int("D", D)
    eta = positive_float("logistic_eta", eta)
    return math.ceil(positive_float("logistic_horizon", horizon) * D * D / eta)


def train_logistic(
    predictor: GroupSparseLinear,
    eta: float,
    steps: int,
    *,
    batch: int = 100,
    seed: int = 0,
    n_eval: int = 2000,
    encoding: str = "random",
    dtype: torch.dtype = torch.float32,
    record: int | Sequence[int] = 20,
    train_blocks: tuple[str, ...] = ("value", "attention"),
) -> Run:
    """Online GD from zero on ``y = sign(<v*, x_{i*}>)`` with the logistic loss.

    The loss of one sample is ``sum_i log(1 + exp(-y f_i))`` over the student's ``D`` outputs
    ``f_i = (W_V X S)_i``, averaged over a fresh Gaussian batch at every step; the logits move by
    ``-(eta/D) grad_A`` as in :mod:`tltlib.train.online`. Records the weight on ``i*``
    (``attention_min``, ``attention_mean``), the ``cosine`` of ``W_V`` with ``v*``, its norm
    (``value_norm``), and, on ``n_eval`` fixed held-out inputs, the loss per position
    (``logistic_loss``) and the error rate of the sign of the mean score (``error``).
    ``train_blocks=("value",)`` freezes the attention (an ablation).
    """
    eta = positive_float("eta", eta)
    steps = positive_int("steps", steps)
    batch = positive_int("batch", batch)
    if not train_blocks or set(train_blocks) - {"value", "attention"}:
        raise ValueError(
            f"train_blocks must be a non-empty subset of ('value', 'attention'), "
            f"got {train_blocks!r}"
        )
    settings = call_settings("online-logistic", locals(), i_star=predictor.i_star)
    teacher = predictor.as_teacher()
    i_star, d, D, N = predictor.i_star, predictor.d, predictor.D, batch
    X_eval = sample_inputs("gaussian", positive_int("n_eval", n_eval), d, D, seed, "eval")
    y_eval = predictor.labels(X_eval)
    student = PositionOnlyTransformer.for_teacher(teacher, encoding=encoding, seed=seed)
    v = predictor.v.to(dtype)
    W = torch.zeros(1, d, dtype=dtype)
    A = torch.zeros(D, D, dtype=dtype)
    g_x = generator(seed, "train_inputs")

    def snapshot() -> dict[str, float]:
        student.W_V = W.to(torch.float64).clone()
        student.set_logits(A.to(torch.float64))
        S = student.scores()
        f = student(X_eval)[:, 0, :]  # (n, D)
        margins = y_eval[:, None] * f
        return {
            "attention_min": float(S[i_star].min()),
            "attention_mean": float(S[i_star].mean()),
            "cosine": cosine(student.W_V[0], predictor.v.to(torch.float64)),
            "value_norm": float(torch.linalg.norm(student.W_V)),
            "logistic_loss": float(F.softplus(-margins).mean()),
            "error": float((margins.mean(dim=1) <= 0).to(torch.float64).mean()),
        }

    def step(t: int) -> float:
        nonlocal W, A
        S = torch.softmax(A, dim=0)
        X = torch.randn(N, d, D, generator=g_x, dtype=dtype)
        y = torch.where(X[:, :, i_star] @ v >= 0, 1.0, -1.0).to(dtype)[:, None, None]
        Xf = X.reshape(N * d, D)
        H = (Xf @ S).reshape(N, d, D)
        G = -y * torch.sigmoid(-y * (W @ H))  # (N, 1, D): d loss / d f_i
        if not bool(torch.isfinite(G).all()):
            return math.nan  # the loop stops with the message below
        if "attention" in train_blocks:
            gS = Xf.T @ (W.T @ G).reshape(N * d, D) / N
            A = A - (eta / D) * column_softmax_backward(S, gS)
        if "value" in train_blocks:
            W = W - eta * torch.tensordot(G, H, dims=([0, 2], [0, 2])) / N
        return 0.0

    history = run_loop(
        "train_logistic",
        steps,
        record,
        step,
        snapshot,
        lambda t, _: f"logistic training diverged at step {t} with eta={eta:g}",
        limit=math.inf,
    )
    return Run(student, history, teacher, settings)


def selection_error(attention: float, D: int) -> float:
    """Error rate of ``sign(f)`` when ``W_V`` is along ``v*`` and the attention puts ``attention``
    on ``i*`` and spreads the rest evenly: the score is ``a <v*, x_{i*}>`` plus independent
    Gaussian noise of relative size ``(1 - a)/sqrt(D - 1)``, so the sign is wrong with probability
    ``arctan((1 - a) / (a sqrt(D - 1))) / pi``. At uniform attention (``a = 1/D``) this is
    ``arctan(sqrt(D - 1)) / pi``, the best a student without selection can do."""
    a = float(attention)
    if not 0.0 < a <= 1.0:
        raise ValueError(f"attention must be in (0, 1], got {attention!r}")
    return float(np.arctan((1.0 - a) / (a * np.sqrt(D - 1))) / np.pi)


def _largest_other(S: torch.Tensor, row: int) -> torch.Tensor:
    """The largest entry of every column of ``S`` outside ``row``."""
    others = torch.cat([S[:row], S[row + 1 :]])
    return others.max(dim=0).values


def logistic_checks(
    log: CheckLog,
    run: Run,
    *,
    min_attention: float = 0.8,
    min_cosine: float = 0.99,
    max_z: float = 4.0,
    prefix: str = "logistic/",
) -> list[Check]:
    """Zhang, Meng and Cao (2025) on a logistic run (see :func:`train_logistic`).

    Every output position puts at least ``min_attention`` on ``i*`` and ``i*`` is the largest
    entry of every column of ``S``; ``W_V`` aligns with ``v*`` (cosine ``>= min_cosine``); the
    held-out error rate is at most a tenth of the uniform-attention error
    ``arctan(sqrt(D-1))/pi``, and within ``max_z`` binomial standard errors of
    :func:`selection_error` at the learned attention.
    """
    i_star = run.settings["i_star"]
    S = run.student.scores()
    h = run.history
    D = S.shape[0]
    attention = float(S[i_star].min())
    error = h.final("error")
    uniform = selection_error(1.0 / D, D)
    predicted = selection_error(attention, D) if attention > 0 else float("nan")
    n = run.settings["n_eval"]
    se = float(np.sqrt(max(predicted * (1 - predicted), 1.0 / n) / n))
    return [
        log.at_least(
            f"{prefix}attention_on_i_star",
            "ZMC 2025: attention concentrates on the relevant group (min_i S[i*, i])",
            attention,
            min_attention,
            i_star=i_star,
            uniform=1.0 / D,
        ),
        log.at_least(
            f"{prefix}top_row_is_i_star",
            "ZMC 2025: i* is strictly the largest entry of every column of S (fraction)",
            float((S[i_star] > _largest_other(S, i_star)).to(torch.float64).mean()),
            1.0,
        ),
        log.at_least(
            f"{prefix}cosine_final",
            "ZMC 2025: W_V aligns with v*",
            cosine(run.student.W_V[0], run.teacher.V_star[0].to(run.student.W_V.dtype)),
            min_cosine,
        ),
        log.at_most(
            f"{prefix}error_vs_uniform",
            "ZMC 2025: selection beats uniform attention tenfold (error(T) ≤ arctan(√(D−1))/(10π))",
            error,
            uniform / 10,
            uniform_error=uniform,
        ),
        log.close_to(
            f"{prefix}error_from_attention",
            "held-out error = arctan((1−a)/(a√(D−1)))/π at the learned attention a (|z|)",
            abs(error - predicted) / se,
            0.0,
            max_z,
            error=error,
            predicted=predicted,
            n_eval=n,
        ),
    ]
