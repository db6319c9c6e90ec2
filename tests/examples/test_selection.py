import numpy as np
import pytest
import torch

from tltlib.core.seeding import generator
from tltlib.examples import selection
from tltlib.model import teachers
from tltlib.model.student import PositionOnlyTransformer
from tltlib.train.online import train_online


@pytest.mark.parametrize("trial", range(10))
def test_natural_form_equals_bilinear_form(trial):
    rng = np.random.default_rng(200 + trial)
    D = int(rng.integers(2, 15))
    K = int(rng.integers(1, D))
    d = int(rng.integers(1, 8))
    subset = teachers.random_subset(D, K, seed=trial)
    t = selection.subset_teacher(subset, D, d)
    assert t.K == K and t.M == d  # M = d: the value matrix is I_d
    X = torch.randn(7, d, D, dtype=torch.float64)
    assert torch.allclose(selection.select_tokens(X, subset), t(X), atol=1e-10, rtol=0)


def test_per_sample_labels_use_each_samples_own_subset():
    X = torch.arange(2 * 1 * 4, dtype=torch.float64).reshape(2, 1, 4)
    masks = torch.tensor([[1.0, 1.0, 0, 0], [0, 0, 0, 1.0]], dtype=torch.float64)
    Y = selection.select_per_sample(X, masks)
    assert torch.equal(Y[0, 0], torch.full((4,), 0.5, dtype=torch.float64))
    assert torch.equal(Y[1, 0], torch.full((4,), 7.0, dtype=torch.float64))


def test_random_masks_have_K_ones_and_cover_all_tokens():
    m = selection.random_masks(4000, 10, 3, generator(0, "t"))
    assert torch.equal(m.sum(dim=1), torch.full((4000,), 3.0, dtype=torch.float64))
    assert torch.allclose(m.mean(dim=0), torch.full((10,), 0.3, dtype=torch.float64), atol=0.03)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: selection.subset_teacher([], 5, 2), "subset must hold at least one token"),
        (lambda: selection.subset_teacher([0, 5], 5, 2), r"subset indices must lie in \[0, 4\]"),
        (lambda: selection.subset_teacher([-1], 5, 2), r"subset indices must lie in \[0, 4\]"),
        (lambda: selection.subset_teacher([1, 1], 5, 2), "subset must not repeat"),
        (lambda: selection.subset_teacher([0, 1, 2], 3, 2), "subset must have K < D"),
        (lambda: selection.subset_teacher([0.5], 3, 2), "subset must hold integer"),
        (lambda: selection.select_tokens(torch.zeros(1, 2, 4), []), "subset must hold at least"),
        (lambda: selection.random_masks(3, 4, 4, generator(0, "t")), "K must be smaller than D"),
        (
            lambda: selection.select_per_sample(torch.zeros(2, 1, 3), torch.zeros(2, 3)),
            "empty target set",
        ),
        (lambda: selection.train_selection([0], 4, 2, 0.1, 5, variant="mixed"), "variant must"),
        (lambda: selection.train_selection([0], 4, 2, -0.1, 5), "eta must be"),
    ],
)
def test_bad_input_names_the_parameter(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_fixed_variant_is_train_online_step_for_step():
    subset = [1, 4]
    t = selection.subset_teacher(subset, 6, 3)
    kw = dict(batch=8, noise=0.3, seed=5, dtype=torch.float64, record=[120])
    a = selection.train_selection(subset, 6, 3, 0.2, 120, **kw)
    b = train_online(t, 0.2, 120, **kw)
    assert torch.allclose(a.student.W_V, b.student.W_V, atol=1e-12, rtol=0)
    assert torch.allclose(a.student.W_KQ, b.student.W_KQ, atol=1e-10, rtol=0)


def test_per_sample_floor_is_the_loss_of_the_conditional_mean():
    """The uniform-attention identity student computes E[target | X]; its Monte Carlo loss is
    the floor d(D-K)/(2K), and the closed form agrees."""
    D, K, d = 8, 3, 2
    t = selection.subset_teacher([0, 1, 2], D, d)
    student = PositionOnlyTransformer.for_teacher(t)
    student.W_V = torch.eye(d, dtype=torch.float64)  # zero logits: uniform attention
    X = torch.randn(40000, d, D, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    masks = selection.random_masks(40000, D, K, generator(1, "m"))
    mc, se = selection.monte_carlo_per_sample(student, X, masks)
    floor = selection.per_sample_floor(D, K, d)
    assert floor == pytest.approx(d * (D - K) / (2 * K))
    assert abs(mc - floor) < 4 * se
    assert selection.per_sample_excess(student, K) == pytest.approx(floor, abs=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_per_sample_closed_form_matches_monte_carlo(seed):
    t = selection.subset_teacher([0, 3], 6, 2)
    student = PositionOnlyTransformer.random(t, seed=seed)
    X = torch.randn(40000, 2, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    masks = selection.random_masks(40000, 6, 2, generator(seed, "m"))
    mc, se = selection.monte_carlo_per_sample(student, X, masks)
    closed = selection.per_sample_excess(student, 2)
    assert abs(mc - closed) < 4 * se
    assert closed >= selection.per_sample_floor(6, 2, 2)


def test_sgd_excess_estimate_matches_a_long_run():
    run = selection.train_selection(
        [0, 1], 8, 4, 0.4, 6000, variant="per_sample", batch=20, noise=0.0, seed=0
    )
    floor = selection.per_sample_floor(8, 2, 4)
    late = run.history.window("task_excess", 1500)[1].mean() / floor - 1
    estimate = selection.sgd_excess_estimate(8, 2, 4, 0.4, 20, 0.0)
    assert late == pytest.approx(estimate, rel=0.2)
