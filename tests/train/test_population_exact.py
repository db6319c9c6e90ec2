"""Exact population GD for ReLU and Leaky ReLU: the compiled gradient against autograd on the
closed form, the first step against the online trainer's convention, and the trajectory
against large-batch online GD."""

import numpy as np
import pytest
import torch

from tltlib.model import teachers
from tltlib.model.losses import excess_loss_from
from tltlib.train._population_kernel import advance
from tltlib.train.online import train_online
from tltlib.train.population import train_population

PIECEWISE = ["relu", "leaky_relu"]


def _teacher(activation, D=12, K=3, d=4, M=3):
    return teachers.cnn_teacher(D=D, K=K, d=d, M=M, activation=activation, seed=1)


@pytest.mark.parametrize("activation", PIECEWISE)
@pytest.mark.parametrize("point", range(3))
def test_compiled_gradient_is_autograd_of_the_closed_form(activation, point):
    t = _teacher(activation)
    g = torch.Generator().manual_seed(point)
    W = torch.randn(t.M, t.d, generator=g, dtype=torch.float64, requires_grad=True)
    A = torch.randn(t.D, t.D, generator=g, dtype=torch.float64, requires_grad=True)
    loss = excess_loss_from(W, torch.softmax(A, dim=0), t)
    gW, gA = torch.autograd.grad(loss, (W, A))
    Wn, At = W.detach().numpy().copy(), A.detach().numpy().T.copy()
    V, St = t.V_star.numpy().astype(float), np.ascontiguousarray(t.S_star.numpy().T)
    eta = 1e-3
    seen = advance(Wn, At, V, St, t.activation.negative_slope, eta, 1)
    assert seen == pytest.approx(float(loss.detach()), rel=1e-13)
    np.testing.assert_allclose((W.detach().numpy() - Wn) / eta, gW.numpy(), rtol=0, atol=1e-10)
    step_A = (A.detach().numpy() - At.T) / (eta / t.D)
    np.testing.assert_allclose(step_A, gA.numpy(), rtol=0, atol=1e-9)


def test_a_wrong_gradient_fails_the_comparison():
    """The comparison above can fail: Leaky ReLU's loss under ReLU's slope is another loss."""
    t = _teacher("leaky_relu")
    W = torch.full((t.M, t.d), 0.3, dtype=torch.float64, requires_grad=True)
    A = torch.zeros(t.D, t.D, dtype=torch.float64, requires_grad=True)
    loss = excess_loss_from(W, torch.softmax(A, dim=0), t)
    (gW,) = torch.autograd.grad(loss, (W,))
    Wn, At = W.detach().numpy().copy(), np.zeros((t.D, t.D))
    V, St = t.V_star.numpy().astype(float), np.ascontiguousarray(t.S_star.numpy().T)
    advance(Wn, At, V, St, 0.0, 1e-3, 1)  # relu's slope on a leaky teacher
    assert np.abs((W.detach().numpy() - Wn) / 1e-3 - gW.numpy()).max() > 1e-3


@pytest.mark.parametrize("activation", PIECEWISE)
def test_first_step_is_the_online_convention(activation):
    """From zero, sigma'(0) = 1 and Stein's lemma give W_V = eta E[sigma'(b)] V* = eta (1 +
    lambda)/2 V* after one step (the uniform S has <s_i, s*_i> = 1/D), and S does not move."""
    t = _teacher(activation)
    run = train_population(t, 0.1, 1, record=[1])
    lam = t.activation.negative_slope
    expected = 0.1 * (1 + lam) / 2 * t.V_star
    assert torch.allclose(run.student.W_V, expected, atol=1e-15, rtol=1e-13)
    S = run.student.scores()
    assert torch.allclose(S, torch.full_like(S, 1 / t.D), atol=1e-15)


@pytest.mark.parametrize("activation", PIECEWISE)
def test_exact_dynamics_is_the_mean_of_online_gd(activation):
    """Large-batch, noiseless online GD follows the exact trajectory to within its sampling
    error (a batch of 4000: relative fluctuations of about 1/sqrt(4000 D) per step)."""
    t = _teacher(activation, D=8, K=2, d=3, M=2)
    steps, eta = 300, 0.3
    exact = train_population(t, eta, steps, record=[0, steps])
    online = train_online(
        t, eta, steps, batch=4000, noise=0.0, seed=2, dtype=torch.float64, record=[steps]
    )
    e, o = exact.history.final("excess_loss"), online.history.final("excess_loss")
    assert o == pytest.approx(e, rel=0.05)
    assert e < 0.6 * exact.history["excess_loss"][0]  # it learns (half-way at T = 300)


def test_exact_relu_run_is_deterministic_and_keeps_lemma_d2():
    """W_V stays along V* (one common scale for every row) and every column of S two-valued."""
    t = _teacher("relu")
    a = train_population(t, 0.3, 2000, record=[2000])
    b = train_population(t, 0.3, 2000, record=[2000])
    assert torch.equal(a.student.W_V, b.student.W_V)
    ratio = a.student.W_V / t.V_star
    assert float(ratio.max() - ratio.min()) < 1e-12
    S, support = a.student.scores(), t.S_star > 0
    assert float(S[support].max() - S[support].min()) < 1e-12
    assert float(S[~support].max() - S[~support].min()) < 1e-12
