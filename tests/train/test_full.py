"""The full one-layer transformer (eq. 2.5) and the Figure 1 check."""

import dataclasses
from dataclasses import dataclass

import pytest
import torch

from tltlib.claims.full import learned_teacher_check, position_only_check
from tltlib.core.checks import CheckLog
from tltlib.model import teachers
from tltlib.model.full import FullTransformer
from tltlib.model.student import positional_encoding
from tltlib.train import full, reference


@pytest.fixture(scope="module")
def teacher():
    return teachers.cnn_teacher(D=8, K=2, d=3, M=2, activation="relu", seed=0)


@pytest.fixture(scope="module")
def converged(teacher):
    # identity: no transient offset to unlearn (ReLU needs about twice as many steps)
    return full.train_full(teacher.with_activation("identity"), 0.3, 3000, batch=30)


def test_full_model_with_only_the_kept_blocks_is_the_position_only_student(teacher):
    model = FullTransformer.random(teacher, 0.5, seed=3, encoding="dct")
    model.W_V[:, teacher.d :] = 0
    model.W_KQ[: teacher.d, :] = 0
    model.W_KQ[:, : teacher.d] = 0
    X = torch.randn(5, teacher.d, teacher.D, dtype=torch.float64)
    student = reference.population_gd(teacher, 0.1, 1, positional_encoding(8, "dct", 3))
    student.W_V = model.W_V[:, : teacher.d].clone()
    student.W_KQ = model.W_KQ[teacher.d :, teacher.d :].clone()
    assert torch.allclose(model(X), student(X), atol=1e-12)


def test_position_only_check_passes_after_training(converged):
    assert all(c.passed for c in position_only_check(CheckLog("t"), converged, 0.1))


def test_position_only_check_fails_early(teacher):
    early = full.train_full(teacher, 0.3, 10, batch=30, init_scale=0.01)
    assert not position_only_check(CheckLog("t"), early, 0.1)[0].passed


def test_learned_teacher_check_passes_after_training(converged):
    assert all(c.passed for c in learned_teacher_check(CheckLog("t"), converged))


def test_learned_teacher_check_fails_early_and_against_a_wrong_teacher(teacher, converged):
    early = full.train_full(teacher, 0.3, 10, batch=30, init_scale=0.01)
    assert not learned_teacher_check(CheckLog("t"), early)[1].passed  # the attention: not yet
    other = teachers.cnn_teacher(D=8, K=2, d=3, M=2, activation="identity", seed=5)
    wrong_value = dataclasses.replace(converged, teacher=other)
    assert [c.passed for c in learned_teacher_check(CheckLog("t"), wrong_value)] == [False, True]
    shifted = teachers.Teacher(other.V_star, torch.roll(other.S_star, 1, dims=0), other.activation)
    wrong_scores = dataclasses.replace(converged, teacher=shifted)
    assert not learned_teacher_check(CheckLog("t"), wrong_scores)[1].passed


@dataclass(frozen=True)
class OffsetTeacher:
    """A teacher outside the class: f*(X) + 1 (a constant offset the position block must learn)."""

    base: teachers.Teacher

    def __getattr__(self, name):
        return getattr(self.base, name)

    def __call__(self, X):
        return self.base(X) + 1.0


def test_position_only_check_fails_on_a_teacher_with_an_offset(teacher):
    run = full.train_full(OffsetTeacher(teacher.with_activation("identity")), 0.3, 2000, batch=30)
    value, _ = position_only_check(CheckLog("t"), run, 0.1)
    assert not value.passed


def test_full_rejects_bad_input(teacher):
    with pytest.raises(ValueError, match="init_scale must be"):
        FullTransformer.random(teacher, 0.0)
    with pytest.raises(ValueError, match="eta must be"):
        full.train_full(teacher, -1.0, 10)
