"""The zero-mean, unit-variance training kinds of chapter 11 have the moments they claim."""

import pytest
import torch

from tltlib.model import data


@pytest.mark.parametrize("kind", data.TRAINING_KINDS)
def test_training_kinds_moments(kind):
    x = data.sample_inputs(kind, 4000, 5, 10, seed=1, dtype=torch.float64)
    assert abs(float(x.mean())) < 0.02
    assert float(x.var()) == pytest.approx(1.0, abs=0.03)
    # the Student-t(5)'s fourth moment has an estimator of infinite variance: a looser bound
    rel = 0.3 if kind == "student_t_unit" else 0.1
    assert float((x**4).mean()) == pytest.approx(data.FOURTH_MOMENTS[kind], rel=rel)


def test_unscaled_student_t_is_not_unit_variance():
    x = data.sample_inputs("student_t", 4000, 5, 10, seed=1, dtype=torch.float64)
    assert float(x.var()) == pytest.approx(5 / 3, rel=0.05)


def test_bad_kind_names_the_parameter():
    with pytest.raises(ValueError, match="kind"):
        data.sample_inputs("cauchy", 2, 2, 2, seed=0)
