"""Checks of the kernel-regime chapters (Arda, Cayci & Eryilmaz 2026): each measures a number
and compares it with what the analysis predicts, into a :class:`tltlib.core.checks.CheckLog`.

The analysis (its shape reconstructed from the paper's introduction and official code, see
``chapters/09a-*``) bounds the minimum training loss of projected GD by three terms: an
optimisation term ``~ nu^2 / sqrt(K)``, a random-feature term ``~ sqrt(log(n)/m)`` and a
linearisation term ``~ rho^2 / sqrt(m)``, with constants that do not depend on ``T``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from tltlib.core.checks import Check, CheckLog
from tltlib.core.fits import pooled_slope_interval
from tltlib.core.seeding import generator
from tltlib.core.validate import positive_float, positive_int
from tltlib.kernel.model import ShallowTransformer, shallow_forward
from tltlib.kernel.transport import TransportTeacher

SOURCE = "Arda et al. 2026"


def zero_at_init(log: CheckLog, model: ShallowTransformer, X: torch.Tensor) -> Check:
    """The paired initialisation gives ``f(X; phi_0) = 0`` (rounding error only)."""
    with torch.no_grad():
        value = float(model(X).abs().max())
    return log.close_to(
        "f_zero_at_init", f"{SOURCE}: paired init gives f = 0", value, 0.0, 1e-12, m=model.m
    )


def projection_radii(
    log: CheckLog, model: ShallowTransformer, rho: float, seed: int, scale: float = 10.0
) -> Check:
    """Move every parameter far (``scale * rho``) in a random direction, project, and record
    the largest head distance in units of ``rho / sqrt(m)`` (the projection must give ``<= 1``,
    and the farthest head must sit on the sphere, ``= 1``)."""
    g = generator(seed, "projection-check")
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * rho * torch.randn(p.shape, generator=g, dtype=p.dtype))
    model.project_(rho)
    worst = float(model.head_distances().max()) / (rho / math.sqrt(model.m))
    model.reset()
    return log.close_to(
        "projection_radii",
        f"{SOURCE}: projected GD keeps each head within rho/sqrt(m) (largest distance, units of rho/sqrt(m))",
        worst,
        1.0,
        1e-12,
        rho=rho,
        m=model.m,
    )


def single_token(log: CheckLog, model: ShallowTransformer, X: torch.Tensor, seed: int) -> Check:
    """With ``T = 1`` attention has one token to read: ``f = (1/sqrt m) sum_i c_i sigma(U_i^T x_1)``.
    Checked at a random point (at the init both sides would be zero)."""
    g = generator(seed, "single-token-check")
    W, U, c = (
        p.detach() + torch.randn(p.shape, generator=g, dtype=p.dtype) for p in model.initial()
    )
    x1 = X[..., :1].to(model.dtype)
    model_value = shallow_forward(x1, W, U, c, model.activation, model.attention)
    direct = model.activation(x1[..., 0] @ U.T) @ c / math.sqrt(model.m)
    gap = float((model_value - direct).abs().max())
    return log.close_to(
        "single_token", f"{SOURCE}: T = 1 reduces to sigma(U^T x_1)", gap, 0.0, 1e-12
    )


def transport_checks(
    log: CheckLog,
    teacher: TransportTeacher,
    model: ShallowTransformer,
    X: torch.Tensor,
    rho: float,
) -> None:
    """The transported network ``phi_0 + v(phi_0)/sqrt(m)`` lies in the projection set when
    ``rho >= nu``, and its linearisation is exactly the ``m``-feature estimate of the teacher."""
    delta = teacher.displacement(model)
    per_head = torch.stack([d.reshape(model.m, -1).norm(dim=1) for d in delta])
    worst = float(per_head.max()) / (rho / math.sqrt(model.m))
    log.at_most(
        "transport_in_ball",
        f"{SOURCE}: the teacher's transport is in the projection set (rho >= nu)",
        worst,
        1.0,
        nu=teacher.nu,
        rho=rho,
    )
    gap = float((model.linearised(X, delta) - teacher.width_estimate(model, X)).abs().max())
    log.close_to(
        "transport_linearisation",
        f"{SOURCE}: <grad f(phi_0), v/sqrt(m)> is the m-feature estimate of the teacher",
        gap,
        0.0,
        1e-10,
    )


def decreasing(
    log: CheckLog, name: str, claim: str, values: Sequence[float], bound: float = 1.0
) -> Check:
    """The largest ratio of consecutive values: ``<= bound`` (below 1: every step down is at
    least a fraction ``1 - bound``)."""
    v = np.asarray(values, dtype=float)
    worst = float(np.max(v[1:] / v[:-1]))
    return log.at_most(name, claim, worst, bound, values=v.tolist())


def optimisation_term(nu: float, eta: float, steps: int, blocks: int = 3) -> float:
    """``blocks * nu^2 / (2 eta K)``: projected GD with a step ``eta <= 1/beta`` on the convex,
    ``beta``-smooth linearised loss ends within ``||phi* - phi_0||^2 / (2 eta K)`` of any
    ``phi*`` in the set (Beck & Teboulle 2009, Thm 3.1); the transport point has
    ``||phi* - phi_0||^2 <= blocks * nu^2`` whatever ``m``, ``n`` and ``T``."""
    nu, eta, steps = (
        positive_float("nu", nu),
        positive_float("eta", eta),
        positive_int("steps", steps),
    )
    return blocks * nu**2 / (2 * eta * steps)


def end_ratio_at_most(
    log: CheckLog,
    name: str,
    claim: str,
    T_values: Sequence[int],
    values: np.ndarray,
    max_ratio: float,
) -> Check:
    """Seed-mean value at the largest ``T`` over the one at the smallest: ``<= max_ratio``."""
    v = np.asarray(values, dtype=float)
    mean = v.mean(axis=1) if v.ndim == 2 else v
    ratio = float(mean[-1] / mean[0])
    return log.at_most(name, claim, ratio, max_ratio, T=list(T_values), values=mean.tolist())


def below(log: CheckLog, name: str, claim: str, measured: np.ndarray, bound: np.ndarray) -> Check:
    """``max(measured / bound) <= 1``: every measurement is below its bound."""
    m, b = np.asarray(measured, dtype=float), np.asarray(bound, dtype=float)
    return log.at_most(name, claim, float(np.max(m / b)), 1.0, values=m.tolist(), bounds=b.tolist())


def slope_not_above(
    log: CheckLog, name: str, claim: str, x: Sequence[float], values: np.ndarray, bound: float = 0.0
) -> Check:
    """No detectable growth faster than ``x^bound``: the lower end of the 95% interval of the
    log-log slope of ``values`` (points x independent repetitions) against ``x``
    (:func:`~tltlib.core.fits.pooled_slope_interval`) is at most ``bound``."""
    interval = pooled_slope_interval(x, values)
    return log.at_most(
        name,
        claim,
        interval.low,
        bound,
        estimate=interval.estimate,
        high=interval.high,
        points=interval.n,
        x=list(x),
        values=np.asarray(values, dtype=float).mean(axis=1).tolist(),
    )


# --- the chapters' checks, with their claims ---------------------------------------------------


def sequence_length_checks(
    log: CheckLog,
    T_values: Sequence[int],
    sweep: dict[str, np.ndarray],
    max_ratio: float = 1.2,
) -> None:
    """Chapter 09b, on :func:`tltlib.kernel.experiments.sequence_length_sweep` (lengths x
    seeds): the Jacobian norm stays below its ``T``-free bound and does not grow with ``T``
    (ratio of the largest to the smallest ``T`` at most ``max_ratio``), the step size is
    admissible, the optimisation error does not grow with ``T`` (the 95% interval of its
    log-log slope, over every length and repetition, not above 0) and the minimum training
    loss is below the ``T``-free guarantee."""
    below(
        log,
        "jacobian_below_bound",
        f"{SOURCE}: max_j ‖grad f‖ <= T-free bound (init and end, every T)",
        np.concatenate([sweep["J_init"], sweep["J_end"]]),
        np.concatenate([sweep["J_bound"], sweep["J_bound"]]),
    )
    end_ratio_at_most(
        log,
        "jacobian_T_ratio",
        f"{SOURCE}: Jacobian norm does not grow with T (ratio T_max / T_min)",
        T_values,
        sweep["J_init"],
        max_ratio,
    )
    below(
        log,
        "step_size_admissible",
        "Beck & Teboulle 2009: eta <= 1/beta, beta = 2 max ‖grad f‖^2",
        sweep["eta_beta"],
        np.ones_like(sweep["eta_beta"]),
    )
    slope_not_above(
        log,
        "loss_T_slope",
        f"{SOURCE}: optimisation error does not grow with T (log-log slope: 95% interval not above 0)",
        T_values,
        sweep["rel_train"],
    )
    below(
        log,
        "loss_below_guarantee",
        f"{SOURCE}: min training loss <= T-free guarantee (every T)",
        sweep["min_train"],
        sweep["approx_loss"] + sweep["opt_term"],
    )
