"""The reduced dynamics of Theorem 3.1: exact, fast, and every check of chapter 05 can fail."""

import dataclasses

import numpy as np
import pytest

from tltlib.claims import scaling
from tltlib.claims import training as claims
from tltlib.core.checks import CheckLog
from tltlib.core.errors import DivergenceError, StepSizeWarning
from tltlib.model import teachers, theory
from tltlib.train import reduced
from tltlib.train.population import train_population


@pytest.fixture(scope="module")
def teacher():
    return reduced.random_teacher(D=10, K=3, d=4, M=3, seed=2)


@pytest.fixture(scope="module")
def matrix(teacher):
    return train_population(teacher, 0.2, 3000, extra_metrics=claims.structure_metrics(teacher))


@pytest.fixture(scope="module")
def long_run():
    return reduced.train_reduced(12, 3, 0.1, 4.0, 3_000_000)


@pytest.mark.parametrize(
    "build",
    [
        lambda: teachers.cnn_teacher(D=8, K=2, d=3, M=2, activation="identity", seed=1),
        lambda: teachers.gcn_teacher(D=9, d=4, M=3, activation="identity", seed=0),
        lambda: teachers.sts_teacher(D=7, K=3, d=3, seed=4),
    ],
)
def test_reduced_dynamics_reproduce_matrix_gd(build):
    t = build()
    run = train_population(t, 0.25, 1500, extra_metrics=claims.structure_metrics(t))
    red = reduced.for_teacher(t, 0.25, 1500, record=run.history["step"])
    gaps = scaling.relative_gaps(run.history, red)
    assert max(gaps.values()) < 1e-10, gaps


def test_reduced_agreement_check_fails_on_a_wrong_setting(teacher, matrix):
    steps = matrix.history["step"]
    good = reduced.for_teacher(teacher, 0.2, 3000, record=steps)
    assert scaling.reduced_agreement(CheckLog("t"), matrix.history, good).passed
    v = sum(float(x) for x in (teacher.V_star**2).flatten())
    wrong_eta = reduced.train_reduced(10, 3, 0.2 * (1 + 1e-6), v, 3000, record=steps)
    wrong_K = reduced.train_reduced(10, 2, 0.2, v, 3000, record=steps)
    assert not scaling.reduced_agreement(CheckLog("t"), matrix.history, wrong_eta).passed
    assert not scaling.reduced_agreement(CheckLog("t"), matrix.history, wrong_K).passed


def test_compiled_kernel_follows_the_plain_map():
    D, K, eta, v = (
        np.array([12.0, 20.0, 9.0]),
        np.array([3.0, 4.0, 1.0]),
        np.array([0.1, 0.05, 0.2]),
        3.0,
    )
    run = reduced.train_reduced(D, K, eta, v, 5000, record=[5000])
    delta, gap = np.full(3, -1.0), np.zeros(3)
    for _ in range(5000):
        delta, gap = reduced.step(delta, gap, D, K, eta, v)
    assert np.allclose(run.delta[:, -1], delta, rtol=1e-11, atol=0)
    assert np.allclose(run.gap[:, -1], gap, rtol=1e-11, atol=0)


def test_a_setting_gives_the_same_numbers_alone_and_in_a_batch():
    g = scaling.grid(D=[12, 20, 36], K=[2, 4], eta=[0.05, 0.1], v=[2.0, 8.0])
    batch = reduced.train_reduced(g["D"], g["K"], g["eta"], g["v"], 20000)
    for i in (0, 7, 23):
        alone = reduced.train_reduced(g["D"][i], g["K"][i], g["eta"][i], g["v"][i], 20000)
        assert np.array_equal(alone.delta[0], batch.delta[i])
        assert np.array_equal(alone.gap[0], batch.gap[i])
        assert alone.t_half[0] == batch.t_half[i]


def test_edge_of_stability_and_divergence(small_teacher):
    # the reduced version of tests/train/test_trainers.py::test_large_eta_stalls_at_the_edge_of_stability
    with pytest.warns(StepSizeWarning, match="exceeds 2K/D"):
        run = reduced.for_teacher(small_teacher, 1.5, 20000, record=[20000])
    assert run.final("S_fro2")[0] == pytest.approx(2 / 1.5, rel=1e-2)
    with pytest.raises(DivergenceError, match=r"eta=2\.5.*2K/D"):
        reduced.train_reduced(8, 2, 2.5, 1.0, 1000, warn=False)
    marked = reduced.train_reduced(8, 2, [0.1, 2.5], 1.0, 1000, warn=False, on_divergence="mark")
    assert marked.diverged.tolist() == [False, True]
    assert np.isnan(marked.final("excess_loss")[1])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(K=12), "K must be smaller than D"),
        (dict(D=7.5), "D must hold integers"),
        (dict(eta=0.0), "eta must hold finite numbers > 0"),
        (dict(v=float("nan")), "v must hold finite numbers > 0"),
        (dict(steps=0), "steps must be an integer >= 1"),
        (dict(on_divergence="ignore"), "on_divergence must be one of"),
        (dict(record=[5, 3]), "increasing steps"),
    ],
)
def test_reduced_rejects_bad_input(kwargs, match):
    args = dict(D=12, K=3, eta=0.1, v=1.0, steps=100) | kwargs
    with pytest.raises(ValueError, match=match):
        reduced.train_reduced(**args)


