import pytest
import torch

from tltlib.model import teachers
from tltlib.model.data import sample_inputs
from tltlib.model.losses import (
    bilinear_excess_loss,
    excess_loss,
    excess_loss_from,
    monte_carlo_excess_loss,
)
from tltlib.model.student import PositionOnlyTransformer


def test_closed_form_matches_monte_carlo(activation):
    t = teachers.cnn_teacher(D=6, K=2, d=3, M=2, activation=activation, seed=0)
    s = PositionOnlyTransformer.random(t, seed=1)
    X = sample_inputs("gaussian", 40000, 3, 6, seed=2)
    mc, se = monte_carlo_excess_loss(s, t, X)
    assert abs(excess_loss(s, t) - mc) < 4 * se


def test_identity_closed_form_is_the_bilinear_form(small_teacher):
    s = PositionOnlyTransformer.random(small_teacher, seed=3)
    a = excess_loss_from(s.W_V, s.scores(), small_teacher)
    b = bilinear_excess_loss(s.W_V, s.scores(), small_teacher)
    assert float(a) == pytest.approx(float(b), rel=1e-12)


def test_excess_loss_is_zero_at_the_teacher(activation):
    t = teachers.cnn_teacher(D=6, K=3, d=2, M=2, activation=activation, seed=0)
    s = PositionOnlyTransformer.for_teacher(t)
    assert excess_loss_from(t.V_star, t.S_star, t) == pytest.approx(0.0, abs=1e-12)
    assert excess_loss(s, t) > 0


def test_excess_loss_rejects_wrong_shapes(small_teacher):
    with pytest.raises(ValueError, match="do not fit the teacher"):
        excess_loss_from(
            torch.zeros(3, 3, dtype=torch.float64), small_teacher.S_star, small_teacher
        )
