"""The shallow multi-head transformer, the transport teacher and the IndRNN (Arda et al. 2026)."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tltlib.core import dryrun
from tltlib.core.errors import DivergenceError
from tltlib.kernel import experiments as kx
from tltlib.kernel import recurrent
from tltlib.kernel.model import (
    ShallowTransformer,
    adversarial_displacement,
    linearisation_error,
    step_size,
    train_projected_gd,
    unit_ball_tokens,
)
from tltlib.kernel.transport import TransportTeacher, head_features, transport


@pytest.fixture(scope="module")
def X():
    return unit_ball_tokens(40, 5, 7, seed=0)


@pytest.fixture(scope="module")
def teacher(X):
    return TransportTeacher.from_inputs(X, 8, 3.0, 256, seed=0)


def test_tokens_are_in_the_unit_ball_and_deterministic():
    X = unit_ball_tokens(200, 4, 6, seed=3)
    assert X.shape == (200, 4, 6)
    assert float(X.norm(dim=1).max()) <= 1 + 1e-12
    assert torch.equal(X, unit_ball_tokens(200, 4, 6, seed=3))
    assert not torch.equal(X, unit_ball_tokens(200, 4, 6, seed=4))


def test_paired_init_is_zero_and_matches_an_explicit_forward(X):
    model = ShallowTransformer.paired(5, 6, seed=1)
    assert float(model.predict(X).abs().max()) < 1e-14
    assert torch.equal(model.W[:3], model.W[3:]) and torch.equal(model.c[:3], -model.c[3:])
    # an explicit loop over heads and tokens, at a random point
    g = torch.Generator().manual_seed(0)
    W, U, c = (
        p.detach() + 0.3 * torch.randn(p.shape, generator=g, dtype=p.dtype) for p in model.initial()
    )
    model.set_parameters(W, U, c)
    x = X[0]
    heads = []
    for i in range(6):
        alpha = torch.softmax(x.T @ W[i] @ x[:, -1], dim=0)
        heads.append(c[i] * torch.tanh(U[i] @ (x @ alpha)))
    assert float(model.predict(x)) == pytest.approx(float(sum(heads) / math.sqrt(6)), abs=1e-13)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: ShallowTransformer.paired(5, 7, seed=0), "m must be an even integer >= 2"),
        (lambda: ShallowTransformer.paired(5, 0, seed=0), "m must be an even integer >= 2"),
        (lambda: recurrent.IndRNN(5, 3, seed=0), "m must be an even integer >= 2"),
        (
            lambda: ShallowTransformer.paired(5, 4, seed=0).project_(-1.0),
            "rho must be a finite number > 0",
        ),
        (
            lambda: ShallowTransformer.paired(5, 4, seed=0).jacobian_bound(-1.0),
            "rho must be a finite number >= 0",
        ),
        (lambda: unit_ball_tokens(10, 5, 0, seed=0), "T must be an integer >= 1, got 0"),
        (
            lambda: ShallowTransformer.paired(5, 4, seed=0)(torch.zeros(3, 5, 0)),
            "T must be an integer >= 1",
        ),
        (lambda: ShallowTransformer.paired(5, 4, seed=0)(torch.zeros(3, 4, 2)), "d=5 rows"),
        (lambda: recurrent.ar_windows(10, 0, seed=0), "L must be an integer >= 1"),
        (lambda: step_size(0), "steps must be an integer >= 1"),
        (
            lambda: ShallowTransformer.paired(5, 4, seed=0, activation="relu"),
            "activation must be one of",
        ),
    ],
)
def test_bad_input_names_the_parameter(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_projection_is_a_projection(X):
    model = ShallowTransformer.paired(5, 8, seed=2)
    rho = 1.5
    g = torch.Generator().manual_seed(1)
    small = [1e-3 * torch.randn(p.shape, generator=g, dtype=p.dtype) for p in model.parameters()]
    model.set_parameters(*(p0 + s for p0, s in zip(model.initial(), small, strict=True)))
    before = [p.detach().clone() for p in model.parameters()]
    model.project_(rho)  # inside: unchanged
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    model.set_parameters(*(p0 + 1e6 * s for p0, s in zip(model.initial(), small, strict=True)))
    model.project_(rho)  # outside: on the sphere, same direction
    dist = model.head_distances()
    assert torch.allclose(dist, torch.full_like(dist, rho / math.sqrt(8)), rtol=1e-12)
    assert model.in_ball(rho) and not model.in_ball(0.99 * rho)


def test_jacobian_matches_the_gradient_features_and_the_bound(X):
    """Autograd per-sample gradients agree with the closed-form features of the teacher
    module, and never exceed the analytic T-free bound, at init or anywhere in the ball."""
    model = ShallowTransformer.paired(5, 10, seed=3)
    J = model.jacobian_norms(X)
    f = head_features(X, model.U0, model.W0, model.activation)
    sq = f.phi_c**2 + (f.phi_u**2).sum(-1) + (f.vec**2).sum(-1) * (f.x_last**2).sum(-1)[:, None]
    assert np.allclose(J["total"], sq.mean(1).sqrt().numpy(), rtol=1e-12)
    assert J["total"].max() <= model.jacobian_bound(0.0)
    rho = 2.0
    g = torch.Generator().manual_seed(5)
    model.set_parameters(
        *(p + 10 * torch.randn(p.shape, generator=g, dtype=p.dtype) for p in model.initial())
    )
    model.project_(rho)
    long = unit_ball_tokens(40, 5, 64, seed=9)
    assert model.jacobian_norms(long)["total"].max() <= model.jacobian_bound(rho)


def test_linearisation_is_the_first_order_term(X):
    model = ShallowTransformer.paired(5, 6, seed=4)
    delta = adversarial_displacement(model, X, 1.0)
    lin = model.linearised(X, delta)
    eps = 1e-6
    model.set_parameters(*(p0 + eps * d for p0, d in zip(model.initial(), delta, strict=True)))
    moved = model.predict(X)
    model.reset()
    assert torch.allclose(moved / eps, lin, rtol=1e-5, atol=1e-8)
    # the adversarial displacement lies on every head's sphere
    per_head = torch.stack([d.reshape(6, -1).norm(dim=1) for d in delta])
    assert torch.allclose(per_head, torch.full_like(per_head, 1 / math.sqrt(6)), rtol=1e-12)
    assert linearisation_error(model, X, 1.0) > 0 and model.head_distances().max() == 0


def test_transport_is_bounded_and_linearises_to_the_random_feature_estimate(X, teacher):
    assert float(teacher.transport_.block_norms().max()) <= teacher.nu + 1e-12
    model = ShallowTransformer.paired(5, 12, seed=5)
    delta = teacher.displacement(model)
    assert torch.allclose(model.linearised(X, delta), teacher.width_estimate(model, X), atol=1e-13)
    # with the teacher's own features and signs, the estimate is the teacher
    big = ShallowTransformer(teacher.W, teacher.U, torch.ones(teacher.M, dtype=torch.float64))
    assert torch.allclose(teacher.width_estimate(big, X), teacher(X), atol=1e-13)


def test_teacher_is_a_mixture_of_ntk_sections(teacher):
    """Without the clip, f~(X) = sum_r alpha_r [nu (K_c + K_U) + K_W](X, X_r), the blocks of the
    empirical NTK of the teacher's features (the W block is clipped, not scaled by nu)."""
    nu = 1e6
    big = TransportTeacher(
        teacher.anchors,
        teacher.alpha,
        nu,
        teacher.activation,
        teacher.U,
        teacher.W,
        transport(teacher.anchors, teacher.alpha, nu, teacher.activation, teacher.U, teacher.W),
    )
    X = teacher.anchors
    f = head_features(X, big.U, big.W, big.activation)
    K_c = f.phi_c @ f.phi_c.T / big.M
    K_u = torch.einsum("akd,bkd->ab", f.phi_u, f.phi_u) / big.M
    K_w = torch.einsum("akd,bkd->ab", f.vec, f.vec) * (f.x_last @ f.x_last.T) / big.M
    assert torch.allclose(big(X), (nu * (K_c + K_u) + K_w) @ big.alpha, rtol=1e-10)


