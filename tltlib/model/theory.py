"""Formulas of Theorem 3.1 (rates, the time ``T*``, the step-size condition), and the closed
forms of the reduced dynamics on their slow manifold (our derivation).

The theorem gives orders of magnitude (``Theta``, ``O``) with unspecified constants, so these
functions return the *scales* ``K D^4 / (eta T)`` etc.; chapters compare measured exponents
and ratios with them, never absolute values.

The slow manifold (:mod:`tltlib.train.reduced` derives it) has exact closed forms instead: the
step at which the attention reaches a given concentration (:func:`slow_manifold_time`), the
excess loss and ``C1`` there, the peak of ``C1`` (:func:`peak_C1`), ``T*`` (:func:`half_time`)
and the constants of the ``1/T`` and ``1/sqrt(T)`` tails (``asymptotic_*_constant``).
:func:`phases` reads the three phases off a reduced run.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np

from tltlib.core.errors import StepSizeWarning
from tltlib.core.validate import in_range, positive_float, positive_int
from tltlib.model.teachers import Teacher


def value_norm2(teacher: Teacher) -> float:
    """``||V*||_F^2``."""
    return float((teacher.V_star**2).sum())


def t_star(teacher: Teacher, eta: float) -> float:
    """The scale ``K D^2 / (eta ||V*||_F^2)`` after which Theorem 3.1's rates hold."""
    eta = positive_float("eta", eta)
    return teacher.K * teacher.D**2 / (eta * value_norm2(teacher))


def excess_loss_scale(teacher: Teacher, eta: float, T: float) -> float:
    """``K D^4 / (eta T)``: Theorem 3.1 (iii) says the excess loss is ``Theta`` of this."""
    return teacher.K * teacher.D**4 / (positive_float("eta", eta) * positive_float("T", T))


def score_error_scale(teacher: Teacher, eta: float, T: float) -> float:
    """``D^{5/2} / (||V*||_F sqrt(eta T))``: Theorem 3.1 (i), ``||S - S*||_F``."""
    eta, T = positive_float("eta", eta), positive_float("T", T)
    return teacher.D**2.5 / (value_norm2(teacher) ** 0.5 * (eta * T) ** 0.5)


def value_error_scale(teacher: Teacher, eta: float, T: float) -> float:
    """``D^2 sqrt(K / (eta T))``: Theorem 3.1 (ii), ``||W_V - V*||_F``."""
    eta, T = positive_float("eta", eta), positive_float("T", T)
    return teacher.D**2 * (teacher.K / (eta * T)) ** 0.5


def eta_theorem_scale(M: int, D: int) -> float:
    """The step-size condition of Theorem 3.1, ``eta <= O(1 / (M D^{5/2}))``, without its constant."""
    return 1.0 / (positive_int("M", M) * positive_int("D", D) ** 2.5)


def eta_stability_bound(teacher: Teacher) -> float:
    """``2 / (c ||S*||_F^2)`` with ``c = E[sigma'(z)^2]``: GD on the value block alone is stable
    near the optimum only below this step size (``2K/D`` for the identity, since
    ``||S*||_F^2 = D/K``). The loss sums over the ``D`` columns, which is why it shrinks with ``D``.
    """
    alpha = teacher.activation.negative_slope
    c = (1 + alpha**2) / 2 if not teacher.activation.is_identity else 1.0
    return 2.0 / (c * float((teacher.S_star**2).sum()))


def stable_step(teacher: Teacher, fraction: float, name: str = "eta_fraction") -> float:
    """``fraction`` (in ``(0, 1)``) of the identity's stability bound ``2K/D``: a step size that
    every activation's value block tolerates (ReLU's bound is twice as large) whatever ``D``
    and ``K``, so that a chapter's defaults keep working when a reader changes the sizes."""
    fraction = in_range(name, fraction, 0.0, 1.0)
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"{name} must be in (0, 1), got {fraction!r}")
    return fraction * 2.0 * teacher.K / teacher.D


