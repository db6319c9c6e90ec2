"""Gradient descent on a fixed data set: it follows autograd, and its stability bound is right."""

import math
import warnings

import pytest
import torch

from tltlib.core.errors import DivergenceError, StepSizeWarning
from tltlib.core.seeding import generator
from tltlib.examples import cnn
from tltlib.model import theory
from tltlib.model.student import positional_encoding
from tltlib.train import on_data as empirical


def small_problem(activation: str, seed: int = 0):
    """A 2 x 2-kernel teacher on 8 x 8 non-negative images with a blank border (D=16, K=4)."""
    g = torch.Generator().manual_seed(seed)
    kernels = torch.randn(3, 2, 2, generator=g, dtype=torch.float64)
    conv = cnn.ConvPoolTeacher(kernels, (4, 4), (2, 2), activation)
    images = torch.rand(40, 8, 8, generator=g, dtype=torch.float64)
    images[:, :, :2] = 0.0
    return conv.as_teacher(), cnn.patches(images, (2, 2))


@pytest.mark.parametrize("activation", ["identity", "relu", "leaky_relu"])
def test_trainer_follows_autograd(activation):
    teacher, X = small_problem(activation)
    eta, steps, batch, seed = 0.05, 60, 7, 3
    run = empirical.train_on_data(
        teacher, X, eta, steps, batch=batch, seed=seed, dtype=torch.float64, record=[steps]
    )
    # the obvious implementation: autograd through P^T W_KQ P / sqrt(D), same batches
    D = teacher.D
    P = positional_encoding(D, "random", seed)
    W = torch.zeros(teacher.M, teacher.d, dtype=torch.float64, requires_grad=True)
    WKQ = torch.zeros(D, D, dtype=torch.float64, requires_grad=True)
    g = generator(seed, "data_batches")
    for _ in range(steps):
        idx = torch.randint(0, len(X), (batch,), generator=g)
        S = torch.softmax(P.T @ WKQ @ P / math.sqrt(D), dim=0)
        out = teacher.activation(W @ (X[idx] @ S))
        loss = 0.5 * ((out - teacher(X[idx])) ** 2).sum() / batch
        gW, gK = torch.autograd.grad(loss, (W, WKQ))
        with torch.no_grad():
            W -= eta * gW
            WKQ -= eta * gK
    assert torch.allclose(run.student.W_V, W.detach(), atol=1e-12, rtol=0)
    assert torch.allclose(run.student.W_KQ, WKQ.detach(), atol=1e-10, rtol=0)


@pytest.mark.parametrize("activation", ["identity", "relu", "leaky_relu"])
def test_value_curvature_is_the_hessian_at_the_teacher(activation):
    teacher, X = small_problem(activation, seed=1)
    S = teacher.S_star

    def loss(W):
        out = teacher.activation(W @ (X @ S))
        return 0.5 * ((out - teacher(X)) ** 2).sum() / len(X)

    H = torch.autograd.functional.hessian(loss, teacher.V_star.clone())
    n = teacher.V_star.numel()
    lam = float(torch.linalg.eigvalsh(H.reshape(n, n))[-1])
    assert empirical.value_curvature(teacher, X) == pytest.approx(lam, rel=1e-10)
    assert empirical.data_stability_bound(teacher, X) == pytest.approx(2 / lam, rel=1e-10)


@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
def test_chunked_sums_equal_the_one_shot_ones(activation, monkeypatch):
    """The loss and the curvature summed in chunks (of 7 inputs, 40 inputs: a last partial chunk)
    equal the sums over all inputs at once."""
    teacher, X = small_problem(activation, seed=2)
    student = empirical.PositionOnlyTransformer.for_teacher(teacher, seed=0)
    student.W_V = 0.5 * teacher.V_star
    Y = teacher(X)
    whole_loss = empirical.data_loss(student, X, Y)
    whole_curv = empirical.value_curvature(teacher, X)
    diff = student(X) - Y
    assert whole_loss == pytest.approx(float(0.5 * (diff * diff).sum(dim=(1, 2)).mean()), rel=1e-12)
    H = X @ teacher.S_star
    g2 = teacher.activation.derivative(teacher.V_star @ H) ** 2
    C = torch.einsum("nmi,nai,nbi->mab", g2, H, H) / len(X)
    assert whole_curv == pytest.approx(float(torch.linalg.eigvalsh(C)[:, -1].max()), rel=1e-12)
    monkeypatch.setattr(empirical, "CHUNK", 7)
    assert empirical.data_loss(student, X, Y) == pytest.approx(whole_loss, rel=1e-12)
    assert empirical.value_curvature(teacher, X) == pytest.approx(whole_curv, rel=1e-12)


