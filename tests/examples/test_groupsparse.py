import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tltlib.core.seeding import generator
from tltlib.examples import groupsparse
from tltlib.model.student import positional_encoding


@pytest.mark.parametrize("trial", range(10))
def test_natural_form_equals_bilinear_form(trial):
    rng = np.random.default_rng(300 + trial)
    D = int(rng.integers(2, 16))
    d = int(rng.integers(1, 9))
    i_star = int(rng.integers(0, D))
    p = groupsparse.group_sparse_linear(D, d, i_star, seed=trial, v_norm=float(rng.uniform(0.5, 3)))
    t = p.as_teacher()
    assert (t.M, t.K, t.d, t.D) == (1, 1, d, D)
    X = torch.randn(7, d, D, dtype=torch.float64)
    assert torch.allclose(p(X), t(X), atol=1e-10, rtol=0)
    assert torch.allclose(p.predict(X), X[:, :, i_star] @ p.v, atol=1e-12)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (
            lambda: groupsparse.group_sparse_linear(5, 2, 5),
            r"i_star must be an integer in \[0, 4\]",
        ),
        (
            lambda: groupsparse.group_sparse_linear(5, 2, -1),
            r"i_star must be an integer in \[0, 4\]",
        ),
        (lambda: groupsparse.group_sparse_linear(5, 2, True), "i_star must be an integer"),
        (lambda: groupsparse.group_sparse_linear(5, 2, 1.0), "i_star must be an integer"),
        (lambda: groupsparse.group_sparse_linear(5, 2, 0, v_norm=0.0), "v_norm must be"),
        (lambda: groupsparse.group_sparse_linear(1, 2, 0), "D must be an integer >= 2"),
        (lambda: groupsparse.selection_error(0.0, 5), "attention must be in"),
    ],
)
def test_bad_input_names_the_parameter(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_logistic_trainer_follows_autograd():
    p = groupsparse.group_sparse_linear(6, 3, 2, seed=1)
    steps, eta, N = 40, 0.3, 16
    run = groupsparse.train_logistic(
        p, eta, steps, batch=N, seed=4, dtype=torch.float64, record=[steps], n_eval=10
    )
    P = positional_encoding(6, "random", 4)
    W = torch.zeros(1, 3, dtype=torch.float64, requires_grad=True)
    WKQ = torch.zeros(6, 6, dtype=torch.float64, requires_grad=True)
    g = generator(4, "train_inputs")
    for _ in range(steps):
        X = torch.randn(N, 3, 6, generator=g, dtype=torch.float64)
        y = torch.where(X[:, :, 2] @ p.v >= 0, 1.0, -1.0).to(torch.float64)
        S = torch.softmax(P.T @ WKQ @ P / math.sqrt(6), dim=0)
        f = (W @ X @ S)[:, 0, :]
        loss = F.softplus(-y[:, None] * f).sum(dim=1).mean()
        W.grad = WKQ.grad = None
        loss.backward()
        with torch.no_grad():
            W -= eta * W.grad
            WKQ -= eta * WKQ.grad
    assert torch.allclose(run.student.W_V, W.detach(), atol=1e-12, rtol=0)
    assert torch.allclose(run.student.W_KQ, WKQ.detach(), atol=1e-10, rtol=0)


@pytest.mark.parametrize("a", [0.05, 0.3, 0.9])
def test_selection_error_matches_monte_carlo(a):
    D, d, n = 10, 4, 200000
    g = torch.Generator().manual_seed(0)
    X = torch.randn(n, d, D, dtype=torch.float64, generator=g)
    v = torch.randn(d, dtype=torch.float64, generator=g)
    s = torch.full((D,), (1 - a) / (D - 1), dtype=torch.float64)
    s[3] = a
    f = (X @ s) @ v
    y = torch.sign(X[:, :, 3] @ v)
    err = float((f * y <= 0).to(torch.float64).mean())
    expected = groupsparse.selection_error(a, D)
    assert abs(err - expected) < 4 * math.sqrt(expected * (1 - expected) / n)
