"""Out-of-distribution curves (Theorem 3.2) and Figure 2: exact, and every check can fail."""

import dataclasses

import numpy as np
import pytest

from tltlib.claims import ood
from tltlib.claims import sets as figure2
from tltlib.core.checks import CheckLog
from tltlib.figures import sets as figure_sets
from tltlib.model import teachers
from tltlib.model.data import INPUT_KINDS, sample_inputs
from tltlib.train import reduced
from tltlib.train.online import train_online


@pytest.fixture(scope="module")
def teacher():
    return teachers.gcn_teacher(D=10, d=4, M=3, activation="identity", seed=0)


@pytest.fixture(scope="module")
def long_run(teacher):
    return reduced.for_teacher(teacher, 0.2, 2_000_000)


@pytest.fixture(scope="module")
def curves(teacher, long_run):
    return ood.all_curves(long_run, teacher)


@pytest.mark.parametrize("kind", ood.FAMILIES)
def test_families_have_the_stated_moments(kind):
    assert kind in INPUT_KINDS
    X = sample_inputs(kind, 40000, 5, 2, seed=1).transpose(-1, -2).reshape(-1, 5).numpy()
    mean, cov = ood.family_moments(kind, 5)
    assert np.allclose(X.mean(0), mean, atol=0.03)
    assert np.allclose(np.cov(X.T), cov, atol=0.1 * np.abs(cov).max())


def test_closed_form_matches_sampling_and_fails_with_wrong_moments(teacher, long_run, monkeypatch):
    r = int(np.searchsorted(long_run.steps, 300))
    args = (long_run, teacher, ood.OOD_FAMILIES, ood.LABELS, 20000, 0, r)
    assert ood.closed_form_vs_monte_carlo(CheckLog("t"), *args).passed
    real = ood.family_moments
    monkeypatch.setattr(
        ood,
        "family_moments",
        lambda kind, d: real("gaussian" if kind == "exponential" else kind, d),
    )
    assert not ood.closed_form_vs_monte_carlo(CheckLog("t"), *args).passed


def test_student_at_reproduces_the_recorded_state(teacher, long_run):
    from tltlib.model.metrics import measure

    r = int(np.searchsorted(long_run.steps, 1000))
    m = measure(ood.student_at(long_run, teacher, r), teacher)
    assert m["excess_loss"] == pytest.approx(long_run["excess_loss"][0][r], rel=1e-12)


def test_theorem_3_2_passes_late_and_fails_early(teacher, long_run, curves):
    energy = {k: ood.target_energy(teacher, k) for k in ood.OOD_FAMILIES}
    assert all(
        c.passed
        for c in ood.theorem_3_2(CheckLog("t"), curves, energy, [0.05, 0.02], long_run.steps)
    )
    short = reduced.for_teacher(teacher, 0.2, 2000)
    early = ood.all_curves(short, teacher)
    assert not any(
        c.passed for c in ood.theorem_3_2(CheckLog("t"), early, energy, [0.05, 0.02], short.steps)
    )


def test_slope_checks_separate_the_two_regimes(teacher, long_run, curves):
    limits = {"teacher": -1.0, "worst_case": -0.5, "other_teacher": -0.5}
    good = ood.slope_checks(CheckLog("t"), long_run, teacher, curves, limits)
    assert all(c.passed for c in good), [c.to_dict() for c in good]
    # the curves of one label rule measured against the prediction of the other: wrong labels
    swapped = {
        (k, {"teacher": "worst_case", "worst_case": "teacher"}.get(lab, lab)): c
        for (k, lab), c in curves.items()
    }
    bad = ood.slope_checks(CheckLog("t"), long_run, teacher, swapped, limits)
    assert not any(c.passed for c in bad[:2])
    # a wrong teacher: another V*, whose mean-shift ratio moves the finite-T slopes
    other = teachers.gcn_teacher(D=10, d=4, M=3, activation="identity", seed=5)
    wrong = ood.slope_checks(CheckLog("t"), long_run, other, curves, {"other_teacher": -0.5})
    assert not wrong[0].passed, wrong[0].to_dict()
    teps = ood.t_eps_curves(long_run.steps, curves)
    limits_eps = {"teacher": -1.0, "worst_case": -2.0}
    assert all(
        c.passed for c in ood.t_eps_checks(CheckLog("t"), long_run, teacher, teps, limits_eps)
    )
    # T_eps of the teacher's labels against the prediction for the worst case, and back
    swapped_eps = {
        (k, {"teacher": "worst_case", "worst_case": "teacher"}[lab]): v
        for (k, lab), v in teps.items()
    }
    assert not any(
        c.passed
        for c in ood.t_eps_checks(CheckLog("t"), long_run, teacher, swapped_eps, limits_eps)
    )


