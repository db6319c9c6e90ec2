"""Theorem 3.2's T_eps: its powers against the slow manifold's, and the inequality for ReLU and
Leaky ReLU students; every check fails on a broken trainer or a wrong prediction."""

import dataclasses

import numpy as np
import pytest

from tltlib.claims import ood_scaling
from tltlib.core.checks import CheckLog
from tltlib.model import teachers, theory
from tltlib.train import reduced

FAMILIES = ["exponential", "student_t"]
LABELS = ["teacher", "worst_case"]


@pytest.fixture(scope="module")
def table():
    return ood_scaling.t_eps_dependence(12, 4, 3, 0.2, 400_000, 0, FAMILIES, LABELS)


def test_powers_match_the_slow_manifold(table):
    checks = ood_scaling.dependence_checks(CheckLog("t"), table)
    assert len(checks) == 2 * len(ood_scaling.THEOREM_POWERS)
    assert all(c.passed for c in checks)
    assert "| worst_case | D |" in ood_scaling.dependence_table(table)


def test_powers_fail_on_a_trainer_whose_step_is_off(monkeypatch):
    real = reduced.train_reduced

    def broken(D, K, eta, v, steps, **kw):  # a trainer that takes eta^1.3 for eta
        return real(D, K, np.asarray(eta) ** 1.3, v, steps, **kw)

    monkeypatch.setattr(ood_scaling, "train_reduced", broken)
    bad = ood_scaling.t_eps_dependence(12, 4, 3, 0.2, 400_000, 0, FAMILIES, LABELS)
    checks = {c.name: c for c in ood_scaling.dependence_checks(CheckLog("t"), bad)}
    assert not checks["t_eps_power_worst_case_eta"].passed
    assert not checks["t_eps_power_teacher_eta"].passed


def test_powers_fail_against_the_theorems_exponents(table):
    """The theorem's D^6 is an upper bound, loose here: taken as the prediction, it fails."""
    wrong = {
        k: dataclasses.replace(dep, predicted=dep.x ** ood_scaling.THEOREM_POWERS[k[2]])
        for k, dep in table.items()
    }
    checks = {c.name: c for c in ood_scaling.dependence_checks(CheckLog("t"), wrong)}
    assert not checks["t_eps_power_worst_case_D"].passed
    assert not checks["t_eps_power_teacher_epsilon"].passed


def test_a_too_short_run_has_no_measurable_power():
    short = ood_scaling.t_eps_dependence(12, 4, 3, 0.2, 300, 0, ["exponential"], ["worst_case"])
    assert not all(c.passed for c in ood_scaling.dependence_checks(CheckLog("t"), short))


def test_bad_grid_is_rejected():
    with pytest.raises(ValueError, match="n must be odd"):
        ood_scaling.t_eps_dependence(12, 4, 3, 0.2, 1000, 0, FAMILIES, LABELS, n=4)
    with pytest.raises(ValueError, match="D=4 is too small"):
        ood_scaling.t_eps_dependence(4, 4, 3, 0.2, 1000, 0, FAMILIES, LABELS)


@pytest.fixture(scope="module")
def nonlinear():
    runs = {}
    for act in ("relu", "leaky_relu"):
        t = teachers.gcn_teacher(10, 4, 3, act, 0)
        eta = theory.stable_step(t, 0.8)
        steps = theory.horizon_steps(t, eta, 60.0)
        runs[act] = ood_scaling.run_nonlinear(t, eta, steps, FAMILIES, 1000, 0)
    return runs


def test_nonlinear_checks_pass(nonlinear):
    checks = ood_scaling.nonlinear_checks(CheckLog("t"), nonlinear, [0.1, 0.02])
    assert all(c.passed for c in checks), [(c.name, c.measured, c.expected) for c in checks]


def test_nonlinear_inequality_fails_on_a_short_run():
    t = teachers.gcn_teacher(10, 4, 3, "relu", 0)
    eta = theory.stable_step(t, 0.8)
    short = ood_scaling.run_nonlinear(t, eta, 200, FAMILIES, 1000, 0)
    checks = ood_scaling.nonlinear_checks(CheckLog("t"), {"relu": short}, [0.02])
    assert not checks[0].passed


def test_nonlinear_slope_fails_against_a_wrong_prediction(nonlinear):
    """The slow manifold of a step four times larger (a student further along) is not this run."""
    wrong = {a: dataclasses.replace(r, eta=4 * r.eta) for a, r in nonlinear.items()}
    checks = ood_scaling.nonlinear_checks(CheckLog("t"), wrong, [0.1])
    assert not checks[-1].passed