def horizon_steps(teacher: Teacher, eta: float, horizon: float, name: str = "horizon") -> int:
    """``ceil(horizon T*)``: a run length in units of :func:`t_star`."""
    return math.ceil(positive_float(name, horizon) * t_star(teacher, eta))


def warn_if_unstable(teacher: Teacher, eta: float) -> None:
    """Warn when ``eta`` exceeds the stability bound of the value block at the optimum.

    Gradient descent then does not (always) blow up: as the attention concentrates, the
    curvature ``c ||S||_F^2`` of the value block grows until it reaches ``2/eta``, and the
    attention stops there (the *edge of stability*), with the excess loss stuck above zero.
    """
    bound = eta_stability_bound(teacher)
    if eta > bound:
        warnings.warn(
            f"eta={eta:g} exceeds 2/(E[sigma'^2] ||S*||_F^2) = {bound:.3g}: gradient descent "
            f"cannot reach S* (it stalls where c ||S||_F^2 = 2/eta, or diverges)",
            StepSizeWarning,
            stacklevel=3,
        )


def divergence_message(teacher: Teacher, eta: float, step: int, loss: float) -> str:
    return (
        f"gradient descent diverged at step {step} (loss {loss:.3g}) with eta={eta:g}. "
        f"Theorem 3.1 assumes eta <= O(1/(M D^(5/2))), here 1/(M D^(5/2)) = "
        f"{eta_theorem_scale(teacher.M, teacher.D):.2g} (M={teacher.M}, D={teacher.D}); "
        f"near the optimum the value block is stable only for eta < 2/(E[sigma'^2] ||S*||_F^2) = "
        f"{eta_stability_bound(teacher):.3g}. Use a smaller eta."
    )


def diverged(teacher: Teacher, eta: float) -> Callable[[int, float], str]:
    """The divergence message of a trainer of ``teacher`` at step size ``eta``, as
    :func:`tltlib.core.loop.run_loop` asks for it."""
    return lambda step, loss: divergence_message(teacher, eta, step, loss)


# --- closed forms on the slow manifold of the reduced dynamics (our derivation) -------------


def slow_manifold_time(u, D, K, eta, v) -> np.ndarray:
    """The step at which ``e^2 = u`` on the slow manifold (``u`` from 1 down to 0)."""
    u = np.asarray(u, dtype=float)
    x = np.asarray(D, dtype=float) - K

    def F(w):
        return K**2 / w - 2 * K * x * np.log(w) - x**2 * w

    return K * (F(u) - F(1.0)) / (2.0 * eta * v)


def slow_manifold_curve(D, K, eta, v, t_max: float, n: int = 4000) -> dict[str, np.ndarray]:
    """The slow manifold as curves against the step: ``step``, ``excess_loss`` and ``C1`` at
    ``n`` points ``e^2 = u`` from 1 down to ``1e-12``, kept where ``1 <= step <= t_max``."""
    u = np.geomspace(1.0 - 1e-9, 1e-12, n)
    t = slow_manifold_time(u, D, K, eta, v)
    inside = (t >= 1) & (t <= t_max)
    return {
        "step": t[inside],
        "excess_loss": slow_manifold_excess(u[inside], D, K, v),
        "C1": slow_manifold_C1(u[inside], D, K),
    }


def slow_manifold_excess(u, D, K, v) -> np.ndarray:
    """The excess loss on the slow manifold at ``e^2 = u``: ``D v x u / (2K (K + x u))``."""
    u = np.asarray(u, dtype=float)
    x = np.asarray(D, dtype=float) - K
    return D * v * x * u / (2.0 * K * (K + x * u))


def slow_manifold_C1(u, D, K) -> np.ndarray:
    """``C1 = p / s2 = (K + x e) / (K + x e^2)`` on the slow manifold at ``e^2 = u``."""
    e = np.sqrt(np.asarray(u, dtype=float))
    x = np.asarray(D, dtype=float) - K
    return (K + x * e) / (K + x * e * e)


