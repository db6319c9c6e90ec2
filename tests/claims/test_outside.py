"""Chapter 11's checks pass on the real thing and fail on a wrong input law, a wrong teacher
and a student whose attention is frozen."""

import numpy as np
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


# --- non-uniform S* ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def weighted():
    targets = outside.weighted_targets(6, 2, 3, 0, 1.0, 0.5)
    return outside.weighted_runs(targets, 0.8, 40.0, 25.0)


def test_weighted_checks_pass(weighted):
    log = CheckLog("test")
    outside.weighted_checks(log, weighted)
    assert log.passed, log.table()


def test_power_rate_check_fails_on_a_geometric_curve(weighted):
    # the full-support run's history read against the Dirichlet target: its log-log slope is
    # far below -1 (a geometric tail)
    full, dirichlet = weighted["full"], weighted["dirichlet"]
    run = Run(full.student, full.history, dirichlet.teacher, full.settings)
    log = CheckLog("test")
    check = outside.power_rate_check(log, run, "excess_loss", -1.0, "full")
    assert not check.passed
    assert check.measured < -3


def test_power_rate_check_fails_against_a_wrong_rate(weighted):
    log = CheckLog("test")
    assert not outside.power_rate_check(log, weighted["dirichlet"], "S_error", -1.0, "d").passed


def test_geometric_checks_fail_against_a_wrong_step(weighted):
    # a prediction at 1.2 eta (still stable): every mode 20% faster than the run's
    run = weighted["full"]
    log = CheckLog("test")
    fast, slowest = outside.geometric_checks(log, run, eta=1.2 * run.settings["eta"])
    assert not fast.passed
    assert not slowest.passed


def test_ordering_fails_on_a_two_valued_student(weighted):
    # the uniform target's student is two-valued (Lemma D.2); the Dirichlet weights are not
    S = weighted["uniform"].student.scores()
    dirichlet = weighted["dirichlet"].teacher
    assert outside.order_fraction(S, dirichlet.S_star) == 0.0
    assert outside.order_fraction(weighted["dirichlet"].student.scores(), dirichlet.S_star) == 1.0


def test_two_valued_check_fails_on_the_dirichlet_run(weighted):
    log = CheckLog("test")
    assert outside.two_valued_check(log, weighted["uniform"], "uniform").passed
    assert not outside.two_valued_check(log, weighted["dirichlet"], "dirichlet").passed


def test_value_part_fails_on_a_misaligned_history(weighted):
    run = weighted["full"]
    h = run.history
    bad = type(h)()
    for i, t in enumerate(h["step"]):
        values = {k: h[k][i] for k in h.values}
        values["cosine"] = 0.9
        bad.append(int(t), values)
    runs = dict(weighted)
    runs["full"] = Run(run.student, bad, run.teacher, run.settings)
    log = CheckLog("test")
    outside.weighted_checks(log, runs)
    assert not log["full_lemma_D2_value"].passed


def test_hessian_needs_full_support(weighted):
    with pytest.raises(ValueError, match="full-support"):
        outside.hessian_rate(weighted["dirichlet"].teacher, 0.1)


@pytest.mark.parametrize(
    "kwargs, name",
    [(dict(floor=0.0), "ns_floor"), (dict(alpha=-1.0), "ns_alpha"), (dict(K=1), "ns_K")],
)
def test_weighted_targets_bad_input(kwargs, name):
    args = dict(D=6, K=2, d=3, seed=0, alpha=1.0, floor=0.5) | kwargs
    with pytest.raises(ValueError, match=name):
        outside.weighted_targets(**args)


# --- input-dependent selection ----------------------------------------------------------------


@pytest.fixture(scope="module")
def selection():
    return outside.selection_runs(6, 2, 3, 0.2, 800, batch=32, init_scale=0.01, seed=0)


def test_selection_checks_pass(selection):
    log = CheckLog("test")
    outside.selection_checks(log, selection, 2)
    assert log.passed, log.table()


def test_selection_checks_fail_on_the_position_only_student(selection):
    # chapter 03's student cannot see the subset: it plateaus at the floor
    blind = selection["position-only, per-sample"]
    log = CheckLog("test")
    check = outside.selection_rate_check(log, blind, "blind")
    assert not check.passed
    assert abs(check.measured) < 0.1
    assert not outside.below_floor_check(log, blind, 2).passed


def test_selection_rate_fails_on_a_log_t_over_t_curve(selection):
    # Wang et al.'s log T / T upper bound, as a curve on the run's own steps
    run = selection["full, per-sample"]
    h = run.history
    fake = type(h)()
    for t in h["step"]:
        fake.append(int(t), {"excess_loss": float(np.log(t + 2.0) / (t + 2.0))})
    log = CheckLog("test")
    check = outside.selection_rate_check(log, Run(run.student, fake, None, run.settings))
    assert not check.passed
