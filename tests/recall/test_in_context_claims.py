"""Every check of chapter 10 passes on a correct run and fails on a broken model or input."""

import pytest

from tltlib.core.checks import CheckLog
from tltlib.recall import claims, figures
from tltlib.recall import model as ic
from tltlib.recall.task import RecallTask, kl_bernoulli, softmax_loss_floor

TASK = RecallTask(N=20, H=16, Q=2, Y=2)
ETA, STEPS = 0.2, 150
KW = dict(batch=64, n_eval=256, seed=0, record_every=3)


def run(task, family, attention, ff="FA", rule="normalised", gamma=None):
    model = ic.RecallTransformer(task, family, attention, ff, gamma=gamma)
    evals = ic.evaluation_sets(task, KW["n_eval"], 0)
    return ic.train_fresh(
        model, ETA, STEPS, batch=KW["batch"], seed=0, evals=evals, record_every=3, rule=rule
    )


@pytest.fixture(scope="module")
def noiseless():
    return ic.population_runs(TASK, ic.FIGURE1_MODELS + ic.REPARAM_MODELS[1:], ETA, STEPS, **KW)


@pytest.fixture(scope="module")
def noisy():
    models = ic.FIGURE1_MODELS + ic.REPARAM_MODELS[1:] + (("reparam", "linear", "F"),)
    return ic.population_runs(TASK.with_alpha(0.3), models, ETA, STEPS, **KW)


def passed(checks):
    checks = checks if isinstance(checks, list) else [checks]
    return {c.name.split("/")[-1]: c.passed for c in checks}


@pytest.mark.parametrize("name", ["Reparam-Linear-FA", "Reparam-ReLU-FA"])
def test_reparam_checks_pass(noiseless, noisy, name):
    for runs in (noiseless, noisy):
        log = CheckLog("t")
        claims.reparam_checks(log, runs[name])
        assert log.passed, log.table()


def test_plain_gd_fails_schedule_rate_and_bayes():
    bad = run(TASK, "reparam", "linear", rule="plain")
    log = CheckLog("t")
    result = passed(claims.reparam_checks(log, bad))
    assert result["closed_form"]  # the model is still the reparameterised one
    for name in ("strength_schedule", "linear_rate", "reaches_bayes_risk"):
        assert result[name] is False, name


def test_a_larger_relu_shift_fails_the_closed_form():
    model = ic.RecallTransformer(TASK, "reparam", "relu", relu_shift=1e-4)
    evals = ic.evaluation_sets(TASK, 256, 0)
    bad = ic.train_fresh(model, ETA, STEPS, batch=64, evals=evals, record_every=3)
    assert not claims.closed_form(CheckLog("t"), bad).passed


def test_the_F_variant_fails_the_noisy_claims(noisy):
    result = passed(claims.reparam_checks(CheckLog("t"), noisy["Reparam-Linear-F"]))
    for name in ("p_noise", "ff_argmax_tau", "linear_rate", "reaches_bayes_risk"):
        assert result[name] is False, name


def test_a_wrong_gamma_fails_p_noise():
    task = TASK.with_alpha(0.3)
    bad = run(task, "reparam", "linear", gamma=0.0)  # gamma of alpha = 0.5
    log = CheckLog("t")
    assert not claims.noise_probability(log, bad).passed


def test_origin_fails_the_split_and_unseen_equality(noisy):
    result = passed(claims.division_of_labour(CheckLog("t"), noisy["Origin-Softmax-F"]))
    assert result["attention_argmax_y"] is False
    result = passed(claims.division_of_labour(CheckLog("t"), noisy["Origin-Linear-FA"]))
    assert result["ff_argmax_tau"] is False
    assert not claims.unseen_matches(CheckLog("t"), noisy["Origin-Linear-FA"]).passed


@pytest.mark.parametrize("name", ["Origin-Linear-FA", "Origin-Softmax-F"])
def test_unseen_fails_passes_on_origin_and_fails_on_reparam(noiseless, name):
    assert claims.unseen_fails(CheckLog("t"), noiseless[name]).passed
    assert not claims.unseen_fails(CheckLog("t"), noiseless["Reparam-Linear-FA"]).passed


def test_softmax_check_fails_on_a_linear_model(noiseless, noisy):
    for runs in (noiseless, noisy):
        assert claims.softmax_not_optimal(CheckLog("t"), runs["Reparam-Softmax-FA"]).passed
        assert not claims.softmax_not_optimal(CheckLog("t"), runs["Reparam-Linear-FA"]).passed


@pytest.fixture(scope="module")
def finite():
    task = TASK.with_alpha(0.5)
    runs, alpha_hat = ic.finite_sample_runs(
        task, ic.REPARAM_MODELS[1:], 512, ETA, 40, batch=128, n_eval=256, seed=0
    )
    return task, runs["Reparam-ReLU-FA"], alpha_hat


