"""What the book predicts at a finite ``T``: the slow manifold of exact population GD for every
activation, the noise floor that online GD adds, and the slopes both give over a fit window
(our derivation; the paper states only the asymptotic rates).

**The slow manifold.** By Lemma D.2 (which survives for ReLU and Leaky ReLU: chapter 01) exact
GD from zero keeps ``W_V = C1 V*`` and every column of ``S`` equal to ``p`` on the support of
``S*`` and ``p e`` off it, ``p = 1/(K + x e)``, ``x = D - K``, ``e = exp(-g)`` with ``g`` the
logit gap. Per column ``||s||^2 = p^2 (K + x e^2)`` and ``<s, s*> = p``, so every output entry
has the same correlation ``rho = p sqrt(K / ||s||^2)`` and the loss is quadratic in ``C1``:

    L(C1, e) = D v / 2 [kappa / K - 2 C1 B + kappa C1^2 ||s||^2],
    B = lam p + (1 - lam)^2 sqrt(||s||^2 / K) J(rho) / (2 pi),
    J(rho) = sqrt(1 - rho^2) + (pi - arccos rho) rho,

``v = ||V*||_F^2``, ``lam`` the negative slope and ``kappa = (1 + lam^2)/2``. The value block
relaxes much faster than the attention moves, so ``C1`` sits at its optimum ``B / (kappa
||s||^2)`` and the excess loss is ``D v / 2 [kappa / K - B^2 / (kappa ||s||^2)]``. The gap
follows ``dg/dt = -(eta / (K x D)) dL/dg`` (the logits of a column move by ``-(eta/D)`` times
their gradient, and shifting the ``K`` logits of the support shifts the loss by ``K`` times one of
them), so ``t(g)`` is an integral, done here by the trapezoid rule. For the identity this is
:func:`tltlib.model.theory.slow_manifold_time` and ``slow_manifold_excess`` in closed form.

**What online GD adds.** The value block's gradient on a batch of ``N`` samples carries two
noises: the label noise (variance ``noise^2``) and the sampling of the inputs, whose variance is
the residual's own. Near the slow manifold the value block fluctuates around its optimum ``C1 V*``
with a variance per entry that SGD with step ``eta`` holds at

    var_m = eta (noise^2 h + c |v*_m|^2 ||E S^T||_F^2) / (N h (2 - eta h) - eta c^2 (d + 1) ||S^T S||_F^2),

``h = c ||S||_F^2`` the curvature (``c = E[sigma'^2] = kappa``), ``E = C1 S - S*`` the slow
residual of the attention (the input noise it leaves in the gradient, by Isserlis' theorem:
``sum_ij <E_i, E_j> <s_i, s_j>``) and the last term the input noise of the fluctuation itself
(the fourth moment of Gaussian tokens: ``E[z z^T A z z^T] = 2A + tr(A) I``). The fluctuation adds
``h/2`` times ``sum var`` to the excess loss and ``sum var`` to ``||W_V - V*||_F^2``; every
quantity is read off the slow manifold at each step. Where the columns of ``S*`` share their
support (chapter 03: all of them) the input noise is ``D`` times larger than where they do not
(chapters 01 and 02), and grows as ``eta h`` nears 2: it is what bends the online slopes of
chapter 03 (about +0.05 at its defaults). For ReLU and Leaky ReLU the products of ``sigma'``
are replaced by their mean ``c`` (a mean-field estimate; :func:`floor_uncertainty` carries a
factor 3/2 either way). The attention's own fluctuation is ``1/D`` smaller and left out.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from tltlib.core.fits import loglog_slope
from tltlib.core.validate import positive_float, positive_int
from tltlib.model.teachers import Teacher

#: the largest logit gap on the grid: ``e = exp(-12)``, far beyond any run (``T / T* ~ e^-2``)
G_MAX = 12.0
#: the prediction's relative error on how far the attention still is from ``1/K`` (the slow
#: manifold against exact GD: below 1% in ``tests/model/test_finite_time.py``)
GAP_ERROR = 0.05
#: the prediction's error on a late slope: the slow manifold against exact GD (``tests/model/
#: test_finite_time.py`` measures it below 0.002 from D = 8 to 36, for the three activations)
SLOPE_ERROR = 0.01


def _shape(teacher: Teacher) -> tuple[int, int, float, float]:
    lam = float(teacher.activation.negative_slope)
    return teacher.D, teacher.K, float((teacher.V_star**2).sum()), lam


def slow_manifold(teacher: Teacher, eta: float, n: int = 24001) -> dict[str, np.ndarray]:
    """The slow manifold of exact population GD from zero, for any activation, as curves
    against the step: ``step``, ``excess_loss``, ``S_error``, ``WV_error``, ``C1`` and
    ``S_norm2`` (``||S||_F^2``), ``S_on`` and ``S_off`` (``p`` and ``p e``, the attention on each
    entry of the support and off it)."""
    eta = positive_float("eta", eta)
    D, K, v, lam = _shape(teacher)
    x = D - K
    g = np.linspace(0.0, G_MAX, positive_int("n", n))
    e = np.exp(-g)
    p = 1.0 / (K + x * e)
    s2 = p * p * (K + x * e * e)
    rho = np.clip(p * np.sqrt(K / s2), -1.0, 1.0)
    J = np.sqrt(1.0 - rho * rho) + (math.pi - np.arccos(rho)) * rho
    kappa, r2 = 0.5 * (1.0 + lam * lam), (1.0 - lam) ** 2
    B = lam * p + r2 * np.sqrt(s2 / K) * J / (2.0 * math.pi)
    loss = 0.5 * D * v * (kappa / K - B * B / (kappa * s2))
    C1 = B / (kappa * s2)
    pace = K * x * D / (eta * np.maximum(-np.gradient(loss, g), 1e-300))
    t = np.concatenate([[0.0], np.cumsum(0.5 * (pace[1:] + pace[:-1]) * np.diff(g))])
    S_error = np.sqrt(D * (K * (p - 1.0 / K) ** 2 + x * (p * e) ** 2))
    return {
        "step": t,
        "excess_loss": loss,
        "S_error": S_error,
        "WV_error": np.abs(C1 - 1.0) * math.sqrt(v),
        "C1": C1,
        "S_norm2": D * s2,
        "S_on": p,
        "S_off": p * e,
    }


def online_floor(
    teacher: Teacher, eta: float, batch: int, noise: float, steps=None
) -> dict[str, np.ndarray]:
    """What online GD adds to the slow manifold at ``steps`` (default: at convergence, where
    ``S = S*``): ``excess_loss`` and ``WV_error_squared`` (see the module's docstring)."""
    eta, batch = positive_float("eta", eta), positive_int("batch", batch)
    noise = positive_float("noise", noise, allow_zero=True)
    _, K, _, lam = _shape(teacher)
    c = 0.5 * (1.0 + lam * lam)
    star = teacher.S_star.detach().to(torch.float64).numpy()
    support = star > 0
    if steps is None:
        on, off, C1 = np.array([1.0 / K]), np.array([0.0]), np.array([1.0])
    else:
        at = slow_manifold_at(teacher, eta, steps)
        on, off, C1 = at["S_on"], at["S_off"], at["C1"]
    rows = (teacher.V_star.detach().to(torch.float64) ** 2).sum(dim=1).numpy()
    M, d = teacher.M, teacher.d
    excess, error = np.empty(len(on)), np.empty(len(on))
    for k in range(len(on)):
        S = np.where(support, on[k], off[k])
        E = C1[k] * S - star
        h = c * float((S * S).sum())
        if eta * h >= 2.0:
            raise ValueError(f"eta={eta:g} is above the value block's stability bound {2 / h:.3g}")
        gram = S.T @ S
        den = batch * h * (2.0 - eta * h) - eta * c * c * (d + 1) * float((gram * gram).sum())
        if den <= 0:
            raise ValueError(
                f"eta={eta:g} with batch={batch} is above the stability bound of online GD's "
                "input noise (make eta or the batch smaller, or the batch larger)"
            )
        input_noise = c * float(((E @ S.T) ** 2).sum())
        var = eta * (noise**2 * h * M + input_noise * rows.sum()) * d / den
        excess[k], error[k] = 0.5 * h * var, var
    return {"excess_loss": excess, "WV_error_squared": error}


def slow_manifold_at(teacher: Teacher, eta: float, steps) -> dict[str, np.ndarray]:
    """Every curve of :func:`slow_manifold` interpolated (in log-log) at ``steps``."""
    curve = slow_manifold(teacher, eta)
    t = curve.pop("step")
    lt = np.log(np.maximum(np.asarray(steps, dtype=float), t[1]))  # step 0: the first point
    return {k: np.exp(np.interp(lt, np.log(t[1:]), np.log(v[1:]))) for k, v in curve.items()}


def predicted_curves(
    teacher: Teacher,
    eta: float,
    steps,
    *,
    batch: int | None = None,
    noise: float = 0.0,
    floor_scale: float = 1.0,
) -> dict[str, np.ndarray]:
    """``excess_loss``, ``S_error``, ``WV_error`` and ``S_on`` predicted at ``steps``: the slow
    manifold, plus what online GD adds when ``batch`` is given (:func:`online_floor`, scaled by
    ``floor_scale``)."""
    at = slow_manifold_at(teacher, eta, steps)
    out = {k: at[k] for k in ("excess_loss", "S_error", "WV_error", "S_on")}
    if batch is not None:
        floor = online_floor(teacher, eta, batch, noise, steps)
        out["excess_loss"] = out["excess_loss"] + floor_scale * floor["excess_loss"]
        out["WV_error"] = np.sqrt(out["WV_error"] ** 2 + floor_scale * floor["WV_error_squared"])
    return out


def predicted_slopes(teacher: Teacher, eta: float, window, **online: float) -> dict[str, float]:
    """Log-log slopes over the steps ``window`` of :func:`predicted_curves`, to which ``online``
    passes its keywords (``batch``, ``noise``, ``floor_scale``)."""
    window = np.asarray(window, dtype=float)
    curves = predicted_curves(teacher, eta, window, **online)
    curves.pop("S_on")
    return {k: loglog_slope(window, y).slope for k, y in curves.items()}


def floor_uncertainty(
    teacher: Teacher, eta: float, window, batch: int, noise: float
) -> dict[str, float]:
    """How much the predicted slopes move when what online GD adds is 2/3 or 3/2 of
    :func:`online_floor` (a mean-field estimate, not an identity)."""
    slopes = predicted_slopes(teacher, eta, window, batch=batch, noise=noise)
    out = dict.fromkeys(slopes, 0.0)
    for factor in (2.0 / 3.0, 1.5):
        other = predicted_slopes(teacher, eta, window, batch=batch, noise=noise, floor_scale=factor)
        for k in slopes:
            out[k] = max(out[k], abs(other[k] - slopes[k]))
    return out


def steps_for_rate(
    teacher: Teacher, eta: float, within: float = 0.05, fraction: float = 0.25
) -> int:
    """The shortest ``T`` at which the predicted loss slope over ``[fraction T, T]`` of exact
    GD is within ``within`` of the asymptotic ``-1``: where a run enters the regime of
    Theorem 3.1's rate."""
    within = positive_float("within", within)
    curve = slow_manifold(teacher, eta)
    t, loss = curve["step"][1:], curve["excess_loss"][1:]
    lt, ll = np.log(t), np.log(loss)
    grid = np.geomspace(10.0, t[-1] / 2, 400)
    slopes = np.empty(len(grid))
    for i, T in enumerate(grid):
        window = np.log(np.geomspace(fraction * T, T, 20))
        slopes[i] = np.polyfit(window, np.interp(window, lt, ll), 1)[0]
    outside = np.flatnonzero(np.abs(slopes + 1.0) > within)  # the plateau, then the steep part
    if not len(outside):
        return int(grid[0])
    if outside[-1] == len(grid) - 1:
        raise ValueError(f"the rate is not reached within {t[-1]:.3g} steps (eta={eta:g})")
    return math.ceil(grid[outside[-1] + 1])
