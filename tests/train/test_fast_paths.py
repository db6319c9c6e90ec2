"""The fast paths of the trainers compute what the plain ones compute.

``tests/train/test_trainers.py`` checks the trainers against :mod:`tltlib.train.reference` at one size;
these tests cover the branches of the fast paths: both orders of the matrix products, the
draws into reused buffers, the activations' derivative at zero, frozen blocks.
"""

import pytest
import torch

from tltlib.core.errors import DivergenceError, StepSizeWarning
from tltlib.model import teachers
from tltlib.model.activations import get_activation
from tltlib.model.student import positional_encoding
from tltlib.train import online, reference
from tltlib.train.online import train_online
from tltlib.train.population import train_population


def _step(t, batch):
    return online._OnlineStep(t.V_star, t.S_star, batch, t.activation, 1.0).features_first


# (D, K, d, M, batch): features first; positions first (with a batch whose draws are not a
# multiple of 16 numbers, the block size of PyTorch's sampler)
SHAPES = [(6, 2, 3, 2, 8), (6, 2, 2, 4, 7)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("noise", [0.0, 0.3])
def test_online_follows_autograd_in_both_orders(activation, shape, noise):
    D, K, d, M, N = shape
    t = teachers.cnn_teacher(D=D, K=K, d=d, M=M, activation=activation, seed=3)
    run = train_online(
        t, 0.2, 120, batch=N, noise=noise, seed=1, encoding="dct", dtype=torch.float64,
        record=[120],
    )  # fmt: skip
    ref = reference.online_gd(
        t, 0.2, 120, positional_encoding(D, "dct"), batch=N, noise=noise, seed=1
    )
    assert torch.allclose(run.student.W_V, ref.W_V, atol=1e-12, rtol=0)
    assert torch.allclose(run.student.W_KQ, ref.W_KQ, atol=1e-10, rtol=0)


def test_shapes_cover_both_orders():
    orders = {
        _step(teachers.cnn_teacher(D=D, K=K, d=d, M=M, seed=0), N) for D, K, d, M, N in SHAPES
    }
    assert orders == {True, False}
    paper = [teachers.cnn_teacher(36, 4, 10, 8), teachers.cnn_teacher(81, 9, 9, 16)]
    assert [_step(t, 100) for t in paper] == [True, False]


@pytest.mark.parametrize("shape", [(7, 3, 5), (8, 3, 6), (100, 10, 36)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_draws_are_randn_with_the_first_axes_swapped(shape, dtype):
    draws = online._Draws(torch.Generator().manual_seed(4), shape, dtype)
    g = torch.Generator().manual_seed(4)
    buffers = set()
    for _ in range(5):
        drawn = draws.draw()
        buffers.add(drawn.data_ptr())
        assert drawn.is_contiguous()
        assert torch.equal(drawn, torch.randn(shape, generator=g, dtype=dtype).transpose(0, 1))
    assert len(buffers) == 1  # one buffer, reused


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", ["relu", "leaky_relu"])
def test_derivative_at_zero_and_subnormals_matches_autograd(name, dtype):
    act = get_activation(name)
    tiny = 2.0**-149 if dtype == torch.float32 else 2.0**-1074
    Z = torch.tensor([-0.0, 0.0, -tiny, tiny, -1.0, 1.0, -3.5, 2.5], dtype=dtype)
    R = torch.arange(1.0, 9.0, dtype=dtype)
    z = Z.clone().requires_grad_(True)
    (act(z) * R).sum().backward()
    assert torch.equal(online._times_derivative(R.clone(), Z, act), z.grad)
    out = torch.empty_like(Z)
    assert torch.equal(online._activate(Z, act, out), act(Z))


def test_frozen_attention_stays_uniform():
    t = teachers.cnn_teacher(D=8, K=2, d=3, M=2, activation="relu", seed=0)
    run = train_online(t, 0.2, 200, batch=10, train_blocks=("value",), record=[200])
    assert torch.allclose(run.student.scores(), torch.full((8, 8), 1 / 8, dtype=torch.float64))
    assert run.history.final("cosine") > 0.5


def test_divergence_is_caught_between_checks():
    t = teachers.cnn_teacher(D=8, K=2, d=3, M=2, activation="identity", seed=0)
    with pytest.raises(DivergenceError, match=r"diverged at step \d+"):
        with pytest.warns(StepSizeWarning):
            train_online(t, 20.0, 5000, batch=10)


def test_population_follows_autograd_at_the_paper_size():
    t = teachers.cnn_teacher(D=36, K=4, d=10, M=8, activation="identity", seed=0)
    run = train_population(t, 0.1, 60, record=[60])
    ref = reference.population_gd(t, 0.1, 60, positional_encoding(36, "random", 0))
    assert torch.allclose(run.student.W_V, ref.W_V, atol=1e-12, rtol=0)
    assert torch.allclose(run.student.W_KQ, ref.W_KQ, atol=1e-10, rtol=0)