def test_training_stays_in_the_ball_and_lowers_the_loss(X, teacher):
    y = teacher(X)
    model = ShallowTransformer.paired(5, 16, seed=6)
    run = train_projected_gd(model, X, y, 200, step_size(200), 3.0, X[:10], y[:10])
    assert model.in_ball(3.0)
    assert run.min_train < 0.5 * float((y**2).mean())
    assert run.train_loss[0] == pytest.approx(float((y**2).mean()))
    assert len(run.val_loss) == 200 and set(run.grad_norms) == {"W", "U", "c"}
    with pytest.raises(DivergenceError, match="eta=10000"):
        train_projected_gd(ShallowTransformer.paired(5, 16, seed=6), X, 1e4 * y, 50, 1e4, None)


def test_trainer_checks_its_arguments_then_stops_a_dry_run(X, teacher):
    y = teacher(X)
    model = ShallowTransformer.paired(5, 8, seed=6)
    before = [p.detach().clone() for p in model.parameters()]
    with dryrun.dry_run():
        with pytest.raises(ValueError, match="steps must be an integer >= 1"):
            train_projected_gd(model, X, y, 0, 0.1, 3.0)
        with pytest.raises(dryrun.DryRunStop, match="train_projected_gd"):
            train_projected_gd(model, X, y, 5, 0.1, 3.0)
        with pytest.raises(dryrun.DryRunStop, match="train_projected_gd"):  # the IndRNN too
            recurrent.compare_on_lags([3], 60, 4, 10, 0.05, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: kx.check_width_parameters(0.0, 3.0, [8], [8]), "rho must be a finite number > 0"),
        (lambda: kx.check_width_parameters(3.0, -1, [8], [8]), "nu must be a finite number > 0"),
        (lambda: kx.check_width_parameters(3.0, 3.0, [8, 9], [8]), "m must be an even integer"),
        (lambda: kx.check_width_parameters(3.0, 3.0, [8], [0]), "m must be an even integer"),
        (
            lambda: kx.check_length_parameters(3.0, 3.0, 7, 8, [4], [4]),
            "m must be an even integer",
        ),
        (
            lambda: kx.check_length_parameters(3.0, 3.0, 8, 8, [4, 0], [4]),
            "T must be an integer >= 1, got 0",
        ),
        (
            lambda: kx.check_length_parameters(3.0, 3.0, 8, 8, [4], [2.5]),
            "L must be an integer >= 1, got 2.5",
        ),
    ],
)
def test_chapter_parameter_checks_name_the_parameter(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_chapter_parameter_checks_return_the_checked_values():
    assert kx.check_width_parameters(3, 2.5, [8, 32], [np.int64(8)]) == (3.0, 2.5, [8, 32], [8])
    assert kx.check_length_parameters(3.0, 3.0, 8, 4, [4, 16], [1]) == (
        3.0,
        3.0,
        8,
        4,
        [4, 16],
        [1],
    )


def test_width_sweep_and_split(X, teacher):
    data = kx.split_data(X, teacher(X), 0.25)
    assert len(data.y) == 30 and len(data.y_val) == 10 and data.X.dtype == torch.float32
    out = kx.width_sweep(data, [2, 4], 20, 1.75, 3.0, 2, seed=0)
    assert out["rel_train"].shape == (2, 2) and np.all(out["rel_train"] < 1.0 + 1e-6)


def test_indrnn_hand_written_gradients_match_autograd():
    X, y = recurrent.ar_windows(50, 6, seed=0)
    rnn = recurrent.IndRNN(X.shape[1], 8, seed=0)
    assert float(rnn(X).detach().abs().max()) < 1e-14  # paired init
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in rnn.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    loss = F.mse_loss(rnn(X), y)
    auto = torch.autograd.grad(loss, rnn.parameters())
    mine_loss, mine = rnn.loss_and_grads(X, y)
    assert float(mine_loss) == pytest.approx(float(loss), rel=1e-13)
    for a, b in zip(auto, mine, strict=True):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-14)


