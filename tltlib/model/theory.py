"""Formulas of Theorem 3.1 (rates, the time ``T*``, the step-size condition).

The theorem gives orders of magnitude (``Theta``, ``O``) with unspecified constants, so these
functions return the *scales* ``K D^4 / (eta T)`` etc.; chapters compare measured exponents
and ratios with them, never absolute values.
"""

from __future__ import annotations

import warnings

import torch

from tltlib.core.errors import StepSizeWarning
from tltlib.core.validate import positive_float, positive_int
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


def check_finite(loss: float | torch.Tensor, limit: float) -> bool:
    """True if ``loss`` is finite and below ``limit``."""
    loss = float(loss)
    return loss == loss and loss < limit
