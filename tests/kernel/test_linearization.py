"""The linearisation experiment (tltlib.kernel.linearization): the pairing identity holds to
rounding and fails without the pairing; the radius exponent 2 is found and a first-order
error (no linearisation) fails it."""

import numpy as np
import pytest

from tltlib.core.checks import CheckLog
from tltlib.kernel import exponents as ke
from tltlib.kernel import linearization as kl
from tltlib.kernel.model import ShallowTransformer, adversarial_displacement, unit_ball_tokens

RADII = [0.375, 0.75, 1.5, 3.0]


@pytest.fixture(scope="module")
def X():
    return unit_ball_tokens(200, 6, 8, 0, "linearisation-inputs")


def test_pairing_identity_holds_and_fails_without_pairing(X):
    good = ShallowTransformer.paired(6, 16, seed=0)
    assert kl.pairing_check(CheckLog("t"), good, X, 3.0).passed
    W, U, c = good.initial()
    unpaired = ShallowTransformer(W, U, c.abs())  # the c-weighted sum no longer cancels
    check = kl.pairing_check(CheckLog("t"), unpaired, X, 3.0)
    assert not check.passed and check.measured > 1e-3


def test_radius_exponent_is_two_and_a_first_order_error_fails(X):
    errors = kl.radius_errors(6, 8, 32, RADII, 200, 3, seed=0)
    assert ke.radius_exponent_check(CheckLog("t"), RADII, 32, errors).passed
    first_order = np.empty_like(errors)  # |f(phi_0 + Delta) - f(phi_0)|: no linear term removed
    for j in range(errors.shape[1]):
        model = ShallowTransformer.paired(6, 32, 0, f"linearisation-radius-32-{j}")
        for i, rho in enumerate(RADII):
            delta = adversarial_displacement(model, X, rho)
            model.set_parameters(*(p + d for p, d in zip(model.initial(), delta, strict=True)))
            first_order[i, j] = float(model.predict(X).abs().mean())
            model.reset()
    check = ke.radius_exponent_check(CheckLog("t"), RADII, 32, first_order)
    assert not check.passed and check.measured < 1.5


def test_radius_errors_reject_bad_input():
    with pytest.raises(ValueError, match="rho"):
        kl.radius_errors(6, 8, 32, [1.0, -1.0], 10, 1, seed=0)
    with pytest.raises(ValueError, match="m must be an even"):
        kl.radius_errors(6, 8, 7, RADII, 10, 1, seed=0)
