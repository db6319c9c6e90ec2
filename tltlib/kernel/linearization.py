"""The linearisation experiment of the official code (``scripts/linearization_experiment.py``
of Arda, Cayci & Eryilmaz 2026), re-implemented in float64: how far the network moves from its
linearisation at the paired initialisation under the worst displacement of the projection set.

The displacement (:func:`tltlib.kernel.model.adversarial_displacement`) puts every block of
every head on its sphere of radius ``rho/sqrt(m)``: ``Delta c_i = rho/sqrt(m)`` and ``Delta U_i``,
``Delta W_i`` along the gradient of ``sum_b h_i(X_b)``, ``h_i = sigma(U_i^T a(X; W_i))``. Paired
heads move alike and carry opposite ``c_i``, so every term weighted by ``c_i`` cancels and

    f(phi_0 + Delta) - f_lin(phi_0 + Delta) = (1/sqrt m) sum_i Delta c_i [h_i(theta_i + Delta theta_i) - h_i(theta_i)]

exactly: ``m`` terms of size ``(rho/sqrt m)^2``, divided by ``sqrt m``, that is ``rho^2/sqrt(m)``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from tltlib.core.checks import Check, CheckLog
from tltlib.core.validate import positive_float, positive_int
from tltlib.kernel.model import (
    ShallowTransformer,
    adversarial_displacement,
    check_inputs,
    even_width,
    head_outputs,
    linearisation_error,
    unit_ball_tokens,
)

SOURCE = "Arda et al. 2026"


def pairing_gap(model: ShallowTransformer, X: torch.Tensor, rho: float) -> float:
    """``max_b |f - f_lin - (1/sqrt m) sum_i Delta c_i (h_i(theta_i + Delta theta_i) -
    h_i(theta_i))|`` at the adversarial displacement: zero up to rounding for the paired
    initialisation (the model is left at its initial point)."""
    X = check_inputs(X, model.d).to(model.dtype)
    delta = adversarial_displacement(model, X, rho)
    dW, dU, dc = delta
    with torch.no_grad():
        h0 = model.activation(head_outputs(X, model.W0, model.U0, model.attention)[0])
        h1 = model.activation(head_outputs(X, model.W0 + dW, model.U0 + dU, model.attention)[0])
        predicted = (h1 - h0) @ dc / math.sqrt(model.m)
    lin = model.linearised(X, delta)
    model.set_parameters(*(p0 + d for p0, d in zip(model.initial(), delta, strict=True)))
    with torch.no_grad():
        moved = model(X)
    model.reset()
    return float((moved - lin - predicted).abs().max())


def radius_errors(
    d: int, T: int, m: int, radii: list[float], n: int, seeds: int, seed: int
) -> np.ndarray:
    """Mean ``|f - f_lin|`` at the adversarial point of radius ``rho`` (rows, ``radii``) for
    ``seeds`` paired initialisations of width ``m`` (columns), on the inputs of
    :func:`tltlib.kernel.experiments.linearisation_errors`."""
    radii = [positive_float("rho", r) for r in radii]
    X = unit_ball_tokens(n, d, T, seed, "linearisation-inputs")
    m = even_width(m)
    out = np.empty((len(radii), positive_int("seeds", seeds)))
    for j in range(seeds):
        model = ShallowTransformer.paired(d, m, seed, f"linearisation-radius-{m}-{j}")
        for i, rho in enumerate(radii):
            out[i, j] = linearisation_error(model, X, rho)
    return out


def pairing_check(log: CheckLog, model: ShallowTransformer, X: torch.Tensor, rho: float) -> Check:
    """Chapter 09a: with the paired initialisation the linearisation error at the adversarial
    point is exactly its ``Delta c``-weighted part (to ``1e-12``)."""
    return log.close_to(
        "linearisation_pairing",
        f"{SOURCE}: f - f_lin = (1/sqrt m) sum_i Delta c_i (h_i(theta+Delta) - h_i(theta)) "
        "(paired init)",
        pairing_gap(model, X, rho),
        0.0,
        1e-12,
        m=model.m,
        rho=rho,
    )
