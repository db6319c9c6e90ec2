"""The per-sample selection task with the subset in the input, learnt by the full transformer."""

import pytest
import torch

from tltlib.examples import selection_full
from tltlib.examples.selection import random_masks


def test_indicator_is_one_more_feature_row():
    X = torch.randn(5, 3, 6, dtype=torch.float64)
    masks = random_masks(5, 6, 2, torch.Generator().manual_seed(0))
    Z = selection_full.with_indicator(X, masks)
    assert Z.shape == (5, 4, 6)
    assert torch.equal(Z[:, 3, :], masks)


def test_the_selector_block_grows_and_the_loss_falls():
    run = selection_full.train_full_selection(6, 2, 3, 0.2, 300, batch=32, seed=1)
    h = run.history
    assert h.final("excess_loss") < 0.2 * h["excess_loss"][0]
    assert h.final("subset_mass") > 0.6  # uniform attention puts K/D = 1/3 there
    w = selection_full.selector_weights(run.student)
    assert w["indicator_to_positions"] > 10 * w["largest_other"]


def test_deterministic():
    a = selection_full.train_full_selection(6, 2, 3, 0.2, 20, batch=8, seed=3)
    b = selection_full.train_full_selection(6, 2, 3, 0.2, 20, batch=8, seed=3)
    assert a.history.values == b.history.values


@pytest.mark.parametrize(
    "kwargs, name",
    [(dict(K=6), "sel_K"), (dict(eta=0.0), "sel_eta"), (dict(steps=0), "sel_steps")],
)
def test_bad_input_names_the_parameter(kwargs, name):
    args = dict(D=6, K=2, d=3, eta=0.2, steps=10) | kwargs
    with pytest.raises(ValueError, match=name):
        selection_full.train_full_selection(**args)
