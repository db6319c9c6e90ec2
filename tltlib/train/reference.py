"""Plain autograd implementations, written the obvious way.

They serve as the yardstick for the fast trainers (``tests/`` checks that
:func:`tltlib.train.population.train_population` and :func:`tltlib.train.online.train_online` follow
them step for step) and as baselines for ``benchmarks/``. They update ``W_KQ`` itself
through ``P`` (no logit shortcut), which is what makes the invariance to ``P`` a
non-trivial check in chapter 00.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from tltlib.core import dryrun
from tltlib.core.seeding import generator
from tltlib.core.validate import positive_float, positive_int
from tltlib.model.losses import excess_loss_from
from tltlib.model.student import PositionOnlyTransformer
from tltlib.model.teachers import Teacher


def population_gd(
    teacher: Teacher, eta: float, steps: int, P: torch.Tensor
) -> PositionOnlyTransformer:
    """``steps`` of GD on the closed-form population loss, by autograd, updating ``W_KQ``."""
    eta, steps = positive_float("eta", eta), positive_int("steps", steps)
    D = teacher.D
    W = torch.zeros(teacher.M, teacher.d, dtype=torch.float64, requires_grad=True)
    WKQ = torch.zeros(D, D, dtype=torch.float64, requires_grad=True)
    P = P.to(torch.float64)
    dryrun.checkpoint("population_gd")
    for _ in range(steps):
        S = torch.softmax(P.T @ WKQ @ P / math.sqrt(D), dim=0)
        loss = excess_loss_from(W, S, teacher)
        gW, gK = torch.autograd.grad(loss, (W, WKQ))
        with torch.no_grad():
            W -= eta * gW
            WKQ -= eta * gK
    return PositionOnlyTransformer(W.detach(), WKQ.detach(), P, teacher.activation)


def online_gd(
    teacher: Teacher,
    eta: float,
    steps: int,
    P: torch.Tensor,
    *,
    batch: int = 100,
    noise: float = 1.0,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    activation: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> PositionOnlyTransformer:
    """Online GD by autograd: fresh batch, ``loss.backward()``, SGD step on ``W_V`` and ``W_KQ``.

    Draws its batches from the same streams as :func:`tltlib.train.online.train_online`, so the
    two follow the same trajectory. ``activation`` replaces the student's and teacher's
    activation (e.g. ``torch.relu``, whose derivative at 0 is 0).
    """
    eta, steps = positive_float("eta", eta), positive_int("steps", steps)
    act = activation or teacher.activation
    M, d, D, N = teacher.M, teacher.d, teacher.D, batch
    P_exact = P
    V, Ss, P = teacher.V_star.to(dtype), teacher.S_star.to(dtype), P.to(dtype)
    W = torch.zeros(M, d, dtype=dtype, requires_grad=True)
    WKQ = torch.zeros(D, D, dtype=dtype, requires_grad=True)
    g_x, g_e = generator(seed, "train_inputs"), generator(seed, "train_noise")
    dryrun.checkpoint("online_gd")
    for _ in range(steps):
        X = torch.randn(N, d, D, generator=g_x, dtype=dtype)
        Y = act(V @ X @ Ss)
        if noise > 0:
            Y = Y + noise * torch.randn(N, M, D, generator=g_e, dtype=dtype)
        S = torch.softmax(P.T @ WKQ @ P / math.sqrt(D), dim=0)
        loss = 0.5 * ((Y - act(W @ X @ S)) ** 2).sum() / N
        W.grad = WKQ.grad = None
        loss.backward()
        with torch.no_grad():
            W -= eta * W.grad
            WKQ -= eta * WKQ.grad
    return PositionOnlyTransformer(
        W.detach().to(torch.float64), WKQ.detach().to(torch.float64), P_exact, teacher.activation
    )


def gradient_at_zero(
    teacher: Teacher, X: torch.Tensor, activation: Callable[[torch.Tensor], torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Autograd gradients ``(dL/dW_V, dL/dW_KQ)`` of the noiseless batch loss at the zero
    initialisation, with ``activation`` used by both teacher and student."""
    D = teacher.D
    W = torch.zeros(teacher.M, teacher.d, dtype=X.dtype, requires_grad=True)
    WKQ = torch.zeros(D, D, dtype=X.dtype, requires_grad=True)
    S = torch.softmax(WKQ / math.sqrt(D), dim=0)
    Y = activation(teacher.V_star.to(X.dtype) @ X @ teacher.S_star.to(X.dtype))
    loss = 0.5 * ((Y - activation(W @ X @ S)) ** 2).sum() / X.shape[0]
    return torch.autograd.grad(loss, (W, WKQ))
