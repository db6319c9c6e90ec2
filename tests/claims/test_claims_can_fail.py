"""Every check of chapters 00 and 01 passes on a correct run and fails on a broken one."""

import pytest
import torch
import torch.nn.functional as F

from tltlib.claims import training as claims
from tltlib.core.checks import CheckLog
from tltlib.examples import cnn
from tltlib.model import teachers
from tltlib.model.data import sample_inputs
from tltlib.model.losses import excess_loss
from tltlib.model.student import PositionOnlyTransformer, positional_encoding
from tltlib.model.teachers import Teacher
from tltlib.train import reference
from tltlib.train.online import train_online
from tltlib.train.population import train_population

STEPS = 20000


def shifted(teacher: Teacher) -> Teacher:
    """The same V*, but pooling groups shifted by one patch: a wrong teacher."""
    D, K = teacher.D, teacher.K
    S = teachers.scores_from_supports(
        [[(i // K * K + j + 1) % D for j in range(K)] for i in range(D)], D
    )
    return Teacher(teacher.V_star, S, teacher.activation)


@pytest.fixture(scope="module")
def teacher():
    return teachers.cnn_teacher(D=8, K=2, d=3, M=2, activation="identity", seed=0)


@pytest.fixture(scope="module")
def exact(teacher):
    return train_population(teacher, 0.4, STEPS, extra_metrics=claims.structure_metrics(teacher))


@pytest.fixture(scope="module")
def frozen(teacher):
    """A broken student: its attention never trains."""
    return train_online(teacher, 0.4, STEPS, batch=50, noise=0.0, train_blocks=("value",))


def names(log):
    return {r.name: r.passed for r in log.records}


def test_training_checks_pass_on_a_good_run(exact):
    log = CheckLog("t")
    claims.training_checks(log, exact, min_cosine=1 - 1e-8, exact_numbers=True)
    assert log.passed, log.table()
    rec = log["loss_slope"].to_dict()
    for key in (
        "excess_loss_final",
        "S_error_final",
        "WV_error_final",
        "V_star_fro",
        "D",
        "K",
        "eta",
        "steps",
    ):
        assert key in rec


def test_training_checks_fail_on_frozen_attention(frozen):
    log = CheckLog("t")
    claims.training_checks(log, frozen)
    result = names(log)
    for name in ("loss_slope", "S_error_slope", "WV_error_slope", "support_topK", "support_values"):
        assert result[name] is False, name


def test_training_checks_fail_on_a_wrong_teacher(exact, teacher):
    wrong = shifted(teacher)
    log = CheckLog("t")
    claims.support_recovery(log, exact.student, wrong, 0.05)
    assert not any(r.passed for r in log.records)
    other = teachers.cnn_teacher(D=8, K=2, d=3, M=2, activation="identity", seed=99)
    assert not claims.value_alignment(log, exact.student, other, 0.99).passed


def test_lemma_d2_passes_exact_and_fails_online(exact, teacher):
    log = CheckLog("t")
    claims.lemma_d2(log, exact)
    assert log.passed
    online = train_online(
        teacher, 0.4, 500, batch=20, extra_metrics=claims.structure_metrics(teacher)
    )
    bad = CheckLog("t")
    claims.lemma_d2(bad, online)
    assert not any(r.passed for r in bad.records)


def test_overshoot_fails_without_attention(exact, frozen):
    assert claims.overshoot(CheckLog("t"), exact)[0].passed
    assert not claims.overshoot(CheckLog("t"), frozen)[0].passed


def test_closed_form_agreement_fails_on_wrong_inputs_or_formula(teacher, monkeypatch):
    relu = teacher.with_activation("relu")
    student = PositionOnlyTransformer.random(relu, seed=1)
    X = sample_inputs("gaussian", 20000, 3, 8, seed=0)
    assert claims.closed_form_agreement(CheckLog("t"), student, relu, X).passed
    # the closed form holds for Gaussian inputs only
    X_exp = sample_inputs("exponential", 20000, 3, 8, seed=0)
    assert not claims.closed_form_agreement(CheckLog("t"), student, relu, X_exp).passed
    # a formula that forgets the activation (the identity's bilinear form) is caught
    monkeypatch.setattr(
        claims, "excess_loss", lambda s, t: excess_loss(s, t.with_activation("identity"))
    )
    assert not claims.closed_form_agreement(CheckLog("t"), student, relu, X).passed


def test_matrices_agree_fails_on_a_different_run(teacher):
    P = positional_encoding(8, "identity")
    a = reference.population_gd(teacher, 0.4, 50, P).scores()
    b = reference.population_gd(teacher, 0.4 * (1 + 1e-6), 50, P).scores()
    assert claims.matrices_agree(CheckLog("t"), "x", "c", a, a.clone(), 1e-10).passed
    assert not claims.matrices_agree(CheckLog("t"), "x", "c", a, b, 1e-10).passed


def test_zero_init_escape_fails_with_the_wrong_convention(teacher):
    relu = teacher.with_activation("relu")
    X = sample_inputs("gaussian", 2000, 3, 8, seed=0)
    good = CheckLog("t")
    claims.zero_init_escape(good, relu, X)
    assert good.passed
    broken = CheckLog("t")
    claims.zero_init_escape(broken, relu, X, ours=torch.relu)
    assert names(broken)["relu_first_step_along_V"] is False
    leaky = CheckLog("t")
    claims.zero_init_escape(leaky, relu, X, autograd_relu=lambda z: F.leaky_relu(z, 0.1))
    assert names(leaky)["relu_zero_init_stuck"] is False


def test_natural_form_check_fails_on_a_wrong_teacher():
    conv = cnn.conv_pool_1d(8, 2, 3, 2, "relu", seed=0)
    signals = sample_inputs("gaussian", 16, 1, 24, seed=0)
    X = cnn.patches(signals, conv.patch)
    good = float((conv(signals) - conv.as_teacher()(X)).abs().max())
    bad = float((conv(signals) - shifted(conv.as_teacher())(X)).abs().max())
    assert CheckLog("t").close_to("n", "c", good, 0.0, 1e-10).passed
    assert not CheckLog("t").close_to("n", "c", bad, 0.0, 1e-10).passed


def test_overshoot_height_fails_against_a_wrong_teacher(exact):
    """The peak of C1 is (1 + sqrt(D/K))/2 for the run's own teacher (D = 8, K = 2: 1.91); read
    against a teacher with K = 4 (1.21) the height check fails."""
    from dataclasses import replace

    assert claims.overshoot(CheckLog("t"), exact, height_tolerance=0.03)[1].passed
    wrong = teachers.cnn_teacher(D=8, K=4, d=3, M=2, activation="identity", seed=0)
    bad = claims.overshoot(CheckLog("t"), replace(exact, teacher=wrong), height_tolerance=0.03)
    assert not bad[1].passed
