"""The checks that chapters 01 and 02 run on exact ReLU / Leaky ReLU population GD pass on the
exact run and fail on a broken student (frozen attention) or a wrong teacher."""

import pytest

from tltlib.claims import training as claims
from tltlib.core.checks import CheckLog
from tltlib.model import teachers
from tltlib.model.teachers import Teacher
from tltlib.train.online import train_online
from tltlib.train.population import train_population

STEPS = 20000


@pytest.fixture(scope="module", params=["relu", "leaky_relu"])
def teacher(request):
    return teachers.cnn_teacher(D=8, K=2, d=3, M=2, activation=request.param, seed=0)


@pytest.fixture(scope="module")
def exact(teacher):
    return train_population(teacher, 0.4, STEPS, extra_metrics=claims.structure_metrics(teacher))


def test_exact_relu_checks_pass(exact):
    log = CheckLog("t")
    claims.training_checks(log, exact, prefix="exact/", min_cosine=1 - 1e-8, exact_numbers=True)
    claims.lemma_d2(log, exact, prefix="exact/")
    assert log.passed, log.table()
    assert {r.name for r in log.records} >= {"exact/loss_slope", "exact/lemma_D2_value"}


def test_exact_relu_checks_fail_on_frozen_attention(teacher):
    frozen = train_online(
        teacher,
        0.4,
        STEPS,
        batch=50,
        noise=0.0,
        train_blocks=("value",),
        extra_metrics=claims.structure_metrics(teacher),
    )
    log = CheckLog("t")
    claims.training_checks(log, frozen, prefix="exact/", min_cosine=1 - 1e-8)
    result = {r.name: r.passed for r in log.records}
    for name in ("loss_slope", "S_error_slope", "support_topK", "support_values", "cosine_final"):
        assert result[f"exact/{name}"] is False, name


def test_lemma_d2_fails_against_a_wrong_teacher(teacher):
    """Measured against the pooling groups shifted by one patch, the learned S is not
    two-valued: the check of the invariant sees which support S learned."""
    D, K = teacher.D, teacher.K
    S = teachers.scores_from_supports(
        [[(i // K * K + j + 1) % D for j in range(K)] for i in range(D)], D
    )
    wrong = Teacher(teacher.V_star, S, teacher.activation)
    run = train_population(teacher, 0.4, 2000, extra_metrics=claims.structure_metrics(wrong))
    log = CheckLog("t")
    claims.lemma_d2(log, run, prefix="exact/")
    assert not log["exact/lemma_D2_scores"].passed