def test_finite_sample_check_passes_and_fails_with_the_oracle_gamma(finite):
    task, good, alpha_hat = finite
    check = claims.finite_sample_excess(CheckLog("t"), good, alpha_hat)
    assert check.passed and check.extra["kl_over_tolerance"] > 10
    # the same training, but gamma from the true alpha: the KL term is missing
    sample = task.sample(512, 0, f"recall-finite-{task.alpha}")
    oracle = ic.train_on_sample(
        ic.RecallTransformer(task, "reparam", "relu"), sample, ETA, 40, batch=128,
        evals=ic.evaluation_sets(task, 256, 0),
    )  # fmt: skip
    assert not claims.finite_sample_excess(CheckLog("t"), oracle, alpha_hat).passed
    # a wrong alpha_hat is caught too
    assert not claims.finite_sample_excess(CheckLog("t"), good, alpha_hat + 0.02).passed


def test_linear_rate_without_a_window_fails_and_says_why():
    short = ic.train_fresh(ic.RecallTransformer(TASK, "reparam", "linear"), ETA, 10, batch=16,
                           evals=ic.evaluation_sets(TASK, 64, 0))  # fmt: skip
    check = claims.linear_rate(CheckLog("t"), short)
    assert not check.passed and "train longer" in check.extra["error"]


def test_schedule_is_checked_before_the_gradient_underflows():
    task = TASK.with_alpha(0.3)
    model = ic.RecallTransformer(task, "reparam", "linear")
    long = ic.train_fresh(model, 1.0, 80, batch=32, evals=ic.evaluation_sets(task, 64, 0))
    # in float64 the gradient -sum(p_others) is lost in rounding near Lambda ~ 39: training stops
    assert 30 < long.history.final("strength") < 45
    check = claims.strength_schedule(CheckLog("t"), long)
    assert check.passed and check.extra["at_step"] < 45
    assert claims.reaches_bayes_risk(CheckLog("t"), long).passed


def records(log):
    return [r.to_dict() for r in log.records]


def test_population_checks_are_the_chapters_checks_in_order(noiseless, noisy):
    runs = {0.0: noiseless, 0.3: noisy}
    log = CheckLog("t")
    checks = claims.population_checks(log, runs, 0.3)
    expected = CheckLog("t")
    for a, by_name in runs.items():
        for name in ("Reparam-Linear-FA", "Reparam-ReLU-FA"):
            claims.reparam_checks(expected, by_name[name], prefix=f"alpha={a:g}/{name}/")
    for a in (0.0, 0.3):
        for name in ("Origin-Linear-FA", "Origin-Softmax-F"):
            claims.unseen_fails(expected, runs[a][name], prefix=f"alpha={a:g}/{name}/")
        claims.softmax_not_optimal(
            expected, runs[a]["Reparam-Softmax-FA"], prefix=f"alpha={a:g}/Reparam-Softmax-FA/"
        )
    claims.division_of_labour(
        expected, noisy["Reparam-Linear-W-FA"], prefix="alpha=0.3/Reparam-Linear-W-FA/"
    )
    assert [c.name for c in checks] == [r.name for r in expected.records]
    assert records(log) == records(expected)
    # a plain-GD student in place of the noiseless linear model fails the bundle
    plain = run(TASK, "reparam", "linear", rule="plain")
    broken = {0.0: {**noiseless, "Reparam-Linear-FA": plain}, 0.3: noisy}
    bad = CheckLog("t")
    claims.population_checks(bad, broken, 0.3)
    assert not bad["alpha=0/Reparam-Linear-FA/linear_rate"].passed


def test_finite_sample_checks_name_each_level(finite):
    _, good, alpha_hat = finite
    log = CheckLog("t")
    checks = claims.finite_sample_checks(log, {0.5: (good, alpha_hat)})
    assert [c.name for c in checks] == ["finite/alpha=0.5/finite_sample_kl"] and log.passed
    bad = claims.finite_sample_checks(CheckLog("t"), {0.5: (good, alpha_hat + 0.02)})
    assert not bad[0].passed


def test_the_chapters_tables_read_the_same_measurements(noiseless, noisy, finite):
    runs = {0.0: noiseless, 0.3: noisy}
    names = ("Reparam-Linear-FA", "Origin-Linear-FA")
    table = figures.unseen_gap_table(runs, (0.0, 0.3), names).splitlines()
    assert table[0] == "unseen minus in-distribution, in nats:" and len(table) == 5
    gap = claims.unseen_gap(noisy["Origin-Linear-FA"], "nll_output")
    assert table[4].startswith("alpha=0.3  Origin-Linear-FA") and table[4].endswith(f"{gap:9.3g}")
    floors = figures.softmax_floor_report(runs, (0.0, 0.3)).splitlines()
    floor = softmax_loss_floor(TASK)
    assert len(floors) == 2 and f"floor {floor:.4f}, Bayes risk 0.0000" in floors[0]
    split = figures.logit_split_report({"Reparam-Linear-FA": noisy["Reparam-Linear-FA"]})
    assert split == (
        f"{'Reparam-Linear-FA':20s} argmax xi_A = y on 100.0%, argmax xi_F = tau on 100.0% "
        "of sequences"
    )
    _, good, alpha_hat = finite
    kl = figures.kl_report({0.5: (good, alpha_hat)})
    assert kl.startswith(f"alpha=0.5: alpha_hat={alpha_hat:.4f}, excess ")
    assert kl.endswith(f"KL(alpha||alpha_hat) {kl_bernoulli(0.5, alpha_hat):.4e}")