def test_for_teacher_needs_identity():
    t = teachers.cnn_teacher(D=8, K=2, d=3, M=2, activation="relu", seed=0)
    with pytest.raises(ValueError, match="identity activation"):
        reduced.for_teacher(t, 0.1, 10)


def test_slope_checks_pass_late_and_fail_early(long_run):
    assert all(c.passed for c in scaling.late_slopes(CheckLog("t"), long_run, 0.02))
    early = reduced.train_reduced(12, 3, 0.1, 4.0, 1500)  # about T*
    assert not any(c.passed for c in scaling.late_slopes(CheckLog("t"), early, 0.02))


def test_closed_form_checks_fail_on_a_short_run_or_wrong_setting(long_run):
    good = scaling.closed_form_checks(CheckLog("t"), long_run, 12, 3, 0.1, 4.0)
    assert all(c.passed for c in good), [c.to_dict() for c in good]
    wrong = scaling.closed_form_checks(CheckLog("t"), long_run, 12, 4, 0.1, 4.0)
    assert not any(c.passed for c in wrong)
    short = reduced.train_reduced(12, 3, 0.1, 4.0, 2000)
    names = {
        c.name: c.passed for c in scaling.closed_form_checks(CheckLog("t"), short, 12, 3, 0.1, 4.0)
    }
    assert names["asymptotic_constant"] is False


def test_exponent_checks_reject_the_theorems_power_of_D():
    g = scaling.grid(D=[12, 20, 36], K=[2, 4], eta=[0.05, 0.1], v=[4.0, 16.0])
    run = reduced.train_reduced(g["D"], g["K"], g["eta"], g["v"], 2_000_000, record=5)
    fit = scaling.power_law_fit(scaling.prefactors(run)["T_excess"], g)
    closed = scaling.power_law_fit(theory.asymptotic_excess_constant(g["D"], g["K"], g["eta"]), g)
    ours = scaling.exponent_checks(
        CheckLog("t"), "T_excess", fit, scaling.mixed_expectation("T_excess", closed), 0.05, "t"
    )
    assert all(c.passed for c in ours)
    theorem = scaling.exponent_checks(
        CheckLog("t"), "T_excess", fit, scaling.THEOREM_EXPONENTS["T_excess"], 0.05, "t"
    )
    assert {c.name: c.passed for c in theorem}["T_excess_exponent_D"] is False
    assert fit.ci95["D"][1] < 3.0  # the data exclude D^4 outright


@pytest.mark.parametrize("quantity", ["S_error", "WV_error"])
def test_distance_exponent_checks_reject_the_theorems_power_of_D(quantity):
    g = scaling.grid(D=[12, 20, 36], K=[2, 4], eta=[0.05, 0.1], v=[4.0, 16.0])
    run = reduced.train_reduced(g["D"], g["K"], g["eta"], g["v"], 2_000_000, record=5)
    fit = scaling.power_law_fit(scaling.prefactors(run)[quantity], g)
    constant = {
        "S_error": theory.asymptotic_S_error_constant(g["D"], g["K"], g["eta"], g["v"]),
        "WV_error": theory.asymptotic_WV_error_constant(g["D"], g["K"], g["eta"]),
    }[quantity]
    closed = scaling.power_law_fit(constant, g)
    expected = scaling.mixed_expectation(quantity, closed)
    ours = scaling.exponent_checks(CheckLog("t"), quantity, fit, expected, 0.05, "t")
    assert all(c.passed for c in ours), [c.to_dict() for c in ours]
    theorem = scaling.exponent_checks(
        CheckLog("t"), quantity, fit, scaling.THEOREM_EXPONENTS[quantity], 0.05, "t"
    )
    assert {c.name: c.passed for c in theorem}[f"{quantity}_exponent_D"] is False
    wrong_v = dict(expected, v=expected["v"] + 0.5)  # a distance that would not depend on ||V*||
    failed = {
        c.name: c.passed
        for c in scaling.exponent_checks(CheckLog("t"), quantity, fit, wrong_v, 0.05, "t")
    }
    assert failed[f"{quantity}_exponent_v"] is False


def test_power_law_fit_recovers_exponents_and_rejects_bad_input():
    g = scaling.grid(D=[10, 20, 40], K=[1, 2, 4], eta=[0.1, 0.2])
    y = 3.0 * g["D"] ** 2 * g["K"] / g["eta"]
    fit = scaling.power_law_fit(y, g)
    assert fit.exponents == pytest.approx({"D": 2.0, "K": 1.0, "eta": -1.0})
    with pytest.raises(ValueError, match="positive"):
        scaling.power_law_fit(-y, g)
    with pytest.raises(ValueError, match="empty"):
        scaling.grid(D=[])


def test_stability_checks_fail_on_a_broken_sweep():
    etas = np.geomspace(0.01, 3.0, 17)
    sweep = scaling.stability_sweep(12, 3, 4.0, etas, 50000)
    assert scaling.edge_of_stability(CheckLog("t"), sweep, 0.05).passed
    assert scaling.divergence_threshold(CheckLog("t"), sweep).passed
    shifted = dataclasses.replace(sweep, S_fro2_mean=1.2 * sweep.S_fro2_mean)
    assert not scaling.edge_of_stability(CheckLog("t"), shifted, 0.05).passed
    assert not scaling.divergence_threshold(CheckLog("t"), sweep, predicted=1.0).passed
    stable_only = scaling.stability_sweep(12, 3, 4.0, etas[etas < 1.5], 5000)
    assert not scaling.divergence_threshold(CheckLog("t"), stable_only).passed
