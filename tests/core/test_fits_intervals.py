"""The confidence intervals of tltlib.core.fits cover the truth about as often as they claim."""

import numpy as np
import pytest

from tltlib.core.fits import loglog_slope, mean_interval, slope_interval


def test_mean_interval_covers_at_its_level():
    rng = np.random.default_rng(0)
    hits = sum(mean_interval(rng.normal(1.0, 2.0, 10)).contains(1.0) for _ in range(2000))
    assert 0.93 < hits / 2000 < 0.97


def test_slope_interval_covers_at_its_level():
    rng = np.random.default_rng(1)
    x = np.geomspace(1, 100, 12)
    hits = 0
    for _ in range(2000):
        y = 3 * x**-1.5 * np.exp(rng.normal(0, 0.1, x.size))
        hits += slope_interval(loglog_slope(x, y)).contains(-1.5)
    assert 0.93 < hits / 2000 < 0.97


def test_bad_input_names_it():
    with pytest.raises(ValueError, match="mean_interval"):
        mean_interval([1.0])
    with pytest.raises(ValueError, match="level"):
        mean_interval([1.0, 2.0], level=1.5)