def peak_C1(D, K) -> np.ndarray:
    """How high ``C1 = ||W_V||_F / ||V*||_F`` overshoots: ``(1 + sqrt(D/K)) / 2``.

    By Lemma D.2, ``S`` is ``p`` on the support of ``S*`` and ``p e`` off it, with
    ``p = 1/(K + (D-K) e)``; for such an ``S`` the value block's optimum is
    ``C1*(e) = (K + (D-K) e) / (K + (D-K) e^2)`` (:func:`slow_manifold_C1`), 1 at uniform
    attention and at convergence and larger in between. The value block relaxes much faster
    than the attention moves, so ``C1(t)`` follows ``C1*(e(t))`` and peaks at the maximum of
    ``C1*``, reached at ``e = (sqrt(K D) - K)/(D - K)``: the golden ratio for ``D/K = 5``.
    """
    D, K = np.asarray(D, dtype=float), np.asarray(K, dtype=float)
    if np.any(K >= D) or np.any(K < 1):
        raise ValueError(f"K must be at least 1 and smaller than D, got K={K} with D={D}")
    return (1.0 + np.sqrt(D / K)) / 2.0


def half_time(D, K, eta, v) -> np.ndarray:
    """``T*`` measured as the step where ``p`` reaches ``1/(2K)`` on the slow manifold:
    ``K (x^2 + 2 K x log(x/K) - K^2) / (eta v)`` with ``x = D - K`` (0 when ``D <= 2K``)."""
    D, K = np.asarray(D, dtype=float), np.asarray(K, dtype=float)
    x = D - K
    with np.errstate(divide="ignore", invalid="ignore"):
        t = K * (x**2 + 2 * K * x * np.log(x / K) - K**2) / (eta * v)
    return np.where(x > K, t, 0.0)


def mass_half_time(D, K, eta, v) -> np.ndarray:
    """The step at which the attention's mass off the support, ``x p e`` per column (``x = D - K``),
    has halved from its uniform start ``x / D`` on the slow manifold: ``e = K / (D + K)``.

    Unlike :func:`half_time` (``p`` reaching ``1/(2K)``, already true at the start when
    ``D <= 2K``, hence 0 there) it is positive for every ``K < D``."""
    D, K = np.asarray(D, dtype=float), np.asarray(K, dtype=float)
    if np.any(K >= D) or np.any(K < 1):
        raise ValueError(f"K must be at least 1 and smaller than D, got K={K} with D={D}")
    return slow_manifold_time((K / (D + K)) ** 2, D, K, eta, v)


def asymptotic_excess_constant(D, K, eta) -> np.ndarray:
    """``lim T (L - L_opt) = D (D - K) K / (4 eta)`` (Theorem 3.1 (iii) has ``K D^4 / eta``)."""
    D = np.asarray(D, dtype=float)
    return D * (D - K) * K / (4.0 * eta)


def asymptotic_S_error_constant(D, K, eta, v) -> np.ndarray:
    """``lim sqrt(T) ||S - S*||_F = D sqrt((D - K) / (2 eta v))`` (theorem: ``D^{5/2}/sqrt(eta v)``)."""
    D = np.asarray(D, dtype=float)
    return D * np.sqrt((D - K) / (2.0 * eta * v))


def asymptotic_WV_error_constant(D, K, eta) -> np.ndarray:
    """``lim sqrt(T) ||W_V - V*||_F = (D - K) sqrt(K / (2 eta))`` (theorem: ``D^2 sqrt(K/eta)``)."""
    D = np.asarray(D, dtype=float)
    return (D - K) * np.sqrt(K / (2.0 * eta))


def phases(run, i: int = 0) -> dict[str, int]:
    """The three phases of setting ``i`` of a reduced run (:class:`tltlib.train.reduced.ReducedRun`):
    value learning ends when ``C1`` first reaches 1/2 (the attention is still uniform),
    attention learning when ``p`` reaches ``1/(2K)`` (``T*``); after that the ``1/T`` tail.
    Also the step of the peak of ``C1``."""
    t, C1 = run.steps, run["C1"][i]
    reached = np.nonzero(C1 >= 0.5)[0]
    return {
        "value_learned": int(t[reached[0]]) if len(reached) else -1,
        "attention_learned": int(run.t_half[i]),
        "C1_peak": int(run.t_C1_max[i]),
    }
