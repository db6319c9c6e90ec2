"""Chapter 11's checks pass on the real thing and fail on a wrong input law, a wrong teacher
and a student whose attention is frozen."""

import pytest

from tltlib.claims import outside
from tltlib.core.checks import CheckLog
from tltlib.core.history import Run
from tltlib.model import teachers
from tltlib.train.online import train_online

SIZE = dict(D=8, K=2, d=4, M=3)
RUN = dict(batch=20, noise=0.1, seed=0)
ETA, STEPS = 0.3, 600


@pytest.fixture(scope="module")
def identity():
    t = teachers.cnn_teacher(**SIZE, activation="identity", seed=0)
    ref = outside.population_reference(t, ETA, STEPS)
    seeds = outside.gaussian_seed_runs(t, ETA, STEPS, n_seeds=3, **RUN)
    return t, ref, seeds


def test_identity_check_passes_on_unit_variance_kinds(identity):
    t, ref, seeds = identity
    runs = outside.kind_runs(t, ETA, STEPS, ["rademacher", "centred_exponential"], **RUN)
    log = CheckLog("test")
    outside.identity_kinds_check(log, runs, ref, seeds, RUN["batch"], RUN["noise"])
    assert log.passed, log.table()


def test_identity_check_fails_on_a_different_second_moment(identity):
    t, ref, seeds = identity
    runs = outside.kind_runs(t, ETA, STEPS, ["student_t"], **RUN)  # variance 5/3
    log = CheckLog("test")
    outside.identity_kinds_check(log, runs, ref, seeds, RUN["batch"], RUN["noise"])
    assert not log.passed


def test_identity_check_fails_against_a_wrong_teacher(identity):
    # the excess-loss curve is shared by every teacher with the same ||V*|| and pooling size,
    # so the wrong teacher pools over one position instead of two
    t, _, seeds = identity
    wrong = teachers.cnn_teacher(**{**SIZE, "K": 1}, activation="identity", seed=7)
    runs = outside.kind_runs(t, ETA, STEPS, ["gumbel"], **RUN)
    log = CheckLog("test")
    wrong_ref = outside.population_reference(wrong, ETA, STEPS)
    outside.identity_kinds_check(log, runs, wrong_ref, seeds, RUN["batch"], RUN["noise"])
    assert not log.passed


@pytest.fixture(scope="module")
def relu():
    return teachers.cnn_teacher(**SIZE, activation="relu", seed=0)


def test_recovery_passes(relu):
    runs = outside.kind_runs(relu, ETA, 2000, ["gumbel"], **RUN)
    log = CheckLog("test")
    outside.recovery_checks(log, runs, relu, 0.99, "relu")
    assert log.passed, log.table()


def test_recovery_fails_on_frozen_attention(relu):
    run = train_online(relu, ETA, 2000, inputs="gumbel", train_blocks=("value",), **RUN)
    log = CheckLog("test")
    outside.recovery_checks(log, {"gumbel": run}, relu, 0.99, "relu")
    assert not log["relu_gumbel_support"].passed


def test_recovery_fails_against_a_wrong_teacher(relu):
    runs = outside.kind_runs(relu, ETA, 2000, ["gumbel"], **RUN)
    wrong = teachers.cnn_teacher(**SIZE, activation="relu", seed=7)
    shifted = teachers.Teacher(wrong.V_star, relu.S_star.roll(1, dims=0), "relu")
    log = CheckLog("test")
    outside.recovery_checks(log, runs, shifted, 0.99, "relu")
    assert not log["relu_gumbel_cosine"].passed
    assert not log["relu_gumbel_support"].passed


def test_one_seed_is_not_a_fluctuation(identity):
    _, ref, seeds = identity
    with pytest.raises(ValueError, match="n_seeds"):
        outside.identity_tolerance(seeds[:1], ref, RUN["batch"], RUN["noise"])


def test_bad_kind_names_the_parameter(relu):
    with pytest.raises(ValueError, match="kinds"):
        outside.kind_runs(relu, ETA, 10, ["cauchy"], **RUN)


@pytest.fixture(scope="module")
def k_runs():
    return outside.k_runs(6, [2, 5], 3, 0.8, 20.0, 0)


def test_k_close_to_d_checks_pass(k_runs):
    log = CheckLog("test")
    outside.mass_half_time_checks(log, k_runs)
    outside.k_rate_checks(log, k_runs)
    assert log.passed, log.table()


def test_k_close_to_d_checks_fail_against_a_wrong_teacher(k_runs):
    wrong = {}
    for K, run in k_runs.items():
        t = run.teacher
        other = teachers.Teacher(2 * t.V_star, t.S_star, "identity", name="wrong")
        wrong[K] = Run(run.student, run.history, other, run.settings)
    log = CheckLog("test")
    outside.mass_half_time_checks(log, wrong)
    outside.k_rate_checks(log, wrong)
    assert all(not log[f"mass_half_time_K{K}"].passed for K in k_runs)
    assert all(not log[f"loss_slope_K{K}"].passed for K in k_runs)


def test_k_outside_range():
    with pytest.raises(ValueError, match="k_values"):
        outside.k_runs(6, [6], 3, 0.8, 20.0, 0)
