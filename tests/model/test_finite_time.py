"""The book's finite-T predictions: the slow manifold of every activation against exact GD,
the online noise floor against online GD, and the step at which the rate's regime starts."""

import numpy as np
import pytest
import torch

from tltlib.core.fits import late_slope, late_start
from tltlib.examples import cnn
from tltlib.examples.selection import subset_teacher
from tltlib.model import finite_time, teachers, theory
from tltlib.train.online import train_online
from tltlib.train.population import train_population

SIZES = [(8, 2, 0.4, 20000), (24, 4, 0.3, 20000), (36, 6, 0.3, 30000)]


def _teacher(D, K, activation):
    return cnn.conv_pool_1d(D, K, 10, 8, activation, seed=0, leaky_slope=0.1).as_teacher()


@pytest.mark.parametrize("activation", ["identity", "relu", "leaky_relu"])
@pytest.mark.parametrize("D,K,eta,steps", SIZES)
def test_slow_manifold_predicts_exact_slopes(activation, D, K, eta, steps):
    """SLOPE_ERROR bounds the slow manifold's error on every late slope, at both ends of the
    range of sizes, at T/T* from 14 to 450."""
    t = _teacher(D, K, activation)
    run = train_population(t, eta, steps)
    h = run.history
    window = h["step"][h["step"] >= late_start(steps)]
    predicted = finite_time.predicted_slopes(t, eta, window)
    for metric, slope in predicted.items():
        measured = late_slope(h["step"], h[metric]).slope
        assert abs(measured - slope) < finite_time.SLOPE_ERROR / 4, metric


def test_slow_manifold_is_the_closed_form_for_the_identity():
    """For the identity the integral is theory.slow_manifold_time (to the trapezoid rule's
    error, 1e-4 of a step) and the loss is slow_manifold_excess, at e^2 = exp(-2 g)."""
    t = _teacher(16, 4, "identity")
    curve = finite_time.slow_manifold(t, 0.4)
    v = float((t.V_star**2).sum())
    u = np.exp(-2 * np.linspace(0.0, finite_time.G_MAX, len(curve["step"])))
    closed = theory.slow_manifold_time(u, 16, 4, 0.4, v)
    np.testing.assert_allclose(curve["step"], closed, rtol=1e-6, atol=1e-4)
    exact = theory.slow_manifold_excess(u, 16, 4, v)
    np.testing.assert_allclose(curve["excess_loss"], exact, rtol=1e-9, atol=1e-14)


def test_prediction_fails_for_a_wrong_teacher():
    """The prediction depends on the teacher: K = 2 predicts another slope than K = 4."""
    t, other = _teacher(16, 4, "relu"), _teacher(16, 2, "relu")
    window = np.geomspace(5000, 20000, 20)
    a = finite_time.predicted_slopes(t, 0.4, window)["excess_loss"]
    b = finite_time.predicted_slopes(other, 0.4, window)["excess_loss"]
    assert abs(a - b) > 0.05


def test_online_floor_matches_late_online_gd():
    """Late in a long run (T/T* ~ 500) online GD's excess is the learning part of the slow
    manifold plus the floor, to within the fluctuation measured over the window."""
    t = teachers.cnn_teacher(D=8, K=2, d=3, M=2, activation="relu", seed=0)
    eta, batch, noise, steps = 0.3, 20, 0.5, 6000
    run = train_online(
        t, eta, steps, batch=batch, noise=noise, seed=1, dtype=torch.float64, record=40
    )
    h = run.history
    late = h["step"] >= steps // 2
    loss = h["excess_loss"][late]
    floor = finite_time.online_floor(t, eta, batch, noise)["excess_loss"]
    learning = finite_time.predicted_curves(t, eta, h["step"][late])["excess_loss"]
    mean, se = loss.mean(), loss.std() / np.sqrt(len(loss) / 4)  # about 4 marks a correlation time
    assert abs(mean - (floor + learning.mean())) < 4 * se + 0.25 * floor
    assert abs(mean - learning.mean()) > 0.5 * floor  # without the floor it would fail


def test_steps_for_rate_grow_with_the_size():
    small = finite_time.steps_for_rate(_teacher(8, 2, "relu"), 0.4)
    large = finite_time.steps_for_rate(_teacher(24, 4, "relu"), 0.4)
    assert large > 5 * small
    slope = finite_time.predicted_slopes(
        _teacher(24, 4, "relu"), 0.4, np.geomspace(large / 4, large, 20)
    )["excess_loss"]
    assert abs(slope + 1) <= 0.05 + 1e-3


def test_online_floor_rejects_an_unstable_step():
    with pytest.raises(ValueError, match="stability bound"):
        finite_time.online_floor(_teacher(16, 4, "identity"), 1.0, 100, 0.1)


def test_online_floor_predicts_the_input_noise_of_a_shared_support():
    """Every column of S* on the same rows (sparse token selection) makes the input noise of
    online GD D times larger: at zero label noise and batch 20 the loss sits ~65% above the slow
    manifold, and the prediction with the input noise matches it to the fluctuation."""
    t = subset_teacher([0, 4, 7], 12, 6)
    eta = theory.stable_step(t, 0.75)
    steps = theory.horizon_steps(t, eta, 20)
    ratios, slow = [], []
    for seed in range(3):
        run = train_online(t, eta, steps, batch=20, noise=0.0, seed=seed, dtype=torch.float64)
        h = run.history
        late = h["step"] >= steps // 4
        y, s = h["excess_loss"][late], h["step"][late]
        ratios.append(y / finite_time.predicted_curves(t, eta, s, batch=20)["excess_loss"])
        slow.append(y / finite_time.predicted_curves(t, eta, s)["excess_loss"])
    ratios = np.concatenate(ratios)
    se = ratios.std() / np.sqrt(len(ratios) / 4)  # about 4 marks a correlation time
    assert abs(ratios.mean() - 1.0) < 4 * se + 0.05
    assert np.concatenate(slow).mean() > 1.3  # without the input noise it would fail