def test_the_bound_separates_convergence_from_divergence():
    """Value block alone from zero, attention frozen at S*: below the bound GD converges to
    V*; above it the direction of largest curvature grows without limit."""
    teacher, X = small_problem("identity", seed=2)
    bound = empirical.data_stability_bound(teacher, X)
    H = X @ teacher.S_star  # full-batch GD on the value block, S fixed at S*
    Y = teacher(X)

    def run(eta, steps=3000):
        W = torch.zeros_like(teacher.V_star)
        for _ in range(steps):
            W = W - eta * torch.einsum("nmi,nai->ma", W @ H - Y, H) / len(X)
        return float(torch.linalg.norm(W - teacher.V_star))

    assert run(0.95 * bound) < 1e-3 * float(torch.linalg.norm(teacher.V_star))
    assert run(1.05 * bound, 1000) > 1e3


def test_divergence_names_eta_and_the_bound():
    teacher, X = small_problem("identity")
    bound = empirical.data_stability_bound(teacher, X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StepSizeWarning)
        # with the attention trained too, GD can escape to where the inputs it averages are
        # blank (the edge of stability); with the value block alone it must blow up
        with pytest.raises(DivergenceError, match=r"eta=.*2/lambda_max"):
            empirical.train_on_data(teacher, X, 5 * bound, 2000, batch=40, train_blocks=("value",))
    with pytest.warns(StepSizeWarning, match="data stability bound"):
        empirical.train_on_data(teacher, X, 1.2 * bound, 3, batch=40)


def test_frozen_attention_stays_uniform_and_records_the_data_loss():
    teacher, X = small_problem("leaky_relu")
    run = empirical.train_on_data(teacher, X, 0.05, 200, train_blocks=("value",))
    S = run.student.scores()
    assert torch.allclose(S, torch.full_like(S, 1 / teacher.D), atol=1e-12)
    h = run.history
    assert h["relative_loss"][0] == pytest.approx(1.0)
    assert h.final("loss") == pytest.approx(empirical.data_loss(run.student, X, teacher(X)))
    rel = empirical.relative_data_loss(run.student, teacher, X)
    assert h.final("relative_loss") == pytest.approx(rel)
    with pytest.raises(ValueError, match="train_blocks"):
        empirical.train_on_data(teacher, X, 0.05, 10, train_blocks=("keys",))
    with pytest.raises(ValueError, match=r"X must have shape \(\.\.\., d, D\)"):
        empirical.train_on_data(teacher, X[:, :3], 0.05, 10)


def test_chapter_reports():
    teacher, X = small_problem("relu")
    bound = empirical.data_stability_bound(teacher, X)
    eta = 0.5 * bound
    report = empirical.step_size_report({"relu": teacher}, {"relu": bound}, eta).splitlines()
    assert report[0] == (
        f"      relu: 2/lambda_max = {bound:.4f} on the data, "
        f"{theory.eta_stability_bound(teacher):.3f} for Gaussian inputs"
    )
    assert report[1].startswith(f"eta = {eta}: 50% of the data bound; T* = K D^2/(eta ||V*||^2)")
    run = empirical.train_on_data(teacher, X, eta, 50)
    frozen = empirical.train_on_data(teacher, X, eta, 50, train_blocks=("value",))
    report = empirical.training_report({"relu": run}, {"relu": frozen}, X[:10]).splitlines()
    test = empirical.relative_data_loss(run.student, teacher, X[:10])
    assert len(report) == 2
    assert report[0].endswith(f"(train), {test:.1e} (test, unseen)")
    assert f"uniform attention: {frozen.history.final('relative_loss'):.3f}" in report[1]
