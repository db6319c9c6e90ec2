"""Every check of chapters 02-04 passes on a correct run and fails on a wrong teacher or a
broken student (small sizes, so that the whole file runs in well under a minute)."""

import pytest
import torch

from tltlib.claims import training as claims
from tltlib.core.checks import CheckLog
from tltlib.core.seeding import generator
from tltlib.examples import gcn, groupsparse, selection
from tltlib.model import teachers, theory
from tltlib.train.online import train_online
from tltlib.train.population import train_population


def results(log):
    return {r.name: r.passed for r in log.records}


def natural_gap(natural, teacher, X):
    return CheckLog("t").close_to("n", "c", float((natural(X) - teacher(X)).abs().max()), 0, 1e-10)


X8 = torch.randn(16, 3, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))

# --- chapter 02: graph convolution -------------------------------------------------------


@pytest.fixture(scope="module")
def cycle():
    return gcn.graph_conv("cycle", 8, 3, 3, 2, "identity", seed=0)


@pytest.fixture(scope="module")
def cycle_run(cycle):
    t = cycle.as_teacher()
    return train_population(t, 0.4, 20000, extra_metrics=claims.structure_metrics(t))


def test_gcn_checks_pass_on_the_right_graph(cycle_run):
    log = CheckLog("t")
    claims.training_checks(log, cycle_run, min_cosine=1 - 1e-8, exact_numbers=True)
    claims.lemma_d2(log, cycle_run)
    assert log.passed, log.table()


def test_gcn_checks_fail_on_the_wrong_graph(cycle, cycle_run):
    other = gcn.graph_conv("random_regular", 8, 3, 3, 2, "identity", seed=1)
    assert not torch.equal(other.as_teacher().S_star, cycle.as_teacher().S_star)
    log = CheckLog("t")
    claims.support_recovery(log, cycle_run.student, other.as_teacher(), 0.05)
    assert not any(r.passed for r in log.records)
    assert natural_gap(cycle, cycle.as_teacher(), X8).passed
    assert not natural_gap(cycle, other.as_teacher(), X8).passed


def test_gcn_online_checks_fail_on_frozen_attention(cycle):
    relu = cycle.as_teacher().with_activation("relu")
    run = train_online(relu, 0.5, 3000, batch=50, noise=0.0, train_blocks=("value",))
    log = CheckLog("t")
    claims.training_checks(log, run)
    result = results(log)
    for name in ("loss_slope", "S_error_slope", "support_topK", "support_values"):
        assert result[name] is False, name


@pytest.fixture(scope="module")
def outside():
    target = gcn.outside_graph_conv("erdos_renyi", 10, 3, 3, 2, seed=0).as_target()
    best = gcn.best_attainable(target)
    run = train_population(target, 0.2, 40000, extra_metrics=gcn.limit_metrics(best))
    return target, best, run


def test_outside_checks_pass_on_the_right_floor(outside):
    _, best, run = outside
    log = CheckLog("t")
    gcn.outside_checks(log, run, best)
    assert log.passed, log.table()


def test_outside_checks_fail_on_the_wrong_graph(outside):
    _, _, run = outside
    wrong = gcn.best_attainable(gcn.outside_graph_conv("star", 10, 3, 3, 2, seed=0).as_target())
    log = CheckLog("t")
    gcn.outside_checks(log, run, wrong)
    result = results(log)
    assert result["outside/floor_gap_slope"] is False
    assert result["outside/floor_lower_bound"] is False


def test_outside_checks_fail_on_a_floor_that_is_too_low(outside):
    _, best, run = outside
    low = gcn.Attainable(best.scores, best.value_scale, 0.5 * best.floor, best.baseline)
    log = CheckLog("t")
    gcn.outside_checks(log, run, low)
    assert results(log)["outside/floor_gap_slope"] is False


def test_outside_checks_fail_on_frozen_attention(outside):
    target, best, _ = outside
    run = train_online(
        target,
        0.2,
        3000,
        batch=50,
        noise=0.0,
        train_blocks=("value",),
        dtype=torch.float64,
        extra_metrics=gcn.limit_metrics(best),
    )
    log = CheckLog("t")
    gcn.outside_checks(log, run, best)
    result = results(log)
    assert result["outside/floor_gap_slope"] is False
    assert result["outside/limit_gap_slope"] is False
    # online gradients are not exactly along V*: the exact invariant W_V = C1 V* is lost
    assert result["outside/value_alignment"] is False


