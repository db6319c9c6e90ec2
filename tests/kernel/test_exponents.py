"""The interval checks of chapter 09a (tltlib.kernel.exponents) pass on the paper's model and
fail on a broken model, a wrong teacher or a wrong predicted exponent (small sizes)."""

import math

import numpy as np
import pytest
from kernel_broken_models import MeanField

from tltlib.core.checks import CheckLog
from tltlib.core.fits import Interval
from tltlib.kernel import experiments as kx
from tltlib.kernel import exponents as ke
from tltlib.kernel.model import ShallowTransformer, linearisation_error, unit_ball_tokens
from tltlib.kernel.transport import TransportTeacher, approximation_errors, running_sup_errors

WIDTHS = [8, 32, 128, 512]


@pytest.fixture(scope="module")
def X():
    return unit_ball_tokens(300, 6, 8, seed=0)


@pytest.fixture(scope="module")
def teacher(X):
    return TransportTeacher.from_inputs(X, 8, 3.0, 1024, seed=0)


def test_exponent_check_is_an_overlap_of_intervals():
    iv = Interval(-0.52, -0.55, -0.49, 4)
    assert ke.exponent_check(CheckLog("t"), "a", "c", iv, -0.5).passed
    assert ke.exponent_check(CheckLog("t"), "a", "c", iv, -0.6, -0.54).passed
    assert not ke.exponent_check(CheckLog("t"), "a", "c", iv, -0.48, -0.4).passed
    assert not ke.exponent_check(CheckLog("t"), "a", "c", iv, -1.0).passed


def lin_log(lin, approx, M=1024):
    log = CheckLog("t")
    ke.width_exponent_checks(log, WIDTHS, lin, approx, M)
    return log


def test_width_exponents_pass_on_the_model_and_fail_when_broken(X, teacher):
    lin = kx.linearisation_errors(6, 8, WIDTHS, 200, 4, 3.0, seed=0)
    approx = approximation_errors(teacher, X[:200], WIDTHS, 4, seed=0)
    log = lin_log(lin, approx)
    assert log.passed, log.table()
    Xl = unit_ball_tokens(200, 6, 8, 0, "linearisation-inputs")
    mean_field = np.array(
        [
            [linearisation_error(MeanField.paired(6, m, 0, f"s{j}"), Xl, 3.0) for j in range(3)]
            for m in WIDTHS
        ]
    )
    check = lin_log(mean_field, approx)["linearisation_slope"]
    assert not check.passed and check.measured < -0.8  # 1/m scaling: exponent -1
    unscaled = np.array(
        [
            [
                linearisation_error(ShallowTransformer.paired(6, m, 0, f"s{j}"), Xl, 3.0 * m**0.5)
                for j in range(3)
            ]
            for m in WIDTHS
        ]
    )
    check = lin_log(unscaled, approx)["linearisation_slope"]
    assert not check.passed and check.measured > 0  # radius rho, not rho/sqrt(m): grows
    other = TransportTeacher.from_inputs(X, 8, 3.0, 1024, seed=1)  # other anchors and weights
    bad = approximation_errors(teacher, X[:200], WIDTHS, 4, seed=0, labels=other(X[:200]))
    check = lin_log(lin, bad)["approximation_slope"]
    assert not check.passed and check.measured > -0.2  # the error stops falling


def test_teacher_floor_and_few_features_terms():
    assert ke.teacher_floor_exponent(WIDTHS, 10**9) == pytest.approx(-0.5, abs=1e-6)
    assert -0.5 < ke.teacher_floor_exponent(WIDTHS, 2048) < -0.48
    assert ke.few_features_allowance([8, 512]) == pytest.approx(math.log(1.5) / math.log(64))
    assert ke.few_features_allowance([2048, 8192]) < ke.few_features_allowance([8, 32])


def test_gaussian_log_exponent_tends_to_one_half():
    assert ke.gaussian_max_mean(1) == pytest.approx(math.sqrt(2 / math.pi))
    assert 0.5 < ke.gaussian_log_exponent([40, 400, 4000]) < 0.6
    assert ke.gaussian_log_exponent([10**6, 10**8, 10**10]) < ke.gaussian_log_exponent(
        [40, 400, 4000]
    )


def test_log_growth_check_fails_on_repeated_inputs_or_power_law(teacher):
    X = unit_ball_tokens(4000, 6, 8, seed=1)
    sizes = [40, 400, 4000]
    good = running_sup_errors(teacher, X, 32, sizes, 8, seed=0, labels=teacher(X))
    assert ke.log_growth_check(CheckLog("t"), sizes, good).passed
    repeated = X[:1].expand(4000, -1, -1)  # one input, 4000 times: the maximum cannot grow
    bad = running_sup_errors(teacher, repeated, 32, sizes, 8, seed=0)
    check = ke.log_growth_check(CheckLog("t"), sizes, bad)
    assert not check.passed and check.measured == pytest.approx(0.0, abs=1e-9)
    power = good * np.sqrt(np.asarray(sizes) / sizes[0])  # a sqrt(n) growth on top
    assert not ke.log_growth_check(CheckLog("t"), sizes, power).passed


def test_training_checks_fail_when_the_heads_cannot_move_or_on_a_wrong_band(X, teacher):
    data = kx.split_data(X, teacher(X), 0.2)
    widths = [4, 16, 64]
    good = kx.width_sweep(data, widths, 300, 1.75, 3.0, 2, seed=0)
    log = CheckLog("t")
    ke.training_exponent_checks(log, widths, good)
    assert log.passed, log.table()
    frozen = kx.width_sweep(data, widths, 300, 1.75, 1e-6, 2, seed=0)  # a radius far below nu
    log = CheckLog("t")
    ke.training_exponent_checks(log, widths, frozen)
    assert not log["train_loss_decreasing"].passed
    iv = ke.mean_fit_interval(widths, good["rel_train"])
    assert not ke.exponent_check(CheckLog("t"), "a", "c", iv, -3.0, iv.low - 0.01).passed
