"""The confidence intervals of tltlib.core.fits cover the truth about as often as they claim."""

import numpy as np
import pytest

from tltlib.core.fits import loglog_slope, mean_interval, pooled_slope_interval, slope_interval


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


def test_pooled_slope_interval_covers_at_its_level():
    """Four points with two independent repetitions each, as in chapter 09b's T sweep."""
    rng = np.random.default_rng(2)
    x = np.array([4.0, 16.0, 64.0, 128.0])
    hits = 0
    for _ in range(2000):
        y = 0.5 * x[:, None] ** 0.2 * np.exp(rng.normal(0, 0.3, (x.size, 2)))
        hits += pooled_slope_interval(x, y).contains(0.2)
    assert 0.93 < hits / 2000 < 0.97
    with pytest.raises(ValueError, match="points x repetitions"):
        pooled_slope_interval(x, np.ones(4))


def test_bad_input_names_it():
    with pytest.raises(ValueError, match="mean_interval"):
        mean_interval([1.0])
    with pytest.raises(ValueError, match="level"):
        mean_interval([1.0, 2.0], level=1.5)
