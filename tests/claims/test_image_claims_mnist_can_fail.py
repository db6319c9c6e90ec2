"""Chapter 08's checks on real MNIST (the rows the attention recovers, the blank rows by energy,
the border ring) pass on a correct run and fail on a broken student or a wrong teacher (a
smaller version of the chapter's run: 1,000 MNIST images, 1,500 steps, ReLU)."""

import pytest
import torch

from tltlib.claims import images as image_claims
from tltlib.core.checks import CheckLog
from tltlib.examples import cnn, cnn_training, digits
from tltlib.model.teachers import Teacher
from tltlib.train import on_data as empirical

ETA, STEPS, BATCH, RATIO, ENERGY = 0.06, 1500, 20, 2.0, 0.2


@pytest.fixture(scope="module")
def setup():
    data = digits.load_images("mnist", n_train=1000, n_test=200, seed=0)
    trained = cnn_training.train_cnn(data, "relu", epochs=10, seed=0)
    teacher = cnn_training.rescale_kernels(trained.model, 300.0).teacher().as_teacher()
    X = cnn.patches(data.train_images, (3, 3))
    run = empirical.train_on_data(teacher, X, ETA, STEPS, batch=BATCH, record=3)
    frozen = empirical.train_on_data(
        teacher, X, ETA, 300, batch=BATCH, record=3, train_blocks=("value",)
    )
    low = image_claims.low_energy_patches(X, ENERGY)
    return dict(teacher=teacher, X=X, run=run, frozen=frozen, low=low)


def shuffled_pooling(teacher: Teacher, seed: int = 0) -> Teacher:
    """A wrong teacher: the same kernels, the pooling groups of a random permutation of patches."""
    perm = torch.randperm(teacher.D, generator=torch.Generator().manual_seed(seed))
    S = teacher.S_star[perm][:, perm]
    return Teacher(teacher.V_star, S, teacher.activation)


def checks(student, teacher, low):
    log = CheckLog("t")
    return [
        image_claims.energy_check(log, student, teacher, low, RATIO, "energy"),
        image_claims.interior_check(log, student, teacher, 0.9, RATIO, "interior"),
    ]


def test_row_recovery_of_an_always_blank_patch_is_at_most_one():
    # groups {0, 1} and {2, 3}; rows 0 and 1 (blank) share one weight in every column
    S_star = torch.zeros(4, 4, dtype=torch.float64)
    S_star[:2, :2] = S_star[2:, 2:] = 0.5
    S = torch.tensor([[0.2, 0.2, 0.1, 0.1], [0.2, 0.2, 0.1, 0.1], [0.5, 0.1, 0.7, 0.4]])
    S = torch.cat([S, 1 - S.sum(0, keepdim=True)]).double()
    score = image_claims.row_recovery(S, S_star)
    assert score[0] <= 1.0 and score[1] <= 1.0  # row 2, outside their group, weighs more
    assert score[2] == pytest.approx(min(0.7 / 0.1, 0.4 / 0.1))
    assert image_claims.recovered_rows(S, S_star, 2.0).tolist() == [False, False, True, False]
    with pytest.raises(ValueError, match="recovered_ratio"):
        image_claims.recovered_rows(S, S_star, 0.5)


def test_border_ring():
    ring = image_claims.border_ring(81).reshape(9, 9)
    assert int(ring.sum()) == 32 and not ring[1:-1, 1:-1].any()
    assert ring[0].all() and ring[-1].all() and ring[:, 0].all() and ring[:, -1].all()
    with pytest.raises(ValueError, match="D must be"):
        image_claims.border_ring(80)


def test_mnist_has_blank_borders_by_energy(setup):
    low, ring = setup["low"], image_claims.border_ring(81)
    assert int((low & ring).sum()) >= 24  # most of the ring is blank
    assert int((low & ~ring).sum()) <= 12  # the middle is not
    with pytest.raises(ValueError, match="blank_energy"):
        image_claims.low_energy_patches(setup["X"], 1.5)


def test_the_checks_pass_on_the_run(setup):
    passed = [c.passed for c in checks(setup["run"].student, setup["teacher"], setup["low"])]
    assert all(passed)


def test_the_checks_fail_on_a_shuffled_pooling_pattern(setup):
    wrong = shuffled_pooling(setup["teacher"])
    assert not any(c.passed for c in checks(setup["run"].student, wrong, setup["low"]))


def test_the_checks_fail_on_a_student_with_frozen_attention(setup):
    assert not any(
        c.passed for c in checks(setup["frozen"].student, setup["teacher"], setup["low"])
    )


def test_the_energy_check_fails_when_blank_rows_are_taken_for_rows_with_ink(setup):
    nothing_blank = torch.zeros(81, dtype=torch.bool)
    log = CheckLog("t")
    check = image_claims.energy_check(
        log, setup["run"].student, setup["teacher"], nothing_blank, RATIO, "energy"
    )
    assert not check.passed and check.measured >= 10


def test_student_checks_add_the_mnist_checks(setup):
    run, frozen, teacher, X = setup["run"], setup["frozen"], setup["teacher"], setup["X"]
    blank = image_claims.blank_patches(X, 0.99)
    bound = empirical.data_stability_bound(teacher, X)
    out = image_claims.student_checks(
        CheckLog("t"), {"relu": run}, {"relu": frozen}, blank, ETA, {"relu": bound},
        loss_factor=0.1, min_cosine=0.9, min_pooling=0.8, blank_tolerance=0.5,
        low_energy=setup["low"], recovered_ratio=RATIO, min_interior=0.9,
    )  # fmt: skip
    names = [c.name for c in out]
    assert names[-2:] == ["relu/unrecovered_blank", "relu/interior_rows"]
    assert all(c.passed for c in out), [c for c in out if not c.passed]