def test_other_teacher_sign_fails_on_worst_case_labels(long_run, curves):
    assert ood.other_teacher_sign(CheckLog("t"), long_run.steps, curves).passed
    relabelled = {
        (k, "other_teacher" if lab == "worst_case" else lab + "_"): c
        for (k, lab), c in curves.items()
    }
    assert not ood.other_teacher_sign(CheckLog("t"), long_run.steps, relabelled).passed


def test_t_eps_inverts_a_power_law():
    t = np.unique(np.geomspace(1, 1e6, 200).round())
    y = 5.0 / t
    te = ood.t_eps(t, y, np.array([5e-2, 5e-4]))
    assert te == pytest.approx([100.0, 10000.0], rel=1e-3)
    assert np.isnan(ood.t_eps(t, y, np.array([1e-9]))[0])


def test_ood_rejects_bad_input(teacher, long_run):
    with pytest.raises(ValueError, match="kind must be one of"):
        ood.family_moments("cauchy", 3)
    with pytest.raises(ValueError, match="label must be one of"):
        ood.label_matrix(teacher, "random")
    relu = teacher.with_activation("relu")
    with pytest.raises(ValueError, match="identity activation"):
        ood.excess_curve(long_run, relu, "exponential", "teacher")


def test_figure2_runs_draw_and_checks_can_fail():
    runs = figure2.run_sets(300, 0.3, sets=(3, 6), batch=20, n_ood=20, record=5)
    fig = figure_sets.draw(runs)
    assert len(fig.axes) == 3 and len(fig.axes[1].lines) == 2
    assert set(runs) == {"GCN-ReLU", "GSLP"}
    assert figure2.final_values(runs, "cosine")["GCN-ReLU"] > 0.95
    t = teachers.paper_set(3)
    frozen = {
        "frozen": train_online(
            t,
            0.3,
            300,
            batch=20,
            train_blocks=("attention",),
            ood_inputs=sample_inputs("exponential", 20, t.d, t.D, 0),
        )
    }
    assert figure2.final_values(frozen, "cosine")["frozen"] < 0.5
    # too short to be in the theorem's regime: nothing to check, so the check cannot pass
    assert figure2.peak_to_final(runs, "ood_excess", min_t_star=5.0) == {}
    with pytest.raises(ValueError, match="at least one run"):
        figure_sets.draw({})


def test_exact_figure2_follows_the_prediction_and_fails_against_a_wrong_teacher():
    runs = figure2.run_sets_exact(20.0, sets=(3, 5), n_ood=20)
    assert set(runs) == {"GCN-ReLU", "STS"}
    good = figure2.exact_checks(CheckLog("t"), runs)
    assert all(c.passed for c in good), [c.to_dict() for c in good]
    # the same run read against a teacher with another K: the predicted slope is not the measured
    wrong = dict(runs, STS=dataclasses.replace(runs["STS"], teacher=teachers.paper_set(6)))
    failed = {c.name: c.passed for c in figure2.exact_checks(CheckLog("t"), wrong)}
    assert failed["fig2_exact/STS/loss_slope"] is False
    # a decrease asked for that the runs do not make
    assert not figure2.exact_checks(CheckLog("t"), runs, min_drop=1e6)[-1].passed
    with pytest.raises(ValueError, match="fig2_horizon"):
        figure2.run_sets_exact(0.0, sets=(5,))
