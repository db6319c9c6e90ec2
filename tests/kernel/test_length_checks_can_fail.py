"""Chapter 09b's checks over seeds (attention against recurrence on AR(L)) and of memory pass on
the paper's models and fail on a broken model or a wrong prediction."""

import math

import numpy as np
import pytest
import torch

from tltlib.core import fits
from tltlib.core.checks import CheckLog
from tltlib.kernel import length, length_claims, memory
from tltlib.kernel.model import ShallowTransformer
from tltlib.kernel.recurrent import IndRNN

LAGS = [4, 8, 16, 32]
SIZES = dict(n=200, m=16, steps=100, lr=0.05, seeds=6, seed=0)


class LastTokens(IndRNN):
    """Broken: the recurrence reads only the last two tokens of every window, so what it can
    learn (and its error) no longer depends on the lag."""

    def __call__(self, X):
        return super().__call__(X[..., -2:])

    def loss_and_grads(self, X, y):
        return super().loss_and_grads(X[..., -2:], y)


def last_tokens(d, m, seed, stream, dtype):
    return LastTokens(d, m, seed, stream, dtype=dtype)


@pytest.fixture(scope="module")
def sweep():
    return length.lag_sweep(LAGS, **SIZES)


def test_lag_checks_pass_on_the_models(sweep):
    log = CheckLog("t")
    length_claims.lag_checks(log, sweep)
    assert log.passed, log.table()


def test_growth_check_fails_on_a_recurrence_that_ignores_the_lag():
    broken = length.lag_sweep(LAGS, **SIZES, builders={"IndRNN": last_tokens})
    log = CheckLog("t")
    length_claims.lag_checks(log, broken)
    assert log["transformer_loss_L_slope"].passed  # the transformer is unchanged
    assert not log["indrnn_loss_L_slope"].passed


def test_no_growth_check_fails_on_the_recurrence(sweep):
    """A wrong prediction: the recurrence's losses grow with the lag."""
    check = length_claims.not_growing(
        CheckLog("t"), "s", "c", sweep["L"], sweep["IndRNN"]["min_train"]
    )
    assert not check.passed and check.measured > 0


def test_slope_interval_needs_seeds():
    with pytest.raises(ValueError, match="seeds"):
        fits.seed_slopes_interval(LAGS, np.ones((4, 1)))


@pytest.fixture(scope="module")
def counts():
    return memory.memory_by_length([3, 9, 27], 5, 6, seed=0)


def test_memory_checks_pass_and_count_the_shapes(counts):
    log = CheckLog("t")
    length_claims.memory_checks(log, counts)
    assert log.passed, log.table()
    assert counts["tf_inference"].tolist() == [(5 + 6) * T for T in (3, 9, 27)]
    assert counts["rnn_inference"].tolist() == [6, 6, 6]


def test_memory_checks_fail_on_swapped_models(counts):
    swapped = dict(
        counts, tf_inference=counts["rnn_inference"], rnn_inference=counts["tf_inference"]
    )
    log = CheckLog("t")
    length_claims.memory_checks(log, swapped)
    assert not log["memory_tf_inference_per_token"].passed
    assert not log["memory_rnn_inference_per_token"].passed


class Rescaled(ShallowTransformer):
    """Broken: the batch forward is not the network the stream computes."""

    def __call__(self, X):
        return super().__call__(X) / math.sqrt(self.m)


def test_stream_gap_fails_when_the_stream_is_not_the_model():
    model = Rescaled.paired(5, 6, seed=0)
    with torch.no_grad():
        model.c.add_(1.0)  # away from f = 0
    x = torch.randn(5, 7, generator=torch.Generator().manual_seed(0), dtype=model.dtype)
    assert memory.streaming_state(model, x)["gap"] > 1e-3
    good = ShallowTransformer.paired(5, 6, seed=0)
    with torch.no_grad():
        good.c.add_(1.0)
    assert memory.streaming_state(good, x)["gap"] < 1e-12


def test_training_memory_grows_for_both(counts):
    """Backpropagation through time keeps every state: both models save more for longer inputs."""
    assert np.all(np.diff(counts["tf_training"]) > 0)
    assert np.all(np.diff(counts["rnn_training"]) > 0)


def test_streaming_state_rejects_other_models():
    with pytest.raises(ValueError, match="model"):
        memory.streaming_state(object(), torch.zeros(2, 3))


@pytest.mark.parametrize("lags", [[4, 8], [4, 4, 8], "4, 8, 16", [4, 8, 0]])
def test_check_lags_names_the_parameter(lags):
    with pytest.raises(ValueError, match="ar_lags"):
        length.check_lags(lags)


def _table(sweep):
    """A stored table of :mod:`tltlib.kernel.lag_grid` made of one small sweep."""
    row = {"seed": 0, **{k: sweep[k]["min_train"].tolist() for k in length.MODELS}}
    return {"settings": {"lags": sweep["L"].tolist()}, "rows": [row]}


def test_stored_lag_checks_pass_on_the_models(sweep):
    log = CheckLog("t")
    length_claims.stored_lag_checks(log, _table(sweep))
    assert log.passed, log.table()
    assert set(length_claims.stored_slopes(_table(sweep))[0]) == {
        "transformer",
        "IndRNN",
        "difference",
    }


def test_stored_lag_checks_fail_on_a_recurrence_that_ignores_the_lag():
    broken = length.lag_sweep(LAGS, **SIZES, builders={"IndRNN": last_tokens})
    log = CheckLog("t")
    length_claims.stored_lag_checks(log, _table(broken))
    assert not log["stored/seed=0/IndRNN_L_slope"].passed


def test_stored_difference_fails_when_the_transformer_grows_faster(sweep):
    """A wrong model of the claim: a "transformer" whose losses are the recurrence's times
    ``L^0.1``, so that it grows faster than the recurrence on the same series."""
    table = _table(sweep)
    growth = (np.asarray(sweep["L"], float) / sweep["L"][0]) ** 0.1
    rnn = np.asarray(table["rows"][0]["IndRNN"])
    table["rows"][0]["transformer"] = (rnn * growth[:, None]).tolist()
    log = CheckLog("t")
    length_claims.stored_lag_checks(log, table)
    assert log["stored/seed=0/IndRNN_L_slope"].passed
    assert not log["stored/seed=0/difference_L_slope"].passed


def test_lag_grid_table_is_stored_and_checked():
    """The stored table exists, was made at the documented settings, and passes its checks."""
    from tltlib.kernel import lag_grid
    from tltlib.kernel.figures import LAGS_COMMAND, load_lags

    table = load_lags()
    assert table["settings"] == lag_grid.SETTINGS and table["command"] == LAGS_COMMAND
    log = CheckLog("t")
    length_claims.stored_lag_checks(log, table)
    assert log.passed, log.table()
    assert len(log.records) == 2 * len(table["rows"])