def test_indrnn_jacobian_matches_autograd():
    X, _ = recurrent.ar_windows(5, 4, seed=1)
    rnn = recurrent.IndRNN(X.shape[1], 6, seed=1)
    J = rnn.jacobian_norms(X)["u"]
    for b in range(5):
        (g,) = torch.autograd.grad(rnn(X[b : b + 1])[0], rnn.u)
        assert float(g.norm()) == pytest.approx(J[b], rel=1e-12)
    assert recurrent.worst_case_factor(97) == pytest.approx(1.5**97)


def test_ar_windows_have_the_lag_structure():
    X, y = recurrent.ar_windows(4000, 10, seed=0)
    assert X.shape == (4000, 17, 11)
    assert float(y.mean()) == pytest.approx(0.0, abs=1e-12) and float(
        y.std(unbiased=False)
    ) == pytest.approx(1.0)
    # the target is 0.9 times the window's second value plus fresh noise: best MSE 1 - 0.81
    x2 = X[:, 0, 1]
    coef = float((x2 * y).sum() / (x2 * x2).sum())
    best = float(((y - coef * x2) ** 2).mean())
    assert best == pytest.approx(0.19, abs=0.03)
    assert torch.allclose(X[0, 1:], recurrent.positional_channels(11))


def test_compare_on_lags_records_both_models():
    results = recurrent.compare_on_lags([3], 60, 4, 10, 0.05, seed=0)
    table = recurrent.lag_table(results, 5)
    assert set(table) == {"transformer", "IndRNN"}
    assert table["transformer"]["n_parameters"][0] == 4 * (17 * 17 + 17 + 1)
    assert table["IndRNN"]["n_parameters"][0] == 4 * (17 + 2)
    assert np.all(np.isfinite(table["IndRNN"]["max_grad"]))