def test_outside_natural_form_check_fails_on_another_graph():
    X = torch.randn(8, 3, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    conv = gcn.outside_graph_conv("erdos_renyi", 10, 3, 3, 2, seed=0)
    other = gcn.outside_graph_conv("erdos_renyi", 10, 3, 3, 2, seed=1)
    assert natural_gap(conv, conv.as_target(), X).passed
    assert not natural_gap(conv, other.as_target(), X).passed


# --- chapter 03: sparse token selection ---------------------------------------------------


SUBSET = [1, 4]


@pytest.fixture(scope="module")
def sts_run():
    t = selection.subset_teacher(SUBSET, 8, 3)
    return train_population(t, 0.3, 20000, extra_metrics=claims.structure_metrics(t))


def test_sts_checks_fail_on_the_wrong_subset(sts_run):
    log = CheckLog("t")
    claims.training_checks(log, sts_run, min_cosine=1 - 1e-8)
    claims.lemma_d2(log, sts_run)
    assert log.passed, log.table()
    wrong = selection.subset_teacher([1, 5], 8, 3)
    bad = CheckLog("t")
    claims.support_recovery(bad, sts_run.student, wrong, 0.05)
    assert not any(r.passed for r in bad.records)
    assert natural_gap(lambda X: selection.select_tokens(X, SUBSET), sts_run.teacher, X8).passed
    assert not natural_gap(lambda X: selection.select_tokens(X, SUBSET), wrong, X8).passed


@pytest.fixture(scope="module")
def variant_runs():
    kw = dict(batch=50, noise=0.1, seed=0)
    return {
        v: selection.train_selection(SUBSET, 8, 3, 0.3, 3000, variant=v, **kw)
        for v in selection.VARIANTS
    }


def test_per_sample_checks_pass_on_the_per_sample_task(variant_runs):
    log = CheckLog("t")
    selection.per_sample_checks(log, variant_runs["per_sample"])
    assert log.passed, log.table()


def test_per_sample_checks_fail_on_the_fixed_task(variant_runs):
    """A run that does learn a subset (the fixed task) goes below the floor: wrong teacher."""
    run = variant_runs["fixed"]
    run.settings["floor"] = selection.per_sample_floor(8, 2, 3)
    log = CheckLog("t")
    selection.per_sample_checks(log, run)
    assert not any(r.passed for r in log.records), log.table()


def test_per_sample_floor_check_fails_on_a_wrong_bound(variant_runs):
    run = variant_runs["per_sample"]
    saved = run.settings["floor"]
    try:
        run.settings["floor"] = selection.per_sample_floor(8, 3, 3)  # the bound for K = 3
        log = CheckLog("t")
        selection.per_sample_checks(log, run)
        assert results(log)["per_sample/floor_level"] is False
    finally:
        run.settings["floor"] = saved


def test_floor_bound_holds_and_fails_on_a_floor_set_too_high(variant_runs):
    """The Monte Carlo floor check passes at the true bound (the uniform-attention student sits
    on it) and fails when the floor is that of K = 1.8 instead of 2 (about 12% too high)."""
    X = torch.randn(4000, 3, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    masks = selection.random_masks(4000, 8, 2, generator(3, "m"))
    probes = {
        "per_sample": variant_runs["per_sample"].student,
        "fixed": variant_runs["fixed"].student,
    }
    floor = selection.per_sample_floor(8, 2, 3)
    assert selection.floor_bound_check(CheckLog("t"), probes, floor, X, masks).passed
    too_high = 0.5 * 3 * (8 / 1.8 - 1.0)
    assert not selection.floor_bound_check(CheckLog("t"), probes, too_high, X, masks).passed


def test_monte_carlo_check_fails_on_fixed_subsets(variant_runs):
    student = variant_runs["per_sample"].student
    X = torch.randn(4000, 3, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    masks = selection.random_masks(4000, 8, 2, generator(2, "m"))
    assert selection.monte_carlo_check(CheckLog("t"), student, 2, X, masks).passed
    fixed = torch.zeros(4000, 8, dtype=torch.float64)
    fixed[:, SUBSET] = 1.0
    trained = variant_runs["fixed"].student
    assert not selection.monte_carlo_check(CheckLog("t"), trained, 2, X, fixed).passed


# --- chapter 04: group-sparse linear predictor -------------------------------------------


@pytest.fixture(scope="module")
def gslp():
    return groupsparse.group_sparse_linear(8, 3, 5, seed=0, v_norm=2.0)


def test_gslp_checks_fail_on_the_wrong_index(gslp):
    t = gslp.as_teacher()
    run = train_population(t, 0.2, 20000, extra_metrics=claims.structure_metrics(t))
    log = CheckLog("t")
    claims.training_checks(log, run, min_cosine=1 - 1e-8)
    assert log.passed, log.table()
    wrong = groupsparse.GroupSparseLinear(gslp.v, 4, 8)
    bad = CheckLog("t")
    claims.support_recovery(bad, run.student, wrong.as_teacher(), 0.05)
    assert not any(r.passed for r in bad.records)
    assert natural_gap(gslp, t, X8).passed
    assert not natural_gap(wrong, t, X8).passed


@pytest.fixture(scope="module")
def logistic_runs(gslp):
    kw = dict(batch=50, seed=0, n_eval=2000)
    return {
        "full": groupsparse.train_logistic(gslp, 0.3, 3000, **kw),
        "frozen": groupsparse.train_logistic(gslp, 0.3, 1000, train_blocks=("value",), **kw),
    }


def test_logistic_checks_pass(logistic_runs):
    log = CheckLog("t")
    groupsparse.logistic_checks(log, logistic_runs["full"])
    assert log.passed, log.table()


def test_logistic_checks_fail_on_frozen_attention(logistic_runs):
    log = CheckLog("t")
    groupsparse.logistic_checks(log, logistic_runs["frozen"])
    result = results(log)
    for name in ("attention_on_i_star", "top_row_is_i_star", "error_vs_uniform"):
        assert result[f"logistic/{name}"] is False, name


def test_logistic_cosine_check_fails_on_the_wrong_value_vector(logistic_runs):
    run = logistic_runs["full"]
    right = run.teacher
    run.teacher = groupsparse.group_sparse_linear(8, 3, 5, seed=7).as_teacher()
    try:
        log = CheckLog("t")
        groupsparse.logistic_checks(log, run)
        assert results(log)["logistic/cosine_final"] is False
    finally:
        run.teacher = right


def test_logistic_checks_fail_on_the_wrong_index(logistic_runs):
    run = logistic_runs["full"]
    run.settings["i_star"] = 4
    try:
        log = CheckLog("t")
        groupsparse.logistic_checks(log, run)
        result = results(log)
        assert result["logistic/attention_on_i_star"] is False
        assert result["logistic/top_row_is_i_star"] is False
    finally:
        run.settings["i_star"] = 5


def test_selection_error_check_fails_on_a_wrong_formula(logistic_runs, monkeypatch):
    monkeypatch.setattr(groupsparse, "selection_error", lambda a, D: (1 - a) / 2)
    log = CheckLog("t")
    groupsparse.logistic_checks(log, logistic_runs["full"])
    assert results(log)["logistic/error_from_attention"] is False


def test_paper_scale_teacher_of_set_6_is_a_gslp():
    t = teachers.paper_set(6)
    assert t.K == 1 and t.M == 1


# --- the height of the overshoot (chapters 02-04) ----------------------------------------


def test_overshoot_peak_passes_exact_runs_and_fails_broken_ones(cycle_run, sts_run, gslp):
    for run in (cycle_run, sts_run):
        assert claims.overshoot(CheckLog("t"), run, height_tolerance=0.03)[-1].passed
    # a wrong teacher: the same run judged against another K
    wrong = train_population(gslp.as_teacher(), 0.2, 2000)
    wrong.teacher = selection.subset_teacher([1, 2, 3], 8, 1)
    assert not claims.overshoot(CheckLog("t"), wrong, height_tolerance=0.03)[-1].passed
    # a broken student: frozen attention, C1 never leaves its uniform-attention optimum 1
    frozen = train_online(
        cycle_run.teacher, 0.4, 2000, batch=50, noise=0.0, train_blocks=("value",)
    )
    assert not claims.overshoot(CheckLog("t"), frozen, height_tolerance=0.03)[-1].passed


def test_c1_peak_rejects_bad_input():
    with pytest.raises(ValueError, match="smaller than D"):
        theory.peak_C1(4, 4)
