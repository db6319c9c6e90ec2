"""Every check of chapters 09a and 09b passes on the paper's model and fails on a broken
model or a wrong input (small sizes, so that the whole file runs in about a minute)."""

import math

import numpy as np
import pytest
import torch

from tltlib.core.checks import CheckLog
from tltlib.kernel import claims as kc
from tltlib.kernel import experiments as kx
from tltlib.kernel.model import (
    ShallowTransformer,
    step_size,
    train_projected_gd,
    unit_ball_tokens,
)
from tltlib.kernel.transport import (
    TransportTeacher,
    feature_estimate,
    transport,
)

WIDTHS = [8, 32, 128]


class SumAttention(ShallowTransformer):
    """Broken: forgets to normalise the attention (a sum of T weighted tokens, not an average)."""

    attention = staticmethod(lambda z: z.shape[-1] * torch.softmax(z, dim=-1))


class SigmoidAttention(ShallowTransformer):
    """Broken: independent sigmoid gates instead of a softmax."""

    attention = staticmethod(torch.sigmoid)


class BadProjection(ShallowTransformer):
    """Broken: projects onto balls of radius rho, forgetting the 1/sqrt(m)."""

    def project_(self, rho):
        super().project_(rho * math.sqrt(self.m))


def passed(check):
    return check.passed


@pytest.fixture(scope="module")
def X():
    return unit_ball_tokens(300, 6, 8, seed=0)


@pytest.fixture(scope="module")
def teacher(X):
    return TransportTeacher.from_inputs(X, 8, 3.0, 1024, seed=0)


def test_zero_at_init_fails_without_the_pairing(X):
    good = ShallowTransformer.paired(6, 8, seed=0)
    assert passed(kc.zero_at_init(CheckLog("t"), good, X))
    W, U, c = good.initial()
    unpaired = ShallowTransformer(W, U, c.abs())  # every c_i = +1: the halves no longer cancel
    assert not passed(kc.zero_at_init(CheckLog("t"), unpaired, X))


def test_projection_check_fails_on_a_wrong_radius():
    assert passed(kc.projection_radii(CheckLog("t"), ShallowTransformer.paired(6, 8, 0), 3.0, 0))
    assert not passed(kc.projection_radii(CheckLog("t"), BadProjection.paired(6, 8, 0), 3.0, 0))


def test_single_token_fails_without_softmax(X):
    assert passed(kc.single_token(CheckLog("t"), ShallowTransformer.paired(6, 8, 0), X, 0))
    assert not passed(kc.single_token(CheckLog("t"), SigmoidAttention.paired(6, 8, 0), X, 0))


def diagonal_teacher(teacher: TransportTeacher) -> TransportTeacher:
    """The official code's teacher: its features use only diag(W) (einsum "kdd,bd->bkd")."""
    W = torch.diag_embed(torch.diagonal(teacher.W, dim1=1, dim2=2))
    v = transport(teacher.anchors, teacher.alpha, teacher.nu, teacher.activation, teacher.U, W)
    return TransportTeacher(
        teacher.anchors, teacher.alpha, teacher.nu, teacher.activation, teacher.U, W, v
    )


class DiagonalFeatures(TransportTeacher):
    """Broken: evaluates a network's random-feature estimate with diag(W) only, as the
    official code's teacher does, instead of the network's own gradient features."""

    def width_estimate(self, model, X):
        W = torch.diag_embed(torch.diagonal(model.W0, dim1=1, dim2=2))
        v = transport(self.anchors, self.alpha, self.nu, self.activation, model.U0, W)
        return feature_estimate(X, model.U0, W, v, self.activation)


def test_transport_checks_fail_on_a_small_radius_or_a_wrong_teacher(X, teacher):
    model = ShallowTransformer.paired(6, 16, seed=1)
    good = CheckLog("t")
    kc.transport_checks(good, teacher, model, X, 3.0)
    assert good.passed
    small = CheckLog("t")
    kc.transport_checks(small, teacher, model, X, 0.05)  # rho < nu: the transport leaves the set
    assert not small["transport_in_ball"].passed
    wrong = CheckLog("t")
    kc.transport_checks(wrong, DiagonalFeatures(**vars(teacher)), model, X, 3.0)
    assert not wrong["transport_linearisation"].passed


@pytest.fixture(scope="module")
def T_sweeps(monkeypatch_module):
    args = ([4, 16, 64], 6, 16, 100, 150, 1.75, 3.0, 3.0, 512, 8, 1)
    good = kx.sequence_length_sweep(*args, seed=0)
    monkeypatch_module.setattr(kx, "ShallowTransformer", SumAttention)
    broken = kx.sequence_length_sweep(*args, seed=0)
    monkeypatch_module.undo()
    return good, broken


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def T_checks(sweep):
    log = CheckLog("t")
    kc.sequence_length_checks(log, sweep["T"].tolist(), sweep)
    return log


def test_sequence_length_checks_pass_on_the_model(T_sweeps):
    log = T_checks(T_sweeps[0])
    assert log.passed, log.table()


def test_sequence_length_checks_fail_without_normalised_attention(T_sweeps):
    """Summing instead of averaging the tokens makes the Jacobian and the smoothness grow with T."""
    log = T_checks(T_sweeps[1])
    for name in ("jacobian_below_bound", "jacobian_T_ratio", "step_size_admissible"):
        assert not log[name].passed, name


def test_optimisation_slope_fails_when_the_step_must_shrink_with_T(monkeypatch):
    """A recurrent network's smoothness constant grows like (|u| L_sigma)^(2T), so its admissible
    step shrinks with T. Emulate that with a step divided by T/4: the error then grows with T."""
    train = kx.train_projected_gd

    def shrinking_step(model, X, y, steps, eta, rho, *args, **kwargs):
        return train(model, X, y, steps, eta * 4 / X.shape[-1], rho, *args, **kwargs)

    monkeypatch.setattr(kx, "train_projected_gd", shrinking_step)
    sweep = kx.sequence_length_sweep(
        [4, 16, 64], 6, 16, 100, 150, 1.75, 3.0, 3.0, 512, 8, 2, seed=0
    )
    check = kc.slope_not_above(CheckLog("t"), "slope", "c", sweep["T"], sweep["rel_train"])
    assert not check.passed and check.extra["estimate"] > 0


def test_step_and_guarantee_fail_on_wrong_inputs(X, teacher):
    log = CheckLog("t")
    sweep = kx.sequence_length_sweep([4], 6, 16, 100, 50, 60.0, 3.0, 3.0, 512, 8, 1, seed=0)
    kc.below(log, "step", "c", sweep["eta_beta"], np.ones_like(sweep["eta_beta"]))
    assert not log["step"].passed  # eta_scale = 60: eta far above 1/beta
    # a teacher far outside the class (nu = 300) trained with the radius meant for nu = 3
    big = TransportTeacher.from_inputs(X, 8, 300.0, 512, seed=0)
    y = big(X).float()
    model = ShallowTransformer.paired(6, 16, 0, dtype=torch.float32)
    run = train_projected_gd(model, X.float(), y, 100, step_size(100), 3.0)
    approx = float(((big.width_estimate(model, X) - y.double()) ** 2).mean())
    guarantee = approx + kc.optimisation_term(3.0, step_size(100), 100)
    assert not kc.below(
        CheckLog("t"), "g", "c", np.array([run.min_train]), np.array([guarantee])
    ).passed
