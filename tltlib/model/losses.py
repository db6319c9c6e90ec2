"""Closed-form population losses for Gaussian inputs.

With ``x_i ~ N(0, I_d)`` i.i.d., the entries ``a = (W_V X S)_{m,i}`` and
``b = (V* X S*)_{m,i}`` are jointly Gaussian with

    var a = ||w_m||^2 ||s_i||^2,  var b = ||v_m||^2 ||s*_i||^2,  cov = <w_m, v_m> <s_i, s*_i>,

because ``E[X^T B X] = tr(B) I``. Everything the loss needs is then a Gaussian
expectation of a piecewise-linear function, known in closed form (the arc-cosine
kernel), so the excess loss ``L - L_opt = 1/2 E||f*(X) - TF(X)||_F^2`` is exact: no
sampling, no noise in the curves. For the identity it is the bilinear form

    L - L_opt = 1/2 [ ||W_V||^2 ||S||^2 + ||V*||^2 ||S*||^2 - 2 <W_V, V*> <S, S*> ],

whose two factors, value against value and scores against scores, are the paper's
bilinear structure.
"""

from __future__ import annotations

import math

import torch

from tltlib.model.activations import Activation
from tltlib.model.student import PositionOnlyTransformer
from tltlib.model.teachers import Teacher


def _arccos_kernel(sa: torch.Tensor, sb: torch.Tensor, cov: torch.Tensor) -> torch.Tensor:
    """``E[relu(a) relu(b)]`` for centred jointly Gaussian ``a, b``."""
    prod = sa * sb
    safe = torch.where(prod > 0, prod, torch.ones_like(prod))
    cos = torch.clamp(cov / safe, -1.0, 1.0)
    theta = torch.arccos(cos)
    k = safe / (2 * math.pi) * (torch.sin(theta) + (math.pi - theta) * cos)
    return torch.where(prod > 0, k, torch.zeros_like(k))


def gaussian_cross_moment(
    var_a: torch.Tensor, var_b: torch.Tensor, cov: torch.Tensor, activation: Activation
) -> torch.Tensor:
    """``E[sigma(a) sigma(b)]`` for centred jointly Gaussian ``(a, b)``."""
    if activation.is_identity:
        return cov
    alpha = activation.negative_slope
    sa, sb = var_a.clamp_min(0).sqrt(), var_b.clamp_min(0).sqrt()
    k_same = _arccos_kernel(sa, sb, cov)
    k_flip = _arccos_kernel(sa, sb, -cov)
    return (1 + alpha**2) * k_same - 2 * alpha * k_flip


def gaussian_second_moment(var: torch.Tensor, activation: Activation) -> torch.Tensor:
    """``E[sigma(a)^2]`` for ``a ~ N(0, var)``."""
    alpha = activation.negative_slope
    return var if activation.is_identity else (1 + alpha**2) / 2 * var


def excess_loss(student: PositionOnlyTransformer, teacher: Teacher) -> float:
    """Exact ``L - L_opt = 1/2 E||f*(X) - TF(X)||_F^2`` for Gaussian inputs (any activation)."""
    return float(excess_loss_from(student.W_V, student.scores(), teacher))


def excess_loss_from(W_V: torch.Tensor, S: torch.Tensor, teacher: Teacher) -> torch.Tensor:
    """:func:`excess_loss` from the value matrix and the scores (a differentiable tensor)."""
    _check_same_shapes(W_V, S, teacher)
    dtype = W_V.dtype
    V, Ss = teacher.V_star.to(dtype), teacher.S_star.to(dtype)
    act = teacher.activation
    var_a = (W_V * W_V).sum(1)[:, None] * (S * S).sum(0)[None, :]
    var_b = (V * V).sum(1)[:, None] * (Ss * Ss).sum(0)[None, :]
    cov = (W_V * V).sum(1)[:, None] * (S * Ss).sum(0)[None, :]
    if act.is_identity:
        return 0.5 * (var_a + var_b - 2 * cov).sum()
    second = gaussian_second_moment(var_a, act) + gaussian_second_moment(var_b, act)
    return 0.5 * (second - 2 * gaussian_cross_moment(var_a, var_b, cov, act)).sum()


def bilinear_excess_loss(W_V: torch.Tensor, S: torch.Tensor, teacher: Teacher) -> torch.Tensor:
    """The identity-activation excess loss written as the bilinear form of the module doc."""
    V, Ss = teacher.V_star.to(W_V.dtype), teacher.S_star.to(W_V.dtype)
    fro2 = lambda A: (A * A).sum()  # noqa: E731
    inner = lambda A, B: (A * B).sum()  # noqa: E731
    return 0.5 * (fro2(W_V) * fro2(S) + fro2(V) * fro2(Ss) - 2 * inner(W_V, V) * inner(S, Ss))


def monte_carlo_excess_loss(
    student: PositionOnlyTransformer, teacher: Teacher, X: torch.Tensor
) -> tuple[float, float]:
    """Sample estimate of ``1/2 E||f*(X) - TF(X)||_F^2`` on inputs ``X`` (N, d, D), with its std error."""
    diff = teacher(X) - student(X)
    per_sample = 0.5 * (diff * diff).sum(dim=(-2, -1))
    n = per_sample.shape[0]
    return float(per_sample.mean()), float(per_sample.std() / math.sqrt(n))


def _check_same_shapes(W_V: torch.Tensor, S: torch.Tensor, teacher: Teacher) -> None:
    if W_V.shape != teacher.V_star.shape or S.shape != teacher.S_star.shape:
        raise ValueError(
            f"student shapes W_V {tuple(W_V.shape)}, S {tuple(S.shape)} do not fit the teacher's "
            f"V* {tuple(teacher.V_star.shape)}, S* {tuple(teacher.S_star.shape)}"
        )


def closed_form_report(
    students: dict[str, PositionOnlyTransformer], teachers: dict[str, Teacher], X: torch.Tensor
) -> str:
    """One line per label: the closed-form excess loss and a Monte Carlo estimate on ``X``."""
    lines = []
    for label, student in students.items():
        mc, se = monte_carlo_excess_loss(student, teachers[label], X)
        closed = excess_loss(student, teachers[label])
        lines.append(f"{label:>10}: closed form {closed:8.4f}   Monte Carlo {mc:8.4f} ± {se:.4f}")
    return "\n".join(lines)
